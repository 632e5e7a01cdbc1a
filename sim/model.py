"""The channel ecosystem as a Mesa model: one step is one month.

Order of a step (see ``docs/MODEL.md``, "Process overview and scheduling"):

1. recruitment: prospects arrive, are pre-qualified and evaluated;
2. partners move their mindshare toward the better-paying vendor;
3. start-of-month levers: MDF claims (and audits), training, relationship
   programme, improvement-plan support;
4. customers: Bass adoption, re-entry, leads from MDF and from the vendor;
5. the market round: pursuit, conflicts, protections, contest, deals;
6. deal-time levers (discounts, SPIFFs) and booking of revenue by channel;
7. renewals, churn and customer satisfaction;
8. month-end: revenue history, MDF accrual and expiry, rebates (and audits);
9. capability (training lag, skill decay), partner satisfaction, exits,
   onboarding and improvement plans;
10. tier review every N months: tiers, recognition, improvement plans,
    territory exclusivity;
11. data collection (KPI reporters, partner panel, conflict log).
"""

from __future__ import annotations

from typing import Any

import mesa
import numpy as np

from . import reporters
from .customers import (
    CHURNED,
    COMPETITOR,
    CUSTOMER,
    DIGITAL_CH,
    DIRECT_CH,
    IN_MARKET,
    PARTNER_CH,
    UNAWARE,
    Customers,
)
from .ledger import Budget, Ledger
from .market import DISCOUNT_PASS_THROUGH, build_pursuit, resolve
from .partners import ACTIVE, CAP, EXITED, IMPROVEMENT, ONBOARDING, PartnerAgent, PartnerTable
from .policies import LeverEvent, Policies
from .policies.levers import DealBatch
from .rng import make_rng
from .scenario import CAPABILITIES, PARTNER_TYPES, SEGMENTS, Scenario

STREAMS = ("setup", "demand", "recruit", "partners", "market", "customers")
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
)


def _gather(values: np.ndarray, rows: np.ndarray, missing: int = -1) -> np.ndarray:
    """``values[rows]`` where ``rows >= 0``, ``missing`` elsewhere (safe when ``values`` is empty)."""
    out = np.full(rows.shape, missing, dtype=np.int64)
    ok = rows >= 0
    out[ok] = values[rows[ok]]
    return out


def _bernoulli_thinned(rng: np.random.Generator, n: int, prob_at, p_max: float) -> np.ndarray:
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


