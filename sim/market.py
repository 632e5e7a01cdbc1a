"""Opportunities, pursuit and conflict (guide parts 2, 5 and 8).

Each month every in-market account is an opportunity.  A partner covering its
territory and segment pursues it with probability ``1 - exp(-capacity /
demand)`` (its capacity, sellers x mindshare x ramp x opportunities per
seller-month, spread over the demand in the cells it covers; each unit of
effort lands on a random opportunity, so coverage has diminishing returns);
the partner whose lead brought the account pursues it always.  The vendor's
direct sales pursues inbound requests, its own prospects and, up to its
capacity, outbound opportunities in its territories and segments; the digital
channel pursues accounts that prefer it and reaches others with a probability.

Two or more vendor channels on one opportunity make a conflict: horizontal
(partners only), vertical (direct sales and a partner) or multichannel (the
digital channel and a partner).  Protections, then a fallback, settle it;
the vendor's remaining channel then contests the deal against the best
competing vendor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .customers import DIGITAL_CH, DIRECT_CH, PARTNER_CH
from .scenario import SEGMENTS

if TYPE_CHECKING:
    from .collaboration import Teams
    from .model import ChannelModel

HORIZONTAL, VERTICAL, MULTICHANNEL = 0, 1, 2
SEGMENT_ENTERPRISE = SEGMENTS.index("enterprise")
CONFLICT_TYPES = ("horizontal", "vertical", "multichannel")


@dataclass
class PursuitBatch:
    """The month's opportunities (``opp_*``, one per opportunity) and pursuer rows (one per pursuer)."""

    n_opps: int
    opp_account: np.ndarray
    opp_value: np.ndarray
    opp_pref: np.ndarray
    opp_territory: np.ndarray
    opp_segment: np.ndarray
    opp_sourced: np.ndarray
    opp: np.ndarray  # row -> opportunity index
    kind: np.ndarray  # row -> channel
    partner: np.ndarray  # row -> partner id (-1 for direct/digital)
    utility: np.ndarray  # row -> contest utility before noise
    gumbel: np.ndarray  # row -> standard Gumbel noise
    u_register: np.ndarray
    u_order: np.ndarray
    u_prevent: np.ndarray  # one per opportunity
    u_compete: np.ndarray  # one per opportunity: the contest against the competitor
    u_delay: np.ndarray  # one per opportunity: a mediated deal lost to the delay
    live: np.ndarray  # row still pursuing
    prevented: np.ndarray  # row never started: a known rule excluded it
    registered_row: np.ndarray  # opportunity -> row of the registrant, -1 if none

    @property
    def opp_kind(self) -> np.ndarray:
        """Row -> ``3 * opportunity + channel``: an index into (opportunity, channel) tables, flattened."""
        cached = self.__dict__.get("_opp_kind")
        if cached is None or cached.size != self.opp.size:
            cached = self.opp * 3 + self.kind
            self.__dict__["_opp_kind"] = cached
        return cached

    def opp_has(self, kind: int) -> np.ndarray:
        return self.live_count(kind) > 0

    def live_count(self, kind: int | None = None) -> np.ndarray:
        """Live rows of each opportunity (of channel ``kind``; None: all)."""
        from .kernels import live_count

        return live_count(self.opp, self.kind, self.live, self.n_opps, -1 if kind is None else int(kind))

    def live_by_kind(self) -> np.ndarray:
        """Live rows of each opportunity by channel: counts of shape (n_opps, 3), columns partner, direct, digital.

        One count for the three channels (``live_count(k)`` is column ``k``).
        """
        from .kernels import live_by_kind

        return live_by_kind(self.opp, self.kind, self.live, self.n_opps)

    def contest_winner(self, mask_opps: np.ndarray, noise: float) -> np.ndarray:
        """Row with the highest utility + noise x Gumbel among live rows, per opportunity in ``mask_opps``."""
        rows = np.flatnonzero(self.live & mask_opps[self.opp])
        winner = np.full(self.n_opps, -1)
        if rows.size == 0:
            return winner
        score = self.utility[rows] + noise * self.gumbel[rows]
        opp = self.opp[rows]
        if np.isnan(score).any():  # NaN scores sort last: keep the sort's exact semantics
            order = np.lexsort((-score, opp))
            r = rows[order]
            first = np.ones(r.size, dtype=bool)
            first[1:] = self.opp[r[1:]] != self.opp[r[:-1]]
            winner[self.opp[r[first]]] = r[first]
            return winner
        # The best score of each opportunity; ties go to the lowest row (the reversed assignment
        # leaves the lowest row's write last), as a stable sort by (opportunity, -score) would.
        best = np.full(self.n_opps, -np.inf)
        np.maximum.at(best, opp, score)
        top = score == best[opp]
        winner[opp[top][::-1]] = rows[top][::-1]
        return winner


