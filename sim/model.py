"""The channel ecosystem as a Mesa model: one step is one month.

The model owns the state (partner table, customer population, the programme's
tables, the books of the month) and the order of the monthly processes; each
process lives in a module of its own (see ``docs/MODEL.md``, "Process overview
and scheduling"):

1. recruitment (:mod:`sim.recruitment`): prospects from events, directories and
   referrals arrive at a rate that follows what partners earn; they are
   pre-qualified, evaluated and signed;
2. effort (:mod:`sim.effort`): partners split their sellers' time between this
   vendor and their other lines by the margin each returns per seller-month;
3. start-of-month levers: MDF claims (audited, :mod:`sim.compliance`), training,
   relationship programme, improvement-plan support;
4. demand (:mod:`sim.demand`): account turnover, Bass adoption, re-entry; leads
   from partners' own prospecting, MDF campaigns and the vendor;
5. the market round (:mod:`sim.market`): pursuit, conflicts, protections,
   contest on capability, price and relationship; deals booked with their
   deal-time levers (discounts, SPIFFs);
6. renewals (:mod:`sim.renewals`): customer satisfaction, renewals, churn;
7. month end: revenue history, MDF accrual and expiry, rebates (audited);
8. partner economics (:mod:`sim.economics`): each partner's P&L on the line,
   certifications it pays for, satisfaction, exits (with their reason),
   onboarding and improvement plans;
9. tier review every N months (:mod:`sim.review`);
10. data collection (KPI reporters, partner panel, conflict log).
"""

from __future__ import annotations

import copy
import types
from functools import partial
from typing import Any

import mesa
import numpy as np

from . import demand, economics, effort, market, recruitment, renewals, reporters, review
from .compliance import audited_claims
from .customers import CHURNED, COMPETITOR, CUSTOMER, DIGITAL_CH, DIRECT_CH, PARTNER_CH, UNAWARE, Customers, small_keys
from .initial import UNKNOWN, InitialState, coverage_window
from .ledger import Budget, Ledger
from .partners import ACTIVE, CAP, EXITED, IMPROVEMENT, ONBOARDING, PL_LINES, PartnerAgent, PartnerTable
from .policies import LeverEvent, Policies
from .rng import make_rng
from .scenario import CAPABILITIES, PARTNER_TYPES, SEGMENTS, Scenario

# One random stream per process, drawn afresh every month (see ``_month_streams``).
STREAMS = (
    "setup",
    "demand",
    "turnover",
    "recruit",
    "leads",
    "levers",
    "claims",
    "market",
    "customers",
    "renewals",
    "exits",
    "direct",
)
_AUDITED = ("mdf", "rebate")  # levers paid on partners' claims, which audits check
_TIER_FIELDS = (
    "min_ttm_revenue",
    "min_certifications",
    "min_customer_satisfaction",
    "min_compliance",
    "discount",
    "rebate_rate",
    "mdf_accrual_rate",
    "spiff_eligible",
    "deal_registration",
    "leads_per_month",
    "joint_selling",
    "support_level",
    "training_budget",
    "programme_fee",
)
PL = {name: i for i, name in enumerate(PL_LINES)}


class _KPICollector(mesa.DataCollector):
    """Mesa's ``DataCollector`` for the KPI reporters: a reporter's number is stored as returned.

    Mesa deep-copies every value it collects; a deep copy of a Python number is the number itself,
    so numbers skip the copy (anything else is copied as Mesa would).  The first collection, which
    validates the reporters, and any agent reporters go through Mesa.
    """

    def collect(self, model) -> None:
        plain = all(isinstance(r, types.FunctionType | partial) for r in self.model_reporters.values())
        if (not plain or not getattr(self, "_validated", False) or getattr(self, "agent_reporters", None)
                or getattr(self, "agenttype_reporters", None)):
            super().collect(model)
            return
        if hasattr(self, "_collection_steps"):
            self._collection_steps.append(model.time)
        for var, reporter in self.model_reporters.items():
            value = reporter(model)
            self.model_vars[var].append(value if type(value) in (float, int) else copy.deepcopy(value))


