"""The result store: one Parquet file per run, written atomically, plus a manifest.

Layout of an experiment's output folder::

    DIR/runs/dp00000_r000.parquet     one row per run: point, replication, status, factor values, outputs
    DIR/_manifest.json                experiment file text, package version, start/end times, sessions
    DIR/_design.parquet               one row per design point (unit coordinates and factor values)
    DIR/_report.html                  after ``channelsim report DIR``
    DIR/_corrupt/                     damaged run files moved aside
    DIR/.lock                         held by the sweep writing to the folder

Every name but the run files starts with ``_`` or ``.``, which Parquet dataset readers
(pyarrow, pandas, Dask, Spark) skip, so the folder itself is the dataset of runs:
``pd.read_parquet('DIR')``.  DuckDB does not skip such names; it reads the runs with
``read_parquet('DIR/runs/*.parquet')``.

Each run file is written to a hidden temporary name in ``runs/`` (``.dp…parquet.XXXX.tmp``),
fsynced and renamed, so a reader sees a whole file or none; the loader reads only
``runs/*.parquet``.  Every run file has the same Arrow schema (fixed from the
experiment).  A failed run is a row with ``status = 'failed'``, its traceback in
``error`` and null outputs.

A folder written with the earlier layout (``manifest.json``, ``design.parquet``,
``corrupt/``, ``report.html`` and the ``results.parquet`` / ``monthly.parquet`` exports beside
``runs/``) is read as it is, and renamed to this layout by the next session that opens it.

The manifest records ``resolved_sha256``, a fingerprint of the experiment with its
resolved base scenario (every field); a session on a folder whose fingerprint
differs is refused with the fields that changed, and so is a folder that holds
files but no manifest.  A run file that cannot be read, or is not the run its name
says, is moved to ``DIR/_corrupt/`` when a session opens the folder, and run again.
Any other problem with the folder (a damaged manifest, ``runs`` or ``.lock`` of the
wrong kind, a folder that cannot be written) is a :class:`StoreError` naming it.
"""

from __future__ import annotations

import contextlib
import fcntl
import io as _io
import json
import logging
import os
import platform
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import sim

from .design import Experiment, factor_column_value
from .io import atomic_write_bytes, atomic_write_text, write_parquet_atomic

RUN_FILE = re.compile(r"^dp(\d{5,})_r(\d{3,})\.parquet$")
MANIFEST = "_manifest.json"
LOCK = ".lock"
DESIGN = "_design.parquet"
RUNS = "runs"
CORRUPT = "_corrupt"
REPORT = "_report.html"
#: Names of the earlier layout (beside ``runs/``, which broke ``pd.read_parquet(DIR)``) -> today's.
LEGACY = {"manifest.json": MANIFEST, "design.parquet": DESIGN, "corrupt": CORRUPT, "report.html": REPORT,
          "results.parquet": "_results.parquet", "monthly.parquet": "_monthly.parquet"}
#: Largest manifest read (bytes): the experiment file is at most 1 MB, and a session adds a few lines.
MAX_MANIFEST_BYTES = 64_000_000

log = logging.getLogger("channelsim.sweep")
MONTHLY_PREFIX = "monthly_"
META_COLUMNS = ("point", "replication", "status", "error", "seconds", "worker", "seed_key")


class StoreError(RuntimeError):
    """The output folder cannot be used for this experiment (e.g. it holds another experiment's runs)."""


def _oserr(err: OSError) -> str:
    where = f" ({err.filename})" if getattr(err, "filename", None) else ""
    return f"{err.strerror or err}{where}"


def _leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            out.update(_leaves(v, f"{prefix}{k}."))
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, v in enumerate(value):
            out.update(_leaves(v, f"{prefix}{v.get('name', i)}."))
    else:
        out[prefix[:-1]] = value
    return out


