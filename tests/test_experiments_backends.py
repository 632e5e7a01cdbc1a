"""A sweep stopped from outside: SIGTERM like SIGINT, and no worker outlives a killed sweep (issue 16, class 6)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
import yaml

from experiments.backends import Dask, make_backend
from experiments.store import load_results, run_files

REPO = Path(__file__).resolve().parent.parent
CHANNELSIM = [sys.executable, "-c", "from channelsim.cli import main; main()"]


def slow_experiment(tmp_path: Path) -> Path:
    p = tmp_path / "e.yaml"
    p.write_text(yaml.safe_dump({
        "name": "signals", "base": "baseline", "seed": 2, "replications": 6,
        "overrides": {"market.n_accounts": 8000, "partners.n_initial": 80, "time.months": 24, "time.warmup_months": 2},
        "factors": {"incentives.mdf.scale": [0.5, 1.5]},
        "outputs": {"summary": ["revenue_total"]},
    }))
    return p


def start_sweep(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    out = tmp_path / "out"
    proc = subprocess.Popen([*CHANNELSIM, "sweep", str(slow_experiment(tmp_path)), "--out", str(out), "--workers",
                             "2", "--quiet"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    # runs stored, and the pool up: the resource tracker, the fork server and its two workers
    while time.monotonic() < deadline and (len(run_files(out)) < 2 or len(descendants(proc.pid)) < 4):
        time.sleep(0.05)
    assert len(run_files(out)) >= 2
    return proc, out


def descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def gone(procs: list[psutil.Process], within: float) -> list[psutil.Process]:
    """The processes still running after ``within`` seconds (killed before returning, so none is left behind)."""
    _, alive = psutil.wait_procs(procs, timeout=within)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    return alive


def test_sigterm_stops_a_sweep_like_sigint_with_a_resume_hint(tmp_path):
    proc, out = start_sweep(tmp_path)
    children = descendants(proc.pid)
    assert len(children) >= 4  # the fork server, its workers, the resource tracker
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "terminated (SIGTERM)" in err and "run the same command to resume" in err and "Traceback" not in err
    assert gone(children, within=20) == []
    assert (load_results(out)["status"] == "ok").all()


def test_the_workers_of_a_killed_sweep_exit(tmp_path):
    proc, _ = start_sweep(tmp_path)
    children = descendants(proc.pid)
    assert len(children) >= 4
    proc.kill()  # SIGKILL: no handler runs in the sweep's process
    proc.communicate(timeout=30)
    left = gone(children, within=20)  # the workers see their parent go, then the fork server and tracker follow
    assert left == [], [p.pid for p in left]


def test_watch_parent_ends_the_watcher_when_the_watched_process_ends(tmp_path):
    script = textwrap.dedent("""
        import os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c",
            "import os, sys, time; from experiments.backends import watch_parent; "
            "watch_parent(int(sys.argv[1])); print(os.getpid(), flush=True); time.sleep(120)", str(os.getpid())],
            stdout=subprocess.PIPE, text=True)
        print(child.stdout.readline().strip(), flush=True)
        time.sleep(120)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        watcher = psutil.Process(int(parent.stdout.readline()))
        parent.kill()
        assert gone([watcher], within=10) == []
    finally:
        parent.kill()
        parent.wait(timeout=10)


@pytest.mark.parametrize("workers", [-1, 100_000])
def test_worker_counts_are_bounded(workers):
    with pytest.raises(ValueError, match="--workers"):
        make_backend(workers=workers)


def test_dask_addresses_are_checked():
    assert Dask.parse("tcp://127.0.0.1:8786") == ("remote", None) and Dask.parse("local:4") == ("local", 4)
    assert Dask.parse("tcp://[::1]:8786") == ("remote", None) and Dask.parse("tcp://sched.example.org:1") == (
        "remote", None)
    for bad in ("tls://h:1", "tcp://h:0", "local:-1", "local:", "tcp://h:1/x", "tcp://h h:1"):
        with pytest.raises(ValueError):
            Dask.parse(bad)
