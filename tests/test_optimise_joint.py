"""Joint response estimation (issue 12 item 1): a balanced design over all cells, a separable fit, interaction tests.

The fitting is checked against a synthetic simulator whose truth is known (each cell's effect is a
given concave function of its rate, plus an optional interaction and noise); one test runs the real
simulator on a small problem to check the plumbing end to end.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import small

import optimise.joint as joint
from optimise.joint import balanced_design, design_size, estimate_joint
from optimise.response import cell_spec, parse_cells
from optimise.simulate import Outcome

CELLS = [("silver", "rebate"), ("gold", "mdf"), ("gold", "discount")]


def test_balanced_design_uses_each_level_equally_often_and_is_seeded():
    levels = [[0, 0.5, 1, 1.5, 2], [0, 1, 2], [0, 0.5, 1, 1.5, 2, 3]]
    d = balanced_design(levels, 60, np.random.default_rng(3))
    assert d.shape == (60, 3)
    for j, lv in enumerate(levels):
        counts = np.bincount(d[:, j], minlength=len(lv))
        assert counts.max() - counts.min() <= 1
    again = balanced_design(levels, 60, np.random.default_rng(3))
    assert (d == again).all()
    # the maximin step keeps the columns close to orthogonal
    c = np.corrcoef(d.T.astype(float))
    assert np.abs(c - np.eye(3)).max() < 0.3
    assert design_size(64) == 128 and design_size(3) == 24


def _truth(interaction: float, noise: float):
    """A fake simulator: gross profit = sum of concave effects of the cells' rates (+ an interaction)."""
    sc0 = small()
    specs = [cell_spec(sc0, t, lv) for t, lv in CELLS]
    gains = (4e6, 2.5e6, -3e6)  # USD/yr at twice the reference rate

    def f(j, m):  # concave in the multiplier, 0 at the current level 1
        return gains[j] * (np.sqrt(m / 2.0) - np.sqrt(0.5))

    def fake(tasks, workers=None, progress=None):
        out = []
        for task in tasks:
            ms = [cell_spec(task.scenario, s.tier, s.lever).current_value / s.reference for s in specs]
            gp = 1e8 + sum(f(j, m) for j, m in enumerate(ms)) + interaction * (ms[0] - 1) * (ms[1] - 1)
            # noise shared by every point of a replication (cancels in the paired differences) and a
            # smaller part of each run's own
            gp += np.random.default_rng(task.seed).normal(0, noise)
            key = [*task.seed.spawn_key, *(int(round(100 * m)) for m in ms)]
            gp += np.random.default_rng(key).normal(0, 0.25 * noise)
            spends = {f"spend_{s.lever}_{s.tier}": 1e6 * m for s, m in zip(specs, ms, strict=True)}
            totals = {"gross_profit": gp, "incentive_spend": sum(spends.values()), "revenue_total": 3 * gp, **spends}
            out.append(Outcome(months=12, totals=totals, means={}))
        return out

    return fake, f


@pytest.fixture
def fake_sim(monkeypatch):
    def install(interaction=0.0, noise=2e5):
        fake, f = _truth(interaction, noise)
        monkeypatch.setattr(joint, "simulate_many", fake)
        return f
    return install


def test_the_separable_fit_recovers_each_cells_effect_within_its_interval(fake_sim):
    f = fake_sim()
    rd = estimate_joint(small(), CELLS, replications=2, points=40, seed=1)
    assert rd.n_runs == (40 + 1) * 2
    for j, (t, lv) in enumerate(CELLS):
        p = rd.points[rd.points["cell"] == f"{t}/{lv}"].sort_values("multiplier")
        truth = np.array([f(j, m) for m in p["multiplier"]])
        # the value is delta gp + own spend change: the own spend here is 1e6 x (m - 1)
        own = 1e6 * (p["multiplier"].to_numpy() - 1.0)
        err = p["value"].to_numpy() - (truth + own)
        # 4 standard errors: 3 cells x 5 levels checked at once, so a wider band than 1.96 keeps the
        # family-wise false-failure rate below 0.1 %
        assert np.all(np.abs(err) <= 4 * p["value_se"].to_numpy() + 1e-6), (t, lv, err, p["value_se"].to_numpy())
        # the spend each level produces is learned from the runs (here exactly 1e6 per unit of multiplier)
        assert p["spend"].to_numpy() == pytest.approx(1e6 * p["multiplier"].to_numpy(), rel=1e-9, abs=1e-3)
        assert p.loc[p["multiplier"] == 1.0, "value"].item() == 0.0
    # an additive truth passes the lack-of-fit test
    assert rd.diagnostics["lof_p"] > 0.01


def test_an_interaction_fails_the_lack_of_fit_test_and_is_named(fake_sim):
    fake_sim(interaction=-3e6)
    rd = estimate_joint(small(), CELLS, replications=2, points=40, seed=1)
    assert rd.diagnostics["lof_p"] < 1e-3
    top = rd.diagnostics["interactions"][0]
    assert set(top["cells"]) == {"silver/rebate", "gold/mdf"} and top["coef"] < 0 and top["p_adjusted"] < 0.01
    from optimise.loop import design_notes

    (note,) = design_notes(rd)
    assert note.startswith("interactions:") and "silver/rebate x gold/mdf" in note


def test_joint_estimation_needs_replicated_points_and_enough_of_them(fake_sim):
    fake_sim()
    with pytest.raises(ValueError, match="at least 2"):
        estimate_joint(small(), CELLS, replications=1)
    with pytest.raises(ValueError, match="more points than level effects"):
        estimate_joint(small(), CELLS, replications=2, points=10)


def test_joint_estimation_on_the_simulator_gives_curves_the_lp_takes():
    from optimise.lp import AllocationProblem
    from optimise.solve import solve

    sc = small({"time.months": 6, "time.warmup_months": 6})
    cells = parse_cells("silver:rebate,gold:mdf", sc)
    rd = estimate_joint(sc, cells, multipliers=(0.0, 1.0, 2.0), replications=2, points=24, seed=0, workers=1)
    assert [c.cell for c in rd.curves] == ["silver/rebate", "gold/mdf"]
    assert rd.n_runs == 25 * 2 and len(rd.runs) == 48
    for c in rd.curves:
        c.check(need_revenue=True)
        assert c.rates is not None and len(c.rates) == len(c.spend)
    budget = sum(rd.current_spends().values())
    alloc = solve(AllocationProblem(rd.curves, budget=budget))
    assert alloc.total_spend <= budget * (1 + 1e-9)
