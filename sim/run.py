"""``run(scenario, seed) -> RunResult``: the one function everything else calls."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .customers import CHANNEL_NAMES
from .initial import InitialState
from .model import ChannelModel
from .partners import EXIT_REASONS, LIFECYCLE_NAMES, SOURCE_NAMES
from .policies import Policies
from .scenario import PARTNER_TYPES, SEGMENTS, Scenario


@dataclass(frozen=True)
class RunResult:
    """The outcome of one run.

    Attributes:
        scenario: the resolved scenario that was run.
        seed: the seed (or None when a Generator was passed).
        kpis: one row per reported month (``month`` 1..T), one column per KPI.
        partners: one row per partner and reported month.
        conflicts: the conflict log, one row per conflict.
        migrations: tier migrations (month, partner_id, from_tier, to_tier).
        deals: with ``record_deals=True``, one row per deal a vendor channel contested in the
            reported months (month, account, territory, segment, channel, partner_id, value,
            registered, won); ``None`` otherwise.
        payouts: with ``record_deals=True``, one row per month, partner and lever paid (month,
            partner_id, lever, amount; non-zero amounts only); ``None`` otherwise.
        accounts: with ``record_deals=True``, every account at the end of the run (account,
            territory, segment, value, state, channel, partner_id); ``None`` otherwise.
        coverage: with ``record_deals=True``, every partner's coverage: one row per partner,
            territory and segment it covers (partner_id, territory, segment); ``None`` otherwise.
    """

    scenario: Scenario
    seed: int | None
    kpis: pd.DataFrame
    partners: pd.DataFrame
    conflicts: pd.DataFrame
    migrations: pd.DataFrame
    deals: pd.DataFrame | None = None
    payouts: pd.DataFrame | None = None
    accounts: pd.DataFrame | None = None
    coverage: pd.DataFrame | None = None

    def summary(self) -> dict[str, float]:
        """Headline KPIs over the reported months: totals for flows, means for levels."""
        return headline(self.kpis)


FLOW_KPIS = (
    "revenue_total",
    "revenue_partner",
    "revenue_direct",
    "revenue_digital",
    "gross_profit",
    "incentive_spend",
    "margin_lost_to_conflict",
    "customers_new",
    "customers_churned",
    "partners_exited",
    "partners_exited_choice",
    "partners_exited_terminated",
    "partners_exited_other",
    "partner_exit_risk",
    "partners_onboarded",
    "partners_recruited",
    "partner_profit",
    "operating_profit",
    "leakage",
    "conflicts_horizontal",
    "conflicts_vertical",
    "conflicts_multichannel",
)
LEVEL_KPIS = (
    "partner_revenue_share",
    "active_partners",
    "partner_satisfaction",
    "partner_nps",
    "customer_satisfaction",
    "customer_retention",
    "market_share",
    "win_rate",
    "mdf_utilisation",
    "compliance_rate",
    "channel_maturity",
    "partner_mindshare",
    "partner_profit_ratio",
    "discount_rate",
    "rebate_rate",
)


def headline(kpis: pd.DataFrame) -> dict[str, float]:
    """Totals of flow KPIs and means of level KPIs over the months of one run."""
    out: dict[str, float] = {}
    for c in FLOW_KPIS:
        out[c] = float(kpis[c].sum())
    for c in LEVEL_KPIS:
        out[c] = float(kpis[c].mean())
    # Spend-weighted monthly ROI = (sum of partner margin - sum of spend) / sum of spend.
    spend = out["incentive_spend"]
    weighted = kpis["incentive_roi"].fillna(0.0).mul(kpis["incentive_spend"]).sum()
    out["incentive_roi"] = float(weighted / spend) if spend else float("nan")
    out["active_partners_end"] = float(kpis["active_partners"].iloc[-1])
    return out


def _seed_key(seed: int | np.random.SeedSequence | np.random.Generator) -> tuple:
    """What identifies a seed, to check that a run and its warm start use the same one."""
    if isinstance(seed, np.random.SeedSequence):
        return ("SeedSequence", seed.entropy, tuple(seed.spawn_key), seed.pool_size)
    if isinstance(seed, int | np.integer):
        return ("int", int(seed))
    raise TypeError(f"a warm start needs an int or a numpy SeedSequence as seed, not {type(seed).__name__} "
                    "(a Generator's state cannot be matched to the warm start's)")


class WarmStart:
    """A model at the end of its warm-up, from which several what-ifs with the same seed start.

    Made by :func:`warm_up`.  ``sim.run(what_if, seed, warmup=ws)`` starts from a deep copy of
    the warmed-up model, so ``ws`` is never changed and the result is bit-identical to
    ``sim.run(what_if, seed, warmup=ws.scenario)``; only the warm-up is not simulated again (it is
    60 of the baseline's 96 months).  The model is not picklable (its KPI reporters include
    closures): a warm start is for runs in the process that made it.

    Attributes:
        scenario: the scenario of the warm-up months.
        seed: the seed of the run it was made for.
        policies: the policies it was warmed up with (``None``: the scenario's own).
    """

    def __init__(self, model: ChannelModel, scenario: Scenario, seed, policies: Policies | None):
        self._model = model
        self.scenario = scenario
        self.seed = seed
        self.policies = policies
        self.initial = model.initial
        self._key = _seed_key(seed)

    def start(self, scenario: Scenario, seed, policies: Policies | None = None,
              initial: InitialState | None = None) -> ChannelModel:
        """A fresh copy of the warmed-up model that switches to ``scenario`` at its first reported month."""
        from .model import _check_initial, _check_switch

        if _seed_key(seed) != self._key:
            raise ValueError(f"this warm start was made with seed {self.seed!r}; a run from it must use the same "
                             f"seed, not {seed!r}")
        if policies is not None and policies is not self.policies:
            raise ValueError("a run from a warm start uses the policies it was warmed up with: pass policies to "
                             "sim.warm_up, not to sim.run")
        if initial is not None and initial is not self.initial:
            raise ValueError("a run from a warm start starts from the initial state it was warmed up from: pass "
                             "initial to sim.warm_up, not to sim.run")
        _check_switch(self.scenario, scenario)
        _check_initial(scenario, self.initial)
        model = copy.deepcopy(self._model)
        if scenario is not self.scenario:  # as ChannelModel(scenario, warmup=self.scenario) would
            model._final = scenario
        return model

    def __repr__(self) -> str:
        return (f"WarmStart({self.scenario.name!r}, seed={self.seed!r}, "
                f"month {self._model.month} of {self._model.horizon})")


def warm_up(
    scenario: Scenario | None = None,
    seed: int | np.random.SeedSequence = 0,
    *,
    months: int | None = None,
    policies: Policies | None = None,
    initial: InitialState | None = None,
) -> WarmStart:
    """Simulate the warm-up months of ``scenario`` once, for several what-ifs to start from.

    Args:
        scenario: the scenario of the warm-up (typically the baseline); the baseline when None.
        seed: an int or a SeedSequence; runs from the warm start must pass the same seed.
        months: reported months, replacing ``scenario.time.months`` (the what-ifs must agree).
        policies: replacement policy objects, used in the warm-up and in every run from it.
        initial: the state of month 0 as data (:class:`~sim.initial.InitialState`), for the warm-up and
            every run from it.

    Example::

        ws = sim.warm_up(base, seed=3)
        control = sim.run(base, 3, warmup=ws)          # == sim.run(base, 3)
        rebate = sim.run(what_if, 3, warmup=ws)        # == sim.run(what_if, 3, warmup=base)
    """
    scenario = scenario if scenario is not None else Scenario()
    if months is not None:
        scenario = scenario.with_overrides({"time.months": months})
    _seed_key(seed)
    model = ChannelModel(scenario, rng=seed, policies=policies, warmup=scenario, initial=initial)
    model.collect_warmup = False  # the runs from it report the months after the warm-up only
    while model.month < scenario.time.warmup_months:
        model.step()
    return WarmStart(model, scenario, seed, policies)


def run(
    scenario: Scenario | None = None,
    seed: int | np.random.SeedSequence | np.random.Generator = 0,
    *,
    months: int | None = None,
    policies: Policies | None = None,
    warmup: Scenario | WarmStart | None = None,
    initial: InitialState | None = None,
    record_deals: bool = False,
) -> RunResult:
    """Simulate ``scenario`` with ``seed`` and return its KPIs, partner panel and conflict log.

    Args:
        scenario: a validated :class:`Scenario` (the baseline when None).
        seed: an int, a SeedSequence (as experiments derive them) or a Generator.
        months: reported months, replacing ``scenario.time.months``.
        policies: replacement policy objects.
        warmup: run the warm-up months under this scenario (e.g. the baseline) and let ``scenario``
            take effect at the first reported month: the reported months then show the transition
            from today's steady state, and what-ifs warmed up on the same baseline with the same
            seed share their warm-up exactly (see :class:`ChannelModel`).  A :class:`WarmStart`
            from :func:`warm_up` (same seed) gives the same result without simulating the
            warm-up again.
        initial: the partners and accounts of month 0 as data (:class:`~sim.initial.InitialState`, e.g.
            :func:`experiments.initial.with_data` of a PRM export) instead of drawn; the same state,
            scenario and seed give the same result.  With a :class:`WarmStart`, the state it was
            warmed up from.
        record_deals: also log every deal, payout, account and partner's coverage (the result's
            ``deals``, ``payouts``, ``accounts`` and ``coverage``; what :func:`experiments.prm.export_run`
            makes a PRM export of).  The run's KPIs and frames are the same with it on or off.
    """
    scenario = scenario if scenario is not None else Scenario()
    if months is not None:
        scenario = scenario.with_overrides({"time.months": months})
        if isinstance(warmup, Scenario):
            warmup = warmup.with_overrides({"time.months": months})
    if isinstance(warmup, WarmStart):
        model = warmup.start(scenario, seed, policies, initial)
        if record_deals:  # the warm-up months are not logged, so the log starts here
            model.deal_log, model.payout_log = [], []
    else:
        model = ChannelModel(scenario, rng=seed, policies=policies, warmup=warmup, initial=initial,
                             record_deals=record_deals)
        model.collect_warmup = False  # the result reports the months after the warm-up only
    model.run()
    return collect(model)


def collect(model: ChannelModel) -> RunResult:
    """Frames of a finished (or partly run) model."""
    sc = model.config
    warm = sc.time.warmup_months
    kpis = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    # One row per month collected, up to the last month simulated (the warm-up's rows may be missing:
    # ``ChannelModel.collect_warmup``).
    first = model.month - len(kpis) + 1
    kpis.insert(0, "month", np.arange(first, first + len(kpis)) - warm)
    kpis = kpis[kpis["month"] >= 1].reset_index(drop=True)
    return RunResult(
        scenario=sc,
        seed=model.seed,
        kpis=kpis,
        partners=partner_frame(model),
        conflicts=conflict_frame(model),
        migrations=migration_frame(model),
        **(recorded_frames(model) if model.deal_log is not None else {}),
    )


def recorded_frames(model: ChannelModel) -> dict[str, pd.DataFrame]:
    """The deal log, payouts, accounts and coverage of a model run with ``record_deals=True``."""
    from .customers import STATE_NAMES

    deal_cols = ["month", "account", "territory", "segment", "channel", "partner_id", "value", "registered", "won"]
    logs = model.deal_log
    if logs:
        cols = {k: np.concatenate([log[k] for log in logs]) for k in logs[0]}
        cols["partner_id"] = cols.pop("partner")
        deals = pd.DataFrame(cols)
        deals["segment"] = pd.Categorical.from_codes(deals["segment"], categories=list(SEGMENTS))
        deals["channel"] = pd.Categorical.from_codes(deals["channel"], categories=list(CHANNEL_NAMES))
        deals = deals[deal_cols]
    else:
        deals = pd.DataFrame(columns=deal_cols)
    rows = []
    for i, month in enumerate(model.payout_log):
        for lever, paid in month.items():
            ids = np.flatnonzero(paid != 0)
            rows.append(pd.DataFrame({"month": np.full(ids.size, i + 1, dtype=np.int32), "partner_id": ids,
                                      "lever": lever, "amount": paid[ids]}))
    payouts = (pd.concat(rows, ignore_index=True) if rows
               else pd.DataFrame(columns=["month", "partner_id", "lever", "amount"]))
    payouts = payouts.sort_values(["month", "partner_id", "lever"], kind="stable").reset_index(drop=True)
    cu = model.customers
    accounts = pd.DataFrame(
        {
            "account": np.arange(cu.n),
            "territory": cu.territory.astype(np.int32),
            "segment": pd.Categorical.from_codes(cu.segment, categories=list(SEGMENTS)),
            "value": cu.value * model.config.market.price_index,
            "state": pd.Categorical.from_codes(cu.state, categories=list(STATE_NAMES)),
            "channel": pd.Categorical.from_codes(cu.channel.astype(np.int64), categories=list(CHANNEL_NAMES)),
            "partner_id": cu.partner.astype(np.int64),
        }
    )
    coverage = pd.DataFrame(
        {
            "partner_id": model.edge_partner,
            "territory": model.edge_cell // 3,
            "segment": pd.Categorical.from_codes(model.edge_cell % 3, categories=list(SEGMENTS)),
        }
    ).sort_values(["partner_id", "territory", "segment"], kind="stable").reset_index(drop=True)
    return {"deals": deals, "payouts": payouts, "accounts": accounts, "coverage": coverage}


def partner_frame(model: ChannelModel) -> pd.DataFrame:
    """The partner panel of a model: one row per partner and reported month (``partners.parquet``)."""
    return panel_frame(model.panel, model.config.tier_names)


def panel_frame(panel: list[dict[str, np.ndarray]], tier_names: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """Monthly partner rows (:func:`sim.economics.panel_rows`, one dict a month) as the partner panel's frame.

    Codes become the labelled categoricals of ``partners.parquet``; :func:`partner_frame` is this on the
    model's recorded months, and a caller scoring live state (an early-warning model) can build the same
    frame from rows it takes itself.
    """
    tiers = np.array(tier_names, dtype=object)
    if not panel:
        return pd.DataFrame(columns=["month", "partner_id", "type", "tier", "lifecycle"])
    cols = {k: np.concatenate([p[k] for p in panel]) for k in panel[0]}
    df = pd.DataFrame(cols)
    df["type"] = pd.Categorical.from_codes(df["type"], categories=list(PARTNER_TYPES))
    df["source"] = pd.Categorical.from_codes(df["source"], categories=list(SOURCE_NAMES))
    df["exit_reason"] = pd.Categorical.from_codes(df["exit_reason"], categories=list(EXIT_REASONS))
    df["tier"] = pd.Categorical.from_codes(df["tier"], categories=list(tiers), ordered=True)
    life = list(LIFECYCLE_NAMES.values())
    df["lifecycle"] = pd.Categorical.from_codes(df["lifecycle"] - min(LIFECYCLE_NAMES), categories=life)
    return df


def conflict_frame(model: ChannelModel) -> pd.DataFrame:
    """The conflict log: one row per conflict, with its parties, resolution, winner and costs."""
    from .market import CONFLICT_TYPES

    cols = [
        "month",
        "type",
        "parties",
        "n_parties",
        "resolution",
        "winner",
        "lost_to_competitor",
        "value_at_stake",
        "margin_lost",
        "cost",
        "account",
        "territory",
        "segment",
    ]
    logs = model.conflict_log
    if not logs:
        return pd.DataFrame(columns=cols)
    names = list(logs[0]["_names"])

    def cat(key: str) -> np.ndarray:
        return np.concatenate([log[key] for log in logs])

    # Pursuer rows: make each month's opportunity index global, then join labels per conflict.
    offsets = np.cumsum([0] + [int(log["_rows_opp"].max(initial=-1)) + 1 for log in logs[:-1]])
    opp = np.concatenate([log["_rows_opp"] + off for log, off in zip(logs, offsets, strict=True)])
    kinds, partners = cat("_rows_kind"), cat("_rows_partner")
    # One label per partner id, then "direct", "digital" and "competitor": labels by lookup.
    n = model.partners.n
    lookup = np.array([f"P{i}" for i in range(n)] + ["direct", "digital", "competitor"], dtype=object)

    def label_code(kind: np.ndarray, partner: np.ndarray) -> np.ndarray:
        kind = kind.astype(np.int64)
        return np.where(kind == 0, partner, np.where(kind < 0, n + 2, n + kind - 1))

    def label(kind: np.ndarray, partner: np.ndarray) -> np.ndarray:
        return lookup[label_code(kind, partner)]

    # Conflicts are stored in (month, opportunity) order: the rank of each global id among the ids
    # present (what np.unique's inverse gives, by a table over the ids' range instead of a sort).
    present = np.zeros(int(opp.max(initial=-1)) + 1, dtype=bool)
    present[opp] = True
    group = (np.cumsum(present) - 1)[opp]
    parties, n_parties = _join_groups(group, label_code(kinds, partners), lookup)
    winner = label(cat("winner_kind"), cat("winner_partner"))
    df = pd.DataFrame(
        {
            "month": cat("month"),
            "type": pd.Categorical.from_codes(cat("type"), categories=list(CONFLICT_TYPES)),
            "parties": parties,
            "n_parties": n_parties,
            "resolution": pd.Categorical.from_codes(cat("resolution"), categories=names),
            "winner": winner,
            "lost_to_competitor": cat("lost_to_competitor"),
            "value_at_stake": cat("value_at_stake"),
            "margin_lost": cat("margin_lost"),
            "cost": cat("cost"),
            "account": cat("account"),
            "territory": cat("territory"),
            "segment": pd.Categorical.from_codes(cat("segment"), categories=list(SEGMENTS)),
        }
    )
    return df[cols]


def _join_groups(group: np.ndarray, codes: np.ndarray, lookup: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``"|".join`` of the labels ``lookup[codes]`` of each group (groups numbered 0..G-1), and the group sizes.

    The labels are joined once, in group order, and each group's string is cut out of the whole at
    the character offsets its labels' lengths give: one join and one slice per group.
    """
    order = np.argsort(group, kind="stable")
    codes = codes[order]
    text = "|".join(lookup[codes].tolist())
    sizes = np.bincount(group)
    width = np.array([len(s) for s in lookup.tolist()], dtype=np.int64)[codes] + 1  # label and separator
    at = np.concatenate([[0], np.cumsum(width)])  # where each label starts in ``text``
    bounds = np.concatenate([[0], np.cumsum(sizes)])  # each group's first label
    starts = at[bounds[:-1]].tolist()
    stops = (at[bounds[1:]] - 1).tolist()
    joined = [text[a:b] for a, b in zip(starts, stops, strict=True)]
    return np.array(joined, dtype=object), sizes


def migration_frame(model: ChannelModel) -> pd.DataFrame:
    warm = model.config.time.warmup_months
    tiers = model.config.tier_names
    rows = [(m - warm + 1, p, tiers[a], tiers[b]) for (m, p, a, b) in model.migrations]
    return pd.DataFrame(rows, columns=["month", "partner_id", "from_tier", "to_tier"])


__all__ = ["CHANNEL_NAMES", "RunResult", "collect", "headline", "panel_frame", "partner_frame", "run"]
