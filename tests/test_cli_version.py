"""``channelsim --version`` prints the installed package's version and nothing else."""

from __future__ import annotations

from importlib.metadata import version

from typer.testing import CliRunner

import sim
from channelsim.cli import app


def test_version_prints_the_package_version_and_exits_0():
    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0, res.output
    assert res.output.strip() == f"channelsim {sim.__version__}"
    assert sim.__version__ == version("channelsim")


def test_commands_still_run_after_the_root_options():
    res = CliRunner().invoke(app, ["validate", "--help"])
    assert res.exit_code == 0 and "validate" in res.output.lower()
