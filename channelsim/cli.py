"""The ``channelsim`` command line: run, validate, show, compare, schema.

Nothing imports this module; it sits on top of :mod:`sim` and :mod:`experiments`.
Other commands are added by modules that expose ``register(app)`` (see
:data:`PLUGINS`).

Bad input of any kind prints a message naming the file, the field, the value
and what is allowed to stderr, exits with code 2 and writes nothing.  The
output folder is checked, and a staging folder created beside it, before any
simulation runs; staging folders left by a process that was killed are removed
by the next command writing there.  An unexpected error prints one paragraph
(the traceback only with ``CHANNELSIM_TRACEBACK=1``) and exits with code 1.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import os
import re
import shutil
import sys
import tempfile
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn

import pandas as pd
import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import sim
from experiments.io import (
    atomic_write_text,
    dump_scenario,
    fsync_dir,
    json_safe,
    load_scenario,
    resolve_scenario_path,
    write_parquet_atomic,
)
from experiments.limits import MAX_VALUE_CHARS, load_yaml
from sim.errors import MAX_INT, ScenarioError
from sim.overrides import apply_overrides

from .stats import LEVEL, mean_ci, replication_headlines

app = typer.Typer(
    name="channelsim",
    help="Agent-based what-ifs for channel partner programmes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"channelsim {sim.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="Print channelsim's version and exit.")] = False,
) -> None:
    """Agent-based what-ifs for channel partner programmes."""


#: Modules written elsewhere that add commands: each exposes ``register(app: typer.Typer) -> None``.
PLUGINS = ("channelsim.sweep_cli", "channelsim.optimise_cli", "channelsim.app_cli", "channelsim.warn_cli",
           "channelsim.data_cli", "channelsim.calibrate_cli")

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1
#: Most replications ``channelsim run`` accepts (a run folder holds every replication's panels).
MAX_REPLICATIONS = 1_000
SET_HELP = r"Override a field: a.b.c=VALUE, VALUE parsed as YAML (2, true, \[a, b]). Repeatable."
RUN_FILES = ("kpis.parquet", "partners.parquet", "conflicts.parquet", "migrations.parquet", "summary.json",
             "scenario.resolved.yaml", "report.html")


class InputError(Exception):
    """Bad input that is not a scenario (an output folder, a run folder to compare)."""


# ---------------------------------------------------------------------------
# Helpers


def _fail(message: str) -> NoReturn:
    sys.stderr.write(message.rstrip("\n") + "\n")
    raise typer.Exit(EXIT_BAD_INPUT)


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Turn errors a user can act on into a message on stderr and exit code 2."""
    try:
        yield
    except (ScenarioError, InputError) as err:
        _fail(f"error: {err}")


def parse_sets(items: list[str]) -> dict[str, Any]:
    """``["a.b=1", "c=[x, y]"]`` -> ``{"a.b": 1, "c": ["x", "y"]}``; values are parsed as YAML.

    Raises:
        ScenarioError: for an item without ``=``, an empty path or a value that is not YAML.
    """
    out: dict[str, Any] = {}
    for item in items:
        path, sep, raw = item.partition("=")
        path = path.strip()
        if not sep or not path:
            raise ScenarioError("--set", [(path or item, item, "path=value, e.g. incentives.rebate.scale=2")])
        try:
            value = load_yaml(raw, max_chars=MAX_VALUE_CHARS) if raw.strip() else None
        except yaml.YAMLError as err:
            problem = getattr(err, "problem", None) or str(err).splitlines()[0]
            allowed = f"a YAML scalar or list, e.g. 2, true, [a, b] ({problem})"
            raise ScenarioError("--set", [(path, raw, allowed)]) from None
        if value is None:
            raise ScenarioError("--set", [(path, raw, "a value after '=' (a YAML scalar or list)")])
        out[path] = value
    return out


def complete_scenario(incomplete: str) -> list[str]:
    """Shell completion of a scenario argument: the scenario names starting with ``incomplete``."""
    from experiments.io import available_scenarios

    return [n for n in available_scenarios() if n.startswith(incomplete)]


