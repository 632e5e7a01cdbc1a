"""Conflict resolution policies (guide part 5).

An opportunity pursued by two or more of the vendor's channels is a conflict.
The model first applies the scenario's *protections* in order (each can make
pursuers withdraw), then settles what is left with a *fallback*.

Interfaces:

* ``Protection.withdraw(model, batch) -> bool array`` over the batch's
  pursuer rows: which rows withdraw.  ``name`` labels the conflicts it settles.
* ``Fallback.settle(model, batch, rng) -> Settlement`` for conflicts still open:
  the winning row per opportunity, the margin lost, the vendor's cost and
  which deals are lost during the process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ..customers import DIGITAL_CH, DIRECT_CH, PARTNER_CH

if TYPE_CHECKING:
    from ..market import PursuitBatch
    from ..model import ChannelModel


class Protection:
    """Base class of protection rules."""

    name: ClassVar[str] = "protection"

    def __init__(self, scenario):
        self.scenario = scenario

    def withdraw(self, model: ChannelModel, batch: PursuitBatch) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class RulesOfEngagement(Protection):
    """Account-size rule: large deals belong to direct sales, the rest to partners.

    In a deal at or above the threshold that direct sales pursues, partners and
    the digital channel withdraw; below it, direct sales withdraws wherever a
    partner pursues, and the digital channel withdraws unless the customer
    prefers it.
    """

    name = "rules_of_engagement"

    def withdraw(self, model, batch):
        thr = self.scenario.conflict.rules_of_engagement.direct_min_deal_size
        by_kind = batch.live_by_kind()
        # Per opportunity: large and pursued by direct sales (it goes to direct sales), else pursued
        # by a partner (the partners keep it); then per row by its channel.
        to_direct = (batch.opp_value >= thr) & (by_kind[:, DIRECT_CH] > 0)
        to_partner = ~to_direct & (by_kind[:, PARTNER_CH] > 0)
        table = np.empty((batch.n_opps, 3), dtype=bool)
        table[:, PARTNER_CH] = to_direct
        table[:, DIRECT_CH] = to_partner
        table[:, DIGITAL_CH] = to_direct | (to_partner & (batch.opp_pref != DIGITAL_CH))
        return table.ravel()[batch.opp_kind]


class TerritoryExclusivity(Protection):
    """The territory's exclusive partner is protected: other partners withdraw when it pursues."""

    name = "territory_exclusivity"

    def withdraw(self, model, batch):
        holder = model.exclusive_holder[batch.opp_territory]  # per opportunity, -1 if none
        is_holder_row = (batch.kind == PARTNER_CH) & (batch.partner == holder[batch.opp])
        holder_in = np.zeros(batch.n_opps, dtype=bool)
        holder_in[batch.opp[is_holder_row & batch.live]] = True
        return holder_in[batch.opp] & (batch.kind == PARTNER_CH) & ~is_holder_row


class DealRegistration(Protection):
    """Deal registration: the first eligible partner to register is protected.

    Eligible: the partner's tier allows registration and the deal is at least
    ``min_deal_size``.  A partner whose lead brought the account to market
    registers first.  Other partners withdraw; so do direct sales and the
    digital channel if the vendor honours registrations against its own teams.
    The registrant earns the extra discount if it wins.
    """

    name = "deal_registration"

    def withdraw(self, model, batch):
        from ..kernels import deal_registration

        cfg = self.scenario.conflict.deal_registration
        # Registrations and withdrawals in one compiled pass over the rows (sim.kernels.deal_registration):
        # who registered first (the lead's source, otherwise random order; ties to the lowest row) is kept
        # in ``batch.registered_row``; the others withdraw.
        registered = batch.registered_row.astype(np.int64, copy=True)
        out = deal_registration(batch.opp, batch.kind, batch.live, batch.partner, batch.u_register, batch.u_order,
                                float(cfg.registration_rate), model.partners.tier,
                                np.asarray(model.tier_table["deal_registration"], dtype=bool), batch.opp_value,
                                float(cfg.min_deal_size), batch.opp_sourced, registered,
                                bool(cfg.protects_against_direct))
        batch.registered_row = registered
        return out


@dataclass
class Settlement:
    """Outcome of settling open conflicts, one entry per opportunity in the batch."""

    winner_row: np.ndarray  # -1 where not settled by the fallback
    margin_lost_share: np.ndarray
    cost: np.ndarray
    lost: np.ndarray  # deal lost to a competitor during the process


class Fallback:
    """Base class of fallbacks for conflicts the protections left open."""

    name: ClassVar[str] = "fallback"

    def __init__(self, scenario):
        self.scenario = scenario

    def settle(
        self, model: ChannelModel, batch: PursuitBatch, open_opps: np.ndarray, rng: np.random.Generator
    ) -> Settlement:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class PriceContest(Fallback):
    """No rule: the pursuers compete on price; the winner is drawn from the contest and the price erodes."""

    name = "price_contest"

    def settle(self, model, batch, open_opps, rng):
        cfg = self.scenario.conflict
        n = batch.n_opps
        winner = batch.contest_winner(open_opps, noise=cfg.contest_noise)
        rivals = batch.live_count() - 1
        erosion = np.where(open_opps, np.minimum(cfg.max_erosion, cfg.erosion_per_rival * np.maximum(rivals, 0)), 0.0)
        return Settlement(winner, erosion, np.zeros(n), np.zeros(n, dtype=bool))


class Mediation(Fallback):
    """The vendor mediates: merit decides, at a cost in management time and a delay that can lose the deal."""

    name = "mediation"

    def settle(self, model, batch, open_opps, rng):
        cfg = self.scenario.conflict
        n = batch.n_opps
        winner = batch.contest_winner(open_opps, noise=cfg.mediation_noise)
        lost = open_opps & (batch.u_delay < cfg.mediation_delay_loss)
        cost = np.where(open_opps, cfg.mediation_cost, 0.0)
        return Settlement(winner, np.zeros(n), cost, lost)


PROTECTIONS = {p.name: p for p in (RulesOfEngagement, TerritoryExclusivity, DealRegistration)}
FALLBACKS = {f.name: f for f in (PriceContest, Mediation)}


def default_protections(scenario) -> list[Protection]:
    return [PROTECTIONS[name](scenario) for name in scenario.conflict.protections]


def default_fallback(scenario) -> Fallback:
    return FALLBACKS[scenario.conflict.fallback](scenario)
