"""The what-if logic behind ``channelsim app``: levers, their checks, the runs and the KPI tiles.

The page itself is a Solara app (:mod:`channelsim.solara_app`, served by :mod:`channelsim.app_server`);
this module has no user-interface code, so what the page shows can be tested without a browser.

* :func:`levers_for` / :func:`lever_values`: the controls for a base scenario and their starting values.
* :func:`overrides_for`: lever values to scenario overrides, each checked against its range (the
  slider's range is enforced here, not only in the page).
* :meth:`WhatIf.run`: replicates the base and the what-if with the same seeds through
  :func:`experiments.replicate` (replication ``r`` uses ``sim.seed_sequence(seed, r)``, as ``channelsim
  run`` does) and compares them with :meth:`experiments.Replications.compare` (paired 95 % t-intervals).
* :func:`tiles`: the headline KPIs as tiles (value, change, %, CI, units, verdict in words).
* :func:`explain`: a bad request or a lever combination the scenario refuses, as one paragraph.

See ``docs/APP.md``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sim
from experiments.replication import Comparison, Replications, replicate
from sim.errors import MAX_INT, Described, InputError, ScenarioError
from sim.overrides import apply_overrides
from sim.run import FLOW_KPIS

from . import plots

#: Most replications a run may ask for (each is two simulations: base and what-if).
MAX_REPLICATIONS = 32

#: Headline KPIs shown as tiles, in this order (the others are in the page's full table).
HEADLINE_ORDER = (
    "gross_profit", "revenue_total", "revenue_partner", "incentive_spend", "incentive_roi",
    "margin_lost_to_conflict", "partner_satisfaction", "partner_nps", "active_partners_end",
    "conflicts_horizontal", "conflicts_vertical", "conflicts_multichannel", "customer_satisfaction", "market_share",
)
#: Headline KPIs for which a fall is the good direction (the tile's colour says better or worse).
LOWER_IS_BETTER = frozenset({
    "incentive_spend", "margin_lost_to_conflict", "conflict_cost", "cost_of_goods", "leakage", "partner_churn",
    "conflicts_horizontal", "conflicts_vertical", "conflicts_multichannel", "customers_churned",
    "partners_exited", "recruitment_cost", "channel_opex", "audit_cost", "discount_rate", "rebate_rate",
})


@dataclass(frozen=True)
class Lever:
    """One control on the page.

    Attributes:
        key: the control's id (``lever-<key>`` in the page) and its key in a run request.
        label: what the page shows.
        kind: ``range`` (a slider), ``select`` or ``checkbox``.
        path: the scenario field it sets (dotted), or ``conflict.protections`` for deal registration.
        unit: shown next to the value.
        min: slider minimum.
        max: slider maximum.
        step: slider step.
        options: choices of a select.
    """

    key: str
    label: str
    kind: str
    path: str
    unit: str = ""
    min: float | None = None
    max: float | None = None
    step: float | None = None
    options: tuple[str, ...] = ()


def _get(scenario: sim.Scenario, path: str) -> Any:
    node: Any = scenario
    for part in path.split("."):
        if isinstance(node, list):
            node = next(t for t in node if getattr(t, "name", None) == part)
        else:
            node = getattr(node, part)
    return node


def levers_for(scenario: sim.Scenario) -> list[Lever]:
    """The page's controls for ``scenario``.

    Tier revenue thresholds, rebate/MDF/discount scales, deal registration, direct coverage and the
    conflict fallback.
    """
    out = []
    tiers = scenario.tiering.tiers
    top = max(t.min_ttm_revenue for t in tiers) or 600_000.0
    for t in tiers[1:]:
        out.append(Lever(f"threshold_{t.name}", f"{t.name} tier: TTM revenue threshold", "range",
                         f"tiering.tiers.{t.name}.min_ttm_revenue", "USD", 0.0, float(round(top * 2.5, -3)),
                         5_000.0))
    out += [
        Lever("rebate_scale", "rebate rates (x every tier's rate)", "range", "incentives.rebate.scale", "x",
              0.0, 3.0, 0.05),
        Lever("mdf_scale", "MDF accrual rates (x every tier's rate)", "range", "incentives.mdf.scale", "x",
              0.0, 3.0, 0.05),
        Lever("discount_scale", "front-end discounts (x every tier's discount)", "range",
              "incentives.discount_scale", "x", 0.0, 2.0, 0.05),
        Lever("deal_registration", "deal registration", "checkbox", "conflict.protections"),
        Lever("direct_coverage", "direct sales territory coverage", "range", "direct.territory_coverage", "share",
              0.0, 1.0, 0.05),
        Lever("conflict_fallback", "conflict fallback (after protections)", "select", "conflict.fallback",
              options=("price_contest", "mediation")),
    ]
    return out


def lever_values(scenario: sim.Scenario, levers: list[Lever]) -> dict[str, Any]:
    """The value of each lever in ``scenario`` (what the page starts from)."""
    out: dict[str, Any] = {}
    for lv in levers:
        if lv.key == "deal_registration":
            out[lv.key] = "deal_registration" in scenario.conflict.protections
        else:
            v = _get(scenario, lv.path)
            out[lv.key] = float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
    return out


def overrides_for(scenario: sim.Scenario, values: dict[str, Any], levers: list[Lever] | None = None) -> dict[str, Any]:
    """Scenario overrides (dotted paths) for the lever values that differ from ``scenario``.

    Raises:
        ScenarioError: for an unknown lever key or a value of the wrong kind.
    """
    levers = levers if levers is not None else levers_for(scenario)
    by_key = {lv.key: lv for lv in levers}
    current = lever_values(scenario, levers)
    out: dict[str, Any] = {}
    problems = []
    unknown = [str(k) for k in values if k not in by_key]
    if unknown:  # one problem for them all: a request may name thousands
        shown = ", ".join(repr(k[:40]) for k in unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5
                                                                else "")
        problems.append((unknown[0][:40] if len(unknown) == 1 else "levers", Described(shown),
                         f"unknown lever(s); the levers of the page: {', '.join(sorted(by_key))}"))
    for key, value in values.items():
        lv = by_key.get(key)
        if lv is None:
            continue
        if lv.kind == "checkbox":
            if not isinstance(value, bool):
                problems.append((key, value, "true or false"))
                continue
            if value == current[key]:
                continue
            prot = [p for p in scenario.conflict.protections if p != "deal_registration"]
            out[lv.path] = [*prot, "deal_registration"] if value else prot
        elif lv.kind == "select":
            if value not in lv.options:
                problems.append((key, value, f"one of {list(lv.options)}"))
            elif value != current[key]:
                out[lv.path] = value
        else:
            lo, hi = lv.min if lv.min is not None else -math.inf, lv.max if lv.max is not None else math.inf
            if isinstance(value, bool) or not isinstance(value, int | float) or \
                    (isinstance(value, float) and not math.isfinite(value)):
                problems.append((key, value, f"a number from {lo:g} to {hi:g}"))
            elif not lo <= value <= hi:  # compared exactly: a 400-digit integer is out of range, not an overflow
                problems.append((key, value, f"a number from {lo:g} to {hi:g} (the lever's range)"))
            elif float(value) != current[key]:
                out[lv.path] = float(value)
    if problems:
        raise ScenarioError("the page's levers", problems)
    return out


def check_run(seed: Any, replications: Any) -> None:
    """Check a run's seed and replication count.

    Raises:
        ScenarioError: naming each bad value and what is allowed.
    """
    problems = []
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_INT:
        problems.append(("seed", seed, f"an integer from 0 to {MAX_INT}"))
    if isinstance(replications, bool) or not isinstance(replications, int) or \
            not 1 <= replications <= MAX_REPLICATIONS:
        problems.append(("replications", replications, f"an integer from 1 to {MAX_REPLICATIONS}"))
    if problems:
        raise ScenarioError("the page's run request", problems)


def headline_unit(kpi: str, months: int) -> str:
    """The unit of a headline KPI: flows are totals over the ``months`` reported, levels monthly means."""
    if kpi == "active_partners_end":
        return "partners at the end"
    if kpi == "incentive_roi":
        return "USD margin per USD spent"
    unit = plots.kpi_unit(kpi)
    if kpi in FLOW_KPIS:
        return unit.replace(" per month", "") + f", total over {months} months"
    return unit + (", monthly mean" if unit != "value" else "")


def label_of(kpi: str) -> str:
    """A KPI's name in words (``gross_profit`` -> ``Gross profit``)."""
    text = kpi.replace("_", " ").replace("roi", "ROI").replace("nps", "NPS").replace("mdf", "MDF")
    return text[:1].upper() + text[1:]