_M1, _M2, _M3 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_TWO53 = 9007199254740992  # 2**53: a keyed uniform carries 53 random bits
_INV53 = 1.0 / 9007199254740992.0


def _mix(z: np.ndarray, tmp: np.ndarray | None = None) -> np.ndarray:
    """The rest of the splitmix64 finaliser on ``z = key * _M1 + salt`` (uint64), in place; returns ``z``.

    ``tmp``: a work array of the same size and type (a new one when None).
    """
    tmp = np.empty_like(z) if tmp is None else tmp
    with np.errstate(over="ignore"):
        np.right_shift(z, np.uint64(30), out=tmp)
        z ^= tmp
        z *= _M2
        np.right_shift(z, np.uint64(27), out=tmp)
        z ^= tmp
        z *= _M3
        np.right_shift(z, np.uint64(31), out=tmp)
        z ^= tmp
    return z


def keyed_bits(keys: np.ndarray, salt: np.uint64) -> np.ndarray:
    """The 53 random bits (uint64 in [0, 2**53)) behind :func:`keyed_uniform`, one per key."""
    with np.errstate(over="ignore"):
        z = keys * _M1  # a new array; the rest works in place
        z += salt
    _mix(z)
    z >>= np.uint64(11)
    return z


def keyed_uniform(keys: np.ndarray, salt: np.uint64) -> np.ndarray:
    """A uniform in (0, 1) for each key (uint64), the same for the same key and salt (splitmix64 finaliser)."""
    return keyed_uniforms(keys, np.array([salt], dtype=np.uint64))[0]


def keyed_uniforms(keys: np.ndarray, salts: np.ndarray) -> np.ndarray:
    """``keyed_uniform(keys, salt)`` for each of ``salts``: one row per salt, in one block.

    The 53 bits of :func:`keyed_bits`, ``(bits + 0.5) / 2**53``, in one compiled loop
    (:func:`sim.kernels.keyed_uniforms`).
    """
    from .kernels import keyed_uniforms as kernel

    return kernel(np.ascontiguousarray(keys, dtype=np.uint64), np.ascontiguousarray(salts, dtype=np.uint64))


def uniform_threshold(a: np.ndarray) -> np.ndarray:
    """Integer thresholds ``T`` (uint64): ``keyed_uniform(k, s) < a`` exactly when ``keyed_bits(k, s) < T``.

    ``keyed_uniform`` is ``fl(b + 0.5) / 2**53`` of the bits ``b``, non-decreasing in ``b``, so
    ``u < a`` holds for the bits below a threshold: the smallest ``b`` in ``[0, 2**53]`` with
    ``b == 2**53`` or ``fl(b + 0.5) / 2**53 >= a``.  It lies within two of ``ceil(a * 2**53)``
    (``fl(b + 0.5)`` is within 1 of ``b``), so it is found by stepping up from ``ceil - 2`` with
    the very float expression of ``keyed_uniform``.  Comparing integers then gives the same
    booleans as comparing the floats, without converting every pair's bits.  NaN gives 0
    (``u < nan`` is false).  Computed element by element in a compiled loop with these very float steps
    (:func:`sim.kernels.uniform_threshold`).
    """
    from .kernels import uniform_threshold as kernel

    return kernel(np.ascontiguousarray(a, dtype=np.float64).ravel())


