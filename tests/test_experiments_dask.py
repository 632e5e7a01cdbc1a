"""A real Dask cluster (``dask scheduler`` + ``dask worker`` processes on 127.0.0.1): kill a worker mid-sweep.

Nothing here is skipped: if Dask cannot start, the test fails.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from experiments import backends
from experiments.backends import Dask, InProcess
from experiments.design import load_experiment
from experiments.runner import Progress, run_experiment
from experiments.store import load_results, run_files

REPO = Path(__file__).resolve().parent.parent
DASK = str(Path(sys.executable).with_name("dask"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str]) -> subprocess.Popen:
    # Own session, so the worker's nanny and its child die together on killpg.
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


class Recorder(Progress):
    def __init__(self):
        self.seen: list[tuple[int, int]] = []
        self.workers: set[str] = set()

    def update(self, record, done, failed):
        self.seen.append((record["point"], record["replication"]))


def test_killing_a_worker_mid_sweep_loses_nothing_and_duplicates_nothing(tmp_path, monkeypatch):
    exp_file = tmp_path / "e.yaml"
    exp_file.write_text(yaml.safe_dump({
        "name": "dask_kill", "base": "baseline", "seed": 5, "replications": 8,
        "overrides": {"market.n_accounts": 8000, "partners.n_initial": 80, "time.months": 24,
                      "time.warmup_months": 2},
        "factors": {"incentives.mdf.scale": [0.5, 1.5], "conflict.fallback": ["price_contest", "mediation"]},
        "outputs": {"summary": ["revenue_total", "gross_profit", "partner_satisfaction"]},
    }))
    exp = load_experiment(exp_file)
    total = 32
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = start([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"])
    workers = [
        start([DASK, "worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--nworkers", "1",
               "--no-dashboard", "--name", f"w{i}"])
        for i in range(2)
    ]
    killed: dict[str, int] = {}
    batches: list[int] = []  # sizes of the Dask tasks submitted before the kill
    sized = backends.batch_size

    def recorded_batch_size(*args, **kwargs):
        n = sized(*args, **kwargs)
        if "stored" not in killed:
            batches.append(n)
        return n

    monkeypatch.setattr(backends, "batch_size", recorded_batch_size)
    try:
        from distributed import Client

        with Client(address, timeout="60s") as c:
            c.wait_for_workers(2, timeout=120)
        out = tmp_path / "out"

        def killer() -> None:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and len(run_files(out)) < 6:
                time.sleep(0.02)
            killed["stored"] = len(run_files(out))
            os.killpg(workers[0].pid, signal.SIGKILL)

        t = threading.Thread(target=killer, daemon=True)
        t.start()
        rec = Recorder()
        summary = run_experiment(exp, out, Dask(address), progress=rec)
        t.join(timeout=10)
        assert "stored" in killed, "the worker was never killed"
        assert killed["stored"] < total, "the sweep finished before the worker was killed; make runs slower"
        assert workers[0].poll() is not None  # really dead
        assert max(batches) > 1, "no batch of runs was submitted before the worker was killed"
        # every run stored exactly once
        assert summary.executed == total and summary.complete
        assert sorted(rec.seen) == sorted({(p, r) for p in range(4) for r in range(8)})
        assert len(rec.seen) == total
        got = load_results(out)
        assert len(got) == total and not got.duplicated(["point", "replication"]).any()
        assert (got["status"] == "ok").all(), got.loc[got["status"] != "ok", "error"].tolist()
    finally:
        for w in workers:
            stop(w)
        stop(scheduler)

    run_experiment(exp, tmp_path / "seq", InProcess())
    ref = load_results(tmp_path / "seq")
    cols = ["seconds", "worker"]
    pd.testing.assert_frame_equal(got.drop(columns=cols), ref.drop(columns=cols), check_exact=True)


# ------------------------------------------------------------------ the scheduler or every worker lost (issue 16)
CHANNELSIM = [sys.executable, "-c", "from channelsim.cli import main; main()"]


def slow_experiment(tmp_path: Path, replications: int = 8) -> Path:
    p = tmp_path / "e.yaml"
    p.write_text(yaml.safe_dump({
        "name": "dask_loss", "base": "baseline", "seed": 5, "replications": replications,
        "overrides": {"market.n_accounts": 8000, "partners.n_initial": 80, "time.months": 24,
                      "time.warmup_months": 2},
        "factors": {"incentives.mdf.scale": [0.5, 1.5]},
        "outputs": {"summary": ["revenue_total", "gross_profit"]},
    }))
    return p


def cluster(n_workers: int) -> tuple[str, subprocess.Popen, list[subprocess.Popen]]:
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = start([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"])
    workers = [start([DASK, "worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
                      "--no-dashboard", "--name", f"w{i}"]) for i in range(n_workers)]
    from distributed import Client

    with Client(address, timeout="60s") as c:
        c.wait_for_workers(n_workers, timeout=120)
    return address, scheduler, workers


def wait_for_runs(out: Path, n: int, timeout: float = 300) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(run_files(out)) < n:
        time.sleep(0.05)
    return len(run_files(out))


def test_losing_the_scheduler_is_a_clear_error_and_its_runs_are_not_stored_as_failed(tmp_path):
    exp = slow_experiment(tmp_path, replications=5)
    out = tmp_path / "out"
    address, scheduler, workers = cluster(1)
    try:
        proc = subprocess.Popen([*CHANNELSIM, "sweep", str(exp), "--out", str(out), "--dask", address, "--quiet"],
                                cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert wait_for_runs(out, 2) >= 2
        os.killpg(scheduler.pid, signal.SIGKILL)
        t0 = time.monotonic()
        _, err = proc.communicate(timeout=90)
        assert time.monotonic() - t0 < 45
    finally:
        for p in (*workers, scheduler):
            stop(p)
    assert proc.returncode == 1, err
    assert "lost the Dask scheduler" in err and "run the same command to resume" in err
    assert "Traceback" not in err
    stored = load_results(out)
    assert (stored["status"] == "ok").all() and len(stored) < 10
    # A plain rerun (here in this process) runs what the lost scheduler held: nothing was stored as failed.
    again = subprocess.run([*CHANNELSIM, "sweep", str(exp), "--out", str(out), "--workers", "0", "--quiet"],
                           cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"{10 - len(stored)} runs executed, {len(stored)} already stored" in again.stdout
    assert (load_results(out)["status"] == "ok").all()


def test_a_sweep_with_no_worker_left_says_so_and_stops(tmp_path, caplog):
    from experiments.backends import BackendError

    exp = load_experiment(slow_experiment(tmp_path, replications=4))
    out = tmp_path / "out"
    address, scheduler, workers = cluster(1)
    killer = threading.Thread(target=lambda: (wait_for_runs(out, 1), os.killpg(workers[0].pid, signal.SIGKILL)),
                              daemon=True)
    try:
        killer.start()
        with caplog.at_level("WARNING", logger="channelsim.sweep"), pytest.raises(BackendError, match="no Dask worker"):
            run_experiment(exp, out, Dask(address, poll_seconds=0.5, no_worker_warn=1.0, no_worker_timeout=5.0))
    finally:
        killer.join(timeout=30)
        for p in (*workers, scheduler):
            stop(p)
    assert any("no Dask worker is connected" in r.getMessage() for r in caplog.records)
    assert (load_results(out)["status"] == "ok").all()


def test_runs_the_backend_lost_are_not_stored_and_the_next_session_runs_them(tmp_path):
    from experiments.backends import infrastructure_failure

    class Loses(InProcess):
        """Loses the result of every third run, as a Dask task that killed its workers would."""

        def map_unordered(self, fn, tasks):
            for i, task in enumerate(tasks):
                yield infrastructure_failure(task, RuntimeError("KilledWorker")) if i % 3 == 0 else fn(task)

    p = slow_experiment(tmp_path, replications=3)
    data = yaml.safe_load(p.read_text())
    data["overrides"].update({"market.n_accounts": 2000, "partners.n_initial": 30, "time.months": 2})
    p.write_text(yaml.safe_dump(data))
    exp = load_experiment(p)
    summary = run_experiment(exp, tmp_path / "out", Loses())
    assert summary.lost == 2 and summary.executed == 4 and not summary.complete
    assert "KilledWorker" in summary.lost_reason
    assert len(run_files(tmp_path / "out")) == 4 and (load_results(tmp_path / "out")["status"] == "ok").all()
    again = run_experiment(exp, tmp_path / "out", InProcess())
    assert again.executed == 2 and again.complete


def test_a_lost_run_makes_the_command_exit_1_with_a_rerun_hint(tmp_path, monkeypatch):
    import typer
    from typer.testing import CliRunner

    from channelsim import sweep_cli
    from experiments.backends import infrastructure_failure

    class Loses(InProcess):
        def map_unordered(self, fn, tasks):
            for task in tasks:
                yield infrastructure_failure(task, RuntimeError("KilledWorker: gave up"))

    monkeypatch.setattr("experiments.backends.make_backend", lambda **kw: Loses())
    p = slow_experiment(tmp_path, replications=1)
    app = typer.Typer()
    sweep_cli.register(app)
    res = CliRunner().invoke(app, ["sweep", str(p), "--out", str(tmp_path / "out"), "--quiet"])
    assert res.exit_code == 1 and "2 run(s) were lost by the backend" in res.output and "KilledWorker" in res.output
    assert "run the same command" in res.output and run_files(tmp_path / "out") == []
