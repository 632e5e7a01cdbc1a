"""KPI reporters (guide parts 3 and 6): functions of the model, registered in one place.

Each reporter reads the month's ledger and the state; none changes anything.
:func:`model_reporters` returns the dict handed to Mesa's ``DataCollector``.
Definitions are in ``docs/MODEL.md`` (section "Observation").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from .customers import CHURNED, COMPETITOR, CUSTOMER, DIGITAL_CH, DIRECT_CH, IN_MARKET, PARTNER_CH, UNAWARE
from .ledger import SPEND_LINES
from .market import CONFLICT_TYPES
from .partners import ONBOARDING
from .scenario import PARTNER_TYPES, SOURCES, Scenario

if TYPE_CHECKING:
    from .model import ChannelModel

Reporter = Callable[["ChannelModel"], float]
RESOLUTIONS = ("rules_of_engagement", "territory_exclusivity", "deal_registration", "price_contest", "mediation")


def _ratio(a: float, b: float, empty: float = float("nan")) -> float:
    if not b:
        return empty
    with np.errstate(over="ignore"):  # a subnormal denominator (a near-zero budget) gives inf, not a warning
        return float(np.float64(a) / np.float64(b))


def _counts(model: ChannelModel) -> np.ndarray:
    # Accounts by state, counted once per step by the model.
    return model.state_counts


def revenue_total(m):
    return m.ledger.revenue_total


def revenue_partner(m):
    return float(m.ledger.revenue[PARTNER_CH])


def revenue_direct(m):
    return float(m.ledger.revenue[DIRECT_CH])


def revenue_digital(m):
    return float(m.ledger.revenue[DIGITAL_CH])


def partner_revenue_share(m):
    return _ratio(m.ledger.revenue[PARTNER_CH], m.ledger.revenue_total)


def revenue_new_partner(m):
    """First-year revenue of the partner channel's new customers this month."""
    return float(m.ledger.revenue_new_channel[PARTNER_CH])


def revenue_partner_originated(m):
    """Of it, won by the partner whose own lead (prospecting or MDF) brought the account."""
    return m.ledger.revenue_new_originated


def partner_originated_share(m):
    """Share of the partner channel's new-deal revenue won by the partner whose own lead brought the account."""
    return _ratio(m.ledger.revenue_new_originated, m.ledger.revenue_new_channel[PARTNER_CH])


def cost_of_goods(m):
    return m.ledger.cogs


def gross_profit(m):
    return m.ledger.gross_profit


def incentive_spend(m):
    return m.ledger.incentive_spend


def margin_lost_to_conflict(m):
    return m.ledger.margin_lost


def conflict_cost(m):
    return m.ledger.conflict_cost


def incentive_roi(m):
    """(Partner-channel margin before incentives - incentive spend) / incentive spend."""
    led = m.ledger
    margin = led.revenue[PARTNER_CH] * (1.0 - m.config.market.cogs_share)
    return _ratio(margin - led.incentive_spend, led.incentive_spend)


def active_partners(m):
    return int(m.partners.active.sum())


def partners_onboarding(m):
    return int((m.partners.lifecycle == ONBOARDING).sum())


def partners_onboarded(m):
    return m.ledger.onboarded


def partners_exited(m):
    return m.ledger.exited


def partners_recruited(m):
    return m.ledger.recruited


def _exits(code: int) -> Reporter:
    def f(m):
        return int(m.ledger.exits_by_reason[code])

    f.__doc__ = "Active partners that left this month for this reason."
    return f


def partner_exit_risk(m):
    """Expected own-choice exits next month: the sum of selling partners' own-choice exit hazards at today's state.

    Its sum over months estimates the same count as ``partners_exited_choice`` without the Bernoulli noise of
    the exit draws, so a what-if's effect on partners' wish to leave shows at fewer replications.
    """
    from .economics import exit_hazards

    choice, _ = exit_hazards(m)
    return float(choice[m.partners.selling].sum())


