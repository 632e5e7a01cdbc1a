"""Partner economics (guide parts 2, 4, 7): each partner's P&L on the line, and what it decides from it.

Each month a partner earns, on this vendor's line (``PartnerTable.pl``, lines
``PL_LINES``):

* the product margin: the front-end discount it was paid (tier discount, plus
  the registration extra) less what it passed on to the customer as a lower
  price (``partners.economics.pass_through`` of the discount it expected);
* its own service margin on the deals (``service_margin`` of its type);
* rebates and SPIFFs paid; MDF paid less the campaigns it ran (so only an
  over-claim not caught is profit, a fine a loss);

and it pays for the selling effort it gives the line (``effort`` seller-months
at ``seller_cost``, which is ``effort_cost_share`` of what a seller-month
earns on its other lines) and for staying in the programme (its tier's
``programme_fee`` and the certifications it pays for).  Its profit ratio is
the smoothed line profit against the smoothed profit the same effort would
earn on its other lines (``(outside_margin - seller_cost) x effort``): 1 means
the line pays exactly like the others.

From its economics the partner decides:

* certifications: it pays for the certifications the tier its revenue
  qualifies for requires when that tier's extra margin over a year covers
  their cost (funded training also earns certifications, S4);
* satisfaction: a partial adjustment toward a target made of profitability
  (the profit ratio), the trend of its gross margin, support, recognition,
  communication and conflicts lost (worse when lost to the vendor's own
  channels);
* exit by its own choice: a hazard that rises as satisfaction falls below the
  pivot (satisfaction follows the profit ratio) and steeply once the line pays
  less than ``exit_profit_floor`` of what the effort earns elsewhere, or has
  not won a deal for ``inactive_months``, so a line that stops paying is
  dropped; and exit for other reasons (closure, acquisition), more likely for
  financially weak partners.  Improvement plans that fail end in termination.
  Every exit records its reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import compliance
from .partners import (
    ACTIVE,
    CAP,
    EXIT_CHOICE,
    EXIT_OTHER,
    EXIT_TERMINATED,
    EXITED,
    IMPROVEMENT,
    ONBOARDING,
    PL_LINES,
)

if TYPE_CHECKING:
    from .model import ChannelModel

PL = {name: i for i, name in enumerate(PL_LINES)}


def init_beliefs(model: ChannelModel, ids: np.ndarray) -> None:
    """New partners expect the line to pay like their other lines (profit ratio 1)."""
    ec = model.config.partners.economics
    t = model.partners
    t.seller_cost[ids] = ec.effort_cost_share * t.outside_margin[ids]
    effort = t.sellers[ids] * t.mindshare[ids]
    t.effort_ema[ids] = effort
    t.gm_ema[ids] = t.outside_margin[ids] * effort
    t.gm_fast[ids] = t.gm_ema[ids]
    t.gm_slow[ids] = t.gm_ema[ids]
    outside = (t.outside_margin[ids] - t.seller_cost[ids]) * effort
    t.outside_ema[ids] = outside
    t.profit_ema[ids] = outside


def open_month(model: ChannelModel) -> None:
    """Reset the month's per-partner flows."""
    t = model.partners
    t.revenue = 0.0
    t.pl = 0.0
    t.pass_through = 0.0
    t.new_margin = 0.0
    t.renewal_margin = 0.0
    t.certs_paid = 0
    t.conf_won = 0
    t.conf_lost_partner = 0
    t.conf_lost_direct = 0
    t.conf_lost_digital = 0
    t.claimed_month = False
    t.audited_month = False
    t.overclaimed_month = False
    # The 12-month claim record (ring by month): this month's slot starts empty.
    col = model.month % 12
    t.claims_hist[:, col] = 0.0
    t.caught_hist[:, col] = 0.0


def next_review(model: ChannelModel) -> int:
    """The month of the next tier review (this month if it is a review month)."""
    r = model.config.tiering.review_every_months
    m = model.month
    return m + (r - 1 - m % r)


