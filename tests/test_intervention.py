"""Early intervention (sim/policies/intervention.py, experiments/intervention.py).

* disabled, the policy changes nothing: a run with ``partners.intervention`` disabled (whatever its other
  fields) is identical, frame for frame, to a run of the programme without the lever at all;
* enabled, it spends within its own budget and the incentive budget, on the partners its risk function ranks
  first (a custom callable is honoured), and never on partners that are not active;
* risk targeting reduces exits against no intervention and against random targeting at the same cost
  (paired replications with common random numbers);
* a bad configuration is refused with the field named.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_same_run, small
from typer.testing import CliRunner

import sim
from experiments.intervention import measure
from sim.policies import InterventionLever, Policies, default_levers, default_risk, risk_signals
from sim.policies.intervention import RULE_WEIGHTS

ON = {"partners.intervention.enabled": True}


def without_lever(sc: sim.Scenario) -> Policies:
    """The programme's levers without early intervention: the programme as it was before the lever existed."""
    return Policies(levers=[lv for lv in default_levers(sc) if not isinstance(lv, InterventionLever)])


@pytest.mark.parametrize("over", [
    {},
    {"incentives.budget": 400_000.0, "relationship.communication": 0.9, "partners.intervention.action": "contact",
     "partners.intervention.share": 0.5, "partners.intervention.targeting": "random"},
], ids=["small", "budget_relationship_random"])
def test_disabled_intervention_is_bit_identical_to_the_programme_without_it(over):
    sc = small(over)
    assert not sc.partners.intervention.enabled
    res = sim.run(sc, 3)
    assert_same_run(res, sim.run(sc, 3, policies=without_lever(sc)))
    assert (res.kpis["interventions"] == 0).all() and (res.kpis["spend_intervention"] == 0).all()
    assert (res.partners["interventions"] == 0).all()


def test_disabled_intervention_leaves_a_warm_started_what_if_unchanged():
    base = small()
    # (A what-if no lever reads: levers passed in Policies keep the scenario they were built with.)
    what_if = base.with_overrides({"direct.territory_coverage": 0.8, "partners.intervention.share": 0.3})
    assert_same_run(sim.run(what_if, 4, warmup=base), sim.run(what_if, 4, warmup=base, policies=without_lever(base)))


def test_spend_stays_within_the_intervention_budget_and_the_incentive_budget():
    cost = 400.0
    sc = small({**ON, "partners.intervention.share": 0.5, "partners.intervention.cost_per_partner": cost,
                "partners.intervention.budget": 12 * 2.5 * cost})  # pays for 2 partners a month, not 2.5
    k = sim.run(sc, 5).kpis
    assert (k["interventions"] == 2).all(), k["interventions"].tolist()
    np.testing.assert_allclose(k["spend_intervention"], 2 * cost)
    np.testing.assert_array_equal(k["spend_intervention"], k["intervention_spend"])
    # Under a tight incentive budget every lever, the intervention included, is rationed pro rata.
    tight = small({**ON, "incentives.budget": 300_000.0, "time.warmup_months": 0})
    kt = sim.run(tight, 5).kpis
    assert kt["spend_intervention"].sum() > 0
    spend = kt["incentive_spend"].to_numpy()
    for y in range(0, len(spend), 12):
        assert spend[y:y + 12].sum() <= 300_000.0 * (1 + 1e-9)
    full = kt["interventions"] * tight.partners.intervention.cost_per_partner
    assert (kt["spend_intervention"] <= full + 1e-6).all() and (kt["spend_intervention"] < full - 1e-6).any()


def test_a_custom_risk_function_chooses_whom_the_lever_spends_on():
    sc = small({**ON, "partners.intervention.partners_per_month": 3, "time.warmup_months": 0})
    calls = []

    def favourites(model):
        # Risk 1 for the three active partners with the highest ids, 0 for the others.
        t = model.partners
        score = np.zeros(t.n)
        score[np.flatnonzero(t.active)[-3:]] = 1.0
        calls.append(model.month)
        return score

    levers = [lv for lv in default_levers(sc) if not isinstance(lv, InterventionLever)]
    model = sim.ChannelModel(sc, rng=2, policies=Policies(levers=[*levers, InterventionLever(sc, risk=favourites)]))
    for _ in range(6):
        active_before = np.flatnonzero(model.partners.active)
        model.step()
        paid = model.paid_by_lever["intervention"]
        expected = active_before[-3:]  # the lever runs after recruitment, whose recruits are still onboarding
        np.testing.assert_array_equal(np.flatnonzero(paid), expected)
        np.testing.assert_allclose(paid[expected], sc.partners.intervention.cost_per_partner)
    assert calls == list(range(6))
    t = model.partners
    assert t.interventions.sum() == 18 and np.all(t.interventions[t.lifecycle == 1] == 0)  # none while onboarding


