"""Self-contained HTML reports of a run, a comparison, a sweep and an optimisation.

Every page is built by one helper (:func:`page`: structure, style, figures as base64
PNG data URIs, no scripts, no external resources) from data the lower layers return
(DataFrames, ``summary.json``, :class:`experiments.replication.Comparison`,
:func:`experiments.analysis.summarise`, :class:`optimise.loop.OptimisationResult`) and
from :mod:`channelsim.plots`.  Each report opens with the answer: a short written summary
generated from the numbers (:mod:`channelsim.narrative`: what was run, what changed and by
how much with its 95 % confidence interval, what did not change significantly, and
warnings in words), then KPI tiles (value, change, %, CI; green or red with the words
"better" / "worse" when the interval excludes zero, grey otherwise), then what was run in
full, the tables and the plots, each with a one-sentence caption.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from . import narrative, plots
from .narrative import Tile
from .stats import mean_ci, monthly_diff_band

_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.6em; overflow-wrap: anywhere; }
h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ddd; overflow-wrap: anywhere; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1.2em; }
th, td { padding: 0.25em 0.55em; border-bottom: 1px solid #eee; text-align: right; }
th { overflow-wrap: break-word; vertical-align: bottom; }
td { white-space: nowrap; } td:first-child { white-space: normal; min-width: 8em; }
th { background: #f5f5f5; } th:first-child, td:first-child { text-align: left; }
.wide { max-width: 100%; overflow-x: auto; }
dl { margin: 0.5em 0 1em; }
dl > div { display: grid; grid-template-columns: minmax(7em, 14em) minmax(0, 1fr); column-gap: 1em;
           padding: 0.15em 0; border-bottom: 1px solid #f3f3f3; }
dt { font-weight: 600; overflow-wrap: anywhere; } dd { margin: 0; overflow-wrap: anywhere; min-width: 0; }
@media (max-width: 560px) { dl > div { grid-template-columns: minmax(0, 1fr); } }
figure { margin: 1em 0 1.6em; } img { max-width: 100%; height: auto; }
figcaption { color: #444; font-size: 0.9em; margin-top: 0.3em; }
.note { color: #666; font-size: 0.85em; }
.summary { background: #f7f9fc; border-left: 4px solid #1f77b4; padding: 0.2em 1em 0.4em; margin: 1em 0; }
.summary h2 { margin-top: 0.5em; border: none; }
.summary p { margin: 0.45em 0; overflow-wrap: anywhere; }
.summary p.warn { background: #fff4e5; border-left: 4px solid #e67e00; padding: 0.4em 0.8em; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(14em, 1fr)); gap: 0.7em;
         margin: 1em 0 1.4em; }
.tile { border: 1px solid #ddd; border-left-width: 6px; border-radius: 4px; padding: 0.5em 0.7em; min-width: 0;
        background: #fafafa; overflow-wrap: anywhere; }
.tile .label { font-size: 0.85em; color: #444; } .tile .value { font-size: 1.3em; font-weight: 650; }
.tile .change { font-weight: 600; } .tile .ci, .tile .verdict { font-size: 0.82em; }
.tile.better { border-color: #2e7d32; background: #eef7ee; } .tile.better .verdict { color: #1b5e20; }
.tile.worse { border-color: #c62828; background: #fcefef; } .tile.worse .verdict { color: #b71c1c; }
.tile.changed { border-color: #1f5fa8; background: #eef3fa; } .tile.changed .verdict { color: #174a84; }
.tile.flat, .tile.level { border-color: #bbb; } .tile.flat .verdict, .tile.level .verdict { color: #666; }
td.sig-better { color: #1b5e20; font-weight: 600; } td.sig-worse { color: #b71c1c; font-weight: 600; }
td.sig-changed { color: #174a84; font-weight: 600; } td.text { text-align: left; white-space: normal; }
td.ci, td.sig-better, td.sig-worse, td.sig-changed { white-space: normal; }
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
# The one HTML helper: page structure, summary, tiles, tables, facts and embedded figures.


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
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(b for b in body if b) + "\n</body></html>\n"
    )


class Cell(str):
    """A table cell's text with a CSS class (e.g. the significance of a difference)."""

    css: str = ""

    def __new__(cls, text: str, css: str = "") -> Cell:
        obj = super().__new__(cls, text)
        obj.css = css
        return obj


