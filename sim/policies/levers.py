"""Incentive levers (guide part 2): each a small, replaceable policy object.

Every lever has one interface:

* ``name``: the ledger line its spend is booked to;
* ``phase``: when the model asks it (``"month"`` at the start of the month,
  ``"deals"`` for each won deal, ``"month_end"``, ``"review"`` at tier reviews);
* ``expected_rate(model)``: the return per revenue dollar a partner expects
  from it (drives mindshare), one value per partner;
* ``request(model, event)``: the spend it asks for, one value per partner
  (or per deal in the ``"deals"`` phase); never negative;
* ``apply(model, event, paid)``: the effect of what the budget granted.

The model passes every request through the incentive budget, so ``paid`` may
be smaller than the request.  Levers read the model; they change only the
partner state their mechanism names (leads, capability, satisfaction).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ..partners import CAP, IMPROVEMENT

if TYPE_CHECKING:
    from ..model import ChannelModel


@dataclass
class DealBatch:
    """Deals won by partners this month (one entry per deal)."""

    partner: np.ndarray
    value: np.ndarray
    registered: np.ndarray
    new_customer: np.ndarray
    segment: np.ndarray | None = None  # the accounts' segments (None: not known to the caller)
    collaborative: np.ndarray | None = None  # won by a partner team (None: no team this batch)


@dataclass
class LeverEvent:
    """What a lever is asked about: the phase, the month, the run's generator and (for deals) the batch."""

    phase: str
    month: int
    rng: np.random.Generator
    deals: DealBatch | None = None
    extra: dict = field(default_factory=dict)


class Lever:
    """Base class of incentive levers; see the module docstring for the contract."""

    name: ClassVar[str] = "lever"
    phase: ClassVar[str] = "month"

    def __init__(self, scenario):
        self.scenario = scenario

    def expected_rate(self, model: ChannelModel) -> np.ndarray:
        return np.zeros(model.partners.n)

    def request(self, model: ChannelModel, event: LeverEvent) -> np.ndarray:
        raise NotImplementedError

    def apply(self, model: ChannelModel, event: LeverEvent, paid: np.ndarray) -> None:
        """Effect of the granted spend (default: none beyond the payment)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _tier_values(model: ChannelModel, attr: str) -> np.ndarray:
    return model.tier_table[attr][model.partners.tier]


class DiscountLever(Lever):
    """Front-end discount off list price by tier, plus the deal-registration and specialisation extras."""

    name = "discount"
    phase = "deals"

    def rate(self, model: ChannelModel) -> np.ndarray:
        return _tier_values(model, "discount") * self.scenario.incentives.discount_scale

    def expected_rate(self, model):
        # The partner passes part of its discount to the customer as price; it keeps the rest.
        return self.rate(model) * (1.0 - self.scenario.partners.economics.pass_through)

    def request(self, model, event):
        d = event.deals
        base = self.rate(model)[d.partner]
        extra = np.where(d.registered, self.scenario.conflict.deal_registration.extra_discount, 0.0)
        if model.config.tiering.specialisation.enabled and d.segment is not None:  # as ChannelModel.book
            extra = extra + model.specialisation_discount(d.partner, d.segment)
        return (base + extra) * d.value


class SpiffLever(Lever):
    """Sales bonus (SPIFF) per new-customer deal, for partners in SPIFF-eligible tiers."""

    name = "spiff"
    phase = "deals"

    def expected_rate(self, model):
        cfg = self.scenario.incentives.spiff
        eligible = _tier_values(model, "spiff_eligible")
        # The amount is fixed in USD; deal values move with the price index.
        deal = model.mean_deal_value * self.scenario.market.price_index
        return eligible * (cfg.amount / deal + cfg.share_of_deal)

    def request(self, model, event):
        cfg = self.scenario.incentives.spiff
        d = event.deals
        eligible = _tier_values(model, "spiff_eligible")[d.partner] & d.new_customer
        return np.where(eligible, cfg.amount + cfg.share_of_deal * d.value, 0.0)


class RebateLever(Lever):
    """Back-end rebate on the month's partner revenue, with a growth accelerator."""

    name = "rebate"
    phase = "month_end"

    def rate(self, model):
        cfg = self.scenario.incentives.rebate
        t = model.partners
        base = _tier_values(model, "rebate_rate") * cfg.scale
        prior = t.prior_ttm_revenue()
        growth = np.where(prior > 0, t.ttm_revenue() / np.maximum(prior, 1e-9) - 1.0, 0.0)
        return np.where(growth >= cfg.growth_target, base * cfg.accelerator, base)

    def expected_rate(self, model):
        return self.rate(model)

    def request(self, model, event):
        return self.rate(model) * model.partners.revenue


