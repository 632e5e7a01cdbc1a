"""``channelsim run --out`` and the command line's last line of defence (issue 16, classes 3 and 7).

The output folder is checked, and a staging folder reserved beside it, before any simulation; a
staging folder left by a killed command is removed by the next; a full disk is one paragraph and
exit 2 with nothing written; an unexpected error is one paragraph and exit 1, never a traceback.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from channelsim import cli

TINY = ["--months", "2", "--set", "market.n_accounts=2000", "--set", "partners.n_initial=30",
        "--set", "time.warmup_months=1"]
MAIN = [sys.executable, "-c", "from channelsim.cli import main; main()"]


def invoke(*args: object):
    return CliRunner().invoke(cli.app, [str(a) for a in args])


@pytest.fixture
def no_simulation(monkeypatch):
    """Fail the test if a simulation starts: problems with --out must be found before."""
    def boom(*a, **k):
        raise AssertionError("the simulation ran before the output folder was checked")

    monkeypatch.setattr(cli, "run_replications", boom)


@pytest.mark.parametrize("make_out", ["proc", "under_a_file", "a_file", "cwd", "parent_of_cwd"])
def test_bad_out_is_found_before_the_simulation(tmp_path, monkeypatch, no_simulation, make_out):
    (tmp_path / "FILE").write_text("x")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    out = {"proc": Path("/proc/nope"), "under_a_file": tmp_path / "FILE" / "sub", "a_file": tmp_path / "FILE",
           "cwd": Path("."), "parent_of_cwd": Path("..")}[make_out]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    res = invoke("run", "baseline", *TINY, "--out", out, "--force")
    assert res.exit_code == 2, res.output
    assert "--out" in res.stderr and "Traceback" not in res.stderr and len(res.stderr.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_stale_staging_folders_are_removed_and_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)  # a process that has exited
    stale = [tmp_path / f".D.tmp-{dead_pid}-abc123", tmp_path / f".D.old-{dead_pid}-x_y", tmp_path / ".D.tmp-legacy1"]
    live = tmp_path / f".D.tmp-{os.getppid()}-abc123"  # a process that runs (pytest's parent)
    other = tmp_path / ".D.tmp-x.tmp-1-abc"  # the staging folder of another --out ("D.tmp-x"): not D's
    for p in [*stale, live, other]:
        p.mkdir()
        (p / "kpis.parquet").write_text("half written")
    run = invoke("run", "baseline", *TINY, "--out", tmp_path / "D")
    assert run.exit_code == 0, run.output
    assert all(not p.exists() for p in stale) and live.exists() and other.exists()
    assert (tmp_path / "D" / "summary.json").is_file()


def test_a_full_disk_is_one_paragraph_and_nothing_is_written(tmp_path, monkeypatch):
    real = cli.write_parquet_atomic

    def full(df, path):
        if Path(path).name == "partners.parquet":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(df, path)

    monkeypatch.setattr(cli, "write_parquet_atomic", full)
    res = invoke("run", "baseline", *TINY, "--out", tmp_path / "out")
    assert res.exit_code == 2, res.output
    assert "No space left on device" in res.stderr and "nothing was written" in res.stderr
    assert "Traceback" not in res.stderr and list(tmp_path.iterdir()) == []


def test_force_replaces_the_old_folder_and_a_failed_publish_restores_it(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("previous results")
    real = os.replace
    calls = []

    def flaky(src, dst):
        calls.append((Path(src).name, Path(dst).name))
        if Path(dst) == out and Path(src).name.startswith(".out.tmp-"):
            raise OSError(errno.EBUSY, "Device or resource busy", str(dst))
        return real(src, dst)

    monkeypatch.setattr(cli.os, "replace", flaky)
    res = invoke("run", "baseline", *TINY, "--out", out, "--force")
    assert res.exit_code == 2 and "Device or resource busy" in res.stderr
    assert (out / "old.txt").read_text() == "previous results"  # put back
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no .old-/.tmp- folder left


def test_the_model_refusing_values_is_a_user_error(tmp_path, monkeypatch):
    def huge(*a, **k):
        raise MemoryError("Unable to allocate 3.64 TiB for an array")

    monkeypatch.setattr(cli, "run_replications", huge)
    res = invoke("run", "baseline", *TINY, "--out", tmp_path / "out")
    assert res.exit_code == 2 and "MemoryError" in res.stderr and "nothing was written" in res.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_unexpected_error_is_one_paragraph_and_exit_1(tmp_path, monkeypatch, capsys):
    def bug(*a, **k):
        raise KeyError("a bug")

    monkeypatch.setattr(cli, "run_replications", bug)
    monkeypatch.setattr(sys, "argv", ["channelsim", "run", "baseline", *TINY, "--out", str(tmp_path / "out")])
    monkeypatch.delenv("CHANNELSIM_TRACEBACK", raising=False)
    with pytest.raises(SystemExit) as info:
        cli.main()
    err = capsys.readouterr().err
    assert info.value.code == 1 and "Traceback" not in err and "KeyError" in err and "CHANNELSIM_TRACEBACK" in err
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setenv("CHANNELSIM_TRACEBACK", "1")
    with pytest.raises(SystemExit):
        cli.main()
    assert "Traceback" in capsys.readouterr().err


def test_hostile_input_through_the_console_script(tmp_path):
    """The audit's reproductions, through the installed entry point: exit 2, one message, no traceback."""
    deep = tmp_path / "deep.yaml"
    deep.write_text("x: " + "[" * 500 + "]" * 500 + "\n")
    big = tmp_path / "big.yaml"
    big.write_text("time: {months: " + "9" * 5000 + "}\n")
    cases = [["validate", str(deep)], ["validate", str(big)],
             ["validate", "baseline", "--set", "incentives.rebate.scale=" + "[" * 3000 + "]" * 3000],
             ["validate", "baseline", "--set", "x" * 5000 + "=1"],
             ["run", "baseline", "--out", "/proc/nope", "--replications", "1000000000"]]
    for args in cases:
        proc = subprocess.run([*MAIN, *args], capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert proc.returncode == 2, (args[:2], proc.stderr[-500:])
        assert "Traceback" not in proc.stderr and proc.stderr.startswith("error:"), proc.stderr[-500:]
        assert len(proc.stderr) < 3_000
