"""Flags of the command line: consistent short names, plain flags, choices as enums, shell completion."""

from __future__ import annotations

import os
import subprocess
import sys

import click
import pytest
import typer
from typer.testing import CliRunner

from channelsim.cli import app

COMMAND = typer.main.get_command(app)
COMMANDS = sorted(COMMAND.commands)


def _params(name: str) -> dict[str, click.Parameter]:
    return {p.name: p for p in COMMAND.commands[name].params}


def _help(*args: str) -> str:
    res = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert res.exit_code == 0, res.output
    return res.output


@pytest.mark.parametrize("command", COMMANDS)
def test_short_names_are_the_same_in_every_command(command):
    """-o/--out, -r/--replications, -s/--seed, -w/--workers wherever the command has the option."""
    for name, p in _params(command).items():
        if not isinstance(p, click.Option):
            continue
        for long, short in (("--out", "-o"), ("--replications", "-r"), ("--seed", "-s"), ("--workers", "-w")):
            if long in p.opts:
                assert short in p.opts, f"{command} {long} has no {short}"
        if name in ("out", "output"):
            assert "--out" in p.opts and "-o" in p.opts, f"{command} {p.opts}"


@pytest.mark.parametrize("command", COMMANDS)
def test_boolean_options_are_plain_flags_in_help(command):
    """A flag renders as ``--force`` alone (typer 0.29 rendered ``--force <bool>``, which invites ``--force true``)."""
    text = _help(command)
    assert "<bool>" not in text and "BOOLEAN" not in text
    flags = [p for p in _params(command).values() if isinstance(p, click.Option) and p.is_flag]
    for p in flags:
        assert p.opts[0] in text


def test_force_takes_no_value_and_says_so(tmp_path):
    res = CliRunner().invoke(app, ["run", "baseline", "-o", str(tmp_path / "o"), "--force", "true"])
    assert res.exit_code == 2
    assert "unexpected extra argument" in res.output.lower() and "true" in res.output


@pytest.mark.parametrize(("args", "option", "choices"), [
    (["optimise", "baseline", "--budget", "1", "-o", "X", "--objective", "margin"], "--objective",
     ["profit", "revenue", "roi"]),
    (["optimise", "baseline", "--budget", "1", "-o", "X", "--tier-order", "up"], "--tier-order",
     ["lever", "total", "none"]),
    (["optimise", "baseline", "--budget", "1", "-o", "X", "--fit", "spline"], "--fit", ["ls", "envelope"]),
    (["results", "X", "--format", "xlsx"], "--format", ["csv", "parquet"]),
    (["results", "X", "--status", "done"], "--status", ["ok", "failed"]),
])
def test_choices_are_listed_in_help_and_refused_clearly(args, option, choices, tmp_path):
    args = [str(tmp_path / a) if a == "X" else a for a in args]
    res = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert res.exit_code == 2, res.output
    assert option in res.output and "is not one of" in res.output
    for c in choices:
        assert f"'{c}'" in res.output
    assert "|".join(choices) in _help(args[0])
    assert not (tmp_path / "X").exists()


def _complete(words: str, cword: int) -> list[str]:
    env = {**os.environ, "_CHANNELSIM_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    proc = subprocess.run([sys.executable, "-c", "from channelsim.cli import main; main()"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_shell_completion_completes_commands_options_choices_and_scenario_names():
    assert _complete("channelsim ru", 1) == ["run"]
    assert _complete("channelsim run --fo", 2) == ["--force"]
    assert _complete("channelsim optimise baseline --objective ", 4) == ["profit", "revenue", "roi"]
    assert _complete("channelsim run rebate_b", 2) == ["rebate_boost"]
    assert _complete("channelsim optimise rebate_b", 2) == ["rebate_boost"]
    assert _complete("channelsim app collab", 2) == ["collaboration_programme"]


def test_show_completion_prints_a_script_for_the_shell():
    res = CliRunner().invoke(app, ["--show-completion", "bash"], prog_name="channelsim")
    assert res.exit_code == 0, res.output
    assert "_CHANNELSIM_COMPLETE" in res.output and "complete" in res.output
    assert "--install-completion" in _help()


def test_python_dash_m_runs_the_same_command_line():
    for module in ("channelsim", "channelsim.cli"):
        proc = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and proc.stdout.startswith("channelsim "), proc.stderr
