"""One contract battery for every shipped policy, and researcher policies plugged in.

Like scikit-learn's ``check_estimator``: each lever, tiering policy, protection
and fallback in ``sim.policies`` is run through the same checks on a model in
a realistic state (tiers earned, MDF funds accrued, partners onboarding, on
improvement plans and exited):

* levers: ``name`` is a ledger line and ``phase`` one the model asks; requests
  and expected rates are finite, non-negative float arrays of the right shape;
  no money requested for exited partners; the same state and generator give the
  same answer; ``request`` and ``expected_rate`` change nothing; ``apply``
  changes only the partner state its mechanism names, and nothing when nothing
  is paid;
* tiering: valid tier indices for every partner, deterministic, changes no
  state but its own grace counter;
* protections: a boolean row mask, deterministic, never withdraws the last
  pursuer of an opportunity, leaves the batch's rows and the model alone;
* fallbacks: per-opportunity arrays, a live winner for every open conflict and
  nothing outside them, shares and costs in range, deterministic.
"""

from __future__ import annotations

import copy
import inspect

import numpy as np
import pytest
from conftest import small

import sim
from sim import policies as P
from sim.customers import CUSTOMER
from sim.ledger import SPEND_LINES
from sim.market import build_pursuit
from sim.partners import EXITED, IMPROVEMENT, ONBOARDING
from sim.policies.levers import DealBatch, LeverEvent, default_levers

PHASES = ("month", "deals", "month_end", "review")
LEVERS = [c for _, c in inspect.getmembers(P, inspect.isclass) if issubclass(c, P.Lever) and c is not P.Lever]
TIERINGS = [c for _, c in inspect.getmembers(P, inspect.isclass) if issubclass(c, P.TieringPolicy)]
PROTECTIONS = [
    c for _, c in inspect.getmembers(P, inspect.isclass) if issubclass(c, P.Protection) and c is not P.Protection
]
FALLBACKS = [c for _, c in inspect.getmembers(P, inspect.isclass) if issubclass(c, P.Fallback) and c is not P.Fallback]

# Partner state each lever's mechanism may change in ``apply`` (levers.py module docstring).
MAY_CHANGE = {
    "MDFLever": {"mdf_fund"},
    "TrainingLever": {"train_pipe", "train_accum", "cert_expiry"},
    "RecognitionLever": {"recognition"},
    "ImprovementLever": {"cap", "cap0"},  # capability; a lift to marketing (not trained) stays in its own level
    # months targeted; support: capability and support level; contact: communication (leads go to event.extra)
    "InterventionLever": {"interventions", "cap", "cap0", "extra_support", "extra_communication"},
}

SCENARIO = small({
    "time.warmup_months": 0,
    "time.months": 36,
    "partners.recruitment.sources.events.rate": 0.5, "partners.recruitment.sources.directories.rate": 0.5,
    "partners.lifecycle.exit_hazard": 0.02,
    "tiering.review_every_months": 3,
    "partners.improvement.threshold": 0.5,
})


def test_the_battery_sees_every_shipped_policy():
    # A policy added to sim.policies without being exported would escape the battery.
    assert {c.__name__ for c in LEVERS} == {type(lv).__name__ for lv in default_levers(SCENARIO)}
    assert {"ThresholdTiering", "TieringPolicy"} <= {c.__name__ for c in TIERINGS}
    assert {c.name for c in PROTECTIONS} == set(P.PROTECTIONS) == {"rules_of_engagement", "territory_exclusivity",
                                                                    "deal_registration"}
    assert {c.name for c in FALLBACKS} == set(P.FALLBACKS) == {"price_contest", "mediation"}


def stepped(months: int = 20, seed: int = 4) -> sim.ChannelModel:
    """A model in a lived-in state; rebuilt each time (deterministic) so tests cannot leak state."""
    model = sim.ChannelModel(SCENARIO, rng=seed)
    for _ in range(months):
        model.step()
    return model


