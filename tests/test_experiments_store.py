"""Sweeps on hostile input and damaged folders, and what a resume checks (issue 16, classes 4 and 8).

Every user error is one paragraph and exit 2 with nothing written (or what the session created removed
again); a damaged run file is moved aside and run again; a resume with another resolved experiment, or a
folder without a manifest, is refused with what changed.
"""

from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path

import pandas as pd
import pytest
import typer
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from channelsim.sweep_cli import register
from experiments.design import ExperimentError, load_experiment, parse_experiment
from experiments.runner import run_experiment
from experiments.store import CORRUPT, DESIGN, MANIFEST, describe_changes, load_results, run_files
from sim.errors import ScenarioError

TINY = {"market.n_accounts": 3000, "partners.n_initial": 40, "time.months": 3, "time.warmup_months": 1}
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def write_experiment(folder: Path, name: str = "e.yaml", **changes) -> Path:
    data = {"name": "tiny", "base": "baseline", "overrides": dict(TINY), "seed": 3, "replications": 2,
            "factors": {"incentives.spiff.amount": [0.0, 1500.0]},
            "outputs": {"summary": ["revenue_total", "gross_profit"]}}
    data.update(changes)
    p = folder / name
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def sweep(*args: object):
    return CliRunner().invoke(cli(), ["sweep", *[str(a) for a in args], "--workers", "0", "--quiet"])


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def one_paragraph(res) -> None:
    err = res.stderr if res.stderr else res.output
    assert "Traceback" not in res.output, res.output
    assert "\n\n" not in err.strip(), err
    assert err.lstrip().startswith("error:") or "error:" in err, err


@pytest.fixture(scope="module")
def done(tmp_path_factory) -> tuple[Path, Path]:
    """A complete sweep folder and its experiment file (copied by the tests that damage it)."""
    tmp = tmp_path_factory.mktemp("done")
    exp = write_experiment(tmp)
    res = sweep(exp, "--out", tmp / "out")
    assert res.exit_code == 0, res.output
    return exp, tmp / "out"


