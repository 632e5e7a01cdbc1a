"""Plots of run results: functions that take DataFrames and return matplotlib Figures.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot, no
global backend switch), so they render with Agg in scripts and display in
notebooks.  Every function accepts the frames a ``channelsim run`` writes
(``kpis.parquet``, ``partners.parquet``), with or without a ``replication``
column; bands are 95 % t-intervals over replications.  A title says "t-band" only when
the band is drawn; legends sit beside the plotted area or where they cover the least data.
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
    """The title note of a chart that draws a t-band (see :func:`_band`)."""
    n = _n_reps(kpis)
    return f"mean of {n} replications, {LEVEL:.0%} t-band" if n > 1 else "one replication"


def _mean_note(kpis: pd.DataFrame) -> str:
    """The title note of a chart of means without a band."""
    n = _n_reps(kpis)
    return f"mean of {n} replications" if n > 1 else "one replication"


def _legend_outside(ax, **kw) -> None:
    """A figure legend to the right of the axes (constrained layout makes room for it), off the data."""
    ax.figure.legend(*ax.get_legend_handles_labels(), loc="outside right upper", frameon=False, **kw)


def revenue_by_channel(kpis: pd.DataFrame) -> Figure:
    """Monthly vendor revenue by channel (partner, direct, digital) with CI bands.

    Args:
        kpis: monthly KPIs (``month``, ``revenue_partner``, ``revenue_direct``, ``revenue_digital``).
    """
    fig, (ax,) = _figure()
    for (label, col), colour in zip(CHANNEL_COLUMNS.items(), _COLOURS, strict=False):
        _band(ax, kpis, col, label, colour, scale=1e6)
    ax.set(xlabel="month", ylabel="revenue (USD million)", title=f"Revenue by channel ({_band_note(kpis)})")
    _legend_outside(ax, title="channel")
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
    ax.set(xlabel="month", ylabel="conflicts", title=f"Conflicts by type per month ({_mean_note(kpis)})")
    _legend_outside(ax, title="type")
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
    ax.set(xlabel="month", ylabel="active partners", title=f"Active partners by tier ({_mean_note(kpis)})")
    _legend_outside(ax, title="tier", fontsize=8)
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


def compare_forest(table: pd.DataFrame, a: str = "A", b: str = "B") -> Figure:
    """Relative differences B - A (in % of A) with their CIs, one row per headline KPI.

    KPIs whose interval excludes zero are drawn in colour and marked "significant" in their label;
    the others are grey.

    Args:
        table: rows indexed by KPI with columns ``a`` (or ``a_mean``), ``diff``, ``ci_low``, ``ci_high`` and
            optionally ``significant`` (:attr:`experiments.replication.Comparison.table`).
        a: the reference's name (axis label and title).
        b: the what-if's name.

    Returns:
        A Figure whose first error bar holds the significant KPIs and the second the others (in % of A).
    """
    ref = table["a"] if "a" in table.columns else table["a_mean"]
    keep = np.isfinite(ref) & (ref != 0) & np.isfinite(table["diff"])
    t, ref = table[keep], ref[keep]
    sig = (t["significant"].astype(bool) if "significant" in t.columns
           else (t["ci_low"] > 0) | (t["ci_high"] < 0)).to_numpy()
    fig, (ax,) = _figure(7.5, 0.22 * max(len(t), 4) + 1.5)
    ax.xaxis.set_major_locator(AutoLocator())
    if t.empty:
        ax.text(0.5, 0.5, "nothing to compare", ha="center", va="center", transform=ax.transAxes)
        return fig
    scale = 100.0 / ref.abs()
    y = np.arange(len(t))[::-1]
    mid = (t["diff"] * scale).to_numpy(dtype=float)
    err = np.nan_to_num(np.abs(np.vstack([((t["diff"] - t["ci_low"]) * scale).to_numpy(dtype=float),
                                          ((t["ci_high"] - t["diff"]) * scale).to_numpy(dtype=float)])))
    for mask, colour, label in ((sig, _COLOURS[0], "95 % CI excludes zero"),
                                (~sig, "#999999", "95 % CI includes zero")):
        ax.errorbar(mid[mask], y[mask], xerr=err[:, mask], fmt="o", color=colour, capsize=3, label=label,
                    mfc=colour if colour != "#999999" else "white")
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(y, [f"{k}  (significant)" if s_ else str(k) for k, s_ in zip(t.index, sig, strict=True)],
                  fontsize=8)
    for lbl, s_ in zip(ax.get_yticklabels(), sig, strict=True):
        lbl.set_fontweight("bold" if s_ else "normal")
    ax.set(xlabel=f"{b} - {a}, % of {a} (95 % CI)", title=f"{b} vs {a}: difference by headline KPI")
    fig.legend(loc="outside lower center", ncols=2, frameon=False, fontsize=8)
    return fig


def difference_series(band: pd.DataFrame, column: str, *, a: str = "A", b: str = "B", paired: bool = True,
                      unit: str | None = None) -> Figure:
    """The difference B - A of a monthly KPI over time, with its 95 % confidence band.

    Args:
        band: :func:`experiments.stats.monthly_diff_band` (``month, mean, low, high``).
        column: the KPI (axis label and unit).
        a: the reference's name.
        b: the what-if's name.
        paired: whether the band is paired (the title says which).
        unit: the axis unit (default :func:`kpi_unit`); money is shown in USD thousand or million.

    Returns:
        A Figure whose first line is the difference (scaled as the axis label says) and whose first
        collection is the band when it has a width.
    """
    unit = unit or kpi_unit(column)
    vals = band[["mean", "low", "high"]].to_numpy(dtype=float).ravel()
    scale, shown = _money_scale(unit, vals)
    fig, (ax,) = _figure()
    m = band["month"].to_numpy()
    ax.plot(m, band["mean"] / scale, color=_COLOURS[0], lw=1.8, label=f"{b} - {a}")
    has_band = bool((band["high"] - band["low"]).abs().sum() > 0)
    if has_band:
        ax.fill_between(m, band["low"] / scale, band["high"] / scale, color=_COLOURS[0], alpha=0.2, lw=0,
                        label=f"{LEVEL:.0%} CI ({'paired' if paired else 'Welch'})")
    ax.axhline(0, color="grey", lw=0.8)
    how = (f"paired, {LEVEL:.0%} t-band" if paired else f"Welch, {LEVEL:.0%} t-band") if has_band \
        else "no band: one replication"
    ax.set(xlabel="month", ylabel=f"difference ({shown})",
           title=f"{column.replace('_', ' ')}: {b} - {a} per month ({how})")
    ax.legend(frameon=False, loc="best", fontsize=8)
    return fig


def to_png_base64(fig: Figure, dpi: int = 110) -> str:
    """The figure as a base64-encoded PNG (for embedding in HTML)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return base64.b64encode(buf.getvalue()).decode("ascii")


