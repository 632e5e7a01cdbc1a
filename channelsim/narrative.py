"""The words of a report: numbers as a strategist reads them, and the sentences that open each report.

Every sentence is generated from the numbers a report shows (``summary.json`` of a run, a
:class:`experiments.replication.Comparison`, a sweep's point means, an optimisation's
validation), so the text and the tables cannot disagree.  Headline KPIs are totals over the
reported months for flows and monthly means for levels (:func:`sim.headline`); money is
written in USD with k / M / bn, shares in % and their differences in percentage points (pp).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import plots

#: The headline KPIs a report opens with (summary sentences and tiles), in this order.
TILE_KPIS = ("gross_profit", "revenue_total", "revenue_partner", "incentive_spend", "incentive_roi",
             "partner_satisfaction", "partner_nps", "active_partners_end", "market_share")

#: Names in words of the KPIs a summary mentions most; others are their column name without underscores.
NAMES = {
    "gross_profit": "gross profit", "revenue_total": "revenue", "revenue_partner": "partner revenue",
    "revenue_direct": "direct revenue", "revenue_digital": "digital revenue", "incentive_spend": "incentive spend",
    "incentive_roi": "incentive ROI", "partner_satisfaction": "partner satisfaction", "partner_nps": "partner NPS",
    "active_partners_end": "active partners at the end", "active_partners": "active partners",
    "market_share": "market share", "margin_lost_to_conflict": "margin lost to conflict",
    "customer_satisfaction": "customer satisfaction", "customer_retention": "customer retention",
    "conflicts_horizontal": "horizontal conflicts", "conflicts_vertical": "vertical conflicts",
    "conflicts_multichannel": "multichannel conflicts", "win_rate": "win rate", "net_profit": "net profit",
}

#: KPIs where more is better for the vendor; ``LOWER_IS_BETTER`` the reverse; any other KPI has no
#: direction (a significant change is marked as a change, neither better nor worse).
HIGHER_IS_BETTER = frozenset({
    "gross_profit", "revenue_total", "revenue_partner", "incentive_roi", "partner_satisfaction", "partner_nps",
    "active_partners", "active_partners_end", "market_share", "customer_satisfaction", "customer_retention",
    "win_rate", "partner_profit", "operating_profit", "customers_new", "compliance_rate", "channel_maturity",
    "partner_mindshare", "net_profit",
})
LOWER_IS_BETTER = frozenset({
    "margin_lost_to_conflict", "customers_churned", "partners_exited", "partners_exited_choice",
    "partners_exited_terminated", "partners_exited_other", "partner_exit_risk", "leakage", "conflicts_horizontal",
    "conflicts_vertical", "conflicts_multichannel",
})


def name(kpi: str) -> str:
    """The KPI in words (``gross_profit`` -> ``gross profit``)."""
    return NAMES.get(kpi, kpi.replace("_", " "))


def unit(kpi: str) -> str:
    """The unit of a headline KPI (flows are totals over the run, so "per month" is dropped)."""
    if kpi == "net_profit":
        return "USD per year"
    return plots.kpi_unit(kpi.removesuffix("_end")).replace(" per month", "")


def _num(v: float, sign: bool) -> str:
    a = abs(v)
    text = f"{a:,.0f}" if a >= 100 else f"{a:.3g}"
    return ("+" if v > 0 else "-" if v < 0 else "") + text if sign else ("-" if v < 0 else "") + text


def _money(v: float, sign: bool) -> str:
    a = abs(v)
    for div, suffix in ((1e9, " bn"), (1e6, " M"), (1e3, " k")):
        if a >= div:
            text = f"{a / div:.3g}{suffix}"
            break
    else:
        text = f"{a:.0f}"
    pre = ("+" if v > 0 else "-" if v < 0 else "") if sign else ("-" if v < 0 else "")
    return pre + text


def quantity(kpi: str, v: float | None, *, change: bool = False, with_unit: bool = True) -> str:
    """A value (or, with ``change``, a signed difference) of ``kpi`` in words: ``18.8 M USD``, ``+1.2 pp``.

    Args:
        kpi: the headline KPI (its unit decides the form).
        v: the number (None or NaN gives ``n/a``).
        change: a difference: always signed, shares in percentage points.
        with_unit: append the unit.
    """
    if v is None or not math.isfinite(float(v)):
        return "n/a"
    v = float(v)
    u = unit(kpi)
    if u.startswith("USD") and u != "USD per USD":
        text = _money(v, change)
        tail = " USD" + (" per year" if u == "USD per year" else "")
        return text + tail if with_unit else text
    if u.startswith("share") and "per" not in u:
        pts = v * 100
        digits = 2 if change and 0 < abs(pts) < 1 else 1
        text = f"{pts:+.{digits}f}" if change else f"{pts:.1f}"
        return text + (" pp" if change else " %") if with_unit else text
    if u == "score 0-1":
        return f"{v:+.3f}" if change else f"{v:.3f}"
    if u == "USD per USD":
        return f"{v:+.2f}" if change else f"{v:.2f}"
    if u == "points":
        text = f"{v:+.1f}" if change else f"{v:.1f}"
        return text + " points" if with_unit else text
    text = _num(v, change)
    return f"{text} {u}" if with_unit and u not in ("value", "ratio") else text


def interval(kpi: str, low: float | None, high: float | None, *, change: bool = False) -> str:
    """``[low, high]`` in the KPI's form (without the unit, which the value before it carries)."""
    lo = quantity(kpi, low, change=change, with_unit=False)
    return f"[{lo}, {quantity(kpi, high, change=change, with_unit=False)}]"