def _td(c: Any) -> str:
    if isinstance(c, Cell) and c.css:
        text = html.escape(str(c))
        if "kpi" in c.css.split():  # a column name may break after its underscores
            text = text.replace("_", "_<wbr>")
        return f'<td class="{html.escape(c.css)}">{text}</td>'
    return f"<td>{html.escape(fmt(c))}</td>"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], cls: str = "") -> str:
    """An HTML table in a horizontally scrolling wrapper; cells are formatted with :func:`fmt` and escaped."""
    head = "".join(f"<th>{html.escape(str(h)).replace('_', '_<wbr>')}</th>" for h in header)
    body = "".join("<tr>" + "".join(_td(c) for c in r) + "</tr>" for r in rows)
    klass = f' class="{html.escape(cls)}"' if cls else ""
    return f'<div class="wide"><table{klass}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def frame_table(df: pd.DataFrame | None, columns: Sequence[str] | None = None, max_rows: int = 500) -> str:
    """A DataFrame as an HTML table (the given columns that exist, at most ``max_rows`` rows)."""
    if df is None or df.empty:
        return '<p class="note">(none)</p>'
    cols = [c for c in (columns or list(df.columns)) if c in df.columns]
    rows = [[r[c] for c in cols] for _, r in df.head(max_rows).iterrows()]
    note = f'<p class="note">First {max_rows} of {len(df)} rows shown.</p>' if len(df) > max_rows else ""
    return table([str(c) for c in cols], rows) + note


def facts(items: Mapping[str, Any]) -> str:
    """A definition list of what was run: each term and its value in one row, so they stay paired when text wraps."""
    rows = "".join(f"<div><dt>{html.escape(str(k))}</dt><dd>{html.escape(fmt(v) if not isinstance(v, str) else v)}"
                   "</dd></div>" for k, v in items.items())
    return f"<dl>{rows}</dl>"


def _sentence(text: str) -> str:
    """``text`` with a capital first letter and a full stop."""
    text = text.strip()
    return (text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")) if text else text


def summary_section(paragraphs: Sequence[str], warnings: Sequence[str] = (), *, warnings_first: bool = True) -> str:
    """The written summary a report opens with: the paragraphs and the warnings, each in words.

    Args:
        paragraphs: the sentences, a paragraph each.
        warnings: what the reader must know before acting on the result (highlighted).
        warnings_first: put the warnings before the paragraphs (a comparison that might mislead), or after
            them (a result that needs its context first).
    """
    warn = "".join(f'<p class="warn"><strong>Warning:</strong> {html.escape(_sentence(w))}</p>' for w in warnings)
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    inner = warn + body if warnings_first else body + warn
    return f'<section class="summary" aria-label="Summary"><h2>Summary</h2>{inner}</section>'


def tiles(items: Sequence[Tile]) -> str:
    """KPI tiles: label, value, change, %, CI and the verdict in words (the colour only repeats it)."""
    out = []
    for t in items:
        change = " ".join(x for x in (t.change, f"({t.pct})" if t.pct else "") if x)
        parts = [f'<div class="label">{html.escape(t.label)}</div>',
                 f'<div class="value">{html.escape(t.value)}</div>']
        if change:
            parts.append(f'<div class="change">{html.escape(change)}</div>')
        if t.ci:
            parts.append(f'<div class="ci">{html.escape(t.ci)}</div>')
        parts.append(f'<div class="verdict">{html.escape(t.verdict)}</div>')
        out.append(f'<div class="tile {t.status}" data-kpi="{html.escape(t.key)}">{"".join(parts)}</div>')
    return f'<div class="tiles" aria-label="Headline KPIs">{"".join(out)}</div>' if out else ""


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

    It opens with a written summary (what was run; the headline levels with their 95 % CIs) and
    KPI tiles, then what was run in full, every headline KPI and the plots.

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
    n = int(summary.get("replications") or 0)
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
        summary_section(narrative.run_summary(summary)),
        tiles(narrative.level_tiles(summary.get("kpis", {}), n)),
        _h2("What was run"), facts(what),
        _h2("Headline KPIs"), _p(_HEADLINE_NOTE, "note"),
        table(["KPI (unit)", "mean", "95 % CI low", "95 % CI high"], _headline_rows(summary.get("kpis", {})),
              cls="kpis"),
    ]
    for title, fig, caption in run_figures(kpis, partners, conflicts, migrations, tiers):
        body += [_h2(title), figure(fig, caption)]
    return page(f"channelsim: {name}", body)