__all__ = [
    "compare_forest", "conflicts_by_type", "difference_series",
    "lorenz", "lorenz_points", "partner_revenue_totals", "partner_sentiment",
    "partners_by_tier", "revenue_by_channel", "tier_columns", "to_png_base64", "top_share",
]


# ---------------------------------------------------------------------------
# Generic KPI series, mixes, tiers, conflicts, the optimiser and sensitivity indices.

#: Unit of each KPI as shown on axes; money is USD per month in the monthly frames.
KPI_UNITS: dict[str, str] = {
    **{c: "USD per month" for c in (
        "revenue_total", "revenue_partner", "revenue_direct", "revenue_digital", "gross_profit", "cost_of_goods",
        "incentive_spend", "margin_lost_to_conflict", "conflict_cost", "customer_lifetime_value")},
    "partner_satisfaction": "score 0-1", "customer_satisfaction": "score 0-1",
    "channel_maturity": "certifications per partner",
    "partner_nps": "points",
    "partner_revenue_share": "share", "market_share": "share", "win_rate": "share", "customer_retention": "share",
    "mdf_utilisation": "share", "compliance_rate": "share", "partner_mindshare": "share", "adoption": "share",
    "partner_churn": "share per month", "incentive_roi": "USD per USD",
    "active_partners": "partners", "partners_exited": "partners per month", "partners_onboarded": "partners per month",
    "partner_exit_risk": "partners per month",
    "customers_new": "customers per month", "customers_churned": "customers per month",
    "customers_active": "customers",
    "conflicts_horizontal": "conflicts per month", "conflicts_vertical": "conflicts per month",
    "conflicts_multichannel": "conflicts per month",
    **{c: "USD per month" for c in (
        "partner_gross_margin", "partner_profit", "audit_cost", "claims_value", "leakage", "recruitment_cost",
        "channel_opex", "operating_profit", "recruitment_cost_events", "recruitment_cost_directories",
        "recruitment_cost_referrals")},
    "partner_originated_share": "share", "leakage_share": "share", "discount_rate": "share of partner revenue",
    "rebate_rate": "share of earning tiers' revenue", "partner_profit_ratio": "ratio",
    "partner_effort": "seller-months per month",
    **{c: "accounts" for c in ("accounts_unaware", "accounts_in_market", "accounts_competitor", "accounts_churned")},
    "opportunities": "opportunities per month", "mdf_leads": "leads per month",
    "direct_leads": "accounts per month", "direct_collisions": "accounts per month",
    "claims_caught": "claims per month", "audits": "audits per month",
    "certifications_paid": "certifications per month",
    "customers_closed": "customers per month", "customers_poached": "customers per month",
    "tier_migrations_up": "partners per month", "tier_migrations_down": "partners per month",
    **{f"prospects_{s}": "prospects per month" for s in ("events", "directories", "referrals")},
}