def describe_changes(old: Any, new: Any, limit: int = 5) -> list[str]:
    """``path: old -> new`` for the leaves of two nested mappings that differ (at most ``limit``, then a count)."""
    a, b = _leaves(old or {}), _leaves(new or {})
    changed = [k for k in sorted(set(a) | set(b)) if a.get(k, "<absent>") != b.get(k, "<absent>")]

    def show(v: Any) -> str:
        text = json.dumps(v, default=str) if v != "<absent>" else "(absent)"
        return text if len(text) <= 40 else text[:37] + "..."

    out = [f"{k}: {show(a.get(k, '<absent>'))} -> {show(b.get(k, '<absent>'))}" for k in changed[:limit]]
    if len(changed) > limit:
        out.append(f"and {len(changed) - limit} more")
    return out


def run_filename(point: int, replication: int) -> str:
    return f"dp{point:05d}_r{replication:03d}.parquet"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _factor_type(values: list[Any]) -> pa.DataType:
    vals = [factor_column_value(v) for v in values]
    if all(isinstance(v, bool) for v in vals):
        return pa.bool_()
    if all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
        return pa.int64()
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in vals):
        return pa.float64()
    return pa.string()


def _factor_cast(v: Any, typ: pa.DataType) -> Any:
    v = factor_column_value(v)
    if typ == pa.string():
        return v if isinstance(v, str) else json.dumps(v)
    if typ == pa.float64():
        return float(v)
    return v