def partner_gross_margin(m):
    """Partners' gross margin on the vendor's line this month (margin kept, services, rebates, SPIFFs, MDF net)."""
    return m.ledger.partner_gross_margin


def partner_profit(m):
    """Partners' profit on the vendor's line this month: gross margin less effort and programme costs."""
    return m.ledger.partner_profit


def partner_effort(m):
    """Seller-months partners gave the vendor this month."""
    return m.ledger.partner_effort


def partner_profit_ratio(m):
    """Mean profit ratio of active partners: line profit against what the effort earns on their other lines."""
    a = m.partners.active
    return float(np.clip(m.partners.profit_ratio()[a], -5.0, 5.0).mean()) if a.any() else float("nan")


def _source(kind: str, j: int) -> Reporter:
    def f(m):
        led = m.ledger
        arr = {"prospects": led.prospects_by_source, "recruited": led.recruited_by_source,
               "cost": led.recruitment_cost_by_source}[kind]
        return float(arr[j]) if kind == "cost" else int(arr[j])

    return f


def recruitment_cost(m):
    """Cost of all prospects this month (events, directories, referral bonuses); an operating expense."""
    return float(m.ledger.recruitment_cost_by_source.sum())


def audits(m):
    return m.ledger.audits


def audit_cost(m):
    """Claims audited x the cost of an audit; an operating expense."""
    return m.ledger.audits * m.config.partners.compliance.audit_cost


def leakage(m):
    """Paid on MDF and rebate claims beyond their true value (over-claims not caught)."""
    return m.ledger.leakage


def claims_value(m):
    """True value of the MDF and rebate claims filed this month."""
    return m.ledger.claims_value


def leakage_share(m):
    """Leakage as a share of the true value of the claims filed."""
    return _ratio(m.ledger.leakage, m.ledger.claims_value)


def customers_poached(m):
    return m.ledger.customers_poached


def customers_closed(m):
    return m.ledger.customers_closed


def certifications_paid(m):
    return m.ledger.certifications_paid


def collaborative_deals(m):
    """New-customer deals won by a partner team this month (referral hand-off or co-sell)."""
    return m.ledger.collab_deals


def collaborative_value(m):
    """Their first-year value (USD)."""
    return m.ledger.collab_value


def collaborative_win_rate(m):
    """Share of the opportunities a partner team pursued that the team won."""
    return _ratio(m.ledger.collab_deals, m.ledger.collab_pursued)


def solo_win_rate(m):
    """Share of the opportunities partners pursued without a team that a partner won (NaN when no teams ran)."""
    return _ratio(m.ledger.solo_won, m.ledger.solo_pursued)


def referral_revenue(m):
    """The finders' share of the referred deals won this month (USD)."""
    return m.ledger.referral_revenue


def partner_vs_partner(m):
    """Partner pursuits this month that met another partner's on the same account (horizontal conflict exposure).

    Counted whatever the conflict's label: an account that direct sales also pursues is a vertical
    conflict, yet its partners still contest each other. A hand-off between collaborating partners
    removes one or two.
    """
    return m.ledger.partner_vs_partner


def partner_win_rate_enterprise(m):
    """Share of the enterprise opportunities a partner pursued that a partner won."""
    return _ratio(m.ledger.enterprise_won, m.ledger.enterprise_pursued)


def specialisations(m):
    """Specialisations held (partner x segment), under the speciality tiering policy."""
    return int(m.partners.spec[m.partners.active].sum())


def revenue_specialised_share(m):
    """Share of partner revenue this month booked in segments where the partner holds the specialisation."""
    return _ratio(m.ledger.revenue_specialised, m.ledger.revenue[PARTNER_CH])


def discount_rate(m):
    """Front-end discount paid per dollar of partner revenue."""
    return _ratio(m.ledger.spend["discount"], m.ledger.revenue[PARTNER_CH])


