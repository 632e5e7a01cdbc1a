"""The fast paths of the monthly step give exactly what the plain formulations they replace give.

Each test compares a shortcut with the straightforward numpy expression it stands for, on inputs
chosen to hit the edges (ties, boundaries of the float grid, empty inputs), with exact equality:
the shortcuts are there for speed and must not move a single draw.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim import demand, market
from sim.market import PursuitBatch, keyed_bits, keyed_uniform, keyed_uniforms, uniform_threshold
from sim.run import _join_groups


def test_integer_thresholds_decide_as_the_uniforms_do():
    rng = np.random.default_rng(1)
    two53 = 2**53
    bits = np.concatenate([rng.integers(0, two53, 500, dtype=np.int64),
                           [0, 1, 2, two53 - 3, two53 - 2, two53 - 1, 2**52 - 1, 2**52, 2**52 + 1]]).astype(np.uint64)
    on_grid = (bits.astype(np.float64) + 0.5) / two53  # the uniforms keyed_uniform can return
    a = np.concatenate([rng.random(500), on_grid, np.nextafter(on_grid, 2.0), np.nextafter(on_grid, -1.0),
                        [0.0, -0.0, 1.0, np.nextafter(1.0, 0.0), -1.0, 1.5, np.inf, -np.inf, np.nan, 5e-324]])
    t = uniform_threshold(a).astype(np.int64)
    # At and around each threshold, the integer test and the float test agree.
    for b in (t - 1, t, t + 1):
        ok = (b >= 0) & (b < two53)
        u = (b[ok].astype(np.float64) + 0.5) / two53
        np.testing.assert_array_equal(u < a[ok], b[ok].astype(np.uint64) < t[ok].astype(np.uint64))
    # And on hashed keys.
    keys = rng.integers(0, 2**63, 20_000, dtype=np.int64).astype(np.uint64)
    salt = np.uint64(987654321)
    bits, u = keyed_bits(keys, salt), keyed_uniform(keys, salt)
    for ai, ti in zip(a[::7], uniform_threshold(a[::7]), strict=True):
        np.testing.assert_array_equal(u < ai, bits < ti)


def test_uniforms_in_blocks_are_the_uniforms_one_by_one():
    keys = np.arange(0, 5_000, 7, dtype=np.uint64) * np.uint64(1 << 22)
    salts = np.array([3, 2**61 + 5, 2**62 - 1], dtype=np.uint64)
    block = keyed_uniforms(keys, salts)
    for row, salt in zip(block, salts, strict=True):
        np.testing.assert_array_equal(row, keyed_uniform(keys, salt))


def _pairs_reference(cell, ptr, live_partner, opp_key, sourced, a, salt):
    """The pursuit pairs as first written: every pair's key and float uniform materialised."""
    start = ptr[cell]
    counts = ptr[cell + 1] - start
    total = int(counts.sum())
    opp_rep = np.repeat(np.arange(cell.size), counts)
    pos = np.repeat(start - (np.cumsum(counts) - counts), counts) + np.arange(total)
    p_rep = live_partner[pos]
    key = p_rep.astype(np.uint64) + np.repeat(opp_key + np.uint64(3), counts)
    pursue = keyed_uniform(key, salt) < a[p_rep]
    pursue |= p_rep == np.repeat(sourced, counts)
    return opp_rep[pursue], p_rep[pursue]