def _partner_pursuits(cell: np.ndarray, ptr: np.ndarray, live_partner: np.ndarray, opp_key: np.ndarray,
                      sourced: np.ndarray, a: np.ndarray, salt: np.uint64) -> tuple[np.ndarray, np.ndarray]:
    """The (opportunity index, partner) pairs that pursue, opportunity by opportunity.

    Within an opportunity, partners come in the order of its cell's edges
    (``live_partner[ptr[c]:ptr[c + 1]]`` for cell ``c``).  A pair pursues when
    ``keyed_uniform(partner + opp_key + 3, salt) < a[partner]``, or when the partner is the one whose
    lead brought the account (``sourced``; it then covers the cell, as leads go to a partner's own
    cells).  The pairs (about 120,000 a month in the baseline, one in ten pursuing) are hashed in one
    compiled loop (:func:`sim.kernels.partner_pursuits`) with two exact shortcuts: the hash's first
    step is linear in the key, ``(p + k) * M1 = p * M1 + k * M1`` (mod 2**64), a per-partner plus a
    per-opportunity term; and :func:`uniform_threshold` turns ``u < a`` into a comparison of
    integers with the same outcome.
    """
    from .kernels import partner_pursuits

    if cell.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    with np.errstate(over="ignore"):
        opp_term = (opp_key + np.uint64(3)) * _M1 + salt
    # keyed_bits(...) < T is (z >> 11) < T, i.e. z < T * 2**11 while T < 2**53 (always, as a <= 1).
    thr = uniform_threshold(a)
    exact_shift = bool(thr.size) and int(thr.max()) >= _TWO53
    bound = thr if exact_shift else thr << np.uint64(11)
    return partner_pursuits(np.ascontiguousarray(cell, dtype=np.int64), np.ascontiguousarray(ptr, dtype=np.int64),
                            np.ascontiguousarray(live_partner, dtype=np.int64), opp_term,
                            np.ascontiguousarray(sourced, dtype=np.int64), bound, exact_shift)


VOICE_CLIP = float(np.log(10.0))


def share_of_voice(model: ChannelModel) -> np.ndarray:
    """Log of the vendor's partners' selling effort in each cell against competing vendors' (per cell).

    Each partner spreads the effort it gives the vendor (seller-months, ``partner_effort``) evenly over
    the cells it covers; competitors' channels give ``market.competitor_effort`` seller-months per
    million USD of the cell's accounts' first-year value (``V_c``).
    ``ln(E_c / (competitor_effort x V_c))``, clipped to +-ln 10.
    """
    t = model.partners
    effort = model.partner_effort()
    n_edges = np.bincount(model.edge_partner, minlength=t.n)
    spread = effort[model.edge_partner] / np.maximum(n_edges[model.edge_partner], 1)
    e_cell = np.bincount(model.edge_cell, weights=spread, minlength=model.n_cells)
    value = np.bincount(model.account_cell, weights=model.customers.value, minlength=model.n_cells) / 1e6
    ref = model.config.market.competitor_effort * value
    with np.errstate(divide="ignore"):
        v = np.log(np.maximum(e_cell, 1e-300) / np.maximum(ref, 1e-300))
    return np.clip(v, -VOICE_CLIP, VOICE_CLIP)