class RunStore:
    """Writes and reads one experiment's output folder.

    Args:
        root: the output folder (created if missing).
        experiment: the experiment whose runs it holds.
        design: its design table (:func:`experiments.design.build_design`).
        monthly: the monthly KPI series kept (resolved names).
        base: the resolved base scenario (the experiment's own when None), part of the fingerprint.
    """

    def __init__(self, root: str | Path, experiment: Experiment, design: pd.DataFrame, monthly: list[str],
                 base: Any = None):
        self.root = Path(root)
        self.runs_dir = self.root / RUNS
        self.experiment = experiment
        self.design = design
        self.summary = experiment.summary_outputs()
        self.monthly = list(monthly)
        self.factor_types = {f: _factor_type(list(design[f])) for f in experiment.factor_names}
        self.schema = self._schema()
        self.base = base if base is not None else experiment.base_scenario()
        self.resolved_sha256 = experiment.resolved_sha256(self.base)
        self.fresh = False  # this session created the folder's manifest (see discard)
        self._created: list[Path] = []

    # ------------------------------------------------------------------ schema
    def _schema(self) -> pa.Schema:
        fields = [
            pa.field("point", pa.int64()), pa.field("replication", pa.int64()), pa.field("status", pa.string()),
        ]
        fields += [pa.field(name, typ) for name, typ in self.factor_types.items()]
        fields += [pa.field(k, pa.float64()) for k in self.summary]
        fields += [pa.field(MONTHLY_PREFIX + k, pa.list_(pa.float64())) for k in self.monthly]
        fields += [
            pa.field("error", pa.string()), pa.field("seconds", pa.float64()), pa.field("worker", pa.string()),
            pa.field("seed_key", pa.string()),
        ]
        return pa.schema(fields)

    # ------------------------------------------------------------------ manifest
    def open(self, backend: str) -> dict[str, Any]:
        """Create the folder (or check it holds this experiment) and record a new session in the manifest.

        Raises:
            StoreError: the folder cannot be created or written, is damaged (manifest, ``runs``, ``.lock``),
                holds another experiment (or this one with another resolved base scenario), holds files
                but no manifest, or another sweep is writing to it.
        """
        self._prepare()
        self._lock()
        try:
            migrate_layout(self.root)
            manifest = self.read_manifest()
            if manifest is not None:
                self._check_same(manifest)
                manifest.setdefault("resolved_sha256", self.resolved_sha256)
            else:
                self._check_adoptable()
                manifest = self._new_manifest()
                write_parquet_atomic(self._design_frame(), self.root / DESIGN)
                self.fresh = True
            manifest["sessions"].append({"started": now_iso(), "finished": None, "backend": backend,
                                         "package_version": sim.__version__})
            self.write_manifest(manifest)
        except OSError as err:
            self._unlock()
            self.discard()
            raise StoreError(f"cannot write to {self.root}: {_oserr(err)}") from None
        except BaseException:
            self._unlock()
            self.discard()
            raise
        return manifest

    def _prepare(self) -> None:
        """Create ``root`` and ``root/runs`` (noting what this session created), or say why they cannot be."""
        root = self.root
        try:
            if root.exists() and not root.is_dir():
                raise StoreError(f"--out {root}: exists and is not a folder; allowed: a new folder, or the folder "
                                 "of this experiment to resume")
            missing = [p for p in (root, *root.parents) if not p.exists()]
            for p in reversed(missing):
                if p.parent.exists() and not p.parent.is_dir():
                    raise StoreError(f"--out {root}: {p.parent} is a file, not a folder")
            root.mkdir(parents=True, exist_ok=True)
            self._created += missing
            if self.runs_dir.exists() and (self.runs_dir.is_symlink() or not self.runs_dir.is_dir()):
                raise StoreError(f"{self.runs_dir}: exists and is not a folder, so {root} is damaged; move it "
                                 "aside, or use another --out folder")
            if not self.runs_dir.exists():
                self.runs_dir.mkdir()
                self._created.append(self.runs_dir)
            lock = root / LOCK
            if lock.exists() and (lock.is_symlink() or not lock.is_file()):
                raise StoreError(f"{lock}: exists and is not a file, so {root} is damaged; remove it (it holds "
                                 "nothing) and run the same command again")
        except OSError as err:
            self.discard()
            raise StoreError(f"--out {root}: cannot be used ({_oserr(err)}); allowed: a folder you can write to") \
                from None
        except StoreError:
            self.discard()
            raise

    def _new_manifest(self) -> dict[str, Any]:
        return {
            "name": self.experiment.name,
            "experiment_file": self.experiment.source,
            "experiment_text": self.experiment.text,
            "experiment": self.experiment.model_dump(mode="json"),
            "experiment_sha256": self.experiment.sha256,
            "resolved_sha256": self.resolved_sha256,
            "base_scenario": self.base.model_dump(mode="json"),
            "package_version": sim.__version__,
            "python": platform.python_version(),
            "n_points": int(len(self.design)),
            "replications": self.experiment.replications,
            "n_runs": int(len(self.design)) * self.experiment.replications,
            "factors": self.experiment.factor_names,
            "summary_outputs": self.summary,
            "monthly_outputs": self.monthly,
            "started": now_iso(),
            "finished": None,
            "sessions": [],
        }

    def _check_same(self, manifest: dict[str, Any]) -> None:
        """Refuse a folder whose manifest is not this experiment with this resolved base scenario."""
        advice = "use another --out folder, or remove this one"
        if manifest.get("experiment_sha256") != self.experiment.sha256:
            changes = describe_changes(manifest.get("experiment"), self.experiment.model_dump(mode="json"))
            what = f"; changed: {'; '.join(changes)}" if changes else ""
            raise StoreError(
                f"{self.root} holds the results of a different experiment "
                f"({manifest.get('experiment_file')!r}, name {manifest.get('name')!r}){what}; {advice}")
        stored = manifest.get("resolved_sha256")
        if stored is not None and stored != self.resolved_sha256:
            changes = describe_changes(manifest.get("base_scenario"), self.base.model_dump(mode="json"))
            what = f": {'; '.join(changes)}" if changes else ""
            raise StoreError(
                f"{self.root} holds runs of this experiment with another base scenario (it was edited since, "
                f"or resolves to another file){what}. Resuming would mix runs of both; {advice}, or restore the "
                "base scenario")

    def _check_adoptable(self) -> None:
        """A folder without a manifest is used only when it holds nothing (an empty ``runs/`` and a lock at most)."""
        try:
            entries = [p for p in self.root.iterdir() if p.name != LOCK]
            runs = list(self.runs_dir.iterdir())
        except OSError as err:
            raise StoreError(f"--out {self.root}: cannot be read ({_oserr(err)})") from None
        if runs or any(p != self.runs_dir for p in entries):
            shown = ", ".join(sorted(p.name for p in entries)[:5])
            raise StoreError(
                f"{self.root} has no {MANIFEST} but is not empty ({shown}): it is not an experiment folder, or its "
                f"manifest was lost, and its runs cannot be checked against this experiment; use a new --out "
                f"folder (or restore its {MANIFEST})")

    def discard(self) -> None:
        """Remove what this session created in a folder that holds no run: its manifest, design, lock and folders."""
        if self.fresh:
            if any(True for _ in self._run_names()):
                return
            for name in (MANIFEST, DESIGN, LOCK):
                with contextlib.suppress(OSError):
                    (self.root / name).unlink()
            self.fresh = False
        elif self._created and self.root in self._created:
            with contextlib.suppress(OSError):
                (self.root / LOCK).unlink()
        for p in sorted(self._created, key=lambda q: len(q.parts), reverse=True):
            with contextlib.suppress(OSError):
                p.rmdir()  # only when empty
        self._created = []

    def _run_names(self) -> Iterator[str]:
        try:
            for p in self.runs_dir.iterdir():
                if RUN_FILE.match(p.name):
                    yield p.name
        except OSError:
            return

    def close(self, manifest: dict[str, Any], executed: int, failed: int, complete: bool) -> None:
        try:
            manifest["sessions"][-1].update({"finished": now_iso(), "executed": executed, "failed": failed,
                                             "complete": complete})
            if complete:
                manifest["finished"] = now_iso()
            self.write_manifest(manifest)
        finally:
            self._unlock()

    def _lock(self) -> None:
        """One sweep per folder at a time (an advisory lock on ``DIR/.lock``, released when the process ends)."""
        try:
            fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as err:
            self.discard()
            raise StoreError(f"{self.root / LOCK}: cannot be opened ({_oserr(err)}); remove it if it is not a file, "
                             "and run the same command again") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreError(f"another sweep is writing to {self.root}; wait for it to finish (or stop it)") from None
        self._lock_fd = fd

    def _unlock(self) -> None:
        fd, self._lock_fd = getattr(self, "_lock_fd", None), None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _design_frame(self) -> pd.DataFrame:
        d = self.design.copy()
        for f in self.experiment.factor_names:
            d[f] = [_factor_cast(v, self.factor_types[f]) for v in d[f]]
        return d

    def read_manifest(self) -> dict[str, Any] | None:
        """The folder's manifest, None when there is none.

        Raises:
            StoreError: the manifest is damaged (not JSON, not a manifest, not readable).
        """
        p = located(self.root, MANIFEST)
        if not p.exists() and not p.is_symlink():
            return None
        return read_manifest(self.root, command="run the same command")

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_text(self.root / MANIFEST, json.dumps(manifest, indent=2, default=str) + "\n")

    # ------------------------------------------------------------------ runs
    def path(self, point: int, replication: int) -> Path:
        return self.runs_dir / run_filename(point, replication)

    def existing(self, expected: dict[tuple[int, int], str] | None = None) -> dict[tuple[int, int], str]:
        """``(point, replication) -> status`` of every run already stored.

        A run file that cannot be read, does not have this experiment's columns, or whose
        row is not the run its name says is moved to ``DIR/_corrupt/`` (logged) and left out,
        so the session runs it again.

        Args:
            expected: ``(point, replication) -> seed_key`` of the experiment's runs; a stored run with
                another seed key, or one the experiment does not have, is refused.

        Raises:
            StoreError: a stored run belongs to another experiment (see ``expected``).
        """
        out: dict[tuple[int, int], str] = {}
        if not self.runs_dir.is_dir():
            return out
        foreign = []
        for p in sorted(self.runs_dir.iterdir()):
            m = RUN_FILE.match(p.name)
            if not m:
                continue
            key = (int(m.group(1)), int(m.group(2)))
            row = self._read_row(p, key)
            if row is None:
                self._move_aside(p)
                continue
            status, seed_key = row
            if expected is not None and expected.get(key) != seed_key:
                foreign.append(p.name)
                continue
            out[key] = status
        if foreign:
            raise StoreError(
                f"{self.runs_dir} holds {len(foreign)} run file(s) of another experiment or seed "
                f"({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}); use another --out folder")
        return out

    def _read_row(self, path: Path, key: tuple[int, int]) -> tuple[str, str] | None:
        """``(status, seed_key)`` of a run file, None when it is damaged or not the run ``key``."""
        try:
            if pq.read_schema(path).remove_metadata() != self.schema.remove_metadata():
                return None
            t = pq.read_table(path, columns=["point", "replication", "status", "seed_key"]).to_pylist()
        except Exception:  # noqa: BLE001 - pyarrow raises several kinds for a damaged file
            return None
        if len(t) != 1 or (t[0]["point"], t[0]["replication"]) != key or t[0]["status"] not in ("ok", "failed"):
            return None
        return str(t[0]["status"]), str(t[0]["seed_key"])

    def _move_aside(self, path: Path) -> Path:
        folder = self.root / CORRUPT
        folder.mkdir(exist_ok=True)
        target = folder / path.name
        n = 1
        while target.exists():
            target = folder / f"{path.name}.{n}"
            n += 1
        os.replace(path, target)
        log.warning("%s is damaged (unreadable, or not the run its name says); moved it to %s, it runs again",
                    path, target)
        return target

    def table(self, record: dict[str, Any]) -> pa.Table:
        """The one-row Arrow table of a run record (see :func:`experiments.runner.run_task`)."""
        point, rep = int(record["point"]), int(record["replication"])
        row = self.design.iloc[point]
        outputs = record.get("outputs") or {}
        monthly = record.get("monthly") or {}
        cols: dict[str, list[Any]] = {
            "point": [point], "replication": [rep], "status": [record["status"]],
        }
        for f, typ in self.factor_types.items():
            cols[f] = [_factor_cast(row[f], typ)]
        for k in self.summary:
            v = outputs.get(k)
            cols[k] = [None if v is None else float(v)]
        for k in self.monthly:
            v = monthly.get(k)
            cols[MONTHLY_PREFIX + k] = [None if v is None else [float(x) for x in v]]
        cols["error"] = [record.get("error") or None]
        cols["seconds"] = [float(record.get("seconds", np.nan))]
        cols["worker"] = [str(record.get("worker", ""))]
        cols["seed_key"] = [str(record.get("seed_key", ""))]
        return pa.table(cols, schema=self.schema)

    def write(self, record: dict[str, Any]) -> Path:
        """Store one run atomically (temporary file, fsync, rename); replaces an earlier file of the same run."""
        buf = _io.BytesIO()
        pq.write_table(self.table(record), buf)
        return atomic_write_bytes(self.path(int(record["point"]), int(record["replication"])), buf.getvalue())


