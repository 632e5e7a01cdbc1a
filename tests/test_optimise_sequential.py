"""Noise-aware estimation: replications are added where a level's net-profit effect is still undecided."""

from __future__ import annotations

import pandas as pd
import pytest

import sim
from optimise.response import estimate, undecided_levels

TINY = {"market.n_accounts": 2_000, "partners.n_initial": 30, "time.months": 6, "time.warmup_months": 3}
CELLS = [("all", "discount"), ("gold", "rebate")]
LEVELS = (0.5, 1.0, 1.5)


def test_a_level_is_decided_by_its_sign_or_by_its_precision():
    spend = {1.0: [100.0] * 4}
    # CI contains zero and is wide against a change of spend of 100: undecided
    assert undecided_levels({1.0: [-50.0, 60.0, -40.0, 45.0]}, spend, 0.1) == [1.0]
    # the same noise, but the whole CI is above zero: the sign is known
    assert undecided_levels({1.0: [950.0, 1060.0, 960.0, 1045.0]}, spend, 0.1) == []
    # CI contains zero but is narrow (half-width below 0.1 x 100): the return on spend is known to +-0.1
    assert undecided_levels({1.0: [-1.0, 1.0, -1.2, 1.1]}, spend, 0.1) == []
    # no change of spend: nothing to allocate on, decided
    assert undecided_levels({1.0: [-50.0, 60.0]}, {1.0: [0.0, 0.0]}, 0.1) == []
    # one replication has no interval: left to the next stage's check
    assert undecided_levels({1.0: [5.0]}, {1.0: [100.0]}, 0.1) == []


def _points(rd, cells=None) -> pd.DataFrame:
    p = rd.points
    if cells is not None:
        p = p[p["cell"].isin(cells)]
    return p.sort_values(["cell", "multiplier"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def scenario():
    return sim.Scenario().with_overrides(TINY)


def test_without_a_larger_maximum_the_estimation_is_unchanged(scenario):
    plain = estimate(scenario, CELLS, multipliers=LEVELS, replications=2, seed=4, workers=1)
    same = estimate(scenario, CELLS, multipliers=LEVELS, replications=2, seed=4, workers=1, max_replications=2)
    pd.testing.assert_frame_equal(_points(plain), _points(same))
    assert plain.n_runs == same.n_runs and "sequential" not in same.diagnostics


def test_added_replications_are_those_of_a_larger_plain_estimation(scenario):
    # A precision no level can reach in 4 replications: every cell with a spend change grows to the maximum,
    # and, with the same seeds for replication r, its points are those of a plain estimation with 4.
    seq = estimate(scenario, CELLS, multipliers=LEVELS, replications=2, seed=4, workers=1, max_replications=4,
                   roi_precision=1e-9)
    plain4 = estimate(scenario, CELLS, multipliers=LEVELS, replications=4, seed=4, workers=1)
    info = seq.diagnostics["sequential"]
    grown = [c for c, n in info["per_cell"].items() if n == 4]
    assert grown, info
    pd.testing.assert_frame_equal(_points(seq, grown), _points(plain4, grown))
    assert set(info["undecided"]) <= set(grown)
    for cell, n in info["per_cell"].items():
        assert (seq.points.loc[seq.points["cell"] == cell, "n"] == n).all()
        assert seq.runs.loc[seq.runs["cell"] == cell, "rep"].nunique() == n
    # the robust scenarios stay the first replications, common to every cell
    assert all(len(c.scenario_values) == 2 for c in seq.curves)


def test_a_loose_precision_adds_nothing(scenario):
    # An allowed half-width of a million times the change of spend: every level is decided after the first stage,
    # so nothing is added and the estimation is the plain one.
    seq = estimate(scenario, CELLS, multipliers=LEVELS, replications=3, seed=4, workers=1, max_replications=6,
                   roi_precision=1e6)
    plain = estimate(scenario, CELLS, multipliers=LEVELS, replications=3, seed=4, workers=1)
    assert set(seq.diagnostics["sequential"]["per_cell"].values()) == {3}
    pd.testing.assert_frame_equal(_points(seq), _points(plain))
    assert seq.n_runs == plain.n_runs


def test_bad_precision_is_refused(scenario):
    with pytest.raises(ValueError, match="roi_precision"):
        estimate(scenario, CELLS, multipliers=LEVELS, replications=2, workers=1, max_replications=4, roi_precision=0)


@pytest.mark.parametrize("args, message", [
    (["--max-replications", "1"], "--max-replications: at least 2"),
    (["--max-replications", "4", "--estimation", "joint"], "only with --estimation cells"),
    (["--roi-precision", "0", "--max-replications", "4"], "--roi-precision"),
    (["--roi-precision", "nan", "--max-replications", "4"], "--roi-precision"),
])
def test_the_command_refuses_bad_noise_aware_options(args, message, tmp_path):
    from typer.testing import CliRunner

    from channelsim.cli import app

    res = CliRunner().invoke(app, ["optimise", "baseline", "--budget", "1e7", "--out", str(tmp_path / "o"), *args])
    assert res.exit_code == 2, res.output
    assert message in " ".join(res.output.split())
    assert "Traceback" not in res.output
    assert not (tmp_path / "o").exists()


def test_noise_aware_estimation_is_refused_with_stored_curves(tmp_path):
    from typer.testing import CliRunner

    from channelsim.cli import app

    (tmp_path / "curves").mkdir()
    res = CliRunner().invoke(app, ["optimise", "baseline", "--budget", "1e7", "--curves", str(tmp_path / "curves"),
                                   "--max-replications", "4", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2, res.output
    assert "--max-replications with --curves" in " ".join(res.output.split())
