"""Plots of run results: functions that take DataFrames and return matplotlib Figures.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot, no
global backend switch), so they render with Agg in scripts and display in
notebooks.  Every function accepts the frames a ``channelsim run`` writes
(``kpis.parquet``, ``partners.parquet``), with or without a ``replication``
column; bands are 95 % t-intervals over replications.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import AutoLocator, MaxNLocator

from .stats import LEVEL, monthly_band

CHANNEL_COLUMNS = {"partner": "revenue_partner", "direct": "revenue_direct", "digital": "revenue_digital"}
CONFLICT_COLUMNS = {"horizontal": "conflicts_horizontal", "vertical": "conflicts_vertical",
                    "multichannel": "conflicts_multichannel"}
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _figure(width: float = 7.0, height: float = 3.6, ncols: int = 1) -> tuple[Figure, list]:
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = list(fig.subplots(1, ncols, squeeze=False)[0])
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return fig, axes


def _n_reps(kpis: pd.DataFrame) -> int:
    return int(kpis["replication"].nunique()) if "replication" in kpis.columns else 1


def _band(ax, kpis: pd.DataFrame, column: str, label: str, colour: str, scale: float = 1.0) -> None:
    b = monthly_band(kpis, column)
    ax.plot(b["month"], b["mean"] / scale, color=colour, label=label, lw=1.8)
    if _n_reps(kpis) > 1:
        ax.fill_between(b["month"], b["low"] / scale, b["high"] / scale, color=colour, alpha=0.2, lw=0)


def _band_note(kpis: pd.DataFrame) -> str:
    n = _n_reps(kpis)
    return f"mean of {n} replications, {LEVEL:.0%} t-band" if n > 1 else "one replication"


def revenue_by_channel(kpis: pd.DataFrame) -> Figure:
    """Monthly vendor revenue by channel (partner, direct, digital) with CI bands.

    Args:
        kpis: monthly KPIs (``month``, ``revenue_partner``, ``revenue_direct``, ``revenue_digital``).
    """
    fig, (ax,) = _figure()
    for (label, col), colour in zip(CHANNEL_COLUMNS.items(), _COLOURS, strict=False):
        _band(ax, kpis, col, label, colour, scale=1e6)
    ax.set(xlabel="month", ylabel="revenue (USD million)", title=f"Revenue by channel ({_band_note(kpis)})")
    ax.legend(frameon=False)
    ax.set_ylim(bottom=0)
    return fig


def partner_sentiment(kpis: pd.DataFrame) -> Figure:
    """Partner satisfaction (score 0-1) and partner NPS (points) over time with CI bands.

    Args:
        kpis: monthly KPIs (``month``, ``partner_satisfaction``, ``partner_nps``).
    """
    fig, (a1, a2) = _figure(9.0, 3.4, ncols=2)
    _band(a1, kpis, "partner_satisfaction", "satisfaction", _COLOURS[0])
    a1.set(xlabel="month", ylabel="score 0-1", title="Partner satisfaction")
    _band(a2, kpis, "partner_nps", "NPS", _COLOURS[3])
    a2.axhline(0, color="grey", lw=0.8)
    a2.set(xlabel="month", ylabel="points", title="Partner NPS")
    fig.suptitle(_band_note(kpis), fontsize=9)
    return fig


def conflicts_by_type(kpis: pd.DataFrame) -> Figure:
    """Conflicts a month by type (horizontal, vertical, multichannel), mean over replications, stacked.

    Args:
        kpis: monthly KPIs (``month`` and the ``conflicts_<type>`` columns).
    """
    fig, (ax,) = _figure()
    means = kpis.groupby("month")[list(CONFLICT_COLUMNS.values())].mean()
    bottom = np.zeros(len(means))
    for (label, col), colour in zip(CONFLICT_COLUMNS.items(), _COLOURS, strict=False):
        ax.bar(means.index, means[col], bottom=bottom, label=label, color=colour, width=0.85)
        bottom += means[col].to_numpy()
    ax.set(xlabel="month", ylabel="conflicts", title="Conflicts by type (mean per month)")
    ax.legend(frameon=False)
    return fig


def tier_columns(kpis: pd.DataFrame, prefix: str = "partners_tier_") -> list[str]:
    """The ``<prefix><tier>`` columns of ``kpis`` in tier order."""
    return [c for c in kpis.columns if c.startswith(prefix)]


def partners_by_tier(kpis: pd.DataFrame) -> Figure:
    """Active partners by tier over time (mean over replications), stacked areas.

    Args:
        kpis: monthly KPIs with ``partners_tier_<tier>`` columns.
    """
    fig, (ax,) = _figure()
    cols = tier_columns(kpis)
    if not cols:
        ax.text(0.5, 0.5, "no tier columns", ha="center", va="center", transform=ax.transAxes)
        return fig
    means = kpis.groupby("month")[cols].mean()
    labels = [c.removeprefix("partners_tier_") for c in cols]
    colours = [_COLOURS[i % len(_COLOURS)] for i in range(len(cols))]
    ax.stackplot(means.index, means.to_numpy().T, labels=labels, colors=colours, alpha=0.85)
    ax.set(xlabel="month", ylabel="active partners", title="Active partners by tier (mean)")
    ax.legend(frameon=False, loc="upper left", fontsize=8)
    return fig


def lorenz_points(revenue: np.ndarray | pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Lorenz curve of partner revenue: cumulative share of partners (poorest first) and of revenue.

    Args:
        revenue: total revenue of each partner (negative values are treated as zero).

    Returns:
        ``(x, y)`` arrays starting at (0, 0) and ending at (1, 1).
    """
    r = np.sort(np.clip(np.asarray(revenue, dtype=float), 0.0, None))
    n = r.size
    if n == 0 or r.sum() <= 0:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0])
    x = np.concatenate([[0.0], np.arange(1, n + 1) / n])
    y = np.concatenate([[0.0], np.cumsum(r) / r.sum()])
    return x, y