@pytest.fixture(scope="module")
def state_summary():
    m = stepped()
    t = m.partners
    return {
        "tiers": np.bincount(t.tier[t.active], minlength=4),
        "onboarding": int((t.lifecycle == ONBOARDING).sum()),
        "improvement": int((t.lifecycle == IMPROVEMENT).sum()),
        "exited": int((t.lifecycle == EXITED).sum()),
        "mdf_fund": float(t.mdf_fund.sum()),
    }


def test_contract_state_is_lived_in(state_summary):
    # The battery is only as good as the state it runs on: every case is present.
    s = state_summary
    assert (s["tiers"][1:] > 0).sum() >= 2, s
    assert s["onboarding"] > 0 and s["improvement"] > 0 and s["exited"] > 0, s
    assert s["mdf_fund"] > 0, s


def snapshot(model: sim.ChannelModel) -> dict[str, np.ndarray]:
    t = model.partners
    snap = {f"partners.{name}": getattr(t, name).copy() for name, _, _ in t._shapes()}
    cu = model.customers
    for name in ("state", "channel", "partner", "since", "entered", "satisfaction", "sourced", "adopted"):
        snap[f"customers.{name}"] = getattr(cu, name).copy()
    snap["ledger"] = copy.deepcopy(model.ledger.__dict__)
    snap["budget"] = (model.budget.allowance, model.budget.spent)
    snap["rng"] = model.rng.bit_generator.state
    return snap


def changed(a: dict, b: dict) -> set[str]:
    out = set()
    for k in a:
        if k == "ledger":
            if any(not np.array_equal(np.asarray(a[k][f], dtype=object), np.asarray(b[k][f], dtype=object))
                   if not isinstance(a[k][f], dict) else a[k][f].keys() != b[k][f].keys()
                   or any(not np.array_equal(a[k][f][x], b[k][f][x]) for x in a[k][f]) for f in a[k]):
                out.add(k)
        elif isinstance(a[k], np.ndarray):
            if not np.array_equal(a[k], b[k]):
                out.add(k)
        elif a[k] != b[k]:
            out.add(k)
    return out


def deals_for(model: sim.ChannelModel, k: int = 40) -> DealBatch:
    t = model.partners
    rng = np.random.default_rng(0)
    ids = rng.choice(np.flatnonzero(t.active), size=k)
    return DealBatch(partner=ids, value=rng.lognormal(9.5, 0.8, size=k), registered=rng.random(k) < 0.5,
                     new_customer=rng.random(k) < 0.6)


def event_for(model, lever, seed: int = 1) -> LeverEvent:
    deals = deals_for(model) if lever.phase == "deals" else None
    return LeverEvent(lever.phase, model.month, np.random.default_rng(seed), deals=deals)


# ---------------------------------------------------------------------------------- levers

@pytest.mark.parametrize("cls", LEVERS, ids=lambda c: c.__name__)
def test_lever_contract(cls):
    model = stepped()
    lever = cls(model.config)
    t = model.partners
    assert lever.name in SPEND_LINES, f"{cls.__name__}.name {lever.name!r} is not a ledger line"
    assert lever.phase in PHASES
    repr(lever)

    before = snapshot(model)
    rate = np.asarray(lever.expected_rate(model))
    assert rate.shape == (t.n,) and rate.dtype.kind in "fiu", rate.dtype
    assert np.all(np.isfinite(rate)) and np.all(rate >= 0)

    event = event_for(model, lever)
    req = np.asarray(lever.request(model, event))
    n_rows = event.deals.partner.size if lever.phase == "deals" else t.n
    assert req.shape == (n_rows,), f"request shape {req.shape}, expected {(n_rows,)}"
    assert req.dtype.kind in "fiu", req.dtype
    assert np.all(np.isfinite(req)) and np.all(req >= 0), "negative or non-finite request"
    if lever.phase != "deals":
        assert np.all(req[t.lifecycle == EXITED] == 0), "money requested for exited partners"
    # Asking changes nothing.
    assert changed(before, snapshot(model)) == set()

    # Deterministic: the same state and generator give the same request.
    again = np.asarray(lever.request(model, event_for(model, lever)))
    np.testing.assert_array_equal(req, again)


