"""Compiled loops (numba) for the model's few pair-by-pair and account-by-account passes.

Each kernel computes exactly what the numpy code it replaces computed, bit for bit: integer
arithmetic (the splitmix64 hash of :mod:`sim.market`), comparisons, selections, and element-wise
float operations (``+``, ``*``, ``/``, ``ceil``) in the order the numpy expression applies them
(numba compiles without fast-math, so nothing is fused or reassociated).  No floating-point
reduction changes its order and no transcendental function is evaluated here (numpy's and LLVM's
``log`` and ``exp`` may differ in the last bit): those stay in numpy.  ``tests/test_sim_exactness.py``
holds each kernel against its numpy definition.

Compiled functions are cached on disk (``cache=True``, numba's ``__pycache__`` beside this file or
``NUMBA_CACHE_DIR``), so only the first process after an install compiles them (a few seconds).
"""

from __future__ import annotations

import numba
import numpy as np

from .customers import CHURNED, COMPETITOR, CUSTOMER, IN_MARKET, PARTNER_CH

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)


@numba.njit(cache=True, nogil=True, inline="always")
def _finalise(z):
    """The splitmix64 finaliser after ``z = key * M1 + salt`` (as :func:`sim.market._mix`)."""
    z ^= z >> _S30
    z *= _M2
    z ^= z >> _S27
    z *= _M3
    z ^= z >> _S31
    return z


@numba.njit(cache=True, nogil=True)
def partner_pursuits(cell, ptr, live_partner, opp_term, sourced, bound, exact_shift):
    """The pursuing (opportunity, partner) pairs, opportunity by opportunity, edges in cell order.

    Pair (j, e), ``e`` an edge of opportunity ``j``'s cell, pursues when the hash of
    ``live_partner[e] * M1 + opp_term[j]`` (shifted right by 11 bits when ``exact_shift``) is below
    ``bound[live_partner[e]]``, or when ``live_partner[e] == sourced[j]`` (the partner whose lead it
    is).  Returns (opportunity index, partner) of the pursuing pairs.
    """
    n = cell.size
    total = 0
    for j in range(n):
        c = cell[j]
        total += ptr[c + 1] - ptr[c]
    out_opp = np.empty(total, dtype=np.int64)
    out_partner = np.empty(total, dtype=np.int64)
    k = 0
    for j in range(n):
        c = cell[j]
        term = opp_term[j]
        src = sourced[j]
        for e in range(ptr[c], ptr[c + 1]):
            p = live_partner[e]
            z = _finalise(np.uint64(p) * _M1 + term)
            if exact_shift:
                z >>= _S11
            if z < bound[p] or p == src:
                out_opp[k] = j
                out_partner[k] = p
                k += 1
    return out_opp[:k].copy(), out_partner[:k].copy()


@numba.njit(cache=True, nogil=True)
def poisson_inversion(lm, us, p0, cap):
    """Poisson(``lm``) by sequential search of the cdf: the smallest k with ``us <= cdf(k)`` (at most ``cap``).

    ``p0 = exp(-lm)`` (computed by numpy: see the module docstring); then ``p(k) = p(k-1) * lm / k``
    and ``cdf(k) = cdf(k-1) + p(k)``, in this order of operations, as :func:`sim.demand._inversion`.
    """
    out = np.zeros(lm.size, dtype=np.int64)
    for i in range(lm.size):
        p = p0[i]
        cdf = p
        u = us[i]
        lam = lm[i]
        k = 0
        while u > cdf and k < cap:
            k += 1
            p = p * lam / k
            cdf = cdf + p
        out[i] = k
    return out


@numba.njit(cache=True, nogil=True)
def eligible_by_cell(by_cell, cell_ptr, state, sourced, since, month, lockin, from_market):
    """Accounts a lead can wake, grouped by cell in the order of ``by_cell``, and where each cell's begin.

    Eligible: in market and sourced by nobody (``from_market``), else a competitor's customer or churned
    (states 3, 4) out of contract (``month - since >= lockin``).  Returns the eligible accounts and
    ``eptr`` (``eptr[c]``: eligible accounts in cells before ``c``), what
    ``flatnonzero(ok[by_cell])`` and ``searchsorted`` of the cells' first positions give.
    """
    n_cells = cell_ptr.size - 1
    out = np.empty(by_cell.size, dtype=np.int64)
    eptr = np.zeros(cell_ptr.size, dtype=np.int64)
    k = 0
    for c in range(n_cells):
        for i in range(cell_ptr[c], cell_ptr[c + 1]):
            a = by_cell[i]
            s = state[a]
            if from_market:
                ok = s == IN_MARKET and sourced[a] == -1
            else:
                ok = (s == COMPETITOR or s == CHURNED) and (month - since[a]) >= lockin
            if ok:
                out[k] = a
                k += 1
        eptr[c + 1] = k
    return out[:k].copy(), eptr


@numba.njit(cache=True, nogil=True)
def first_occurrences(values, n):
    """The sorted distinct values (integers in [0, n)) and the index of each one's first occurrence."""
    first = np.full(n, -1, dtype=np.int64)
    distinct = np.empty(values.size, dtype=np.int64)
    m = 0
    for i in range(values.size):
        v = values[i]
        if first[v] < 0:
            first[v] = i
            distinct[m] = v
            m += 1
    distinct = np.sort(distinct[:m])
    where = np.empty(m, dtype=np.int64)
    for k in range(m):
        where[k] = first[distinct[k]]
    return distinct, where