def copy_of(done: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    exp, out = done
    shutil.copytree(out, tmp_path / "out")
    return exp, tmp_path / "out"


# ------------------------------------------------------------------ damaged folders
DAMAGE = {
    "garbage_manifest": lambda out: (out / MANIFEST).write_bytes(b"\x00\xff{not json"),
    "empty_manifest": lambda out: (out / MANIFEST).write_text(""),
    "list_manifest": lambda out: (out / MANIFEST).write_text("[1, 2]"),
    "deep_manifest": lambda out: (out / MANIFEST).write_text("[" * 100_000 + "]" * 100_000),
    "manifest_is_a_folder": lambda out: ((out / MANIFEST).unlink(), (out / MANIFEST).mkdir()),
    "runs_is_a_file": lambda out: (shutil.rmtree(out / "runs"), (out / "runs").write_text("x")),
    "lock_is_a_folder": lambda out: ((out / ".lock").unlink(missing_ok=True), (out / ".lock").mkdir()),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_folder_is_one_paragraph_exit_2_and_left_as_it_was(done, tmp_path, damage):
    exp, out = copy_of(done, tmp_path)
    DAMAGE[damage](out)
    before = listing(out)
    res = sweep(exp, "--out", out)
    assert res.exit_code == 2, res.output
    one_paragraph(res)
    assert str(out) in res.output
    assert listing(out) == before


@pytest.mark.parametrize("where", ["a_file", "under_a_file", "proc"])
def test_an_out_that_cannot_be_a_folder_is_refused_and_nothing_is_written(tmp_path, where):
    exp = write_experiment(tmp_path)
    (tmp_path / "FILE").write_text("x")
    out = {"a_file": tmp_path / "FILE", "under_a_file": tmp_path / "FILE" / "sub", "proc": Path("/proc/nope")}[where]
    before = listing(tmp_path)
    res = sweep(exp, "--out", out)
    assert res.exit_code == 2, res.output
    one_paragraph(res)
    assert listing(tmp_path) == before


def test_a_truncated_run_file_is_moved_aside_and_run_again(done, tmp_path):
    exp, out = copy_of(done, tmp_path)
    ref = load_results(done[1])
    victim = run_files(out)[1]
    victim.write_bytes(victim.read_bytes()[:40])  # a truncated Parquet file
    res = CliRunner().invoke(cli(), ["results", str(out)])
    assert res.exit_code == 2 and victim.name in res.output and f"channelsim sweep {exp} --out {out}" in res.output
    one_paragraph(res)
    res = sweep(exp, "--out", out)
    assert res.exit_code == 0, res.output
    assert "1 runs executed, 3 already stored" in res.output
    assert (out / CORRUPT / victim.name).is_file()
    cols = ["seconds", "worker"]
    pd.testing.assert_frame_equal(load_results(out).drop(columns=cols), ref.drop(columns=cols))


def test_a_run_file_that_is_not_its_run_is_moved_aside(done, tmp_path):
    exp, out = copy_of(done, tmp_path)
    files = run_files(out)
    shutil.copy(files[0], files[1])  # dp00000_r001.parquet now holds run (0, 0)
    res = sweep(exp, "--out", out)
    assert res.exit_code == 0 and "1 runs executed" in res.output
    assert len(load_results(out)) == 4 and not load_results(out).duplicated(["point", "replication"]).any()


# ------------------------------------------------------------------ hostile experiment files
def test_a_non_utf8_experiment_file_is_named(tmp_path):
    p = tmp_path / "latin1.yaml"
    p.write_bytes("name: caf\xe9\n".encode("latin-1"))
    res = sweep(p, "--out", tmp_path / "out")
    assert res.exit_code == 2 and str(p) in res.output and "UTF-8" in res.output and "--dask" not in res.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text", [
    "name: x\nfactors:\n  incentives.mdf.scale: {levels: &a [1, *a]}\n",  # recursive alias
    "name: x\nfactors:\n  incentives.mdf.scale: {levels: [" + ", ".join(["0.5"] * 20_000) + "]}\n",
    "name: x\nreplications: 5\nfactors:\n" + "".join(f"  tiering.tiers.{t}.min_ttm_revenue: {{low: 1, high: 2, "
                                                     f"n_levels: 1000}}\n" for t in ("silver", "gold", "platinum")),
    "name: x\ndesign: {kind: latin_hypercube, n: 1000000000}\nfactors: {incentives.mdf.scale: {low: 0, high: 1}}\n",
    "name: x\nfactors: {incentives.mdf.scale: {low: 0, high: .inf}}\n",
    "name: x\nseed: 99999999999999999999999\n",
    "name: x\nreplications: true\n",
    "- just\n- a list\n",
])
def test_hostile_experiments_are_refused_quickly_and_write_nothing(tmp_path, text):
    p = tmp_path / "e.yaml"
    p.write_text(text)
    t0 = time.perf_counter()
    res = sweep(p, "--out", tmp_path / "out")
    assert res.exit_code == 2, res.output
    assert time.perf_counter() - t0 < 10
    one_paragraph(res)
    assert str(p) in res.output and not (tmp_path / "out").exists()


EXPERIMENT_PIECES = st.sampled_from([
    "name: x\n", "base: baseline\n", "base: /etc/passwd\n", "base: ../../x\n", "replications: ", "seed: ", "1", "-1",
    "1e999", ".inf", "9" * 30, "true", "[", "]", "{", "}", ", ", "\n", "  ", "factors:\n", "  incentives.mdf.scale: ",
    "{levels: [1, 2]}", "{low: 0, high: 1}", "{low: 1, high: 0}", "design: ", "{kind: sobol, n: 8}", "{kind: morris}",
    "&a ", "*a", "overrides: {market.n_accounts: ", "}\n", "outputs: {summary: [revenue_total]}\n", "\t", "'",
])


