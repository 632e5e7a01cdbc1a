"""Self-contained HTML reports (plots embedded as base64 PNG) for a run and for a comparison."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from . import plots

_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; margin: 2em auto; max-width: 1000px;
       color: #222; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #eee; text-align: right; }
th:first-child, td:first-child { text-align: left; }
dt { font-weight: 600; float: left; clear: left; width: 12em; } dd { margin-left: 12.5em; }
img { max-width: 100%; } .note { color: #666; font-size: 0.85em; }
"""


def fmt(x: Any) -> str:
    """A number formatted for tables (thousands separators, 3 significant digits for small values)."""
    if x is None:
        return "n/a"
    if isinstance(x, str):
        return x
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if not math.isfinite(v):
        return "n/a"
    if v != 0 and abs(v) < 10:
        return f"{v:.3g}"
    return f"{v:,.0f}"


def _img(fig) -> str:
    return f'<img alt="" src="data:image/png;base64,{plots.to_png_base64(fig)}">'


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _facts(items: Mapping[str, Any]) -> str:
    rows = "".join(f"<dt>{html.escape(str(k))}</dt><dd>{html.escape(str(v))}</dd>" for k, v in items.items())
    return f"<dl>{rows}</dl>"


def run_report(kpis: pd.DataFrame, partners: pd.DataFrame, summary: Mapping[str, Any]) -> str:
    """The HTML report of one run (all replications).

    Args:
        kpis: monthly KPIs with a ``replication`` column (as in ``kpis.parquet``).
        partners: the partner panel (as in ``partners.parquet``).
        summary: the content of ``summary.json`` (what was run and the headline intervals).

    Returns:
        A self-contained HTML page.
    """
    name = str(summary.get("scenario", "scenario"))
    facts = {
        "scenario": name,
        "description": summary.get("description") or "-",
        "source": summary.get("source", "-"),
        "overrides (--set)": ", ".join(summary.get("overrides") or []) or "none",
        "seed": summary.get("seed"),
        "replications": summary.get("replications"),
        "months reported": f"{summary.get('months')} (after {summary.get('warmup_months')} warm-up months)",
        "confidence intervals": summary.get("ci_method", "-"),
        "channelsim version": summary.get("package_version", "-"),
    }
    rows = [[k, fmt(v.get("mean")), fmt(v.get("ci_low")), fmt(v.get("ci_high"))]
            for k, v in summary.get("kpis", {}).items()]
    figs = [
        ("Revenue by channel", plots.revenue_by_channel(kpis)),
        ("Partner satisfaction and NPS", plots.partner_sentiment(kpis)),
        ("Conflicts by type", plots.conflicts_by_type(kpis)),
        ("Active partners by tier", plots.partners_by_tier(kpis)),
        ("Partner revenue concentration (Lorenz curve)", plots.lorenz(partners)),
    ]
    body = [
        f"<h1>channelsim run: {html.escape(name)}</h1>",
        "<h2>What was run</h2>", _facts(facts),
        "<h2>Headline KPIs</h2>",
        '<p class="note">Totals over the reported months for flows (revenue, conflicts, ...), monthly means for '
        "levels (satisfaction, shares, ...); mean over replications with its 95 % interval.</p>",
        _table(["KPI", "mean", "95 % CI low", "95 % CI high"], rows),
    ]
    for title, fig in figs:
        body += [f"<h2>{html.escape(title)}</h2>", _img(fig)]
    return _page(f"channelsim: {name}", "\n".join(body))


def compare_report(table: pd.DataFrame, info: Mapping[str, Any], kpis_a: pd.DataFrame, kpis_b: pd.DataFrame) -> str:
    """The HTML report of a comparison of two runs.

    Args:
        table: one row per headline KPI with ``a_mean, b_mean, diff, ci_low, ci_high``.
        info: what was compared (``a``, ``b``, ``method``...).
        kpis_a: monthly KPIs of run A.
        kpis_b: monthly KPIs of run B.

    Returns:
        A self-contained HTML page.
    """
    rows = [[str(k), fmt(r["a_mean"]), fmt(r["b_mean"]), fmt(r["diff"]), fmt(r["ci_low"]), fmt(r["ci_high"])]
            for k, r in table.iterrows()]
    body = [
        "<h1>channelsim comparison</h1>",
        "<h2>What was compared</h2>", _facts(info),
        "<h2>Headline KPIs: B - A</h2>",
        _table(["KPI", "A mean", "B mean", "B - A", "95 % CI low", "95 % CI high"], rows),
        "<h2>Relative differences</h2>", _img(plots.compare_forest(table)),
        "<h2>Revenue by channel: A</h2>", _img(plots.revenue_by_channel(kpis_a)),
        "<h2>Revenue by channel: B</h2>", _img(plots.revenue_by_channel(kpis_b)),
    ]
    return _page("channelsim comparison", "\n".join(body))


__all__ = ["compare_report", "fmt", "run_report"]
