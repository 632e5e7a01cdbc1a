"""``experiments.replicate``: the package's one way to replicate, summarise and compare a scenario."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import small

import sim
from experiments import IncomparableError, replicate
from experiments.stats import mean_ci, replication_headlines

TINY = {"time.warmup_months": 2, "time.months": 4}


@pytest.fixture(scope="module")
def base():
    return replicate(small(TINY), 3, seed=4)


def test_replications_equal_the_runs_they_stand_for(base):
    # Replication r is sim.run(scenario, sim.seed_sequence(seed, r)), frame by frame.
    for r in range(3):
        res = sim.run(small(TINY), sim.seed_sequence(4, r))
        got = base.kpis[base.kpis.replication == r].drop(columns="replication").reset_index(drop=True)
        pd.testing.assert_frame_equal(got, res.kpis)
    assert base.n == 3 and list(base.kpis.columns[:2]) == ["replication", "month"]


def test_results_do_not_depend_on_the_number_of_workers(base):
    par = replicate(small(TINY), 3, seed=4, workers=2)
    for name in ("kpis", "partners", "conflicts", "migrations"):
        pd.testing.assert_frame_equal(getattr(base, name), getattr(par, name))


def test_explicit_seeds_run_those_seeds():
    rep = replicate(small(TINY), seeds=[7, 9])
    assert rep.seeds == (7, 9) and rep.seed is None
    k9 = rep.kpis[rep.kpis.replication == 1].drop(columns="replication").reset_index(drop=True)
    pd.testing.assert_frame_equal(k9, sim.run(small(TINY), 9).kpis)


def test_summary_is_the_t_interval_of_the_headlines(base):
    s = base.summary()
    h = replication_headlines(base.kpis)
    iv = mean_ci(h["gross_profit"])
    assert s.loc["gross_profit", "mean"] == pytest.approx(iv.mean)
    assert (s.loc["gross_profit", "ci_low"], s.loc["gross_profit", "ci_high"]) == pytest.approx((iv.low, iv.high))
    assert s.loc["gross_profit", "n"] == 3 and (s["n"] <= 3).all()


def test_compare_pairs_common_seeds_and_flags_what_changed(base):
    alt = replicate(small({**TINY, "incentives.budget": 0}), 3, seed=4, label="no budget")
    cmp = base.compare(alt)
    assert cmp.paired and "paired" in cmp.method and (cmp.a, cmp.b) == ("baseline", "no budget")
    d = replication_headlines(alt.kpis)["incentive_spend"] - replication_headlines(base.kpis)["incentive_spend"]
    assert cmp.table.loc["incentive_spend", "diff"] == pytest.approx(d.mean())
    # No budget removes the spend in every replication: the paired interval excludes zero.
    assert cmp.table.loc["incentive_spend", "diff"] < 0 and cmp.table.loc["incentive_spend", "significant"]
    assert not cmp.warnings
    other_seed = replicate(small({**TINY, "incentives.budget": 0}), 3, seed=5, label="no budget")
    welch = base.compare(other_seed)
    assert not welch.paired and "Welch" in welch.method


def test_compare_refuses_runs_of_different_scale_unless_asked(base):
    longer = replicate(small({**TINY, "time.months": 5}), 2, seed=4, frames=("kpis",))
    with pytest.raises(IncomparableError, match="time.months: 4 in 'baseline', 5 in 'baseline'"):
        base.compare(longer)
    cmp = base.compare(longer, allow_mismatch=True)
    assert any("differ in time.months" in w for w in cmp.warnings)
    assert any("both runs are labelled" in w for w in cmp.warnings)


def test_one_replication_gives_no_interval_and_says_so():
    one = replicate(small(TINY), 1, seed=4, frames=("kpis",))
    cmp = one.compare(replicate(small(TINY), 1, seed=5, frames=("kpis",), label="other"))
    assert "one replication" in cmp.method and not cmp.table["significant"].any()
    assert np.allclose(cmp.table["ci_low"].dropna(), cmp.table["diff"].dropna())


@pytest.mark.parametrize("kwargs, match", [
    ({"replications": 0}, "replications 0"),
    ({"replications": 2, "seeds": [1, 2]}, "not both"),
    ({"seeds": [-1]}, "non-negative"),
    ({"replications": 2, "frames": ("kpis", "deals")}, "frames"),
])
def test_bad_arguments_get_a_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        replicate(small(TINY), **kwargs)


def test_policies_that_cannot_reach_workers_are_refused_before_running():
    from sim.policies import Policies, ThresholdTiering

    class LocalTiering(ThresholdTiering):  # defined in a function, as in a notebook: cannot be pickled
        pass

    pol = Policies(tiering=LocalTiering(small(TINY)))
    with pytest.raises(ValueError, match="not picklable"):
        replicate(small(TINY), 2, policies=pol, workers=2)
    assert replicate(small(TINY), 1, policies=pol, frames=("kpis",)).n == 1  # in this process it runs


def test_progress_is_called_once_per_replication():
    calls = []
    replicate(small(TINY), 2, seed=1, frames=("kpis",), progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 2), (2, 2)]


def test_a_failing_replication_raises_its_own_error_naming_it():
    from sim.policies import Policies, ThresholdTiering

    class Broken(ThresholdTiering):
        def review(self, model):
            raise OverflowError("tier review out of range")

    with pytest.raises(OverflowError, match="tier review out of range") as info:
        replicate(small(TINY), 2, policies=Policies(tiering=Broken(small(TINY))), frames=("kpis",))
    assert any("in replication 0" in n for n in info.value.__notes__)
