"""Closed loop on a small scenario: the LP's allocation against a brute-force grid in the simulator."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

import sim
from optimise.loop import (
    FINAL_ROUND_KEY,
    best_validated,
    optimise,
    resolve,
    spread,
    stability_notes,
    validate,
    verdict_notes,
)
from optimise.response import ESTIMATION_KEY, VALIDATION_KEY, cell_spec
from optimise.simulate import Task, simulate_many

# Full-size market and partner base (relative noise falls with size), a shorter horizon and warm-up to keep it
# quick: the test compares the LP's answer with a brute-force grid on the same scenario, which holds whether or
# not that scenario has reached the baseline's steady state (24 warm-up months instead of 60: 48 steps, not 84).
SMALL = {"time.months": 24, "time.warmup_months": 24}
TINY = {"market.n_accounts": 2_000, "partners.n_initial": 30, "time.months": 6, "time.warmup_months": 3}


def test_same_results_in_process_and_in_spawned_workers():
    sc = sim.Scenario().with_overrides(TINY)
    tasks = [Task(sc, sim.seed_sequence(5, ESTIMATION_KEY, 0, r)) for r in range(2)]
    a = simulate_many(tasks, workers=1)
    b = simulate_many(tasks, workers=2)
    assert [o.totals for o in a] == [o.totals for o in b]


def test_validation_seeds_are_fresh():
    est = {tuple(sim.seed_sequence(0, ESTIMATION_KEY, k, r).spawn_key) for k in range(3) for r in range(8)}
    val = {tuple(sim.seed_sequence(0, VALIDATION_KEY, k, r).spawn_key) for k in (*range(3), FINAL_ROUND_KEY)
           for r in range(8)}
    assert not est & val


def test_spread_respects_bounds_and_total():
    s = spread([1, 1, 1], 10.0, [0, 0, 0], [2, 20, 20])
    assert s.sum() == pytest.approx(10.0) and s[0] == pytest.approx(2.0) and s[1] == pytest.approx(4.0)


@pytest.mark.slow
def test_optimised_allocation_is_near_the_best_grid_allocation():
    sc = sim.Scenario().with_overrides(SMALL)
    cells = [("all", "discount"), ("all", "rebate")]
    res = optimise(sc, cells, budget=1e9, rounds=1, radius=None, replications=4, validation_replications=2, seed=3,
                   workers=2, compare=False, multipliers=(0.0, 1.0, 2.0))
    assert res.allocation.status == "optimal"
    assert set(res.validation["policy"]) == {"current", "optimised"}
    # brute force: every grid combination of the two levers, simulated on the same fresh seeds
    disc = cell_spec(sc, "all", "discount")
    reb = cell_spec(sc, "all", "rebate")
    grid = {f"grid_{a}_{b}": sc.with_overrides({**disc.overrides(a), **reb.overrides(b)})
            for a, b in itertools.product((0.0, 0.5, 1.0, 2.0), (0.0, 2.0))}
    policies = {"optimised": res.optimised, **grid}
    summary, _ = validate(policies, replications=4, seed=3, round_=77, reference="optimised", workers=2)
    best = summary[summary["policy"] != "optimised"]["net_profit"].max()
    mine = float(summary.loc[summary["policy"] == "optimised", "net_profit"].iloc[0])
    print(summary[["policy", "net_profit", "diff_vs_optimised"]].to_string())
    assert mine >= best - 0.02 * abs(best), summary[["policy", "net_profit"]].to_string()
    assert np.isfinite(res.rounds["realised_uplift"]).all() and len(res.rounds) == 1


def test_trust_region_rounds_are_all_reported():
    from optimise.lp import Robust

    sc = sim.Scenario().with_overrides(TINY)
    # 2 scenarios: CVaR_0.5 is the worse one
    res = optimise(sc, [("all", "discount"), ("gold", "rebate")], budget=1e9, rounds=3, radius=0.5, tol=0.0,
                   replications=2, workers=1, multipliers=(0.5, 1.0, 1.5), robust=Robust(alpha=0.5))
    r = res.rounds
    assert list(r["round"]) == [0, 1, 2]
    for prev, nxt in zip(r.itertuples(), list(r.itertuples())[1:], strict=False):
        if prev.accepted:
            assert nxt.radius >= prev.radius
        else:
            assert nxt.radius == pytest.approx(prev.radius / 2)
    assert (r["max_move"] <= r["radius"] + 1e-9).all()  # the trust region holds
    assert res.allocation.cvar is not None and len(res.allocation.scenario_profits) == 2
    assert {"current", "optimised", "equal_split", "proportional_to_tier_revenue"} == set(res.validation["policy"])
    # the simple rules split the budget around the current programme (round 0's curves), whichever
    # round's centre the optimum came from: the same rates as a one-round run of the same seed
    assert r["accepted"].iloc[:2].any(), "the check below needs a later centre than the current programme"
    one = optimise(sc, [("all", "discount"), ("gold", "rebate")], budget=1e9, rounds=1, radius=0.5, tol=0.0,
                   replications=2, workers=1, multipliers=(0.5, 1.0, 1.5), robust=Robust(alpha=0.5), stability=False)
    for rule in ("equal_split", "proportional_to_tier_revenue"):
        assert res.candidates[rule] == one.candidates[rule], rule

    # the same curves solved again without any simulation
    again = resolve(sc, res.response, 1e9, robust=Robust(alpha=0.5), validate_result=False)
    assert again.validated is False and again.accepted_any is None and again.curves_source == "stored"
    assert again.validation.empty and again.validation_runs.empty
    assert again.rounds["estimation_runs"].tolist() == [0] and again.allocation.status == "optimal"


def test_conflicting_constraints_raise_before_any_simulation(monkeypatch):
    from optimise.solve import InfeasibleAllocation

    def boom(*_a, **_k):
        raise AssertionError("simulated")

    monkeypatch.setattr("optimise.loop.estimate", boom)
    sc = sim.Scenario().with_overrides(TINY)
    with pytest.raises(InfeasibleAllocation, match="before any simulation") as err:
        optimise(sc, [("all", "discount")], budget=1e5, min_spend=2e5, rounds=1)
    assert set(err.value.conflicts) == {"min_spend", "budget"}


def _validation(omp_low: float, cells_spend: float) -> pd.DataFrame:
    rows = [{"policy": "current", "net_profit": 100.0, "optimised_minus_policy": 5.0, "omp_ci_low": 1.0,
             "omp_ci_high": 9.0, "cells_spend": 50.0},
            {"policy": "optimised", "net_profit": 105.0, "optimised_minus_policy": 0.0, "omp_ci_low": 0.0,
             "omp_ci_high": 0.0, "cells_spend": cells_spend},
            {"policy": "equal_split", "net_profit": 104.0, "optimised_minus_policy": 1.0, "omp_ci_low": omp_low,
             "omp_ci_high": 3.0, "cells_spend": 60.0},
            {"policy": "proportional_to_tier_revenue", "net_profit": 90.0, "optimised_minus_policy": 15.0,
             "omp_ci_low": 10.0, "omp_ci_high": 20.0, "cells_spend": 60.0}]
    return pd.DataFrame(rows)


def test_verdict_warns_when_the_best_simple_rule_is_not_beaten_and_when_spend_is_off_plan():
    quiet = verdict_notes(_validation(omp_low=0.5, cells_spend=60.5), planned_spend=60.0, budget=60.0)
    assert quiet == []  # beats the best rule (CI above 0), realised spend 0.8 % off the plan
    loud = verdict_notes(_validation(omp_low=-1.0, cells_spend=66.0), planned_spend=60.0, budget=60.0)
    assert len(loud) == 2
    assert "does not beat the best simple rule (equal_split)" in loud[0]  # the better rule, not the proportional
    assert "+10.0% off the planned" in loud[1]
    assert verdict_notes(pd.DataFrame(), 1.0, 1.0) == []


def test_another_programme_is_recommended_only_when_it_beats_the_optimised_one_significantly():
    val = _validation(omp_low=0.5, cells_spend=60.0)
    assert best_validated(val) == ("optimised", None)
    # equal split better on average but not significantly (CI of optimised - equal straddles 0): keep optimised
    val.loc[val["policy"] == "equal_split", ["optimised_minus_policy", "omp_ci_low", "omp_ci_high"]] = [-2.0, -5.0, 1.0]
    assert best_validated(val)[0] == "optimised"
    # current significantly better: recommend keeping it, and say so with the figures
    val.loc[val["policy"] == "current", ["optimised_minus_policy", "omp_ci_low", "omp_ci_high"]] = [-3e6, -5e6, -1e6]
    name, why = best_validated(val)
    assert name == "current" and "3.00 M USD/yr more" in why and "1.00 to 5.00" in why


def test_stability_notes_warn_when_the_two_seeds_programmes_differ_in_validation():
    class A:  # the two allocations only need their spends here
        def __init__(self, spends):
            self._s = spends

        def spends(self):
            return self._s

    val = pd.DataFrame([{"policy": "optimised_seed2", "optimised_minus_policy": 2e6, "omp_ci_low": 1e6,
                         "omp_ci_high": 3e6}])
    (note,) = stability_notes(val, A({"a": 3.0, "b": 1.0}), A({"a": 1.0, "b": 1.0}), seed=4)
    assert note.startswith("WARNING: the recommendation depends on the estimation seed")
    assert "seeds 4 and 5" in note and "0.500 apart" in note  # |0.75 - 0.5| + |0.25 - 0.5|
    val.loc[0, "omp_ci_low"] = -1e6
    (note,) = stability_notes(val, A({"a": 3.0, "b": 1.0}), A({"a": 1.0, "b": 1.0}), seed=4)
    assert not note.startswith("WARNING")


def test_every_validated_programme_runs_under_the_budget():
    # A budget well below what the simple rules' rates would spend: under the cap every programme's realised
    # incentive spend (all levers) stays within the budget plus the spend outside the cells.
    from optimise.loop import other_spend

    sc = sim.Scenario().with_overrides(TINY)
    cells = [("gold", "rebate"), ("platinum", "rebate"), ("all", "discount")]
    res = optimise(sc, cells, budget=2e5, rounds=1, radius=None, replications=2, validation_replications=2,
                   seed=2, workers=1, multipliers=(0.0, 1.0, 2.0))
    cap = 2e5 + other_spend(res.response)
    assert set(res.candidates) == {"current", "optimised", "equal_split", "proportional_to_tier_revenue"}
    for name, programme in res.candidates.items():
        assert programme.incentives.budget == pytest.approx(cap), name
    spend = res.validation.set_index("policy")["incentive_spend"]
    assert (spend <= cap * (1 + 1e-6)).all(), spend.to_dict()
    free = optimise(sc, cells, budget=2e5, rounds=1, radius=None, replications=2, validation_replications=2,
                    seed=2, workers=1, multipliers=(0.0, 1.0, 2.0), budget_cap=False)
    assert free.validation.set_index("policy")["incentive_spend"].max() > cap  # the cap is what holds them


def test_cells_at_the_top_of_their_simulated_range_are_flagged():
    from types import SimpleNamespace

    from optimise.loop import range_notes
    from optimise.lp import AllocationProblem, Curve
    from optimise.solve import solve

    steep = Curve("gold", "rebate", (0.0, 1e6, 2e6), (0.0, 3e6, 5e6), current=1e6)  # still paying at its top
    flat = Curve("silver", "rebate", (0.0, 1e6, 2e6), (0.0, 5e5, 6e5), current=1e6)  # stops at its bottom
    alloc = solve(AllocationProblem((steep, flat), budget=5e6, tier_names=("silver", "gold")))
    rd = SimpleNamespace(multipliers=(0.0, 1.0, 2.0), curves=(steep, flat))
    (note,) = range_notes(alloc, rd)
    assert "1 cell(s) sit at the top" in note and "gold/rebate" in note and "silver" not in note
    # with a lowest level above 0 the bottom of the range is not a natural bound either
    rd = SimpleNamespace(multipliers=(0.5, 1.0, 2.0), curves=(steep, flat))
    notes = range_notes(alloc, rd)
    assert len(notes) == 2 and "bottom" in notes[1] and "silver/rebate" in notes[1]


def test_flat_curves_are_named_and_held_at_their_current_spend_on_request():
    from optimise.loop import flat_cells

    sc = sim.Scenario().with_overrides(TINY)
    cells = [("gold", "mdf"), ("platinum", "mdf"), ("all", "discount")]
    kw = dict(rounds=1, radius=None, replications=2, seed=2, workers=1, multipliers=(0.0, 1.0, 2.0),
              validate_result=False)
    free = optimise(sc, cells, budget=1e7, **kw)
    flat = flat_cells(free.response)
    # what flat means: no level's CI excludes zero
    pts = free.response.points
    for cell in {c.cell for c in free.response.curves}:
        p = pts[pts["cell"] == cell]
        assert (cell in flat) == (not ((p["value_ci_low"] > 0) | (p["value_ci_high"] < 0)).any())
    assert flat, "the tiny two-replication MDF curves are expected to be indistinguishable from flat"
    assert any(n.startswith(f"{len(flat)} of 3 cell curves cannot be told from flat") for n in free.notes)
    held = optimise(sc, cells, budget=1e7, hold_flat=True, **kw)
    for c in held.allocation.cells:
        if c.cell in flat:
            assert c.spend == pytest.approx(c.current, rel=1e-9, abs=1e-6), c.cell
    assert any("held at their current spend" in n for n in held.notes)


def test_rounds_whose_validation_misses_the_prediction_are_reported_as_interactions():
    from optimise.loop import interaction_notes

    rounds = pd.DataFrame([
        {"round": 0, "predicted_uplift": 5e6, "realised_uplift": 1e6, "realised_ci_low": 0.5e6,
         "realised_ci_high": 1.5e6, "accepted": True},   # prediction outside the CI: interaction
        {"round": 1, "predicted_uplift": 1e6, "realised_uplift": 0.8e6, "realised_ci_low": 0.2e6,
         "realised_ci_high": 1.4e6, "accepted": True},   # within: nothing to say
        {"round": 2, "predicted_uplift": 1e6, "realised_uplift": float("nan"), "realised_ci_low": float("nan"),
         "realised_ci_high": float("nan"), "accepted": None},  # not validated
    ])
    (note,) = interaction_notes(rounds)
    assert note.startswith("round 0: the curves predicted +5.00 M") and "re-estimates" in note
