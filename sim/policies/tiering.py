"""Tiering policies (guide part 7): who sits in which tier after a review.

Interface: ``review(model) -> np.ndarray`` of new tier indices, one per partner
(only rows of active partners are used).  The model records migrations and
applies the tier's benefits.  ``specialisations(model)`` returns the
specialisations each partner holds after the review, a boolean array of shape
``(n partners, 3 segments)``, or ``None`` when the policy awards none (the
revenue-tier policies); the model applies their benefits.
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

    def specialisations(self, model: ChannelModel) -> np.ndarray | None:
        """Specialisations held after the review, ``(n, 3)`` booleans; ``None``: this policy awards none."""
        return None

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


def specialisation_eligible(model: ChannelModel, certs: np.ndarray | None = None) -> np.ndarray:
    """Which partners meet each segment's specialisation requirements, ``(n, 3)`` booleans.

    A partner qualifies in a segment it sells to (its type's segments) when it holds at least
    ``tiering.specialisation.min_certifications`` active certifications (``certs``, by default
    those held this month) and has at least ``min_customers`` of that segment as active customers.
    Only active partners and partners on an improvement plan qualify.
    """
    cfg = model.config.tiering.specialisation
    t = model.partners
    if certs is None:
        certs = t.certifications(model.month)
    held = customers_by_segment(model)
    need = np.asarray(cfg.min_customers.as_array())
    mask = model.type_table["segmask"][t.ptype]
    sells = ((mask[:, None] >> np.arange(3, dtype=np.uint8)[None, :]) & 1).astype(bool)
    ok = sells & (held >= need[None, :]) & (certs >= cfg.min_certifications)[:, None]
    ok &= t.active[:, None]
    return ok


def customers_by_segment(model: ChannelModel, weights: np.ndarray | None = None) -> np.ndarray:
    """Active customers each partner holds in each segment, ``(n, 3)``.

    With ``weights`` (one per account, e.g. ``customers.value``): their sum over those customers
    instead of their count.
    """
    from ..customers import CUSTOMER

    cu = model.customers
    n = model.partners.n
    own = (cu.state == CUSTOMER) & (cu.partner >= 0)
    key = cu.partner[own].astype(np.int64) * 3 + cu.segment[own]
    w = None if weights is None else weights[own]
    return np.bincount(key, weights=w, minlength=3 * n).reshape(n, 3)


class SpecialityTiering(ThresholdTiering):
    """Revenue tiers (as :class:`ThresholdTiering`) plus specialisations by segment (guide part 7).

    At each review a partner holds the specialisation of every segment whose requirements it
    meets (:func:`specialisation_eligible`); one it no longer meets lapses at that review.
    Used when ``tiering.specialisation.enabled`` is true.
    """

    def specialisations(self, model):
        return specialisation_eligible(model)
