"""Self-contained HTML reports of a run, a comparison, a sweep and an optimisation.

Every page is built by one helper (:func:`page`: structure, style, figures as base64
PNG data URIs, no external resources) from data the lower layers return
(DataFrames, ``summary.json``, :func:`experiments.analysis.summarise`,
:class:`optimise.loop.OptimisationResult`) and from :mod:`channelsim.plots`.  Each
report says what was run, gives the headline numbers with their 95 % confidence
intervals and shows the plots, each with a one-sentence caption.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from . import plots
from .stats import mean_ci

_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.2em; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #eee; text-align: right; }
th { background: #f5f5f5; } th:first-child, td:first-child { text-align: left; }
dl { display: grid; grid-template-columns: minmax(8em, max-content) 1fr; column-gap: 1em; row-gap: 0.25em; }
dt { font-weight: 600; grid-column: 1; overflow-wrap: anywhere; } dd { grid-column: 2; margin: 0; }
figure { margin: 1em 0 1.6em; } img { max-width: 100%; }
figcaption { color: #444; font-size: 0.9em; margin-top: 0.3em; }
.note { color: #666; font-size: 0.85em; }
"""

#: What each figure shows, keyed by the figure's role; every report figure gets one of these sentences.
RUN_CAPTIONS = {
    "revenue": "Monthly vendor revenue by channel (partner, direct, digital): the line is the mean over "
               "replications and the shaded band its 95 % confidence interval.",
    "gross_profit": "Monthly gross profit (revenue less cost of goods, incentives and conflict costs): mean over "
                    "replications with its 95 % confidence band.",
    "sentiment": "Partner satisfaction (0-1) and partner Net Promoter Score (points) each month: mean over "
                 "replications with its 95 % confidence band.",
    "active_partners": "Number of active partners each month: mean over replications with its 95 % "
                       "confidence band.",
    "channel_mix": "Share of each month's revenue that came through each channel (mean revenue over "
                   "replications, then shares).",
    "tiers": "Share of active partners in each programme tier each month (mean over replications).",
    "migration": "How many partners moved from each tier (rows) to each tier (columns) during the reported "
                 "months, per run (mean over replications).",
    "conflicts_month": "Channel conflicts each month by type (horizontal: partner vs partner, vertical: partner vs "
                       "vendor's direct sales, multichannel: partner vs digital), mean over replications.",
    "conflicts_resolution": "Conflicts over the reported months by type, split by how they were resolved, per run "
                            "(mean over replications).",
    "lorenz": "Concentration of partner revenue: the cumulative share of revenue (y) earned by the lowest-earning "
              "share of partners (x), one curve per replication; the dashed diagonal is perfect equality.",
}


# ---------------------------------------------------------------------------
# The one HTML helper: page structure, tables, facts and embedded figures.


def fmt(x: Any) -> str:
    """A number formatted for tables (thousands separators, 3 significant digits for small values)."""
    if x is None:
        return "n/a"
    if isinstance(x, str):
        return x
    if isinstance(x, bool):
        return "yes" if x else "no"
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(v):
        return "n/a"
    if v != 0 and abs(v) < 10:
        return f"{v:.3g}"
    return f"{v:,.0f}"


def now() -> str:
    """The current UTC time, to the second (when a report was written)."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def figure(fig: Figure, caption: str) -> str:
    """A figure as an embedded PNG (``data:image/png;base64,``) with its one-sentence caption."""
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{plots.to_png_base64(fig)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def page(title: str, body: Sequence[str]) -> str:
    """A complete HTML page: no scripts, no external resources."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(b for b in body if b) + "\n</body></html>\n"
    )


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An HTML table; cells are formatted with :func:`fmt` and escaped."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def frame_table(df: pd.DataFrame | None, columns: Sequence[str] | None = None, max_rows: int = 500) -> str:
    """A DataFrame as an HTML table (the given columns that exist, at most ``max_rows`` rows)."""
    if df is None or df.empty:
        return '<p class="note">(none)</p>'
    cols = [c for c in (columns or list(df.columns)) if c in df.columns]
    rows = [[r[c] for c in cols] for _, r in df.head(max_rows).iterrows()]
    note = f'<p class="note">First {max_rows} of {len(df)} rows shown.</p>' if len(df) > max_rows else ""
    return table([str(c) for c in cols], rows) + note