def build_scenario(scenario: str, sets: list[str], months: int | None = None) -> tuple[sim.Scenario, Path]:
    """Load ``scenario`` (file or name) and apply ``--set`` and ``--months``; also return its file.

    Raises:
        ScenarioError: for any problem in the file or the overrides.
    """
    path = resolve_scenario_path(scenario)
    sc = load_scenario(path)
    overrides = parse_sets(sets)
    if overrides:
        sc = apply_overrides(sc, overrides, source=f"--set (on {path})", strict=True)
    if months is not None:
        sc = apply_overrides(sc, {"time.months": months}, source="--months", strict=True)
    return sc, path


def check_out(out: Path, force: bool) -> Path:
    """``out`` as an absolute path, once it is known to be usable as a new run folder.

    Raises:
        InputError: ``out`` is a file, a non-empty folder (without ``force``), the current folder
            or one containing it, or lies under a file.
    """
    try:
        if "\x00" in str(out):
            raise InputError(f"--out {str(out)[:100]!r}: a folder name without NUL characters")
        absolute = Path(os.path.abspath(out))
        if absolute.exists() and not absolute.is_dir():
            raise InputError(f"--out {out}: exists and is not a folder; allowed: a new or empty folder")
        cwd = Path.cwd()
        if absolute == cwd or absolute in cwd.parents:
            raise InputError(f"--out {out}: the current folder, or a folder containing it, cannot be replaced by a "
                             "run folder; allowed: a new or empty folder elsewhere, e.g. runs/NAME")
        above = absolute.parent
        while not above.exists() and above != above.parent:
            above = above.parent
        if not above.is_dir():
            raise InputError(f"--out {out}: {above} is a file, not a folder; allowed: a new or empty folder")
        if absolute.is_dir() and any(absolute.iterdir()) and not force:
            raise InputError(f"--out {out}: folder exists and is not empty; allowed: a new or empty folder, "
                             "or --force to replace it")
    except OSError as err:
        raise InputError(f"--out {out}: cannot be used ({err.strerror or err}); allowed: a new or empty folder "
                         "you can write to") from None
    return absolute


def _check_counts(*, seed: int, replications: int) -> None:
    problems = []
    if not 0 <= seed <= MAX_INT:
        problems.append(("--seed", seed, f"a non-negative integer up to {MAX_INT}"))
    if not 1 <= replications <= MAX_REPLICATIONS:
        problems.append(("--replications", replications, f"an integer >= 1 and <= {MAX_REPLICATIONS}"))
    if problems:
        raise ScenarioError("command line", problems)


_STAGE_TAIL = re.compile(r"^(?:(?P<pid>\d+)-)?[a-z0-9_]+$")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, someone else's
        return True
    return True


def clean_stale_stages(out: Path) -> list[Path]:
    """Remove the staging folders of ``out`` (``.NAME.tmp-PID-XXXX``, ``.NAME.old-PID-XXXX``) whose process is gone.

    A command killed while it wrote leaves its staging folder behind; the next command
    writing to the same ``out`` removes it. Folders of a process still running are kept
    (and those of older versions, without a process id, are removed).

    Returns:
        The folders removed.
    """
    removed = []
    parent = out.parent
    try:
        entries = list(parent.iterdir()) if parent.is_dir() else []
    except OSError:
        return removed
    for entry in entries:
        for kind in ("tmp", "old"):
            prefix = f".{out.name}.{kind}-"
            if not entry.name.startswith(prefix):
                continue
            m = _STAGE_TAIL.match(entry.name[len(prefix):])
            if m is None or (m.group("pid") and _alive(int(m.group("pid")))):
                continue
            with contextlib.suppress(OSError):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                    removed.append(entry)
    return removed


def _stage_prefix(out: Path, kind: str) -> str:
    return f".{out.name}.{kind}-{os.getpid()}-"


