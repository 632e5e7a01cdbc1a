"""Determinism: a run is a function of (scenario, seed), whatever the seed's form or the entry point."""

from __future__ import annotations

import multiprocessing
import random

import mesa
import numpy as np
import pandas as pd
import pytest
from conftest import assert_same_run, small

import sim
from sim.run import collect


@pytest.fixture(scope="module")
def scenario() -> sim.Scenario:
    return small({"time.months": 18})


@pytest.fixture(scope="module")
def run_a(scenario) -> sim.RunResult:
    return sim.run(scenario, 7)


def test_same_seed_same_frames(scenario, run_a):
    again = sim.run(scenario, 7)
    assert_same_run(run_a, again)
    # The frames are not trivially empty: the equality above compares real output.
    assert len(run_a.kpis) == 18 and len(run_a.partners) > 0 and len(run_a.conflicts) > 0
    assert len(run_a.migrations) > 0


def test_different_seed_different_frames(scenario, run_a):
    other = sim.run(scenario, 8)
    for name in ("kpis", "partners", "conflicts"):
        with pytest.raises(AssertionError):
            pd.testing.assert_frame_equal(getattr(run_a, name), getattr(other, name), obj=name)
    # Not only the frames but the headline numbers differ.
    assert run_a.kpis["revenue_total"].sum() != other.kpis["revenue_total"].sum()


def test_seed_sequence_and_generator(scenario, run_a):
    ss = sim.seed_sequence(7)
    # An int seed is shorthand for the SeedSequence keyed by that seed alone.
    assert_same_run(run_a, sim.run(scenario, ss))
    assert_same_run(run_a, sim.run(scenario, np.random.SeedSequence(7)))
    assert_same_run(run_a, sim.run(scenario, sim.make_rng(7)))
    # Experiments key streams by (seed, design point, replication): each key its own stream.
    keyed = sim.run(scenario, sim.seed_sequence(7, 0, 1))
    assert_same_run(keyed, sim.run(scenario, sim.seed_sequence(7, 0, 1)))
    assert not keyed.kpis.equals(run_a.kpis)
    assert not keyed.kpis.equals(sim.run(scenario, sim.seed_sequence(7, 0, 2)).kpis)


def test_numpy_integer_seed(scenario, run_a):
    assert_same_run(run_a, sim.run(scenario, np.int64(7)))


def test_dunder_overrides_equal_with_overrides():
    base = small({"time.months": 12})
    over = {"incentives.rebate.scale": 2.0, "conflict.fallback": "mediation", "tiering.tiers.silver.discount": 0.16}
    via_scenario = sim.run(base.with_overrides(over), 3)
    model = sim.ChannelModel(
        base, rng=3, incentives__rebate__scale=2.0, conflict__fallback="mediation",
        tiering__tiers__silver__discount=0.16,
    )
    assert model.config == base.with_overrides(over)
    model.run()
    assert_same_run(via_scenario, collect(model))
    # And the overrides did something: the run differs from the base scenario's.
    assert not via_scenario.kpis.equals(sim.run(base, 3).kpis)


def test_channel_model_from_nothing_is_the_baseline():
    model = sim.ChannelModel(rng=1)
    assert model.config == sim.Scenario()
    assert model.seed == 1


def test_stepping_equals_run(scenario, run_a):
    model = sim.ChannelModel(scenario, rng=7)
    while model.running:
        model.step()
    assert model.month == scenario.time.warmup_months + scenario.time.months
    assert_same_run(run_a, collect(model))


def test_interleaved_models_do_not_share_state(scenario, run_a):
    # Two models stepped alternately give what each gives alone: no shared or global random state.
    a = sim.ChannelModel(scenario, rng=7)
    b = sim.ChannelModel(scenario.with_overrides({"incentives.rebate.scale": 3.0}), rng=99)
    while a.running or b.running:
        for m in (a, b):
            if m.running:
                m.step()
    assert_same_run(run_a, collect(a))
    assert_same_run(sim.run(scenario.with_overrides({"incentives.rebate.scale": 3.0}), 99), collect(b))


def test_no_global_randomness(scenario):
    np.random.seed(123)
    random.seed(123)
    np_state = np.random.get_state()[1].copy()
    py_state = random.getstate()
    first = sim.run(scenario, 5)
    assert np.array_equal(np.random.get_state()[1], np_state), "the run drew from numpy's global generator"
    assert random.getstate() == py_state, "the run drew from Python's global random"
    # Disturbing the global generators does not change the run.
    np.random.seed(1)
    random.seed(1)
    np.random.random(1000)
    assert_same_run(first, sim.run(scenario, 5))


def test_scenario_is_not_mutated(scenario):
    dump = scenario.model_dump()
    sim.run(scenario, 2)
    assert scenario.model_dump() == dump


@pytest.fixture
def restore_start_method():
    # mesa.batch_run forces the "spawn" start method on every call (a process-wide side
    # effect); put back whatever was there so other tests are not affected.
    before = multiprocessing.get_start_method(allow_none=True)
    yield
    multiprocessing.set_start_method(before, force=True)


def test_mesa_batch_run(restore_start_method):
    base = small({"time.warmup_months": 2, "time.months": 6})
    horizon = base.time.warmup_months + base.time.months
    results = mesa.batch_run(
        sim.ChannelModel,
        parameters={"scenario": [base], "incentives__rebate__scale": [1.0, 2.0]},
        number_processes=1,
        rng=[11, 12],
        max_steps=100,
        data_collection_period=-1,
        display_progress=False,
    )
    df = pd.DataFrame(results)
    assert len(df) == 4  # two parameter values x two seeds, one row each (the last step)
    for col in ("revenue_total", "gross_profit", "active_partners", "conflicts_horizontal", "customers_active"):
        assert col in df.columns
        assert df[col].notna().all()
    assert set(df["incentives__rebate__scale"]) == {1.0, 2.0}
    assert set(df["rng"]) == {11, 12}
    # The model stopped itself at its horizon, well before max_steps.
    assert (df["Step"] == horizon).all()
    # batch_run's rows are the same numbers as a plain run with that seed and override.
    for _, row in df.iterrows():
        scale = row["incentives__rebate__scale"]
        res = sim.run(base.with_overrides({"incentives.rebate.scale": scale}), int(row["rng"]))
        last = res.kpis.iloc[-1]
        for col in ("revenue_total", "gross_profit", "active_partners", "customers_active"):
            assert row[col] == last[col]


def test_mesa_batch_run_every_step(restore_start_method):
    base = small({"time.warmup_months": 0, "time.months": 5})
    results = mesa.batch_run(
        sim.ChannelModel,
        # A pydantic Scenario is iterable (over its fields), so batch_run needs it inside a list.
        parameters={"scenario": [base], "conflict__fallback": ["price_contest", "mediation"]},
        number_processes=1,
        rng=[3],
        max_steps=100,
        data_collection_period=1,
        display_progress=False,
    )
    df = pd.DataFrame(results)
    assert len(df) == 2 * 5
    ref = sim.run(base.with_overrides({"conflict.fallback": "mediation"}), 3).kpis
    got = df[df["conflict__fallback"] == "mediation"].sort_values("Step")
    np.testing.assert_array_equal(got["revenue_total"].to_numpy(), ref["revenue_total"].to_numpy())