def top_share(revenue: np.ndarray | pd.Series, top: float = 0.2) -> float:
    """Share of revenue produced by the top ``top`` share of partners."""
    r = np.sort(np.clip(np.asarray(revenue, dtype=float), 0.0, None))[::-1]
    if r.size == 0 or r.sum() <= 0:
        return float("nan")
    k = max(1, int(round(top * r.size)))
    return float(r[:k].sum() / r.sum())


def partner_revenue_totals(partners: pd.DataFrame) -> pd.DataFrame:
    """Total revenue of each partner over the reported months, per replication.

    Returns:
        Columns ``replication, partner_id, revenue``.
    """
    p = partners if "replication" in partners.columns else partners.assign(replication=0)
    return p.groupby(["replication", "partner_id"], observed=True)["revenue"].sum().reset_index()


def lorenz(partners: pd.DataFrame) -> Figure:
    """Lorenz curve of partner revenue (one curve per replication) with the top-20 % share.

    Args:
        partners: the partner panel (``partner_id``, ``revenue``, optionally ``replication``).
    """
    fig, (ax,) = _figure(4.8, 4.4)
    ax.xaxis.set_major_locator(AutoLocator())  # shares, not months
    totals = partner_revenue_totals(partners)
    shares = []
    for i, (_, g) in enumerate(totals.groupby("replication")):
        x, y = lorenz_points(g["revenue"])
        ax.plot(x, y, color=_COLOURS[0], alpha=0.8 if i == 0 else 0.35, lw=1.5)
        shares.append(top_share(g["revenue"]))
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=0.8, label="equality")
    ax.axvline(0.8, color="grey", lw=0.6, ls=":")
    share = float(np.nanmean(shares)) if shares and np.isfinite(shares).any() else float("nan")
    ax.set(xlabel="share of partners (lowest revenue first)", ylabel="share of partner revenue",
           title=f"Partner revenue Lorenz curve\ntop 20 % of partners: {share:.0%} of revenue",
           xlim=(0, 1), ylim=(0, 1))
    ax.legend(frameon=False, loc="upper left")
    return fig


def compare_forest(table: pd.DataFrame) -> Figure:
    """Relative differences B - A (in % of A) with their CIs, one row per headline KPI.

    Args:
        table: rows indexed by KPI with columns ``a_mean``, ``diff``, ``ci_low``, ``ci_high``.
    """
    t = table[np.isfinite(table["a_mean"]) & (table["a_mean"] != 0) & np.isfinite(table["diff"])]
    fig, (ax,) = _figure(7.0, 0.3 * max(len(t), 4) + 1.0)
    if t.empty:
        ax.text(0.5, 0.5, "nothing to compare", ha="center", va="center", transform=ax.transAxes)
        return fig
    scale = 100.0 / t["a_mean"].abs()
    y = np.arange(len(t))[::-1]
    mid = t["diff"] * scale
    err = np.vstack([(t["diff"] - t["ci_low"]) * scale, (t["ci_high"] - t["diff"]) * scale])
    ax.xaxis.set_major_locator(AutoLocator())
    ax.errorbar(mid, y, xerr=np.nan_to_num(err), fmt="o", color=_COLOURS[0], capsize=3)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(y, t.index)
    ax.set(xlabel="B - A, % of A (95 % CI)", title="Difference by headline KPI")
    return fig


def to_png_base64(fig: Figure, dpi: int = 110) -> str:
    """The figure as a base64-encoded PNG (for embedding in HTML)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return base64.b64encode(buf.getvalue()).decode("ascii")


__all__ = [
    "compare_forest", "conflicts_by_type", "lorenz", "lorenz_points", "partner_revenue_totals", "partner_sentiment",
    "partners_by_tier", "revenue_by_channel", "tier_columns", "to_png_base64", "top_share",
]