class MDFLever(Lever):
    """Market development funds: accrue on revenue, claimed below 100 %, turned into leads.

    Funds accrue in monthly buckets and expire unclaimed after ``expiry_months``.
    Each month a partner claims a share of its fund that rises with its marketing
    capability; the claim is paid (through the budget) and becomes leads with
    diminishing returns.
    """

    name = "mdf"
    phase = "month"

    def accrual_rate(self, model):
        return _tier_values(model, "mdf_accrual_rate") * self.scenario.incentives.mdf.scale

    def expected_rate(self, model):
        # A partner values MDF at what it expects to use of it: the observed utilisation, or the
        # prior before any fund has been claimed or has expired.
        observed = model.mdf_utilisation()
        prior = self.scenario.incentives.mdf.utilisation_prior
        return self.accrual_rate(model) * (observed if np.isfinite(observed) else prior)

    def request(self, model, event):
        cfg = self.scenario.incentives.mdf
        t = model.partners
        share = np.clip(cfg.claim_rate + cfg.claim_marketing_slope * t.cap[:, CAP["marketing"]], 0.0, 1.0)
        share = np.where(t.selling, share, 0.0)
        return share * t.mdf_fund.sum(axis=1)

    def apply(self, model, event, paid):
        cfg = self.scenario.incentives.mdf
        t = model.partners
        # Draw the claim from the oldest buckets first.
        remaining = paid.copy()
        months = t.mdf_fund.shape[1]
        for k in range(months):
            col = (event.month + k) % months  # oldest bucket first: it expires at the end of this month
            take = np.minimum(remaining, t.mdf_fund[:, col])
            t.mdf_fund[:, col] -= take
            remaining -= take
        leads = cfg.leads_per_1000 * (np.maximum(paid, 0.0) / 1000.0) ** cfg.diminishing
        from ..demand import poisson

        event.extra["mdf_leads"] = poisson(event.rng, leads)


class TrainingLever(Lever):
    """Funded training by tier: raises capability with a lag and diminishing returns, earns certifications."""

    name = "training"
    phase = "month"

    def request(self, model, event):
        t = model.partners
        cfg = self.scenario.incentives.training
        budget = _tier_values(model, "training_budget") * cfg.scale
        # Partners take up funded training in proportion to their engagement.
        uptake = np.clip(cfg.uptake_base + cfg.uptake_mindshare * t.mindshare, 0.0, 1.0)
        return np.where(t.selling, budget * uptake, 0.0)

    def apply(self, model, event, paid):
        cfg = self.scenario.incentives.training
        t = model.partners
        gain = cfg.effect * (1.0 - np.exp(-paid / cfg.saturation))
        lag = cfg.lag_months
        slot = (event.month + lag) % (lag + 1)
        t.train_pipe[:, slot] += gain
        t.train_accum[:] += paid
        earned = t.train_accum >= cfg.certification_cost
        if earned.any():
            ids = np.flatnonzero(earned)
            t.train_accum[ids] -= cfg.certification_cost
            # Renew the certification that expires first (an empty slot holds -1).
            slots = np.argmin(t.cert_expiry[ids], axis=1)
            t.cert_expiry[ids, slots] = event.month + cfg.certification_months