def rebate_rate(m):
    """Back-end rebate paid per dollar of revenue of the partners in tiers that earn one."""
    led = m.ledger
    earning = m.tier_table["rebate_rate"] > 0
    return _ratio(led.spend["rebate"], float(led.revenue_tier[earning].sum()))


def interventions(m):
    """Partners the early-intervention policy spent on this month."""
    paid = m.paid_by_lever.get("intervention")
    return int(np.count_nonzero(paid)) if isinstance(paid, np.ndarray) else 0


def intervention_spend(m):
    """What the early-intervention policy spent this month (also in ``spend_intervention``)."""
    return float(m.ledger.spend.get("intervention", 0.0))


def partners_exited_targeted(m):
    """Partners that left this month (any reason) and had been targeted by early intervention at least once."""
    t = m.partners
    return int(np.count_nonzero((t.left == m.ledger.month) & (t.exit_reason > 0) & (t.interventions > 0)))


def partners_targeted(m):
    """Active partners that have been targeted by early intervention at least once."""
    t = m.partners
    return int(np.count_nonzero(t.active & (t.interventions > 0)))


def channel_opex(m):
    """Operating expenses outside gross profit: direct sellers, the digital channel, recruitment, audits."""
    sc = m.config
    digital = sc.digital.monthly_cost if sc.digital.enabled else 0.0
    return sc.direct.sellers * sc.direct.cost_per_seller + digital + recruitment_cost(m) + audit_cost(m)


def operating_profit(m):
    """Gross profit less the channels' operating expenses."""
    return m.ledger.gross_profit - channel_opex(m)


def partner_churn(m):
    return _ratio(m.ledger.exited, m.ledger.active_before, 0.0)


def partner_satisfaction(m):
    a = m.partners.active
    return float(m.partners.satisfaction[a].mean()) if a.any() else float("nan")


def partner_nps(m):
    """Promoters minus detractors, in points (-100 to 100), among active partners."""
    a = m.partners.active
    if not a.any():
        return float("nan")
    s = m.partners.satisfaction[a]
    ss = m.config.partners.satisfaction
    return float(100.0 * ((s >= ss.promoter_threshold).mean() - (s < ss.detractor_threshold).mean()))


def partner_mindshare(m):
    a = m.partners.active
    return float(m.partners.mindshare[a].mean()) if a.any() else float("nan")


def channel_maturity(m):
    """Mean active certifications per active partner."""
    a = m.partners.active
    return float(m.partners.certifications(m.month)[a].mean()) if a.any() else float("nan")


def customers_active(m):
    return int(_counts(m)[CUSTOMER])


def customers_new(m):
    return int(m.ledger.new_customers.sum())


def customers_churned(m):
    return m.ledger.churned


def accounts_unaware(m):
    return int(_counts(m)[UNAWARE])


def accounts_in_market(m):
    return int(_counts(m)[IN_MARKET])


def accounts_competitor(m):
    return int(_counts(m)[COMPETITOR])


def accounts_churned(m):
    return int(_counts(m)[CHURNED])


def adoption(m):
    return m.customers.adopted_share()


def customer_satisfaction(m):
    """Mean satisfaction of the vendor's current customers (computed once per step by the model)."""
    return m.customer_satisfaction_mean


def customer_retention(m):
    """Share of renewals due in the last twelve months that renewed."""
    done, due = m.renew_window.sum(axis=0)
    return _ratio(done, due)


def market_share(m):
    """Vendor customers / all accounts buying the category (vendor, competitors, churned)."""
    c = _counts(m)
    return _ratio(c[CUSTOMER], c[CUSTOMER] + c[COMPETITOR] + c[CHURNED])


def customer_lifetime_value(m):
    """Expected discounted gross margin of a new customer: first deal plus renewals at current retention."""
    led = m.ledger
    n_new = led.new_customers.sum()
    if n_new == 0 or led.revenue_total <= 0:
        return float("nan")
    mk = m.config.market
    margin_rate = led.gross_profit / led.revenue_total
    first = led.revenue_new / n_new * margin_rate
    r = customer_retention(m)
    if not np.isfinite(r):
        r = mk.renewal_base
    g = r / (1.0 + mk.discount_rate_annual * mk.renewal_interval / 12.0)
    return float(first * (1.0 + mk.renewal_value_share * g / (1.0 - g)))


