"""The runner, backends and store: identical results everywhere, failures kept, resume, atomic files."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import typer
import yaml
from typer.testing import CliRunner

from channelsim.sweep_cli import register
from experiments.backends import Dask, InProcess, LocalProcesses
from experiments.design import load_experiment
from experiments.runner import Progress, run_experiment
from experiments.store import (
    CORRUPT,
    DESIGN,
    LEGACY,
    MANIFEST,
    REPORT,
    StoreError,
    load_monthly,
    load_results,
    run_files,
)

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
TINY = {"market.n_accounts": 3000, "partners.n_initial": 40, "time.months": 4, "time.warmup_months": 2}
VOLATILE = ["seconds", "worker"]


def write_experiment(tmp_path: Path, name: str = "e.yaml", **changes) -> Path:
    data = {
        "name": "tiny", "base": "baseline", "overrides": dict(TINY), "seed": 3, "replications": 2,
        "factors": {"incentives.spiff.amount": [0.0, 1500.0], "conflict.fallback": ["price_contest", "mediation"]},
        "design": {"kind": "full_factorial"},
        "outputs": {"summary": ["revenue_total", "gross_profit", "partner_satisfaction"],
                    "monthly": ["revenue_total", "active_partners"]},
    }
    data.update(changes)
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


def stable(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=VOLATILE).sort_values(["point", "replication"]).reset_index(drop=True)


class Recorder(Progress):
    def __init__(self):
        self.seen: list[tuple[int, int]] = []

    def update(self, record, done, failed):
        self.seen.append((record["point"], record["replication"]))


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    """The reference: the tiny experiment run in-process."""
    tmp = tmp_path_factory.mktemp("seq")
    exp = load_experiment(write_experiment(tmp))
    run_experiment(exp, tmp / "out", InProcess())
    return tmp, load_results(tmp / "out", monthly=True)


# ------------------------------------------------------------------ store and tidy table
def test_in_process_sweep_stores_one_file_per_run(sequential):
    tmp, df = sequential
    out = tmp / "out"
    files = run_files(out)
    assert [f.name for f in files][:3] == ["dp00000_r000.parquet", "dp00000_r001.parquet", "dp00001_r000.parquet"]
    assert len(files) == 8 and len(df) == 8
    assert (df["status"] == "ok").all() and df["error"].isna().all()
    assert {"point", "replication", "incentives.spiff.amount", "conflict.fallback", "revenue_total"} <= set(df.columns)
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["experiment_text"].startswith("name: tiny")
    assert manifest["package_version"] and manifest["started"] and manifest["finished"]
    # CRN: replication 0 of points differing only in the SPIFF sees the same market at month 1 of setup
    assert df["seed_key"].tolist()[:2] == ["3/0", "3/1"]


def test_duckdb_and_pandas_read_the_folder(sequential, tmp_path):
    tmp, df = sequential
    out = tmp_path / "out"
    shutil.copytree(tmp / "out", out)
    # everything else a folder can hold: the report, exports, a damaged file moved aside, the lock
    for args in (["report", str(out)], ["results", str(out), "--format", "parquet"],
                 ["results", str(out), "--format", "parquet", "--monthly"]):
        r = CliRunner().invoke(cli_app(), args)
        assert r.exit_code == 0, r.output
    (out / CORRUPT).mkdir()
    (out / CORRUPT / "dp00000_r000.parquet").write_bytes(b"PAR1 garbage")
    assert {p.name for p in out.iterdir()} == {"runs", MANIFEST, DESIGN, REPORT, CORRUPT, "_results.parquet",
                                               "_monthly.parquet", ".lock"}
    expected = stable(load_results(out, monthly=True))
    # pandas (pyarrow) skips names starting with "_" or ".": the folder itself is the dataset of runs
    pd.testing.assert_frame_equal(stable(pd.read_parquet(out)), expected)
    pd.testing.assert_frame_equal(stable(pd.read_parquet(out / "runs")), expected)
    # DuckDB, with the documented glob
    n = duckdb.sql(f"SELECT count(*) FROM read_parquet('{out}/runs/*.parquet')").fetchall()[0][0]
    assert n == 8
    mean = duckdb.sql(f"SELECT avg(revenue_total) FROM read_parquet('{out}/runs/*.parquet')").fetchall()[0][0]
    assert mean == pytest.approx(df["revenue_total"].mean())
    got = duckdb.sql(f"SELECT * FROM read_parquet('{out}/runs/*.parquet')").df()
    pd.testing.assert_frame_equal(stable(got)[["point", "replication", "revenue_total"]],
                                  expected[["point", "replication", "revenue_total"]])


def test_a_folder_of_the_earlier_layout_is_read_and_renamed(sequential, tmp_path):
    tmp, df = sequential
    out = tmp_path / "out"
    shutil.copytree(tmp / "out", out)
    r = CliRunner().invoke(cli_app(), ["results", str(out), "--format", "parquet"])  # an export, too
    assert r.exit_code == 0, r.output
    for old, new in LEGACY.items():  # manifest.json, design.parquet, results.parquet ... beside runs/
        if (out / new).exists():
            (out / new).rename(out / old)
    assert (out / "results.parquet").is_file()
    assert (out / "manifest.json").is_file() and not (out / MANIFEST).exists()
    pd.testing.assert_frame_equal(stable(load_results(out, monthly=True)), stable(df))
    r = CliRunner().invoke(cli_app(), ["results", str(out)])
    assert r.exit_code == 0, r.output
    # the next session renames it to today's layout (nothing to run: every run is stored)
    r = CliRunner().invoke(cli_app(), ["sweep", str(write_experiment(tmp_path)), "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    assert (out / MANIFEST).is_file() and (out / DESIGN).is_file() and not (out / "manifest.json").exists()
    assert len(run_files(out)) == 8
    pd.testing.assert_frame_equal(stable(pd.read_parquet(out)), stable(df))


def test_monthly_series_in_long_form(sequential):
    tmp, _ = sequential
    m = load_monthly(tmp / "out")
    assert len(m) == 8 * 4
    assert list(m.columns[:4]) == ["point", "replication", "incentives.spiff.amount", "conflict.fallback"]
    assert set(m["month"]) == {1, 2, 3, 4}


def test_tmp_leftover_is_never_read(sequential, tmp_path):
    tmp, df = sequential
    out = tmp / "out"
    junk = out / "runs" / ".dp00000_r000.parquet.abc123.tmp"
    junk.write_bytes(b"PAR1 half a file")
    try:
        assert len(load_results(out)) == 8
        n = duckdb.sql(f"SELECT count(*) FROM read_parquet('{out}/runs/*.parquet')").fetchall()[0][0]
        assert n == 8
        result = CliRunner().invoke(cli_app(), ["results", str(out), "--format", "csv"])
        assert result.exit_code == 0, result.output
        assert len(pd.read_csv(pd.io.common.StringIO(result.stdout))) == 8
    finally:
        junk.unlink()


def test_writes_are_atomic_renames(sequential, tmp_path, monkeypatch):
    """A write that dies half way leaves only a hidden .tmp file, never a partial run file."""
    import experiments.io as eio

    tmp, _ = sequential
    exp = load_experiment(write_experiment(tmp_path))
    real_replace = os.replace

    def crash(src, dst):
        if str(dst).endswith("dp00001_r000.parquet"):
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(eio.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        run_experiment(exp, tmp_path / "out", InProcess())
    names = sorted(p.name for p in (tmp_path / "out" / "runs").iterdir())
    assert "dp00001_r000.parquet" not in names
    assert len(load_results(tmp_path / "out")) == 2  # the runs before the crash
    monkeypatch.setattr(eio.os, "replace", real_replace)
    run_experiment(exp, tmp_path / "out", InProcess())
    assert len(load_results(tmp_path / "out")) == 8


def test_other_experiment_in_the_folder_is_refused(sequential, tmp_path):
    tmp, _ = sequential
    other = load_experiment(write_experiment(tmp_path, seed=99))
    with pytest.raises(StoreError, match="different experiment"):
        run_experiment(other, tmp / "out", InProcess())


# ------------------------------------------------------------------ backends
PARENT_ENV = "CHANNELSIM_TEST_PARENT_PID"


def _slow_in_parent(task):
    """Task hook: a run that executes in the sweep's own process takes 1 s longer.

    So that, while the workers start, the parent cannot finish the whole tiny sweep
    itself: 1 s x 8 tasks is well above any pool or cluster start seen here (1-3 s,
    on a slow host).
    """
    if os.environ.get(PARENT_ENV) == str(os.getpid()):
        time.sleep(1.0)


def test_local_processes_give_identical_results(sequential, tmp_path):
    _, ref = sequential
    exp = load_experiment(write_experiment(tmp_path))
    rec = Recorder()
    run_experiment(exp, tmp_path / "out", LocalProcesses(2, overlap_startup=False), progress=rec)
    got = load_results(tmp_path / "out", monthly=True)
    pd.testing.assert_frame_equal(stable(got), stable(ref), check_exact=True)
    workers = set(got["worker"])
    assert len(workers) == 2  # really ran on two processes ...
    assert not any(w.endswith(f":{os.getpid()}") for w in workers)  # ... and none of the runs here
    assert sorted(rec.seen) == sorted(set(rec.seen))


@pytest.mark.parametrize("backend", ["local", "dask"])
def test_runs_while_the_workers_start_are_identical_and_stored_once(sequential, tmp_path, monkeypatch, backend):
    """With overlap_startup (the default) the parent runs tasks until the pool or cluster is up."""
    _, ref = sequential
    monkeypatch.setenv(PARENT_ENV, str(os.getpid()))
    exp = load_experiment(write_experiment(tmp_path))
    rec = Recorder()
    # spawn: each worker imports the package itself, so the start is slow enough for the parent to take a run
    be = LocalProcesses(2, context="spawn") if backend == "local" else Dask("local:2")
    run_experiment(exp, tmp_path / "out", be, progress=rec, task_hook=_slow_in_parent)
    got = load_results(tmp_path / "out", monthly=True)
    pd.testing.assert_frame_equal(stable(got), stable(ref), check_exact=True)
    here = f":{os.getpid()}"
    in_parent = [w for w in got["worker"] if w.endswith(here)]
    assert in_parent, "no run executed in the parent while the workers started"
    assert len(in_parent) < len(got), "the workers never took a run"
    assert len(rec.seen) == 8 and sorted(rec.seen) == sorted(set(rec.seen))


def test_the_workers_get_tasks_the_moment_they_are_up_not_after_the_parents_run():
    """The hand-over, without processes: the backend comes up while the parent runs a task."""
    from experiments.backends import _SharedTasks, _Startup, _while_starting

    up, fed = threading.Event(), threading.Event()
    startup = _Startup(lambda: up.wait(10), "a test backend")
    given: list = []

    def first() -> None:  # what the backend does to give its workers their first tasks
        task = tasks.take()
        if task is not None:
            given.append(task)
        fed.set()

    def fn(task):  # a run in the parent, during which the backend comes up
        up.set()
        return {"task": task, "workers_fed_during_this_run": fed.wait(10)}

    tasks = _SharedTasks(range(5))
    records = list(_while_starting(startup, fn, tasks, first))
    assert [r["task"] for r in records] == [0] and records[0]["workers_fed_during_this_run"]
    assert given == [1] and tasks.take() == 2  # nothing lost, nothing taken twice


def test_a_warm_pool_leaves_every_run_to_the_workers(sequential, tmp_path, monkeypatch):
    """A second pool in this process forks from the running fork server at once: the parent takes no run."""
    import experiments.backends as backends

    # The default grace (0.1 s) covers a warm start here (20-30 ms); 1 s keeps a loaded CI machine from
    # turning this into a test of its scheduler.  Without the grace the parent takes the first task at once.
    monkeypatch.setattr(backends, "WARM_START_SECONDS", 1.0)
    _, ref = sequential
    exp = load_experiment(write_experiment(tmp_path))
    run_experiment(exp, tmp_path / "first", LocalProcesses(2))  # starts this process's fork server if need be
    run_experiment(exp, tmp_path / "second", LocalProcesses(2))
    got = load_results(tmp_path / "second", monthly=True)
    pd.testing.assert_frame_equal(stable(got), stable(ref), check_exact=True)
    assert not any(w.endswith(f":{os.getpid()}") for w in got["worker"])


def test_a_pool_that_cannot_start_is_a_clear_error_after_the_runs_done_meanwhile(tmp_path, monkeypatch):
    import experiments.backends as backends
    from experiments.backends import BackendError

    monkeypatch.setenv(PARENT_ENV, str(os.getpid()))
    # No grace for a warm start: the pool may fail within 0.1 s, and the parent is to take a run before that.
    monkeypatch.setattr(backends, "WARM_START_SECONDS", 0.0)
    exp = load_experiment(write_experiment(tmp_path))
    be = LocalProcesses(2, context="spawn", preload=["channelsim_no_such_module"])
    with pytest.raises(BackendError, match="cannot start the local pool.*channelsim_no_such_module"):
        run_experiment(exp, tmp_path / "out", be, task_hook=_slow_in_parent)
    done = load_results(tmp_path / "out")  # what the parent ran while the pool tried to start is kept
    assert 1 <= len(done) < 8 and (done["status"] == "ok").all()
    assert run_experiment(exp, tmp_path / "out", InProcess()).executed == 8 - len(done)


CONSOLE_SCRIPT = """\
import sys
sys.path.insert(0, {repo!r})
from channelsim.cli import main  # the top level of the `channelsim` console script
HEAVY = ("matplotlib", "scipy.stats", "channelsim.report", "channelsim.plots")