def facts(items: Mapping[str, Any]) -> str:
    """A definition list of what was run."""
    rows = "".join(f"<dt>{html.escape(str(k))}</dt><dd>{html.escape(fmt(v) if not isinstance(v, str) else v)}</dd>"
                   for k, v in items.items())
    return f"<dl>{rows}</dl>"


def _p(text: str, cls: str = "") -> str:
    return f'<p class="{cls}">{html.escape(text)}</p>' if cls else f"<p>{html.escape(text)}</p>"


def _h2(text: str) -> str:
    return f"<h2>{html.escape(text)}</h2>"


def _kpi_label(name: str) -> str:
    """``name (unit)`` of a headline KPI: flows are totals over the run, ``*_end`` the last month's level."""
    base = name.removesuffix("_end")
    unit = plots.kpi_unit(base).replace(" per month", "")
    if unit == "value":
        return name
    return f"{name} ({unit}{', last month' if base != name else ''})"


def _tiers(kpis: pd.DataFrame) -> list[str]:
    return [c.removeprefix("partners_tier_") for c in plots.tier_columns(kpis)]


def _headline_rows(kpis: Mapping[str, Mapping[str, Any]]) -> list[list[Any]]:
    return [[_kpi_label(k), v.get("mean"), v.get("ci_low"), v.get("ci_high")] for k, v in kpis.items()]


_HEADLINE_NOTE = ("Totals over the reported months for flows (revenue, spend, conflicts, ...), monthly means for "
                  "levels (satisfaction, shares, ...); mean over replications with its 95 % confidence interval.")


# ---------------------------------------------------------------------------
# run


def run_figures(kpis: pd.DataFrame, partners: pd.DataFrame | None = None, conflicts: pd.DataFrame | None = None,
                migrations: pd.DataFrame | None = None, tiers: Sequence[str] | None = None,
                label: str = "") -> list[tuple[str, Figure, str]]:
    """The figures of one run: ``(title, figure, caption)`` for every frame given."""
    pre = f"{label}: " if label else ""
    figs: list[tuple[str, Figure, str]] = [
        ("Revenue by channel", plots.revenue_by_channel(kpis), RUN_CAPTIONS["revenue"]),
        ("Gross profit", plots.kpi_series(kpis, "gross_profit"), RUN_CAPTIONS["gross_profit"]),
        ("Partner satisfaction and NPS", plots.partner_sentiment(kpis), RUN_CAPTIONS["sentiment"]),
        ("Active partners", plots.kpi_series(kpis, "active_partners"), RUN_CAPTIONS["active_partners"]),
        ("Channel mix", plots.channel_mix(kpis), RUN_CAPTIONS["channel_mix"]),
        ("Tiers over time", plots.tier_distribution(kpis), RUN_CAPTIONS["tiers"]),
    ]
    if migrations is not None:
        figs.append(("Tier migrations", plots.tier_migration(migrations, list(tiers or _tiers(kpis)) or None),
                     RUN_CAPTIONS["migration"]))
    figs.append(("Conflicts by type", plots.conflicts_by_type(kpis), RUN_CAPTIONS["conflicts_month"]))
    if conflicts is not None:
        figs.append(("Conflicts by type and resolution", plots.conflicts_by_resolution(conflicts),
                     RUN_CAPTIONS["conflicts_resolution"]))
    if partners is not None:
        figs.append(("Partner revenue concentration (Lorenz curve)", plots.lorenz(partners), RUN_CAPTIONS["lorenz"]))
    return [(pre + t, f, c) for t, f, c in figs]