def build_pursuit(model: ChannelModel, opps: np.ndarray, rng: np.random.Generator) -> PursuitBatch:
    """Who pursues each opportunity this month (before any conflict rule)."""
    sc = model.config
    cu = model.customers
    t = model.partners
    n = opps.size
    seg = cu.segment[opps]
    terr = cu.territory[opps]
    pref = cu.preference[opps]
    value = cu.value[opps]
    sourced = cu.sourced[opps]
    cell = terr.astype(np.int64) * 3 + seg

    # Partners: capacity spread over the demand in the cells each covers.
    cells = model.n_cells
    demand = np.bincount(cell, minlength=cells).astype(float)
    selling = t.selling
    d_i = np.bincount(model.edge_partner, weights=demand[model.edge_cell], minlength=t.n)
    cap = model.partner_capacity()
    x = np.where(selling & (d_i > 0), cap / np.maximum(d_i, 1e-12), 0.0)
    a = -np.expm1(-x)
    model.voice = share_of_voice(model)  # contest and renewal bonus of the partners' effort in each cell
    # Only selling partners can pursue (``a`` is 0 otherwise, and a lead goes only to a selling
    # partner): the edges of the others (exited, suspended) are dropped before the pairs are formed.
    # Order within each cell is kept, so the pairs, their keys and their draws are those of the full list.
    live_partner = model.cell_edge_partner[selling[model.cell_edge_partner]]  # cell by cell
    ptr = np.concatenate([[0], np.cumsum(np.bincount(model.edge_cell[selling[model.edge_partner]], minlength=cells))])
    # Every random number of the round is a function of (month's salt, account, party, purpose):
    # two scenarios with the same seed draw the same number for the same account and party, whoever
    # else pursues it (common random numbers survive a change in who pursues).
    salts = rng.integers(0, 2**62, size=9, dtype=np.int64).astype(np.uint64)
    opp_key = opps.astype(np.uint64) * np.uint64(1 << 22)
    p_opp, p_partner = _partner_pursuits(cell, ptr, live_partner, opp_key, sourced, a, salts[0])
    pair_key = p_partner.astype(np.uint64)
    pair_key += opp_key[p_opp] + np.uint64(3)

    # Direct sales: inbound requests first, then its own prospects, then outbound up to capacity
    # among in-market accounts no partner's lead brought in (it does not see partners' leads).
    dcfg = sc.direct
    seg_ok = model.direct_segments[seg]
    terr_ok = model.direct_territories[terr]
    inbound = seg_ok & terr_ok & (pref == DIRECT_CH)
    own = (np.isin(opps, model.direct_targets) if model.direct_targets.size else np.zeros(n, dtype=bool))
    own &= seg_ok & terr_ok & ~inbound
    outbound = seg_ok & terr_ok & ~inbound & ~own
    if not dcfg.sees_partner_leads:
        outbound &= sourced < 0
    capacity = dcfg.sellers * dcfg.opps_per_seller
    n_own = own.sum()
    if n_own:  # its own prospects share what capacity inbound requests leave
        a_own = min(1.0, max(capacity - inbound.sum(), 0.0) / n_own)
        own &= keyed_uniform(opp_key + np.uint64(1), salts[1]) < a_own
    spare = max(capacity - inbound.sum() - own.sum(), 0.0)
    n_out = outbound.sum()
    a_d = min(1.0, spare / n_out) if n_out > 0 else 0.0
    d_pursue = inbound | own | (outbound & (keyed_uniform(opp_key + np.uint64(1), salts[1]) < a_d))
    if capacity <= 0:
        d_pursue[:] = False

    # Digital channel: accounts that prefer it, and a reach into the others.
    gcfg = sc.digital
    if gcfg.enabled:
        reach = np.array(gcfg.reach.as_array())[seg]
        g_pursue = (pref == DIGITAL_CH) | (keyed_uniform(opp_key + np.uint64(2), salts[2]) < reach)
    else:
        g_pursue = np.zeros(n, dtype=bool)

    d_opp = np.flatnonzero(d_pursue)
    g_opp = np.flatnonzero(g_pursue)
    opp_idx = np.concatenate([p_opp, d_opp, g_opp])
    kind = np.concatenate(
        [
            np.full(p_opp.size, PARTNER_CH, dtype=np.int8),
            np.full(d_opp.size, DIRECT_CH, dtype=np.int8),
            np.full(g_opp.size, DIGITAL_CH, dtype=np.int8),
        ]
    )
    partner = np.concatenate([p_partner, np.full(d_opp.size + g_opp.size, -1)])

    # Contest utility (before noise): capability, log price, relationship, preferred channel.
    cc = sc.conflict
    beta = sc.market.price_sensitivity
    log_index = np.log(sc.market.price_index)
    util = np.empty(opp_idx.size)
    k = p_opp.size
    if k:
        passed = sc.partners.economics.pass_through * model.expected_discount()
        price = -beta * (log_index + np.log1p(-np.minimum(passed, 0.999)))
        joint = np.where(model.tier_table["joint_selling"][t.tier], sc.relationship.joint_selling, 0.0)
        by_partner = (
            cc.contest_capability * model.contest_capability
            + price
            + cc.contest_relationship * (t.satisfaction - cc.relationship_pivot)
            + joint
            + model.steering()
        )
        util[:k] = (
            by_partner[p_partner]
            + cc.contest_effort * model.voice[cell[p_opp]]
            + cc.contest_preference * (pref[p_opp] == PARTNER_CH)
        )
        spec = sc.tiering.specialisation
        if spec.enabled:  # a specialisation is a designation the segment's buyers see
            util[:k] += spec.contest_bonus * t.spec[p_partner, seg[p_opp]]
    util[k : k + d_opp.size] = (
        cc.contest_capability * dcfg.capability
        - beta * (log_index + np.log1p(-min(dcfg.discount, 0.999)))
        + cc.contest_preference * (pref[d_opp] == DIRECT_CH)
    )
    util[k + d_opp.size :] = (
        cc.contest_capability * gcfg.capability
        - beta * (log_index + np.log1p(-min(gcfg.price_advantage, 0.999)))
        + cc.contest_preference * (pref[g_opp] == DIGITAL_CH)
    )
    rows = opp_idx.size
    row_key = np.concatenate([pair_key, opp_key[d_opp] + np.uint64(1), opp_key[g_opp] + np.uint64(2)])
    row_u = keyed_uniforms(row_key, salts[4:6])  # only compared with rates: rows of one block
    opp_u = keyed_uniforms(opp_key, salts[6:9])
    return PursuitBatch(
        n_opps=n,
        opp_account=opps,
        opp_value=value,
        opp_pref=pref,
        opp_territory=terr,
        opp_segment=seg,
        opp_sourced=sourced,
        opp=opp_idx,
        kind=kind,
        partner=partner,
        utility=util,
        gumbel=-np.log(-np.log(keyed_uniform(row_key, salts[3]))),
        u_register=row_u[0],
        u_order=row_u[1],
        u_prevent=opp_u[0],
        u_compete=opp_u[1],
        u_delay=opp_u[2],
        live=np.ones(rows, dtype=bool),
        prevented=np.zeros(rows, dtype=bool),
        registered_row=np.full(n, -1),
    )