def _publish(tmp: Path, out: Path) -> None:
    """Move the staged folder ``tmp`` to ``out``, replacing what is there; on failure ``out`` is as it was."""
    old = None
    if out.exists():
        if any(out.iterdir()):
            old = Path(tempfile.mkdtemp(dir=out.parent, prefix=_stage_prefix(out, "old")))
            try:
                os.replace(out, old / "run")
            except OSError:
                old.rmdir()
                raise
        else:
            out.rmdir()
    try:
        os.replace(tmp, out)
    except OSError:
        if old is not None:
            os.replace(old / "run", out)
            old.rmdir()
        raise
    fsync_dir(out.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _io_message(err: OSError) -> str:
    where = f" ({err.filename})" if getattr(err, "filename", None) else ""
    return f"{err.strerror or err}{where}"


@contextlib.contextmanager
def staged_dir(out: Path, force: bool = False) -> Iterator[Path]:
    """A temporary sibling of ``out`` that is renamed to ``out`` only when the block completes.

    On entry ``out`` is checked (:func:`check_out`), stale staging folders are removed
    (:func:`clean_stale_stages`) and the staging folder is created, so a folder that
    cannot be written is reported before any work.  On any error the temporary folder
    is removed and ``out`` is left as it was; an :class:`OSError` (a full disk, say)
    becomes an :class:`InputError`.  With ``force`` an existing ``out`` is replaced.
    """
    out = check_out(out, force)
    clean_stale_stages(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=_stage_prefix(out, "tmp")))
    except OSError as err:
        raise InputError(f"--out {out}: cannot create a folder there ({_io_message(err)}); allowed: a new or empty "
                         "folder you can write to") from None
    try:
        mask = os.umask(0o022)
        os.umask(mask)
        os.chmod(tmp, 0o777 & ~mask)  # mkdtemp creates 0700
        yield tmp
        _publish(tmp, out)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InputError(f"cannot write the results to {out}: {_io_message(err)}; nothing was written "
                         f"(free some space or choose another --out)") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _console(stderr: bool = False) -> Console:
    console = Console(stderr=stderr, highlight=False, soft_wrap=False)
    if not console.is_terminal:  # piped or captured: do not squeeze tables into 80 columns
        console = Console(stderr=stderr, highlight=False, soft_wrap=False, width=max(console.width, 120))
    return console


# ---------------------------------------------------------------------------
# run


def run_replications(scenario: sim.Scenario, seed: int, replications: int, workers: int | None = 1,
                     progress: bool = False, initial: sim.InitialState | None = None) -> dict[str, pd.DataFrame]:
    """Run ``scenario`` ``replications`` times with :func:`experiments.replicate`.

    Replication r uses ``sim.seed_sequence(seed, r)``, whatever ``workers``; every replication
    starts from ``initial`` (the state of month 0 from the scenario's data folder) when given.

    Returns:
        ``kpis``, ``partners``, ``conflicts``, ``migrations``: frames with a ``replication`` column first.
    """
    from experiments.replication import replicate

    return replicate(scenario, replications, seed=seed, workers=workers, progress=progress,
                     initial=initial).frames()


def run_summary(
    headlines: pd.DataFrame, scenario: sim.Scenario, *, seed: int, source: Path, overrides: list[str]
) -> dict[str, Any]:
    """The content of ``summary.json``: what was run and each headline KPI's mean and 95 % CI."""
    n = len(headlines)
    method = (f"{LEVEL:.0%} t-interval over {n} replications (Student t, {n - 1} df)" if n > 1
              else "none: one replication, ci_low = ci_high = mean")
    return json_safe({
        "scenario": scenario.name,
        "description": scenario.description,
        "source": str(source),
        "overrides": overrides,
        "seed": seed,
        "replications": n,
        "seeds": f"sim.seed_sequence({seed}, r) for r in 0..{n - 1}",
        "months": scenario.time.months,
        "warmup_months": scenario.time.warmup_months,
        "package_version": sim.__version__,
        "ci_level": LEVEL,
        "ci_method": method,
        "kpis": {k: mean_ci(headlines[k]).as_dict() for k in headlines.columns},
    })