@pytest.mark.parametrize("cls", LEVERS, ids=lambda c: c.__name__)
def test_lever_apply_changes_only_its_mechanism(cls):
    model = stepped()
    lever = cls(model.config)
    event = event_for(model, lever)
    req = np.asarray(lever.request(model, event), dtype=float)
    before = snapshot(model)
    lever.apply(model, event, req)
    moved = {k.removeprefix("partners.") for k in changed(before, snapshot(model))}
    allowed = MAY_CHANGE.get(cls.__name__, set())
    assert moved <= allowed, f"{cls.__name__}.apply changed {sorted(moved - allowed)}"
    if allowed and req.sum() > 0:
        assert moved, f"{cls.__name__}.apply with {req.sum():.0f} paid had no effect"


@pytest.mark.parametrize("cls", LEVERS, ids=lambda c: c.__name__)
def test_lever_apply_nothing_paid_changes_nothing(cls):
    model = stepped()
    lever = cls(model.config)
    event = event_for(model, lever)
    req = np.asarray(lever.request(model, event), dtype=float)
    before = snapshot(model)
    lever.apply(model, event, np.zeros_like(req))
    assert changed(before, snapshot(model)) == set()


@pytest.mark.parametrize("cls", LEVERS, ids=lambda c: c.__name__)
def test_lever_apply_deterministic(cls):
    results = []
    for _ in range(2):
        model = stepped()
        lever = cls(model.config)
        event = event_for(model, lever, seed=7)
        lever.apply(model, event, np.asarray(lever.request(model, event), dtype=float))
        results.append((snapshot(model), {k: np.asarray(v) for k, v in event.extra.items()}))
    (a, ea), (b, eb) = results
    assert changed(a, b) == set()
    assert ea.keys() == eb.keys() and all(np.array_equal(ea[k], eb[k]) for k in ea)


def test_mdf_leads_rise_with_what_is_paid():
    leads = []
    for amount in (0.0, 2_000.0, 8_000.0):
        m = stepped()
        lever = P.MDFLever(m.config)
        ev = event_for(m, lever, seed=3)
        lever.apply(m, ev, np.where(m.partners.selling, amount, 0.0))
        leads.append(int(np.sum(ev.extra["mdf_leads"])))
    assert leads[0] == 0 and leads[0] <= leads[1] <= leads[2] and leads[2] > 0, leads


def test_mdf_claim_never_exceeds_the_fund():
    model = stepped()
    lever = P.MDFLever(model.config)
    req = lever.request(model, event_for(model, lever))
    assert np.all(req <= model.partners.mdf_fund.sum(axis=1) + 1e-9)


def test_training_gain_has_diminishing_returns():
    cfg = SCENARIO.incentives.training
    gains = []
    for spend in (0.0, 1_000.0, 2_000.0, 3_000.0):
        m = stepped()
        lever = P.TrainingLever(m.config)
        paid = np.full(m.partners.n, spend)
        before = m.partners.train_pipe.sum(axis=1).copy()
        lever.apply(m, event_for(m, lever), paid)
        gains.append(float((m.partners.train_pipe.sum(axis=1) - before).mean()))
    steps = np.diff(gains)
    assert gains[0] == 0 and np.all(steps > 0) and np.all(np.diff(steps) < 0), gains
    assert gains[-1] <= cfg.effect


# ---------------------------------------------------------------------------------- tiering

@pytest.mark.parametrize("cls", TIERINGS, ids=lambda c: c.__name__)
def test_tiering_contract(cls):
    model = stepped()
    policy = cls(model.config)
    repr(policy)
    before = snapshot(model)
    new = np.asarray(policy.review(model))
    assert new.shape == (model.partners.n,) and np.issubdtype(new.dtype, np.integer)
    assert np.all((new >= 0) & (new < len(model.config.tiering.tiers)))
    moved = {k.removeprefix("partners.") for k in changed(before, snapshot(model))}
    assert moved <= {"shortfall"}, f"{cls.__name__}.review changed {sorted(moved)}"
    # Deterministic (a fresh model in the same state gives the same tiers).
    m2 = stepped()
    np.testing.assert_array_equal(new, np.asarray(cls(m2.config).review(m2)))