@dataclass
class Outcome:
    """Result of the month's round, one entry per opportunity unless stated."""

    batch: PursuitBatch
    pursued: np.ndarray  # had at least one vendor pursuer
    winner_row: np.ndarray  # vendor row that won the customer, -1 if none
    lost: np.ndarray  # lost to a competitor
    conflict_type: np.ndarray  # -1 if no conflict
    resolution: np.ndarray  # index into the resolution names, -1 if no conflict
    margin_lost: np.ndarray  # USD
    conflict_cost: np.ndarray  # USD: management and mediation time
    registered: np.ndarray  # the winner is the protected registrant
    initial_rows: np.ndarray  # pursuer rows before any rule (for the log)
    resolution_names: tuple[str, ...]
    teams: Teams | None = None  # the month's partner teams (the collaboration programme), None when off
    contestant_row: np.ndarray | None = None  # vendor row that contested the deal (won or lost), -1 if none


def resolve(model: ChannelModel, batch: PursuitBatch, rng: np.random.Generator) -> Outcome:
    """Apply protections and the fallback, then contest the deal against competitors."""
    cc = model.config.conflict
    n = batch.n_opps
    by_kind = batch.live_by_kind()
    n_partner = by_kind[:, PARTNER_CH]
    has_direct = by_kind[:, DIRECT_CH] > 0
    has_digital = by_kind[:, DIGITAL_CH] > 0
    # Direct and digital on the same account with no partner are coordinated by
    # the vendor, not a conflict: direct sales keeps the account.
    internal = (n_partner == 0) & has_direct & has_digital
    batch.live &= ~(internal[batch.opp] & (batch.kind == DIGITAL_CH))
    # Complementary partners may team up before any conflict arises (the collaboration programme).
    teams = None
    if model.config.partners.collaboration.enabled:
        from .collaboration import team_up

        teams = team_up(model, batch)
    # Rules known in advance prevent some conflicts: on an opportunity where the rule
    # is visible in time (probability ``conflict.prevention``), the pursuits it
    # excludes never start.
    if cc.prevention > 0:
        visible = (batch.u_prevent < cc.prevention)[batch.opp]
        for protection in model.policies.protections:
            out = protection.withdraw(model, batch) & batch.live
            batch.prevented |= out & visible
            batch.live &= ~batch.prevented
        batch.registered_row[:] = -1
        by_kind = batch.live_by_kind()
        n_partner = by_kind[:, PARTNER_CH]
        has_direct = by_kind[:, DIRECT_CH] > 0
        has_digital = by_kind[:, DIGITAL_CH] > 0

    ctype = np.full(n, -1, dtype=np.int8)
    ctype[(n_partner >= 2)] = HORIZONTAL
    ctype[(n_partner >= 1) & has_digital] = MULTICHANNEL
    ctype[(n_partner >= 1) & has_direct] = VERTICAL
    in_conflict = ctype >= 0
    initial_rows = np.flatnonzero(in_conflict[batch.opp] & batch.live)

    names = tuple(p.name for p in model.policies.protections) + (model.policies.fallback.name,)
    resolution = np.full(n, -1, dtype=np.int8)
    conflict_rows = in_conflict[batch.opp]
    live_now = batch.live_count()  # kept up to date after each protection (nothing else changes ``live``)
    for j, protection in enumerate(model.policies.protections):
        before = live_now
        out = protection.withdraw(model, batch) & batch.live & conflict_rows
        batch.live &= ~out
        after = live_now = batch.live_count()
        settled_here = in_conflict & (resolution < 0) & (before >= 2) & (after < before)
        resolution[settled_here & (after <= 1)] = j
    open_opps = in_conflict & (live_now >= 2)
    settlement = model.policies.fallback.settle(model, batch, open_opps, rng)
    resolution[open_opps] = len(names) - 1
    # Conflicts a protection narrowed but did not settle are labelled by the fallback;
    # those narrowed to one pursuer keep the protection's label.
    resolution[in_conflict & (resolution < 0)] = len(names) - 1

    # The single remaining pursuer, or the fallback's winner.
    live_rows = np.flatnonzero(batch.live)
    sole = np.full(n, -1)
    sole[batch.opp[live_rows[::-1]]] = live_rows[::-1]
    winner = np.where(open_opps, settlement.winner_row, sole)
    pursued = winner >= 0

    # Contest against the best competing vendor.
    strength = model.config.market.competitor_strength
    u = batch.utility[winner] if batch.utility.size else np.zeros(n)
    u = np.where(pursued, u, 0.0)
    reg_win = pursued & (batch.registered_row == winner) & (winner >= 0)
    if reg_win.any():
        # The registrant passes part of the extra discount on too: a lower price against the competitor.
        sc = model.config
        pi = sc.partners.economics.pass_through
        d = model.expected_discount()[batch.partner[np.where(reg_win, winner, 0)]]
        extra = cc.deal_registration.extra_discount * model.payout_ratio.get("discount", 1.0)
        gain = sc.market.price_sensitivity * (
            np.log1p(-np.minimum(pi * d, 0.999)) - np.log1p(-np.minimum(pi * (d + extra), 0.999))
        )
        u = u + np.where(reg_win, gain, 0.0)
    if strength > 0:
        p_win = 1.0 / (1.0 + strength * np.exp(model.competitor_utility + model.competitor_response() - u))
    else:
        p_win = np.ones(n)
    vendor_wins = pursued & ~settlement.lost & (batch.u_compete < p_win)
    lost = pursued & ~vendor_wins

    margin_lost = settlement.margin_lost_share * batch.opp_value * model.config.market.price_index * vendor_wins
    cost = np.where(in_conflict, cc.management_cost, 0.0) + settlement.cost
    return Outcome(
        batch=batch,
        pursued=pursued,
        winner_row=np.where(vendor_wins, winner, -1),
        lost=lost,
        conflict_type=ctype,
        resolution=resolution,
        margin_lost=margin_lost,
        conflict_cost=cost,
        registered=reg_win & vendor_wins,
        initial_rows=initial_rows,
        resolution_names=names,
        teams=teams,
        contestant_row=winner,
    )