def fmt(value: float | None, unit: str = "") -> str:
    """A number as a strategist reads it: thousands separated, money in K/M, shares in %."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if unit.startswith("share"):
        return f"{value * 100:,.1f} %"
    if unit.startswith("USD") and not unit.startswith("USD margin"):
        a = abs(value)
        return f"{value / 1e6:,.2f} M" if a >= 1e6 else f"{value / 1e3:,.1f} K" if a >= 1e4 else f"{value:,.0f}"
    a = abs(value)
    return f"{value:,.0f}" if a >= 1000 else f"{value:,.2f}" if a >= 1 else f"{value:,.3f}"


def fmt_change(value: float | None, unit: str = "") -> str:
    """A difference with its sign (``+1.2 M``, ``-3.4 %-points``)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    text = fmt(value, unit)
    if unit.startswith("share"):
        text = text.replace(" %", " %-pts")
    return ("+" if value > 0 else "") + text if not text.startswith("-") else text


@dataclass(frozen=True)
class Tile:
    """One headline KPI of a what-if against its base.

    Attributes:
        kpi: the KPI's column.
        label: its name in words.
        unit: its unit (flows are totals over the reported months).
        base: the base scenario's mean.
        value: the what-if's mean.
        diff: what-if minus base (mean of the paired differences).
        low: lower end of the difference's 95 % CI.
        high: upper end of the difference's 95 % CI.
        pct: the difference in % of the base (NaN when the base is 0).
        significant: whether the CI excludes zero (never with one replication).
        verdict: ``better``, ``worse`` (significant, by the KPI's good direction) or ``unchanged``.
        text: the verdict in words, shown with the colour.
    """

    kpi: str
    label: str
    unit: str
    base: float
    value: float
    diff: float
    low: float
    high: float
    pct: float
    significant: bool
    verdict: str
    text: str