@pytest.mark.parametrize("n_opps", [0, 1, 50, 3_000])
def test_pursuit_pairs_match_the_materialised_pairs(n_opps):
    rng = np.random.default_rng(n_opps)
    n_cells, n_partners = 12, 40
    # Each partner covers a few distinct cells; edges listed cell by cell.
    edges = sorted({(int(c), int(p)) for p in range(n_partners) for c in rng.choice(n_cells, 3, replace=False)})
    edge_cell = np.array([c for c, _ in edges])
    live_partner = np.array([p for _, p in edges])
    ptr = np.concatenate([[0], np.cumsum(np.bincount(edge_cell, minlength=n_cells))])
    cell = rng.integers(0, n_cells, n_opps)
    cell[: n_opps // 10] = 0  # a crowded cell
    opp_key = np.sort(rng.choice(10**6, n_opps, replace=False)).astype(np.uint64) * np.uint64(1 << 22)
    sourced = np.where(rng.random(n_opps) < 0.3, rng.integers(0, n_partners, n_opps), -1).astype(np.int32)
    a = rng.random(n_partners) * 0.5
    a[:3] = [0.0, 1.0, 1e-300]
    salt = np.uint64(123456789)
    got = market._partner_pursuits(cell, ptr, live_partner, opp_key, sourced, a, salt)
    want = _pairs_reference(cell, ptr, live_partner, opp_key, sourced, a, salt)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def test_contest_winner_keeps_the_sorts_tie_rule():
    # Rows 0-5 on three opportunities; opportunity 0 has a tie between rows 1 and 4.
    opp = np.array([0, 0, 1, 2, 0, 1])
    util = np.array([0.0, 2.0, 1.0, -np.inf, 2.0, 1.5])
    batch = PursuitBatch(
        n_opps=4, opp_account=np.arange(4), opp_value=np.ones(4), opp_pref=np.zeros(4, np.int8),
        opp_territory=np.zeros(4, np.int32), opp_segment=np.zeros(4, np.int8), opp_sourced=np.full(4, -1),
        opp=opp, kind=np.zeros(6, np.int8), partner=np.arange(6), utility=util, gumbel=np.zeros(6),
        u_register=np.zeros(6), u_order=np.zeros(6), u_prevent=np.zeros(4), u_compete=np.zeros(4),
        u_delay=np.zeros(4), live=np.ones(6, bool), prevented=np.zeros(6, bool), registered_row=np.full(4, -1),
    )
    mask = np.array([True, True, True, True])
    np.testing.assert_array_equal(batch.contest_winner(mask, noise=1.0), [1, 5, 3, -1])
    batch.utility = np.array([0.0, np.nan, 1.0, -np.inf, 2.0, 1.5])  # NaN: the sort's order
    np.testing.assert_array_equal(batch.contest_winner(mask, noise=1.0), [4, 5, 3, -1])


def _poisson_reference(rng, lam):
    """Inversion stepping every draw until all are done, as first written."""
    lam = np.asarray(lam, dtype=float)
    u = rng.random(lam.shape)
    out = np.zeros(lam.shape, dtype=np.int64)
    small = lam > 0
    lm, us = lam[small], u[small]
    p = np.exp(-lm)
    cdf = p.copy()
    k = np.zeros(lm.shape, dtype=np.int64)
    todo = us > cdf
    n = 0
    while todo.any() and n < 200:
        n += 1
        p = np.where(todo, p * lm / n, p)
        cdf = np.where(todo, cdf + p, cdf)
        k += todo
        todo &= us > cdf
    out[small] = k
    return out


@pytest.mark.parametrize("seed", range(5))
def test_poisson_inversion_matches_stepping_every_draw(seed):
    rng = np.random.default_rng(seed)
    lam = rng.choice([0.0, 0.01, 0.7, 3.0, 12.0, 29.9], size=int(rng.integers(1, 800))) * rng.random()
    np.testing.assert_array_equal(demand.poisson(np.random.default_rng(seed), lam),
                                  _poisson_reference(np.random.default_rng(seed), lam))


def test_first_occurrences_are_numpys_unique():
    rng = np.random.default_rng(3)
    for n, k in [(10, 0), (10, 25), (50_000, 3_000), (1_000_000, 2_000)]:  # the last one takes np.unique
        values = rng.integers(0, n, k)
        got = demand._first_occurrences(values, n)
        want = np.unique(values, return_index=True)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)


