"""The tier review (guide parts 3, 7): tiers, specialisations, recognition, improvement plans, exclusivity.

Every ``tiering.review_every_months`` the tiering policy sets each active
partner's tier (migrations are logged) and, if it awards them, the
specialisations it holds by segment; the review-phase levers run
(recognition), under-performers go on an improvement plan, and each
territory's exclusive partner is recomputed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .partners import ACTIVE, IMPROVEMENT
from .policies import LeverEvent
from .scenario import PARTNER_TYPES

if TYPE_CHECKING:
    from .model import ChannelModel


def plan_reference(model: ChannelModel) -> np.ndarray:
    """Revenue an improvement plan measures against: the median TTM revenue of active partners of the same type."""
    t = model.partners
    ttm = t.ttm_revenue()
    ref = np.zeros(len(PARTNER_TYPES))
    active = t.active
    for k in range(len(PARTNER_TYPES)):
        peers = ttm[active & (t.ptype == k)]
        ref[k] = np.median(peers) if peers.size else 0.0
    return ref[t.ptype]


def step(model: ChannelModel) -> None:
    t = model.partners
    m = model.month
    led = model.ledger
    active = t.active
    new = model.policies.tiering.review(model)
    new = np.where(active, np.clip(new, 0, len(model.config.tiering.tiers) - 1), t.tier).astype(np.int8)
    moved = np.flatnonzero(new != t.tier)
    for i in moved:
        model.migrations.append((m, int(i), int(t.tier[i]), int(new[i])))
    led.migrations_up += int((new > t.tier).sum())
    led.migrations_down += int((new < t.tier).sum())
    t.tier = new
    spec = model.policies.tiering.specialisations(model)
    if spec is not None:
        t.spec = np.asarray(spec, dtype=bool) & active[:, None]
    model.run_levers("review", LeverEvent("review", m, model.streams["levers"]), np.arange(t.n))
    imp = model.config.partners.improvement
    if imp.enabled:
        tenure = m - t.joined
        # Only with a full year of history (in the model) is TTM revenue a fair measure.
        weak = (
            (t.lifecycle == ACTIVE)
            & (tenure >= max(imp.min_tenure, 12))
            & (m >= 11)
            & (t.ttm_revenue() < imp.threshold * plan_reference(model))
        )
        t.lifecycle[weak] = IMPROVEMENT
        t.plan_left[weak] = imp.months
    update_exclusivity(model)


def update_exclusivity(model: ChannelModel) -> None:
    """Each territory's exclusive partner: the active partner based there with the highest tier, then revenue."""
    t = model.partners
    holder = np.full(model.config.market.n_territories, -1)
    ids = np.flatnonzero(t.active)
    if ids.size:
        order = np.lexsort((t.ttm_revenue()[ids], t.tier[ids], t.home[ids]))
        r = ids[order]
        holder[t.home[r]] = r  # the last (highest) per territory wins
    model.exclusive_holder = holder