def _cac(channel: int) -> Reporter:
    def cac(m):
        led = m.ledger
        n_new = led.new_customers[channel]
        if channel == PARTNER_CH:
            # Discounts on new partner deals (renewals excluded), SPIFFs and MDF.
            new_share = _ratio(led.revenue_new_channel[PARTNER_CH], led.revenue[PARTNER_CH], 0.0)
            cost = led.spend["discount"] * new_share + led.spend["spiff"] + led.spend["mdf"]
        elif channel == DIRECT_CH:
            cost = m.config.direct.sellers * m.config.direct.cost_per_seller
        else:
            cost = m.config.digital.monthly_cost if m.config.digital.enabled else 0.0
        return _ratio(cost, n_new)

    cac.__doc__ = "Customer acquisition cost of the channel: its acquisition spend / new customers it won."
    return cac


def win_rate(m):
    return _ratio(m.ledger.won, m.ledger.pursued)


def mdf_utilisation(m):
    """MDF claimed / (claimed + expired unclaimed), trailing twelve months."""
    return m.mdf_utilisation()


def mdf_leads(m):
    """Leads the month's MDF-funded campaigns generated."""
    return m.ledger.mdf_leads


def direct_leads(m):
    """Accounts direct sales' own prospecting landed on this month."""
    return m.ledger.direct_leads


def direct_collisions(m):
    """Direct sales' prospects that a partner's lead had brought into market the same month."""
    return m.ledger.direct_collisions


def compliance_rate(m):
    return _ratio(m.ledger.claims_compliant, m.ledger.claims)


def claims_caught(m):
    return m.ledger.claims_caught


def tier_migrations_up(m):
    return m.ledger.migrations_up


def tier_migrations_down(m):
    return m.ledger.migrations_down


def opportunities(m):
    return m.ledger.opportunities


def _conflicts(k: int) -> Reporter:
    def f(m):
        return int(m.ledger.conflicts[k])

    return f


def _resolved(name: str) -> Reporter:
    def f(m):
        return int(m.ledger.conflicts_by_resolution.get(name, 0))

    return f


def _spend(line: str) -> Reporter:
    def f(m):
        return float(m.ledger.spend.get(line, 0.0))

    return f


def _spend_cell(line: str, tier: int) -> Reporter:
    def f(m):
        return float(m.ledger.spend_tier[line][tier])

    return f


def _revenue_tier(tier: int) -> Reporter:
    def f(m):
        return float(m.ledger.revenue_tier[tier])

    return f


def _partners_tier(tier: int) -> Reporter:
    def f(m):
        t = m.partners
        return int((t.active & (t.tier == tier)).sum())

    return f


def _revenue_type(k: int) -> Reporter:
    def f(m):
        return float(m.ledger.revenue_type[k])

    return f


