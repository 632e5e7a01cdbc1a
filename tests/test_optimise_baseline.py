"""Issue 4: on the baseline the optimised allocation beats the equal split with a CI that excludes zero.

The whole optimisation of the baseline (16 cells x 5 levels x 8 replications, about 570 runs) takes
minutes; this test runs the same public API (:func:`optimise.loop.optimise`) on the unchanged
baseline scenario (50,000 accounts, 500 partners, 24 warm-up and 36 reported months) at a reduced
size chosen from the effect and noise observed before the test was written:

* cells: discount and rebate of silver, gold and platinum (6 cells), where the money is: the
  tier discounts are most of the programme's spend (about 35 of the 40 M$/yr these cells spend)
  and the rebates are the other lever paid on the same revenue.  The registered tier (discount
  only, no rebate) and MDF / training (small spend, small effect next to the run-to-run noise, see
  docs/OPTIMISE.md "Limits") are left at their current values;
* the budget: what these cells spend today (mean over the estimation replications), so the equal
  split and the optimised allocation share the same budget;
* 3 spend levels (multipliers 0, 1, 2 of the current rates) and 4 estimation replications:
  4 + 6 x 2 x 4 = 52 estimation runs; one round, the whole simulated range (as the CLI's default);
* validation on 8 fresh replications (seeds never used in estimation, common to all policies):
  in a trial at these sizes (seed 0) the paired difference optimised - equal split was
  +12.4 M$/yr with a per-replication standard deviation of 5.2 M$ (effect / sd = 2.4).  With 8
  paired replications the CI's lower bound is positive when the sample mean exceeds
  t(0.975, 7) / sqrt(8) = 0.83 sample standard deviations, about a third of the effect seen: the
  test has a comfortable margin without being tuned to a seed.  The seed below (1) is not the
  one of the trial, and was fixed before the test was first run.

About 100 runs of ~0.4 s: 25-40 s on two idle cores, about a minute on a loaded machine.
"""

from __future__ import annotations

import numpy as np
import pytest

import sim
from experiments.io import load_scenario
from optimise.loop import optimise, paired_ci
from optimise.response import ESTIMATION_KEY, spend_column
from optimise.simulate import Task, simulate_many

CELLS = [(t, lv) for t in ("silver", "gold", "platinum") for lv in ("discount", "rebate")]
LEVELS = (0.0, 1.0, 2.0)
REPLICATIONS = 4
VALIDATION_REPLICATIONS = 8
SEED = 1
WORKERS = 2


@pytest.mark.slow
@pytest.mark.xfail(run=False, reason=(
    "issue 12: after the partner-economics rebuild (issue 11: share of voice, lever effects in published "
    "ranges) the one-round optimum on curves estimated one cell at a time no longer beats the equal split "
    "detectably: +26.9 M/yr [-10.6, +64.4] (8 paired validation replications, seed 1). The joint estimation "
    "over three rounds does (+76.7 M/yr [+67.0, +86.5] over the equal split, seed 0; docs/OPTIMISE.md), but "
    "the issue's criteria (16 fresh seeds, two estimation seeds within 2 %) are not met yet and the run takes "
    "about 7 minutes; not run, to keep the suite's time."))
def test_optimised_beats_the_equal_split_on_the_baseline():
    sc = load_scenario("baseline")
    # the current spend of the cells, on the estimation seeds (the same runs the optimiser calls "current")
    base = simulate_many([Task(sc, sim.seed_sequence(SEED, ESTIMATION_KEY, 0, r)) for r in range(REPLICATIONS)],
                         workers=WORKERS)
    budget = float(np.mean([sum(o.per_year(spend_column(t, lv)) for t, lv in CELLS) for o in base]))

    res = optimise(sc, CELLS, budget, rounds=1, radius=None, multipliers=LEVELS, replications=REPLICATIONS,
                   validation_replications=VALIDATION_REPLICATIONS, seed=SEED, workers=WORKERS, tier_order="lever")

    assert res.allocation.status == "optimal"
    assert res.allocation.total_spend <= budget * (1 + 1e-9)
    assert sum(res.original_spends.values()) == pytest.approx(budget, rel=1e-9)
    val = res.validation.set_index("policy")
    assert {"current", "optimised", "equal_split"} <= set(val.index)
    assert (val["replications"] == VALIDATION_REPLICATIONS).all()

    # the paired 95 % CI of (optimised - equal split) net profit, recomputed from the validation runs
    per = res.validation_runs
    opt = per[per["policy"] == "optimised"].sort_values("rep")["net_profit"].to_numpy()
    eq = per[per["policy"] == "equal_split"].sort_values("rep")["net_profit"].to_numpy()
    mean, lo, hi = paired_ci(opt - eq)
    report = val[["net_profit", "diff_vs_current", "diff_ci_low", "diff_ci_high", "optimised_minus_policy",
                  "omp_ci_low", "omp_ci_high"]].to_string()
    assert (mean, lo, hi) == pytest.approx(
        tuple(val.loc["equal_split", ["optimised_minus_policy", "omp_ci_low", "omp_ci_high"]]))
    print(f"budget {budget:,.0f}/yr, {res.seconds:.0f} s\n{report}")
    assert lo > 0, f"optimised - equal split: {mean:,.0f} [{lo:,.0f}, {hi:,.0f}] per year\n{report}"