# ---------------------------------------------------------------------------
# compare

#: KPI series drawn for both runs of a comparison, with their difference over time.
COMPARE_SERIES = ("gross_profit", "revenue_total", "partner_nps", "partner_satisfaction", "active_partners")


def _as_frames(run: pd.DataFrame | Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {"kpis": run} if isinstance(run, pd.DataFrame) else dict(run)


def short_value(kpi: str, v: Any, *, change: bool = False) -> str:
    """A headline KPI's value for a table whose first column carries the unit: ``18.8 M``, ``55.6 %``, ``-5.0``."""
    shares = narrative.unit(kpi).startswith("share") and "per" not in narrative.unit(kpi)
    return narrative.quantity(kpi, v, change=change, with_unit=shares)


def _sig_cell(cmp: Any, k: str) -> Cell:
    if not cmp.has_intervals:
        return Cell("n/a")
    r = cmp.table.loc[k]
    if not bool(r["significant"]):
        return Cell("no")
    d = narrative.direction(str(k), float(r["diff"]))
    arrow = "up" if r["diff"] > 0 else "down"
    return Cell(f"yes, {arrow}" + ("" if d == "changed" else f" ({d})"), f"sig-{d}")


def compare_report(cmp: Any, info: Mapping[str, Any], run_a: pd.DataFrame | Mapping[str, pd.DataFrame],
                   run_b: pd.DataFrame | Mapping[str, pd.DataFrame], *, summary_a: Mapping[str, Any] | None = None,
                   summary_b: Mapping[str, Any] | None = None) -> str:
    """The HTML report of a comparison of two runs, B (the what-if) against A (the reference).

    It opens with a written summary (what was compared; which KPIs changed significantly, by how
    much, in % and with the 95 % CI; which did not) and KPI tiles; legends name the scenarios; the
    difference B - A of the headline series is drawn over time with its (paired) 95 % band.

    Args:
        cmp: the :class:`experiments.replication.Comparison` (labels ``a`` and ``b`` name the runs).
        info: what was compared (runs, interval method...), shown as given.
        run_a: run A: its monthly KPIs, or ``{"kpis": ..., "partners": ..., "conflicts": ..., "migrations": ...}``
            (the frames of a run folder; those given are plotted).
        run_b: run B, likewise.
        summary_a: A's ``summary.json`` (months and seed in the summary), if known.
        summary_b: B's ``summary.json``, if known.

    Returns:
        A self-contained HTML page.
    """
    a, b = _as_frames(run_a), _as_frames(run_b)
    na, nb = cmp.a, cmp.b
    t = cmp.table
    ci = cmp.has_intervals
    rows = [[Cell(_kpi_label(str(k)), "kpi"), short_value(str(k), r["a"]), short_value(str(k), r["b"]),
             short_value(str(k), r["diff"], change=True),
             f"{r['pct']:+.1f} %" if math.isfinite(r["pct"]) else "n/a",
             Cell(narrative.interval(str(k), r["ci_low"], r["ci_high"], change=True) if ci else "n/a", "ci"),
             _sig_cell(cmp, k)]
            for k, r in t.loc[narrative.ordered(t.index)].iterrows()]
    body = [
        f"<h1>channelsim comparison: {html.escape(nb)} vs {html.escape(na)}</h1>",
        summary_section(narrative.comparison_summary(cmp, run_a=summary_a, run_b=summary_b), cmp.warnings),
        tiles(narrative.comparison_tiles(cmp)),
        _h2("What was compared"), facts({**info, "report written": now()}),
        _h2(f"Headline KPIs: {nb} - {na}"),
        _p(_HEADLINE_NOTE.replace("mean over replications", "difference of means") + " Significant: the 95 % CI "
           "of the difference excludes zero.", "note"),
        table(["KPI (unit)", f"A: {na}", f"B: {nb}", "B - A", "% of A", "95 % CI of B - A", "significant"], rows,
              cls="kpis"),
        _p("Money in USD (k thousand, M million); shares in %, their differences in percentage points (pp). "
           "Exact values: compare.json.", "note"),
        _h2("Relative differences"),
        figure(plots.compare_forest(t.loc[narrative.ordered(t.index)], na, nb),
               f"Difference {nb} - {na} of each headline KPI as a percentage of "
               f"{na}, with its 95 % confidence interval; KPIs whose interval excludes zero are in colour and "
               "marked significant."),
    ]
    both = {na: a["kpis"], nb: b["kpis"]}
    how = "paired per replication (common random numbers)" if cmp.paired else "Welch (unpaired)"
    for col in COMPARE_SERIES:
        if col not in a["kpis"].columns or col not in b["kpis"].columns:
            continue
        words = col.replace("_", " ")
        head = col if col in t.index else ("active_partners_end" if col == "active_partners" else col)
        mark = ""
        if head in t.index and ci:
            mark = " (significant change)" if bool(t.at[head, "significant"]) else " (no significant change)"
        band = monthly_diff_band(a["kpis"], b["kpis"], col, paired=cmp.paired)
        body += [_h2(f"{words}: {nb} vs {na}{mark}"),
                 figure(plots.difference_series(band, col, a=na, b=nb, paired=cmp.paired),
                        f"Monthly difference {nb} - {na} in {words}, {how}, with its 95 % confidence band; where "
                        "the band excludes the zero line the months differ beyond the replication noise."),
                 figure(plots.kpi_series(both, col),
                        f"Monthly {words} of {nb} and {na}: mean over each run's replications with its 95 % "
                        "confidence band.")]
    for label, run in ((na, a), (nb, b)):
        for title, fig, caption in run_figures(run["kpis"], run.get("partners"), run.get("conflicts"),
                                               run.get("migrations"), label=label):
            if title.endswith(("Revenue by channel", "Gross profit", "Active partners", "NPS")):
                continue  # drawn above for both runs on one axis
            body += [_h2(title), figure(fig, f"{label}. {caption}")]
    return page(f"channelsim comparison: {nb} vs {na}", body)


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
#: Design points listed in the ranking table.
MAX_RANKED = 15


def rank_outcome(outputs: Sequence[str], chosen: str | None = None) -> str | None:
    """The output a sweep report ranks its design points on: ``chosen``, else gross profit, else the first."""
    if chosen:
        return chosen
    if "gross_profit" in outputs:
        return "gross_profit"
    return outputs[0] if outputs else None


def sweep_report(summary: Mapping[str, Any], rank_on: str | None = None) -> str:
    """The HTML report of a stored experiment.

    It opens with a written summary that ranks the design points on one outcome (``rank_on``, by
    default gross profit when it is an output, else the first output) with their 95 % CIs and says
    whether the best is separated from the second.

    Args:
        summary: :func:`experiments.analysis.summarise` of the experiment's folder (``experiment``, ``manifest``,
            ``results``, ``outputs``, ``point_means``, ``main_effects``, ``sobol``, ``morris``, ``indices_error``).
        rank_on: the output to rank the design points on.

    Raises:
        ValueError: ``rank_on`` is not one of the experiment's outputs.

    Returns:
        A self-contained HTML page.
    """
    exp, man, df = summary["experiment"], summary["manifest"], summary["results"]
    outputs: list[str] = list(summary["outputs"])
    if rank_on is not None and rank_on not in outputs:
        raise ValueError(f"--rank-on {rank_on!r}: not an output of experiment {exp.name!r}; allowed: "
                         + (", ".join(outputs) or "(no outputs)"))
    outcome = rank_outcome(outputs, rank_on)
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
    pm = summary["point_means"]
    factors = exp.factor_names
    points = pm.drop_duplicates("point").set_index("point") if not pm.empty else pd.DataFrame()
    labels = {p: _point_label(points.loc[p], factors) or f"point {p}" for p in points.index}
    ran = (f"What was run: experiment {exp.name} on {exp.base}: {design_text}, {man.get('n_points')} design points x "
           f"{exp.replications} replication{'s' if exp.replications != 1 else ''}; {len(df)} of {man.get('n_runs')} "
           f"runs stored ({n_ok} ok, {n_failed} failed); seed {exp.seed}"
           + (", common random numbers across points." if exp.streams == "common" else ", independent streams."))
    paragraphs = [ran]
    warns = []
    if outcome is not None and not pm.empty:
        paragraphs += narrative.sweep_ranking(pm, outcome, labels, exp.replications)
    if len(df) < (man.get("n_runs") or 0):
        warns.append("The sweep is incomplete: the ranking covers the runs stored so far; run the same channelsim "
                     "sweep command again to finish it.")
    if n_failed:
        warns.append(f"{n_failed} run{'s' if n_failed != 1 else ''} failed (listed at the end); their design points "
                     "are ranked on the remaining replications.")
    body = [f"<h1>channelsim sweep: {html.escape(exp.name)}</h1>", summary_section(paragraphs, warns)]
    if outcome is not None and not pm.empty:
        g = pm[pm["output"] == outcome].sort_values("mean", ascending=outcome in narrative.LOWER_IS_BETTER)
        best = [Tile(f"#{i + 1}: {labels.get(r['point'], r['point'])}", narrative.quantity(outcome, r["mean"]), "",
                     "", f"95 % CI {narrative.interval(outcome, r['ci_low'], r['ci_high'])}"
                     if exp.replications >= 2 else "no CI: one replication", "level",
                     f"{narrative.name(outcome)}, mean of {int(r['n'])} run{'s' if int(r['n']) != 1 else ''}",
                     str(r["point"])) for i, (_, r) in enumerate(g.head(4).iterrows())]
        body.append(tiles(best))
        ranked = [[i + 1, Cell(str(labels.get(r["point"], r["point"])), "text"), r["mean"], r["ci_low"], r["ci_high"],
                   r["n"]]
                  for i, (_, r) in enumerate(g.head(MAX_RANKED).iterrows())]
        order = "lowest" if outcome in narrative.LOWER_IS_BETTER else "highest"
        body += [_h2(f"Design points ranked on {outcome.replace('_', ' ')}"),
                 _p(f"{order.capitalize()} first; mean over each point's replications with its 95 % CI"
                    + (f"; the best {MAX_RANKED} of {len(g)} shown." if len(g) > MAX_RANKED else "."), "note"),
                 table(["rank", "design point", f"{_kpi_label(outcome)} mean", "95 % CI low", "95 % CI high",
                        "runs"], ranked, cls="kpis")]
    body += [_h2("What was run"), facts(what)]
    body += [_h2("Factors"), table(["scenario path", "values"], [[f.path, _factor_text(f)] for f in exp.factors])
             if exp.factors else _p("none: every design point is the base scenario", "note")]

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
        if 1 < len(points) <= MAX_POINT_BARS:
            for out in [o for o in outputs if o == outcome] + [o for o in outputs if o != outcome]:
                t = pm[pm["output"] == out].set_index("point")
                t.index = [labels.get(p, f"point {p}") for p in t.index]
                unit = plots.kpi_unit(out).replace(" per month", "")
                body += [_h2(f"{out.replace('_', ' ')} by design point"),
                         figure(plots.ci_bars(t[["mean", "ci_low", "ci_high"]], ylabel=out, unit=unit,
                                              title=f"{out.replace('_', ' ')} by design point, ranked (mean, 95 % CI)",
                                              sort=True),
                                f"Mean {out.replace('_', ' ')} at each design point over its replications, with "
                                "its 95 % confidence interval, largest at the top.")]
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


def _validation_row(r: pd.Series) -> list[str]:
    """One policy's validation: net profit, its difference to the current programme and to the optimised one."""
    q, iv = narrative.quantity, narrative.interval

    def sig(lo: float, hi: float) -> str:
        return "sig-better" if lo > 0 else "sig-worse" if hi < 0 else ""

    return [Cell(str(r["policy"]).replace("_", " "), "text"),
            q("net_profit", r["net_profit"], with_unit=False), Cell(iv("net_profit", r["ci_low"], r["ci_high"]), "ci"),
            Cell(q("net_profit", r["diff_vs_current"], change=True, with_unit=False),
                 sig(r["diff_ci_low"], r["diff_ci_high"])),
            Cell(iv("net_profit", r["diff_ci_low"], r["diff_ci_high"], change=True), "ci"),
            Cell(q("net_profit", r["optimised_minus_policy"], change=True, with_unit=False),
                 sig(r["omp_ci_low"], r["omp_ci_high"])),
            Cell(iv("net_profit", r["omp_ci_low"], r["omp_ci_high"], change=True), "ci")]


def optimise_report(result: Any, info: Mapping[str, Any]) -> str:
    """The HTML report of an optimisation.

    It opens with a written summary (the recommendation, its validated gain over the current
    programme) and warns in words when the recommendation does not beat the current programme or a
    simple rule (the equal split, the split proportional to tier revenue) in validation.

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
        **({"estimation": f"joint: {info.get('design_points')} design points over all cells x "
                          f"{info.get('design_replications')} replications"}
           if info.get("estimation") == "joint" else
           {"estimation": "one cell at a time", "replications per level": info.get("replications")}),
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
    # The summary above already says these in words: the list keeps the rest (ranges, flat curves, ladder, spend).
    said = ("WARNING: the optimised programme does not beat the best simple rule", "RECOMMENDATION:",
            "stability:", "WARNING: the recommendation depends on the estimation seed")
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in (*result.notes, *a.notes) if not n.startswith(said))
    front = pd.DataFrame(info.get("frontier") or [])
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
    paragraphs, warns = narrative.optimise_summary(result, info)
    body = [
        f"<h1>channelsim optimise: {html.escape(name)}</h1>",
        summary_section(paragraphs, warns, warnings_first=False),
        tiles(narrative.optimise_tiles(result)),
        _h2("What was run"), facts(what),
        _h2("Headline numbers"), facts(headline),
        f"<ul>{notes}</ul>" if notes else "",
        _h2("Validation on fresh seeds"),
        *([_p("Net profit per year of each policy simulated on the same fresh seeds (common random numbers); "
              "differences are paired per replication, with 95 % confidence intervals.", "note"),
           table(["policy", "net profit", "95 % CI", "vs current", "95 % CI", "optimised - policy",
                  "95 % CI"], [_validation_row(r) for _, r in val.iterrows()], cls="kpis"),
           _p("USD per year; exact values in validation.csv.", "note"),
           figure(plots.ci_bars(diffs, ylabel="net profit vs current (USD thousand per year)",
                                title="Net profit vs current (paired, 95 % CI)"),
                  "Gain in net profit per year of each policy over the current programme on fresh seeds, with its "
                  "paired 95 % confidence interval; a bar whose interval excludes zero is a real difference.")]
          if validated else
          [_p("Not validated: the run was asked not to simulate the answer (--no-validate). The figures below are "
              "what the response curves predict, not what the simulator realised.", "note")]),
        *([_h2("Budget frontier"),
           _p(narrative.frontier_sentence(front)),
           figure(plots.budget_frontier(front),
                  "Left: net profit per year of the programme the LP recommends at each budget, validated on the "
                  "same fresh seeds against the current programme, with its paired 95 % confidence band. Right: "
                  "what those programmes planned to spend on the cells and what they spent in validation."),
           frame_table(front, ["budget", "status", "planned_spend", "realised_spend", "predicted_uplift",
                               "net_profit_diff", "ci_low", "ci_high"])]
          if not front.empty and (front["status"] != "infeasible").sum() >= 1 else []),
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


__all__ = ["COMPARE_SERIES", "Cell", "compare_report", "facts", "figure", "fmt", "frame_table", "optimise_report",
           "page", "rank_outcome", "run_figures", "run_report", "short_value", "summary_section", "sweep_report",
           "table", "tiles"]
