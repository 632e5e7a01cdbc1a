"""Direct sales' pipeline: its own prospecting and whether it sees partners' leads (docs/MODEL.md S7).

The calibrated baseline has no direct prospecting and lets direct sales' outbound pursuit reach
every in-market account; the alternative (``direct.prospecting > 0``, ``direct.sees_partner_leads:
false``) is a structural assumption the docs measure against it.  These tests check the rules
month by month on the small scenario of ``conftest.py``, so they are exact, not statistical.
"""

from __future__ import annotations

import numpy as np
from conftest import small

import sim
from sim.customers import CUSTOMER, DIRECT_CH, DIRECT_SOURCED
from sim.model import ChannelModel

ALTERNATIVE = {"direct.prospecting": 3.0, "direct.sees_partner_leads": False}


def _months(model: ChannelModel, n: int):
    """Step ``n`` months, yielding the model and the account states before each month."""
    for _ in range(n):
        before = model.customers.state.copy()
        model.step()
        yield model, before


def test_direct_prospects_land_in_direct_cells_and_are_pursued():
    model = ChannelModel(small(ALTERNATIVE), rng=3)
    seen = 0
    for m, _ in _months(model, 18):
        targets = m.direct_targets
        cu = m.customers
        assert m.ledger.direct_leads == targets.size
        assert 0 <= m.ledger.direct_collisions <= targets.size
        if targets.size == 0:
            continue
        seen += targets.size
        assert m.direct_territories[cu.territory[targets]].all()
        assert m.direct_segments[cu.segment[targets]].all()
    assert seen > 0


def test_without_prospecting_there_are_no_direct_leads():
    res = sim.run(small(), seed=3)
    assert (res.kpis["direct_leads"] == 0).all()
    assert (res.kpis["direct_collisions"] == 0).all()


def test_direct_does_not_pursue_partner_leads_it_did_not_find_itself():
    """With sees_partner_leads false, a new direct customer is inbound, its own prospect or unsourced."""
    model = ChannelModel(small({"direct.sees_partner_leads": False}), rng=4)
    checked = 0
    for m, _ in _months(model, 18):
        cu = m.customers
        won = np.flatnonzero((cu.state == CUSTOMER) & (cu.since == m.month - 1) & (cu.channel == DIRECT_CH))
        partner_sourced = won[cu.sourced[won] >= 0]
        inbound = cu.preference[partner_sourced] == DIRECT_CH
        assert inbound.all(), "direct won partner-sourced accounts outbound without prospecting them"
        checked += won.size
    assert checked > 0


def test_direct_sourced_accounts_are_its_prospects_and_not_partner_originated():
    model = ChannelModel(small(ALTERNATIVE), rng=5)
    marked_total = 0
    for m, _ in _months(model, 12):
        cu = m.customers
        marked = np.flatnonzero((cu.sourced == DIRECT_SOURCED) & (cu.entered == m.month - 1))
        marked_total += marked.size
        assert np.isin(marked, m.direct_targets).all()
        assert not cu.originated[marked].any()
    assert marked_total > 0