@FUZZ
@given(st.lists(EXPERIMENT_PIECES, max_size=25).map("".join))
def test_fuzzed_experiment_files_are_experiments_or_input_errors(tmp_path_factory, text):
    p = tmp_path_factory.mktemp("fuzz") / "e.yaml"
    p.write_text(text)
    try:
        load_experiment(p)
    except (ExperimentError, ScenarioError) as err:
        assert len(str(err)) < 5_000


# ------------------------------------------------------------------ --dask addresses
@pytest.mark.parametrize("address", ["tls://127.0.0.1:8786", "ucx://127.0.0.1:8786", "inproc://x", "tcp://h",
                                     "tcp://127.0.0.1:99999", "tcp://:8786", "local:0", "local:100000", "local:x",
                                     "http://127.0.0.1:8786", "x" * 5000])
def test_a_bad_dask_address_is_refused_before_anything_is_written(tmp_path, address):
    exp = write_experiment(tmp_path)
    res = CliRunner().invoke(cli(), ["sweep", str(exp), "--out", str(tmp_path / "out"), "--dask", address])
    assert res.exit_code == 2, res.output
    one_paragraph(res)
    assert "--dask" in res.output and "local:N" in res.output and len(res.output) < 1_000
    assert not (tmp_path / "out").exists()


def test_a_closed_port_leaves_no_manifest_design_or_lock(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exp = write_experiment(tmp_path)
    t0 = time.perf_counter()
    res = CliRunner().invoke(cli(), ["sweep", str(exp), "--out", str(tmp_path / "out"),
                                     "--dask", f"tcp://127.0.0.1:{port}"])
    assert res.exit_code == 1 and "cannot connect to the Dask scheduler" in res.output
    one_paragraph(res)
    assert time.perf_counter() - t0 < 30
    assert not (tmp_path / "out").exists()
    (tmp_path / "kept").mkdir()  # an empty folder the user made stays, empty
    CliRunner().invoke(cli(), ["sweep", str(exp), "--out", str(tmp_path / "kept"), "--dask", f"tcp://127.0.0.1:{port}"])
    assert listing(tmp_path / "kept") == []


# ------------------------------------------------------------------ what a resume checks
def test_editing_the_base_scenario_between_sessions_is_refused_with_what_changed(tmp_path):
    base = tmp_path / "mybase.yaml"
    base.write_text("extends: baseline\nmarket: {n_accounts: 3000}\n")
    exp = write_experiment(tmp_path, base="mybase.yaml", overrides={"partners.n_initial": 40, "time.months": 3,
                                                                     "time.warmup_months": 1})
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):  # a first session that stored one run
        run_experiment(load_experiment(exp), out, _Stop(after=1))
    assert len(run_files(out)) == 1
    base.write_text("extends: baseline\nmarket: {n_accounts: 3500}\n")
    before = listing(out)
    res = sweep(exp, "--out", out)
    assert res.exit_code == 2, res.output
    one_paragraph(res)
    assert "another base scenario" in res.output and "market.n_accounts: 3000 -> 3500" in res.output
    assert listing(out) == before
    base.write_text("extends: baseline\nmarket: {n_accounts: 3000}\n")  # restored: the resume goes on
    assert sweep(exp, "--out", out).exit_code == 0


@pytest.mark.parametrize("seed", [3, 4])
def test_a_folder_whose_manifest_was_deleted_is_never_adopted(done, tmp_path, seed):
    exp, out = copy_of(done, tmp_path)
    (out / MANIFEST).unlink()
    other = write_experiment(tmp_path, seed=seed)
    before = listing(out)
    res = sweep(other, "--out", out)
    assert res.exit_code == 2 and f"no {MANIFEST}" in res.output
    one_paragraph(res)
    assert listing(out) == before