def loaded(task):
    return {{"heavy": [m for m in HEAVY if m in sys.modules]}}


if __name__ == "__main__":
    from experiments.backends import make_backend

    with make_backend(workers=2, dask={dask}, overlap_startup=False) as backend:
        tasks = [{{"point": i, "replication": 0}} for i in range(4)]
        print(sorted({{m for r in backend.map_unordered(loaded, tasks) for m in r["heavy"]}}))
"""


@pytest.mark.parametrize("dask", [None, "local:2"])
def test_workers_of_the_command_line_do_not_import_the_report_stack(tmp_path, dask):
    """What each worker of ``channelsim sweep`` imports beyond the fork server's preload.

    On Python 3.12 a worker forked from the fork server runs the main script's top level
    again (``__main__`` in the preload list is ignored: CPython gh-126631); for the
    ``channelsim`` command that is ``from channelsim.cli import main``.  Reports and plots
    (matplotlib, scipy.stats: about 1.2 s a worker; `sweep_probes.py main-import`) are imported
    when a command needs them.
    """
    script = tmp_path / "channelsim_script.py"
    script.write_text(CONSOLE_SCRIPT.format(repo=str(REPO), dask=repr(dask)))
    proc = subprocess.run([PY, str(script)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_dask_local_cluster_gives_identical_results(sequential, tmp_path):
    _, ref = sequential
    exp = load_experiment(write_experiment(tmp_path))
    run_experiment(exp, tmp_path / "out", Dask("local:2", overlap_startup=False))
    got = load_results(tmp_path / "out", monthly=True)
    pd.testing.assert_frame_equal(stable(got), stable(ref), check_exact=True)
    assert not any(w.endswith(f":{os.getpid()}") for w in got["worker"])


def test_dask_batches_fit_the_run_time_and_shrink_to_single_runs_at_the_end():
    from experiments.backends import TASK_SECONDS, batch_size

    for total, slots, cap in [(40, 2, 4), (1000, 16, 4), (9, 2, 4), (50, 2, 8)]:
        sizes, left = [], total
        while left:
            sizes.append(batch_size(left, slots, cap, run_seconds=0.01))
            left -= sizes[-1]
        assert sum(sizes) == total and max(sizes) <= cap
        assert sizes == sorted(sizes, reverse=True)  # large batches first, so no worker waits on one at the end
        # once fewer than 2 x 2 x slots runs are left, every task is a single run
        left_before = [total - sum(sizes[:i]) for i in range(len(sizes))]
        assert all(n == 1 for n, before in zip(sizes, left_before, strict=True) if before < 4 * slots)
    # as many runs as take about TASK_SECONDS; runs that long or longer go one per task
    assert batch_size(1000, 2, 4, TASK_SECONDS / 4) == 4
    assert batch_size(1000, 2, 4, TASK_SECONDS / 2) == 2
    assert batch_size(1000, 2, 4, TASK_SECONDS * 0.9) == 1 and batch_size(1000, 2, 4, 60.0) == 1
    # unknown run time or number of runs left, or batches turned off: one run per task
    assert batch_size(1000, 2, 4, None) == 1 and batch_size(None, 2, 4, 0.1) == 1 and batch_size(1000, 2, 1, 0.1) == 1
    with pytest.raises(ValueError, match="max_runs_per_task"):
        Dask("local:2", max_runs_per_task=0)


def _raises_on_point_9(task):
    import inspect

    if task["point"] == 9:
        raise RuntimeError("run 9 raised")
    return {"point": task["point"], "replication": task["replication"], "status": "ok", "seconds": 0.05,
            "batched": any(f.function == "_run_batch" for f in inspect.stack())}


def test_a_failure_inside_a_dask_batch_is_recorded_against_its_own_run_only():
    # Without overlap the first 8 tasks (points 0-7) go before any run time is known, one run each;
    # the task submitted after the first result carries points 8-11 (32 runs left, 0.05 s a run).
    tasks = [{"point": i, "replication": 0} for i in range(40)]
    with Dask("local:2", overlap_startup=False, max_runs_per_task=4) as d:
        records = list(d.map_unordered(_raises_on_point_9, tasks))
    assert sorted(r["point"] for r in records) == list(range(40))  # every run once
    assert any(r["status"] == "ok" and r["batched"] for r in records)  # batches were used
    bad = [r for r in records if r["status"] != "ok"]
    assert [r["point"] for r in bad] == [9] and "run 9 raised" in bad[0]["error"]
    # the batch that held run 9 was run again one run per task
    assert all(not r["batched"] for r in records if r["point"] in (8, 10, 11))


def test_independent_streams_differ_from_common(tmp_path):
    e1 = load_experiment(write_experiment(tmp_path, "a.yaml", replications=1))
    e2 = load_experiment(write_experiment(tmp_path, "b.yaml", replications=1, streams="independent"))
    run_experiment(e1, tmp_path / "a", InProcess())
    run_experiment(e2, tmp_path / "b", InProcess())
    a, b = load_results(tmp_path / "a"), load_results(tmp_path / "b")
    assert set(a["seed_key"]) == {"3/0"}  # common random numbers: one stream for replication 0
    assert list(b["seed_key"]) == ["3/0/0", "3/1/0", "3/2/0", "3/3/0"]
    assert (a["revenue_total"] != b["revenue_total"]).all()


# ------------------------------------------------------------------ failures
@pytest.mark.parametrize("backend", ["in-process", "local"])
def test_a_failing_point_is_stored_with_its_traceback(tmp_path, backend):
    # market.n_accounts = 50 is below the schema's minimum: point 1 cannot even build its scenario.
    exp = load_experiment(write_experiment(tmp_path, factors={"market.n_accounts": [3000, 50, 4000]}))
    be = InProcess() if backend == "in-process" else LocalProcesses(2)
    summary = run_experiment(exp, tmp_path / "out", be)
    assert summary.complete and summary.failed == 2 and sorted(summary.failures) == [(1, 0), (1, 1)]
    df = load_results(tmp_path / "out")
    assert len(df) == 6
    bad = df[df["point"] == 1]
    assert (bad["status"] == "failed").all()
    assert bad["revenue_total"].isna().all()
    assert all("Traceback" in e and "market.n_accounts" in e for e in bad["error"])
    good = df[df["point"] != 1]
    assert (good["status"] == "ok").all() and good["revenue_total"].notna().all()


def _explode(task):
    if task["point"] == 0 and task["replication"] == 1:
        raise RuntimeError("monkeypatched failure")


def test_a_raising_run_does_not_carry_another_runs_outputs(tmp_path):
    exp = load_experiment(write_experiment(tmp_path))
    run_experiment(exp, tmp_path / "out", InProcess(), task_hook=_explode)
    df = load_results(tmp_path / "out")
    row = df[(df["point"] == 0) & (df["replication"] == 1)].iloc[0]
    assert row["status"] == "failed" and "monkeypatched failure" in row["error"]
    assert pd.isna(row["revenue_total"]) and pd.isna(row["gross_profit"])
    assert (df.drop(index=row.name)["status"] == "ok").all()


def test_retry_failed_reruns_only_failures(sequential, tmp_path):
    _, ref = sequential
    exp = load_experiment(write_experiment(tmp_path))
    run_experiment(exp, tmp_path / "out", InProcess(), task_hook=_explode)
    before = {p.name: p.stat().st_mtime_ns for p in run_files(tmp_path / "out")}
    again = run_experiment(exp, tmp_path / "out", InProcess())  # plain resume: nothing to do
    assert again.executed == 0 and again.skipped == 8
    retry = run_experiment(exp, tmp_path / "out", InProcess(), retry_failed=True)
    assert retry.executed == 1 and retry.failed == 0
    after = {p.name: p.stat().st_mtime_ns for p in run_files(tmp_path / "out")}
    changed = [n for n in after if after[n] != before[n]]
    assert changed == ["dp00000_r001.parquet"]
    pd.testing.assert_frame_equal(stable(load_results(tmp_path / "out", monthly=True)), stable(ref))


# ------------------------------------------------------------------ command line
def cli_app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:  # keep sub-commands even if only one is registered
        pass

    return app


def test_cli_sweep_results_and_errors(sequential, tmp_path):
    _, ref = sequential
    runner = CliRunner()
    p = write_experiment(tmp_path)
    r = runner.invoke(cli_app(), ["sweep", str(p), "--out", str(tmp_path / "out"), "--workers", "0", "--quiet"])
    assert r.exit_code == 0, r.output
    assert "8 runs executed" in r.output
    r = runner.invoke(cli_app(), ["results", str(tmp_path / "out")])
    assert r.exit_code == 0 and "revenue_total" in r.output
    r = runner.invoke(cli_app(), ["results", str(tmp_path / "out"), "--format", "parquet",
                                  "--output", str(tmp_path / "t.parquet")])
    assert r.exit_code == 0, r.output
    exported = pd.read_parquet(tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(stable(exported), stable(load_results(tmp_path / "out")))
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ndesign: {kind: factorial}\n")
    r = runner.invoke(cli_app(), ["sweep", str(bad), "--out", str(tmp_path / "o2")])
    assert r.exit_code == 2
    assert str(bad) in r.output and "design.kind" in r.output and "full_factorial" in r.output
    r = runner.invoke(cli_app(), ["sweep", str(p), "--out", str(tmp_path / "o3"), "--dask", "nonsense"])
    assert r.exit_code == 2 and "local:N" in r.output
    r = runner.invoke(cli_app(), ["results", str(tmp_path / "nowhere")])
    assert r.exit_code == 2 and MANIFEST in r.output


@pytest.mark.parametrize("flag", [[], ["--no-overlap"]])
def test_cli_overlap_flag_reaches_the_backend(sequential, tmp_path, monkeypatch, flag):
    import experiments.backends as backends

    made = []
    real = backends.make_backend
    monkeypatch.setattr(backends, "make_backend", lambda **kw: made.append(real(**kw)) or made[-1])
    _, ref = sequential
    p = write_experiment(tmp_path)
    r = CliRunner().invoke(cli_app(), ["sweep", str(p), "--out", str(tmp_path / "out"), "--workers", "2",
                                       *flag, "--quiet"])
    assert r.exit_code == 0, r.output
    assert isinstance(made[0], LocalProcesses) and made[0].overlap_startup is (not flag)
    got = load_results(tmp_path / "out", monthly=True)
    pd.testing.assert_frame_equal(stable(got), stable(ref), check_exact=True)
    if flag:  # CliRunner runs the command in this process
        assert not any(w.endswith(f":{os.getpid()}") for w in got["worker"])


# The installed command line (channelsim.cli registers sweep/results/report from channelsim.sweep_cli).
CHANNELSIM = [PY, "-c", "from channelsim.cli import main; main()"]


def test_sigint_then_resume_equals_an_uninterrupted_sweep(tmp_path):
    """Interrupt a local sweep with SIGINT after a few runs are stored; the same command completes it."""
    # Runs long enough (about a second each) that the sweep cannot finish between the third stored run and the
    # signal even when this process waits for a busy core (it did with 12-month warm-ups on a loaded machine).
    slower = {**TINY, "time.months": 24, "time.warmup_months": 36, "market.n_accounts": 8000,
              "partners.n_initial": 80}
    p = write_experiment(tmp_path, overrides=slower, replications=6,
                         outputs={"summary": ["revenue_total", "gross_profit"]})
    out = tmp_path / "out"
    cmd = [*CHANNELSIM, "sweep", str(p), "--out", str(out), "--workers", "2", "--quiet"]
    # The child gets the default SIGINT disposition: a test run started in the background by a
    # non-interactive shell (`... &`) ignores SIGINT, and a child would inherit that.
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(run_files(out)) < 3:
        time.sleep(0.05)
    stored = len(run_files(out))
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert 3 <= stored, err
    assert proc.returncode == 130, err
    assert "run the same command to resume" in err
    partial = len(run_files(out))
    assert partial < 24, "the sweep finished before the interrupt; make the runs slower"
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["finished"] is None and manifest["sessions"][-1]["complete"] is False

    again = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"{24 - partial} runs executed, {partial} already stored" in again.stdout
    got = load_results(out)
    assert len(got) == 24 and not got.duplicated(["point", "replication"]).any()
    assert (got["status"] == "ok").all()
    assert len(run_files(out)) == 24
    assert not [f for f in (out / "runs").iterdir() if f.name.endswith(".tmp")]

    ref_exp = load_experiment(p)
    run_experiment(ref_exp, tmp_path / "ref", InProcess())
    pd.testing.assert_frame_equal(stable(got), stable(load_results(tmp_path / "ref")), check_exact=True)


def test_a_second_sweep_on_the_same_folder_is_refused_while_one_runs(tmp_path):
    from experiments.runner import build_tasks  # noqa: F401 - the runner's public helpers import cleanly
    from experiments.store import RunStore

    exp = load_experiment(write_experiment(tmp_path))
    design = exp.design_table()
    holder = RunStore(tmp_path / "out", exp, design, [])
    manifest = holder.open("test")  # holds the folder's lock, as a running sweep does
    try:
        with pytest.raises(StoreError, match="another sweep"):
            run_experiment(exp, tmp_path / "out", InProcess())
    finally:
        holder.close(manifest, 0, 0, complete=False)
    assert run_experiment(exp, tmp_path / "out", InProcess()).executed == 8


def test_unreachable_dask_scheduler_is_a_clear_error(tmp_path):
    import socket

    from experiments.backends import BackendError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exp = load_experiment(write_experiment(tmp_path))
    with pytest.raises(BackendError, match="cannot connect to the Dask scheduler"):
        run_experiment(exp, tmp_path / "o", Dask(f"tcp://127.0.0.1:{port}", connect_timeout="2s"))
    assert run_files(tmp_path / "o") == []