def tier_rates(model: ChannelModel) -> np.ndarray:
    """Margin per revenue dollar each tier offers a partner: discount kept, rebate, expected MDF use."""
    sc = model.config
    tt = model.tier_table
    pr = model.payout_ratio
    util = model.mdf_utilisation()
    util = util if np.isfinite(util) else sc.incentives.mdf.utilisation_prior
    return (
        (1.0 - sc.partners.economics.pass_through) * tt["discount"] * sc.incentives.discount_scale
        * pr.get("discount", 1.0)
        + tt["rebate_rate"] * sc.incentives.rebate.scale * pr.get("rebate", 1.0)
        + tt["mdf_accrual_rate"] * sc.incentives.mdf.scale * util * pr.get("mdf", 1.0)
    )


def certify(model: ChannelModel) -> None:
    """Partners pay for the certifications that the tier their revenue qualifies for requires, when it pays.

    A partner compares the tier it will hold at the next review with the certifications it
    will then have, against the highest tier its revenue, customer satisfaction and compliance
    qualify it for.  If that tier needs more certifications and its extra margin over a year
    covers their cost, it earns one a month (paying ``economics.certification_cost``) until it has
    enough, renewing the one that expires first.
    """
    sc = model.config
    ec = sc.partners.economics
    tr = sc.incentives.training
    t = model.partners
    tt = model.tier_table
    cand = np.flatnonzero((t.lifecycle == ACTIVE) | (t.lifecycle == IMPROVEMENT))
    if cand.size == 0 or len(tt["min_certifications"]) < 2:
        return
    review_month = next_review(model)
    certs = (t.cert_expiry[cand] > review_month).sum(axis=1)
    ttm = t.ttm_revenue()[cand]
    csat = model.partner_customer_satisfaction()[cand]
    record = t.compliance_record()[cand]
    ok_other = (
        (ttm[:, None] >= tt["min_ttm_revenue"][None, :])
        & (csat[:, None] >= tt["min_customer_satisfaction"][None, :])
        & (record[:, None] >= tt["min_compliance"][None, :])
    )
    ok_other[:, 0] = True
    ok_certs = ok_other & (certs[:, None] >= tt["min_certifications"][None, :])
    n_t = ok_other.shape[1]
    reach = n_t - 1 - np.argmax(ok_other[:, ::-1], axis=1)  # highest tier without the certification test
    hold = n_t - 1 - np.argmax(ok_certs[:, ::-1], axis=1)  # highest tier with the certifications it will have
    needed = tt["min_certifications"][reach] - certs
    rates = tier_rates(model)
    benefit = (rates[reach] - rates[hold]) * ttm * (tr.certification_months / 12.0)
    go = (reach > hold) & (needed > 0) & (benefit >= needed * ec.certification_cost)
    if sc.tiering.specialisation.enabled:
        go |= _specialisation_pays(model, cand, certs, ttm)
    go &= (t.cert_expiry[cand] <= review_month).any(axis=1)  # a free or lapsing slot to fill
    ids = cand[go]
    if ids.size == 0:
        return
    slots = np.argmin(t.cert_expiry[ids], axis=1)
    t.cert_expiry[ids, slots] = model.month + tr.certification_months
    t.certs_paid[ids] += 1
    model.ledger.certifications_paid += int(ids.size)


def _specialisation_pays(model: ChannelModel, cand: np.ndarray, certs: np.ndarray, ttm: np.ndarray) -> np.ndarray:
    """Whether certifications for a specialisation pay for themselves, for each partner in ``cand``.

    A partner that meets a segment's customer requirement but lacks certifications values the
    specialisation at its extra discount on its revenue in that segment (TTM revenue x the
    segment's share of the value of its active customers) over a certification's life, against the
    cost of the certifications it still needs.  The designation's contest bonus is not counted:
    a partner cannot price it in advance (a conservative business case).
    """
    from .policies.tiering import customers_by_segment, specialisation_eligible

    sc = model.config
    cfg = sc.tiering.specialisation
    t = model.partners
    needed = cfg.min_certifications - certs
    full = np.zeros(t.n, dtype=np.int64)
    full[cand] = cfg.min_certifications  # the test of the other requirements, with the certifications held
    could = specialisation_eligible(model, certs=full)[cand] & ~t.spec[cand]
    value = customers_by_segment(model, weights=model.customers.value)[cand]
    share = value / np.maximum(value.sum(axis=1, keepdims=True), 1e-12)
    extra = np.asarray(cfg.extra_discount.as_array())
    months = sc.incentives.training.certification_months / 12.0
    benefit = (could * share * extra[None, :]).sum(axis=1) * ttm * months
    return (needed > 0) & could.any(axis=1) & (benefit >= needed * sc.partners.economics.certification_cost)


