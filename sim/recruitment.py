"""Recruitment (guide part 1): prospects from sources, pre-qualification, evaluation, signing.

Prospects come from events and partner directories, each at its own rate, cost
per prospect and quality (a shift of the prospects' capabilities), and from
referrals by promoter partners.  The rates of events and directories follow
how attractive the programme is: they are multiplied by the mean profit ratio
of the active partners (their line's profit against what the same effort earns
on their other lines) to the power ``attractiveness_elasticity``.  Referrals
scale with the number of promoters.  Every prospect costs its source's cost
(an operating expense, outside gross profit); signed partners start
onboarding and cost the vendor ``onboarding_cost`` (booked as training).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .demand import poisson
from .partners import ACTIVE, ONBOARDING, SOURCE_NAMES
from .scenario import CAPABILITIES

if TYPE_CHECKING:
    from .model import ChannelModel

# Cap on the prospects of one month: far above any sensible rate, it bounds memory.
MAX_PROSPECTS = 100_000


def attractiveness(model: ChannelModel) -> float:
    """Mean profit ratio of active partners (1 = the line pays like their other lines; 1 with none)."""
    t = model.partners
    a = t.active
    if not a.any():
        return 1.0
    return float(np.clip(t.profit_ratio()[a], 0.0, 5.0).mean())


def arrival_rates(model: ChannelModel) -> dict[str, float]:
    """Expected prospects this month from each source."""
    rc = model.config.partners.recruitment
    t = model.partners
    factor = attractiveness(model) ** rc.attractiveness_elasticity
    rates = {name: src.rate * factor for name, src in rc.sources.items()}
    promoters = int((t.active & (t.satisfaction >= model.config.partners.satisfaction.promoter_threshold)).sum())
    rates["referrals"] = rc.referrals.rate_per_promoter * promoters
    return rates


def screen(model: ChannelModel, cap: np.ndarray) -> np.ndarray:
    """Which profiles pass pre-qualification (every dimension at least ``prequal_min``) and evaluation."""
    rc = model.config.partners.recruitment
    passed = (cap >= rc.prequal_min).all(axis=1)
    w = np.array([rc.weights.get(c, 0.0) for c in CAPABILITIES])
    score = cap @ w / w.sum()
    return passed & (score >= rc.accept_score)


def recruit(model: ChannelModel) -> None:
    """Draw this month's prospects, screen and sign them."""
    rc = model.config.partners.recruitment
    led = model.ledger
    rng = model.streams["recruit"]
    rates = arrival_rates(model)
    order = ("events", "directories", "referrals")
    counts = [int(c) for c in poisson(rng, np.array([min(rates.get(name, 0.0), MAX_PROSPECTS) for name in order]))]
    costs = [
        *(rc.sources[name].cost_per_prospect if name in rc.sources else 0.0 for name in order[:2]),
        rc.referrals.cost_per_prospect,
    ]
    qualities = [
        *(rc.sources[name].quality if name in rc.sources else 0.0 for name in order[:2]),
        rc.referrals.quality,
    ]
    for j, k in enumerate(counts):
        led.prospects_by_source[j] += k
        led.recruitment_cost_by_source[j] += k * costs[j]
    k = sum(counts)
    led.prospects = k
    if k == 0 or model.partners.active.sum() >= rc.max_partners:
        return
    source = np.repeat(np.arange(3), counts)
    quality = np.array(qualities)[source]
    prof = model.draw_partners(k, rng, quality=quality)
    accept = screen(model, prof["cap"])
    if not accept.any():
        return
    lifecycle = ONBOARDING if model.config.partners.lifecycle.onboarding_months > 0 else ACTIVE
    n = 0
    for j in range(3):
        pick = accept & (source == j)
        if not pick.any():
            continue
        chosen = {key: v[pick] for key, v in prof.items()}
        m = int(pick.sum())
        model.admit(chosen, lifecycle, np.full(m, model.month), rng, source=SOURCE_NAMES.index(order[j]))
        led.recruited_by_source[j] += m
        n += m
    led.recruited = n
    if lifecycle == ACTIVE:
        led.onboarded += n
    t = model.partners
    cost = np.zeros(t.n)
    cost[-n:] = model.config.partners.lifecycle.onboarding_cost
    model.spend("training", cost, np.arange(t.n))
    model._refresh_capability()
