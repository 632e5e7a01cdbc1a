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
