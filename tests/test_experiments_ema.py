"""EMA Workbench 3 drives sim.run through ``experiments.ema.model`` (perform_experiments, SequentialEvaluator)."""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

import sim

with warnings.catch_warnings():  # "ipyparallel not installed": an evaluator these tests do not use
    warnings.simplefilter("ignore", UserWarning)
    ema_workbench = pytest.importorskip("ema_workbench", minversion="3")
from experiments import ema  # noqa: E402

TINY = {"market.n_accounts": 3000, "partners.n_initial": 40, "time.months": 4, "time.warmup_months": 2}

EMA_BASE = sim.Scenario().with_overrides(TINY)
UNCERTAINTIES = {"partners.n_initial": (20, 60), "incentives.mdf.scale": (0.5, 1.5),
                 "conflict.fallback": ["mediation", "price_contest"]}


def _perform(m, n, policies=0):
    return ema_workbench.perform_experiments(m, scenarios=n, policies=policies,
                                             evaluator=ema_workbench.SequentialEvaluator(m))


def _overrides(row):
    return {"partners.n_initial": int(row["partners__n_initial"]),
            "incentives.mdf.scale": float(row["incentives__mdf__scale"]),
            "conflict.fallback": str(row["conflict__fallback"]),
            "incentives.spiff.amount": float(row["incentives__spiff__amount"])}


def test_ema_model_parameters_and_outcomes():
    m = ema.model(EMA_BASE, UNCERTAINTIES, ["gross_profit", "active_partners_end"], name="tiny")
    assert isinstance(m, ema_workbench.Model) and m.name == "tiny"
    kinds = {p.name: type(p).__name__ for p in m.uncertainties}
    assert kinds == {"partners__n_initial": "IntegerParameter", "incentives__mdf__scale": "RealParameter",
                     "conflict__fallback": "CategoricalParameter"}
    assert [o.name for o in m.outcomes] == ["gross_profit", "active_partners_end"]
    # picklable, as EMA's MultiprocessingEvaluator needs: the copy computes the same outcomes
    params = {"partners__n_initial": 30, "incentives__mdf__scale": 1.2, "conflict__fallback": "mediation"}
    assert pickle.loads(pickle.dumps(m)).function(**params) == m.function(**params)
    # every headline KPI when outcomes are not given
    assert [o.name for o in ema.model(EMA_BASE, UNCERTAINTIES).outcomes] == ema.outcome_names(EMA_BASE)


def test_ema_perform_experiments_equals_sim_run():
    m = ema.model(EMA_BASE, UNCERTAINTIES, ["gross_profit", "active_partners_end"], seed=7,
                  levers={"incentives.spiff.amount": (0, 2000)})
    assert [type(p).__name__ for p in m.levers] == ["RealParameter"]  # a float field: a real range from ints
    experiments, outcomes = _perform(m, 2, policies=2)  # 2 scenarios x 2 policies
    assert len(experiments) == 4 and outcomes["gross_profit"].shape == (4,)
    for i, row in experiments.iterrows():
        # the scenario and seed built here, independently of the adapter: common random numbers,
        # replication 0 of seed 7 (experiments.seeds with streams: common)
        ref = sim.run(EMA_BASE.with_overrides(_overrides(row)), sim.seed_sequence(7, 0)).summary()
        assert outcomes["gross_profit"][i] == ref["gross_profit"]
        assert outcomes["active_partners_end"][i] == ref["active_partners_end"]
        assert ema.reproduce(m, experiments, i).summary()["gross_profit"] == ref["gross_profit"]
    # the sampled values reach the model: the initial partners drive the partner count
    assert len(set(outcomes["active_partners_end"])) > 1


