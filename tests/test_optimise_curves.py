"""``channelsim optimise``: re-solving from stored curves, the feasibility pre-check, recommended.yaml, quiet solver.

One optimisation of a tiny scenario (two cells, three levels, two replications) is run once
per module; every other test re-solves from its folder or stops before any simulation.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import optimise.loop
import optimise.simulate
from channelsim.cli import app
from experiments.io import load_scenario
from optimise.feasibility import conflicts
from optimise.store import CurvesError, read_estimation, scenario_hash

REPO = Path(__file__).resolve().parents[1]
TINY = ["--set", "market.n_accounts=2000", "--set", "partners.n_initial=30", "--set", "time.warmup_months=3",
        "--months", "6"]
CELLS = ["--cells", "all:discount,gold:rebate"]
BUDGET = "5e6"


def invoke(*args: str):
    return CliRunner().invoke(app, ["optimise", "baseline", *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def first(tmp_path_factory) -> Path:
    """The folder of one full optimisation (estimation, LP, validation)."""
    out = tmp_path_factory.mktemp("curves") / "first"
    res = invoke("--budget", BUDGET, *CELLS, "--levels", "0,1,2", "--replications", "2", "--workers", "1",
                 "--rounds", "1", "--no-stability", "--out", str(out), *TINY)
    assert res.exit_code == 0, res.output
    return out


def test_a_re_solve_of_a_trust_region_run_gives_its_answer(tmp_path):
    # Three rounds (the default): the stored curves are the last accepted round's, solved in that round's trust
    # region; the re-solve with the same budget uses the stored radius and gives the same allocation.
    out = tmp_path / "tr"
    res = invoke("--budget", BUDGET, *CELLS, "--levels", "0,1,2", "--replications", "2", "--workers", "1",
                 "--no-stability", "--out", str(out), *TINY)
    assert res.exit_code == 0, res.output
    assert len(pd.read_csv(out / "rounds.csv")) >= 2
    again = tmp_path / "again"
    res = invoke("--budget", BUDGET, "--curves", str(out), "--no-validate", "--out", str(again), *TINY)
    assert res.exit_code == 0, res.output
    pd.testing.assert_series_equal(spends(again), spends(out))
    # A later round was accepted (round 2 with these seeds): its curves are the stored ones, and the first
    # round's, around the current programme, are kept for the simple rules.
    rec = json.loads((out / "estimation.json").read_text())
    assert rec["round"] > 0 and rec["rules"]["round"] == 0
    assert read_estimation(out).rules is not None
    # A validated re-solve builds the equal and proportional splits from those first-round curves, as the
    # run itself did: the same programmes on the same fresh seeds give the same validated figures.
    checked = tmp_path / "checked"
    res = invoke("--budget", BUDGET, "--curves", str(out), "--out", str(checked), *TINY)
    assert res.exit_code == 0, res.output
    rules = ["current", "equal_split", "proportional_to_tier_revenue"]
    cols = ["net_profit", "incentive_spend", "cells_spend"]
    v0 = pd.read_csv(out / "validation.csv").set_index("policy").loc[rules, cols]
    v1 = pd.read_csv(checked / "validation.csv").set_index("policy").loc[rules, cols]
    pd.testing.assert_frame_equal(v0, v1)


@pytest.fixture
def runs(monkeypatch) -> list[object]:
    """Every simulation run from here on (in-process: the commands below use one worker)."""
    seen: list[object] = []
    real = optimise.simulate.run_one

    def counting(task):
        seen.append(task)
        return real(task)

    monkeypatch.setattr(optimise.simulate, "run_one", counting)

    def no_estimation(*_a, **_k):
        raise AssertionError("estimation simulated with --curves")

    monkeypatch.setattr(optimise.loop, "estimate", no_estimation)
    return seen


def spends(folder: Path) -> pd.Series:
    a = pd.read_csv(folder / "allocation.csv")
    return a.set_index(a["tier"] + "/" + a["lever"])["spend"]


def test_the_run_stores_its_estimation(first):
    rec = json.loads((first / "estimation.json").read_text())
    assert rec["cells"] == ["all:discount", "gold:rebate"] and rec["levels"] == [0.0, 1.0, 2.0]
    assert rec["months"] == 6 and rec["replications"] == 2
    stored = read_estimation(first)
    assert stored.cells == [("all", "discount"), ("gold", "rebate")]
    summary = json.loads((first / "summary.json").read_text())
    assert summary["curves"] == "estimated" and summary["validated"] is True


def test_curves_resolve_without_estimation_same_and_changed_budget(first, tmp_path, runs):
    same = tmp_path / "same"
    res = invoke("--budget", BUDGET, "--curves", str(first), "--no-validate", "--out", str(same), *TINY)
    assert res.exit_code == 0, res.output
    assert runs == []  # not one simulation: neither estimation nor validation
    pd.testing.assert_series_equal(spends(same), spends(first))
    assert not (same / "validation.csv").exists()
    summary = json.loads((same / "summary.json").read_text())
    assert summary["curves"] == "stored" and summary["validated"] is False
    html = (same / "report.html").read_text()
    assert "not validated" in html
    # the summary warns in words that nothing shows the recommendation beats a simple rule
    summary_html = html[html.index('class="summary"'):html.index("</section>")]
    assert "Warning:</strong> Not validated" in summary_html and "simple rule" in summary_html
    # the stored curves are carried forward: a re-solve of the re-solve reads them again
    assert read_estimation(same).response.curves == read_estimation(first).response.curves

    # a changed budget: another allocation, still without estimation
    smaller = tmp_path / "smaller"
    res = invoke("--budget", "1e6", "--curves", str(first), "--no-validate", "--out", str(smaller), *TINY)
    assert res.exit_code == 0, res.output
    assert runs == []
    s = spends(smaller)
    assert s.sum() <= 1e6 + 1e-6 and not s.round(6).equals(spends(first).round(6))


def test_curves_resolve_validates_with_validation_runs_only(first, tmp_path, runs, monkeypatch):
    import channelsim.optimise_cli as cli_mod

    labels: list[str] = []
    monkeypatch.setattr(cli_mod, "_stderr_is_tty", lambda: True)  # a terminal: progress bars
    monkeypatch.setattr(cli_mod, "_bars", lambda label: labels.append(label) or (lambda done, total: None))
    out = tmp_path / "validated"
    res = invoke("--budget", BUDGET, "--curves", str(first), "--validation-replications", "2", "--workers", "1",
                 "--out", str(out), *TINY)
    assert res.exit_code == 0, res.output
    assert len(runs) == 4 * 2  # current, optimised and the two baselines, 2 replications each; no estimation
    assert labels == ["final validation"]
    pd.testing.assert_series_equal(spends(out), spends(first))
    val = pd.read_csv(out / "validation.csv")
    assert set(val["policy"]) == {"current", "optimised", "equal_split", "proportional_to_tier_revenue"}


def test_no_progress_bar_off_a_terminal(first, tmp_path, runs):
    res = invoke("--budget", BUDGET, "--curves", str(first), "--validation-replications", "2", "--workers", "1",
                 "--out", str(tmp_path / "o"), *TINY)
    assert res.exit_code == 0, res.output
    assert len(runs) == 8 and "run/s" not in res.output and "%|" not in res.output


@pytest.mark.parametrize(("change", "expected"), [
    (["--set", "market.n_territories=7"], ["different scenario", "market.n_territories: 20 then, 7 now"]),
    (["--months", "12"], ["6 reported months", "simulates 12", "--months 6"]),
    (["--cells", "all:discount"], ["estimated but not asked for: gold:rebate"]),
    (["--levels", "0,1"], ["--levels 0,1,2", "asks for 0,1"]),
])
def test_curves_of_another_scenario_horizon_or_cells_are_refused(first, tmp_path, runs, change, expected):
    out = tmp_path / "x"
    res = invoke("--budget", BUDGET, "--curves", str(first), "--no-validate", "--out", str(out), *TINY, *change)
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert text.startswith(f"error: --curves {first}:") and "Traceback" not in text
    for e in expected:
        assert e in text, (e, text)
    assert not out.exists() and runs == []


def test_damaged_curves_are_refused(first, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(first, bad)
    df = pd.read_parquet(bad / "response_curves.parquet")
    df.iloc[:1].to_parquet(bad / "response_curves.parquet", index=False)
    with pytest.raises(CurvesError, match="SHA-256 differs"):
        read_estimation(bad)
    (bad / "estimation.json").write_text("{not json")
    with pytest.raises(CurvesError, match="cannot be read"):
        read_estimation(bad)
    with pytest.raises(CurvesError, match="no estimation.json"):
        read_estimation(tmp_path)


def test_infeasible_constraints_are_named_before_any_simulation(tmp_path, runs):
    out = tmp_path / "x"
    res = invoke("--budget", BUDGET, *CELLS, "--min-spend", "6e6", "--lever-share", "rebate>=0.7",
                 "--lever-share", "discount>=0.5", "--cell-bound", "silver:mdf=1:", "--out", str(out), *TINY)
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert "before any simulation" in text and "Traceback" not in text
    for e in ("--cell-bound silver:mdf=1:", "not a cell being allocated", "all/discount, gold/rebate"):
        assert e in text, e
    assert runs == [] and not out.exists()
    res = invoke("--budget", BUDGET, *CELLS, "--min-spend", "6e6", "--lever-share", "rebate>=0.7",
                 "--lever-share", "discount>=0.5", "--out", str(out), *TINY)
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    for e in ("--min-spend 6000000 and --budget 5000000", "at least 6,000,000", "at most 5,000,000",
              "--lever-share rebate>=0.7 and --lever-share discount>=0.5", "share floors adding up to 1.2"):
        assert e in text, e
    assert runs == [] and not out.exists()


def test_feasibility_conflicts_seen_from_the_constraints_alone():
    cells = [("gold", "rebate"), ("gold", "mdf"), ("silver", "rebate")]
    assert conflicts(cells, 1e6) == []
    assert conflicts(cells, 1e6, cell_bounds={"gold/rebate": (None, 5e5)}, lever_shares={"mdf": (0.1, 0.5)}) == []
    (c,) = conflicts(cells, 1e6, cell_bounds={"gold/rebate": (6e5, None), "silver/rebate": (6e5, None)})
    assert c.groups == ("cell_bounds[gold/rebate]", "cell_bounds[silver/rebate]", "budget")
    (c,) = conflicts(cells, 1e6, tier_bounds={"gold": (None, 1e5)}, cell_bounds={"gold/mdf": (2e5, None)})
    assert set(c.groups) == {"tier_bounds[gold]", "cell_bounds[gold/mdf]"}
    (c,) = conflicts(cells, 1e6, objective="roi", min_roi=0.2)
    assert c.groups == ("objective", "min_roi")
    (c,) = conflicts(cells, 1e6, lever_bounds={"discount": (1.0, None)})
    assert c.groups == ("lever_bounds[discount]", "cells")
    (c,) = conflicts(cells, 1e6, lever_shares={"mdf": (0.2, None)}, lever_bounds={"mdf": (None, 1e4)}, min_spend=5e5)
    assert "lever_share[mdf]" in c.groups and "lever_bounds[mdf]" in c.groups and "min_spend" in c.groups


def test_recommended_yaml_round_trips_through_channelsim_run(first, tmp_path):
    rec = first / "recommended.yaml"
    text = rec.read_text()
    assert "extends: baseline" in text
    sc = load_scenario(rec)
    summary = json.loads((first / "summary.json").read_text())
    assert scenario_hash(sc) == summary["recommended_scenario_hash"]
    # only what differs from the base file: the --set values and the cells' fields
    data = yaml.safe_load(text)
    assert set(data) <= {"extends", "name", "description", "run", "time", "market", "partners", "tiering",
                         "incentives"}
    assert data["time"] == {"months": 6, "warmup_months": 3}
    assert sc.incentives.discount_scale == pytest.approx(summary["overrides"]["incentives.discount_scale"])
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["run", str(rec), "--replications", "1", "--workers", "1", "--out", str(out)],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    resolved = load_scenario(out / "scenario.resolved.yaml")
    assert scenario_hash(resolved) == scenario_hash(sc)


def test_no_solver_banner_on_standard_output(first, tmp_path):
    """HiGHS prints a banner the first time a process makes a solver: a fresh process must not show it."""
    code = "import sys; from channelsim.cli import main; sys.argv[0] = 'channelsim'; main()"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    res = subprocess.run([sys.executable, "-c", code, "optimise", "baseline", "--budget", BUDGET, "--curves",
                          str(first), "--no-validate", "--out", str(tmp_path / "o"), *TINY],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "optimised allocation" in res.stdout
    for text in (res.stdout, res.stderr):
        assert "HiGHS" not in text and "Copyright" not in text, text