def test_run_files_of_another_seed_are_refused_even_with_a_manifest(done, tmp_path):
    exp, out = copy_of(done, tmp_path)
    other = write_experiment(tmp_path, "e4.yaml", seed=4)
    shutil.copytree(out, tmp_path / "out4")
    manifest = json.loads((out / MANIFEST).read_text())
    e4 = load_experiment(other)
    manifest.update(experiment_sha256=e4.sha256, resolved_sha256=e4.resolved_sha256(),
                    experiment=e4.model_dump(mode="json"))
    (tmp_path / "out4" / MANIFEST).write_text(json.dumps(manifest))  # a manifest swapped by hand
    res = sweep(other, "--out", tmp_path / "out4")
    assert res.exit_code == 2 and "another experiment or seed" in res.output


def test_describe_changes_lists_leaves_that_differ():
    old = {"a": {"b": 1, "c": [1, 2]}, "tiers": [{"name": "gold", "x": 1}], "gone": 1}
    new = {"a": {"b": 2, "c": [1, 2]}, "tiers": [{"name": "gold", "x": 2}], "new": "y" * 100}
    got = describe_changes(old, new)
    assert got[:2] == ["a.b: 1 -> 2", "gone: 1 -> (absent)"]
    assert any(line.startswith("tiers.gold.x: 1 -> 2") for line in got) and all(len(line) < 100 for line in got)


def test_the_design_size_is_bounded_before_any_design_is_built():
    with pytest.raises(ExperimentError, match="at most"):
        parse_experiment({"name": "x", "factors": {f"tiering.tiers.{i}.discount": list(range(100)) for i in range(4)}})
    with pytest.raises(ExperimentError, match="runs"):
        parse_experiment({"name": "x", "replications": 100_000, "factors": {"incentives.mdf.scale": list(range(20))}})


class _Stop:
    """An in-process backend that stops the sweep (as Ctrl-C would) after ``after`` runs."""

    name = "stop"

    def __init__(self, after: int):
        self.after = after

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def describe(self) -> str:
        return "stop"

    def map_unordered(self, fn, tasks):
        for i, task in enumerate(tasks):
            if i == self.after:
                raise KeyboardInterrupt
            yield fn(task)


@pytest.mark.parametrize("damage", ["experiment", "design"])
def test_report_on_a_damaged_folder_is_one_paragraph(done, tmp_path, damage):
    if damage == "experiment":
        _, out = copy_of(done, tmp_path)
        manifest = json.loads((out / MANIFEST).read_text())
        manifest["experiment"] = {"name": 1, "replications": "many"}
        (out / MANIFEST).write_text(json.dumps(manifest))
    else:  # a Morris design: its indices read _design.parquet
        exp = write_experiment(tmp_path, replications=1, design={"kind": "morris", "n": 1},
                               factors={"incentives.spiff.amount": {"low": 0, "high": 1500},
                                        "incentives.mdf.scale": {"low": 0.5, "high": 1.5}})
        out = tmp_path / "out"
        assert sweep(exp, "--out", out).exit_code == 0
        (out / DESIGN).write_bytes(b"PAR1 garbage")
    res = CliRunner().invoke(cli(), ["report", str(out)])
    assert res.exit_code == 2, res.output
    one_paragraph(res)


def test_a_full_disk_during_a_sweep_is_one_paragraph_and_the_stored_runs_stay_whole(tmp_path, monkeypatch):
    import errno

    from experiments.store import RunStore

    real = RunStore.write
    written = []

    def full(self, record):
        if written:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path(record["point"], 0)))
        written.append(record)
        return real(self, record)

    monkeypatch.setattr(RunStore, "write", full)
    exp = write_experiment(tmp_path)
    res = sweep(exp, "--out", tmp_path / "out")
    assert res.exit_code == 2 and "No space left on device" in res.output and "run the same command" in res.output
    one_paragraph(res)
    assert len(load_results(tmp_path / "out")) == 1
    monkeypatch.setattr(RunStore, "write", real)
    again = sweep(exp, "--out", tmp_path / "out")
    assert again.exit_code == 0 and "3 runs executed, 1 already stored" in again.output
