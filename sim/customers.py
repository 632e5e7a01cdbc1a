"""Customers: a vectorised population of accounts (numpy arrays, one entry per account).

States: unaware, in market, customer of the vendor (through a channel and,
for the partner channel, a partner), customer of a competitor, churned.
Every account is in exactly one state at every step.
"""

from __future__ import annotations

import numpy as np

from .scenario import Scenario

UNAWARE, IN_MARKET, CUSTOMER, COMPETITOR, CHURNED = 0, 1, 2, 3, 4
STATE_NAMES = ("unaware", "in_market", "customer", "competitor", "churned")
PARTNER_CH, DIRECT_CH, DIGITAL_CH = 0, 1, 2
CHANNEL_NAMES = ("partner", "direct", "digital")
DIRECT_SOURCED = -2  # ``sourced`` of an account direct sales' own prospecting brought into market



def small_keys(keys: np.ndarray, n: int) -> np.ndarray:
    """``keys`` (integers in [0, n)) in the smallest integer type that holds them.

    A stable argsort of 16-bit integers is a radix sort in numpy, several times faster than
    the merge sort of 64-bit ones; the order it gives is the same (a stable sort is unique).
    """
    if n <= np.iinfo(np.int16).max:
        return keys.astype(np.int16)
    return keys

class Customers:
    """The account population.

    Arrays (length ``n``): ``segment``, ``territory``, ``preference`` (channel),
    ``value`` (first-year deal value, USD), ``state``, ``channel`` and
    ``partner`` of the serving vendor channel (-1 if none), ``since`` (month of
    its last purchase decision: won by the vendor, or lost or gone to a competitor),
    ``entered`` (month it came into market), ``satisfaction``,
    ``sourced`` (partner whose lead brought it into market, -1 if none), ``originated``
    (that lead was the partner's own prospecting or MDF campaign, not a lead the vendor shared).
    """

    def __init__(self, scenario: Scenario, rng: np.random.Generator, *, segment: np.ndarray | None = None,
                 territory: np.ndarray | None = None, value: np.ndarray | None = None):
        # ``segment``, ``territory`` and ``value`` given (an initial state from data): the accounts are
        # those; only their channel preferences are drawn (the values drawn with them are replaced).
        m = scenario.market
        n = m.n_accounts if segment is None else int(np.size(segment))
        self.n = n
        if segment is None or territory is None:
            seg_p = np.array(m.segment_shares.as_array())
            self.segment = rng.choice(3, size=n, p=seg_p).astype(np.int8)
            self.territory = rng.integers(0, m.n_territories, size=n).astype(np.int32)
        else:
            self.segment = np.array(segment, dtype=np.int8)
            self.territory = np.array(territory, dtype=np.int32)
        self.preference = np.empty(n, dtype=np.int8)
        self.value = np.empty(n)
        self.redraw(np.arange(n), rng, m)
        if value is not None:
            self.value[:] = value
        self.state = np.full(n, UNAWARE, dtype=np.int8)
        self.channel = np.full(n, -1, dtype=np.int8)
        self.partner = np.full(n, -1, dtype=np.int32)
        self.since = np.zeros(n, dtype=np.int32)
        self.entered = np.zeros(n, dtype=np.int32)
        self.satisfaction = np.zeros(n, dtype=np.float64)
        self.sourced = np.full(n, -1, dtype=np.int32)
        self.originated = np.zeros(n, dtype=bool)  # sourced by the partner's own prospecting or MDF (not a vendor lead)
        # Accounts grouped by territory, to draw leads inside a partner's territories.
        self.terr_order = np.argsort(self.territory, kind="stable").astype(np.int64)
        self.terr_size = np.bincount(self.territory, minlength=m.n_territories)
        self.terr_ptr = np.concatenate([[0], np.cumsum(self.terr_size)])
        self.adopted = np.zeros(m.n_territories, dtype=np.int64)  # accounts no longer unaware

    def redraw(self, idx: np.ndarray, rng: np.random.Generator, m) -> None:
        """Draw the channel preference and first-year value (at today's list prices) of ``idx``."""
        seg = self.segment[idx]
        for s, name in enumerate(("small", "mid", "enterprise")):
            sel = idx[seg == s]
            pr = m.preference[name]
            self.preference[sel] = rng.choice(3, size=sel.size, p=[pr.partner, pr.direct, pr.digital])
        median = np.array(m.deal_size.as_array())[seg]
        self.value[idx] = median * np.exp(m.deal_size_sigma * rng.standard_normal(idx.size))

    def counts(self) -> np.ndarray:
        """Accounts in each state (length 5)."""
        return np.array([np.count_nonzero(self.state == s) for s in range(5)])

    def adopted_share(self) -> float:
        return float(self.adopted.sum() / self.n)
