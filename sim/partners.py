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

CAP = {name: i for i, name in enumerate(CAPABILITIES)}

# (name, dtype, trailing shape) of every per-partner array.
_COLUMNS: list[tuple[str, str, tuple[int, ...]]] = [
    ("ptype", "int8", ()),
    ("home", "int32", ()),
    ("n_terr", "int16", ()),
    ("segmask", "uint8", ()),
    ("cap", "float64", (len(CAPABILITIES),)),
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
    ("win_ema", "float64", ()),
    ("loss_partner_ema", "float64", ()),
    ("loss_vendor_ema", "float64", ()),
    ("recognition", "float64", ()),
    ("compliance", "float64", ()),
    ("train_accum", "float64", ()),
    ("revenue", "float64", ()),  # this month
    ("customers", "int32", ()),
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
            ("train_pipe", "float64", (self._train_lag + 1,)),
            ("cert_expiry", "int32", (self._max_certs,)),
        ]

    def _grow(self, capacity: int) -> None:
        for name, dtype, shape in self._shapes():
            new = np.zeros((capacity, *shape), dtype=dtype)
            if name == "cert_expiry":
                new[:] = -1
            if self._capacity:
                new[: self.n] = getattr(self, name)[: self.n]
            setattr(self, "_" + name, new)
        self._capacity = capacity

    def __getattr__(self, name: str) -> np.ndarray:
        # Views of the filled part of each array: ``table.mindshare`` etc.
        store = self.__dict__.get("_" + name)
        if store is None:
            raise AttributeError(name)
        return store[: self.n]

    def __setattr__(self, name: str, value: object) -> None:
        # ``table.mindshare = x`` writes into the array instead of rebinding it.
        store = self.__dict__.get("_" + name)
        if isinstance(store, np.ndarray) and not name.startswith("_"):
            store[: self.n] = value
        else:
            object.__setattr__(self, name, value)

    def add(self, k: int) -> np.ndarray:
        """Append ``k`` zeroed rows; return their ids."""
        if self.n + k > self._capacity:
            self._grow(max(2 * self._capacity, self.n + k))
        ids = np.arange(self.n, self.n + k)
        self.n += k
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

    def contest_capability(self) -> np.ndarray:
        c = self.cap
        return 0.5 * c[:, CAP["sales"]] + 0.3 * c[:, CAP["technical"]] + 0.2 * c[:, CAP["strategic_fit"]]

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