def tiles(comparison: Comparison, months: int, kpis: tuple[str, ...] | None = None) -> list[Tile]:
    """The tiles of a comparison (what-if ``b`` against base ``a``): ``kpis`` (default every headline KPI).

    Headline KPIs of :data:`HEADLINE_ORDER` come first.
    """
    table = comparison.table
    order = [k for k in HEADLINE_ORDER if k in table.index] + [k for k in table.index if k not in HEADLINE_ORDER]
    out = []
    for k in (kpis if kpis is not None else order):
        if k not in table.index:
            continue
        row = table.loc[k]
        unit = headline_unit(k, months)
        sig = bool(row["significant"])
        diff = float(row["diff"])
        if sig:
            up = diff > 0
            good = up != (k in LOWER_IS_BETTER)
            verdict = "better" if good else "worse"
            text = (f"{'higher' if up else 'lower'}: {verdict} (95 % CI excludes 0)")
        else:
            verdict = "unchanged"
            text = ("no interval with one replication" if comparison.table.attrs.get("n", 2) < 2
                    else "no significant change (95 % CI includes 0)")
        out.append(Tile(k, label_of(k), unit, float(row["a"]), float(row["b"]), diff, float(row["ci_low"]),
                        float(row["ci_high"]), float(row["pct"]), sig, verdict, text))
    return out


@dataclass(frozen=True)
class Result:
    """One what-if run: the base, the what-if and their comparison.

    Attributes:
        label: the base scenario's name.
        seed: base seed.
        replications: replications of each.
        overrides: the scenario overrides the levers made (empty: the what-if is the base).
        base: the base scenario's :class:`~experiments.Replications`.
        whatif: the what-if's :class:`~experiments.Replications`.
        comparison: ``base.compare(whatif)``.
        seconds: wall time of the run.
    """

    label: str
    seed: int
    replications: int
    overrides: dict[str, Any]
    base: Replications
    whatif: Replications
    comparison: Comparison
    seconds: float

    @property
    def months(self) -> int:
        return int(self.base.scenario.time.months)

    def tiles(self, kpis: tuple[str, ...] | None = HEADLINE_ORDER) -> list[Tile]:
        """The headline tiles (``kpis=None``: every headline KPI)."""
        return tiles(self.comparison, self.months, kpis)


#: ``progress(stage, done, total)``: ``stage`` is ``"base"`` or ``"what-if"``, ``done`` of ``total`` replications.
Progress = Callable[[str, int, int], None]