def kpi_unit(column: str) -> str:
    """The unit of a KPI column (``"value"`` when unknown; ``spend_*`` and ``revenue_*`` are USD per month)."""
    if column in KPI_UNITS:
        return KPI_UNITS[column]
    if column.startswith(("spend_", "revenue_", "cac_")):
        return "USD per month"
    if column.startswith(("partners_tier_", "partners_")):
        return "partners"
    if column.startswith("conflicts_"):
        return "conflicts per month"
    return "value"


def _money_scale(unit: str, values: np.ndarray) -> tuple[float, str]:
    """Scale money to USD thousand or million for readable axes; other units unscaled."""
    if not unit.startswith("USD") or unit == "USD per USD":
        return 1.0, unit
    top = float(np.nanmax(np.abs(values))) if values.size and np.isfinite(values).any() else 0.0
    if top >= 1e6:
        return 1e6, unit.replace("USD", "USD million", 1)
    if top >= 1e3:
        return 1e3, unit.replace("USD", "USD thousand", 1)
    return 1.0, unit


def _runs(runs: pd.DataFrame | dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {"run": runs} if isinstance(runs, pd.DataFrame) else dict(runs)


def kpi_series(runs: pd.DataFrame | dict[str, pd.DataFrame], column: str, *, unit: str | None = None,
               title: str | None = None) -> Figure:
    """Any monthly KPI over time: the mean over replications with its 95 % t-band, one line per run.

    Args:
        runs: monthly KPIs of one run, or ``{label: kpis}`` to compare runs (e.g. baseline and a what-if);
            each frame with ``month``, ``column`` and optionally ``replication``.
        column: the KPI column.
        unit: the axis unit (default :func:`kpi_unit`); money is shown in USD thousand or million.
        title: the title (default: the column and the band note).

    Returns:
        A Figure whose ``i``-th line is the mean of the ``i``-th run (scaled as the axis label says).
    """
    runs = _runs(runs)
    unit = unit or kpi_unit(column)
    allv = np.concatenate([k[column].to_numpy(dtype=float) for k in runs.values()]) if runs else np.array([])
    scale, shown = _money_scale(unit, allv)
    fig, (ax,) = _figure()
    for (label, kpis), colour in zip(runs.items(), _COLOURS * 4, strict=False):
        _band(ax, kpis, column, label, colour, scale=scale)
    first = next(iter(runs.values()), pd.DataFrame())
    note = _band_note(first) if len(first) else "no data"
    ax.set(xlabel="month", ylabel=f"{column.replace('_', ' ')} ({shown})",
           title=title or f"{column.replace('_', ' ')} ({note})")
    if len(runs) > 1:
        ax.legend(frameon=False, loc="best")
    return fig


def _stacked_bars(ax, table: pd.DataFrame, width: float = 0.9) -> None:
    bottom = np.zeros(len(table))
    for i, col in enumerate(table.columns):
        vals = table[col].to_numpy(dtype=float)
        ax.bar(table.index, vals, bottom=bottom, width=width, label=str(col), color=_COLOURS[i % len(_COLOURS)])
        bottom += vals


def channel_mix_shares(kpis: pd.DataFrame) -> pd.DataFrame:
    """Share of vendor revenue by channel per month (mean revenue over replications, then shares).

    Returns:
        A frame indexed by ``month`` with columns ``partner, direct, digital`` summing to 1.
    """
    means = kpis.groupby("month")[list(CHANNEL_COLUMNS.values())].mean()
    means.columns = list(CHANNEL_COLUMNS)
    total = means.sum(axis=1).replace(0.0, np.nan)
    return means.div(total, axis=0).fillna(0.0)


def channel_mix(kpis: pd.DataFrame) -> Figure:
    """Channel mix over time: each channel's share of revenue a month, stacked bars.

    Args:
        kpis: monthly KPIs (``month``, ``revenue_partner``, ``revenue_direct``, ``revenue_digital``).

    Returns:
        A Figure with one bar container per channel; bar heights are :func:`channel_mix_shares` (share 0-1).
    """
    return _share_figure(channel_mix_shares(kpis), "share of revenue (0-1)",
                         f"Channel mix: share of revenue by channel ({_mean_note(kpis)})", legend_title="channel")


def tier_shares(kpis: pd.DataFrame) -> pd.DataFrame:
    """Share of active partners in each tier per month (mean counts over replications, then shares).

    Returns:
        A frame indexed by ``month``, one column per tier (in tier order), rows summing to 1.
    """
    cols = tier_columns(kpis)
    means = kpis.groupby("month")[cols].mean()
    means.columns = [c.removeprefix("partners_tier_") for c in cols]
    total = means.sum(axis=1).replace(0.0, np.nan)
    return means.div(total, axis=0).fillna(0.0)


def tier_distribution(kpis: pd.DataFrame) -> Figure:
    """Tier distribution over time: share of active partners in each tier, stacked bars.

    Args:
        kpis: monthly KPIs with ``partners_tier_<tier>`` columns.

    Returns:
        A Figure with one bar container per tier; bar heights are :func:`tier_shares` (share 0-1).
    """
    return _share_figure(tier_shares(kpis), "share of active partners (0-1)",
                         f"Tier distribution ({_mean_note(kpis)})", legend_title="tier")


def _share_figure(shares: pd.DataFrame, ylabel: str, title: str, legend_title: str | None = None) -> Figure:
    """Stacked monthly shares (rows sum to 1) with a legend beside the bars."""
    fig, (ax,) = _figure()
    _stacked_bars(ax, shares)
    ax.set(xlabel="month", ylabel=ylabel, ylim=(0, 1), title=title)
    _legend_outside(ax, title=legend_title, fontsize=8)
    return fig


def migration_matrix(migrations: pd.DataFrame, tiers: list[str] | tuple[str, ...] | None = None) -> pd.DataFrame:
    """Tier migrations as a from_tier x to_tier table of counts, per run (mean over replications).

    Args:
        migrations: ``RunResult.migrations`` or ``migrations.parquet`` (``from_tier``, ``to_tier``,
            optionally ``replication``).
        tiers: the tier order (default: categories if categorical, else order of first appearance).

    Returns:
        A square frame (index: from tier, columns: to tier) of mean migrations per run.
    """
    if tiers is None:
        col = migrations["from_tier"] if len(migrations) else pd.Series(dtype=object)
        if isinstance(col.dtype, pd.CategoricalDtype):
            tiers = list(col.cat.categories)
        else:
            tiers = list(dict.fromkeys([*migrations["from_tier"], *migrations["to_tier"]]))
    tiers = list(tiers)
    n = int(migrations["replication"].nunique()) if "replication" in migrations.columns and len(migrations) else 1
    counts = pd.crosstab(migrations["from_tier"].astype(str), migrations["to_tier"].astype(str)) \
        if len(migrations) else pd.DataFrame()
    out = counts.reindex(index=tiers, columns=tiers, fill_value=0).astype(float) / max(n, 1)
    out.index.name, out.columns.name = "from_tier", "to_tier"
    return out


def tier_migration(migrations: pd.DataFrame, tiers: list[str] | tuple[str, ...] | None = None) -> Figure:
    """The tier-migration matrix: how many partners moved from each tier (rows) to each tier (columns).

    Args:
        migrations: ``RunResult.migrations`` or ``migrations.parquet``.
        tiers: the tier order (e.g. ``scenario.tier_names``).

    Returns:
        A Figure with one image whose array is :func:`migration_matrix` (partners per run), cells annotated.
    """
    m = migration_matrix(migrations, tiers)
    n = int(migrations["replication"].nunique()) if "replication" in migrations.columns and len(migrations) else 1
    fig = Figure(figsize=(5.4, 4.4), layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(m.to_numpy(), cmap="Blues", vmin=0)
    fig.colorbar(im, ax=ax, label="partners per run")
    ax.set_xticks(range(len(m.columns)), m.columns, rotation=30, ha="right")
    ax.set_yticks(range(len(m.index)), m.index)
    top = float(m.to_numpy().max()) if m.size else 0.0
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            v = m.iat[i, j]
            ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=8,
                    color="white" if top and v > 0.6 * top else "black")
    runs = f"mean of {n} replications" if n > 1 else "one replication"
    title = (f"Tier migrations (partners per run, {runs})" if len(migrations)
             else "Tier migrations: none in the reported months")
    ax.set(xlabel="to tier", ylabel="from tier", title=title)
    return fig


def conflict_table(conflicts: pd.DataFrame, value: str | None = None) -> pd.DataFrame:
    """Conflicts by type (rows) and resolution (columns), per run (mean over replications).

    Args:
        conflicts: the conflict log (``type``, ``resolution``, optionally ``replication``).
        value: a column to sum (e.g. ``margin_lost``) instead of counting conflicts.

    Returns:
        A frame indexed by conflict type with one column per resolution.
    """
    n = int(conflicts["replication"].nunique()) if "replication" in conflicts.columns and len(conflicts) else 1
    if not len(conflicts):
        return pd.DataFrame()
    types = list(conflicts["type"].cat.categories) if isinstance(conflicts["type"].dtype, pd.CategoricalDtype) \
        else list(dict.fromkeys(conflicts["type"]))
    res = conflicts["resolution"]
    resolutions = [r for r in (res.cat.categories if isinstance(res.dtype, pd.CategoricalDtype)
                               else dict.fromkeys(res))]
    if value is None:
        t = pd.crosstab(conflicts["type"].astype(str), res.astype(str))
    else:
        t = pd.crosstab(conflicts["type"].astype(str), res.astype(str), values=conflicts[value], aggfunc="sum")
    t = t.reindex(index=[str(x) for x in types], columns=[str(x) for x in resolutions]).fillna(0.0).astype(float)
    t.index.name, t.columns.name = "type", "resolution"
    return t / max(n, 1)


def conflicts_by_resolution(conflicts: pd.DataFrame) -> Figure:
    """Conflicts by type and by resolution: per type, stacked by how they were settled (per run).

    Args:
        conflicts: the conflict log (``RunResult.conflicts`` or ``conflicts.parquet``).

    Returns:
        A Figure with one bar container per resolution; bar heights are the columns of :func:`conflict_table`.
    """
    t = conflict_table(conflicts)
    fig, (ax,) = _figure(7.0, 3.8)
    ax.xaxis.set_major_locator(AutoLocator())
    if t.empty:
        ax.text(0.5, 0.5, "no conflicts", ha="center", va="center", transform=ax.transAxes)
        return fig
    x = np.arange(len(t.index))
    bottom = np.zeros(len(t.index))
    for i, col in enumerate(t.columns):
        vals = t[col].to_numpy()
        ax.bar(x, vals, bottom=bottom, label=col, color=_COLOURS[i % len(_COLOURS)], width=0.6)
        bottom += vals
    ax.set_xticks(x, list(t.index))
    n = int(conflicts["replication"].nunique()) if "replication" in conflicts.columns else 1
    ax.set(xlabel="conflict type", ylabel="conflicts per run",
           title=f"Conflicts by type and resolution ({f'mean of {n} replications' if n > 1 else 'one replication'})")
    _legend_outside(ax, title="resolution", fontsize=8)
    return fig


def ci_bars(table: pd.DataFrame, *, ylabel: str, title: str = "", sort: bool = False,
            unit: str | None = None) -> Figure:
    """Means with 95 % CIs as horizontal bars, one per row (policies, scenarios, design points).

    The figure's height grows with the number of bars and its width with the longest label, and
    constrained layout makes room for the labels, so long design-point labels are never cut.

    Args:
        table: one row per bar, indexed by label, with columns ``mean``, ``ci_low`` and ``ci_high``.
        ylabel: the value's label (drawn on the horizontal axis), with its unit unless ``unit`` is given.
        title: the title.
        sort: order the bars by mean, the largest at the top (a ranking).
        unit: the values' unit: money is then shown in USD thousand or million and the unit appended
            to the label.

    Returns:
        A Figure with one bar container whose widths are ``table["mean"]`` (divided by the money scale
        when ``unit`` is money), the first row at the top.
    """
    t = table.sort_values("mean", ascending=False) if sort else table
    n = len(t)
    longest = max((len(str(i)) for i in t.index), default=10)
    title = title or f"{ylabel} (mean, 95 % CI)"
    width = min(11.0, max(6.5, 2.5 + 0.075 * longest + 2.8, 0.085 * len(title) + 0.3))
    fig, (ax,) = _figure(width, 0.32 * max(n, 2) + 1.3)
    ax.xaxis.set_major_locator(AutoLocator())
    scale, shown = (1.0, "")
    if unit is not None:
        scale, shown = _money_scale(unit, t[["mean", "ci_low", "ci_high"]].to_numpy(dtype=float).ravel())
    y = np.arange(n)[::-1]
    mean = t["mean"].to_numpy(dtype=float) / scale
    err = np.vstack([mean - t["ci_low"].to_numpy(dtype=float) / scale,
                     t["ci_high"].to_numpy(dtype=float) / scale - mean])
    ax.barh(y, mean, xerr=np.nan_to_num(np.abs(err)), capsize=3, height=0.6,
            color=[_COLOURS[i % len(_COLOURS)] for i in range(n)] if n <= len(_COLOURS) else _COLOURS[0])
    ax.set_yticks(y, [str(i) for i in t.index], fontsize=8 if n > 8 else 9)
    ax.set_ylim(-0.6, n - 0.4)
    ax.axvline(0, color="grey", lw=0.6)
    ax.set_xlabel(f"{ylabel} ({shown})" if shown else ylabel)
    ax.set_title(title, fontsize=10)
    return fig


def response_curves(points: pd.DataFrame, allocation: pd.DataFrame | None = None) -> Figure:
    """Estimated response curves of the budget optimiser, one panel per cell, with 95 % CIs.

    Args:
        points: ``ResponseData.points`` or ``response_curves.parquet`` (``cell``, ``spend``, ``value``,
            ``value_ci_low``, ``value_ci_high``, optionally ``fit`` and ``envelope``), money in USD per year.
        allocation: ``Allocation.to_frame()`` or ``allocation.csv`` (``tier``, ``lever``, ``spend``,
            ``current``): marks the current (grey) and optimised (green) spend of each cell.

    Returns:
        A Figure with one Axes per cell; the first line of each is the estimate (USD thousand per year).
    """
    cells = list(dict.fromkeys(points["cell"]))
    ncol = min(4, max(1, len(cells)))
    nrow = int(np.ceil(len(cells) / ncol)) if cells else 1
    fig = Figure(figsize=(3.4 * ncol, 2.9 * nrow), layout="constrained")
    axes = list(fig.subplots(nrow, ncol, squeeze=False).flat)
    for ax in axes[len(cells):]:
        ax.axis("off")
    alloc = {}
    if allocation is not None and len(allocation):
        for _, r in allocation.iterrows():
            alloc[f"{r['tier']}/{r['lever']}"] = (float(r["spend"]), float(r.get("current", np.nan)))
    for ax, cell in zip(axes, cells, strict=False):
        p = points[points["cell"] == cell].sort_values("spend")
        s = p["spend"].to_numpy(dtype=float) / 1e3
        v = p["value"].to_numpy(dtype=float) / 1e3
        err = np.vstack([v - p["value_ci_low"].to_numpy(dtype=float) / 1e3,
                         p["value_ci_high"].to_numpy(dtype=float) / 1e3 - v])
        ax.errorbar(s, v, yerr=np.nan_to_num(np.abs(err)), fmt="o-", ms=3, lw=1, color=_COLOURS[0], capsize=2,
                    label="estimate (95 % CI)")
        if "fit" in p.columns:
            ax.plot(s, p["fit"].to_numpy(dtype=float) / 1e3, "--", color=_COLOURS[1], lw=1, label="concave fit")
        if "envelope" in p.columns:
            ax.plot(s, p["envelope"].to_numpy(dtype=float) / 1e3, ":", color=_COLOURS[4], lw=1,
                    label="concave envelope")
        if cell in alloc:
            spend, current = alloc[cell]
            if np.isfinite(current):
                ax.axvline(current / 1e3, color="grey", lw=1, label="current")
            ax.axvline(spend / 1e3, color=_COLOURS[2], lw=1.5, label="optimised")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_title(cell, fontsize=9)
        ax.set_xlabel("spend (USD thousand per year)", fontsize=8)
        ax.set_ylabel("gain before own cost\n(USD thousand per year)", fontsize=8)
        ax.tick_params(labelsize=7)
    if cells:
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=5, fontsize=7,
                   frameon=False)
    fig.suptitle("Response curves: incremental gross profit before the cell's own cost (95 % CI)", fontsize=10)
    return fig