def _simulate(scenario: sim.Scenario, seed: int, replications: int, workers: int | None = 1,
              progress: bool = False, initial: sim.InitialState | None = None) -> dict[str, pd.DataFrame]:
    """:func:`run_replications`, with the model's refusal of values it cannot compute as an :class:`InputError`."""
    try:
        return run_replications(scenario, seed, replications, workers, progress, initial)
    except ScenarioError:
        raise
    except (MemoryError, OverflowError, FloatingPointError, ValueError) as err:
        first = (str(err).splitlines() or [""])[0][:200]
        raise InputError(
            f"{scenario.name}: the simulation stopped with {type(err).__name__}: {first}; a value far beyond the "
            "usual range can exceed what the model can compute in memory and time (see the bounds in "
            "docs/SCENARIOS.md); nothing was written") from None


def _report() -> Any:
    """:mod:`channelsim.report`, imported when a command writes or prints one.

    It pulls in matplotlib (about a second); the module-level imports here stay light
    because every process forked for a sweep by ``channelsim sweep`` inherits or
    re-runs them.
    """
    from . import report

    return report


def _summary_table(summary: dict[str, Any]) -> Table:
    report_mod = _report()
    t = Table(title=f"{summary['scenario']}: {summary['replications']} replication(s), {summary['months']} months, "
                    f"seed {summary['seed']}", caption=f"CI: {summary['ci_method']}")
    t.add_column("KPI")
    t.add_column("mean", justify="right")
    t.add_column("95 % CI", justify="right")
    for k, v in summary["kpis"].items():
        t.add_row(k, report_mod.fmt(v["mean"]), f"{report_mod.fmt(v['ci_low'])} .. {report_mod.fmt(v['ci_high'])}")
    return t