def test_threshold_tiering_promotes_at_once_and_demotes_after_grace():
    model = stepped()
    policy = P.ThresholdTiering(model.config)
    t = model.partners
    current = t.tier.copy()
    shortfall = t.shortfall.copy()
    eligible = policy.eligible(model)
    new = policy.review(model)
    up = eligible > current
    np.testing.assert_array_equal(new[up], eligible[up])
    down = eligible < current
    grace = model.config.tiering.grace_reviews
    demoted = down & (shortfall + 1 > grace)
    np.testing.assert_array_equal(new[demoted], eligible[demoted])
    np.testing.assert_array_equal(new[down & ~demoted], current[down & ~demoted])
    np.testing.assert_array_equal(new[eligible == current], current[eligible == current])


# ---------------------------------------------------------------------------------- conflict

def pursuit(model: sim.ChannelModel, seed: int = 2, n: int = 300):
    """A month's pursuit over ``n`` accounts not yet customers (few enough for partners to overlap)."""
    cu = model.customers
    pool = np.flatnonzero(cu.state != CUSTOMER)
    opps = np.sort(np.random.default_rng(seed).choice(pool, size=min(n, pool.size), replace=False))
    return build_pursuit(model, opps, np.random.default_rng(seed))


def check_withdrawal(prot, model, batch) -> np.ndarray:
    """Call ``prot.withdraw`` and check the protection contract on the answer."""
    live_before = batch.live.copy()
    rows_before = (batch.opp.copy(), batch.kind.copy(), batch.partner.copy())
    before = snapshot(model)
    out = np.asarray(prot.withdraw(model, batch))
    assert out.shape == batch.kind.shape and out.dtype == bool
    np.testing.assert_array_equal(batch.live, live_before)  # the model, not the rule, applies the mask
    for x, y in zip(rows_before, (batch.opp, batch.kind, batch.partner), strict=True):
        np.testing.assert_array_equal(x, y)
    assert changed(before, snapshot(model)) == set()
    # Never leaves an opportunity without a pursuer.
    remaining = np.bincount(batch.opp[batch.live & ~out], minlength=batch.n_opps)
    had = np.bincount(batch.opp[batch.live], minlength=batch.n_opps)
    assert np.all(remaining[had > 0] >= 1), f"{type(prot).__name__} withdrew every pursuer of an opportunity"
    return out


class CheckedProtection(P.Protection):
    """Wraps a protection; checks the contract on every call the model makes during a run."""

    def __init__(self, inner):
        super().__init__(inner.scenario)
        self.inner = inner
        self.name = inner.name
        self.calls = 0
        self.withdrawn = 0

    def withdraw(self, model, batch):
        out = check_withdrawal(self.inner, model, batch)
        self.calls += 1
        self.withdrawn += int(out.sum())
        return out


@pytest.mark.parametrize("cls", PROTECTIONS, ids=lambda c: c.__name__)
def test_protection_contract(cls):
    model = stepped()
    prot = cls(model.config)
    repr(prot)
    out = check_withdrawal(prot, model, pursuit(model))
    # Deterministic: a fresh model in the same state and the same batch give the same answer.
    m2 = stepped()
    np.testing.assert_array_equal(out, prot.withdraw(m2, pursuit(m2)))


@pytest.mark.parametrize("cls", PROTECTIONS, ids=lambda c: c.__name__)
def test_protection_contract_holds_through_a_run(cls):
    sc = SCENARIO.with_overrides({"time.months": 18, "conflict.protections": [cls.name]})
    checked = CheckedProtection(cls(sc))
    res = sim.run(sc, 6, policies=sim.Policies(protections=[checked]))
    assert checked.calls >= sc.time.months
    # The rule acted, and the conflicts it settled carry its name.
    assert checked.withdrawn > 0, f"{cls.__name__} never withdrew a pursuer in {checked.calls} months"
    assert res.kpis[f"conflicts_resolved_{cls.name}"].sum() > 0