def allocation_spend(allocation: pd.DataFrame) -> Figure:
    """The budget allocation: current and optimised spend of each tier x lever cell, side by side.

    Args:
        allocation: ``Allocation.to_frame()`` or ``allocation.csv`` (``tier``, ``lever``, ``spend``,
            optionally ``current``), USD per year.

    Returns:
        A Figure whose first bar container is the optimised spend and second (if any) the current spend,
        both in USD thousand per year.
    """
    labels = [f"{t}/{lv}" for t, lv in zip(allocation["tier"], allocation["lever"], strict=True)]
    fig, (ax,) = _figure(7.0, 0.35 * max(len(labels), 4) + 1.2)
    ax.xaxis.set_major_locator(AutoLocator())
    y = np.arange(len(labels))[::-1]
    h = 0.4 if "current" in allocation.columns else 0.7
    ax.barh(y + (h / 2 if h < 0.7 else 0), allocation["spend"].to_numpy(dtype=float) / 1e3, height=h,
            color=_COLOURS[2], label="optimised")
    if "current" in allocation.columns:
        ax.barh(y - h / 2, allocation["current"].to_numpy(dtype=float) / 1e3, height=h, color="#aaaaaa",
                label="current")
    ax.set_yticks(y, labels)
    total = float(allocation["spend"].sum())
    ax.set(xlabel="spend (USD thousand per year)",
           title=f"Budget allocation by tier and lever (optimised total USD {total / 1e3:,.0f} thousand per year)")
    ax.title.set_fontsize(10)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=2, frameon=False, fontsize=8)
    return fig