class RecognitionLever(Lever):
    """Non-financial recognition: at each tier review the top performers are recognised."""

    name = "recognition"
    phase = "review"

    def request(self, model, event):
        cfg = self.scenario.incentives.recognition
        t = model.partners
        active = np.flatnonzero(t.active)
        chosen = np.zeros(t.n, dtype=bool)
        k = int(round(cfg.top_share * active.size))
        if k > 0:
            ttm = t.ttm_revenue()[active]
            chosen[active[np.argsort(-ttm, kind="stable")[:k]]] = True
        event.extra["recognised"] = chosen
        return np.where(chosen, cfg.cost_per_award, 0.0)

    def apply(self, model, event, paid):
        cfg = self.scenario.incentives.recognition
        chosen = event.extra["recognised"]
        # A partner the budget could fund only in part is recognised in part.
        share = np.clip(paid / cfg.cost_per_award, 0.0, 1.0) if cfg.cost_per_award > 0 else chosen.astype(float)
        t = model.partners
        t.recognition = np.maximum(t.recognition, cfg.satisfaction_boost * share * chosen)


class RelationshipLever(Lever):
    """Relationship programme (part 4): communication intensity, at a cost per active partner."""

    name = "relationship"
    phase = "month"

    def request(self, model, event):
        cfg = self.scenario.relationship
        return np.where(model.partners.active, cfg.cost_per_partner * cfg.communication, 0.0)


class ImprovementLever(Lever):
    """Improvement plans (part 3): monthly support of partners on a plan, lifting capability."""

    name = "improvement"
    phase = "month"

    def request(self, model, event):
        cfg = self.scenario.partners.improvement
        return np.where(model.partners.lifecycle == IMPROVEMENT, cfg.support_cost, 0.0)

    def apply(self, model, event, paid):
        cfg = self.scenario.partners.improvement
        if cfg.support_cost <= 0:
            return
        share = np.clip(paid / cfg.support_cost, 0.0, 1.0)
        t = model.partners
        boost = cfg.capability_boost * share
        for c in ("sales", "marketing", "service"):
            t.cap[:, CAP[c]] = np.clip(t.cap[:, CAP[c]] + boost, 0.02, 0.98)
        # Marketing is not trained by the vendor: a plan's lift to it stays in the partner's own level.
        t.cap0[:, CAP["marketing"]] = np.clip(t.cap0[:, CAP["marketing"]] + boost, 0.02, 0.98)


class CollaborationLever(Lever):
    """The collaboration incentive (part 7): a share of the value of every deal a partner team won.

    Both the lead and the helper are paid on their part of the deal (``sim.collaboration``); it
    asks for nothing unless ``partners.collaboration.enabled``.
    """

    name = "collaboration"
    phase = "deals"

    def request(self, model, event):
        cfg = model.config.partners.collaboration  # the running scenario's (a warm-up may not have it)
        d = event.deals
        if not cfg.enabled or d.collaborative is None:
            return np.zeros(d.partner.size)
        return np.where(d.collaborative, cfg.incentive_share * d.value, 0.0)


def default_levers(scenario) -> list[Lever]:
    """The programme's levers, in the order the model asks them within a phase.

    Early intervention comes last: it asks for nothing (and draws nothing) unless
    ``partners.intervention.enabled``, and its campaigns add to the month's MDF leads.
    """
    from .intervention import InterventionLever

    return [
        MDFLever(scenario),
        TrainingLever(scenario),
        RelationshipLever(scenario),
        ImprovementLever(scenario),
        DiscountLever(scenario),
        SpiffLever(scenario),
        RebateLever(scenario),
        RecognitionLever(scenario),
        InterventionLever(scenario),
        CollaborationLever(scenario),
    ]
