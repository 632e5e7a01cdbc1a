"""Partners: Mesa agents whose state lives in one struct-of-arrays table.

Each :class:`PartnerAgent` is a ``mesa.Agent`` and a view on one row of the
:class:`PartnerTable`.  The monthly decision rules of the brief run set-wide
over the table (vectorised, as ``AgentSet.do`` would run them one by one), so a
sweep of thousands of runs stays fast, and a researcher can still select,
inspect and group partners through Mesa's ``AgentSet``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from .scenario import CAPABILITIES, PARTNER_TYPES, SEGMENTS

if TYPE_CHECKING:
    from .model import ChannelModel

# Lifecycle states (the brief's prospects are screened before they get a row).
ONBOARDING, ACTIVE, IMPROVEMENT, EXITED = 1, 2, 3, 4
LIFECYCLE_NAMES = {ONBOARDING: "onboarding", ACTIVE: "active", IMPROVEMENT: "improvement_plan", EXITED: "exited"}
# Why a partner left (0 while it is in the programme).
EXIT_NONE, EXIT_CHOICE, EXIT_TERMINATED, EXIT_OTHER = 0, 1, 2, 3
EXIT_REASONS = ("", "partner_choice", "failed_improvement_plan", "other")
# Where a partner came from (initial partners: "initial").
SOURCE_NAMES = ("initial", "events", "directories", "referrals")
# The partner's profit and loss on the vendor's line, one month (USD).  ``gross_margin`` is the sum of
# the first six; ``line_profit`` = gross_margin - effort_cost - programme_cost.
PL_LINES = (
    "product_margin",  # front-end discount paid, less what was passed on to the customer as price
    "service_margin",  # the partner's own services attached to its deals
    "rebate",  # back-end rebates paid (over-claims not caught included, fines withheld)
    "spiff",
    "mdf_net",  # MDF paid less the campaigns it ran (over-claims not caught; negative when fined)
    "fines",  # negative: fines withheld from rebate payments
    "effort_cost",  # sellers' time given to the line
    "programme_cost",  # tier fee and certifications the partner paid for
)

CAP = {name: i for i, name in enumerate(CAPABILITIES)}

# (name, dtype, trailing shape) of every per-partner array.
_COLUMNS: list[tuple[str, str, tuple[int, ...]]] = [
    ("ptype", "int8", ()),
    ("home", "int32", ()),
    ("n_terr", "int16", ()),
    ("segmask", "uint8", ()),
    ("cap", "float64", (len(CAPABILITIES),)),
    ("cap0", "float64", (len(CAPABILITIES),)),  # the partner's own capability, without the vendor's training
    ("sellers", "float64", ()),
    ("opps_per_seller", "float64", ()),
    ("service_margin", "float64", ()),
    ("tier", "int8", ()),
    ("shortfall", "int8", ()),
    ("lifecycle", "int8", ()),
    ("joined", "int32", ()),
    ("left", "int32", ()),
    ("plan_left", "int16", ()),
    ("mindshare", "float64", ()),
    ("satisfaction", "float64", ()),
    ("loss_partner_ema", "float64", ()),
    ("loss_vendor_ema", "float64", ()),
    ("recognition", "float64", ()),
    ("compliance", "float64", ()),
    ("train_accum", "float64", ()),
    ("revenue", "float64", ()),  # this month
    ("customers", "int32", ()),
    ("source", "int8", ()),  # index into SOURCE_NAMES
    ("exit_reason", "int8", ()),  # index into EXIT_REASONS
    ("last_deal", "int32", ()),  # month of the last deal won (new or renewal); joined - 1 before any
    # Effort and the partner's view of the line (share of wallet, S3).
    ("outside_margin", "float64", ()),  # gross margin per seller-month on its other lines (USD)
    ("seller_cost", "float64", ()),  # cost of a seller-month (USD)
    ("effort", "float64", ()),  # seller-months given to the vendor this month
    ("gm_ema", "float64", ()),  # smoothed gross margin of the line (USD a month)
    ("effort_ema", "float64", ()),  # smoothed effort (seller-months a month)
    ("profit_ema", "float64", ()),  # smoothed line profit
    ("outside_ema", "float64", ()),  # smoothed profit the same effort earns on the other lines
    ("observed", "int32", ()),  # months of its own results the partner has seen (in this model)
    ("gm_fast", "float64", ()),
    ("gm_slow", "float64", ()),
    # Compliance (S5): honesty trait and the perceived audit rate.
    ("honesty", "float64", ()),
    ("perceived_audit", "float64", ()),
    ("claimed_month", "bool", ()),  # filed a claim this month
    ("audited_month", "bool", ()),  # a claim of its was audited this month
    ("overclaimed_month", "bool", ()),  # over-claimed this month
    # Conflicts this month: won, lost to another partner, to direct sales, to the digital channel.
    ("conf_won", "int32", ()),
    ("conf_lost_partner", "int32", ()),
    ("conf_lost_direct", "int32", ()),
    ("conf_lost_digital", "int32", ()),
    ("pass_through", "float64", ()),  # discount passed on to customers as price this month (USD)
    ("new_margin", "float64", ()),  # product and service margin on this month's new customers (USD)
    ("renewal_margin", "float64", ()),  # product and service margin on this month's renewals (USD)
    ("certs_paid", "int16", ()),  # certifications the partner paid for this month
    # Early intervention (sim.policies.intervention): months targeted, and what the last ones left behind.
    ("interventions", "int32", ()),  # months the partner has been targeted (and something was paid)
    ("extra_support", "float64", ()),  # support level on top of its tier's, from intervention support (fades)
    ("extra_communication", "float64", ()),  # communication on top of the programme's, from contacts (fades)
]


class PartnerTable:
    """Per-partner state as numpy arrays, indexed by partner id (0, 1, 2, ...).

    Rows are never removed: an exited partner keeps its id and history.
    Ring buffers hold the trailing history the rules need: 24 months of revenue
    (for growth accelerators), 12 months of claims and audit results, the MDF
    fund by month of accrual, the training pipeline and certification expiries.
    """

    def __init__(self, capacity: int, *, mdf_months: int, train_lag: int, max_certs: int):
        self.n = 0
        self._capacity = 0
        self._mdf_months = mdf_months
        self._train_lag = train_lag
        self._max_certs = max_certs
        self._grow(max(capacity, 8))

    # -- storage -----------------------------------------------------------------
    def _shapes(self) -> list[tuple[str, str, tuple[int, ...]]]:
        return _COLUMNS + [
            ("rev_hist", "float64", (24,)),
            ("claims_hist", "float64", (12,)),
            ("caught_hist", "float64", (12,)),
            ("mdf_fund", "float64", (self._mdf_months,)),
            ("pl", "float64", (len(PL_LINES),)),  # this month's P&L lines
            ("train_pipe", "float64", (self._train_lag + 1,)),
            ("cert_expiry", "int32", (self._max_certs,)),
            ("spec", "bool", (3,)),  # specialisation held in each customer segment (speciality tiering)
        ]

    def _grow(self, capacity: int) -> None:
        for name, dtype, shape in self._shapes():
            new = np.zeros((capacity, *shape), dtype=dtype)
            if name == "cert_expiry":
                new[:] = -1
            if self._capacity:
                new[: self.n] = self.__dict__["_" + name][: self.n]
            object.__setattr__(self, "_" + name, new)
        self._capacity = capacity
        self._refresh_views()

    def _refresh_views(self) -> None:
        # ``table.mindshare`` etc. are views of the filled part of each array, kept in the instance
        # dict (a plain attribute look-up, read thousands of times a run) and renewed whenever the
        # number of rows or the storage changes.
        d = self.__dict__
        for name, _, _ in self._shapes():
            d[name] = d["_" + name][: self.n]

    def __setattr__(self, name: str, value: object) -> None:
        # ``table.mindshare = x`` writes into the array instead of rebinding it.
        store = self.__dict__.get("_" + name)
        if isinstance(store, np.ndarray) and not name.startswith("_"):
            store[: self.n] = value
        else:
            object.__setattr__(self, name, value)

    def __getstate__(self) -> dict:
        # Copies and pickles carry the storage only: views would be copied as arrays of their own.
        views = {name for name, _, _ in self._shapes()}
        return {k: v for k, v in self.__dict__.items() if k not in views}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._refresh_views()

    def add(self, k: int) -> np.ndarray:
        """Append ``k`` zeroed rows; return their ids."""
        if self.n + k > self._capacity:
            self._grow(max(2 * self._capacity, self.n + k))
        ids = np.arange(self.n, self.n + k)
        self.n += k
        self._refresh_views()
        return ids

    # -- derived views ----------------------------------------------------------
    @property
    def selling(self) -> np.ndarray:
        """Partners that pursue opportunities (onboarding, active, on a plan)."""
        lc = self.lifecycle
        return (lc == ONBOARDING) | (lc == ACTIVE) | (lc == IMPROVEMENT)

    @property
    def active(self) -> np.ndarray:
        """Partners counted as active in the programme (active or on a plan)."""
        lc = self.lifecycle
        return (lc == ACTIVE) | (lc == IMPROVEMENT)

    def contest_capability(self, weights: tuple[float, float, float] = (0.5, 0.3, 0.2)) -> np.ndarray:
        """Weighted capability in a contest: sales, technical and strategic fit (weights normalised)."""
        c = self.cap
        ws, wt, wf = weights
        total = ws + wt + wf
        return (ws * c[:, CAP["sales"]] + wt * c[:, CAP["technical"]] + wf * c[:, CAP["strategic_fit"]]) / total

    def gross_margin(self) -> np.ndarray:
        """This month's gross margin on the line: the P&L lines before effort and programme costs."""
        return self.pl[:, :6].sum(axis=1)

    def line_profit(self) -> np.ndarray:
        """This month's profit on the line: gross margin less effort and programme costs."""
        return self.pl.sum(axis=1)

    def profit_ratio(self) -> np.ndarray:
        """Smoothed line profit against what the same effort earns on the partner's other lines."""
        return self.profit_ema / np.maximum(self.outside_ema, 1e-9)

    def ttm_revenue(self) -> np.ndarray:
        return self.rev_hist[:, :12].sum(axis=1)

    def prior_ttm_revenue(self) -> np.ndarray:
        return self.rev_hist[:, 12:].sum(axis=1)

    def certifications(self, month: int) -> np.ndarray:
        return (self.cert_expiry > month).sum(axis=1)

    def compliance_record(self) -> np.ndarray:
        """Share of claims not caught by audit over twelve months (1 with no claims)."""
        claims = self.claims_hist.sum(axis=1)
        caught = self.caught_hist.sum(axis=1)
        return np.where(claims > 0, 1.0 - caught / np.maximum(claims, 1e-12), 1.0)