def budget_frontier(frontier: pd.DataFrame) -> Figure:
    """Validated net profit against budget (``optimise --budgets``), with paired 95 % CIs.

    Args:
        frontier: :func:`optimise.loop.frontier`'s frame (``budget``, ``status``, ``net_profit_diff``,
            ``ci_low``, ``ci_high``, ``planned_spend``, ``realised_spend``).

    Returns:
        A Figure: net profit vs the current programme (USD million per year) at each feasible budget, with
        its CI band, and planned and realised spend on a second panel.
    """
    f = frontier[frontier["status"] != "infeasible"].sort_values("budget")
    fig, (ax, bx) = _figure(10.0, 3.6, ncols=2)
    for a in (ax, bx):
        a.xaxis.set_major_locator(AutoLocator())
    b = f["budget"].to_numpy(dtype=float) / 1e6
    m = f["net_profit_diff"].to_numpy(dtype=float) / 1e6
    ax.fill_between(b, f["ci_low"].to_numpy(dtype=float) / 1e6, f["ci_high"].to_numpy(dtype=float) / 1e6,
                    color=_COLOURS[0], alpha=0.2, lw=0, label="95 % CI (paired)")
    ax.plot(b, m, "o-", color=_COLOURS[0], label="validated")
    ax.axhline(0, color="grey", lw=0.6)
    ax.set_xlabel("budget of the cells (USD million per year)")
    ax.set_ylabel("net profit vs current (USD million per year)")
    ax.set_title("Budget frontier: validated net profit", fontsize=10)
    ax.legend(fontsize=8, loc="best")
    bx.plot(b, b, color="grey", lw=0.8, ls="--", label="budget")
    bx.plot(b, f["planned_spend"].to_numpy(dtype=float) / 1e6, "s-", color=_COLOURS[1], label="planned (LP)")
    bx.plot(b, f["realised_spend"].to_numpy(dtype=float) / 1e6, "o-", color=_COLOURS[2],
            label="realised (validation)")
    bx.set_xlabel("budget of the cells (USD million per year)")
    bx.set_ylabel("spend of the cells (USD million per year)")
    bx.set_title("Planned and realised spend", fontsize=10)
    bx.legend(fontsize=8, loc="best")
    return fig


