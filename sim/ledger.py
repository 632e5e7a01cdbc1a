"""The vendor's books for one month, and the incentive budget.

State transitions write flows here; KPI reporters read them.  Nothing here
does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SPEND_LINES: tuple[str, ...] = (
    "discount",
    "rebate",
    "mdf",
    "spiff",
    "training",
    "recognition",
    "relationship",
    "improvement",
    "intervention",
    "collaboration",
)


@dataclass
class Ledger:
    """Flows of one month (USD unless stated)."""

    month: int
    n_tiers: int
    revenue: np.ndarray = field(default_factory=lambda: np.zeros(3))  # by channel
    revenue_tier: np.ndarray = field(default_factory=lambda: np.zeros(0))
    revenue_type: np.ndarray = field(default_factory=lambda: np.zeros(5))
    revenue_new_channel: np.ndarray = field(default_factory=lambda: np.zeros(3))
    revenue_new_originated: float = 0.0  # new partner deals won by the partner that sourced the account
    collab_deals: int = 0  # deals won by a team (referral hand-off or co-sell)
    collab_value: float = 0.0  # their value (USD, at today's prices)
    collab_pursued: int = 0  # opportunities pursued by a team
    solo_pursued: int = 0  # opportunities pursued by partners without a team
    solo_won: int = 0
    referral_revenue: float = 0.0  # the finders' share of referred deals won
    # a team deal's value moved from its lead to its helper: (lead ids, helper ids, value before the price index)
    collab_split: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    partner_vs_partner: int = 0  # partner pursuits that met another partner's on the same account
    enterprise_pursued: int = 0  # enterprise opportunities a partner pursued (at the contest)
    enterprise_won: int = 0  # of them, won by a partner
    revenue_specialised: float = 0.0  # partner deals in a segment where the partner holds the specialisation
    cogs: float = 0.0
    spend: dict[str, float] = field(default_factory=lambda: dict.fromkeys(SPEND_LINES, 0.0))
    spend_tier: dict[str, np.ndarray] = field(default_factory=dict)
    margin_lost: float = 0.0
    conflict_management: float = 0.0
    new_customers: np.ndarray = field(default_factory=lambda: np.zeros(3, dtype=np.int64))
    churned: int = 0
    renewals_due: int = 0
    renewals_done: int = 0
    opportunities: int = 0
    pursued: int = 0
    won: int = 0
    conflicts: np.ndarray = field(default_factory=lambda: np.zeros(3, dtype=np.int64))  # by type
    conflicts_by_resolution: dict[str, int] = field(default_factory=dict)
    mdf_leads: int = 0  # leads MDF-funded campaigns generated
    direct_leads: int = 0  # accounts direct sales' own prospecting landed on
    direct_collisions: int = 0  # of which a partner's lead had brought into market this month
    mdf_accrued: float = 0.0
    mdf_claimed: float = 0.0
    mdf_expired: float = 0.0
    claims: int = 0
    claims_compliant: int = 0
    claims_caught: int = 0
    claims_value: float = 0.0  # true value of the claims filed
    audits: int = 0
    leakage: float = 0.0  # paid on claims beyond their true value (over-claims not caught)
    fines: float = 0.0  # fines withheld from caught over-claims
    onboarded: int = 0
    exited: int = 0
    # Exits of the month by reason: choice, terminated, other.
    exits_by_reason: np.ndarray = field(default_factory=lambda: np.zeros(3, dtype=np.int64))
    dropouts: int = 0
    recruited: int = 0
    prospects: int = 0
    prospects_by_source: np.ndarray = field(default_factory=lambda: np.zeros(3, dtype=np.int64))
    recruited_by_source: np.ndarray = field(default_factory=lambda: np.zeros(3, dtype=np.int64))
    recruitment_cost_by_source: np.ndarray = field(default_factory=lambda: np.zeros(3))
    customers_poached: int = 0  # vendor customers competitors' channels pulled back into market
    customers_closed: int = 0  # customers lost because their business closed (account turnover)
    certifications_paid: int = 0  # certifications partners paid for themselves
    partner_gross_margin: float = 0.0  # partners' gross margin on the line, all selling partners
    partner_profit: float = 0.0  # partners' profit on the line
    partner_effort: float = 0.0  # seller-months partners gave the vendor
    migrations_up: int = 0
    migrations_down: int = 0
    active_before: int = 0

    def __post_init__(self) -> None:
        self.revenue_tier = np.zeros(self.n_tiers)
        self.spend_tier = {k: np.zeros(self.n_tiers) for k in SPEND_LINES}

    @property
    def incentive_spend(self) -> float:
        return float(sum(self.spend.values()))

    @property
    def conflict_cost(self) -> float:
        return self.margin_lost + self.conflict_management

    @property
    def revenue_new(self) -> float:
        """First-year revenue of the month's new customers, all channels."""
        return float(self.revenue_new_channel.sum())

    @property
    def revenue_total(self) -> float:
        return float(self.revenue.sum())

    @property
    def gross_profit(self) -> float:
        """Revenue - cost of goods - every incentive cost - conflict costs."""
        return self.revenue_total - self.cogs - self.incentive_spend - self.conflict_cost


class Budget:
    """The incentive budget: an annual amount that accrues monthly, unspent allowance carried within the year.

    Every lever's request passes through :meth:`grant`; when the allowance
    left cannot cover a request, the request is scaled down pro rata, so
    spend to date never exceeds the allowance to date (and a year's spend never
    exceeds the annual budget).
    """

    def __init__(self, annual: float | None):
        self.annual = annual
        self.allowance = 0.0
        self.spent = 0.0

    def new_month(self, month: int) -> None:
        if self.annual is None:
            return
        if month % 12 == 0:
            self.allowance = 0.0
            self.spent = 0.0
        self.allowance += self.annual / 12.0

    @property
    def available(self) -> float:
        return float("inf") if self.annual is None else max(self.allowance - self.spent, 0.0)

    def grant(self, requested: np.ndarray) -> np.ndarray:
        """What is paid of ``requested`` (non-negative array)."""
        requested = np.maximum(np.asarray(requested, dtype=float), 0.0)
        total = float(requested.sum())
        if self.annual is None or total <= 0.0:
            paid = requested
        else:
            avail = self.available
            paid = requested if total <= avail else requested * (avail / total)
            # Rounding can carry the scaled sum a few ulps past the allowance: scale down a
            # few more times, and pay nothing if even that fails (e.g. subnormal amounts).
            for _ in range(4):
                if paid.sum() <= avail:
                    break
                paid = paid * (avail / paid.sum()) * (1.0 - 1e-9)
            if avail <= 0 or paid.sum() > avail:
                paid = np.zeros_like(requested)
        self.spent += float(paid.sum())
        return paid