def _gather(values: np.ndarray, rows: np.ndarray, missing: int = -1) -> np.ndarray:
    """``values[rows]`` where ``rows >= 0``, ``missing`` elsewhere (safe when ``values`` is empty)."""
    out = np.full(rows.shape, missing, dtype=np.int64)
    ok = rows >= 0
    out[ok] = values[rows[ok]]
    return out


def round(model: ChannelModel) -> Outcome:  # noqa: A001 - the market round
    """The month's market round: pursuit, conflicts, contests; won accounts become customers and are booked."""
    from .customers import COMPETITOR, CUSTOMER, IN_MARKET

    cu = model.customers
    led = model.ledger
    m = model.month
    sc = model.config
    opps = np.flatnonzero(cu.state == IN_MARKET)
    led.opportunities = int(opps.size)
    batch = build_pursuit(model, opps, model.streams["market"])
    out = resolve(model, batch, model.streams["market"])
    won = out.winner_row >= 0
    led.pursued = int(out.pursued.sum())
    led.won = int(won.sum())
    acc = opps[won]
    wr = out.winner_row[won]
    ch = batch.kind[wr]
    pid = batch.partner[wr]
    cu.state[acc] = CUSTOMER
    cu.channel[acc] = ch
    cu.partner[acc] = pid
    cu.since[acc] = m
    conflicted = out.conflict_type[won] >= 0
    cu.satisfaction[acc] = np.clip(
        model.service_level(acc)
        + sc.market.satisfaction_noise * model.streams["customers"].standard_normal(acc.size)
        - sc.conflict.customer_satisfaction_hit * conflicted,
        0,
        1,
    )
    lost = opps[out.lost]
    cu.state[lost] = COMPETITOR
    cu.since[lost] = m
    cu.partner[lost] = -1
    cu.channel[lost] = -1
    waiting = opps[~out.pursued]
    gave_up = waiting[(m - cu.entered[waiting] + 1) >= sc.market.patience_months]
    cu.state[gave_up] = COMPETITOR
    cu.since[gave_up] = m
    led.new_customers += np.bincount(ch, minlength=3)
    # Partner-originated: won by the partner whose own lead (prospecting or MDF) brought the account.
    originated = (ch == PARTNER_CH) & (batch.opp_sourced[won] == pid) & cu.originated[acc]
    led.revenue_new_originated += float((cu.value[acc] * originated).sum()) * sc.market.price_index
    _book_new(model, batch, out, won, acc, ch, pid)
    led.margin_lost += float(out.margin_lost.sum())
    led.conflict_management += float(out.conflict_cost.sum())
    _partner_statistics(model, batch, out, ch, pid)
    # Partner pursuits that met another partner's on the same account, whatever the conflict's label
    # (an account with direct sales on it is a vertical conflict even when partners also contest it).
    ir = out.initial_rows[batch.kind[out.initial_rows] == PARTNER_CH]
    per_opp = np.bincount(batch.opp[ir], minlength=batch.n_opps)
    led.partner_vs_partner += int(per_opp[per_opp >= 2].sum())
    for k in range(3):
        led.conflicts[k] += int((out.conflict_type == k).sum())
    for j, name in enumerate(out.resolution_names):
        led.conflicts_by_resolution[name] = led.conflicts_by_resolution.get(name, 0) + int(
            (out.resolution == j).sum()
        )
    if model.deal_log is not None and m >= sc.time.warmup_months:
        record_deals(model, out)
    return out


