"""Demand (guide parts 2, 6, 7): account turnover, Bass adoption, re-entry and leads.

Each month:

* account turnover: each account closes with probability ``account_turnover / 12``
  and is replaced in its territory and segment by a new, unaware business (new
  deal value and channel preference); a closing customer is lost;
* Bass adoption: an unaware account comes into market with probability
  ``(p + q F) / 12``, ``F`` the adopted share of its territory; with turnover the
  adopted share has a steady state, where the model starts by default;
* re-entry: competitors' and churned accounts come back into market at
  ``reentry_rate``; competing vendors' channels pull the vendor's customers into
  market at ``competitor_prospecting`` (the counterpart of the vendor's partners'
  own prospecting of competitors' customers);
* leads: partners' own prospecting (in proportion to the effort they give the
  vendor), their MDF campaigns, and leads the vendor shares by tier;
* direct prospecting: direct sales brings competitors' customers in its
  territories and segments into market (its own pipeline); a prospect that a
  partner's lead woke this month is pursued by both (a vertical conflict).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .customers import CHURNED, COMPETITOR, CUSTOMER, DIRECT_SOURCED, IN_MARKET, UNAWARE

if TYPE_CHECKING:
    from .model import ChannelModel


def bernoulli_thinned(rng: np.random.Generator, n: int, prob_at, p_max: float) -> np.ndarray:
    """Indices ``i < n`` drawn independently with probability ``prob_at(i)`` (at most ``p_max``).

    Thinning: candidates arrive at rate ``p_max`` (geometric gaps), each kept with
    probability ``prob_at(i) / p_max``, so each index is drawn with exactly its own
    probability while only about ``p_max * n`` candidates are touched.
    """
    if p_max <= 0.0 or n == 0:
        return np.zeros(0, dtype=np.int64)
    if p_max >= 1.0:
        pos = np.arange(n)
    else:
        expected = n * p_max
        chunk = int(expected + 6.0 * np.sqrt(expected) + 16)
        gaps = [rng.geometric(p_max, size=chunk)]
        while gaps[-1].size and int(sum(g.sum() for g in gaps)) < n:
            gaps.append(rng.geometric(p_max, size=chunk))
        pos = np.cumsum(np.concatenate(gaps)) - 1
        pos = pos[pos < n]
    keep = rng.random(pos.size) * p_max < prob_at(pos)
    return pos[keep]


def poisson(rng: np.random.Generator, lam: np.ndarray) -> np.ndarray:
    """Poisson draws by inversion: one uniform per draw, so a larger rate gives at least as many events.

    (numpy's own Poisson sampler uses a varying number of uniforms, which would shift every later
    draw of the stream when a what-if changes one rate: inversion keeps paired runs in step.)
    Rates above 30 use the normal approximation of the same uniform (continuity-corrected).
    """
    lam = np.asarray(lam, dtype=float)
    u = rng.random(lam.shape)
    out = np.zeros(lam.shape, dtype=np.int64)
    big = lam > 30.0
    if big.any():
        from scipy.special import ndtri

        z = ndtri(np.clip(u[big], 1e-12, 1 - 1e-12))
        out[big] = np.maximum(0, np.floor(lam[big] + np.sqrt(lam[big]) * z + 0.5)).astype(np.int64)
    small = (lam > 0) & ~big
    if small.any():
        out[small] = _inversion(lam[small], u[small])
    return out




def _inversion(lm: np.ndarray, us: np.ndarray, cap: int = 200) -> np.ndarray:
    """Poisson(``lm``) by sequential search of the cdf: the smallest k with ``us <= cdf(k)`` (at most ``cap``).

    ``p(k) = p(k-1) * lm / k`` and ``cdf(k) = cdf(k-1) + p(k)``, in this order of operations for
    every draw, in a compiled loop (:func:`sim.kernels.poisson_inversion`); ``p(0) = exp(-lm)`` is
    numpy's.
    """
    from .kernels import poisson_inversion

    lm = np.ascontiguousarray(lm, dtype=np.float64)
    return poisson_inversion(lm, np.ascontiguousarray(us, dtype=np.float64), np.exp(-lm), int(cap))


def turnover(model: ChannelModel) -> None:
    """Accounts that close are replaced by new, unaware businesses in the same territory and segment."""
    mk = model.config.market
    model.closed_accounts = np.zeros(0, dtype=np.int64)
    if mk.account_turnover <= 0:
        return
    cu = model.customers
    rng = model.streams["turnover"]
    p = mk.account_turnover / 12.0
    idx = bernoulli_thinned(rng, cu.n, lambda pos: np.full(pos.size, p), p)
    model.closed_accounts = idx
    if idx.size == 0:
        return
    st = cu.state[idx]
    was_customer = st == CUSTOMER
    model.ledger.customers_closed += int(was_customer.sum())
    adopted = idx[st != UNAWARE]
    np.subtract.at(cu.adopted, cu.territory[adopted], 1)
    cu.state[idx] = UNAWARE
    cu.channel[idx] = -1
    cu.partner[idx] = -1
    cu.sourced[idx] = -1
    cu.satisfaction[idx] = 0.0
    cu.redraw(idx, rng, mk)


def step(model: ChannelModel, mdf_leads: np.ndarray | None) -> None:
    """The month's demand: turnover, market entry, and leads placed in partners' cells."""
    mk = model.config.market
    cu = model.customers
    m = model.month
    turnover(model)
    # Bass adoption: hazard (p + q F_territory) per year, per month here.
    f = cu.adopted / np.maximum(cu.terr_size, 1)
    n_terr = f.size
    # Monthly entry probability by (state, territory): Bass hazard for the unaware,
    # re-entry for competitors' and churned accounts, none for the rest.
    table = np.zeros((5, n_terr), dtype=np.float32)
    table[UNAWARE] = (mk.bass_p + mk.bass_q * f) / 12.0
    table[COMPETITOR] = mk.reentry_rate
    table[CHURNED] = mk.reentry_rate
    # Competing vendors' channels prospect the vendor's customers as its partners prospect theirs.
    table[CUSTOMER] = mk.competitor_prospecting
    idx = bernoulli_thinned(
        model.streams["demand"], cu.n, lambda pos: table[cu.state[pos], cu.territory[pos]], float(min(table.max(), 1))
    )
    newly = idx[cu.state[idx] == UNAWARE]
    np.add.at(cu.adopted, cu.territory[newly], 1)
    poached = idx[cu.state[idx] == CUSTOMER]
    model.poached_accounts = poached
    model.ledger.customers_poached += int(poached.size)
    cu.channel[poached] = -1
    cu.partner[poached] = -1
    cu.state[idx] = IN_MARKET
    cu.entered[idx] = m
    cu.sourced[idx] = -1
    # Leads: partners' own prospecting (in proportion to the effort they give the vendor),
    # their MDF campaigns, and leads the vendor shares by tier.
    t = model.partners
    rng = model.streams["leads"]
    effort = model.partner_capacity() * model.config.partners.sourcing_rate
    leads = poisson(rng, effort)
    if mdf_leads is not None:
        mdf = np.asarray(mdf_leads[: t.n], dtype=np.int64)
        model.ledger.mdf_leads = int(mdf.sum())
        leads[: mdf.size] += mdf
    vendor = poisson(rng, np.where(t.active, model.tier_table["leads_per_month"][t.tier], 0.0))
    place_leads(model, leads, from_market=False)
    place_leads(model, vendor, from_market=True)
    direct_leads(model)


def direct_leads(model: ChannelModel) -> None:
    """Direct sales' own prospecting: ``sellers x prospecting`` leads a month (Poisson).

    Each lead lands on a uniformly drawn account of the direct territories and segments that
    is a competitor's customer, churned, or brought into market this month by a partner's lead
    (direct sales does not see partners' leads, but its prospecting may land on the same
    account).  The accounts it lands on are pursued by direct sales this month
    (``model.direct_targets``); those not yet in market come in, sourced by direct sales.
    """
    cfg = model.config.direct
    model.direct_targets = np.zeros(0, dtype=np.int64)
    lam = cfg.sellers * cfg.prospecting
    if lam <= 0 or cfg.opps_per_seller <= 0:
        return
    rng = model.streams["direct"]
    n = int(poisson(rng, np.array([lam]))[0])
    if n == 0:
        return
    cu = model.customers
    st = cu.state
    in_cells = model.direct_territories[cu.territory] & model.direct_segments[cu.segment]
    woken = (st == IN_MARKET) & (cu.sourced >= 0) & (cu.entered == model.month)
    free = (model.month - cu.since) >= model.config.market.contract_lockin
    eligible = np.flatnonzero(in_cells & ((((st == COMPETITOR) | (st == CHURNED)) & free) | woken))
    if eligible.size == 0:
        return
    acc = np.unique(eligible[(rng.random(n) * eligible.size).astype(np.int64)])
    fresh = acc[cu.state[acc] != IN_MARKET]
    cu.state[fresh] = IN_MARKET
    cu.entered[fresh] = model.month
    cu.sourced[fresh] = DIRECT_SOURCED
    cu.originated[fresh] = False
    model.ledger.direct_leads = int(acc.size)
    model.ledger.direct_collisions = int(acc.size - fresh.size)
    model.direct_targets = acc


def _first_occurrences(values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_index=True)`` for integers in [0, n) (:func:`sim.kernels.first_occurrences`).

    Returns the sorted distinct values and the index of each one's first occurrence.
    """
    from .kernels import first_occurrences

    return first_occurrences(np.ascontiguousarray(values, dtype=np.int64), int(n))


