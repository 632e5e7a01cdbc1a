"""The brief's identities, checked at every step of a ChannelModel.

Each identity is checked against an independent reconstruction where one is
possible, not only against the ledger's own arithmetic:

* revenue: each won deal and each renewal is booked to exactly one channel
  (and, for the partner channel, one partner).  The books are rebuilt from
  the accounts' state before the step and just before partner exits (the only
  move after booking that changes an account's channel), so the check is exact;
* gross profit: the reported KPI against revenue minus each cost line, listed
  one by one (the brief's list and the other incentive lines), with conflict
  costs matched against the conflict log;
* the incentive budget: spend to date within the year never above the
  allowance to date, and a tight budget does bind;
* partners: active now = active before + onboarded - exited, the flows counted
  from lifecycle transitions;
* customers: every account in exactly one state, channel and partner
  consistent with the state, the adopted count per territory consistent;
* tiers: valid indices, tier counts sum to active partners.

Then the same checks as Hypothesis property tests over scenario parameters.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import small
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import sim
from sim.customers import CUSTOMER, PARTNER_CH, UNAWARE
from sim.ledger import SPEND_LINES
from sim.market import CONFLICT_TYPES
from sim.partners import ACTIVE, EXITED, IMPROVEMENT, ONBOARDING
from sim.run import collect

REL = 1e-9  # relative tolerance for sums of floats booked in a different order


def _close(a: float, b: float, scale: float = 1.0) -> bool:
    return abs(a - b) <= REL * max(abs(a), abs(b), scale) + 1e-6


class StepChecker:
    """Steps a model and checks every identity at every month.

    It wraps the model's ``exit_partners`` (partner exits, the last change to
    the accounts in a step) to snapshot the accounts just before it, without
    changing what it does.
    """

    def __init__(self, model: sim.ChannelModel):
        self.model = model
        self.year_spend = 0.0
        self.binding_months = 0
        self.violations: list[str] = []
        original = model.exit_partners

        def spy(leave, reason):
            cu = model.customers
            self._pre_exit = (cu.state.copy(), cu.channel.copy(), cu.partner.copy())
            return original(leave, reason)

        model.exit_partners = spy

    # ---------------------------------------------------------------- one month
    def step(self) -> None:
        m = self.model
        sc = m.config
        cu = m.customers
        t = m.partners
        month = m.month
        n_before = t.n
        state0, since0 = cu.state.copy(), cu.since.copy()
        life0 = t.lifecycle.copy()
        self._pre_exit = None
        m.step()
        led = m.ledger
        row = m.datacollector.get_model_vars_dataframe().iloc[-1]
        assert self._pre_exit is not None, "the model no longer calls exit_partners every step; update the spy"
        state1, channel1, partner1 = self._pre_exit
        # Accounts whose business closed this month (account turnover) start over as new businesses.
        # So do customers competitors pulled back into market (they are won anew or lost).
        closed = np.zeros(cu.n, dtype=bool)
        closed[m.closed_accounts] = True
        closed[m.poached_accounts] = True

        # ---- each won deal and renewal booked to exactly one channel (and partner)
        assert led.revenue.shape == (3,)
        assert np.all(led.revenue >= 0)
        new = ((state0 != CUSTOMER) | closed) & (state1 == CUSTOMER)
        assert np.all(cu.since[new] == month), "a new customer without this month as its start"
        age = month - since0
        due = (state0 == CUSTOMER) & ~closed & (age > 0) & (age % sc.market.renewal_interval == 0)
        renewed = due & (state1 == CUSTOMER)
        assert np.all(channel1[new | renewed] >= 0)
        share = sc.market.renewal_value_share
        expect = np.bincount(channel1[new], weights=cu.value[new], minlength=3) + share * np.bincount(
            channel1[renewed], weights=cu.value[renewed], minlength=3
        )
        for ch in range(3):
            assert _close(led.revenue[ch], expect[ch], 1.0), f"month {month}: revenue of channel {ch}"
        assert _close(led.revenue_new, float(cu.value[new].sum()), 1.0)
        assert _close(row["revenue_total"], row["revenue_partner"] + row["revenue_direct"] + row["revenue_digital"])
        assert _close(row["revenue_total"], float(expect.sum()), 1.0)
        assert row["customers_new"] == led.won == int(new.sum())
        np.testing.assert_array_equal(led.new_customers, np.bincount(channel1[new], minlength=3))
        assert led.renewals_done == int(renewed.sum()) and led.renewals_due == int(due.sum())
        # Partner channel: booked to exactly one partner, the one serving the account.
        pm_new = new & (channel1 == PARTNER_CH)
        pm_ren = renewed & (channel1 == PARTNER_CH)
        assert np.all((partner1[pm_new | pm_ren] >= 0) & (partner1[pm_new | pm_ren] < t.n))
        per_partner = np.bincount(partner1[pm_new], weights=cu.value[pm_new], minlength=t.n) + share * np.bincount(
            partner1[pm_ren], weights=cu.value[pm_ren], minlength=t.n
        )
        if led.collab_split is not None:  # a team's deal: the helper's share moves from the lead (collaboration)
            lead, helper, part = led.collab_split
            per_partner += np.bincount(helper, weights=part, minlength=t.n) - np.bincount(lead, weights=part,
                                                                                         minlength=t.n)
        np.testing.assert_allclose(t.revenue, per_partner, rtol=1e-9, atol=1e-6)
        assert _close(float(led.revenue_tier.sum()), float(led.revenue[PARTNER_CH]), 1.0)
        assert _close(float(led.revenue_type.sum()), float(led.revenue[PARTNER_CH]), 1.0)
        assert _close(led.cogs, sc.market.cogs_share * led.revenue_total, 1.0)

        # ---- gross profit, line by line
        assert set(led.spend) == set(SPEND_LINES), f"spend lines {sorted(led.spend)}"
        for line in SPEND_LINES:
            assert led.spend[line] >= 0, f"negative {line} spend"
            assert _close(row[f"spend_{line}"], led.spend[line])
            tiers_sum = float(np.sum(led.spend_tier[line]))
            assert _close(tiers_sum, led.spend[line], 1.0), f"spend by tier of {line} does not add up"
        incentives = sum(led.spend[line] for line in SPEND_LINES)
        assert _close(row["incentive_spend"], incentives, 1.0)
        assert led.margin_lost >= 0 and led.conflict_management >= 0
        gp = (
            led.revenue_total - led.cogs
            - led.spend["discount"] - led.spend["rebate"] - led.spend["mdf"] - led.spend["spiff"]
            - led.spend["training"] - led.spend["recognition"] - led.spend["relationship"] - led.spend["improvement"]
            - led.spend["intervention"] - led.spend["collaboration"]
            - led.margin_lost - led.conflict_management
        )
        assert _close(row["gross_profit"], gp, max(led.revenue_total, 1.0)), f"month {month}: gross profit"
        assert _close(row["margin_lost_to_conflict"], led.margin_lost)
        # Conflict costs and counts against the conflict log (kept from the end of the warm-up).
        if month >= sc.time.warmup_months:
            logged = m.conflict_log[-1] if m.conflict_log and m.conflict_log[-1]["month"].size and int(
                m.conflict_log[-1]["month"][0]) == month - sc.time.warmup_months + 1 else None
            n_conf = int(led.conflicts.sum())
            if logged is None:
                assert n_conf == 0 and led.margin_lost == 0 and led.conflict_management == 0
            else:
                assert logged["month"].size == n_conf
                assert _close(float(logged["margin_lost"].sum()), led.margin_lost, 1.0)
                assert _close(float(logged["cost"].sum()), led.conflict_management, 1.0)
                for k, name in enumerate(CONFLICT_TYPES):
                    assert int((logged["type"] == k).sum()) == led.conflicts[k] == row[f"conflicts_{name}"]
        assert sum(led.conflicts_by_resolution.values()) == int(led.conflicts.sum())

        # ---- the incentive budget
        b = m.budget
        if sc.incentives.budget is not None:
            if month % 12 == 0:
                self.year_spend = 0.0
            self.year_spend += led.incentive_spend
            allowance = sc.incentives.budget * (month % 12 + 1) / 12.0
            tol = 1e-9 * max(allowance, 1.0)
            assert self.year_spend <= allowance + tol, f"month {month}: spend {self.year_spend} > allowance {allowance}"
            assert _close(b.spent, self.year_spend, max(allowance, 1.0))
            assert b.spent <= b.allowance + tol
            if self.year_spend >= allowance - 1e-6 * max(allowance, 1.0):
                self.binding_months += 1

        # ---- partners: active now = before + onboarded - exited
        life1 = t.lifecycle
        is_active = lambda lc: (lc == ACTIVE) | (lc == IMPROVEMENT)
        before = np.zeros(t.n, dtype=bool)
        before[:n_before] = is_active(life0)
        prior = np.full(t.n, -1, dtype=np.int8)  # -1: admitted this month
        prior[:n_before] = life0
        # With no onboarding ramp, prospects are admitted straight into the active state
        # (onboarded at once), and may leave in the month they join (then also exited).
        admitted_active = (prior == -1) & (sc.partners.lifecycle.onboarding_months == 0)
        onboarded = admitted_active | (((prior == -1) | (prior == ONBOARDING)) & is_active(life1))
        exited = (is_active(prior) | admitted_active) & (life1 == EXITED)
        assert led.active_before == int(before.sum())
        assert led.onboarded == int(onboarded.sum()), f"month {month}: onboarded"
        assert led.exited == int(exited.sum()), f"month {month}: exited"
        assert int(is_active(life1).sum()) == led.active_before + led.onboarded - led.exited
        assert row["active_partners"] == int(is_active(life1).sum())
        assert np.all(np.isin(life1, (ONBOARDING, ACTIVE, IMPROVEMENT, EXITED)))
        # Once exited, always exited; exited partners hold no agent.
        assert not np.any((prior == EXITED) & (life1 != EXITED))
        assert len(m._agents_by_idx) == int((life1 != EXITED).sum())

        # ---- customers conserved: one state each, channel and partner consistent
        st_ = cu.state
        counts = np.bincount(st_, minlength=5)
        assert counts.size == 5 and counts.sum() == cu.n == sc.market.n_accounts
        assert row[["accounts_unaware", "accounts_in_market", "customers_active", "accounts_competitor",
                    "accounts_churned"]].sum() == cu.n
        is_cust = st_ == CUSTOMER
        assert np.all(cu.channel[is_cust] >= 0) and np.all(cu.channel[is_cust] <= 2)
        assert np.all(cu.channel[~is_cust] == -1)
        part = is_cust & (cu.channel == PARTNER_CH)
        assert np.all(cu.partner[~part] == -1), "a partner recorded on a non-partner account"
        assert np.all((cu.partner[part] >= 0) & (cu.partner[part] < t.n))
        assert np.all(t.lifecycle[cu.partner[part]] != EXITED), "a customer served by an exited partner"
        if not sc.digital.enabled:
            assert not np.any(is_cust & (cu.channel == 2)), "digital customers with the digital channel off"
        adopted = np.bincount(cu.territory[st_ != UNAWARE], minlength=sc.market.n_territories)
        np.testing.assert_array_equal(cu.adopted, adopted)

        # ---- tiers
        n_tiers = len(sc.tiering.tiers)
        assert np.all((t.tier >= 0) & (t.tier < n_tiers))
        tier_counts = sum(row[f"partners_tier_{name}"] for name in sc.tier_names)
        assert tier_counts == row["active_partners"]

    def run(self) -> StepChecker:
        while self.model.month < self.model.horizon:
            self.step()
        self.check_frames()
        return self

    def check_frames(self) -> None:
        """The public frames agree with each other: the conflict log with the KPIs, month by month."""
        res = collect(self.model)
        k, c = res.kpis, res.conflicts
        assert list(k["month"]) == list(range(1, self.model.config.time.months + 1))
        by_month = c.groupby("month", observed=True)
        for name in CONFLICT_TYPES:
            n = c[c["type"].astype(str) == name].groupby("month").size()
            np.testing.assert_array_equal(n.reindex(k["month"], fill_value=0).to_numpy(), k[f"conflicts_{name}"])
        lost = by_month["margin_lost"].sum().reindex(k["month"], fill_value=0.0).to_numpy(dtype=float)
        np.testing.assert_allclose(lost, k["margin_lost_to_conflict"].to_numpy(), rtol=1e-9, atol=1e-6)
        cost = by_month["cost"].sum().reindex(k["month"], fill_value=0.0).to_numpy(dtype=float)
        np.testing.assert_allclose(lost + cost, k["conflict_cost"].to_numpy(), rtol=1e-9, atol=1e-6)
        # Every logged conflict has at least two parties, and its winner among them (or a competitor).
        if len(c):
            assert (c["n_parties"] >= 2).all()
            winners = c["winner"].astype(str)
            inside = [w in p.split("|") for w, p in zip(winners, c["parties"].astype(str), strict=True)]
            assert all(ok or w == "competitor" for ok, w in zip(inside, winners, strict=True))


# ------------------------------------------------------------------------ examples

def test_identities_every_step_small_baseline():
    model = sim.ChannelModel(small({"time.warmup_months": 3, "time.months": 21}), rng=11)
    StepChecker(model).run()
    assert model.month == 24


def test_identities_every_step_with_exits_and_recruitment():
    # A churning ecosystem: many prospects, fast exits, instant onboarding, plans that fail.
    sc = small({
        # 3 + 3 prospects a month: about one in eight passes the screen, so 24 months sign 18 (seed 5).
        "partners.recruitment.sources.events.rate": 3.0, "partners.recruitment.sources.directories.rate": 3.0,
        "partners.lifecycle.exit_hazard": 0.05,
        "partners.lifecycle.onboarding_months": 0,
        "partners.lifecycle.customers_follow_exit": 0.5,
        "tiering.review_every_months": 3,
        "time.warmup_months": 0,
        "time.months": 24,
    })
    model = sim.ChannelModel(sc, rng=5)
    StepChecker(model).run()
    k = model.datacollector.get_model_vars_dataframe()
    assert k["partners_exited"].sum() > 10 and k["partners_onboarded"].sum() > 10


def test_tight_budget_binds_and_is_never_exceeded():
    free = sim.run(small({"time.warmup_months": 0}), 3)
    annual_free = free.kpis["incentive_spend"].iloc[:12].sum()
    budget = 0.2 * annual_free  # a fifth of what the programme would spend
    sc = small({"incentives.budget": budget, "time.warmup_months": 0})
    checker = StepChecker(sim.ChannelModel(sc, rng=3)).run()
    # Binding: spend reached the allowance to date in most months.
    assert checker.binding_months >= sc.time.months // 2, checker.binding_months
    k = checker.model.datacollector.get_model_vars_dataframe()
    for year in range(sc.time.months // 12):
        spent = k["incentive_spend"].iloc[12 * year: 12 * (year + 1)].sum()
        assert spent <= budget * (1 + 1e-9)
        assert spent >= 0.95 * budget


def test_zero_budget_pays_nothing():
    sc = small({"incentives.budget": 0.0, "time.warmup_months": 0, "time.months": 12})
    checker = StepChecker(sim.ChannelModel(sc, rng=2)).run()
    k = checker.model.datacollector.get_model_vars_dataframe()
    assert (k["incentive_spend"] == 0).all()


NO_RECRUITS = {
    "partners.recruitment.sources.events.rate": 0.0,
    "partners.recruitment.sources.directories.rate": 0.0,
    "partners.recruitment.referrals.rate_per_promoter": 0.0,
}


def test_identities_without_partners():
    sc = small({"partners.n_initial": 0, **NO_RECRUITS, "time.months": 12})
    model = sim.ChannelModel(sc, rng=4)
    StepChecker(model).run()
    k = model.datacollector.get_model_vars_dataframe()
    assert (k["revenue_partner"] == 0).all() and (k["active_partners"] == 0).all()


# ------------------------------------------------------------------------ properties

protection_lists = st.lists(
    st.sampled_from(["rules_of_engagement", "territory_exclusivity", "deal_registration"]), unique=True, max_size=3
)


@st.composite
def scenarios(draw):
    over = {
        "market.n_accounts": draw(st.integers(500, 3_000)),
        "market.n_territories": draw(st.integers(1, 6)),
        "partners.n_initial": draw(st.sampled_from([0, 1, 5, 20, 40])),
        "partners.recruitment.sources.events.rate": draw(st.sampled_from([0.0, 0.25, 1.0])),
        "partners.recruitment.sources.directories.rate": draw(st.sampled_from([0.0, 0.25, 1.0])),
        "partners.lifecycle.onboarding_months": draw(st.sampled_from([0, 2, 6])),
        "incentives.budget": draw(st.one_of(st.none(), st.sampled_from([0.0, 1e3, 2e4, 2e5, 5e6]))),
        "incentives.rebate.scale": draw(st.sampled_from([0.0, 1.0, 3.0])),
        "incentives.mdf.scale": draw(st.sampled_from([0.0, 1.0, 4.0])),
        "incentives.training.lag_months": draw(st.integers(0, 4)),
        "conflict.protections": draw(protection_lists),
        "conflict.fallback": draw(st.sampled_from(["price_contest", "mediation"])),
        "digital.enabled": draw(st.booleans()),
        "direct.territory_coverage": draw(st.sampled_from([0.0, 0.5, 1.0])),
        "tiering.review_every_months": draw(st.sampled_from([1, 3, 6])),
        "tiering.specialisation.enabled": draw(st.booleans()),
        "partners.collaboration.enabled": draw(st.booleans()),
        "time.warmup_months": draw(st.integers(0, 3)),
        "time.months": draw(st.integers(6, 14)),
    }
    return sim.Scenario().with_overrides(over), draw(st.integers(0, 2**32 - 1))


# Examples take 0.1-0.5 s each, and shrinking a failure ran for over ten minutes: no shrink
# phase, so a failure reports the example as drawn (scenario and seed) at once.
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], phases=NO_SHRINK)
@given(scenarios())
def test_identities_hold_over_scenarios(case):
    scenario, seed = case
    model = sim.ChannelModel(scenario, rng=seed)
    StepChecker(model).run()
    assert model.month == scenario.time.warmup_months + scenario.time.months


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow], phases=NO_SHRINK)
@given(
    # From nothing through subnormal amounts (which once made Budget.grant loop for ever) to ample.
    budget=st.one_of(st.just(0.0), st.floats(0.0, 1e-300), st.floats(1.0, 3e5)),
    rebate=st.floats(0.0, 4.0),
    mdf=st.floats(0.0, 4.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_budget_never_exceeded(budget, rebate, mdf, seed):
    sc = small({
        "incentives.budget": budget, "incentives.rebate.scale": rebate, "incentives.mdf.scale": mdf,
        "market.n_accounts": 2_000, "time.warmup_months": 0, "time.months": 14,
    })
    StepChecker(sim.ChannelModel(sc, rng=seed)).run()


@pytest.mark.parametrize("fallback", ["price_contest", "mediation"])
@pytest.mark.parametrize("protections", [[], ["territory_exclusivity"], ["deal_registration", "territory_exclusivity",
                                                                            "rules_of_engagement"]])
def test_identities_under_each_conflict_policy(protections, fallback):
    sc = small({"conflict.protections": protections, "conflict.fallback": fallback, "time.months": 12})
    StepChecker(sim.ChannelModel(sc, rng=9)).run()


def test_no_vendor_channel_at_all():
    sc = small({"partners.n_initial": 0, **NO_RECRUITS, "digital.enabled": False,
                "direct.territory_coverage": 0.0, "time.warmup_months": 0, "time.months": 3})
    res = sim.run(sc, 0)
    # Nobody sells (a month with no pursuer row at all must not crash): no new customers, nothing
    # through partners or digital; the vendor's existing customers still renew through direct sales.
    k = res.kpis
    assert (k["customers_new"] == 0).all() and (k["opportunities"] > 0).all()
    assert (k["revenue_partner"] == 0).all() and (k["revenue_digital"] == 0).all()
    assert (k["revenue_total"] == k["revenue_direct"]).all()


def test_budget_grant_terminates_with_a_tiny_allowance():
    import signal

    from sim.ledger import Budget

    def alarm(*_):
        raise TimeoutError("Budget.grant did not return within 2 s")

    old = signal.signal(signal.SIGALRM, alarm)
    try:
        b = Budget(2.3076920617781e-310)
        b.new_month(0)
        signal.setitimer(signal.ITIMER_REAL, 2.0)
        paid = b.grant(np.linspace(1.0, 2.0e5, 20))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert paid.sum() <= b.allowance