def close_month(model: ChannelModel) -> None:
    """The month's P&L, beliefs, capability, satisfaction and exits of every partner."""
    sc = model.config
    p = sc.partners
    t = model.partners
    m = model.month
    led = model.ledger
    selling = t.selling
    certify(model)
    # P&L of the month.
    t.pl[:, PL["effort_cost"]] = -t.effort * t.seller_cost
    fee = np.where(t.active, model.tier_table["programme_fee"][t.tier] / 12.0, 0.0)
    t.pl[:, PL["programme_cost"]] = -(fee + t.certs_paid * p.economics.certification_cost)
    # What the partner judges the line on: the month's results with each new customer valued at its
    # lifetime margin (renewals then add nothing new), so the age of its customer base does not matter.
    clv = customer_multiple(model) * t.new_margin - t.renewal_margin
    gm = t.gross_margin() + clv
    profit = t.line_profit() + clv
    outside = (t.outside_margin - t.seller_cost) * t.effort
    # Beliefs: margin per unit of effort (effort, S3), profit against the outside option, trend.
    # Running means of the prior and the months seen, until the learning rate takes over.
    t.observed = np.where(selling, t.observed + 1, t.observed)
    first = 1.0 / (p.economics.prior_months + t.observed)
    w = np.maximum(p.mindshare.learning_rate, first)
    wp = np.maximum(p.economics.profit_learning_rate, first)
    t.gm_ema = np.where(selling, (1 - w) * t.gm_ema + w * gm, t.gm_ema)
    t.effort_ema = np.where(selling, (1 - w) * t.effort_ema + w * t.effort, t.effort_ema)
    t.profit_ema = np.where(selling, (1 - wp) * t.profit_ema + wp * profit, t.profit_ema)
    t.outside_ema = np.where(selling, (1 - wp) * t.outside_ema + wp * outside, t.outside_ema)
    ec = p.economics
    t.gm_fast = np.where(selling, (1 - ec.trend_fast) * t.gm_fast + ec.trend_fast * gm, t.gm_fast)
    t.gm_slow = np.where(selling, (1 - ec.trend_slow) * t.gm_slow + ec.trend_slow * gm, t.gm_slow)
    compliance.learn(model)
    led.partner_gross_margin = float(t.gross_margin()[selling].sum())
    led.partner_profit = float(t.line_profit()[selling].sum())
    led.partner_effort = float(t.effort[selling].sum())
    # Capability: training arriving after its lag; without it skills revert to the partner's own level.
    tr = sc.incentives.training
    slot = m % t.train_pipe.shape[1]
    gain = t.train_pipe[:, slot].copy()
    t.train_pipe[:, slot] = 0.0
    for c in ("sales", "technical", "service"):
        col = t.cap[:, CAP[c]]
        own = t.cap0[:, CAP[c]]
        t.cap[:, CAP[c]] = np.clip(col + gain * (1.0 - col) - tr.decay * (col - own), 0.02, 0.98)
    model._refresh_capability()
    # Conflict losses, smoothed.
    lr = p.learning
    denom = np.maximum(model.pursuits, 1)
    wl = lr.conflict_losses
    t.loss_partner_ema = (1 - wl) * t.loss_partner_ema + wl * t.conf_lost_partner / denom
    t.loss_vendor_ema = (1 - wl) * t.loss_vendor_ema + wl * (t.conf_lost_direct + t.conf_lost_digital) / denom
    _satisfaction(model)
    _exits(model)