# Segment masks (bit s: segment s): how many segments a mask holds, and its pick-th segment (-1: none).
_SEGMENTS_IN_MASK = np.array([bin(m).count("1") for m in range(8)], dtype=np.int64)
_PICK_SEGMENT = np.array([[([s for s in range(3) if m >> s & 1] + [-1, -1, -1])[p] for p in range(3)]
                          for m in range(8)], dtype=np.int64)


def place_leads(model: ChannelModel, leads: np.ndarray, from_market: bool) -> None:
    """Turn leads into in-market accounts sourced by the partner.

    Own and MDF leads bring competitors' customers and churned accounts in the
    partner's territories and segments back into market (prospecting and
    campaigns win accounts that already buy the category; adoption of the
    category itself is Bass diffusion): each lead picks one of the partner's
    territories and segments and an account of that cell that is a
    competitor's customer or churned.  Vendor leads hand the partner an account
    already in market that nobody sourced.  Two leads on one account go to one
    of them at random; a lead that finds no suitable account is wasted.
    """
    from .kernels import eligible_by_cell

    total = int(leads.sum())
    if total == 0:
        return
    cu = model.customers
    t = model.partners
    rng = model.streams["leads"]
    n_terr = model.config.market.n_territories
    who = np.repeat(np.arange(t.n), leads)
    terr = (t.home[who] + (rng.random(total) * t.n_terr[who]).astype(np.int64)) % n_terr
    # A segment the partner sells to, uniformly among its segments.
    mask = t.segmask[who].astype(np.int64) & 7  # the three segment bits
    n_seg = _SEGMENTS_IN_MASK[mask]
    pick = (rng.random(total) * np.maximum(n_seg, 1)).astype(np.int64)  # 0, 1 or 2
    seg = _PICK_SEGMENT[mask, pick]  # the pick-th set bit, counting from the lowest (-1: none)
    cell = terr * 3 + seg
    u = rng.random(total)
    # The eligible accounts grouped by cell, in account order within a cell: the accounts in the
    # model's fixed cell order (``account_cell_order``), filtered (in market and unsourced for vendor
    # leads; a competitor's or churned and out of contract otherwise), which is what a stable sort of
    # the eligible accounts by cell gives; ``ptr``: eligible accounts before each cell's first.
    eligible, ptr = eligible_by_cell(model.account_cell_order, model.account_cell_ptr, cu.state, cu.sourced,
                                     cu.since, int(model.month), int(model.config.market.contract_lockin),
                                     bool(from_market))
    size = ptr[np.maximum(cell, 0) + 1] - ptr[np.maximum(cell, 0)]
    ok = (seg >= 0) & (size > 0)
    acc = eligible[np.minimum(ptr[cell[ok]] + (u[ok] * size[ok]).astype(np.int64), eligible.size - 1)]
    who = who[ok]
    # Two leads on one account: a random one of them finds it first (not the lowest partner id).
    shuffle = rng.permutation(acc.size)
    acc, who = acc[shuffle], who[shuffle]
    acc, first = _first_occurrences(acc, cu.n)
    who = who[first]
    if not from_market:
        cu.state[acc] = IN_MARKET
        cu.entered[acc] = model.month
    cu.sourced[acc] = who
    cu.originated[acc] = not from_market