# ---------------------------------------------------------------------- layout
def located(root: str | Path, name: str) -> Path:
    """``DIR/name``, or the same file under its earlier name when only that one exists (see :data:`LEGACY`)."""
    p = Path(root) / name
    if p.exists() or p.is_symlink():
        return p
    for old, new in LEGACY.items():
        if new == name and ((Path(root) / old).exists() or (Path(root) / old).is_symlink()):
            return Path(root) / old
    return p


def migrate_layout(root: str | Path) -> list[str]:
    """Rename the files of the earlier layout to today's (``manifest.json`` -> ``_manifest.json``, ...).

    Called by a session holding the folder's lock; a name whose new name already exists is left as it is.

    Returns:
        ``old -> new`` for each renamed file (logged).
    """
    done = []
    for old, new in LEGACY.items():
        src, dst = Path(root) / old, Path(root) / new
        if (src.exists() or src.is_symlink()) and not (dst.exists() or dst.is_symlink()):
            os.replace(src, dst)
            done.append(f"{old} -> {new}")
    if done:
        log.info("%s: renamed to today's layout (%s), so that pd.read_parquet(%s) reads its runs", root,
                 ", ".join(done), root)
    return done


# ---------------------------------------------------------------------- reading
def run_files(root: str | Path) -> list[Path]:
    """The complete run files of a folder (temporary ``.tmp`` files are never included)."""
    d = Path(root) / RUNS
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if RUN_FILE.match(p.name))