class ChannelModel(mesa.Model):
    """Partners, customers, direct and digital channels and their conflicts, month by month.

    Args:
        scenario: the validated :class:`~sim.scenario.Scenario`; the baseline when omitted.
        rng: a seed (int), a ``SeedSequence`` or a ``numpy.random.Generator``; the
            model's only source of randomness.  ``None`` draws fresh entropy (and
            records it in ``self.seed``), which is for exploration only.
        policies: replacement policy objects (levers, tiering, conflict rules).
        **overrides: scenario fields by path with double underscores, e.g.
            ``incentives__mdf__scale=1.5``, so that Mesa's ``batch_run`` can sweep them.

    Attributes:
        config: the resolved scenario (Mesa's own ``Model.scenario`` is left alone).
        month: months simulated so far (warm-up included).
        partners: the :class:`~sim.partners.PartnerTable`.
        customers: the :class:`~sim.customers.Customers` population.
        ledger: the books of the last month simulated.
        datacollector: Mesa ``DataCollector`` with one model reporter per KPI.
    """

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        rng: int | np.random.Generator | np.random.SeedSequence | None = None,
        policies: Policies | None = None,
        **overrides: Any,
    ):
        scenario = scenario if scenario is not None else Scenario()
        if overrides:
            scenario = scenario.with_overrides(overrides)
        if rng is None:
            rng = int(np.random.SeedSequence().entropy % (2**63))
        self.seed = rng if isinstance(rng, int | np.integer) else None
        gen = make_rng(int(rng)) if isinstance(rng, int | np.integer) else make_rng(rng)
        super().__init__(rng=gen)
        # Independent substreams of the run's generator, one per process, so that a what-if
        # changes the draws of the processes it affects and leaves the others in step
        # (common random numbers across scenarios with the same seed).
        # Derived from a draw of the run's generator (not Generator.spawn, which counts children
        # on a SeedSequence that callers may share between runs).
        root = int(self.rng.integers(2**63))
        self.streams = {
            name: np.random.Generator(np.random.PCG64(np.random.SeedSequence(root, spawn_key=(i,))))
            for i, name in enumerate(STREAMS)
        }
        self.config = scenario
        self.policies = (policies or Policies()).resolved(scenario)
        self.month = 0
        self.horizon = scenario.time.warmup_months + scenario.time.months
        self._setup_tables()
        self.budget = Budget(scenario.incentives.budget)
        self.payout_ratio: dict[str, float] = {}
        self.conflict_log: list[dict[str, np.ndarray]] = []
        self.migrations: list[tuple[int, int, int, int]] = []
        self.panel: list[dict[str, np.ndarray]] = []
        self.mdf_window = np.zeros((12, 2))  # claimed, expired for the last 12 months
        self.renew_window = np.zeros((12, 2))  # renewed, due for the last 12 months
        self.ledger = Ledger(month=0, n_tiers=len(scenario.tiering.tiers))
        self._init_partners()
        self._init_customers()
        self.datacollector = mesa.DataCollector(model_reporters=reporters.model_reporters(scenario))

    # ------------------------------------------------------------------ set-up
    def _setup_tables(self) -> None:
        sc = self.config
        tiers = sc.tiering.tiers
        self.tier_table = {f: np.array([getattr(t, f) for t in tiers]) for f in _TIER_FIELDS}
        self.n_cells = sc.market.n_territories * 3
        tr = sc.incentives.training
        expected = sc.partners.n_initial + int(sc.partners.recruitment.arrival_rate * self.horizon) + 16
        self.partners = PartnerTable(
            expected,
            mdf_months=sc.incentives.mdf.expiry_months,
            train_lag=tr.lag_months,
            max_certs=tr.max_certifications,
        )
        self.edge_partner = np.zeros(0, dtype=np.int64)
        self.edge_cell = np.zeros(0, dtype=np.int64)
        self.direct_segments = np.array([s in sc.direct.segments for s in SEGMENTS])
        n_terr = sc.market.n_territories
        k = int(round(sc.direct.territory_coverage * n_terr))
        self.direct_territories = np.zeros(n_terr, dtype=bool)
        self.direct_territories[self.streams["setup"].permutation(n_terr)[:k]] = True
        self.exclusive_holder = np.full(n_terr, -1)
        # The best competing vendor's channel in a contest: an average capability (0.55),
        # a typical 15 % discount passed through as price, preferred half the time.
        cc = sc.conflict
        self.competitor_utility = (
            cc.contest_capability * 0.55 + cc.contest_price * DISCOUNT_PASS_THROUGH * 0.15 + cc.contest_preference * 0.5
        )
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
        }

    def _draw_partners(self, k: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Draw ``k`` partner profiles (type, territory, capabilities, capacity) from the scenario."""
        sc = self.config.partners
        names = [n for n in PARTNER_TYPES if n in sc.types]
        shares = np.array([sc.types[n].share for n in names])
        ti = rng.choice(len(names), size=k, p=shares / shares.sum())
        ptype = np.array([PARTNER_TYPES.index(names[i]) for i in ti], dtype=np.int8)
        cfg = [sc.types[names[i]] for i in range(len(names))]
        cap_mean = np.array([c.capability_mean for c in cfg])[ti]
        cap = np.clip(
            cap_mean[:, None] + sc.capability_spread * rng.standard_normal((k, len(CAPABILITIES))), 0.02, 0.98
        )
        med = np.array([c.sellers_median for c in cfg])[ti]
        sig = np.array([c.sellers_sigma for c in cfg])[ti]
        sellers = med * np.exp(sig * rng.standard_normal(k))
        return {
            "ptype": ptype,
            "home": rng.integers(0, self.config.market.n_territories, size=k),
            "n_terr": np.minimum(np.array([c.territories for c in cfg])[ti], self.config.market.n_territories),
            "segmask": self.type_table["segmask"][ptype],
            "cap": cap,
            "sellers": sellers,
            "opps_per_seller": np.array([c.opps_per_seller for c in cfg])[ti],
            "service_margin": np.array([c.service_margin for c in cfg])[ti],
        }

    def _admit(
        self, profile: dict[str, np.ndarray], lifecycle: int, joined: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Add partners to the table and the model, with coverage edges; return their ids."""
        sc = self.config.partners
        t = self.partners
        k = profile["ptype"].size
        ids = t.add(k)
        for name, values in profile.items():
            getattr(t, name)[ids] = values
        t.tier[ids] = 0
        t.lifecycle[ids] = lifecycle
        t.joined[ids] = joined
        t.left[ids] = -1
        ms = sc.mindshare
        t.mindshare[ids] = np.clip(ms.initial + 0.1 * rng.standard_normal(k), ms.minimum, ms.maximum)
        t.satisfaction[ids] = np.clip(sc.satisfaction.initial + 0.1 * rng.standard_normal(k), 0, 1)
        t.win_ema[ids] = sc.mindshare.outside_win_rate
        cc = sc.compliance
        t.compliance[ids] = np.clip(cc.propensity_mean + cc.propensity_spread * rng.standard_normal(k), 0, 1)
        for i in ids:
            PartnerAgent(self, int(i))
        # Coverage: home territory and the next ones, in the type's segments.
        n_terr = self.config.market.n_territories
        cells_p, cells_c = [], []
        for s in range(3):
            has = (profile["segmask"] & (1 << s)) > 0
            for j in range(int(profile["n_terr"].max(initial=0))):
                m = has & (profile["n_terr"] > j)
                terr = (profile["home"][m] + j) % n_terr
                cells_p.append(ids[m])
                cells_c.append(terr * 3 + s)
        if cells_p:
            self.edge_partner = np.concatenate([self.edge_partner, *cells_p]).astype(np.int64)
            self.edge_cell = np.concatenate([self.edge_cell, *cells_c]).astype(np.int64)
            order = np.argsort(self.edge_cell, kind="stable")
            self.cell_edge_partner = self.edge_partner[order]
            self.cell_ptr = np.concatenate([[0], np.cumsum(np.bincount(self.edge_cell, minlength=self.n_cells))])
        elif not hasattr(self, "cell_ptr"):
            self.cell_edge_partner = np.zeros(0, dtype=np.int64)
            self.cell_ptr = np.zeros(self.n_cells + 1, dtype=np.int64)
        return ids

    def _init_partners(self) -> None:
        k = self.config.partners.n_initial
        self._agents_by_idx: dict[int, PartnerAgent] = {}
        if not hasattr(self, "cell_ptr"):
            self.cell_edge_partner = np.zeros(0, dtype=np.int64)
            self.cell_ptr = np.zeros(self.n_cells + 1, dtype=np.int64)
        if k:
            profile = self._draw_partners(k, self.streams["setup"])
            # Established partners: tenure spread over the past ten years.
            joined = -self.streams["setup"].integers(12, 120, size=k)
            ids = self._admit(profile, ACTIVE, joined, self.streams["setup"])
            # Established partners hold certifications in line with their technical capability,
            # each with some validity left.
            tr = self.config.incentives.training
            t = self.partners
            held = self.streams["setup"].binomial(tr.max_certifications, t.cap[ids, CAP["technical"]] * 0.6)
            left = self.streams["setup"].integers(1, tr.certification_months + 1, size=(k, tr.max_certifications))
            slots = np.arange(tr.max_certifications)[None, :] < held[:, None]
            t.cert_expiry[ids] = np.where(slots, left, -1)
        self._refresh_capability()
        self._update_exclusivity()

    def _init_customers(self) -> None:
        sc = self.config.market
        cu = Customers(self.config, self.streams["setup"])
        self.customers = cu
        self.mean_deal_value = float(cu.value.mean())
        n = cu.n
        adopted = self.streams["setup"].random(n) < sc.initial_adoption
        vendor = adopted & (self.streams["setup"].random(n) < sc.initial_vendor_share)
        cu.state[adopted] = COMPETITOR
        idx = np.flatnonzero(vendor)
        cu.state[idx] = CUSTOMER
        cu.since[idx] = -self.streams["setup"].integers(0, sc.renewal_interval, size=idx.size)
        # Existing vendor customers sit with their preferred channel where it reaches them.
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
            offs = (self.streams["setup"].random(pick.size) * counts[pick]).astype(np.int64)
            cu.partner[idx[pick]] = self.cell_edge_partner[self.cell_ptr[cell[pick]] + offs]
        cu.satisfaction[idx] = np.clip(
            self._service_level(idx) + 0.05 * self.streams["setup"].standard_normal(idx.size), 0, 1
        )
        np.add.at(cu.adopted, cu.territory[adopted], 1)
        self.state_counts = cu.counts()
        self.customer_satisfaction_mean = float(cu.satisfaction[idx].mean()) if idx.size else float("nan")

    # ------------------------------------------------------------------ helpers
    def _refresh_capability(self) -> None:
        self.contest_capability = self.partners.contest_capability()

    def _service_level(self, accounts: np.ndarray) -> np.ndarray:
        cu = self.customers
        ch = cu.channel[accounts]
        # Service level of each partner, then one gather for the partner channel.
        by_partner = np.append(0.3 + 0.6 * self.partners.cap[:, CAP["service"]], 0.5)  # last: no partner
        level = by_partner[cu.partner[accounts]]  # partner -1 picks the last entry
        channel_level = np.array([0.0, self.config.direct.service, self.config.digital.service, 0.5])
        return np.where(ch == PARTNER_CH, level, channel_level[np.where(ch < 0, 3, ch)])

    def mdf_utilisation(self) -> float:
        """MDF claimed / (claimed + expired unclaimed) over the last twelve months (NaN before any)."""
        claimed, expired = self.mdf_window.sum(axis=0)
        return float(claimed / (claimed + expired)) if claimed + expired > 0 else float("nan")

    def partner_capacity(self) -> np.ndarray:
        """Opportunities each partner can work this month for the vendor."""
        t = self.partners
        onboarding = self.config.partners.lifecycle.onboarding_months
        tenure = self.month - t.joined
        ramp = np.where(t.lifecycle == ONBOARDING, np.minimum(1.0, (tenure + 1) / max(onboarding, 1)), 1.0)
        return np.where(t.selling, t.sellers * t.opps_per_seller * t.mindshare * ramp, 0.0)

    def partner_customer_satisfaction(self) -> np.ndarray:
        """Mean satisfaction of each partner's current customers (0 for a partner with none)."""
        cu = self.customers
        m = (cu.state == CUSTOMER) & (cu.partner >= 0)
        n = self.partners.n
        cnt = np.bincount(cu.partner[m], minlength=n)
        tot = np.bincount(cu.partner[m], weights=cu.satisfaction[m], minlength=n)
        return np.where(cnt > 0, tot / np.maximum(cnt, 1), 0.0)

    def expected_return(self) -> np.ndarray:
        """Return per revenue dollar a partner expects from the vendor (own margin plus every lever)."""
        r = self.partners.service_margin.copy()
        for lever in self.policies.levers:
            r += lever.expected_rate(self) * self.payout_ratio.get(lever.name, 1.0)
        return r

    def _spend(self, lever_name: str, requested: np.ndarray, partner_ids: np.ndarray) -> np.ndarray:
        paid = self.budget.grant(requested)
        led = self.ledger
        led.spend[lever_name] = led.spend.get(lever_name, 0.0) + float(paid.sum())
        if partner_ids.size:
            tiers = self.partners.tier[partner_ids]
            led.spend_tier.setdefault(lever_name, np.zeros(led.n_tiers))
            led.spend_tier[lever_name] += np.bincount(tiers, weights=paid, minlength=led.n_tiers)
            self._partner_spend += np.bincount(partner_ids, weights=paid, minlength=self.partners.n)
        return paid

    def _run_levers(self, phase: str, event: LeverEvent, partner_ids: np.ndarray) -> None:
        for lever in self.policies.levers:
            if lever.phase != phase:
                continue
            req = np.asarray(lever.request(self, event), dtype=float)
            if lever.name in _AUDITED:
                claimed, true_share = self._audited_claims(req)
                paid = self._spend(lever.name, claimed, partner_ids)
                true = paid * true_share
                fill = float(paid.sum() / claimed.sum()) if claimed.sum() > 0 else 1.0
                lever.apply(self, event, true)
                if lever.name == "mdf":
                    self.ledger.mdf_claimed += float(true.sum())
            else:
                paid = self._spend(lever.name, req, partner_ids)
                fill = float(paid.sum() / req.sum()) if req.sum() > 0 else 1.0
                lever.apply(self, event, paid)
            # Partners learn what share of the programme's promises the budget honours.
            self.payout_ratio[lever.name] = 0.7 * self.payout_ratio.get(lever.name, 1.0) + 0.3 * fill

    def _audited_claims(self, requested: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Partners' claims (MDF, rebates): some overstated, some of those caught by audit.

        Returns the amount claimed (overstatements not caught included) and
        the true share of each claim.
        """
        cc = self.config.partners.compliance
        t = self.partners
        claim = requested > 0
        n_claim = int(claim.sum())
        bad = claim & (self.streams["partners"].random(t.n) > t.compliance)
        caught = bad & (self.streams["partners"].random(t.n) < cc.audit_rate)
        claimed = np.where(bad & ~caught, requested * (1.0 + cc.inflation), requested)
        led = self.ledger
        led.claims += n_claim
        led.claims_compliant += int((claim & ~bad).sum())
        led.claims_caught += int(caught.sum())
        col = self.month % 12
        t.claims_hist[:, col] += claim
        t.caught_hist[:, col] += caught
        self._caught_now |= caught
        true_share = np.where(claimed > 0, requested / np.maximum(claimed, 1e-12), 0.0)
        return claimed, true_share

    # ------------------------------------------------------------------ the step
    def step(self) -> None:
        """Simulate one month."""
        sc = self.config
        m = self.month
        t = self.partners
        self.ledger = Ledger(month=m, n_tiers=len(sc.tiering.tiers))
        led = self.ledger
        led.active_before = int(t.active.sum())
        t.revenue = 0.0
        self._partner_spend = np.zeros(t.n)
        self._caught_now = np.zeros(t.n, dtype=bool)
        self.budget.new_month(m)

        self._recruit()
        self._update_mindshare()
        event = LeverEvent("month", m, self.streams["partners"])
        self._run_levers("month", event, np.arange(t.n))
        self._demand(event.extra.get("mdf_leads"))
        outcome = self._market_round()
        self._renewals()
        self._month_end()
        self._partners_update(outcome)
        if (m + 1) % sc.tiering.review_every_months == 0:
            self._review()
        self._collect(outcome)
        self.month += 1
        self.running = self.month < self.horizon
        self.datacollector.collect(self)

    # 1. recruitment ---------------------------------------------------------
    def _recruit(self) -> None:
        rc = self.config.partners.recruitment
        led = self.ledger
        k = int(self.streams["recruit"].poisson(rc.arrival_rate))
        led.prospects = k
        if k == 0 or self.partners.active.sum() >= rc.max_partners:
            return
        prof = self._draw_partners(k, self.streams["recruit"])
        cap = prof["cap"]
        passed = (cap >= rc.prequal_min).all(axis=1)
        w = np.array([rc.weights.get(c, 0.0) for c in CAPABILITIES])
        score = cap @ w / w.sum()
        accept = passed & (score >= rc.accept_score)
        if not accept.any():
            return
        chosen = {key: v[accept] for key, v in prof.items()}
        n = int(accept.sum())
        lifecycle = ONBOARDING if self.config.partners.lifecycle.onboarding_months > 0 else ACTIVE
        self._admit(chosen, lifecycle, np.full(n, self.month), self.streams["recruit"])
        led.recruited = n
        if lifecycle == ACTIVE:
            led.onboarded += n
        # Per-partner accumulators of the month grow with the table (new rows start at zero).
        grow = self.partners.n - self._partner_spend.size
        self._partner_spend = np.concatenate([self._partner_spend, np.zeros(grow)])
        self._caught_now = np.concatenate([self._caught_now, np.zeros(grow, dtype=bool)])
        cost = np.zeros(self.partners.n)
        cost[-n:] = self.config.partners.lifecycle.onboarding_cost
        self._spend("training", cost, np.arange(self.partners.n))
        self._refresh_capability()

    # 2. mindshare -------------------------------------------------------------
    def _update_mindshare(self) -> None:
        ms = self.config.partners.mindshare
        t = self.partners
        rel = self.expected_return() * t.win_ema / (ms.outside_return * ms.outside_win_rate) - 1.0
        self._relative_return = rel
        # Mindshare moves part of the way toward a target set by the vendor's relative
        # return and the partner's satisfaction, within [minimum, maximum].
        pull = ms.sensitivity * rel + ms.satisfaction_weight * (t.satisfaction - 0.6)
        target = ms.minimum + (ms.maximum - ms.minimum) / (1.0 + np.exp(-pull))
        new = t.mindshare + ms.speed * (target - t.mindshare)
        t.mindshare = np.where(t.selling, np.clip(new, ms.minimum, ms.maximum), t.mindshare)

    # 4. demand ----------------------------------------------------------------
    def _demand(self, mdf_leads: np.ndarray | None) -> None:
        sc = self.config.market
        cu = self.customers
        m = self.month
        # Bass adoption: hazard (p + q F_territory) per year, per month here.
        f = cu.adopted / np.maximum(cu.terr_size, 1)
        n_terr = f.size
        # Monthly entry probability by (state, territory): Bass hazard for the unaware,
        # re-entry for competitors' and churned accounts, none for the rest.
        table = np.zeros((5, n_terr), dtype=np.float32)
        table[UNAWARE] = (sc.bass_p + sc.bass_q * f) / 12.0
        table[COMPETITOR] = sc.reentry_rate
        table[CHURNED] = sc.reentry_rate
        idx = _bernoulli_thinned(
            self.streams["demand"], cu.n, lambda pos: table[cu.state[pos], cu.territory[pos]], float(table.max())
        )
        newly = idx[cu.state[idx] == UNAWARE]
        np.add.at(cu.adopted, cu.territory[newly], 1)
        cu.state[idx] = IN_MARKET
        cu.entered[idx] = m
        cu.sourced[idx] = -1
        # Leads: partners' own prospecting (in proportion to the effort they give the vendor),
        # their MDF campaigns, and leads the vendor shares by tier.
        t = self.partners
        effort = self.partner_capacity() * self.config.partners.sourcing_rate
        leads = self.streams["partners"].poisson(effort).astype(np.int64)
        if mdf_leads is not None:
            leads += np.asarray(mdf_leads[: t.n], dtype=np.int64)
        vendor = self.streams["partners"].poisson(np.where(t.active, self.tier_table["leads_per_month"][t.tier], 0.0))
        self._place_leads(leads, from_market=False)
        self._place_leads(vendor, from_market=True)

    def _place_leads(self, leads: np.ndarray, from_market: bool) -> None:
        """Turn leads into in-market accounts sourced by the partner.

        MDF leads wake accounts that are not in market (unaware, competitors'
        customers, churned) in the partner's territories and segments; vendor
        leads hand the partner an account already in market that nobody sourced.
        Leads that land on an unsuitable account are wasted.
        """
        total = int(leads.sum())
        if total == 0:
            return
        cu = self.customers
        t = self.partners
        who = np.repeat(np.arange(t.n), leads)
        terr = (
            t.home[who] + (self.streams["partners"].random(total) * t.n_terr[who]).astype(np.int64)
        ) % self.config.market.n_territories
        pos = cu.terr_ptr[terr] + (self.streams["partners"].random(total) * cu.terr_size[terr]).astype(np.int64)
        acc = cu.terr_order[np.minimum(pos, cu.n - 1)]
        seg_ok = (t.segmask[who] & (1 << cu.segment[acc].astype(np.uint8))) > 0
        st = cu.state[acc]
        if from_market:
            ok = seg_ok & (st == IN_MARKET) & (cu.sourced[acc] < 0)
        else:
            ok = seg_ok & ((st == UNAWARE) | (st == COMPETITOR) | (st == CHURNED))
        acc, who = acc[ok], who[ok]
        acc, first = np.unique(acc, return_index=True)
        who = who[first]
        if not from_market:
            newly = cu.state[acc] == UNAWARE
            np.add.at(cu.adopted, cu.territory[acc[newly]], 1)
            cu.state[acc] = IN_MARKET
            cu.entered[acc] = self.month
        cu.sourced[acc] = who

    # 5-6. market round --------------------------------------------------------
    def _market_round(self):
        cu = self.customers
        led = self.ledger
        m = self.month
        opps = np.flatnonzero(cu.state == IN_MARKET)
        led.opportunities = int(opps.size)
        batch = build_pursuit(self, opps, self.streams["market"])
        out = resolve(self, batch, self.streams["market"])
        won = out.winner_row >= 0
        led.pursued = int(out.pursued.sum())
        led.won = int(won.sum())
        acc = opps[won]
        wr = out.winner_row[won]
        ch = batch.kind[wr]
        pid = batch.partner[wr]
        cu.state[acc] = CUSTOMER
        cu.channel[acc] = ch
        cu.partner[acc] = pid
        cu.since[acc] = m
        conflicted = out.conflict_type[won] >= 0
        cu.satisfaction[acc] = np.clip(
            self._service_level(acc)
            + 0.05 * self.streams["customers"].standard_normal(acc.size)
            - self.config.conflict.customer_satisfaction_hit * conflicted,
            0,
            1,
        )
        lost = opps[out.lost]
        cu.state[lost] = COMPETITOR
        cu.partner[lost] = -1
        cu.channel[lost] = -1
        waiting = opps[~out.pursued]
        gave_up = waiting[(m - cu.entered[waiting] + 1) >= self.config.market.patience_months]
        cu.state[gave_up] = COMPETITOR
        led.new_customers += np.bincount(ch, minlength=3)
        self._book(ch, pid, cu.value[acc], new=True, registered=out.registered[won])
        led.margin_lost += float(out.margin_lost.sum())
        led.conflict_management += float(out.conflict_cost.sum())
        # Partner pursuit statistics (for win rate and conflict satisfaction).
        t = self.partners
        prow = (batch.kind == PARTNER_CH) & ~batch.prevented
        self._pursuits = np.bincount(batch.partner[prow], minlength=t.n).astype(float)
        self._wins = np.bincount(pid[ch == PARTNER_CH], minlength=t.n).astype(float)
        conf_rows = out.initial_rows
        conf_rows = conf_rows[batch.kind[conf_rows] == PARTNER_CH]
        winner_kind = _gather(batch.kind, out.winner_row)
        winner_row_of = out.winner_row[batch.opp[conf_rows]]
        loser = conf_rows[winner_row_of != conf_rows]
        wk = winner_kind[batch.opp[loser]]
        self._lost_partner = np.bincount(batch.partner[loser[wk == PARTNER_CH]], minlength=t.n).astype(float)
        self._lost_vendor = np.bincount(
            batch.partner[loser[(wk == DIRECT_CH) | (wk == DIGITAL_CH)]], minlength=t.n
        ).astype(float)
        for k in range(3):
            led.conflicts[k] += int((out.conflict_type == k).sum())
        for j, name in enumerate(out.resolution_names):
            led.conflicts_by_resolution[name] = led.conflicts_by_resolution.get(name, 0) + int(
                (out.resolution == j).sum()
            )
        return out

    def _book(
        self, ch: np.ndarray, pid: np.ndarray, value: np.ndarray, *, new: bool, registered: np.ndarray | None = None
    ) -> None:
        """Book won deals: revenue to exactly one channel, cost of goods, and deal-time levers for partners."""
        led = self.ledger
        t = self.partners
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
        led.revenue_tier += np.bincount(t.tier[p], weights=v, minlength=led.n_tiers)
        led.revenue_type += np.bincount(t.ptype[p], weights=v, minlength=5)
        reg = registered[pm] if registered is not None else np.zeros(p.size, dtype=bool)
        deals = DealBatch(partner=p, value=v, registered=reg, new_customer=np.full(p.size, new))
        self._run_levers("deals", LeverEvent("deals", self.month, self.streams["partners"], deals=deals), p)

    # 7. renewals and customer satisfaction -------------------------------------
    def _renewals(self) -> None:
        sc = self.config.market
        cu = self.customers
        m = self.month
        cust = np.flatnonzero(cu.state == CUSTOMER)
        # Satisfaction drifts toward the serving channel's service level.
        level = self._service_level(cust)
        cu.satisfaction[cust] += 0.1 * (level - cu.satisfaction[cust])
        age = m - cu.since[cust]
        due = cust[(age > 0) & (age % sc.renewal_interval == 0)]
        led = self.ledger
        led.renewals_due = int(due.size)
        self.renew_window[m % 12] = (0, due.size)
        if due.size == 0:
            return
        base = (
            np.log(sc.renewal_base / max(1 - sc.renewal_base, 1e-9))
            if 0 < sc.renewal_base < 1
            else (50.0 if sc.renewal_base >= 1 else -50.0)
        )
        p = 1.0 / (1.0 + np.exp(-(base + sc.renewal_slope * (cu.satisfaction[due] - 0.7))))
        renew = self.streams["customers"].random(due.size) < p
        keep = due[renew]
        drop = due[~renew]
        led.renewals_done = int(keep.size)
        self.renew_window[m % 12, 0] = keep.size
        led.churned += int(drop.size)
        cu.state[drop] = CHURNED
        cu.partner[drop] = -1
        cu.channel[drop] = -1
        self._book(cu.channel[keep], cu.partner[keep], cu.value[keep] * sc.renewal_value_share, new=False)

    # 8. month end ---------------------------------------------------------------
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
        self._run_levers("month_end", LeverEvent("month_end", m, self.streams["partners"]), np.arange(t.n))

    # 9. partners ------------------------------------------------------------------
    def _partners_update(self, outcome) -> None:
        sc = self.config.partners
        tr = self.config.incentives.training
        t = self.partners
        m = self.month
        led = self.ledger
        # Capability: training arriving after its lag; skills decay without it.
        slot = m % t.train_pipe.shape[1]
        gain = t.train_pipe[:, slot].copy()
        t.train_pipe[:, slot] = 0.0
        for c in ("sales", "technical", "service"):
            col = t.cap[:, CAP[c]]
            t.cap[:, CAP[c]] = np.clip(col + gain * (1.0 - col) - tr.decay, 0.02, 0.98)
        self._refresh_capability()
        # Win rate and conflict losses, smoothed.
        pursued = self._pursuits > 0
        t.win_ema = np.where(pursued, 0.9 * t.win_ema + 0.1 * self._wins / np.maximum(self._pursuits, 1), t.win_ema)
        denom = np.maximum(self._pursuits, 1)
        t.loss_partner_ema = 0.8 * t.loss_partner_ema + 0.2 * self._lost_partner / denom
        t.loss_vendor_ema = 0.8 * t.loss_vendor_ema + 0.2 * self._lost_vendor / denom
        # Satisfaction (part 4).
        ss = sc.satisfaction
        plan_support = 0.2 * self.payout_ratio.get("improvement", 1.0)
        support = self.tier_table["support_level"][t.tier] + np.where(t.lifecycle == IMPROVEMENT, plan_support, 0.0)
        communication = self.config.relationship.communication * self.payout_ratio.get("relationship", 1.0)
        profit = np.clip(self._relative_return + 1.0, 0.0, 2.0) / 2.0
        target = (
            ss.base
            + ss.profit_weight * profit
            + ss.support_weight * support
            + ss.recognition_weight * t.recognition
            + ss.communication_weight * communication
            - ss.conflict_loss_penalty * t.loss_partner_ema
            - ss.direct_loss_penalty * t.loss_vendor_ema
        )
        t.satisfaction = np.clip(t.satisfaction + ss.speed * (target - t.satisfaction), 0, 1)
        t.satisfaction = np.where(
            self._caught_now, np.clip(t.satisfaction - sc.compliance.audit_satisfaction_penalty, 0, 1), t.satisfaction
        )
        t.recognition = t.recognition * (1.0 - self.config.incentives.recognition.decay)
        # Exits: hazard rises as satisfaction falls (parts 4, 7).
        lc = sc.lifecycle
        hazard = np.minimum(1.0, lc.exit_hazard * np.exp(lc.exit_satisfaction_slope * (0.6 - t.satisfaction)))
        leave = t.selling & (self.streams["partners"].random(t.n) < hazard)
        # Onboarding ends after the ramp.
        tenure = m - t.joined
        done = (t.lifecycle == ONBOARDING) & ~leave & (tenure + 1 >= lc.onboarding_months)
        t.lifecycle[done] = ACTIVE
        led.onboarded += int(done.sum())
        # Improvement plans run their course.
        imp = sc.improvement
        on_plan = (t.lifecycle == IMPROVEMENT) & ~leave
        t.plan_left = np.where(on_plan, t.plan_left - 1, t.plan_left)
        ending = on_plan & (t.plan_left <= 0)
        if ending.any():
            recovered = t.ttm_revenue() >= imp.threshold * self._plan_reference()
            t.lifecycle[ending & recovered] = ACTIVE
            fail = ending & ~recovered
            if imp.exit_if_not_recovered:
                leave |= fail
            else:
                t.lifecycle[fail] = ACTIVE
        self._exit(leave)

    def _exit(self, leave: np.ndarray) -> None:
        t = self.partners
        led = self.ledger
        if not leave.any():
            return
        was_onboarding = leave & (t.lifecycle == ONBOARDING)
        led.dropouts += int(was_onboarding.sum())
        led.exited += int((leave & ~was_onboarding).sum())
        t.lifecycle[leave] = EXITED
        t.left[leave] = self.month
        ids = np.flatnonzero(leave)
        for i in ids:
            agent = self._agents_by_idx.pop(int(i), None)
            if agent is not None:
                agent.remove()
        # Their customers follow them out, or the vendor takes them over directly.
        cu = self.customers
        cust = np.flatnonzero((cu.state == CUSTOMER) & (cu.partner >= 0))
        gone = cust[leave[cu.partner[cust]]]
        follow = self.streams["customers"].random(gone.size) < self.config.partners.lifecycle.customers_follow_exit
        cu.state[gone[follow]] = CHURNED
        cu.channel[gone[follow]] = -1
        cu.channel[gone[~follow]] = DIRECT_CH
        cu.partner[gone] = -1
        led.churned += int(follow.sum())

    def _plan_reference(self) -> np.ndarray:
        """Revenue an improvement plan measures against: the median TTM revenue of active partners of the same type."""
        t = self.partners
        ttm = t.ttm_revenue()
        ref = np.zeros(len(PARTNER_TYPES))
        for k in range(len(PARTNER_TYPES)):
            peers = ttm[t.active & (t.ptype == k)]
            ref[k] = np.median(peers) if peers.size else 0.0
        return ref[t.ptype]

    # 10. tier review ------------------------------------------------------------------
    def _review(self) -> None:
        t = self.partners
        m = self.month
        led = self.ledger
        active = t.active
        new = self.policies.tiering.review(self)
        new = np.where(active, np.clip(new, 0, len(self.config.tiering.tiers) - 1), t.tier).astype(np.int8)
        moved = np.flatnonzero(new != t.tier)
        for i in moved:
            self.migrations.append((m, int(i), int(t.tier[i]), int(new[i])))
        led.migrations_up += int((new > t.tier).sum())
        led.migrations_down += int((new < t.tier).sum())
        t.tier = new
        self._run_levers("review", LeverEvent("review", m, self.streams["partners"]), np.arange(t.n))
        imp = self.config.partners.improvement
        if imp.enabled:
            tenure = m - t.joined
            # Only with a full year of history is TTM revenue a fair measure.
            weak = (
                (t.lifecycle == ACTIVE)
                & (tenure >= 12)
                & (m >= 11)
                & (t.ttm_revenue() < imp.threshold * self._plan_reference())
            )
            t.lifecycle[weak] = IMPROVEMENT
            t.plan_left[weak] = imp.months
        self._update_exclusivity()

    def _update_exclusivity(self) -> None:
        """Each territory's exclusive partner: the active partner based there with the highest tier, then revenue."""
        t = self.partners
        holder = np.full(self.config.market.n_territories, -1)
        ids = np.flatnonzero(t.active)
        if ids.size:
            order = np.lexsort((t.ttm_revenue()[ids], t.tier[ids], t.home[ids]))
            r = ids[order]
            holder[t.home[r]] = r  # the last (highest) per territory wins
        self.exclusive_holder = holder

    # 11. collection ---------------------------------------------------------------------
    def _collect(self, outcome) -> None:
        t = self.partners
        m = self.month
        cu = self.customers
        self.state_counts = cu.counts()
        cust = np.flatnonzero(cu.state == CUSTOMER)
        served = cu.partner[cust]
        t.customers = np.bincount(served[served >= 0], minlength=t.n)
        self.customer_satisfaction_mean = float(cu.satisfaction[cust].mean()) if cust.size else float("nan")
        if m >= self.config.time.warmup_months:
            ids = np.flatnonzero(t.lifecycle != EXITED)
            ids = np.union1d(ids, np.flatnonzero(t.left == m))
            self.panel.append(
                {
                    "month": np.full(ids.size, m - self.config.time.warmup_months + 1, dtype=np.int32),
                    "partner_id": ids.astype(np.int32),
                    "type": t.ptype[ids].copy(),
                    "tier": t.tier[ids].copy(),
                    "lifecycle": t.lifecycle[ids].copy(),
                    "revenue": t.revenue[ids].copy(),
                    "ttm_revenue": t.ttm_revenue()[ids],
                    "mindshare": t.mindshare[ids].copy(),
                    "satisfaction": t.satisfaction[ids].copy(),
                    "capability": self.contest_capability[ids].copy(),
                    "certifications": t.certifications(m)[ids],
                    "customers": t.customers[ids].copy(),
                    "opportunities": self._pursuits[ids],
                    "wins": self._wins[ids],
                    "incentives": self._partner_spend[ids].copy(),
                    "compliance": t.compliance_record()[ids],
                }
            )
            b = outcome.batch
            rows = outcome.initial_rows
            if rows.size:
                opp = b.opp[rows]
                opps = np.unique(opp)
                wr = outcome.winner_row[opps]
                winner_kind = _gather(b.kind, wr)
                winner_partner = _gather(b.partner, wr)
                self.conflict_log.append(
                    {
                        "month": np.full(opps.size, m - self.config.time.warmup_months + 1, dtype=np.int32),
                        "account": b.opp_account[opps],
                        "territory": b.opp_territory[opps],
                        "segment": b.opp_segment[opps],
                        "type": outcome.conflict_type[opps],
                        "resolution": outcome.resolution[opps],
                        "winner_kind": winner_kind,
                        "winner_partner": winner_partner,
                        "lost_to_competitor": outcome.lost[opps],
                        "value_at_stake": b.opp_value[opps],
                        "margin_lost": outcome.margin_lost[opps],
                        "cost": outcome.conflict_cost[opps],
                        "_rows_opp": opp,
                        "_rows_kind": b.kind[rows],
                        "_rows_partner": b.partner[rows],
                        "_names": np.array(outcome.resolution_names, dtype=object),
                    }
                )

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