def customer_multiple(model: ChannelModel) -> float:
    """Expected present value of a new customer's renewal margins per unit of its first-year margin.

    ``renewal_value_share x g / (1 - g)`` with ``g`` = retention / (1 + discount rate over a contract),
    retention the programme's trailing twelve-month renewal rate (``market.renewal_base`` before any
    renewal has fallen due): what a partner can read off the programme's renewal figures.
    """
    mk = model.config.market
    done, due = model.renew_window.sum(axis=0)
    retention = done / due if due > 0 else mk.renewal_base
    g = min(retention / (1.0 + mk.discount_rate_annual * mk.renewal_interval / 12.0), 0.99)
    return mk.renewal_value_share * g / (1.0 - g)


def trend(model: ChannelModel) -> np.ndarray:
    """Trend of each partner's gross margin on the line: fast against slow average, in -1..1."""
    t = model.partners
    return np.clip((t.gm_fast - t.gm_slow) / np.maximum(np.abs(t.gm_slow), 1e-9), -1.0, 1.0)


def _satisfaction(model: ChannelModel) -> None:
    sc = model.config
    ss = sc.partners.satisfaction
    t = model.partners
    on_plan = t.lifecycle == IMPROVEMENT
    support = model.tier_table["support_level"][t.tier] + np.where(
        on_plan, ss.plan_support * model.payout_ratio.get("improvement", 1.0), 0.0
    ) + t.extra_support
    # Early intervention's contacts add to the programme's communication (both are 0 without it).
    communication = sc.relationship.communication * model.payout_ratio.get("relationship", 1.0) + t.extra_communication
    profit = np.clip(t.profit_ratio(), 0.0, ss.profit_cap) / ss.profit_cap
    target = (
        ss.base
        + ss.profit_weight * profit
        + ss.trend_weight * trend(model)
        + ss.support_weight * support
        + ss.recognition_weight * t.recognition
        + ss.communication_weight * communication
        - ss.conflict_loss_penalty * t.loss_partner_ema
        - ss.direct_loss_penalty * t.loss_vendor_ema
    )
    new = np.clip(t.satisfaction + ss.speed * (target - t.satisfaction), 0, 1)
    new = np.where(model._caught_now, np.clip(new - sc.partners.compliance.audit_satisfaction_penalty, 0, 1), new)
    t.satisfaction = np.where(t.selling, new, t.satisfaction)
    t.recognition = t.recognition * (1.0 - sc.incentives.recognition.decay)
    fade = 1.0 - sc.partners.intervention.contact_decay
    t.extra_support = t.extra_support * fade
    t.extra_communication = t.extra_communication * fade


def exit_hazards(model: ChannelModel) -> tuple[np.ndarray, np.ndarray]:
    """Monthly hazards of leaving by the partner's own choice and for other reasons."""
    p = model.config.partners
    lc = p.lifecycle
    t = model.partners
    # A line that pays less than a share ``exit_profit_floor`` of what the effort earns elsewhere is being
    # dropped: the drop hazard applies in proportion to the shortfall, in full once the line only covers its costs.
    shortfall = np.clip(lc.exit_profit_floor - t.profit_ratio(), 0.0, 1.0 + lc.exit_profit_floor)
    drop = np.clip(shortfall / lc.exit_profit_floor, 0.0, 1.0) if lc.exit_profit_floor > 0 else (shortfall > 0) * 1.0
    x = lc.exit_satisfaction_slope * (p.satisfaction.pivot - t.satisfaction)
    # A partner that has not won a deal for ``inactive_months`` has stopped selling the line.
    inactive = (model.month - t.last_deal) >= lc.inactive_months
    choice = np.minimum(
        1.0,
        lc.exit_hazard * np.exp(np.minimum(x, 50.0)) + lc.exit_drop_hazard * drop + lc.inactive_exit_hazard * inactive,
    )
    fin = t.cap[:, CAP["financial"]]
    other = np.minimum(1.0, lc.other_exit_hazard * np.exp(lc.other_exit_financial_slope * (0.5 - fin)))
    return choice, other


