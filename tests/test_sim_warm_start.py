"""A warm start (``sim.warm_up``) gives exactly the runs it stands for, and refuses what it cannot stand for."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_same_run as same
from conftest import small

import sim


@pytest.fixture(scope="module")
def base() -> sim.Scenario:
    return small({"time.warmup_months": 12, "time.months": 12})


@pytest.mark.parametrize("changes", [
    {"incentives.rebate.scale": 1.75},
    {"incentives.budget": 0.0},
    {"direct.territory_coverage": 0.8, "conflict.fallback": "mediation"},
])
def test_a_run_from_a_warm_start_equals_the_run_that_simulates_its_warm_up(base, changes):
    what_if = base.with_overrides(changes)
    ws = sim.warm_up(base, 3)
    same(sim.run(what_if, 3, warmup=ws), sim.run(what_if, 3, warmup=base))


def test_the_control_from_a_warm_start_equals_the_plain_run_and_the_warm_start_is_not_changed(base):
    ws = sim.warm_up(base, 7)
    first = sim.run(base, 7, warmup=ws)
    same(first, sim.run(base, 7))
    sim.run(base.with_overrides({"incentives.mdf.scale": 2.0}), 7, warmup=ws)  # a what-if in between
    same(sim.run(base, 7, warmup=ws), first)


def test_seed_sequences_and_months_are_honoured(base):
    seed = sim.seed_sequence(11, 2, 5)
    ws = sim.warm_up(base, seed, months=6)
    what_if = base.with_overrides({"incentives.mdf.scale": 1.5})
    res = sim.run(what_if, sim.seed_sequence(11, 2, 5), months=6, warmup=ws)
    assert len(res.kpis) == 6
    same(res, sim.run(what_if, sim.seed_sequence(11, 2, 5), months=6, warmup=base))


def test_what_a_warm_start_cannot_stand_for_is_refused(base):
    ws = sim.warm_up(base, 3)
    with pytest.raises(ValueError, match="same seed"):
        sim.run(base, 4, warmup=ws)
    with pytest.raises(ValueError, match="same seed"):
        sim.run(base, sim.seed_sequence(3), warmup=ws)
    with pytest.raises(TypeError, match="SeedSequence"):
        sim.run(base, np.random.default_rng(3), warmup=ws)
    with pytest.raises(TypeError, match="SeedSequence"):
        sim.warm_up(base, np.random.default_rng(3))
    with pytest.raises(sim.ScenarioError, match="market.n_accounts"):
        sim.run(base.with_overrides({"market.n_accounts": 4000}), 3, warmup=ws)
    with pytest.raises(ValueError, match="sim.warm_up"):
        sim.run(base, 3, warmup=ws, policies=sim.Policies())
    assert "month 12 of 24" in repr(ws)