def sobol_chart(indices: pd.DataFrame) -> Figure:
    """Sobol indices (first-order S1 and total ST with 95 % confidence half-widths), one panel per output.

    Args:
        indices: :func:`experiments.analysis.sobol_indices` (``output``, ``factor``, ``S1``, ``S1_conf``,
            ``ST``, ``ST_conf``).

    Returns:
        A Figure with one Axes per output; its first bar container is S1, the second ST (factor order as given).
    """
    outputs = list(dict.fromkeys(indices["output"]))
    factors = list(dict.fromkeys(indices["factor"]))
    fig = Figure(figsize=(2.4 + 3.0 * len(outputs), 1.0 + 0.45 * len(factors)), layout="constrained")
    axes = list(fig.subplots(1, max(1, len(outputs)), squeeze=False, sharey=True)[0])
    y = np.arange(len(factors))[::-1]
    for j, (ax, out) in enumerate(zip(axes, outputs, strict=False)):
        g = indices[indices["output"] == out].set_index("factor").reindex(factors)
        for k, (col, colour) in enumerate((("S1", _COLOURS[0]), ("ST", _COLOURS[1]))):
            ax.barh(y + (0.2 if k == 0 else -0.2), g[col].to_numpy(dtype=float), height=0.4, color=colour,
                    xerr=g[f"{col}_conf"].to_numpy(dtype=float), capsize=2, label=col)
        ax.axvline(0, color="grey", lw=0.6)
        ax.set_title(out, fontsize=9)
        ax.set_xlabel("index (share of output variance)", fontsize=8)
        if j == 0:
            ax.set_yticks(y, factors, fontsize=8)
            ax.legend(frameon=False, fontsize=8, loc="best")
    fig.suptitle("Sobol sensitivity indices (95 % CI)", fontsize=10)
    return fig