@numba.njit(cache=True, nogil=True)
def drift_and_due(state, channel, partner, since, satisfaction, table, n_partners, drift, month, interval):
    """Every customer's satisfaction drifts toward its service level; returns the customers whose contract is due.

    A customer (state ``CUSTOMER``) served by channel ``ch`` and partner ``p`` gets the level
    ``table[p]`` (partner channel; ``table[-1]`` when ``p`` is -1) or ``table[ch + n_partners + 1]``;
    ``s <- s + drift * (level - s)`` (the numpy expression's operations, in its order); due: a
    positive age (``month - since``) that is a multiple of ``interval``.
    """
    due = np.empty(state.size, dtype=np.int64)
    k = 0
    last = table.size - 1
    for a in range(state.size):
        if state[a] != CUSTOMER:
            continue
        ch = channel[a]
        if ch == PARTNER_CH:
            p = partner[a]
            code = p if p >= 0 else last
        else:
            code = ch + n_partners + 1
        s = satisfaction[a]
        satisfaction[a] = s + drift * (table[code] - s)
        age = month - since[a]
        if age > 0 and (age // interval) * interval == age:
            due[k] = a
            k += 1
    return due[:k].copy()


_INV53 = 1.0 / 9007199254740992.0


@numba.njit(cache=True, nogil=True)
def keyed_uniforms(keys, salts):
    """``keyed_uniform(keys, salt)`` for each of ``salts``, one row per salt (:func:`sim.market.keyed_uniforms`).

    ``z = key * M1 + salt``, the splitmix64 finaliser, the top 53 bits ``b``; ``(b + 0.5) * 2**-53``
    (``b < 2**53`` converts to float exactly; the sum and the product round as numpy's do).
    """
    out = np.empty((salts.size, keys.size), dtype=np.float64)
    for j in range(salts.size):
        salt = salts[j]
        for i in range(keys.size):
            z = _finalise(keys[i] * _M1 + salt) >> _S11
            out[j, i] = (np.float64(z) + 0.5) * _INV53
    return out


@numba.njit(cache=True, nogil=True)
def live_by_kind(opp, kind, live, n_opps):
    """Live rows of each opportunity by channel: counts of shape (n_opps, 3)."""
    out = np.zeros((n_opps, 3), dtype=np.int64)
    for i in range(opp.size):
        if live[i]:
            out[opp[i], kind[i]] += 1
    return out


@numba.njit(cache=True, nogil=True)
def live_count(opp, kind, live, n_opps, only_kind):
    """Live rows of each opportunity (of channel ``only_kind``; -1: all channels)."""
    out = np.zeros(n_opps, dtype=np.int64)
    for i in range(opp.size):
        if live[i] and (only_kind < 0 or kind[i] == only_kind):
            out[opp[i]] += 1
    return out


_TWO53 = 9007199254740992


@numba.njit(cache=True, nogil=True)
def uniform_threshold(a):
    """Integer thresholds of :func:`sim.market.uniform_threshold`, element by element (same float steps)."""
    out = np.empty(a.size, dtype=np.uint64)
    two53 = float(_TWO53)
    for i in range(a.size):
        x = a[i]
        scaled = x * two53
        if np.isnan(scaled):
            scaled = -1.0
        elif scaled == np.inf:
            scaled = 4.0 * two53
        elif scaled == -np.inf:
            scaled = -1.0
        c = np.ceil(scaled)
        c = min(max(c, 2.0), two53 + 2.0)
        t = np.int64(c - 2.0)
        for _ in range(3):
            if t < _TWO53 and (np.float64(t) + 0.5) * _INV53 < x:
                t += 1
        out[i] = np.uint64(t)
    return out


@numba.njit(cache=True, nogil=True)
def deal_registration(opp, kind, live, partner, u_register, u_order, rate, tier, allowed, opp_value, min_size,
                      opp_sourced, registered_row, protects_direct):
    """Who registers each opportunity and which rows withdraw (:class:`sim.policies.conflict.DealRegistration`).

    A live partner row registers with probability ``rate`` (``u_register < rate``) if its tier allows
    registration and the deal is at least ``min_size``; the partner whose lead it is registers first,
    the others in the order of ``u_order``, ties to the lowest row.  ``registered_row`` is updated in place
    where someone registered; returns the rows that withdraw: the other partners on a registered
    opportunity, and direct and digital rows too when ``protects_direct``.
    """
    n_opps = registered_row.size
    first = np.full(n_opps, np.inf)
    reg = np.full(n_opps, -1, dtype=np.int64)
    for i in range(opp.size):
        if kind[i] != PARTNER_CH or not live[i] or not (u_register[i] < rate):
            continue
        p = partner[i]
        o = opp[i]
        if not allowed[tier[p]] or not (opp_value[o] >= min_size):
            continue
        key = -1.0 if p == opp_sourced[o] else u_order[i]
        if key < first[o]:
            first[o] = key
            reg[o] = i
    for o in range(n_opps):
        if reg[o] >= 0:
            registered_row[o] = reg[o]
    out = np.zeros(opp.size, dtype=np.bool_)
    for i in range(opp.size):
        r = reg[opp[i]]
        if r < 0:
            continue
        if kind[i] == PARTNER_CH:
            out[i] = i != r
        else:
            out[i] = protects_direct
    return out