def run_report(kpis: pd.DataFrame, partners: pd.DataFrame, summary: Mapping[str, Any], *,
               conflicts: pd.DataFrame | None = None, migrations: pd.DataFrame | None = None,
               tiers: Sequence[str] | None = None) -> str:
    """The HTML report of one run (all replications).

    Args:
        kpis: monthly KPIs with a ``replication`` column (as in ``kpis.parquet``).
        partners: the partner panel (as in ``partners.parquet``).
        summary: the content of ``summary.json`` (what was run and the headline intervals).
        conflicts: the conflict log (``conflicts.parquet``): adds conflicts by type and resolution.
        migrations: the tier migrations (``migrations.parquet``): adds the tier-migration matrix.
        tiers: the tier order (default: the order of the ``partners_tier_*`` columns).

    Returns:
        A self-contained HTML page.
    """
    name = str(summary.get("scenario", "scenario"))
    what = {
        "scenario": name,
        "description": summary.get("description") or "-",
        "scenario file": summary.get("source", "-"),
        "overrides (--set)": ", ".join(summary.get("overrides") or []) or "none",
        "replications": summary.get("replications"),
        "seed": summary.get("seed"),
        "seeds": summary.get("seeds", "-"),
        "months reported": f"{summary.get('months')} (after {summary.get('warmup_months')} warm-up months)",
        "confidence intervals": summary.get("ci_method", "-"),
        "channelsim version": summary.get("package_version", "-"),
        "report written": now(),
    }
    body = [
        f"<h1>channelsim run: {html.escape(name)}</h1>",
        _h2("What was run"), facts(what),
        _h2("Headline KPIs"), _p(_HEADLINE_NOTE, "note"),
        table(["KPI (unit)", "mean", "95 % CI low", "95 % CI high"], _headline_rows(summary.get("kpis", {}))),
    ]
    for title, fig, caption in run_figures(kpis, partners, conflicts, migrations, tiers):
        body += [_h2(title), figure(fig, caption)]
    return page(f"channelsim: {name}", body)


# ---------------------------------------------------------------------------
# compare

#: KPI series drawn for both runs of a comparison on one axis.
COMPARE_SERIES = ("revenue_total", "gross_profit", "partner_nps", "partner_satisfaction", "active_partners")