def test_joined_parties_are_the_labels_joined_group_by_group():
    rng = np.random.default_rng(5)
    lookup = np.array([f"P{i}" for i in range(30)] + ["direct", "digital", "competitor"], dtype=object)
    sizes = rng.integers(1, 6, 200)
    group = rng.permutation(np.repeat(np.arange(sizes.size), sizes))
    codes = rng.integers(0, lookup.size, group.size)
    parties, n = _join_groups(group, codes, lookup)
    order = np.argsort(group, kind="stable")
    want = ["|".join(lookup[codes[order][group[order] == g]]) for g in range(sizes.size)]
    assert parties.tolist() == want
    np.testing.assert_array_equal(n, sizes)


def test_segment_pick_table_is_the_bit_loop():
    mask = np.repeat(np.arange(8), 3)
    pick = np.tile(np.arange(3), 8)
    seg = np.full(mask.size, -1)
    for s_ in (2, 1, 0):  # the loop the table replaces: the pick-th set bit, counting from the lowest
        below = sum((mask >> b) & 1 for b in range(s_)) if s_ else np.zeros(mask.size, dtype=np.int64)
        seg = np.where(((mask >> s_) & 1).astype(bool) & (below == pick), s_, seg)
    np.testing.assert_array_equal(demand._PICK_SEGMENT[mask, pick], seg)
    np.testing.assert_array_equal(demand._SEGMENTS_IN_MASK, [bin(m).count("1") for m in range(8)])


def test_compiled_uniforms_are_the_numpy_formula():
    rng = np.random.default_rng(8)
    keys = np.concatenate([rng.integers(0, 2**63, 5_000, dtype=np.int64).astype(np.uint64),
                           np.array([0, 1, 2**64 - 1], dtype=np.uint64)])
    for salt in (np.uint64(0), np.uint64(2**62 - 1), np.uint64(12345)):
        want = (keyed_bits(keys, salt).astype(np.float64) + 0.5) * (1.0 / 2.0**53)
        np.testing.assert_array_equal(keyed_uniform(keys, salt), want)
    assert keyed_uniform(np.zeros(0, dtype=np.uint64), np.uint64(3)).size == 0


@pytest.mark.parametrize("from_market", [True, False])
def test_eligible_accounts_by_cell_are_the_filtered_cell_order(from_market):
    from sim.customers import CHURNED, COMPETITOR, IN_MARKET
    from sim.kernels import eligible_by_cell

    rng = np.random.default_rng(11)
    n, n_cells, month, lockin = 3_000, 40, 50, 12
    cell = rng.integers(0, n_cells, n)
    cell[cell == 7] = 8  # an empty cell
    order = np.argsort(cell, kind="stable")
    ptr = np.concatenate([[0], np.cumsum(np.bincount(cell, minlength=n_cells))])
    state = rng.integers(0, 5, n).astype(np.int8)
    sourced = np.where(rng.random(n) < 0.5, -1, rng.integers(0, 30, n)).astype(np.int32)
    since = rng.integers(0, month + 1, n).astype(np.int32)
    if from_market:
        ok = (state == IN_MARKET) & (sourced == -1)
    else:
        ok = ((state == COMPETITOR) | (state == CHURNED)) & ((month - since) >= lockin)
    at = np.flatnonzero(ok[order])
    got, eptr = eligible_by_cell(order, ptr, state, sourced, since, month, lockin, from_market)
    np.testing.assert_array_equal(got, order[at])
    np.testing.assert_array_equal(eptr, np.searchsorted(at, ptr))