def test_ema_statistics_and_replications():
    m = ema.model(EMA_BASE, {"partners.n_initial": (20, 60)}, ["revenue_total", "win_rate"],
                  statistic="final", replications=2, seed=3)
    assert isinstance(m, ema_workbench.ReplicatorModel)
    experiments, outcomes = _perform(m, 2)
    for i, row in experiments.iterrows():
        sc = EMA_BASE.with_overrides({"partners.n_initial": int(row["partners__n_initial"])})
        finals = [sim.run(sc, sim.seed_sequence(3, r)).kpis.iloc[-1] for r in range(2)]
        # the outcome is the mean over the replications of the last reported month
        assert outcomes["revenue_total"][i] == pytest.approx(np.mean([f["revenue_total"] for f in finals]),
                                                             rel=1e-12)
        assert outcomes["win_rate"][i] == pytest.approx(np.mean([f["win_rate"] for f in finals]), rel=1e-12)
    kpis = sim.run(EMA_BASE, 0).kpis
    assert ema.reduce_kpis(kpis, ["win_rate"], "mean") == {"win_rate": float(kpis["win_rate"].mean())}


def test_ema_independent_streams_key_on_the_point():
    fn = ema.model(EMA_BASE, {"incentives.mdf.scale": (0.5, 1.5)}, ["gross_profit"], streams="independent",
                   seed=5).function
    a, b = {"incentives__mdf__scale": 0.75}, {"incentives__mdf__scale": 1.25}
    ka, kb = fn.seed_sequence(a), fn.seed_sequence(b)
    assert ka.spawn_key == (ema.point_key(a), 0) and kb.spawn_key == (ema.point_key(b), 0) and ka.entropy == 5
    assert ka.spawn_key != kb.spawn_key
    assert ema.point_key({"x": np.float64(0.75), "y": 1}) == ema.point_key({"y": 1, "x": 0.75})  # order, numpy types
    common = ema.model(EMA_BASE, {"incentives.mdf.scale": (0.5, 1.5)}, ["gross_profit"], seed=5).function
    assert common.seed_sequence(a).spawn_key == common.seed_sequence(b).spawn_key == (0,)


@pytest.mark.parametrize("uncertainties, words", [
    ({"incentives.mdf.scael": (0.5, 1.5)}, ["incentives.mdf.scael", "no field 'scael'", "allowed:", "scale"]),
    ({"incentives.mdf": (0.5, 1.5)}, ["incentives.mdf", "not a section", "scale"]),
    ({"partners.n_initial": (1.5, 30)}, ["partners.n_initial", "integer"]),
    ({"incentives.mdf.scale": (2.0, 1.0)}, ["incentives.mdf.scale", "low < high"]),
    ({"conflict.fallback": ["mediation", "coin_toss"]}, ["conflict.fallback", "coin_toss", "not accepted"]),
])
def test_ema_bad_uncertainty_is_a_clear_error(uncertainties, words):
    with pytest.raises(sim.ScenarioError) as err:
        ema.model(EMA_BASE, uncertainties, ["gross_profit"])
    text = str(err.value)
    assert text.startswith("experiments.ema.model: invalid EMA Workbench model")
    assert all(w in text for w in words), text


def test_ema_bad_outcome_is_a_clear_error():
    with pytest.raises(ema.ModelSpecError, match=r"gross_proft.*allowed: revenue_total"):
        ema.model(EMA_BASE, UNCERTAINTIES, ["gross_proft"])
    with pytest.raises(ema.ModelSpecError, match="statistic"):
        ema.model(EMA_BASE, UNCERTAINTIES, ["gross_profit"], statistic="median")
    with pytest.raises(ema.ModelSpecError, match="at most once"):
        ema.model(EMA_BASE, UNCERTAINTIES, ["gross_profit"], levers={"partners__n_initial": (1, 5)})


def test_ema_workbench_is_optional(monkeypatch):
    monkeypatch.setitem(sys.modules, "ema_workbench", None)  # import fails as if not installed
    with pytest.raises(ImportError, match=r"pip install 'ema_workbench>=3,<4'"):
        ema.model(EMA_BASE, UNCERTAINTIES)
    # importing the adapter does not import EMA Workbench
    code = "import sys, experiments.ema; print('ema_workbench' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False"