def _as_frames(run: pd.DataFrame | Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {"kpis": run} if isinstance(run, pd.DataFrame) else dict(run)


def compare_report(table_: pd.DataFrame, info: Mapping[str, Any], run_a: pd.DataFrame | Mapping[str, pd.DataFrame],
                   run_b: pd.DataFrame | Mapping[str, pd.DataFrame]) -> str:
    """The HTML report of a comparison of two runs.

    Args:
        table_: one row per headline KPI (index) with ``a_mean, b_mean, diff, ci_low, ci_high``.
        info: what was compared (``A``, ``B``, ``interval``...), shown as given.
        run_a: run A: its monthly KPIs, or ``{"kpis": ..., "partners": ..., "conflicts": ..., "migrations": ...}``
            (the frames of a run folder; those given are plotted).
        run_b: run B, likewise.

    Returns:
        A self-contained HTML page.
    """
    a, b = _as_frames(run_a), _as_frames(run_b)
    rows = [[_kpi_label(str(k)), r["a_mean"], r["b_mean"], r["diff"], r["ci_low"], r["ci_high"]]
            for k, r in table_.iterrows()]
    body = [
        "<h1>channelsim comparison</h1>",
        _h2("What was compared"), facts({**info, "report written": now()}),
        _h2("Headline KPIs: B - A"), _p(_HEADLINE_NOTE.replace("mean over replications", "difference of means"),
                                        "note"),
        table(["KPI (unit)", "A mean", "B mean", "B - A", "95 % CI low", "95 % CI high"], rows),
        _h2("Relative differences"),
        figure(plots.compare_forest(table_), "Difference B - A of each headline KPI as a percentage of A, with its "
               "95 % confidence interval; an interval that crosses zero is not a clear difference."),
    ]
    both = {"A": a["kpis"], "B": b["kpis"]}
    for col in COMPARE_SERIES:
        if col in a["kpis"].columns and col in b["kpis"].columns:
            body += [_h2(f"{col.replace('_', ' ')}: A and B"),
                     figure(plots.kpi_series(both, col),
                            f"Monthly {col.replace('_', ' ')} of run A and run B: mean over each run's replications "
                            "with its 95 % confidence band.")]
    for label, run in (("A", a), ("B", b)):
        for title, fig, caption in run_figures(run["kpis"], run.get("partners"), run.get("conflicts"),
                                               run.get("migrations"), label=label):
            if title.endswith(("Revenue by channel", "Gross profit", "Active partners", "NPS")):
                continue  # drawn above for both runs on one axis
            body += [_h2(title), figure(fig, f"Run {label}. {caption}")]
    return page("channelsim comparison", body)


# ---------------------------------------------------------------------------
# sweep


def _factor_text(f: Any) -> str:
    if getattr(f, "levels", None) is not None:
        return "levels " + ", ".join(str(v) for v in f.levels)
    scale = " (log scale)" if getattr(f, "scale", "linear") == "log" else ""
    return f"range {fmt(f.low)} .. {fmt(f.high)}{scale}" + (" (integers)" if getattr(f, "integer", False) else "")


def _point_label(row: pd.Series, factors: Sequence[str]) -> str:
    return ", ".join(f"{f.rsplit('.', 1)[-1]}={fmt(row[f]) if not isinstance(row[f], str) else row[f]}"
                     for f in factors)


#: Design points up to which the report draws each point's mean with its CI.
MAX_POINT_BARS = 24


def sweep_report(summary: Mapping[str, Any]) -> str:
    """The HTML report of a stored experiment.

    Args:
        summary: :func:`experiments.analysis.summarise` of the experiment's folder (``experiment``, ``manifest``,
            ``results``, ``outputs``, ``point_means``, ``main_effects``, ``sobol``, ``morris``, ``indices_error``).

    Returns:
        A self-contained HTML page.
    """
    exp, man, df = summary["experiment"], summary["manifest"], summary["results"]
    outputs: list[str] = list(summary["outputs"])
    n_ok = int((df["status"] == "ok").sum()) if len(df) else 0
    n_failed = int((df["status"] != "ok").sum()) if len(df) else 0
    design = exp.design
    design_text = design.kind + (f", n = {design.n}" if design.n is not None else "")
    overrides = ", ".join(f"{k}={v}" for k, v in exp.overrides.items()) or "none"
    streams = ("common random numbers: replication r uses the same stream at every design point"
               if exp.streams == "common" else "independent: every run has its own stream")
    what = {
        "experiment": exp.name,
        "description": exp.description or "-",
        "base scenario": f"{exp.base} (overrides: {overrides})",
        "design": f"{design_text}: {man.get('n_points')} design points x {exp.replications} replications",
        "runs": f"{len(df)} of {man.get('n_runs')} stored: {n_ok} ok, {n_failed} failed",
        "seed": f"{exp.seed}; {streams}",
        "outputs": ", ".join(outputs) or "(none)",
        "channelsim version": str(man.get("package_version", "-")),
        "started / finished": f"{man.get('started')} / {man.get('finished') or 'not finished'}",
        "experiment file": str(man.get("experiment_file", "-")),
        "report written": now(),
    }
    body = [f"<h1>channelsim sweep: {html.escape(exp.name)}</h1>", _h2("What was run"), facts(what)]
    body += [_h2("Factors"), table(["scenario path", "values"], [[f.path, _factor_text(f)] for f in exp.factors])
             if exp.factors else _p("none: every design point is the base scenario", "note")]
    if len(df) < (man.get("n_runs") or 0):
        body.append(_p("The sweep is incomplete: run the same channelsim sweep command again to finish it.", "note"))

    pm = summary["point_means"]
    if not pm.empty:
        body += [_h2("Headline outputs over all runs"),
                 _p("Mean of each output over every successful run (all design points pooled) with its 95 % "
                    "confidence interval; flows are totals over a run's reported months, levels monthly means.",
                    "note")]
        ok = df[df["status"] == "ok"]
        rows = []
        for out in outputs:
            iv = mean_ci(ok[out].to_numpy(dtype=float))
            rows.append([_kpi_label(out), iv.mean, iv.low, iv.high, iv.n])
        body.append(table(["output (unit)", "mean", "95 % CI low", "95 % CI high", "runs"], rows))
        factors = exp.factor_names
        points = pm.drop_duplicates("point").set_index("point")
        if 1 < len(points) <= MAX_POINT_BARS:
            for out in outputs:
                t = pm[pm["output"] == out].set_index("point")
                t.index = [_point_label(points.loc[p], factors) or f"point {p}" for p in t.index]
                unit = plots.kpi_unit(out).replace(" per month", "")
                body += [_h2(f"{out.replace('_', ' ')} by design point"),
                         figure(plots.ci_bars(t[["mean", "ci_low", "ci_high"]], ylabel=f"{out} ({unit})",
                                              title=f"{out.replace('_', ' ')} by design point (mean, 95 % CI)"),
                                f"Mean {out.replace('_', ' ')} at each design point over its replications, with "
                                "its 95 % confidence interval.")]
        wide = pm.pivot(index="point", columns="output", values=["mean", "ci_low", "ci_high"])
        wide.columns = [f"{o} {stat}" for stat, o in wide.columns]
        order = [f"{o} {stat}" for o in outputs for stat in ("mean", "ci_low", "ci_high")]
        wide = points[factors].join(wide[[c for c in order if c in wide.columns]]).reset_index()
        body += [_h2("Means per design point (95 % CI)"), frame_table(wide)]
        if exp.replications < 2:
            body.append(_p("One replication per design point: the per-point intervals cannot be computed (n/a); "
                           "the sensitivity indices and main effects pool the design points instead.", "note"))

    me = summary["main_effects"]
    if not me.empty:
        body.append(_h2("Main effects"))
        for out in outputs:
            body.append(figure(plots.main_effects_chart(me, out),
                               f"Mean {out.replace('_', ' ')} at each level of each factor, averaged over the other "
                               "factors, with its 95 % confidence interval: a steep line is a factor that matters."))
    if summary.get("sobol") is not None:
        ix = summary["sobol"]
        body += [_h2("Sobol sensitivity indices"),
                 figure(plots.sobol_chart(ix),
                        "Share of each output's variance explained by each factor alone (S1) and including its "
                        "interactions (ST), with 95 % bootstrap confidence intervals (SALib)."),
                 frame_table(ix)]
    if summary.get("morris") is not None:
        ix = summary["morris"]
        body += [_h2("Morris elementary effects"),
                 figure(plots.morris_chart(ix),
                        "Morris screening: mean absolute effect of moving each factor across its range (mu*, with "
                        "its 95 % confidence interval) against the spread of that effect (sigma, non-linearity or "
                        "interactions)."),
                 frame_table(ix)]
    if summary.get("indices_error"):
        body.append(_p(f"Sensitivity indices not computed: {summary['indices_error']}", "note"))
    if n_failed:
        bad = df[df["status"] != "ok"][["point", "replication", "error"]].copy()
        bad["error"] = bad["error"].fillna("").map(lambda e: e.strip().splitlines()[-1] if e.strip() else "")
        body += [_h2("Failed runs"), frame_table(bad, max_rows=200),
                 _p("Full tracebacks: channelsim results DIR --status failed --format csv; re-run them with "
                    "--retry-failed.", "note")]
    return page(f"channelsim sweep: {exp.name}", body)



# ---------------------------------------------------------------------------
# optimise


def optimise_report(result: Any, info: Mapping[str, Any]) -> str:
    """The HTML report of an optimisation.

    Args:
        result: the :class:`optimise.loop.OptimisationResult`.
        info: what was asked (``scenario``, ``scenario_name``, ``cells``, ``levels``, ``replications``, ``seed``,
            ``channelsim``, ``date``), as written to ``summary.json``.

    Returns:
        A self-contained HTML page.
    """
    a = result.allocation
    frame = result.allocation_frame()
    val = result.validation
    n_val = int(result.validation_runs["rep"].nunique()) if "rep" in result.validation_runs.columns else None
    name = str(info.get("scenario_name") or info.get("scenario"))
    what = {
        "scenario": f"{name} ({info.get('scenario')})",
        "description": result.scenario.description or "-",
        "months reported": f"{result.scenario.time.months} (after {result.scenario.time.warmup_months} warm-up "
                           "months)",
        "cells (tier:lever)": ", ".join(info.get("cells") or []),
        "spend levels (x current rate)": ", ".join(fmt(x) for x in info.get("levels") or []),
        "replications per level": info.get("replications"),
        "validation replications": n_val if n_val is not None else "-",
        "seed": f"{info.get('seed')} (estimation and validation use different streams under it)",
        "objective": a.objective,
        "budget (USD per year)": a.budget,
        "trust-region rounds": len(result.rounds),
        "channelsim version": str(info.get("channelsim", "-")),
        "date": str(info.get("date") or now()),
        "run time (s)": result.seconds,
    }
    headline = {
        "total spend of the cells (USD per year)": a.total_spend,
        "expected net uplift from the curves (USD per year)": a.expected_uplift,
        "programme ROI of the cells": a.roi,
        "marginal ROI of the budget (left / right)": f"{fmt(a.marginal_roi_left)} / {fmt(a.marginal_roi_right)}",
        "budget shadow price (d objective / d budget)": a.budget_dual,
        "a round beat the current programme in validation": (result.accepted_any if getattr(result, "validated", True)
                                                              else "not validated (--no-validate)"),
        "response curves": ("estimated in this run" if getattr(result, "curves_source", "estimated") == "estimated"
                            else f"stored, from {info.get('curves_from')} (no estimation simulation)"),
    }
    if a.cvar is not None:
        headline["CVaR of scenario profits"] = a.cvar
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in (*result.notes, *a.notes))
    alloc = frame.assign(current=frame["original_current"])
    validated = getattr(result, "validated", True) and not val.empty
    if validated:
        v = val[val["policy"] != "current"].set_index("policy")
        diffs = pd.DataFrame({"mean": v["diff_vs_current"], "ci_low": v["diff_ci_low"],
                              "ci_high": v["diff_ci_high"]}) / 1e3
    shapes = result.response.shapes
    s_bad = shapes[~shapes["concave"]]
    shape_text = ("All estimated curves are concave." if s_bad.empty else
                  f"{len(s_bad)} of {len(shapes)} cells have non-concave estimates; the concave envelope overstates "
                  "them by the amounts below (significant = more than 1.96 standard errors).")
    binding = pd.DataFrame([{"group": b.group, "statement": b.statement, "dual (d obj / d rhs)": b.dual,
                             "value of relaxing one unit": b.relax_value} for b in a.binding])
    body = [
        f"<h1>channelsim optimise: {html.escape(name)}</h1>",
        _h2("What was run"), facts(what),
        _h2("Headline numbers"), facts(headline),
        f"<ul>{notes}</ul>" if notes else "",
        _h2("Validation on fresh seeds"),
        *([_p("Net profit per year of each policy simulated on the same fresh seeds (common random numbers); "
              "differences are paired per replication, with 95 % confidence intervals.", "note"),
           frame_table(val, ["policy", "net_profit", "ci_low", "ci_high", "diff_vs_current", "diff_ci_low",
                             "diff_ci_high", "optimised_minus_policy", "omp_ci_low", "omp_ci_high"]),
           figure(plots.ci_bars(diffs, ylabel="net profit vs current (USD thousand per year)",
                                title="Net profit vs current (paired, 95 % CI)"),
                  "Gain in net profit per year of each policy over the current programme on fresh seeds, with its "
                  "paired 95 % confidence interval; a bar whose interval excludes zero is a real difference.")]
          if validated else
          [_p("Not validated: the run was asked not to simulate the answer (--no-validate). The figures below are "
              "what the response curves predict, not what the simulator realised.", "note")]),
        _h2("Allocation"),
        figure(plots.allocation_spend(alloc),
               "Spend per year on each tier and lever: the current programme (grey) and the optimised "
               "allocation (green)."),
        frame_table(frame, ["tier", "lever", "spend", "share", "marginal_roi", "marginal_roi_right",
                            "original_current", "setting_path", "setting"]),
        _h2("Response curves"),
        figure(plots.response_curves(result.response.points, frame),
               "Estimated gain in gross profit (before the cell's own cost) at each simulated spend level of each "
               "cell with its 95 % confidence interval, the concave fit the optimiser used and the concave envelope, "
               "and the spend where "
               "the curves were estimated (grey) and the optimised spend (green)."),
        _p(shape_text),
        frame_table(shapes, ["cell", "shape", "concave", "overstatement", "overstatement_share_of_range",
                             "overstatement_se", "significant"]),
        _h2("Rounds"),
        frame_table(result.rounds, ["round", "radius", "predicted_uplift", "realised_uplift", "realised_ci_low",
                                    "realised_ci_high", "accepted", "max_move", "total_spend"]),
        _h2("Binding constraints and shadow prices"),
        frame_table(binding) if not binding.empty else _p("none"),
    ]
    return page(f"channelsim optimise: {name}", body)


__all__ = ["compare_report", "facts", "figure", "fmt", "frame_table", "optimise_report", "page", "run_figures",
           "run_report", "sweep_report", "table"]