_MANIFEST_KEYS = ("name", "experiment_sha256", "sessions")


def read_manifest(root: str | Path, *, command: str = "") -> dict[str, Any]:
    """The manifest of an experiment folder.

    Raises:
        StoreError: the folder has no manifest, or a damaged one (not JSON, not a manifest, unreadable).
    """
    p = located(root, MANIFEST)
    if not p.exists() and not p.is_symlink():
        raise StoreError(f"{root} is not an experiment output folder (no {MANIFEST})")
    try:
        if p.is_symlink() or not p.is_file():
            raise ValueError("not a regular file")
        if p.stat().st_size > MAX_MANIFEST_BYTES:
            raise ValueError(f"larger than {MAX_MANIFEST_BYTES:,} bytes")
        data = json.loads(p.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or any(k not in data for k in _MANIFEST_KEYS) or \
                not isinstance(data["sessions"], list):
            raise ValueError("not a channelsim manifest")
    except (OSError, ValueError, RecursionError) as err:
        what = err.strerror if isinstance(err, OSError) and err.strerror else str(err).splitlines()[0][:120]
        raise StoreError(
            f"{p} is damaged ({what}), so {root} cannot be checked against any experiment; move the folder aside "
            "and run the sweep into a new --out folder") from None
    return data


def load_results(root: str | Path, *, monthly: bool = False, status: str | None = None) -> pd.DataFrame:
    """The tidy table: one row per stored run (design point, replication, factor values, status, outputs).

    Args:
        root: the experiment's output folder.
        monthly: keep the ``monthly_*`` list columns (see :func:`load_monthly` for a long table).
        status: keep only runs with this status (``ok`` or ``failed``).
    """
    manifest = read_manifest(root)
    files = run_files(root)
    if not files:
        return pd.DataFrame(columns=list(META_COLUMNS))
    tables = []
    for p in files:
        try:
            tables.append(pq.read_table(p))
        except Exception as err:  # noqa: BLE001 - pyarrow raises several kinds for a damaged file
            raise StoreError(_damaged_run(root, p, manifest, err)) from None
    try:
        table = pa.concat_tables(tables)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise StoreError(f"{root}: run files with different columns ({str(err).splitlines()[0][:120]}); "
                         f"{_repair(root, manifest)}") from None
    df = table.to_pandas()
    if not monthly:
        df = df.drop(columns=[c for c in df.columns if c.startswith(MONTHLY_PREFIX)])
    if status is not None:
        df = df[df["status"] == status]
    return df.sort_values(["point", "replication"]).reset_index(drop=True)


def _repair(root: str | Path, manifest: dict[str, Any]) -> str:
    exp = manifest.get("experiment_file") or "EXPERIMENT.yaml"
    return (f"`channelsim sweep {exp} --out {root}` moves damaged run files to {Path(root) / CORRUPT}/ "
            "and runs them again")


def _damaged_run(root: str | Path, path: Path, manifest: dict[str, Any], err: BaseException) -> str:
    first = (str(err).splitlines() or [type(err).__name__])[0][:120]
    return f"{path} is damaged ({first}); {_repair(root, manifest)}"


def load_monthly(root: str | Path) -> pd.DataFrame:
    """Monthly series in long form: point, replication, factor values, month and one column per KPI kept."""
    df = load_results(root, monthly=True, status="ok")
    mcols = [c for c in df.columns if c.startswith(MONTHLY_PREFIX)]
    if not mcols or df.empty:
        return pd.DataFrame()
    manifest = read_manifest(root)
    keep = ["point", "replication", *manifest.get("factors", [])]
    rows = []
    for _, r in df.iterrows():
        n = len(r[mcols[0]])
        part = pd.DataFrame({c[len(MONTHLY_PREFIX):]: np.asarray(r[c], dtype=float) for c in mcols})
        part.insert(0, "month", np.arange(1, n + 1))
        for c in reversed(keep):
            part.insert(0, c, [r[c]] * n)
        rows.append(part)
    return pd.concat(rows, ignore_index=True)


__all__ = [
    "CORRUPT", "DESIGN", "LEGACY", "MANIFEST", "REPORT", "RUNS", "RunStore", "StoreError", "describe_changes",
    "load_monthly", "load_results", "located", "migrate_layout", "read_manifest", "run_filename", "run_files",
]