def test_risk_function_results_are_checked():
    sc = small({**ON, "time.warmup_months": 0})
    for bad, msg in ((lambda m: np.zeros(3), "one score per partner slot"),
                     (lambda m: np.full(m.partners.n, 2.0), r"in \[0, 1\]"),
                     (lambda m: np.full(m.partners.n, np.nan), r"in \[0, 1\]")):
        lever = InterventionLever(sc, risk=bad)
        levers = [lv for lv in default_levers(sc) if not isinstance(lv, InterventionLever)]
        with pytest.raises(ValueError, match=msg):
            sim.run(sc, 1, months=1, policies=Policies(levers=[*levers, lever]))
    with pytest.raises(ValueError, match="targeting"):
        InterventionLever(sc, targeting="worst")


def test_default_rule_is_the_weighted_mean_of_its_signals_and_zero_for_inactive_partners():
    model = sim.ChannelModel(small(), rng=3)
    for _ in range(12):
        model.step()
    sig = risk_signals(model)
    score = default_risk(model)
    t = model.partners
    assert abs(sum(RULE_WEIGHTS.values()) - 1.0) < 1e-12
    assert all(np.all((s >= 0) & (s <= 1)) for s in sig.values())
    manual = sum(RULE_WEIGHTS[k] * sig[k] for k in RULE_WEIGHTS)
    np.testing.assert_allclose(score[t.active], manual[t.active])
    assert np.all(score[~t.active] == 0) and (~t.active).any()
    # A partner idle for a year that loses money on the line scores at least idle + loss weights.
    assert np.all(score[t.active & (sig["idle"] == 1) & (sig["loss"] == 1)] >= 0.65 - 1e-12)


def test_random_targeting_draws_from_the_run_and_is_reproducible():
    sc = small({**ON, "partners.intervention.targeting": "random"})
    a, b = sim.run(sc, 8), sim.run(sc, 8)
    assert_same_run(a, b)
    c = sim.run(sc, 9)
    assert not a.partners[["partner_id", "interventions"]].equals(c.partners[["partner_id", "interventions"]])


def test_support_and_contact_move_their_mechanisms():
    for action, moved in (("support", "extra_support"), ("contact", "extra_communication")):
        sc = small({**ON, "partners.intervention.action": action, "time.warmup_months": 0})
        model = sim.ChannelModel(sc, rng=1)
        model.step()
        t = model.partners
        got = model.paid_by_lever["intervention"] > 0
        assert got.any() and np.all(getattr(t, moved)[got] > 0) and np.all(getattr(t, moved)[~got] == 0), action


def test_risk_targeting_reduces_exits_and_beats_random_targeting_at_equal_cost():
    # Six paired replications of the small scenario (fixed experiment seed), three arms each from one shared
    # warm-up (common random numbers). The claim is that the 95 % paired t-interval of each difference lies
    # below zero: with 5 degrees of freedom that needs the mean difference to exceed 2.57 standard errors, so
    # it fails if targeting on risk does no better than the control. On these seeds the differences are
    # -7.7 exits (none: 11.5; standard error 0.84) and -3.5 against random (standard error 0.67), 9 and 5
    # standard errors from zero; the scale-0.2 baseline gives the same signs (docs/MODEL.md).
    eff = measure(small(), 6, seed=11)
    vs_none = eff.difference("risk", "none", "partners_exited")
    vs_random = eff.difference("risk", "random", "partners_exited")
    assert vs_none.high < 0, vs_none
    assert vs_random.high < 0, vs_random
    # At equal cost: the same number of partners a month (round(share x n_initial)) at the same price.
    assert eff.settings["partners_per_month"] == round(0.1 * 60)
    spend = eff.totals.pivot(index="replication", columns="arm", values="intervention_spend")
    assert (spend["none"] == 0).all() and (spend["risk"] == spend["random"]).all() and (spend["risk"] > 0).all()
    assert eff.exits_avoided().mean == pytest.approx(-vs_none.mean)
    assert eff.arm("risk")["partners_exited_targeted"].sum() > 0


