"""Tiering policies (guide part 7): who sits in which tier after a review.

Interface: ``review(model) -> np.ndarray`` of new tier indices, one per partner
(only rows of active partners are used).  The model records migrations and
applies the tier's benefits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..model import ChannelModel


class TieringPolicy:
    """Base class: keep everyone where they are."""

    def __init__(self, scenario):
        self.scenario = scenario

    def review(self, model: ChannelModel) -> np.ndarray:
        return model.partners.tier.copy()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ThresholdTiering(TieringPolicy):
    """Rules on TTM revenue, certifications, customer satisfaction and compliance.

    A partner qualifies for the highest tier whose every requirement it meets.
    Promotion is immediate; a partner that falls short keeps its tier for
    ``grace_reviews`` reviews and is then demoted to the tier it qualifies for.
    """

    def eligible(self, model: ChannelModel) -> np.ndarray:
        t = model.partners
        tt = model.tier_table
        ttm = t.ttm_revenue()
        certs = t.certifications(model.month)
        csat = model.partner_customer_satisfaction()
        compliance = t.compliance_record()
        ok = (
            (ttm[:, None] >= tt["min_ttm_revenue"][None, :])
            & (certs[:, None] >= tt["min_certifications"][None, :])
            & (csat[:, None] >= tt["min_customer_satisfaction"][None, :])
            & (compliance[:, None] >= tt["min_compliance"][None, :])
        )
        ok[:, 0] = True  # the entry tier has no requirement beyond membership
        # Highest tier whose requirements are all met.
        return (ok.shape[1] - 1 - np.argmax(ok[:, ::-1], axis=1)).astype(np.int8)

    def review(self, model):
        t = model.partners
        grace = self.scenario.tiering.grace_reviews
        current = t.tier.copy()
        eligible = self.eligible(model)
        new = current.copy()
        up = eligible > current
        down = eligible < current
        new[up] = eligible[up]
        t.shortfall = np.where(down, t.shortfall + 1, 0).astype(np.int8)
        demote = down & (t.shortfall > grace)
        new[demote] = eligible[demote]
        t.shortfall = np.where(demote, 0, t.shortfall).astype(np.int8)
        return new