def test_satisfaction_drift_and_due_contracts_are_the_numpy_steps():
    from sim.customers import CUSTOMER, PARTNER_CH
    from sim.kernels import drift_and_due

    rng = np.random.default_rng(12)
    n, n_partners, month, k, drift = 5_000, 60, 37, 12, 0.3
    state = rng.integers(0, 5, n).astype(np.int8)
    channel = rng.integers(-1, 3, n).astype(np.int8)
    partner = np.where(channel == PARTNER_CH, rng.integers(-1, n_partners, n), -1).astype(np.int32)
    since = rng.integers(0, month + 1, n).astype(np.int32)
    sat = rng.random(n)
    table = np.concatenate([rng.random(n_partners), [0.5, 0.0, 0.7, 0.6, 0.5]])
    cust = np.flatnonzero(state == CUSTOMER)
    ch = channel[cust]
    code = np.where(ch == PARTNER_CH, partner[cust], ch.astype(np.int32) + np.int32(n_partners + 1))
    want_sat = sat.copy()
    want_sat[cust] = sat[cust] + drift * (table[code] - sat[cust])
    age = month - since[cust]
    want_due = cust[(age > 0) & (age % k == 0)]
    got_sat = sat.copy()
    due = drift_and_due(state, channel, partner, since, got_sat, table, n_partners, drift, month, k)
    np.testing.assert_array_equal(got_sat, want_sat)
    np.testing.assert_array_equal(due, want_due)


def _registration_reference(opp, kind, live, partner, u_register, u_order, rate, tier, allowed, opp_value, min_size,
                            opp_sourced, registered_row, protects_direct):
    """Deal registration as first written with numpy (sim.policies.conflict.DealRegistration)."""
    n_opps = registered_row.size
    partner_kind = kind == 0
    is_partner = partner_kind & live
    if not is_partner.any():
        return np.zeros(kind.size, dtype=bool), registered_row
    cand = np.flatnonzero(is_partner & (u_register < rate))
    o = opp[cand]
    ok = allowed[tier[partner[cand]]] & (opp_value[o] >= min_size)
    rows, o = cand[ok], o[ok]
    key = np.where(partner[rows] == opp_sourced[o], -1.0, u_order[rows])
    first = np.full(n_opps, np.inf)
    np.minimum.at(first, o, key)
    has_reg = np.isfinite(first)
    registrant = rows[key == first[o]]
    reg_row = np.full(n_opps, -1)
    reg_row[opp[registrant[::-1]]] = registrant[::-1]
    registered = np.where(has_reg, reg_row, registered_row)
    protected = has_reg[opp]
    out = protected & partner_kind
    out[reg_row[has_reg]] = False
    if protects_direct:
        out |= protected & ~partner_kind
    return out, registered


@pytest.mark.parametrize("protects_direct", [True, False])
def test_deal_registration_kernel_is_the_numpy_rule(protects_direct):
    from sim.kernels import deal_registration

    rng = np.random.default_rng(21 + protects_direct)
    n_opps, rows, n_partners = 400, 3_000, 50
    opp = np.sort(rng.integers(0, n_opps, rows))
    kind = rng.choice([0, 0, 0, 1, 2], rows).astype(np.int8)
    partner = np.where(kind == 0, rng.integers(0, n_partners, rows), -1)
    live = rng.random(rows) < 0.9
    u_register = rng.random(rows)
    u_order = rng.random(rows)
    u_order[:20] = u_order[20:40]  # ties between rows
    tier = rng.integers(0, 4, n_partners)
    allowed = np.array([False, True, True, True])
    opp_value = rng.random(n_opps) * 40_000
    opp_sourced = np.where(rng.random(n_opps) < 0.3, rng.integers(0, n_partners, n_opps), -1)
    before = np.where(rng.random(n_opps) < 0.1, rng.integers(0, rows, n_opps), -1)
    want_out, want_reg = _registration_reference(opp, kind, live, partner, u_register, u_order, 0.6, tier, allowed,
                                                 opp_value, 10_000.0, opp_sourced, before, protects_direct)
    got_reg = before.astype(np.int64, copy=True)
    got_out = deal_registration(opp, kind, live, partner, u_register, u_order, 0.6, tier, allowed, opp_value,
                                10_000.0, opp_sourced, got_reg, protects_direct)
    np.testing.assert_array_equal(got_out, want_out)
    np.testing.assert_array_equal(got_reg, want_reg)
    assert want_out.any() and (want_reg != before).any()  # the case exercises registrations