def record_deals(model: ChannelModel, out: Outcome) -> None:
    """Append the month's deals to ``model.deal_log`` (the opt-in deal log, reported months only).

    One row per opportunity a vendor channel contested: won (it became the vendor's customer
    through that channel) or lost to a competing vendor.  The value is the account's first-year
    value at the month's prices (what :meth:`ChannelModel.book` books for a new customer); a team's
    deal is one row under its lead partner.  Reads the outcome only: no draw, no state change.
    """
    b = out.batch
    row = out.contestant_row
    done = np.flatnonzero(row >= 0)
    r = row[done]
    won = out.winner_row[done] >= 0
    partner = np.where(b.kind[r] == PARTNER_CH, b.partner[r], -1)
    model.deal_log.append(
        {
            "month": np.full(done.size, model.month - model.config.time.warmup_months + 1, dtype=np.int32),
            "account": b.opp_account[done].astype(np.int64),
            "territory": b.opp_territory[done].astype(np.int32),
            "segment": b.opp_segment[done].astype(np.int8),
            "channel": b.kind[r].astype(np.int8),
            "partner": partner.astype(np.int64),
            "value": model.customers.value[b.opp_account[done]] * model.config.market.price_index,
            "registered": np.where(won, out.registered[done], b.registered_row[done] == r),
            "won": won,
        }
    )