def direction(kpi: str, diff: float) -> str:
    """``better``, ``worse`` or ``changed`` for a significant difference of ``kpi``."""
    if kpi in HIGHER_IS_BETTER:
        return "better" if diff > 0 else "worse"
    if kpi in LOWER_IS_BETTER:
        return "better" if diff < 0 else "worse"
    return "changed"


def join(items: Sequence[str], last: str = "and") -> str:
    """``a, b and c``."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {last} " + items[-1]


def ordered(kpis: Iterable[str]) -> list[str]:
    """The KPIs with those of :data:`TILE_KPIS` first, in its order, then the rest as given."""
    kpis = list(kpis)
    return [k for k in TILE_KPIS if k in kpis] + [k for k in kpis if k not in TILE_KPIS]


# ---------------------------------------------------------------------------
# Tiles


@dataclass(frozen=True)
class Tile:
    """One KPI tile: its label, value and, for a comparison, the change with its CI.

    Attributes:
        label: the KPI in words.
        value: the value (B's mean in a comparison).
        change: the signed change in words, or "".
        pct: the change in % of the reference, or "".
        ci: the 95 % CI in words (of the change, or of the value), or "".
        status: ``better``, ``worse``, ``changed`` (significant), ``flat`` (not significant) or ``level``
            (a value without a change).
        verdict: the status in words (the tile's colour never carries the meaning alone).
        key: the KPI column.
    """

    label: str
    value: str
    change: str
    pct: str
    ci: str
    status: str
    verdict: str
    key: str = ""


def level_tiles(kpis: Mapping[str, Mapping[str, Any]], n: int) -> list[Tile]:
    """Tiles of one run's headline levels (``summary.json``'s ``kpis``): value and its 95 % CI."""
    out = []
    for k in [k for k in TILE_KPIS if k in kpis]:
        v = kpis[k]
        ci = f"95 % CI {interval(k, v.get('ci_low'), v.get('ci_high'))}" if n >= 2 else "no CI: one replication"
        out.append(Tile(name(k), quantity(k, v.get("mean")), "", "", ci, "level",
                        f"mean of {n} replications" if n >= 2 else "one replication", k))
    return out


def change_tile(k: str, value: float, diff: float, pct: float, low: float, high: float, significant: bool,
                has_ci: bool, *, label: str | None = None, reference: str = "") -> Tile:
    """A tile of a change: value, signed change, its % and CI, and whether it is significant."""
    if not has_ci:
        status, verdict, ci = "flat", "no CI: one replication", ""
    else:
        ci = f"95 % CI {interval(k, low, high, change=True)}"
        if significant:
            status = direction(k, diff)
            up = "increase" if diff > 0 else "decrease"
            verdict = f"significant {up}" + ("" if status == "changed" else f": {status}")
        else:
            status, verdict = "flat", "no significant change"
    pct_text = f"{pct:+.1f} %" if pct is not None and math.isfinite(pct) else ""
    ref = f" vs {reference}" if reference else ""
    return Tile(label or name(k), quantity(k, value), quantity(k, diff, change=True) + ref, pct_text, ci, status,
                verdict, k)


def comparison_tiles(cmp: Any) -> list[Tile]:
    """Tiles of a :class:`experiments.replication.Comparison`: B's value, change vs A, %, CI, significance."""
    t = cmp.table
    return [change_tile(k, t.at[k, "b"], t.at[k, "diff"], t.at[k, "pct"], t.at[k, "ci_low"], t.at[k, "ci_high"],
                        bool(t.at[k, "significant"]), cmp.has_intervals)
            for k in TILE_KPIS if k in t.index]


# ---------------------------------------------------------------------------
# Summaries: lists of sentences (paragraphs), first what was run, then the result


def run_summary(summary: Mapping[str, Any]) -> list[str]:
    """The opening paragraphs of a run report, from its ``summary.json``."""
    n = int(summary.get("replications") or 0)
    kpis = summary.get("kpis", {})
    sets = summary.get("overrides") or []
    ran = (f"What was run: {summary.get('scenario')}, {n} replication{'s' if n != 1 else ''} of "
           f"{summary.get('months')} months after {summary.get('warmup_months')} warm-up months, seed "
           f"{summary.get('seed')}" + (f", with --set {', '.join(sets)}" if sets else "") + ".")
    parts = []
    for k in [k for k in TILE_KPIS if k in kpis]:
        v = kpis[k]
        ci = f" (95 % CI {interval(k, v.get('ci_low'), v.get('ci_high'))})" if n >= 2 else ""
        parts.append(f"{name(k)} {quantity(k, v.get('mean'))}{ci}")
    head = (f"Over the {summary.get('months')} reported months (totals of flows, monthly means of levels, mean "
            f"over replications): " if n >= 2 else
            f"Over the {summary.get('months')} reported months (totals of flows, monthly means of levels): ")
    out = [ran, head + "; ".join(parts) + "."]
    if n < 2:
        out.append("One replication: no confidence interval can be computed, and a single run's numbers include "
                   "its random noise; run with --replications 5 or more before drawing conclusions.")
    else:
        gp = kpis.get("gross_profit") or {}
        m, lo, hi = gp.get("mean"), gp.get("ci_low"), gp.get("ci_high")
        if m and lo is not None and hi is not None and math.isfinite(m) and m != 0:
            half = (hi - lo) / 2 / abs(m) * 100
            if half > 10:
                out.append(f"The intervals are wide: with {n} replications gross profit is known to within "
                           f"\u00b1{half:.0f} % of its mean; more replications narrow every interval "
                           "(roughly by the square root of their number).")
    return out


def comparison_summary(cmp: Any, *, run_a: Mapping[str, Any] | None = None,
                       run_b: Mapping[str, Any] | None = None, max_items: int = 8) -> list[str]:
    """The opening paragraphs of a comparison: what was compared, what changed and what did not.

    Args:
        cmp: the :class:`experiments.replication.Comparison` (B against A).
        run_a: A's ``summary.json`` (months, seed), if known.
        run_b: B's ``summary.json``, if known.
        max_items: the most significant changes spelled out (the rest are counted).
    """
    sa, sb = run_a or {}, run_b or {}
    t = cmp.table
    months = sa.get("months") if sa.get("months") == sb.get("months") else None
    ran = f"What was compared: {cmp.b} (B, the what-if) against {cmp.a} (A, the reference)"
    if cmp.n_a == cmp.n_b:
        ran += f", {cmp.n_a} replication{'s' if cmp.n_a != 1 else ''} each"
    else:
        ran += f", {cmp.n_b} and {cmp.n_a} replications"
    if months is not None:
        ran += f", {months} reported months after {sa.get('warmup_months')} warm-up months"
    if sa.get("seed") is not None and sa.get("seed") == sb.get("seed"):
        ran += f", seed {sa.get('seed')}"
    elif sa.get("seed") is not None or sb.get("seed") is not None:
        ran += f", seeds {sb.get('seed', '?')} (B) and {sa.get('seed', '?')} (A)"
    ran += f"; 95 % CIs: {cmp.method}."
    out = [ran]
    keys = ordered(t.index)

    def item(k: str) -> str:
        r = t.loc[k]
        pct = f"{r['pct']:+.1f} %, " if math.isfinite(r["pct"]) else ""
        if not cmp.has_intervals:
            return f"{name(k)} {quantity(k, r['diff'], change=True)}" + (f" ({pct[:-2]})" if pct else "")
        ci = f"95 % CI {interval(k, r['ci_low'], r['ci_high'], change=True)}"
        return f"{name(k)} {quantity(k, r['diff'], change=True)} ({pct}{ci})"

    if not cmp.has_intervals:
        out.append(f"{cmp.b} vs {cmp.a}: " + "; ".join(item(k) for k in keys if k in TILE_KPIS) + ".")
        out.append("One replication per run: no confidence interval can be computed, so none of these "
                   "differences can be told apart from noise; run both with --replications 5 or more and the "
                   "same --seed.")
        return out
    sig = [k for k in keys if bool(t.at[k, "significant"])]
    if sig:
        shown = sig[:max_items]
        more = len(sig) - len(shown)
        out.append(f"{cmp.b} vs {cmp.a}, significant changes (the 95 % CI excludes zero): "
                   + "; ".join(item(k) for k in shown)
                   + (f"; and {more} more in the table below." if more else "."))
    else:
        out.append(f"{cmp.b} vs {cmp.a}: no headline KPI changed significantly (every 95 % CI includes zero).")
    flat = [k for k in keys if not bool(t.at[k, "significant"])]
    flat_tiles = [k for k in flat if k in TILE_KPIS]
    if sig and flat:
        rest = len(flat) - len(flat_tiles)
        text = "No significant change in " + join([name(k) for k in flat_tiles]) if flat_tiles else \
            "No significant change in"
        if rest:
            text += (" or " if flat_tiles else " ") + f"{rest} other KPI{'s' if rest != 1 else ''}"
        out.append(text + ".")
    elif not sig:
        big = [k for k in flat_tiles if math.isfinite(t.at[k, "pct"])]
        if big:
            out.append("Largest (not significant) moves: " + "; ".join(item(k) for k in big[:3]) + ".")
    return out


def sweep_ranking(pm: Any, outcome: str, labels: Mapping[Any, str], replications: int,
                  top: int = 3) -> list[str]:
    """Sentences ranking a sweep's design points on ``outcome`` (point means with CIs).

    Args:
        pm: :func:`experiments.analysis.point_means` (``point, output, mean, ci_low, ci_high``).
        outcome: the output to rank on.
        labels: each point's label (``factor=value, ...``).
        replications: replications per point.
        top: how many of the best points are named.
    """
    g = pm[pm["output"] == outcome].sort_values("mean", ascending=outcome in LOWER_IS_BETTER)
    if g.empty:
        return []
    best_word = "lowest" if outcome in LOWER_IS_BETTER else "highest"
    has_ci = replications >= 2

    def pt(r: Any) -> str:
        ci = f" (95 % CI {interval(outcome, r['ci_low'], r['ci_high'])})" if has_ci else ""
        return f"{labels.get(r['point'], 'point ' + str(r['point']))}: {quantity(outcome, r['mean'])}{ci}"

    rows = [r for _, r in g.iterrows()]
    text = (f"Design points ranked on {name(outcome)} ({best_word} first, {unit(outcome)} over the reported "
            f"months): ")
    text += "; ".join(f"{i + 1}. {pt(r)}" for i, r in enumerate(rows[:top]))
    if len(rows) > top:
        text += f"; ... {len(rows)}. {pt(rows[-1])}"
    out = [text + "."]
    if len(rows) >= 2:
        b, s = rows[0], rows[1]
        w = rows[-1]
        spread = float(b["mean"] - w["mean"])
        rel = f" ({abs(spread) / abs(w['mean']) * 100:.0f} % of the last)" if w["mean"] else ""
        out[0] += (f" From first to last the design moves {name(outcome)} by "
                   f"{quantity(outcome, abs(spread))}{rel}.")
        if not has_ci:
            out.append("One replication per point: no intervals, so the ranking may be noise; use "
                       "replications of 5 or more to separate the points.")
        elif (s["ci_high"] < b["ci_low"]) if outcome not in LOWER_IS_BETTER else (s["ci_low"] > b["ci_high"]):
            out.append(f"The first point's interval lies clear of the second's: it is {best_word} on "
                       f"{name(outcome)} beyond the replication noise.")
        else:
            out.append(f"The first two points' intervals overlap: the sweep does not separate them on "
                       f"{name(outcome)} (more replications, or a paired comparison of the two with "
                       "channelsim compare, would).")
    return out


def optimise_summary(result: Any, info: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The opening paragraphs of an optimisation report and its warnings.

    Returns:
        ``(paragraphs, warnings)``: warnings say in words when the recommendation does not beat the
        current programme or a simple rule (equal split, split proportional to tier revenue) in validation.
    """
    a = result.allocation
    frame = result.allocation_frame()
    name_ = str(info.get("scenario_name") or info.get("scenario"))
    val = result.validation
    validated = getattr(result, "validated", True) and not val.empty
    n_val = int(result.validation_runs["rep"].nunique()) if validated and "rep" in result.validation_runs else 0
    ran = (f"What was run: the incentive budget of {name_} ({quantity('net_profit', a.budget)}, objective "
           f"{a.objective}) allocated over {len(frame)} cells ({', '.join(info.get('cells') or [])}) from response "
           + (f"curves estimated jointly (a balanced design of {info.get('design_points')} points over all cells x "
              f"{info.get('design_replications')} replications, {len(info.get('levels') or [])} spend levels a "
              f"cell), seed {info.get('seed')}; " if info.get("estimation") == "joint" else
              f"curves estimated at {len(info.get('levels') or [])} spend levels x {info.get('replications')} "
              f"replications, seed {info.get('seed')}; ")
           + (f"validated on {n_val} fresh replications." if validated else "not validated by simulation."))
    cur = frame["original_current"].fillna(0.0)
    moves = (frame["spend"] - cur).abs().sort_values(ascending=False)
    big = [f"{frame.at[i, 'tier']}/{frame.at[i, 'lever']} "
           + quantity("net_profit", frame.at[i, "spend"] - cur[i], change=True, with_unit=False)
           for i in moves.index[:3] if moves[i] > 0]
    rec = (f"Recommendation: spend {quantity('net_profit', a.total_spend)} on these cells (now "
           f"{quantity('net_profit', float(cur.sum()))})"
           + (f"; the largest moves: {join(big)} USD per year" if big else "")
           + f". The response curves expect a net uplift of {quantity('net_profit', a.expected_uplift)}.")
    out, warns = [ran, rec], []
    if not validated:
        warns.append("Not validated: the run was asked not to simulate the answer (--no-validate), so nothing here "
                     "shows that the recommendation beats the current programme or a simple rule; run without "
                     "--no-validate before acting on it.")
        return out, warns
    v = val.set_index("policy")
    if "optimised" in v.index:
        r = v.loc["optimised"]
        d, lo, hi = float(r["diff_vs_current"]), float(r["diff_ci_low"]), float(r["diff_ci_high"])
        ci = interval("net_profit", lo, hi, change=True)
        if lo > 0:
            out.append(f"In validation the optimised programme earns {quantity('net_profit', d, change=True)} net "
                       f"profit vs the current programme (95 % CI {ci}).")
        else:
            warns.append(f"The recommendation does not beat the current programme in validation: optimised - "
                         f"current = {quantity('net_profit', d, change=True)} net profit (95 % CI {ci}, which "
                         f"{'includes zero' if hi >= 0 else 'lies below zero'}); keep the current programme unless "
                         "a validation with more replications shows a gain.")
    rules = {"equal_split": "the equal split of the budget",
             "proportional_to_tier_revenue": "the split proportional to tier revenue"}
    for key, words in rules.items():
        if key not in v.index or "optimised_minus_policy" not in v.columns:
            continue
        r = v.loc[key]
        d, lo, hi = float(r["optimised_minus_policy"]), float(r["omp_ci_low"]), float(r["omp_ci_high"])
        ci = interval("net_profit", lo, hi, change=True)
        if lo > 0:
            out.append(f"It beats {words} by {quantity('net_profit', d, change=True)} (95 % CI {ci}).")
        elif hi < 0:
            warns.append(f"The recommendation does worse than {words} in validation: optimised - "
                         f"{key.replace('_', ' ')} = {quantity('net_profit', d, change=True)} net profit (95 % CI "
                         f"{ci}, below zero). Prefer the simple rule.")
        else:
            warns.append(f"The recommendation does not beat {words} in validation: optimised - "
                         f"{key.replace('_', ' ')} = {quantity('net_profit', d, change=True)} net profit, but the "
                         f"95 % CI {ci} includes zero, so the difference may be noise. The simple rule does as well "
                         "as far as the simulation can tell; prefer it unless the constraints require the optimised "
                         "allocation, or validate with more replications.")
    if "optimised_seed2" in v.index and "optimised_minus_policy" in v.columns:
        r = v.loc["optimised_seed2"]
        d, lo, hi = float(r["optimised_minus_policy"]), float(r["omp_ci_low"]), float(r["omp_ci_high"])
        ci = interval("net_profit", lo, hi, change=True)
        if lo > 0 or hi < 0:
            warns.append(f"The recommendation depends on the estimation seed: the programme estimated with an "
                         f"independent seed validates {quantity('net_profit', -d, change=True)} net profit against "
                         f"it (95 % CI of optimised - re-estimated {ci}); estimate with more replications or fewer "
                         "cells before acting on it.")
        else:
            out.append(f"Stability: the programme estimated again with an independent seed validates within the "
                       f"noise of this one (optimised - re-estimated {quantity('net_profit', d, change=True)}, "
                       f"95 % CI {ci}).")
    chosen = getattr(result, "recommended", "optimised")
    if chosen != "optimised" and chosen in v.index:
        r = v.loc[chosen]
        d, lo, hi = -float(r["optimised_minus_policy"]), -float(r["omp_ci_high"]), -float(r["omp_ci_low"])
        warns.insert(0, f"Recommended programme: {chosen.replace('_', ' ')}, not the optimised allocation: in "
                        f"validation it earns {quantity('net_profit', d, change=True)} more net profit (95 % CI "
                        f"{interval('net_profit', lo, hi, change=True)}); recommended.yaml holds it.")
    return out, warns


def frontier_sentence(frontier: Any) -> str:
    """One sentence on the budget frontier: the best validated budget and where more budget stops paying."""
    f = frontier[frontier["status"] != "infeasible"].sort_values("budget")
    if f.empty:
        return "No budget of the frontier could meet the constraints."
    best = f.loc[f["net_profit_diff"].idxmax()]
    ci = interval("net_profit", float(best["ci_low"]), float(best["ci_high"]), change=True)
    text = (f"Of {len(f)} budgets, {quantity('net_profit', float(best['budget']))} earns the most in validation: "
            f"{quantity('net_profit', float(best['net_profit_diff']), change=True)} net profit vs the current "
            f"programme (95 % CI {ci}).")
    if (f["budget"] > best["budget"]).any():
        text += (" Larger budgets earn less on average (compare their intervals before reading it as a real "
                 "fall): beyond it, more spend costs more than it returns.")
    infeasible = int((frontier["status"] == "infeasible").sum())
    if infeasible:
        text += f" {infeasible} budget(s) cannot meet the constraints."
    return text


def optimise_tiles(result: Any) -> list[Tile]:
    """Tiles of an optimisation: the optimised programme against the current one and each simple rule."""
    return [Tile(t.label, _per_year(t.value), _per_year(t.change), t.pct, t.ci, t.status, t.verdict, t.key)
            for t in _optimise_tiles(result)]


def _per_year(text: str) -> str:
    return text.replace(" USD per year", " USD/yr")


def _optimise_tiles(result: Any) -> list[Tile]:
    a = result.allocation
    val = result.validation
    tiles = [Tile("incentive spend of the cells", quantity("net_profit", a.total_spend), "", "", "",
                  "level", "optimised allocation", "total_spend"),
             Tile("expected net uplift (curves)", quantity("net_profit", a.expected_uplift, change=True), "", "",
                  "", "level", "predicted, not simulated", "expected_uplift")]
    if not (getattr(result, "validated", True) and not val.empty):
        return tiles
    v = val.set_index("policy")
    if "optimised" in v.index:
        r = v.loc["optimised"]
        cur = float(v.loc["current", "net_profit"]) if "current" in v.index else float("nan")
        d = float(r["diff_vs_current"])
        tiles.insert(0, change_tile("net_profit", float(r["net_profit"]), d, d / abs(cur) * 100 if cur else
                                    float("nan"), float(r["diff_ci_low"]), float(r["diff_ci_high"]),
                                    bool(r["diff_ci_low"] > 0 or r["diff_ci_high"] < 0), True,
                                    label="net profit, optimised", reference="current"))
    for key, words in (("equal_split", "equal split"), ("proportional_to_tier_revenue", "proportional split")):
        if key in v.index and "optimised_minus_policy" in v.columns:
            r = v.loc[key]
            d = float(r["optimised_minus_policy"])
            base = float(r["net_profit"])
            tiles.insert(len(tiles) - 2, change_tile(
                "net_profit", float(v.loc["optimised", "net_profit"]) if "optimised" in v.index else float("nan"),
                d, d / abs(base) * 100 if base else float("nan"), float(r["omp_ci_low"]), float(r["omp_ci_high"]),
                bool(r["omp_ci_low"] > 0 or r["omp_ci_high"] < 0), True, label=f"optimised vs {words}",
                reference=words))
    return tiles


__all__ = ["HIGHER_IS_BETTER", "LOWER_IS_BETTER", "NAMES", "TILE_KPIS", "Tile", "change_tile", "comparison_summary",
           "comparison_tiles", "direction", "interval", "join", "level_tiles", "name", "optimise_summary",
           "optimise_tiles", "ordered", "quantity", "run_summary", "sweep_ranking", "unit"]