class ChannelModel(mesa.Model):
    """Partners, customers, direct and digital channels and their conflicts, month by month.

    Args:
        scenario: the validated :class:`~sim.scenario.Scenario`; the baseline when omitted.
        rng: a seed (int), a ``SeedSequence`` or a ``numpy.random.Generator``; the
            model's only source of randomness.  ``None`` draws fresh entropy (and
            records it in ``self.seed``), which is for exploration only.
        policies: replacement policy objects (levers, tiering, conflict rules).
        warmup: the scenario of the warm-up months (typically the baseline the what-if ``scenario``
            changes); ``scenario`` then takes effect at the first reported month, so the reported
            months show the transition from that steady state, and two what-ifs warmed up on the same
            baseline with the same seed share their whole warm-up.  ``None``: ``scenario`` from month 0.
            Fields that size the model's state (accounts, territories, tiers, MDF expiry, training
            lag, certification slots, horizon) must agree between the two.
        initial: the partners and accounts of month 0 as data (:class:`~sim.initial.InitialState`, e.g. from
            a PRM export by :func:`experiments.initial.with_data`) instead of drawn; what the data does not
            give is drawn from ``rng`` (see ``docs/MODEL.md``, "Initial state from data").  Its sizes must
            equal ``market.n_accounts``, ``market.n_territories`` and ``partners.n_initial``.  ``None``: drawn,
            and then the scenario must not name a data folder (``data.path``).
        **overrides: scenario fields by path with double underscores, e.g.
            ``incentives__mdf__scale=1.5``, so that Mesa's ``batch_run`` can sweep them.
        record_deals: keep a log of every deal of the reported months and of each month's payouts
            by lever and partner (``deal_log``, ``payout_log``; what a PRM export is made from).  It
            reads the month's outcome only: the run's draws and KPIs are the same with it on or off.

    Attributes:
        config: the resolved scenario (Mesa's own ``Model.scenario`` is left alone).
        month: months simulated so far (warm-up included).
        partners: the :class:`~sim.partners.PartnerTable`.
        customers: the :class:`~sim.customers.Customers` population.
        ledger: the books of the last month simulated.
        datacollector: Mesa ``DataCollector`` with one model reporter per KPI.
        collect_warmup: whether the warm-up months' KPIs are collected too (True; :func:`sim.run`
            turns it off, as its result reports the months after the warm-up only).
        deal_log: with ``record_deals=True``, the reported months' deals (one dict of arrays a month,
            :func:`sim.market.record_deals`); ``None`` when off.
        payout_log: with ``record_deals=True``, each reported month's payouts by lever and partner
            (``{lever: per-partner array}``); ``None`` when off.
    """

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        rng: int | np.random.Generator | np.random.SeedSequence | None = None,
        policies: Policies | None = None,
        warmup: Scenario | None = None,
        initial: InitialState | None = None,
        record_deals: bool = False,
        **overrides: Any,
    ):
        scenario = scenario if scenario is not None else Scenario()
        if overrides:
            scenario = scenario.with_overrides(overrides)
        if warmup is not None:
            _check_switch(warmup, scenario)
            if warmup.time.warmup_months == 0:
                warmup = None
        _check_initial(scenario, initial)
        if warmup is not None:
            _check_initial(warmup, initial)
        self.initial = initial
        self._final = scenario
        self._user_policies = policies or Policies()
        if rng is None:
            rng = int(np.random.SeedSequence().entropy % (2**63))
        self.seed = rng if isinstance(rng, int | np.integer) else None
        gen = make_rng(int(rng)) if isinstance(rng, int | np.integer) else make_rng(rng)
        super().__init__(rng=gen)
        # Independent substreams of the run's generator, one per process and month, so that a
        # what-if changes the draws of the processes it affects and leaves the others in step, and a
        # month whose draws differ between two scenarios does not shift the next month's
        # (common random numbers across scenarios with the same seed).
        # Derived from a draw of the run's generator (not Generator.spawn, which counts children
        # on a SeedSequence that callers may share between runs).
        self._root = int(self.rng.integers(2**63))
        self.streams = self._month_streams(0)
        self.config = warmup if warmup is not None else scenario
        self.policies = self._user_policies.resolved(self.config)
        self.month = 0
        self.horizon = scenario.time.warmup_months + scenario.time.months
        self._setup_tables()
        self._setup_programme()
        self.payout_ratio: dict[str, float] = {}
        self.conflict_log: list[dict[str, np.ndarray]] = []
        self.migrations: list[tuple[int, int, int, int]] = []
        self.panel: list[dict[str, np.ndarray]] = []
        self.deal_log: list[dict[str, np.ndarray]] | None = [] if record_deals else None
        self.payout_log: list[dict[str, np.ndarray]] | None = [] if record_deals else None
        self.mdf_window = np.zeros((12, 2))  # claimed, expired for the last 12 months
        self.renew_window = np.zeros((12, 2))  # renewed, due for the last 12 months
        self.direct_targets = np.zeros(0, dtype=np.int64)  # accounts direct sales prospected this month
        self.ledger = Ledger(month=0, n_tiers=len(scenario.tiering.tiers))
        self._new_month_accumulators()
        self._init_partners()
        self._init_customers()
        self.datacollector = _KPICollector(model_reporters=reporters.model_reporters(scenario))
        self.collect_warmup = True

    # ------------------------------------------------------------------ set-up
    def _setup_tables(self) -> None:
        """The model's state: partner table, coverage edges, territories (sized by the scenario)."""
        sc = self.config
        self.n_cells = sc.market.n_territories * 3
        tr = sc.incentives.training
        rates = sum(s.rate for s in sc.partners.recruitment.sources.values())
        expected = sc.partners.n_initial + int(min(rates, 1e5) * 0.5 * self.horizon) + 16
        self.partners = PartnerTable(
            expected,
            mdf_months=sc.incentives.mdf.expiry_months,
            train_lag=tr.lag_months,
            max_certs=tr.max_certifications,
        )
        self.edge_partner = np.zeros(0, dtype=np.int64)
        self.edge_cell = np.zeros(0, dtype=np.int64)
        self.cell_edge_partner = np.zeros(0, dtype=np.int64)
        self.cell_ptr = np.zeros(self.n_cells + 1, dtype=np.int64)
        n_terr = sc.market.n_territories
        # Direct sales enters territories in this order (the first territory_coverage of them).
        self._direct_order = self.streams["setup"].permutation(n_terr)
        self.exclusive_holder = np.full(n_terr, -1)

    def _setup_programme(self) -> None:
        """What the scenario's programme and market make of the state: tier table, channels, competitor, budget."""
        sc = self.config
        tiers = sc.tiering.tiers
        self.tier_table = {f: np.array([getattr(t, f) for t in tiers]) for f in _TIER_FIELDS}
        self.direct_segments = np.array([s in sc.direct.segments for s in SEGMENTS])
        n_terr = sc.market.n_territories
        k = int(round(sc.direct.territory_coverage * n_terr))
        self.direct_territories = np.zeros(n_terr, dtype=bool)
        self.direct_territories[self._direct_order[:k]] = True
        self.budget = Budget(sc.incentives.budget)
        mk, cc = sc.market, sc.conflict
        # The best competing vendor's offer in a contest (S10).
        self.competitor_utility = (
            cc.contest_capability * mk.competitor_capability
            - mk.price_sensitivity * np.log(mk.competitor_price)
            + cc.contest_preference * mk.competitor_preference
        )
        w = cc.capability_weights
        self.capability_weights = (w.sales, w.technical, w.strategic_fit)
        names = [n for n in PARTNER_TYPES if n in sc.partners.types]
        self.type_table = {
            "segmask": np.array(
                [
                    sum(1 << SEGMENTS.index(s) for s in sc.partners.types[name].segments)
                    if name in sc.partners.types
                    else 0
                    for name in PARTNER_TYPES
                ],
                dtype=np.uint8,
            ),
            "service_margin": np.array(
                [sc.partners.types[n].service_margin if n in sc.partners.types else 0.0 for n in PARTNER_TYPES]
            ),
        }
        self._type_names = names

    def draw_partners(
        self, k: int, rng: np.random.Generator, quality: np.ndarray | float = 0.0, ptype: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """Draw ``k`` partner profiles (type, territory, capabilities, capacity, outside option) from the scenario.

        ``quality`` shifts the capability means (per profile or for all), as a prospect source does.
        ``ptype`` (indices into ``PARTNER_TYPES``, types of the scenario) gives the profiles' types
        instead of drawing them by the types' shares.
        """
        sc = self.config.partners
        names = self._type_names
        if ptype is None:
            shares = np.array([sc.types[n].share for n in names])
            ti = rng.choice(len(names), size=k, p=shares / shares.sum())
        else:
            ti = np.array([names.index(PARTNER_TYPES[int(p)]) for p in ptype], dtype=np.int64)
        ptype = np.array([PARTNER_TYPES.index(names[i]) for i in ti], dtype=np.int8)
        cfg = [sc.types[names[i]] for i in range(len(names))]
        cap_mean = np.array([c.capability_mean for c in cfg])[ti] + quality
        cap = np.clip(
            cap_mean[:, None] + sc.capability_spread * rng.standard_normal((k, len(CAPABILITIES))), 0.02, 0.98
        )
        med = np.array([c.sellers_median for c in cfg])[ti]
        sig = np.array([c.sellers_sigma for c in cfg])[ti]
        sellers = med * np.exp(sig * rng.standard_normal(k))
        outside = np.array([c.outside_margin for c in cfg])[ti] * np.exp(
            sc.mindshare.outside_spread * rng.standard_normal(k)
        )
        return {
            "ptype": ptype,
            "home": rng.integers(0, self.config.market.n_territories, size=k),
            "n_terr": np.minimum(np.array([c.territories for c in cfg])[ti], self.config.market.n_territories),
            "segmask": self.type_table["segmask"][ptype],
            "cap": cap,
            "sellers": sellers,
            "opps_per_seller": np.array([c.opps_per_seller for c in cfg])[ti],
            "service_margin": np.array([c.service_margin for c in cfg])[ti],
            "outside_margin": outside,
        }

    def _draw_screened(self, k: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``k`` profiles that pass pre-qualification and evaluation (drawn in batches until there are enough)."""
        from .recruitment import screen

        parts: list[dict[str, np.ndarray]] = []
        have = 0
        for _ in range(1000):
            prof = self.draw_partners(max(2 * (k - have), 16), rng)
            ok = screen(self, prof["cap"])
            parts.append({key: v[ok] for key, v in prof.items()})
            have += int(ok.sum())
            if have >= k:
                break
        else:  # pragma: no cover - a screen that almost nobody passes
            raise ValueError("partners.recruitment: almost no profile passes pre-qualification and evaluation")
        return {key: np.concatenate([p[key] for p in parts])[:k] for key in parts[0]}

    def _draw_screened_as(self, ptype: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Profiles of the given types that pass pre-qualification and evaluation (failing ones drawn again)."""
        from .recruitment import screen

        prof = self.draw_partners(ptype.size, rng, ptype=ptype)
        ok = screen(self, prof["cap"])
        for _ in range(1000):
            redo = np.flatnonzero(~ok)
            if not redo.size:
                return prof
            again = self.draw_partners(redo.size, rng, ptype=ptype[redo])
            for key, values in again.items():
                prof[key][redo] = values
            ok[redo] = screen(self, again["cap"])
        raise ValueError("partners.recruitment: almost no profile of the initial state's partner types passes "
                         "pre-qualification and evaluation")  # pragma: no cover - a screen nobody passes

    def admit(
        self,
        profile: dict[str, np.ndarray],
        lifecycle: int,
        joined: np.ndarray,
        rng: np.random.Generator,
        source: int = 0,
        covers: np.ndarray | None = None,
    ) -> np.ndarray:
        """Add partners to the table and the model, with coverage edges; return their ids.

        ``covers`` (bool, partners x territories x segments) gives the cells each partner covers;
        by default they are its home territory and the next ones, in its type's segments.
        """
        sc = self.config.partners
        t = self.partners
        k = profile["ptype"].size
        ids = t.add(k)
        for name, values in profile.items():
            getattr(t, name)[ids] = values
        t.cap0[ids] = profile["cap"]
        t.tier[ids] = 0
        t.lifecycle[ids] = lifecycle
        t.joined[ids] = joined
        t.left[ids] = -1
        t.source[ids] = source
        t.last_deal[ids] = joined - 1
        ms = sc.mindshare
        t.mindshare[ids] = np.clip(ms.initial + ms.initial_spread * rng.standard_normal(k), ms.minimum, ms.maximum)
        ss = sc.satisfaction
        t.satisfaction[ids] = np.clip(ss.initial + ss.initial_spread * rng.standard_normal(k), 0, 1)
        cc = sc.compliance
        t.honesty[ids] = cc.honesty_mean + cc.honesty_spread * rng.standard_normal(k)
        t.perceived_audit[ids] = cc.audit_rate
        economics.init_beliefs(self, ids)
        for i in ids:
            PartnerAgent(self, int(i))
        if covers is None:
            self._add_coverage(ids, profile)
        else:
            i_idx, terr, s_idx = np.nonzero(covers)
            self._add_edges(ids[i_idx], terr * 3 + s_idx)
        self._grow_accumulators()
        return ids

    def _add_coverage(self, ids: np.ndarray, profile: dict[str, np.ndarray]) -> None:
        """Coverage edges: home territory and the next ones, in the type's segments."""
        n_terr = self.config.market.n_territories
        # Edges by segment s, then territory step j, then partner (the order of the loops
        # ``for s: for j: partners with segment s and more than j territories``): np.nonzero of
        # the (s, j, partner) grid lists them in exactly that order.
        span = int(profile["n_terr"].max(initial=0))
        has = (profile["segmask"][None, :] & (1 << np.arange(3))[:, None]) > 0  # (segment, partner)
        reach = profile["n_terr"][None, :] > np.arange(span)[:, None]  # (step, partner)
        s_idx, j_idx, i_idx = np.nonzero(has[:, None, :] & reach[None, :, :])
        if not i_idx.size:
            return
        terr = (profile["home"][i_idx] + j_idx) % n_terr
        self._add_edges(ids[i_idx], terr * 3 + s_idx)

    def _add_edges(self, partner: np.ndarray, cell: np.ndarray) -> None:
        """Append coverage edges (partner, cell) and regroup the edges by cell."""
        self.edge_partner = np.concatenate([self.edge_partner, partner]).astype(np.int64)
        self.edge_cell = np.concatenate([self.edge_cell, cell]).astype(np.int64)
        order = np.argsort(small_keys(self.edge_cell, self.n_cells), kind="stable")
        self.cell_edge_partner = self.edge_partner[order]
        self.cell_ptr = np.concatenate([[0], np.cumsum(np.bincount(self.edge_cell, minlength=self.n_cells))])

    def _init_partners(self) -> None:
        k = self.config.partners.n_initial
        self._agents_by_idx: dict[int, PartnerAgent] = {}
        if self.initial is not None:
            self._init_partners_from(self.initial)
        elif k:
            rng = self.streams["setup"]
            lc = self.config.partners.lifecycle
            # Established partners passed the same pre-qualification and evaluation when they joined.
            profile = self._draw_screened(k, rng)
            # Established partners: tenure spread over the past years.
            joined = -rng.integers(lc.initial_tenure_min, lc.initial_tenure_max, size=k)
            ids = self.admit(profile, ACTIVE, joined, rng)
            # Established partners were selling when the run starts: their last deal is last month
            # (recruits keep joined - 1, so a new partner has ``inactive_months`` to win a first deal).
            self.partners.last_deal[ids] = -1
            # Established partners hold certifications in line with their technical capability,
            # each with some validity left (they then keep what their tier needs, S12).
            tr = self.config.incentives.training
            t = self.partners
            held = rng.binomial(tr.max_certifications, t.cap[ids, CAP["technical"]] * 0.6)
            left = rng.integers(1, tr.certification_months + 1, size=(k, tr.max_certifications))
            slots = np.arange(tr.max_certifications)[None, :] < held[:, None]
            t.cert_expiry[ids] = np.where(slots, left, -1)
        self._refresh_capability()
        review.update_exclusivity(self)

    def _init_customers(self) -> None:
        if self.initial is not None:
            self._init_customers_from(self.initial)
            return
        mk = self.config.market
        rng = self.streams["setup"]
        cu = Customers(self.config, rng)
        self.customers = cu
        self.account_cell = cu.territory.astype(np.int64) * 3 + cu.segment  # fixed: turnover keeps the cell
        # The accounts grouped by cell (account order within a cell), for drawing accounts of a cell.
        self.account_cell_order = np.argsort(small_keys(self.account_cell, self.n_cells), kind="stable")
        self.account_cell_ptr = np.concatenate([[0], np.cumsum(np.bincount(self.account_cell, minlength=self.n_cells))])
        self.mean_deal_value = float(cu.value.mean())
        n = cu.n
        adopted = rng.random(n) < mk.adoption_at_start
        vendor = adopted & (rng.random(n) < mk.initial_vendor_share)
        cu.state[adopted] = COMPETITOR
        comp = np.flatnonzero(adopted & ~vendor)  # competitors' contracts spread over the lock-in (no draw)
        cu.since[comp] = -(comp % max(mk.contract_lockin, 1))
        idx = np.flatnonzero(vendor)
        cu.state[idx] = CUSTOMER
        cu.since[idx] = -rng.integers(0, mk.renewal_interval, size=idx.size)
        # Existing vendor customers sit with their preferred channel where it reaches them;
        # partner customers with a partner covering their cell, in proportion to its effort.
        pref = cu.preference[idx]
        ch = pref.copy()
        cell = cu.territory[idx].astype(np.int64) * 3 + cu.segment[idx]
        counts = self.cell_ptr[cell + 1] - self.cell_ptr[cell]
        to_partner = (ch == PARTNER_CH) & (counts > 0)
        ch[(ch == PARTNER_CH) & ~to_partner] = DIRECT_CH
        if not self.config.digital.enabled:
            ch[ch == DIGITAL_CH] = DIRECT_CH
        cu.channel[idx] = ch
        pick = np.flatnonzero(to_partner)
        if pick.size:
            cu.partner[idx[pick]] = self._draw_cell_partner(cell[pick], rng)
        cu.satisfaction[idx] = np.clip(
            self.service_level(idx) + mk.satisfaction_noise * rng.standard_normal(idx.size), 0, 1
        )
        np.add.at(cu.adopted, cu.territory[adopted], 1)
        self.state_counts = cu.counts()
        self.customer_satisfaction_mean = float(cu.satisfaction[idx].mean()) if idx.size else float("nan")

    def _init_partners_from(self, st: InitialState) -> None:
        """Month 0's partners from data: type, cells, tier, tenure, certifications, lifecycle; the rest drawn."""
        k = st.n_partners
        if not k:
            return
        rng = self.streams["setup"]
        # Capabilities, sellers and outside option drawn for the partner's type, screened as recruits are.
        profile = self._draw_screened_as(st.ptype, rng)
        home, span = coverage_window(st.covers)
        profile["home"] = home
        profile["n_terr"] = span
        covered = st.covers.any(axis=1)  # (partner, segment)
        profile["segmask"] = (covered * (1 << np.arange(3))).sum(axis=1).astype(np.uint8)
        ids = self.admit(profile, ACTIVE, st.joined.astype(np.int64), rng, covers=st.covers)
        t = self.partners
        t.lifecycle[ids] = st.lifecycle
        t.tier[ids] = st.tier
        plan = st.lifecycle == IMPROVEMENT
        t.plan_left[ids[plan]] = self.config.partners.improvement.months
        # Last won deal: the data's, else last month (onboarding partners: none yet, as for recruits).
        default = np.where(st.lifecycle == ONBOARDING, st.joined - 1, -1)
        t.last_deal[ids] = np.where(st.last_deal == UNKNOWN, default, st.last_deal)
        tr = self.config.incentives.training
        drawn = rng.binomial(tr.max_certifications, t.cap[ids, CAP["technical"]] * 0.6)
        held = np.where(st.certifications == UNKNOWN, drawn, st.certifications)
        left = rng.integers(1, tr.certification_months + 1, size=(k, tr.max_certifications))
        slots = np.arange(tr.max_certifications)[None, :] < held[:, None]
        t.cert_expiry[ids] = np.where(slots, left, -1)

    def _init_customers_from(self, st: InitialState) -> None:
        """Month 0's accounts from data: cell, value, state, serving channel; preference, satisfaction drawn."""
        mk = self.config.market
        rng = self.streams["setup"]
        cu = Customers(self.config, rng, segment=st.segment, territory=st.territory, value=st.value)
        self.customers = cu
        self.account_cell = cu.territory.astype(np.int64) * 3 + cu.segment
        self.account_cell_order = np.argsort(small_keys(self.account_cell, self.n_cells), kind="stable")
        self.account_cell_ptr = np.concatenate([[0], np.cumsum(np.bincount(self.account_cell, minlength=self.n_cells))])
        self.mean_deal_value = float(cu.value.mean())
        cu.state[:] = st.state
        idx = np.flatnonzero(st.state == CUSTOMER)
        out = np.flatnonzero((st.state == COMPETITOR) | (st.state == CHURNED))
        # Dates the data does not give: competitors' contracts spread over the lock-in (as for a drawn
        # start), customers' renewals over the next contract year, the first in month 0.
        cu.since[:] = np.where(st.since == UNKNOWN, 0, st.since)
        unknown_out = out[st.since[out] == UNKNOWN]
        cu.since[unknown_out] = -(unknown_out % max(mk.contract_lockin, 1))
        drawn = -rng.integers(1, mk.renewal_interval + 1, size=idx.size)
        cu.since[idx] = np.where(st.since[idx] == UNKNOWN, drawn, st.since[idx])
        ch = st.channel[idx].copy()
        if not self.config.digital.enabled:
            ch[ch == DIGITAL_CH] = DIRECT_CH
        cu.channel[idx] = ch
        cu.partner[idx] = np.where(ch == PARTNER_CH, st.partner[idx], -1)
        cu.satisfaction[idx] = np.clip(
            self.service_level(idx) + mk.satisfaction_noise * rng.standard_normal(idx.size), 0, 1
        )
        np.add.at(cu.adopted, cu.territory[st.state != UNAWARE], 1)
        self.state_counts = cu.counts()
        self.customer_satisfaction_mean = float(cu.satisfaction[idx].mean()) if idx.size else float("nan")
        if st.revenue is not None:
            self._rebuild_histories(st)

    def _rebuild_histories(self, st: InitialState) -> None:
        """Partners' revenue history and MDF fund from the data's deals and the customers they serve now.

        Revenue in month -j (j = 1..24): the data's won deals, plus the renewal value of each current
        partner customer whose contract has an anniversary that month (a customer whose contract
        month was drawn is taken to have renewed every year).  MDF: each of the last E months'
        revenue accrued at the partner's tier rate, less the MDF paid, taken from the oldest month.
        """
        t, cu, mk = self.partners, self.customers, self.config.market
        hist = np.array(st.revenue, dtype=np.float64)
        cust = np.flatnonzero((cu.state == CUSTOMER) & (cu.partner >= 0))
        drawn = st.since[cust] == UNKNOWN
        renewal = cu.value[cust] * mk.renewal_value_share * mk.price_index
        for j in range(1, hist.shape[1] + 1):
            age = -j - cu.since[cust].astype(np.int64)
            due = (age % mk.renewal_interval == 0) & (drawn | (age > 0))
            hist[:, j - 1] += np.bincount(cu.partner[cust[due]], weights=renewal[due], minlength=st.n_partners)
        ids = np.arange(st.n_partners)
        t.rev_hist[ids] = hist
        e = t.mdf_fund.shape[1]
        scale = self.config.incentives.mdf.scale
        fund = hist[:, :e] * (self.tier_table["mdf_accrual_rate"][t.tier[ids]] * scale)[:, None]
        fund = np.pad(fund, ((0, 0), (0, e - fund.shape[1])))
        paid = np.zeros(st.n_partners) if st.mdf_paid is None else np.array(st.mdf_paid, dtype=np.float64)
        for j in range(e - 1, -1, -1):  # claims take the oldest months first
            take = np.minimum(paid, fund[:, j])
            fund[:, j] -= take
            paid -= take
        t.mdf_fund[np.ix_(ids, (-1 - np.arange(e)) % e)] = fund  # column of the month accrued j + 1 months ago

    def _draw_cell_partner(self, cells: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A partner covering each cell, drawn in proportion to its capacity for the vendor."""
        cap = self.partner_capacity()
        w = cap[self.cell_edge_partner] + 1e-12
        cum = np.cumsum(w)
        start = self.cell_ptr[cells]
        end = self.cell_ptr[cells + 1]
        lo = np.where(start > 0, cum[np.maximum(start - 1, 0)], 0.0)
        hi = cum[end - 1]
        target = lo + rng.random(cells.size) * (hi - lo)
        pos = np.searchsorted(cum, target, side="right")
        return self.cell_edge_partner[np.clip(pos, start, end - 1)]

    # ------------------------------------------------------------------ shared helpers
    def _refresh_capability(self) -> None:
        self.contest_capability = self.partners.contest_capability(self.capability_weights)

    def service_table(self) -> np.ndarray:
        """Service levels by serving code (one look-up per account).

        Each partner's level, then by channel code ch + n + 1 (none, -, direct, digital), then that of
        partner -1 (the last entry).
        """
        mk = self.config.market
        return np.concatenate([
            mk.service_floor + mk.service_slope * self.partners.cap[:, CAP["service"]],
            [0.5, 0.0, self.config.direct.service, self.config.digital.service, 0.5],
        ])

    def service_level(self, accounts: np.ndarray) -> np.ndarray:
        """Service level each account gets from the channel (and partner) serving it."""
        cu = self.customers
        ch = cu.channel[accounts]
        n = self.partners.n
        # One look-up per account in the table of levels by serving code.
        code = np.where(ch == PARTNER_CH, cu.partner[accounts], ch.astype(np.int32) + np.int32(n + 1))
        return self.service_table()[code]

    def competitor_response(self) -> float:
        """Extra contest utility of competing vendors as the vendor's market share rises above the reference.

        ``response x (logit(share) - logit(reference))``, with the share of the accounts buying the
        category at the start of the month: competitors answer share losses (price, programmes).
        """
        mk = self.config.market
        if mk.competitor_response == 0:
            return 0.0
        c = self.state_counts
        buying = c[CUSTOMER] + c[COMPETITOR] + c[CHURNED]
        share = min(max(c[CUSTOMER] / buying, 1e-3), 1 - 1e-3) if buying else mk.reference_share
        ref = mk.reference_share
        return float(mk.competitor_response * (np.log(share / (1 - share)) - np.log(ref / (1 - ref))))

    def mdf_utilisation(self) -> float:
        """MDF claimed / (claimed + expired unclaimed) over the last twelve months (NaN before any)."""
        claimed, expired = self.mdf_window.sum(axis=0)
        return float(claimed / (claimed + expired)) if claimed + expired > 0 else float("nan")

    def ramp(self) -> np.ndarray:
        """Share of full productivity: rises linearly over onboarding, 1 afterwards."""
        t = self.partners
        onboarding = self.config.partners.lifecycle.onboarding_months
        tenure = self.month - t.joined
        return np.where(t.lifecycle == ONBOARDING, np.minimum(1.0, (tenure + 1) / max(onboarding, 1)), 1.0)

    def partner_effort(self) -> np.ndarray:
        """Seller-months each partner gives the vendor this month (0 for partners not selling)."""
        t = self.partners
        scale = self.config.partners.sellers_scale
        return np.where(t.selling, t.sellers * scale * t.mindshare * self.ramp(), 0.0)

    def partner_capacity(self) -> np.ndarray:
        """Opportunities each partner can work this month for the vendor: effort x opportunities per seller-month."""
        return self.partner_effort() * self.partners.opps_per_seller

    def partner_customer_satisfaction(self) -> np.ndarray:
        """Mean satisfaction of each partner's current customers (0 for a partner with none).

        Computed once a month, at the first call after the renewals (partners' own customers do
        not change after that within the month; those of a partner that exits go elsewhere).
        """
        cached = getattr(self, "_csat", None)
        if cached is not None and cached[0] == self.month and cached[1].size == self.partners.n:
            return cached[1]
        cu = self.customers
        # Index arrays rather than boolean masks: numpy gathers by index several times faster.
        m = np.flatnonzero((cu.state == CUSTOMER) & (cu.partner >= 0))
        n = self.partners.n
        served = cu.partner[m]
        cnt = np.bincount(served, minlength=n)
        tot = np.bincount(served, weights=cu.satisfaction[m], minlength=n)
        out = np.where(cnt > 0, tot / np.maximum(cnt, 1), 0.0)
        self._csat = (self.month, out)
        return out

    def steering(self) -> np.ndarray:
        """Logit each partner adds for the vendor's product over a competing vendor's (new deals and renewals).

        ``steering x log((v + s) / (c + s))``: ``v`` what the vendor's line pays the partner per revenue
        dollar as it expects it (:meth:`expected_rate`: discount kept, rebate, SPIFF, MDF), ``s`` its
        service margin (earned on either vendor's product), ``c`` the competing programme
        (``economics.competitor_margin``). The log-ratio is clipped to +-ln 10. Cached for the month.
        """
        cached = getattr(self, "_steer", None)
        if cached is not None and cached[0] == self.month and cached[1].size == self.partners.n:
            return cached[1]
        ec = self.config.partners.economics
        s = self.partners.service_margin
        ratio = np.maximum(self.expected_rate() + s, 1e-6) / np.maximum(ec.competitor_margin + s, 1e-6)
        out = ec.steering * np.clip(np.log(ratio), -np.log(10.0), np.log(10.0))
        self._steer = (self.month, out)
        return out

    def expected_discount(self) -> np.ndarray:
        """Front-end discount each partner expects to be paid: its tier's rate x the share the budget honours."""
        d = self.tier_table["discount"][self.partners.tier] * self.config.incentives.discount_scale
        return d * self.payout_ratio.get("discount", 1.0)

    def specialisation_discount(self, partner: np.ndarray, segment: np.ndarray) -> np.ndarray:
        """Extra discount rate of a specialisation on deals of ``partner`` in ``segment`` (0 where not held)."""
        extra = np.asarray(self.config.tiering.specialisation.extra_discount.as_array())
        return np.where(self.partners.spec[partner, segment], extra[segment], 0.0)

    def expected_rate(self) -> np.ndarray:
        """Return per revenue dollar a partner expects from the levers (steering, certification decisions)."""
        r = np.zeros(self.partners.n)
        for lever in self.policies.levers:
            r += lever.expected_rate(self) * self.payout_ratio.get(lever.name, 1.0)
        return r

    def spend(self, lever_name: str, requested: np.ndarray, partner_ids: np.ndarray) -> np.ndarray:
        """Pass a request through the budget; book what is paid by lever, tier and partner."""
        paid = self.budget.grant(requested)
        led = self.ledger
        led.spend[lever_name] = led.spend.get(lever_name, 0.0) + float(paid.sum())
        if partner_ids.size:
            tiers = self.partners.tier[partner_ids]
            led.spend_tier.setdefault(lever_name, np.zeros(led.n_tiers))
            led.spend_tier[lever_name] += np.bincount(tiers, weights=paid, minlength=led.n_tiers)
            by_partner = np.bincount(partner_ids, weights=paid, minlength=self.partners.n)
            self._partner_spend += by_partner
            self.paid_by_lever[lever_name] = self.paid_by_lever.get(lever_name, 0.0) + by_partner
        return paid

    def run_levers(self, phase: str, event: LeverEvent, partner_ids: np.ndarray) -> None:
        """Ask every lever of ``phase`` for its request, pay it through the budget and apply its effect."""
        for lever in self.policies.levers:
            if lever.phase != phase:
                continue
            req = np.asarray(lever.request(self, event), dtype=float)
            if lever.name in _AUDITED:
                claims = audited_claims(self, lever.name, req)
                paid = self.spend(lever.name, claims.payable, partner_ids)
                asked = float(claims.payable.sum())
                share = np.where(claims.payable > 0, paid / np.maximum(claims.payable, 1e-12), 0.0)
                true = req * share  # what the claim was really worth, as far as it was paid
                fines = claims.fine * share
                self.ledger.leakage += float((claims.overstated * share).sum())
                self.ledger.fines += float(fines.sum())
                pl = self.partners.pl
                if lever.name == "rebate":
                    pl[:, PL["rebate"]] += paid + fines
                else:
                    pl[:, PL["mdf_net"]] += paid + fines - true
                pl[:, PL["fines"]] -= fines
                lever.apply(self, event, true)
                if lever.name == "mdf":
                    self.ledger.mdf_claimed += float(true.sum())
            else:
                paid = self.spend(lever.name, req, partner_ids)
                asked = float(req.sum())
                lever.apply(self, event, paid)
            acc = self._fill.setdefault(lever.name, [0.0, 0.0])
            acc[0] += float(paid.sum())
            acc[1] += asked

    def _learn_payouts(self) -> None:
        """Partners learn, once a month, what share of the programme's promises the budget honoured.

        A lever asked for nothing this month counts as honoured in full; a lever that did not run
        this month (review-time levers between reviews) leaves the belief as it was.
        """
        w = self.config.incentives.payout_learning
        for name, (paid, asked) in self._fill.items():
            fill = paid / asked if asked > 0 else 1.0
            self.payout_ratio[name] = (1.0 - w) * self.payout_ratio.get(name, 1.0) + w * fill

    def book(
        self,
        ch: np.ndarray,
        pid: np.ndarray,
        value: np.ndarray,
        *,
        new: bool,
        registered: np.ndarray | None = None,
        segment: np.ndarray | None = None,
        collaborative: np.ndarray | None = None,
    ) -> None:
        """Book won deals: revenue to exactly one channel, cost of goods, and deal-time levers for partners.

        ``segment`` (the accounts' segments) lets deal-time levers price specialisations;
        ``collaborative`` marks the deals a partner team won (the collaboration incentive).
        """
        from .policies.levers import DealBatch

        led = self.ledger
        t = self.partners
        value = value * self.config.market.price_index  # deal values are at today's list prices
        led.revenue += np.bincount(ch, weights=value, minlength=3)
        if new:
            led.revenue_new_channel += np.bincount(ch, weights=value, minlength=3)
        led.cogs += float(value.sum()) * self.config.market.cogs_share
        pm = ch == PARTNER_CH
        if not pm.any():
            return
        p = pid[pm]
        v = value[pm]
        t.revenue[:] += np.bincount(p, weights=v, minlength=t.n)
        t.last_deal[p] = self.month
        led.revenue_tier += np.bincount(t.tier[p], weights=v, minlength=led.n_tiers)
        led.revenue_type += np.bincount(t.ptype[p], weights=v, minlength=5)
        reg = registered[pm] if registered is not None else np.zeros(p.size, dtype=bool)
        seg = segment[pm] if segment is not None else None
        # The price the customer paid: the partner passed part of its expected discount on.
        dr = self.config.conflict.deal_registration
        expected = self.expected_discount()[p] + np.where(
            reg, dr.extra_discount * self.payout_ratio.get("discount", 1.0), 0.0
        )
        spec = self.config.tiering.specialisation
        if spec.enabled and seg is not None:
            expected = expected + self.specialisation_discount(p, seg) * self.payout_ratio.get("discount", 1.0)
            self.ledger.revenue_specialised += float(v[t.spec[p, seg]].sum())
        passed = np.bincount(p, weights=self.config.partners.economics.pass_through * expected * v, minlength=t.n)
        service = np.bincount(p, weights=t.service_margin[p] * v, minlength=t.n)
        before = {name: self.paid_by_lever.get(name, 0.0) for name in ("discount", "spiff", "collaboration")}
        deals = DealBatch(partner=p, value=v, registered=reg, new_customer=np.full(p.size, new), segment=seg,
                          collaborative=collaborative[pm] if collaborative is not None else None)
        self.run_levers("deals", LeverEvent("deals", self.month, self.streams["levers"], deals=deals), p)
        discount = self.paid_by_lever.get("discount", 0.0) - before["discount"]
        t.pl[:, PL["product_margin"]] += discount - passed
        t.pl[:, PL["service_margin"]] += service
        t.pl[:, PL["spiff"]] += self.paid_by_lever.get("spiff", 0.0) - before["spiff"]
        # the collaboration incentive is a deal-time cash bonus, on the SPIFF line of the partner's P&L
        t.pl[:, PL["spiff"]] += self.paid_by_lever.get("collaboration", 0.0) - before["collaboration"]
        if new:
            t.new_margin[:] += discount - passed + service
        else:
            t.renewal_margin[:] += discount - passed + service

    # ------------------------------------------------------------------ the step
    def _new_month_accumulators(self) -> None:
        n = self.partners.n
        self._partner_spend = np.zeros(n)
        self._caught_now = np.zeros(n, dtype=bool)
        self.paid_by_lever: dict[str, np.ndarray] = {}
        self._fill: dict[str, list[float]] = {}  # lever -> [paid, asked] this month

    def _grow_accumulators(self) -> None:
        """Per-partner accumulators of the month grow with the table (new rows start at zero)."""
        grow = self.partners.n - self._partner_spend.size
        if grow <= 0:
            return
        self._partner_spend = np.concatenate([self._partner_spend, np.zeros(grow)])
        self._caught_now = np.concatenate([self._caught_now, np.zeros(grow, dtype=bool)])
        for name, arr in self.paid_by_lever.items():
            self.paid_by_lever[name] = np.concatenate([arr, np.zeros(grow)])

    def _month_streams(self, month: int) -> dict[str, np.random.Generator]:
        """The processes' generators of ``month`` (month 0 also holds the set-up)."""
        return {
            name: np.random.Generator(np.random.PCG64(np.random.SeedSequence(self._root, spawn_key=(i, month))))
            for i, name in enumerate(STREAMS)
        }

    def _switch(self) -> None:
        """The what-if takes effect (first reported month after a warm-up on another scenario)."""
        self.config = self._final
        self.policies = self._user_policies.resolved(self.config)
        self._setup_programme()
        self._refresh_capability()

    def step(self) -> None:
        """Simulate one month."""
        if self.config is not self._final and self.month >= self._final.time.warmup_months:
            self._switch()
        if self.month > 0:
            self.streams = self._month_streams(self.month)
        sc = self.config
        m = self.month
        t = self.partners
        self.ledger = Ledger(month=m, n_tiers=len(sc.tiering.tiers))
        led = self.ledger
        led.active_before = int(t.active.sum())
        economics.open_month(self)
        self._new_month_accumulators()
        self.budget.new_month(m)

        recruitment.recruit(self)
        effort.allocate(self)
        event = LeverEvent("month", m, self.streams["levers"])
        self.run_levers("month", event, np.arange(t.n))
        demand.step(self, event.extra.get("mdf_leads"))
        outcome = market.round(self)
        renewals.step(self)
        self._month_end()
        economics.close_month(self)
        if (m + 1) % sc.tiering.review_every_months == 0:
            review.step(self)
        self._learn_payouts()
        self._collect(outcome)
        self.month += 1
        self.running = self.month < self.horizon
        if self.collect_warmup or self.month > self._final.time.warmup_months:
            self.datacollector.collect(self)

    def _month_end(self) -> None:
        t = self.partners
        m = self.month
        led = self.ledger
        # Revenue history (24-month ring, newest first after the roll).
        t.rev_hist = np.roll(t.rev_hist, 1, axis=1)
        t.rev_hist[:, 0] = t.revenue
        # MDF: the oldest bucket expires, this month's accrual takes its place.
        mdf = next((lv for lv in self.policies.levers if lv.name == "mdf"), None)
        col = m % t.mdf_fund.shape[1]
        expired = float(t.mdf_fund[:, col].sum())
        accrual = mdf.accrual_rate(self) * t.revenue if mdf is not None else np.zeros(t.n)
        t.mdf_fund[:, col] = accrual
        led.mdf_accrued = float(accrual.sum())
        led.mdf_expired = expired
        self.mdf_window[m % 12] = (led.mdf_claimed, expired)
        self.run_levers("month_end", LeverEvent("month_end", m, self.streams["levers"]), np.arange(t.n))

    def exit_partners(self, leave: np.ndarray, reason: np.ndarray) -> None:
        """Partners in ``leave`` exit with ``reason`` (EXIT_* codes); their customers churn or go direct."""
        t = self.partners
        led = self.ledger
        if not leave.any():
            return
        was_onboarding = leave & (t.lifecycle == ONBOARDING)
        led.dropouts += int(was_onboarding.sum())
        counted = leave & ~was_onboarding
        led.exited += int(counted.sum())
        for code in (1, 2, 3):
            led.exits_by_reason[code - 1] += int((counted & (reason == code)).sum())
        t.exit_reason[leave] = reason[leave]
        t.lifecycle[leave] = EXITED
        t.spec[leave] = False
        t.left[leave] = self.month
        for i in np.flatnonzero(leave):
            agent = self._agents_by_idx.pop(int(i), None)
            if agent is not None:
                agent.remove()
        # Their customers follow them out, or the vendor takes them over directly.
        cu = self.customers
        cust = np.flatnonzero((cu.state == CUSTOMER) & (cu.partner >= 0))
        gone = cust[np.flatnonzero(leave[cu.partner[cust]])]
        follow = self.streams["exits"].random(gone.size) < self.config.partners.lifecycle.customers_follow_exit
        cu.state[gone[follow]] = CHURNED
        cu.since[gone[follow]] = self.month
        cu.channel[gone[follow]] = -1
        cu.channel[gone[~follow]] = DIRECT_CH
        cu.partner[gone] = -1
        led.churned += int(follow.sum())

    # 10. collection ---------------------------------------------------------------------
    def _collect(self, outcome) -> None:
        t = self.partners
        m = self.month
        cu = self.customers
        self.state_counts = cu.counts()
        cust = np.flatnonzero(cu.state == CUSTOMER)
        # Customers per partner; bin 0 collects those no partner serves (partner -1).
        t.customers = np.bincount(cu.partner[cust] + 1, minlength=t.n + 1)[1:]
        self.customer_satisfaction_mean = float(cu.satisfaction[cust].mean()) if cust.size else float("nan")
        if m >= self.config.time.warmup_months:
            self.panel.append(economics.panel_rows(self))
            market.log_conflicts(self, outcome)
            if self.payout_log is not None:
                self.payout_log.append({name: paid.copy() for name, paid in self.paid_by_lever.items()
                                        if isinstance(paid, np.ndarray)})

    # ------------------------------------------------------------------ Mesa glue
    def register_agent(self, agent) -> None:  # keep an index -> agent map for exits
        super().register_agent(agent)
        if isinstance(agent, PartnerAgent):
            self._agents_by_idx[agent.idx] = agent

    def run(self) -> ChannelModel:
        """Simulate to the horizon (warm-up plus reported months)."""
        while self.month < self.horizon:
            self.step()
        return self


_STRUCTURAL = (
    "time",
    "market.n_accounts",
    "market.n_territories",
    "incentives.mdf.expiry_months",
    "incentives.training.lag_months",
    "incentives.training.max_certifications",
)


def _check_initial(scenario: Scenario, initial: InitialState | None) -> None:
    """The initial state fits the scenario it starts (sizes, tiers, types); a data folder needs one."""
    from .errors import ScenarioError

    if initial is None:
        if scenario.data.path:
            raise ScenarioError(scenario.name, [(
                "data.path", scenario.data.path,
                "the model does not read files: build the initial state from the export and pass it "
                "(experiments.initial.with_data(scenario) -> scenario, state; sim.run(scenario, seed, "
                "initial=state)), or remove data.path to draw the initial state")])
        return
    if not isinstance(initial, InitialState):
        raise TypeError(f"initial must be a sim.InitialState, not {type(initial).__name__}")
    initial.check(scenario)


def _check_switch(warmup: Scenario, scenario: Scenario) -> None:
    """The fields that size the model's state must agree between the warm-up and the what-if."""
    from .errors import ScenarioError

    a, b = warmup.to_dict(), scenario.to_dict()
    problems = []
    for path in _STRUCTURAL:
        va, vb = a, b
        for part in path.split("."):
            va, vb = va[part], vb[part]
        if va != vb:
            problems.append((path, vb, f"must equal the warm-up scenario's value {va!r} (it sizes the model's state)"))
    if warmup.tier_names != scenario.tier_names:
        problems.append(("tiering.tiers", scenario.tier_names,
                         f"tier names must equal the warm-up scenario's {warmup.tier_names}"))
    if problems:
        raise ScenarioError(scenario.name, problems)


__all__ = ["ChannelModel", "EXITED", "PL", "STREAMS"]