def _book_new(model: ChannelModel, batch: PursuitBatch, out: Outcome, won: np.ndarray, acc: np.ndarray,
              ch: np.ndarray, pid: np.ndarray) -> None:
    """Book the month's new customers; a team's deal is split between its lead and its helper."""
    from .collaboration import REFERRAL, won_teams

    cu = model.customers
    led = model.ledger
    value = cu.value[acc]
    seg = cu.segment[acc]
    partner_rows = batch.kind == PARTNER_CH
    by_partner = (out.winner_row >= 0) & (_gather(batch.kind, out.winner_row) == PARTNER_CH)
    ent = batch.opp_segment == SEGMENT_ENTERPRISE
    pursued_p = np.bincount(batch.opp[partner_rows], minlength=batch.n_opps) > 0
    led.enterprise_pursued += int((pursued_p & ent).sum())
    led.enterprise_won += int((by_partner & ent).sum())
    teams = out.teams
    if teams is None:
        model.book(ch, pid, value, new=True, registered=out.registered[won], segment=seg)
        return
    team = teams.kind != 0
    tw_opp = won_teams(teams, batch, out.winner_row)
    led.collab_pursued += int(team.sum())
    led.solo_pursued += int((pursued_p & ~team).sum())
    led.solo_won += int((by_partner & ~team).sum())
    tw = tw_opp[won]
    share = np.where(tw, teams.share[won], 0.0)
    model.book(ch, pid, value * (1.0 - share), new=True, registered=out.registered[won], segment=seg,
               collaborative=tw)
    if tw.any():
        helper = teams.helper[won][tw]
        part = value[tw] * share[tw]
        model.book(np.full(helper.size, PARTNER_CH, dtype=np.int8), helper, part, new=True, segment=seg[tw],
                   collaborative=np.ones(helper.size, dtype=bool))
        led.collab_split = (pid[tw], helper, part)
        price = model.config.market.price_index
        led.collab_deals += int(tw.sum())
        led.collab_value += float(value[tw].sum()) * price
        led.referral_revenue += float(part[teams.kind[won][tw] == REFERRAL].sum()) * price


def _partner_statistics(model: ChannelModel, batch: PursuitBatch, out: Outcome, ch: np.ndarray, pid: np.ndarray):
    """Each partner's pursuits, wins, and conflicts won and lost (to another partner, direct, digital)."""
    t = model.partners
    prow = (batch.kind == PARTNER_CH) & ~batch.prevented
    model.pursuits = np.bincount(batch.partner[prow], minlength=t.n).astype(float)
    model.wins = np.bincount(pid[ch == PARTNER_CH], minlength=t.n).astype(float)
    conf_rows = out.initial_rows
    conf_rows = conf_rows[batch.kind[conf_rows] == PARTNER_CH]
    winner_kind = _gather(batch.kind, out.winner_row)
    winner_row_of = out.winner_row[batch.opp[conf_rows]]
    won = conf_rows[winner_row_of == conf_rows]
    loser = conf_rows[winner_row_of != conf_rows]
    wk = winner_kind[batch.opp[loser]]
    n = t.n
    t.conf_won += np.bincount(batch.partner[won], minlength=n).astype(np.int32)
    t.conf_lost_partner += np.bincount(batch.partner[loser[wk == PARTNER_CH]], minlength=n).astype(np.int32)
    t.conf_lost_direct += np.bincount(batch.partner[loser[wk == DIRECT_CH]], minlength=n).astype(np.int32)
    t.conf_lost_digital += np.bincount(batch.partner[loser[wk == DIGITAL_CH]], minlength=n).astype(np.int32)


def log_conflicts(model: ChannelModel, out: Outcome) -> None:
    """Append the month's conflicts to the conflict log (reported months only)."""
    m = model.month
    warm = model.config.time.warmup_months
    b = out.batch
    rows = out.initial_rows
    if not rows.size:
        return
    opp = b.opp[rows]
    present = np.zeros(b.n_opps, dtype=bool)  # np.unique(opp), by a table over the opportunities
    present[opp] = True
    opps = np.flatnonzero(present)
    wr = out.winner_row[opps]
    model.conflict_log.append(
        {
            "month": np.full(opps.size, m - warm + 1, dtype=np.int32),
            "account": b.opp_account[opps],
            "territory": b.opp_territory[opps],
            "segment": b.opp_segment[opps],
            "type": out.conflict_type[opps],
            "resolution": out.resolution[opps],
            "winner_kind": _gather(b.kind, wr),
            "winner_partner": _gather(b.partner, wr),
            "lost_to_competitor": out.lost[opps],
            "value_at_stake": b.opp_value[opps] * model.config.market.price_index,
            "margin_lost": out.margin_lost[opps],
            "cost": out.conflict_cost[opps],
            "_rows_opp": opp,
            "_rows_kind": b.kind[rows],
            "_rows_partner": b.partner[rows],
            "_names": np.array(out.resolution_names, dtype=object),
        }
    )