@dataclass
class WhatIf:
    """The state behind the page: the base scenario, its levers and a cache of base runs."""

    base: sim.Scenario
    label: str = ""
    levers: list[Lever] = field(default_factory=list)
    _cache: dict[tuple[int, int], Replications] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.levers = self.levers or levers_for(self.base)
        self.label = self.label or self.base.name

    def values(self) -> dict[str, Any]:
        """The levers' values in the base scenario (what Reset goes back to)."""
        return lever_values(self.base, self.levers)

    def scenario_for(self, values: dict[str, Any]) -> tuple[sim.Scenario, dict[str, Any]]:
        """The what-if scenario for lever ``values`` and the overrides it is made of.

        Raises:
            ScenarioError: for bad lever values or a combination the scenario rejects.
        """
        if not isinstance(values, dict):
            raise ScenarioError("the page's run request", [("levers", values, "an object of lever values")])
        overrides = overrides_for(self.base, values, self.levers)
        scenario = apply_overrides(self.base, overrides, source="the page's levers", strict=True) \
            if overrides else self.base
        return scenario, overrides

    def run(self, values: dict[str, Any], seed: int, replications: int, progress: Progress | None = None) -> Result:
        """Replicate the base and the what-if for the lever ``values`` with the same seeds and compare them.

        Args:
            values: lever key -> value (levers left out keep the base's value).
            seed: base seed; replication ``r`` runs ``sim.seed_sequence(seed, r)``.
            replications: how many of each, 1 to :data:`MAX_REPLICATIONS`.
            progress: called after each replication (see :data:`Progress`).

        Raises:
            ScenarioError: for bad lever values, seed or replications, or a what-if the scenario rejects.
        """
        check_run(seed, replications)
        scenario, overrides = self.scenario_for(values)
        t0 = time.perf_counter()
        with self._lock:  # one simulation batch at a time: the machine's cores are shared
            key = (seed, replications)
            if key not in self._cache:
                cb = (lambda d, n: progress("base", d, n)) if progress else False
                self._cache = {key: replicate(self.base, replications, seed=seed, label=self.label,
                                              frames=("kpis", "conflicts", "migrations"), progress=cb)}
            base = self._cache[key]
            if overrides:
                cb = (lambda d, n: progress("what-if", d, n)) if progress else False
                whatif = replicate(scenario, replications, seed=seed, label=f"{self.label} what-if",
                                   frames=("kpis", "conflicts", "migrations"), progress=cb)
            else:
                whatif = base
        comparison = base.compare(whatif)
        comparison.table.attrs["n"] = replications
        return Result(self.label, seed, replications, overrides, base, whatif, comparison,
                      round(time.perf_counter() - t0, 3))


def explain(err: Exception, levers: list[Lever] | None = None, values: dict[str, Any] | None = None) -> str:
    """A bad request or rejected lever combination as one paragraph a strategist can act on (no Python repr).

    Args:
        err: the error :meth:`WhatIf.run` raised.
        levers: the page's levers (to name fields by their labels).
        values: the lever values of the run (to quote the tier thresholds).
    """
    if not isinstance(err, InputError):
        first = (str(err).splitlines() or [""])[0][:300]
        return f"The run failed: {first or type(err).__name__}. Try fewer or other lever changes."
    by_path = {lv.path: lv for lv in levers or []}
    by_key = {lv.key: lv for lv in levers or []}
    parts = []
    for fld, value, allowed in err.problems:
        fld = str(fld)
        lv = by_key.get(fld) or by_path.get(fld)
        if str(allowed).startswith("unknown lever"):
            parts.append(f"no lever is called {value} (the levers: {', '.join(sorted(by_key)) or 'see the page'})")
        elif fld.startswith("tiering") and levers:
            names = ", ".join(lv.label.split(":")[0] for lv in levers if lv.key.startswith("threshold_"))
            now = [f"{lv.label.split(' tier')[0]} {values[lv.key]:,.0f} USD" for lv in levers
                   if lv.key.startswith("threshold_") and isinstance((values or {}).get(lv.key), int | float)]
            parts.append(f"the tier thresholds must rise from tier to tier ({names})"
                         + (f"; now: {', '.join(now)}" if now else "")
                         + "; set each threshold above the one of the tier below it")
        elif lv is not None:
            shown = str(value)[:60] if isinstance(value, int | float | str | bool | Described) else "this value"
            parts.append(f"{lv.label} cannot be {shown}: allowed is {allowed}")
        elif isinstance(value, int | float | str | bool | Described):
            parts.append(f"{fld} cannot be {str(value)[:60]}: allowed is {allowed}")
        else:
            parts.append(f"{fld}: {allowed}")
    text = "; ".join(parts) if parts else str(err).splitlines()[0]
    return f"These settings cannot be run: {text}. Nothing was simulated."


__all__ = ["HEADLINE_ORDER", "LOWER_IS_BETTER", "MAX_REPLICATIONS", "Lever", "Result", "Tile", "WhatIf",
           "check_run", "explain", "fmt", "fmt_change", "headline_unit", "label_of", "lever_values", "levers_for",
           "overrides_for", "tiles"]