def check_settlement(fb, model, batch, open_opps, rng):
    """Call ``fb.settle`` and check the fallback contract on the settlement."""
    before = snapshot(model)
    s = fb.settle(model, batch, open_opps, rng)
    assert changed(before, snapshot(model)) == set()
    n = batch.n_opps
    for name in ("winner_row", "margin_lost_share", "cost", "lost"):
        assert np.asarray(getattr(s, name)).shape == (n,), name
    w = s.winner_row
    assert np.all(w[~open_opps] == -1)
    assert np.all(w[open_opps] >= 0), "an open conflict without a winner"
    assert np.all(batch.opp[w[open_opps]] == np.flatnonzero(open_opps)), "winner row of another opportunity"
    assert np.all(batch.live[w[open_opps]]), "a withdrawn pursuer won"
    assert np.all((s.margin_lost_share >= 0) & (s.margin_lost_share <= 1))
    assert np.all(s.margin_lost_share[~open_opps] == 0) and np.all(s.cost[~open_opps] == 0)
    assert np.all(s.cost >= 0) and not np.any(np.asarray(s.lost)[~open_opps])
    return s


@pytest.mark.parametrize("cls", FALLBACKS, ids=lambda c: c.__name__)
def test_fallback_contract(cls):
    model = stepped()
    fb = cls(model.config)
    repr(fb)
    batch = pursuit(model)
    open_opps = batch.live_count() >= 2
    assert open_opps.any()
    s = check_settlement(fb, model, batch, open_opps, np.random.default_rng(5))
    again = fb.settle(model, pursuit(model), open_opps, np.random.default_rng(5))
    for name in ("winner_row", "margin_lost_share", "cost", "lost"):
        np.testing.assert_array_equal(getattr(s, name), getattr(again, name))


class CheckedFallback(P.Fallback):
    """Wraps a fallback; checks the settlement on every call the model makes during a run."""

    def __init__(self, inner):
        super().__init__(inner.scenario)
        self.inner = inner
        self.name = inner.name
        self.settled = 0

    def settle(self, model, batch, open_opps, rng):
        s = check_settlement(self.inner, model, batch, open_opps, rng)
        self.settled += int(open_opps.sum())
        return s


@pytest.mark.parametrize("cls", FALLBACKS, ids=lambda c: c.__name__)
def test_fallback_contract_holds_through_a_run(cls):
    sc = SCENARIO.with_overrides({"time.months": 18, "conflict.fallback": cls.name, "conflict.protections": []})
    checked = CheckedFallback(cls(sc))
    res = sim.run(sc, 6, policies=sim.Policies(fallback=checked))
    assert checked.settled > 0
    assert res.kpis[f"conflicts_resolved_{cls.name}"].sum() > 0


# ---------------------------------------------------------------------------------- plug-ins

class EntryTierOnly(P.TieringPolicy):
    """A researcher's tiering policy: everyone stays in the entry tier."""

    def review(self, model):
        return np.zeros(model.partners.n, dtype=np.int8)


class LoyaltyBonus(P.Lever):
    """A researcher's pure-cost lever: a flat monthly bonus per active partner, no behaviour."""

    name = "loyalty_bonus"
    phase = "month"
    AMOUNT = 100.0

    def request(self, model, event):
        return np.where(model.partners.active, self.AMOUNT, 0.0)


class NoRebate(P.RebateLever):
    def request(self, model, event):
        return np.zeros(model.partners.n)

    def expected_rate(self, model):
        return np.zeros(model.partners.n)


PLUG_SCENARIO = small({"time.months": 18})


def test_custom_tiering_keeps_everyone_in_the_entry_tier():
    res = sim.run(PLUG_SCENARIO, 1, policies=sim.Policies(tiering=EntryTierOnly(PLUG_SCENARIO)))
    default = sim.run(PLUG_SCENARIO, 1)
    k = res.kpis
    assert (k["partners_tier_registered"] == k["active_partners"]).all()
    assert (res.partners["tier"] == "registered").all()
    assert len(res.migrations) == 0
    assert k["spend_rebate"].sum() == 0 and k["spend_spiff"].sum() == 0  # entry-tier benefits only
    assert len(default.migrations) > 0 and default.kpis["spend_rebate"].sum() > 0
    # Without tier benefits, the partners the default programme promotes give the vendor less
    # mindshare (same seed: the initial partners are the same partners in both runs).
    last = default.partners[default.partners["month"] == default.partners["month"].max()]
    promoted = last.loc[last["tier"] != "registered", "partner_id"]
    assert len(promoted) > 0

    def mindshare_of(frame):
        return frame[frame["partner_id"].isin(promoted)].groupby("partner_id")["mindshare"].mean()

    with_tiers, entry_only = mindshare_of(default.partners), mindshare_of(res.partners)
    common = with_tiers.index.intersection(entry_only.index)
    assert (with_tiers[common] - entry_only[common]).mean() > 0