def model_reporters(scenario: Scenario) -> dict[str, Reporter]:
    """Every KPI column, in order: name -> reporter function."""
    r: dict[str, Reporter] = {
        "revenue_total": revenue_total,
        "revenue_partner": revenue_partner,
        "revenue_direct": revenue_direct,
        "revenue_digital": revenue_digital,
        "partner_revenue_share": partner_revenue_share,
        "revenue_new_partner": revenue_new_partner,
        "revenue_partner_originated": revenue_partner_originated,
        "partner_originated_share": partner_originated_share,
        "cost_of_goods": cost_of_goods,
        "gross_profit": gross_profit,
        "incentive_spend": incentive_spend,
        "incentive_roi": incentive_roi,
        "active_partners": active_partners,
        "partners_onboarding": partners_onboarding,
        "partners_recruited": partners_recruited,
        "partners_onboarded": partners_onboarded,
        "partners_exited": partners_exited,
        "partners_exited_choice": _exits(0),
        "partners_exited_terminated": _exits(1),
        "partners_exited_other": _exits(2),
        "partner_exit_risk": partner_exit_risk,
        "partner_churn": partner_churn,
        "partner_satisfaction": partner_satisfaction,
        "partner_nps": partner_nps,
        "partner_mindshare": partner_mindshare,
        "partner_effort": partner_effort,
        "partner_gross_margin": partner_gross_margin,
        "partner_profit": partner_profit,
        "partner_profit_ratio": partner_profit_ratio,
        "channel_maturity": channel_maturity,
        "customers_active": customers_active,
        "customers_new": customers_new,
        "customers_churned": customers_churned,
        "customer_satisfaction": customer_satisfaction,
        "customer_retention": customer_retention,
        "customer_lifetime_value": customer_lifetime_value,
        "market_share": market_share,
        "adoption": adoption,
        "accounts_unaware": accounts_unaware,
        "accounts_in_market": accounts_in_market,
        "accounts_competitor": accounts_competitor,
        "accounts_churned": accounts_churned,
        "opportunities": opportunities,
        "win_rate": win_rate,
        "cac_partner": _cac(PARTNER_CH),
        "cac_direct": _cac(DIRECT_CH),
        "cac_digital": _cac(DIGITAL_CH),
        "margin_lost_to_conflict": margin_lost_to_conflict,
        "conflict_cost": conflict_cost,
        "mdf_utilisation": mdf_utilisation,
        "mdf_leads": mdf_leads,
        "direct_leads": direct_leads,
        "direct_collisions": direct_collisions,
        "compliance_rate": compliance_rate,
        "claims_caught": claims_caught,
        "audits": audits,
        "audit_cost": audit_cost,
        "claims_value": claims_value,
        "leakage": leakage,
        "leakage_share": leakage_share,
        "discount_rate": discount_rate,
        "rebate_rate": rebate_rate,
        "certifications_paid": certifications_paid,
        "collaborative_deals": collaborative_deals,
        "collaborative_value": collaborative_value,
        "collaborative_win_rate": collaborative_win_rate,
        "solo_win_rate": solo_win_rate,
        "referral_revenue": referral_revenue,
        "partner_win_rate_enterprise": partner_win_rate_enterprise,
        "partner_vs_partner": partner_vs_partner,
        "specialisations": specialisations,
        "revenue_specialised_share": revenue_specialised_share,
        "customers_closed": customers_closed,
        "customers_poached": customers_poached,
        "recruitment_cost": recruitment_cost,
        "channel_opex": channel_opex,
        "operating_profit": operating_profit,
        "tier_migrations_up": tier_migrations_up,
        "tier_migrations_down": tier_migrations_down,
        "interventions": interventions,
        "intervention_spend": intervention_spend,
        "partners_targeted": partners_targeted,
        "partners_exited_targeted": partners_exited_targeted,
    }
    for k, name in enumerate(CONFLICT_TYPES):
        r[f"conflicts_{name}"] = _conflicts(k)
    for name in RESOLUTIONS:
        r[f"conflicts_resolved_{name}"] = _resolved(name)
    for line in SPEND_LINES:
        r[f"spend_{line}"] = _spend(line)
    for i, tier in enumerate(scenario.tier_names):
        r[f"revenue_tier_{tier}"] = _revenue_tier(i)
        r[f"partners_tier_{tier}"] = _partners_tier(i)
    for k, name in enumerate(PARTNER_TYPES):
        r[f"revenue_type_{name}"] = _revenue_type(k)
    for j, name in enumerate(SOURCES):
        r[f"prospects_{name}"] = _source("prospects", j)
        r[f"partners_recruited_{name}"] = _source("recruited", j)
        r[f"recruitment_cost_{name}"] = _source("cost", j)
    for line in SPEND_LINES:
        for i, tier in enumerate(scenario.tier_names):
            r[f"spend_{line}_{tier}"] = _spend_cell(line, i)
    return r