@app.command("run")
def run_cmd(
    scenario: Annotated[str, typer.Argument(help="Scenario file, or a name in scenarios/ (baseline, mediation, ...).",
                                            autocompletion=complete_scenario)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the results to (new or empty).")],
    seed: Annotated[int, typer.Option("--seed", "-s", help="Seed; replication r uses sim.seed_sequence(seed, r).")] = 0,
    replications: Annotated[int, typer.Option("--replications", "-r", help="Number of replications.")] = 1,
    months: Annotated[int | None, typer.Option("--months", help="Reported months (replaces time.months).")] = None,
    sets: Annotated[list[str] | None, typer.Option("--set", help=SET_HELP)] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace DIR if it exists and is not empty.")] = False,
    workers: Annotated[int | None, typer.Option(
        "--workers", "-w", help="Processes for the replications (default: one per core when there are 4 or more "
        "replications, else 1); results do not depend on it.")] = None,
) -> None:
    """Run a scenario with replications and write KPIs, panels, a summary with CIs and an HTML report."""
    sets = sets or []
    with _user_errors():
        _check_counts(seed=seed, replications=replications)
        if workers is not None and not 1 <= workers <= 256:
            raise ScenarioError("command line", [("--workers", workers, "an integer from 1 to 256")])
        check_out(out, force)
        sc, source = build_scenario(scenario, sets, months)
        from experiments.initial import with_data

        sc, initial = with_data(sc, source=source)  # the data folder's month 0 (read once) and the sizes it gives
    err = _console(stderr=True)
    with _user_errors(), staged_dir(out, force) as tmp:  # the folder is checked and reserved before the runs
        err.print(f"running {sc.name}: {replications} replication(s) of {sc.time.months} months "
                  f"(+{sc.time.warmup_months} warm-up), seed {seed}")
        n_workers = workers if workers is not None else (None if replications >= 4 else 1)
        frames = _simulate(sc, seed, replications, n_workers, progress=sys.stderr.isatty(), initial=initial)
        headlines = replication_headlines(frames["kpis"])
        summary = run_summary(headlines, sc, seed=seed, source=source, overrides=sets)
        extra = {"seed": seed, "replications": replications, "seeds": summary["seeds"], "source": str(source),
                 "overrides": sets, "package_version": sim.__version__}
        for name in ("kpis", "partners", "conflicts", "migrations"):
            write_parquet_atomic(frames[name], tmp / f"{name}.parquet")
        atomic_write_text(tmp / "summary.json", json.dumps(summary, indent=2, allow_nan=False) + "\n")
        dump_scenario(sc, tmp / "scenario.resolved.yaml", extra)
        atomic_write_text(tmp / "report.html", _report().run_report(
            frames["kpis"], frames["partners"], summary, conflicts=frames["conflicts"],
            migrations=frames["migrations"], tiers=sc.tier_names))
    _console().print(_summary_table(summary))
    err.print(f"wrote {out}/ ({', '.join(RUN_FILES)})")


# ---------------------------------------------------------------------------
# validate


@app.command("validate")
def validate_cmd(
    scenario: Annotated[str, typer.Argument(help="Scenario file, or a name in scenarios/.",
                                            autocompletion=complete_scenario)],
    sets: Annotated[list[str] | None, typer.Option("--set", help=SET_HELP)] = None,
) -> None:
    """Load and check a scenario file (and its extends chain); print its name and OK."""
    with _user_errors():
        sc, path = build_scenario(scenario, sets or [])
    typer.echo(f"{sc.name} ({path}): OK")


# ---------------------------------------------------------------------------
# show


def show_text(scenario: str, sets: list[str], schema: str | None = None) -> str:
    """What ``channelsim show SCENARIO [--set ...] [--schema URL]`` prints: the commented, resolved scenario.

    Raises:
        ScenarioError: for any problem in the file or the overrides.
    """
    from experiments.io import commented_scenario_yaml

    sc, _ = build_scenario(scenario, sets)
    command = " ".join(["channelsim show", scenario, *(f"--set {s}" for s in sets),
                        *([f"--schema {schema}"] if schema else [])])
    header = [f"yaml-language-server: $schema={schema}"] if schema else []
    header += [f"The scenario '{sc.name}' resolved: every field with its value, defaults included. The comment above",
               "each field gives its meaning [unit; allowed values]; docs/SCENARIOS.md gives the basis and source of",
               "every default. To change a few fields, write a file with 'extends: NAME' and those fields only.",
               f"Written by: {command}", ""]
    return commented_scenario_yaml(sc, header)


@app.command("show")
def show_cmd(
    scenario: Annotated[str, typer.Argument(help="Scenario file, or a name in scenarios/.",
                                            autocompletion=complete_scenario)],
    sets: Annotated[list[str] | None, typer.Option("--set", help=SET_HELP)] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the YAML to this file instead.")] = None,
    schema: Annotated[str | None, typer.Option(
        "--schema", help="Start with a yaml-language-server line pointing editors to this JSON Schema (a path "
        "relative to the file, or a URL; see channelsim schema --json).")] = None,
) -> None:
    """Print the whole resolved scenario as YAML, each field with its meaning, unit and allowed values as comments."""
    with _user_errors():
        text = show_text(scenario, sets or [], schema)
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        atomic_write_text(out, text)
    except OSError as err:
        _fail(f"error: cannot write {out}: {_io_message(err)}")
    _console(stderr=True).print(f"wrote {out}")


# ---------------------------------------------------------------------------
# compare


def read_run(folder: Path) -> tuple[pd.DataFrame, dict[str, Any] | None]:
    """``kpis.parquet`` of a run folder and its ``summary.json`` (None when absent).

    Raises:
        InputError: when the folder or its ``kpis.parquet`` is missing or unreadable.
    """
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder; allowed: a folder written by 'channelsim run'")
    kp = folder / "kpis.parquet"
    if not kp.is_file():
        raise InputError(f"{folder}: no kpis.parquet; allowed: a folder written by 'channelsim run'")
    try:
        kpis = pd.read_parquet(kp)
    except Exception as err:  # noqa: BLE001 - any unreadable file is bad input
        raise InputError(f"{kp}: unreadable Parquet ({err}); allowed: a kpis.parquet written by 'channelsim run'") \
            from None
    missing = {"month"} - set(kpis.columns)
    if missing:
        raise InputError(f"{kp}: column(s) {sorted(missing)} missing; "
                         "allowed: a kpis.parquet written by 'channelsim run'")
    summary = None
    sp = folder / "summary.json"
    if sp.is_file():
        try:
            summary = json.loads(sp.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            summary = None
    return kpis, summary


def read_run_frames(folder: Path) -> dict[str, pd.DataFrame]:
    """The partner panel, conflict log and tier migrations of a run folder: those present and readable."""
    out = {}
    for name in ("partners", "conflicts", "migrations"):
        path = folder / f"{name}.parquet"
        if path.is_file():
            with contextlib.suppress(Exception):  # an unreadable optional file leaves its plot out
                out[name] = pd.read_parquet(path)
    return out


def _run_text(name: str, folder: Path, summary: dict[str, Any] | None) -> str:
    """What a compared run was: scenario, folder, description, replications, seed and months."""
    s = summary or {}
    parts = [f"{name} ({folder})"]
    if s.get("description"):
        parts.append(str(s["description"]).strip().rstrip("."))
    if s:
        parts.append(f"{s.get('replications')} replication(s), seed {s.get('seed')}, {s.get('months')} months "
                     f"after {s.get('warmup_months')} warm-up, channelsim {s.get('package_version')}")
        if s.get("overrides"):
            parts.append("--set " + ", ".join(s["overrides"]))
    return "; ".join(parts)


def run_scale(folder: Path) -> dict[str, Any]:
    """The horizon and market-size fields (:data:`experiments.replication.SCALE_FIELDS`) of a run folder.

    Read from its ``scenario.resolved.yaml``; fields it does not hold (an older or hand-made folder) are left out.
    """
    from experiments.replication import SCALE_FIELDS

    path = folder / "scenario.resolved.yaml"
    try:
        data = load_yaml(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except Exception:  # noqa: BLE001 - optional metadata: an unreadable file only skips the check
        data = {}
    out: dict[str, Any] = {}
    for field in SCALE_FIELDS:
        node: Any = data
        for part in field.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            out[field] = node
    return out


def scale_mismatches(dir_a: Path, dir_b: Path) -> list[str]:
    """The scale fields on which two run folders differ, in words (``field: A in DIR_A, B in DIR_B``)."""
    a, b = run_scale(dir_a), run_scale(dir_b)
    return [f"{k}: {a[k]!r} in {dir_a}, {b[k]!r} in {dir_b}" for k in a if k in b and a[k] != b[k]]


def compare_runs(
    kpis_a: pd.DataFrame, kpis_b: pd.DataFrame, summary_a: dict[str, Any] | None, summary_b: dict[str, Any] | None,
    *, a: str = "A", b: str = "B", mismatches: list[str] | tuple[str, ...] = (), allow_mismatch: bool = False,
) -> Any:
    """Two run folders' KPIs compared per headline KPI: :func:`experiments.replication.compare_headlines`.

    The comparison is paired (common random numbers) when both runs used the same seed
    and the same replications (:func:`experiments.replication.pairs`); otherwise Welch.

    Args:
        kpis_a: ``kpis.parquet`` of A (the reference).
        kpis_b: ``kpis.parquet`` of B.
        summary_a: A's ``summary.json`` (its seed), or None.
        summary_b: B's ``summary.json``, or None.
        a: A's name.
        b: B's name.
        mismatches: the scale fields on which the folders differ (:func:`scale_mismatches`).
        allow_mismatch: compare anyway when they differ.

    Returns:
        The :class:`experiments.replication.Comparison` of B against A.

    Raises:
        experiments.replication.IncomparableError: the runs differ in scale and ``allow_mismatch`` is False.
    """
    from experiments.replication import compare_headlines, pairs

    ha, hb = replication_headlines(kpis_a), replication_headlines(kpis_b)
    paired = pairs((summary_a or {}).get("seed"), (summary_b or {}).get("seed"), list(ha.index), list(hb.index))
    return compare_headlines(ha, hb, a=a, b=b, paired=paired, mismatches=list(mismatches),
                             allow_mismatch=allow_mismatch)


def _ci_text(fmt: Any, cmp: Any, row: Any) -> str:
    if not cmp.has_intervals:
        return "n/a (1 replication)"
    return f"{fmt(row['ci_low'])} .. {fmt(row['ci_high'])}"


@app.command("compare")
def compare_cmd(
    dir_a: Annotated[Path, typer.Argument(help="Run folder A, the reference (written by 'channelsim run').")],
    dir_b: Annotated[Path, typer.Argument(help="Run folder B, the what-if.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write a comparison report.html here.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists and is not empty.")] = False,
    allow_mismatch: Annotated[bool, typer.Option(
        "--allow-mismatch", help="Compare runs of different horizons or market sizes anyway.")] = False,
) -> None:
    """Print per headline KPI: A mean, B mean, B - A, % of A and its 95 % CI over replications."""
    from experiments.replication import IncomparableError

    with _user_errors():
        if out is not None:
            check_out(out, force)
        kpis_a, sa = read_run(dir_a)
        kpis_b, sb = read_run(dir_b)
        name_a = str((sa or {}).get("scenario", dir_a.name))
        name_b = str((sb or {}).get("scenario", dir_b.name))
        if name_a == name_b:  # e.g. a --set run of the baseline against the baseline: name them by folder
            name_a, name_b = f"{name_a} [{dir_a.name}]", f"{name_b} [{dir_b.name}]"
        mism = scale_mismatches(dir_a, dir_b)
        try:
            cmp = compare_runs(kpis_a, kpis_b, sa, sb, a=name_a, b=name_b, mismatches=mism,
                               allow_mismatch=allow_mismatch)
        except IncomparableError as e:
            raise InputError(f"{dir_a} and {dir_b}: {e}") from None
    err = _console(stderr=True)
    for w in cmp.warnings:
        err.print(escape(f"warning: {w}"))
    t = Table(title=escape(f"B - A: {name_b} ({dir_b}) vs {name_a} ({dir_a})"), caption=f"95 % CI: {cmp.method}")
    for col, just in (("KPI", "left"), ("A mean", "right"), ("B mean", "right"), ("B - A", "right"),
                      ("% of A", "right"), ("95 % CI", "right"), ("significant", "left")):
        t.add_column(col, justify=just)
    report_mod = _report()
    fmt = report_mod.fmt
    for k, r in cmp.table.iterrows():
        pct = f"{r['pct']:+.1f} %" if math.isfinite(r["pct"]) else "n/a"
        t.add_row(str(k), fmt(r["a"]), fmt(r["b"]), fmt(r["diff"]), pct, _ci_text(fmt, cmp, r),
                  ("yes" if r["significant"] else "no") if cmp.has_intervals else "n/a")
    _console().print(t)
    if out is not None:
        info = {"A (reference)": _run_text(name_a, dir_a, sa), "B (what-if)": _run_text(name_b, dir_b, sb),
                "interval": cmp.method, "channelsim version": sim.__version__}
        kpis = {str(k): {"a_mean": r["a"], "b_mean": r["b"], "diff": r["diff"], "pct": r["pct"],
                         "ci_low": r["ci_low"] if cmp.has_intervals else None,
                         "ci_high": r["ci_high"] if cmp.has_intervals else None,
                         "significant": bool(r["significant"])} for k, r in cmp.table.iterrows()}
        payload = {"a": str(dir_a), "b": str(dir_b), "a_name": name_a, "b_name": name_b, "paired": cmp.paired,
                   "ci_method": cmp.method, "ci_level": LEVEL, "warnings": list(cmp.warnings), "kpis": kpis}
        with _user_errors(), staged_dir(out, force) as tmp:
            atomic_write_text(tmp / "compare.json", json.dumps(json_safe(payload), indent=2, allow_nan=False) + "\n")
            atomic_write_text(tmp / "report.html", report_mod.compare_report(
                cmp, info, {"kpis": kpis_a, **read_run_frames(dir_a)}, {"kpis": kpis_b, **read_run_frames(dir_b)},
                summary_a=sa, summary_b=sb))
        _console(stderr=True).print(f"wrote {out}/ (compare.json, report.html)")


# ---------------------------------------------------------------------------
# schema


@app.command("schema")
def schema_cmd(
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Write it here (docs/SCENARIOS.md; docs/scenario.schema.json with --json).")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="The JSON Schema of a scenario file instead, for editors to complete and check files.")] = False,
    unbounded: Annotated[bool, typer.Option(
        "--unbounded", help="List the numeric fields without an upper bound instead (exit 1 if any).")] = False,
) -> None:
    """Print (or write) a Markdown table of every scenario field: path, default, unit, allowed, description.

    With --json, the JSON Schema of a scenario file instead (see README: editor support).
    """
    from .schema import json_schema_text, markdown, unbounded_fields

    if unbounded:
        fields = unbounded_fields()
        for path in fields:
            typer.echo(path)
        _console(stderr=True).print(f"{len(fields)} numeric field(s) without an upper bound")
        raise typer.Exit(1 if fields else 0)
    text = json_schema_text() if as_json else markdown()
    if out is None:
        typer.echo(text, nl=False)
    else:
        try:
            atomic_write_text(out, text)
        except OSError as err:
            _fail(f"error: cannot write {out}: {_io_message(err)}")
        _console(stderr=True).print(f"wrote {out}")


# ---------------------------------------------------------------------------
# Plugins and entry point


def register_plugins(target: typer.Typer, modules: tuple[str, ...] = PLUGINS) -> list[str]:
    """Call ``register(target)`` of each module in ``modules`` that exists; return those registered.

    A module that does not exist is skipped; any other import error is raised.
    """
    done = []
    for name in modules:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:
                continue
            raise
        mod.register(target)
        done.append(name)
    return done


register_plugins(app)


def internal_error_message(err: BaseException) -> str:
    """The one paragraph printed for an error that is not the user's (the traceback only on request)."""
    first = (str(err).splitlines() or [""])[0][:300]
    what = {MemoryError: "ran out of memory", RecursionError: "nested too deeply"}.get(type(err))
    head = f"error: channelsim {what}" if what else "error: channelsim failed unexpectedly"
    return (f"{head} ({type(err).__name__}: {first}). This is a bug, or input beyond what channelsim can handle. "
            "Run again with CHANNELSIM_TRACEBACK=1 to see the traceback, and "
            "please report it.")


def main() -> None:
    """Entry point of the ``channelsim`` console script.

    Errors a user can act on exit with code 2 (the commands report them); any other
    error prints one paragraph and exits with code 1, with the traceback only when
    ``CHANNELSIM_TRACEBACK=1`` is set.
    """
    try:
        app(prog_name="channelsim")  # also under `python -m channelsim.cli`: help and shell completion name it so
    except Exception as err:  # noqa: BLE001 - the last line of defence: no traceback reaches a user
        if os.environ.get("CHANNELSIM_TRACEBACK"):
            traceback.print_exc()
        sys.stderr.write(internal_error_message(err) + "\n")
        sys.exit(EXIT_INTERNAL)


__all__ = ["app", "build_scenario", "check_out", "clean_stale_stages", "compare_runs", "internal_error_message",
           "main", "parse_sets", "read_run", "read_run_frames", "show_text",
           "run_scale", "scale_mismatches", "register_plugins", "run_replications", "run_summary",
           "staged_dir"]


if __name__ == "__main__":  # python -m channelsim.cli
    main()
