"""The state of month 0 given as data (a programme's own partners and accounts) instead of drawn.

:class:`InitialState` holds, as numpy arrays, what a PRM export says about the programme at one
month: each partner's type, the cells (territory x segment) it covers, its tier, when it joined,
its certifications and lifecycle; each account's territory, segment, first-year value, state, the
channel and partner serving it.  ``ChannelModel(scenario, initial=state)`` (and
``sim.run(..., initial=state)``) starts from it: month 0's partner table and customer population
are the state's, and what the state does not give (capabilities, sellers, mindshare, satisfaction,
honesty, channel preferences, ...) is drawn from the run's generator as for a drawn start.

``sim`` does no I/O: :func:`experiments.initial.initial_state` builds the state from an export.
Territories are numbered 0..K-1; the labels (``territory_ids``, ``partner_ids``, ``account_ids``)
map the numbers back to the export's identifiers for reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .customers import CHURNED, COMPETITOR, CUSTOMER, DIGITAL_CH, DIRECT_CH, PARTNER_CH, UNAWARE
from .errors import ScenarioError
from .partners import ACTIVE, IMPROVEMENT, ONBOARDING
from .scenario import PARTNER_TYPES, Scenario

#: ``since``, ``last_deal`` or ``certifications`` the data does not give: drawn as for a drawn start.
UNKNOWN = np.iinfo(np.int32).min
#: Account states an initial state may hold (prospects are ``UNAWARE``: they have not bought the category).
ACCOUNT_STATES = (UNAWARE, CUSTOMER, COMPETITOR, CHURNED)
#: Partner lifecycles an initial state may hold (exited partners are left out).
PARTNER_LIFECYCLES = (ONBOARDING, ACTIVE, IMPROVEMENT)


@dataclass(frozen=True, eq=False)
class InitialState:
    """Partners and accounts at month 0, given as data.

    Partner arrays (length P, partner ``i`` gets id ``i`` in the model):

    Attributes:
        ptype: type, index into ``sim.scenario.PARTNER_TYPES``.
        covers: bool (P, K, 3): partner covers territory k in segment s (index into ``SEGMENTS``).
        tier: tier, index into the scenario's tiers.
        joined: month it joined, relative to month 0 (<= 0).
        certifications: certifications held (``UNKNOWN``: drawn from technical capability as for a drawn start).
        lifecycle: ``ONBOARDING``, ``ACTIVE`` or ``IMPROVEMENT`` (``sim.partners``).
        last_deal: month of its last won deal relative to month 0 (``UNKNOWN``: last month, or
            ``joined - 1`` while onboarding, as for a drawn start).

    Account arrays (length N):

    Attributes:
        territory: territory 0..K-1.
        segment: index into ``SEGMENTS``.
        value: first-year deal value (USD, > 0).
        state: ``UNAWARE`` (prospect), ``CUSTOMER``, ``COMPETITOR`` or ``CHURNED`` (``sim.customers``).
        channel: serving channel of a customer (``PARTNER_CH``, ``DIRECT_CH``, ``DIGITAL_CH``), -1 otherwise.
        partner: serving partner (0..P-1) of a partner-channel customer, -1 otherwise.
        since: month of its last purchase decision relative to month 0 (``UNKNOWN``: drawn as for a
            drawn start: a customer's renewal date, a competitor's contract within the lock-in).

    Histories (optional; ``None``: none, as for a drawn start):

    Attributes:
        revenue: float (P, 24): each partner's won deals' first-year value in the 24 months before
            month 0, the last month first.  Given, the model rebuilds its revenue history from it (TTM
            revenue, tier reviews and growth accelerators read it): these deals, plus its current
            customers' renewals on each anniversary of their contract, and the MDF fund that history
            accrued at the partner's tier rate less ``mdf_paid``, oldest month first.
        mdf_paid: float (P,): MDF paid to each partner in the ``incentives.mdf.expiry_months`` months
            before month 0 (zeros when ``revenue`` is given without it).

    Labels (for reports; the model does not read them):

    Attributes:
        territory_ids: the export's territory id of each territory number.
        partner_ids: the export's partner id of each partner.
        account_ids: the export's account id of each account.
        as_of: the month the state describes (``YYYY-MM``), or "".
    """

    ptype: np.ndarray
    covers: np.ndarray
    tier: np.ndarray
    joined: np.ndarray
    certifications: np.ndarray
    lifecycle: np.ndarray
    last_deal: np.ndarray
    territory: np.ndarray
    segment: np.ndarray
    value: np.ndarray
    state: np.ndarray
    channel: np.ndarray
    partner: np.ndarray
    since: np.ndarray
    revenue: np.ndarray | None = None
    mdf_paid: np.ndarray | None = None
    territory_ids: tuple[str, ...] = field(default=())
    partner_ids: tuple[str, ...] = field(default=())
    account_ids: tuple[str, ...] = field(default=())
    as_of: str = ""

    def __post_init__(self) -> None:
        casts = {
            "ptype": np.int8, "covers": bool, "tier": np.int8, "joined": np.int32, "certifications": np.int32,
            "lifecycle": np.int8, "last_deal": np.int32, "territory": np.int32, "segment": np.int8,
            "value": np.float64, "state": np.int8, "channel": np.int8, "partner": np.int32, "since": np.int32,
        }
        optional = {"revenue": np.float64, "mdf_paid": np.float64}
        for name, dtype in {**casts, **optional}.items():
            if name in optional and getattr(self, name) is None:
                continue
            arr = np.array(getattr(self, name), dtype=dtype)  # a private copy, read-only
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        problems = self._shape_problems()
        if problems:
            raise ValueError("InitialState: " + "; ".join(problems))

    # ------------------------------------------------------------------ sizes
    @property
    def n_partners(self) -> int:
        return int(self.ptype.size)

    @property
    def n_accounts(self) -> int:
        return int(self.territory.size)

    @property
    def n_territories(self) -> int:
        return int(self.covers.shape[1])

    def sizes(self) -> dict[str, int]:
        """The scenario fields the state sizes, as ``with_overrides`` takes them."""
        return {"market.n_accounts": self.n_accounts, "market.n_territories": self.n_territories,
                "partners.n_initial": self.n_partners}

    def _shape_problems(self) -> list[str]:
        p, n = self.ptype.size, self.territory.size
        out = []
        if self.covers.ndim != 3 or self.covers.shape[0] != p or self.covers.shape[2] != 3:
            out.append(f"covers has shape {self.covers.shape}, needs ({p}, K, 3)")
        for name in ("tier", "joined", "certifications", "lifecycle", "last_deal"):
            if getattr(self, name).shape != (p,):
                out.append(f"{name} has shape {getattr(self, name).shape}, needs ({p},) like ptype")
        if self.revenue is not None and self.revenue.shape != (p, 24):
            out.append(f"revenue has shape {self.revenue.shape}, needs ({p}, 24)")
        if self.mdf_paid is not None and self.mdf_paid.shape != (p,):
            out.append(f"mdf_paid has shape {self.mdf_paid.shape}, needs ({p},)")
        for name in ("segment", "value", "state", "channel", "partner", "since"):
            if getattr(self, name).shape != (n,):
                out.append(f"{name} has shape {getattr(self, name).shape}, needs ({n},) like territory")
        return out

    # ------------------------------------------------------------------ checks against a scenario
    def check(self, scenario: Scenario) -> None:
        """Raise :class:`ScenarioError` when the state does not fit ``scenario`` (sizes, tiers, types, codes)."""
        sc = scenario
        problems: list[tuple[str, object, str]] = []
        for path, n in self.sizes().items():
            section, name = path.split(".")
            have = getattr(getattr(sc, section), name)
            if have != n:
                problems.append((path, have, f"must equal the initial state's {n} (the data sizes the model; "
                                 f"set it to {n}, or let experiments.initial.with_data derive it)"))
        k, p = self.n_territories, self.n_partners
        n_tiers = len(sc.tiering.tiers)
        if p and (self.tier.min() < 0 or self.tier.max() >= n_tiers):
            problems.append(("initial.tier", int(self.tier.max()), f"tier indices 0..{n_tiers - 1} "
                             f"({', '.join(sc.tier_names)})"))
        if p and (self.ptype.min() < 0 or self.ptype.max() >= len(PARTNER_TYPES)):
            problems.append(("initial.ptype", int(self.ptype.max()), f"indices into {PARTNER_TYPES}"))
        elif p:
            missing = sorted({PARTNER_TYPES[i] for i in np.unique(self.ptype)} - set(sc.partners.types))
            if missing:
                problems.append(("partners.types", sorted(sc.partners.types),
                                 f"must include the initial state's partner types {missing}"))
        if p and (self.joined > 0).any():
            problems.append(("initial.joined", int(self.joined.max()), "months <= 0 (joined by month 0)"))
        if not np.isin(self.lifecycle, PARTNER_LIFECYCLES).all():
            problems.append(("initial.lifecycle", sorted(set(self.lifecycle.tolist())),
                             f"codes {PARTNER_LIFECYCLES} (onboarding, active, improvement plan)"))
        for name in ("revenue", "mdf_paid"):
            arr = getattr(self, name)
            if arr is not None and arr.size and not (np.isfinite(arr).all() and (arr >= 0).all()):
                problems.append((f"initial.{name}", float(np.nanmin(arr)), "finite amounts >= 0 (USD)"))
        certs = self.certifications[self.certifications != UNKNOWN]
        cap = sc.incentives.training.max_certifications
        if certs.size and (certs.min() < 0 or certs.max() > cap):
            problems.append(("incentives.training.max_certifications", cap,
                             f"must be at least the initial state's largest certification count {int(certs.max())}"))
        if self.n_accounts:
            if self.territory.min() < 0 or self.territory.max() >= k:
                problems.append(("initial.territory", int(self.territory.max()), f"territories 0..{k - 1}"))
            if self.segment.min() < 0 or self.segment.max() > 2:
                problems.append(("initial.segment", int(self.segment.max()), "segment indices 0..2"))
            if not (np.isfinite(self.value).all() and (self.value > 0).all()):
                problems.append(("initial.value", float(self.value.min()), "finite values > 0 (USD)"))
            if not np.isin(self.state, ACCOUNT_STATES).all():
                problems.append(("initial.state", sorted(set(self.state.tolist())), f"codes {ACCOUNT_STATES}"))
            cust = self.state == CUSTOMER
            if not np.isin(self.channel[cust], (PARTNER_CH, DIRECT_CH, DIGITAL_CH)).all():
                problems.append(("initial.channel", "", "a channel for every customer"))
            by_partner = cust & (self.channel == PARTNER_CH)
            bad = by_partner & ((self.partner < 0) | (self.partner >= p))
            if bad.any():
                problems.append(("initial.partner", int(self.partner[bad][0]),
                                 f"a partner 0..{p - 1} for every partner-channel customer"))
            if (self.partner[~by_partner] != -1).any():
                problems.append(("initial.partner", "", "-1 for accounts no partner serves"))
        if problems:
            raise ScenarioError(f"initial state ({self.as_of or 'data'}) for scenario {sc.name!r}", problems)

    def __repr__(self) -> str:
        return (f"InitialState({self.n_partners} partners, {self.n_accounts} accounts, {self.n_territories} "
                f"territories{', as of ' + self.as_of if self.as_of else ''})")


def state_of(model) -> InitialState:
    """The state of a model at its current month as an :class:`InitialState` (a snapshot to restart from).

    Partners in the programme (onboarding, active, on a plan) keep their type, cells, tier, tenure,
    certifications, lifecycle and last deal, renumbered 0..P-1 in id order; accounts keep their cell,
    value, state, channel, partner and date of decision; accounts in market are prospects.  What a PRM
    export would not hold (capabilities, mindshare, satisfaction, beliefs, histories) is not kept.
    """
    from .customers import IN_MARKET

    t, cu, m = model.partners, model.customers, model.month
    keep = np.flatnonzero(t.selling)
    renumber = np.full(t.n + 1, -1, dtype=np.int64)
    renumber[keep] = np.arange(keep.size)
    k = model.config.market.n_territories
    covers = np.zeros((t.n, k, 3), dtype=bool)
    covers[model.edge_partner, model.edge_cell // 3, model.edge_cell % 3] = True
    state = cu.state.copy()
    state[state == IN_MARKET] = UNAWARE
    cust = state == CUSTOMER
    partner = np.where(cust & (cu.partner >= 0), renumber[cu.partner], -1)
    return InitialState(
        ptype=t.ptype[keep], covers=covers[keep], tier=t.tier[keep], joined=t.joined[keep] - m,
        certifications=t.certifications(m)[keep], lifecycle=t.lifecycle[keep], last_deal=t.last_deal[keep] - m,
        territory=cu.territory, segment=cu.segment, value=cu.value, state=state,
        channel=np.where(cust, cu.channel, -1), partner=partner,
        since=np.where(state == UNAWARE, UNKNOWN, cu.since - m),
        territory_ids=tuple(str(i) for i in range(k)), partner_ids=tuple(f"P{i}" for i in keep),
        account_ids=tuple(str(i) for i in range(cu.n)), as_of=f"month {m}",
    )


def coverage_window(covers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each partner's ``home`` and ``n_terr``: the shortest circular run of territories holding all it covers.

    The model draws a partner's own leads in ``home .. home + n_terr - 1`` (mod K); for a partner
    whose territories are contiguous that is exactly its territories.  Partners covering nothing get
    home 0 and one territory.
    """
    p, k = covers.shape[0], covers.shape[1]
    terr = covers.any(axis=2)  # (P, K)
    home = np.zeros(p, dtype=np.int64)
    span = np.ones(p, dtype=np.int64)
    for i in range(p):
        ts = np.flatnonzero(terr[i])
        if not ts.size:
            continue
        # Gaps between consecutive covered territories, the last one wrapping around.
        gaps = np.diff(np.concatenate([ts, [ts[0] + k]]))
        j = int(np.argmax(gaps))  # the largest gap ends the window
        home[i] = ts[(j + 1) % ts.size]
        span[i] = k - int(gaps[j]) + 1
    return home, span


__all__ = ["ACCOUNT_STATES", "InitialState", "PARTNER_LIFECYCLES", "UNKNOWN", "coverage_window", "state_of"]
