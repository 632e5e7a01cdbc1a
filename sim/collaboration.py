"""Partner collaboration (guide part 7, ecosystem optimisation): referral hand-offs and co-selling.

Off unless ``partners.collaboration.enabled`` (the vendor's collaboration programme: partner
matchmaking and, optionally, an incentive on collaborative deals). Two forms, each a *team* of
two partners on one opportunity, formed in the market round after pursuit and before any conflict
is detected:

* **Referral hand-off.** A finder (a referral agent or a distributor) and a delivering partner (a
  VAR, an SI or an MSP) pursue the same account: with probability ``team_rate`` (``funded_team_rate``
  when the programme pays an incentive) the finder hands the opportunity to the deliverer instead of
  contesting it. The finder's pursuit ends (no horizontal conflict between the two); if the deal is
  won, the finder's share ``referral_share`` of the deal value is booked to it (its referral revenue).
* **Co-selling.** An SI pursues an enterprise account in a territory where an MSP sells (the MSP
  runs the managed service the SI's project needs): with the same probability the two co-sell; the
  SI's contest utility rises by ``co_sell_bonus`` (the combined offer) and, if won, the MSP's share
  ``co_sell_share`` of the deal value is booked to it.

The lead partner (the deliverer, the SI) owns the customer; renewals are its own. The vendor pays
``incentive_share`` of the value of every collaborative deal won (a deal-time lever,
:class:`sim.policies.levers.CollaborationLever`, through the incentive budget). Every random number
is keyed by the account and the month (``sim.market.keyed_uniform``), with a salt derived from the
run's root seed, so a run without the programme draws nothing and a run with it shares every other
random number with the run without it (common random numbers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .customers import PARTNER_CH
from .scenario import PARTNER_TYPES, SEGMENTS

if TYPE_CHECKING:
    from .market import PursuitBatch
    from .model import ChannelModel

NONE, REFERRAL, CO_SELL = 0, 1, 2
_FINDERS = tuple(PARTNER_TYPES.index(n) for n in ("referral", "distributor"))
_DELIVERERS = tuple(PARTNER_TYPES.index(n) for n in ("var", "si", "msp"))
_SI, _MSP = PARTNER_TYPES.index("si"), PARTNER_TYPES.index("msp")
_ENTERPRISE, _MID = SEGMENTS.index("enterprise"), SEGMENTS.index("mid")


@dataclass
class Teams:
    """The month's teams, one entry per opportunity of the pursuit batch."""

    kind: np.ndarray  # NONE, REFERRAL or CO_SELL
    lead_row: np.ndarray  # the lead partner's pursuit row (-1: no team)
    helper: np.ndarray  # the helper partner's id (-1: no team)
    share: np.ndarray  # the helper's share of the deal value


def _salt(model: ChannelModel) -> np.uint64:
    """A salt of this run and month that consumes no generator (so other draws are untouched)."""
    state = np.random.SeedSequence(model._root, spawn_key=(7_919, int(model.month))).generate_state(1, np.uint64)
    return np.uint64(state[0])


def team_up(model: ChannelModel, batch: PursuitBatch) -> Teams:
    """Form the month's teams on ``batch`` (in place: handed-off finders stop, co-sell leads gain utility)."""
    from .market import keyed_uniform

    cfg = model.config.partners.collaboration
    n = batch.n_opps
    teams = Teams(kind=np.zeros(n, dtype=np.int8), lead_row=np.full(n, -1), helper=np.full(n, -1),
                  share=np.zeros(n))
    t = model.partners
    rows = np.flatnonzero(batch.live & (batch.kind == PARTNER_CH))
    if rows.size == 0:
        return teams
    rate = cfg.funded_team_rate if cfg.incentive_share > 0 else cfg.team_rate
    u = keyed_uniform(batch.opp_account.astype(np.uint64) * np.uint64(1 << 22) + np.uint64(5), _salt(model))
    agrees = u < rate
    ptype = t.ptype[batch.partner[rows]]
    opp = batch.opp[rows]

    # Referral hand-offs: the first finder row and the deliverer row of highest utility on the same account.
    finder = np.isin(ptype, _FINDERS)
    deliverer = np.isin(ptype, _DELIVERERS)
    f_row = np.full(n, -1)
    f_row[opp[finder][::-1]] = rows[finder][::-1]
    d_row = np.full(n, -1)
    if deliverer.any():
        dr = rows[deliverer]
        order = np.lexsort((batch.utility[dr], batch.opp[dr]))  # by opportunity, then utility (highest last)
        d_row[batch.opp[dr[order]]] = dr[order]
    ref = (f_row >= 0) & (d_row >= 0) & agrees
    if ref.any():
        batch.live[f_row[ref]] = False
        teams.kind[ref] = REFERRAL
        teams.lead_row[ref] = d_row[ref]
        teams.helper[ref] = batch.partner[f_row[ref]]
        teams.share[ref] = cfg.referral_share

    # Co-selling: an SI on an enterprise account teams with the best MSP selling in the territory.
    si = ptype == _SI
    cand = np.full(n, -1)
    cand[opp[si]] = rows[si]
    co = (cand >= 0) & (batch.opp_segment == _ENTERPRISE) & (teams.kind == NONE) & agrees
    if co.any():
        msp = _best_msp_by_territory(model)
        partner_of = msp[batch.opp_territory[co]]
        ok = partner_of >= 0
        idx = np.flatnonzero(co)[ok]
        lead = cand[idx]
        batch.utility[lead] += cfg.co_sell_bonus
        teams.kind[idx] = CO_SELL
        teams.lead_row[idx] = lead
        teams.helper[idx] = partner_of[ok]
        teams.share[idx] = cfg.co_sell_share
    return teams


def _best_msp_by_territory(model: ChannelModel) -> np.ndarray:
    """For each territory, the selling MSP covering its mid-market cell with the highest capability (-1: none)."""
    t = model.partners
    n_terr = model.config.market.n_territories
    best = np.full(n_terr, -1)
    e_p = model.edge_partner
    e_c = model.edge_cell
    ok = t.selling[e_p] & (t.ptype[e_p] == _MSP) & (e_c % 3 == _MID)
    if not ok.any():
        return best
    p = e_p[ok]
    terr = e_c[ok] // 3
    cap = model.contest_capability[p]
    order = np.lexsort((cap, terr))  # by territory, highest capability last
    best[terr[order]] = p[order]
    return best


def won_teams(teams: Teams | None, batch: PursuitBatch, winner_row: np.ndarray) -> np.ndarray:
    """Opportunities won by a team's lead (boolean, one per opportunity)."""
    if teams is None:
        return np.zeros(batch.n_opps, dtype=bool)
    return (teams.kind != NONE) & (winner_row >= 0) & (winner_row == teams.lead_row)


__all__ = ["CO_SELL", "NONE", "REFERRAL", "Teams", "team_up", "won_teams"]