def morris_chart(indices: pd.DataFrame) -> Figure:
    """Morris screening: mu* (mean absolute elementary effect, with its 95 % CI) against sigma, per output.

    Args:
        indices: :func:`experiments.analysis.morris_indices` (``output``, ``factor``, ``mu_star``,
            ``mu_star_conf``, ``sigma``); effects are per unit of the normalised factor range.

    Returns:
        A Figure with one Axes per output; its first line holds the points (x = mu*, y = sigma).
    """
    outputs = list(dict.fromkeys(indices["output"]))
    fig = Figure(figsize=(0.6 + 3.8 * max(1, len(outputs)), 3.6), layout="constrained")
    axes = list(fig.subplots(1, max(1, len(outputs)), squeeze=False)[0])
    for ax, out in zip(axes, outputs, strict=False):
        g = indices[indices["output"] == out]
        ax.errorbar(g["mu_star"].to_numpy(dtype=float), g["sigma"].to_numpy(dtype=float),
                    xerr=g["mu_star_conf"].to_numpy(dtype=float), fmt="o", color=_COLOURS[0], capsize=2)
        for _, r in g.iterrows():
            ax.annotate(str(r["factor"]), (r["mu_star"], r["sigma"]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        unit = kpi_unit(out)
        ax.set(xlabel=f"mu* ({unit} per unit range)", ylabel=f"sigma ({unit} per unit range)", title=out)
    fig.suptitle("Morris elementary effects (95 % CI of mu*)", fontsize=10)
    return fig


def main_effects_chart(effects: pd.DataFrame, output: str) -> Figure:
    """Main effects of each factor on one output: mean with its 95 % CI at each level, one panel per factor.

    Args:
        effects: :func:`experiments.analysis.main_effects` (``factor``, ``level``, ``output``, ``mean``,
            ``ci_low``, ``ci_high``).
        output: the output (a headline KPI) to show.

    Returns:
        A Figure with one Axes per factor; its first line is the means in level order (levels as positions
        when they are not numbers).
    """
    e = effects[effects["output"] == output]
    factors = list(dict.fromkeys(e["factor"]))
    fig = Figure(figsize=(0.6 + 3.2 * max(1, len(factors)), 3.2), layout="constrained")
    axes = list(fig.subplots(1, max(1, len(factors)), squeeze=False, sharey=True)[0])
    unit = kpi_unit(output).replace(" per month", "")  # headline flows are totals over the run
    vals = e["mean"].to_numpy(dtype=float)
    scale, shown = _money_scale(unit, vals)
    for j, (ax, f) in enumerate(zip(axes, factors, strict=False)):
        g = e[e["factor"] == f]
        numeric = pd.api.types.is_numeric_dtype(g["level"])
        x = g["level"].to_numpy(dtype=float) if numeric else np.arange(len(g))
        m = g["mean"].to_numpy(dtype=float) / scale
        err = np.vstack([m - g["ci_low"].to_numpy(dtype=float) / scale, g["ci_high"].to_numpy(dtype=float) / scale - m])
        ax.errorbar(x, m, yerr=np.nan_to_num(np.abs(err)), fmt="o-", color=_COLOURS[0], capsize=3)
        if numeric:
            ax.xaxis.set_major_locator(AutoLocator())
        else:
            ax.set_xticks(x, [str(v)[:24] for v in g["level"]], rotation=30, ha="right", fontsize=7)
        ax.set_xlabel(f"{f} (level)", fontsize=8)
        if j == 0:
            ax.set_ylabel(f"{output.replace('_', ' ')} ({shown})")
    fig.suptitle(f"Main effects on {output.replace('_', ' ')} (mean over the other factors, 95 % CI)", fontsize=10)
    return fig


__all__ += [
    "KPI_UNITS", "allocation_spend", "channel_mix", "channel_mix_shares", "ci_bars", "conflict_table",
    "conflicts_by_resolution", "kpi_series", "kpi_unit", "main_effects_chart", "migration_matrix", "morris_chart",
    "response_curves",
    "sobol_chart", "tier_distribution", "tier_migration", "tier_shares",
]