class PartnerAgent(mesa.Agent):
    """A channel partner: a Mesa agent and a view on one row of the partner table.

    Attributes read through to the table, so ``agent.mindshare`` is always the
    current value.  Use ``model.agents_by_type[PartnerAgent]`` to select and
    group partners with Mesa's ``AgentSet``.
    """

    def __init__(self, model: ChannelModel, idx: int):
        self.idx = int(idx)
        super().__init__(model)

    @property
    def _t(self) -> PartnerTable:
        return self.model.partners

    @property
    def partner_type(self) -> str:
        return PARTNER_TYPES[self._t.ptype[self.idx]]

    @property
    def tier(self) -> str:
        return self.model.config.tiering.tiers[self._t.tier[self.idx]].name

    @property
    def lifecycle(self) -> str:
        return LIFECYCLE_NAMES[int(self._t.lifecycle[self.idx])]

    @property
    def mindshare(self) -> float:
        return float(self._t.mindshare[self.idx])

    @property
    def satisfaction(self) -> float:
        return float(self._t.satisfaction[self.idx])

    @property
    def capabilities(self) -> dict[str, float]:
        return {name: float(self._t.cap[self.idx, i]) for i, name in enumerate(CAPABILITIES)}

    @property
    def home_territory(self) -> int:
        return int(self._t.home[self.idx])

    @property
    def segments(self) -> list[str]:
        mask = int(self._t.segmask[self.idx])
        return [s for i, s in enumerate(SEGMENTS) if mask & (1 << i)]

    @property
    def ttm_revenue(self) -> float:
        return float(self._t.rev_hist[self.idx, :12].sum())

    @property
    def certifications(self) -> int:
        return int((self._t.cert_expiry[self.idx] > self.model.month).sum())

    def __repr__(self) -> str:
        return f"PartnerAgent(id={self.idx}, type={self.partner_type}, tier={self.tier}, lifecycle={self.lifecycle})"
