"""Other tools drive the model: Mesa's ``batch_run`` unchanged (EMA Workbench: tests/test_experiments_ema.py)."""

from __future__ import annotations

import mesa
import numpy as np

import sim

TINY = {"market.n_accounts": 3000, "partners.n_initial": 40, "time.months": 4, "time.warmup_months": 2}


def test_mesa_batch_run_sweeps_a_dunder_override():
    base = sim.Scenario().with_overrides(TINY)
    horizon = base.time.warmup_months + base.time.months
    rows = mesa.batch_run(
        sim.ChannelModel,
        parameters={"scenario": [base], "incentives__mdf__scale": [0.5, 1.5], "conflict__fallback": "mediation"},
        rng=[1, 2],
        max_steps=horizon,
        number_processes=1,
        data_collection_period=-1,
        display_progress=False,
    )
    assert len(rows) == 4
    assert {r["incentives__mdf__scale"] for r in rows} == {0.5, 1.5}
    assert all(r["Step"] == horizon for r in rows)
    assert all(np.isfinite(r["revenue_total"]) for r in rows)
    # batch_run's model is sim.run's model: same seed, same last-month KPIs
    one = next(r for r in rows if r["incentives__mdf__scale"] == 1.5 and r["rng"] == 1)
    ref = sim.run(base.with_overrides({"incentives.mdf.scale": 1.5, "conflict.fallback": "mediation"}), 1)
    assert one["revenue_total"] == ref.kpis["revenue_total"].iloc[-1]