def _exits(model: ChannelModel) -> None:
    p = model.config.partners
    lc = p.lifecycle
    t = model.partners
    m = model.month
    led = model.ledger
    choice, other = exit_hazards(model)
    u = model.streams["exits"].random(t.n)
    reason = np.zeros(t.n, dtype=np.int8)
    reason[u < choice] = EXIT_CHOICE
    reason[(u >= choice) & (u < choice + other)] = EXIT_OTHER
    leave = t.selling & (reason > 0)
    # Onboarding ends after the ramp.
    tenure = m - t.joined
    done = (t.lifecycle == ONBOARDING) & ~leave & (tenure + 1 >= lc.onboarding_months)
    t.lifecycle[done] = ACTIVE
    led.onboarded += int(done.sum())
    # Improvement plans run their course.
    from .review import plan_reference

    imp = p.improvement
    on_plan = (t.lifecycle == IMPROVEMENT) & ~leave
    t.plan_left = np.where(on_plan, t.plan_left - 1, t.plan_left)
    ending = on_plan & (t.plan_left <= 0)
    if ending.any():
        recovered = t.ttm_revenue() >= imp.threshold * plan_reference(model)
        t.lifecycle[ending & recovered] = ACTIVE
        fail = ending & ~recovered
        if imp.exit_if_not_recovered:
            leave |= fail
            reason[fail] = EXIT_TERMINATED
        else:
            t.lifecycle[fail] = ACTIVE
    model.exit_partners(leave, reason)


def panel_rows(model: ChannelModel) -> dict[str, np.ndarray]:
    """One row per partner in the programme this month (and partners that left this month)."""
    t = model.partners
    m = model.month
    warm = model.config.time.warmup_months
    ids = np.flatnonzero((t.lifecycle != EXITED) | (t.left == m))
    rows = {
        "month": np.full(ids.size, m - warm + 1, dtype=np.int32),
        "partner_id": ids.astype(np.int32),
        "type": t.ptype[ids].copy(),
        "source": t.source[ids].copy(),
        "tier": t.tier[ids].copy(),
        "lifecycle": t.lifecycle[ids].copy(),
        "exit_reason": t.exit_reason[ids].copy(),
        "tenure": (m - t.joined[ids]).astype(np.int32),
        "revenue": t.revenue[ids].copy(),
        "ttm_revenue": t.ttm_revenue()[ids],
        "mindshare": t.mindshare[ids].copy(),
        "effort": t.effort[ids].copy(),
        "satisfaction": t.satisfaction[ids].copy(),
        "capability": model.contest_capability[ids].copy(),
        "certifications": t.certifications(m)[ids],
        "customers": t.customers[ids].copy(),
        "opportunities": model.pursuits[ids],
        "wins": model.wins[ids],
        "conflicts_won": t.conf_won[ids].copy(),
        "conflicts_lost_partner": t.conf_lost_partner[ids].copy(),
        "conflicts_lost_direct": t.conf_lost_direct[ids].copy(),
        "conflicts_lost_digital": t.conf_lost_digital[ids].copy(),
        "months_since_deal": (m - t.last_deal[ids]).astype(np.int32),
        "incentives": model._partner_spend[ids].copy(),
        "mdf_claimed": model.paid_by_lever.get("mdf", np.zeros(t.n))[ids] if isinstance(
            model.paid_by_lever.get("mdf"), np.ndarray) else np.zeros(ids.size),
        "compliance": t.compliance_record()[ids],
        "interventions": t.interventions[ids].copy(),
    }
    for j, name in enumerate(PL_LINES):
        rows[name] = t.pl[ids, j].copy()
    rows["gross_margin"] = t.gross_margin()[ids]
    rows["line_profit"] = t.line_profit()[ids]
    rows["outside_profit"] = ((t.outside_margin - t.seller_cost) * t.effort)[ids]
    rows["profit_ratio"] = t.profit_ratio()[ids]
    return rows
