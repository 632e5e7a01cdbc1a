"""Packaging: the wheel holds every package and the scenario files, and an installed wheel runs ``baseline``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from experiments.io import SCENARIOS_DIR, available_scenarios

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
TOP = ("sim", "optimise", "experiments", "channelsim")
DATA_PACKAGES = {"experiments.scenarios": "scenarios", "experiments.scenarios.validation": "scenarios/validation"}


def test_the_package_list_names_every_package_and_the_scenario_data():
    found = {".".join(p.parent.relative_to(REPO).parts) for top in TOP for p in (REPO / top).rglob("__init__.py")}
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    assert listed == found | set(DATA_PACKAGES)
    folders = {p.parent for p in (REPO / "scenarios").rglob("*.yaml")}
    assert folders == {REPO / d for d in DATA_PACKAGES.values()}, "a scenario folder is not shipped in the wheel"


def test_a_checkout_looks_names_up_in_the_top_level_scenarios_folder():
    assert SCENARIOS_DIR == REPO / "scenarios"
    assert {"baseline", "rebate_boost", "validation/bass"} <= set(available_scenarios())


@pytest.mark.slow
def test_an_installed_wheel_runs_baseline_outside_the_checkout(tmp_path):
    """Build the wheel from a copy of the sources, install it into a folder and run it from elsewhere."""
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in (*TOP, "scenarios"):
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    wheels, target, work = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    work.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(src)], check=True,
                   capture_output=True, timeout=300)
    (wheel,) = wheels.glob("channelsim-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)], check=True,
                   capture_output=True, timeout=300)
    assert (target / "experiments" / "scenarios" / "baseline.yaml").is_file()
    assert (target / "experiments" / "scenarios" / "validation" / "bass.yaml").is_file()
    shutil.rmtree(src)  # nothing of the sources is left to find the scenarios in

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(target)}
    tiny = ["--set", "market.n_accounts=1000", "--set", "market.n_territories=2", "--set", "partners.n_initial=10",
            "--set", "time.warmup_months=0", "--months", "2", "-r", "1"]
    proc = subprocess.run([str(target / "bin" / "channelsim"), "run", "baseline", *tiny, "-o", "out"], cwd=work,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((work / "out" / "summary.json").read_text())
    assert summary["scenario"] == "baseline" and summary["months"] == 2
    assert Path(summary["source"]).is_relative_to(target)  # read from the installed package, not a checkout
    proc = subprocess.run([str(target / "bin" / "channelsim"), "validate", "rebate_boost"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("rebate_boost"), proc.stderr