def test_custom_lever_subclass_replaces_the_shipped_one():
    levers = [NoRebate(PLUG_SCENARIO) if isinstance(lv, P.RebateLever) else lv for lv in default_levers(PLUG_SCENARIO)]
    res = sim.run(PLUG_SCENARIO, 1, policies=sim.Policies(levers=levers))
    assert (res.kpis["spend_rebate"] == 0).all()
    assert sim.run(PLUG_SCENARIO, 1).kpis["spend_rebate"].sum() > 0


def test_custom_pure_cost_lever_costs_exactly_its_payments_and_changes_nothing_else():
    sc = PLUG_SCENARIO
    assert sc.partners.lifecycle.onboarding_months > 0
    levers = default_levers(sc) + [LoyaltyBonus(sc)]
    model = sim.ChannelModel(sc, rng=2, policies=sim.Policies(levers=levers))
    reference = sim.ChannelModel(sc, rng=2)
    while model.running:
        active = int(model.partners.active.sum())
        model.step()
        reference.step()
        # Paid at the start of the month to the active partners (recruits are still onboarding).
        bonus = model.ledger.spend.get("loyalty_bonus", 0.0)
        assert bonus == LoyaltyBonus.AMOUNT * active
        assert model.ledger.incentive_spend == pytest.approx(reference.ledger.incentive_spend + bonus, rel=1e-12)
        assert model.ledger.gross_profit == pytest.approx(reference.ledger.gross_profit - bonus, rel=1e-9, abs=1e-6)
        assert model.ledger.revenue_total == reference.ledger.revenue_total
    a = model.datacollector.get_model_vars_dataframe()
    b = reference.datacollector.get_model_vars_dataframe()
    money = ["gross_profit", "incentive_spend", "incentive_roi", "customer_lifetime_value", "operating_profit"]
    for col in a.columns:
        if col not in money:
            np.testing.assert_array_equal(a[col].to_numpy(), b[col].to_numpy(), err_msg=col)
    assert (a["incentive_spend"] > b["incentive_spend"]).all()


def test_custom_policies_with_a_budget_respect_it():
    sc = PLUG_SCENARIO.with_overrides({"incentives.budget": 50_000.0, "time.warmup_months": 0})
    levers = default_levers(sc) + [LoyaltyBonus(sc)]
    res = sim.run(sc, 3, policies=sim.Policies(levers=levers, tiering=EntryTierOnly(sc)))
    spend = res.kpis["incentive_spend"].to_numpy()
    for y in range(0, len(spend), 12):
        assert spend[y:y + 12].sum() <= 50_000.0 * (1 + 1e-9)


def test_resolve_uses_the_plugged_in_protections():
    # A researcher's protection: direct sales always withdraws in favour of partners.
    class PartnersFirst(P.Protection):
        name = "partners_first"

        def withdraw(self, model, batch):
            has_partner = batch.opp_has(0)[batch.opp]
            return has_partner & (batch.kind != 0)

    sc = small({"time.months": 12, "conflict.protections": []})
    res = sim.run(sc, 4, policies=sim.Policies(protections=[PartnersFirst(sc)]))
    k = res.kpis
    assert k["conflicts_vertical"].sum() + k["conflicts_multichannel"].sum() >= 0
    c = res.conflicts
    vertical = c[c["type"] == "vertical"]
    # Every vertical conflict is settled by the plug-in, and direct sales never wins one.
    assert len(vertical) > 0
    assert (vertical["winner"] != "direct").all()
    assert set(c["resolution"].astype(str)) <= {"partners_first", "price_contest"}