@pytest.mark.parametrize("over, field", [
    ({"partners.intervention.action": "phone"}, "partners.intervention.action"),
    ({"partners.intervention.share": 1.5}, "partners.intervention.share"),
    ({"partners.intervention.targeting": "worst"}, "partners.intervention.targeting"),
    ({**ON, "partners.intervention.cost_per_partner": 0}, "cost_per_partner must be positive"),
    ({**ON, "partners.intervention.share": 0}, "targets nobody"),
])
def test_bad_configuration_is_refused_with_the_field_named(over, field):
    with pytest.raises(sim.ScenarioError, match=field.replace(".", r"\.")):
        small(over)


def test_cli_refuses_a_bad_intervention_file_with_exit_code_2(tmp_path):
    from channelsim import cli

    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: baseline\nname: bad\npartners:\n  intervention:\n    enabled: true\n    action: phone\n")
    res = CliRunner().invoke(cli.app, ["run", str(bad), "--replications", "1", "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and "Traceback" not in res.stderr
    assert "partners.intervention.action" in res.stderr and "'mdf', 'support' or 'contact'" in res.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("action", ["mdf", "support", "contact"])
@pytest.mark.parametrize("targeting", ["risk", "random"])
def test_enabled_lever_meets_the_lever_contract(action, targeting):
    # The contract battery (test_policies_contract.py) runs the lever as the baseline has it, disabled; this is
    # the same battery on an enabled lever, for every action and targeting.
    from test_policies_contract import SCENARIO, changed, snapshot

    from sim.partners import EXITED, ONBOARDING
    from sim.policies.levers import LeverEvent

    sc = SCENARIO.with_overrides({**ON, "partners.intervention.action": action,
                                  "partners.intervention.targeting": targeting, "partners.intervention.share": 0.3})

    def stepped():
        model = sim.ChannelModel(sc, rng=4)
        for _ in range(20):
            model.step()
        return model

    model = stepped()
    t = model.partners
    lever = InterventionLever(model.config)
    before = snapshot(model)
    req = np.asarray(lever.request(model, LeverEvent("month", model.month, np.random.default_rng(1))))
    assert req.shape == (t.n,) and np.all(np.isfinite(req)) and np.all(req >= 0)
    assert (t.lifecycle == EXITED).any() and (t.lifecycle == ONBOARDING).any()
    assert np.all(req[~t.active] == 0) and np.count_nonzero(req) == round(0.3 * t.active.sum())
    assert changed(before, snapshot(model)) == set()  # asking changes nothing
    again = lever.request(model, LeverEvent("month", model.month, np.random.default_rng(1)))
    np.testing.assert_array_equal(req, again)  # the same state and generator give the same answer

    event = LeverEvent("month", model.month, np.random.default_rng(7))
    lever.apply(model, event, np.zeros(t.n))
    assert changed(before, snapshot(model)) == set() and "mdf_leads" not in event.extra  # nothing paid: no effect
    lever.apply(model, event, req)
    moved = {k.removeprefix("partners.") for k in changed(before, snapshot(model))}
    mechanism = {"mdf": set(), "support": {"cap", "cap0", "extra_support"}, "contact": {"extra_communication"}}
    assert moved == {"interventions"} | mechanism[action], moved
    if action == "mdf":
        assert np.all(event.extra["mdf_leads"][req == 0] == 0) and event.extra["mdf_leads"].sum() > 0


def test_default_rule_ranks_the_partners_that_exit_above_those_that_stay():
    from experiments.intervention import rule_diagnostics

    # Two runs of the small scenario, about 2,000 partner-months with some 100 exits within six months. With
    # that many positives an AUC has a standard error near 0.03 (Hanley & McNeil 1982; partner-months of one
    # partner are correlated, so say twice that): the rule's 0.88 on these seeds is far above the 0.7 asked,
    # and above satisfaction alone (0.77), which ignores months without a deal and the line's profit.
    d = rule_diagnostics(small(), runs=2)
    assert d["auc_rule"] > 0.7 and d["auc_rule"] > d["auc_satisfaction"], d
    assert d["top_rate"] > 2 * d["rest_rate"], d
    assert abs(d["share_satisfaction"] + d["share_drop"] + d["share_inactive"] - 1) < 1e-9
