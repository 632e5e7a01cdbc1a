"""Replication statistics: headline KPIs per replication, t-intervals (scipy.stats) and differences."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

import sim


def _t_ppf(q: float, df: float) -> float:
    """Student t quantile (scipy.stats, imported here: 0.4 s that the command line's start need not pay)."""
    from scipy import stats

    return float(stats.t.ppf(q, df))


#: Confidence level of every interval the package reports.
LEVEL = 0.95


def replication_headlines(kpis: pd.DataFrame) -> pd.DataFrame:
    """Headline KPIs (:func:`sim.headline`) of each replication: one row per replication.

    Args:
        kpis: monthly KPIs with a ``replication`` column (a single run without it is replication 0).

    Returns:
        A frame indexed by ``replication``, one column per headline KPI.
    """
    if "replication" not in kpis.columns:
        kpis = kpis.assign(replication=0)
    rows = {int(r): sim.headline(g.sort_values("month").reset_index(drop=True)) for r, g in kpis.groupby("replication")}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("replication").sort_index()


@dataclass(frozen=True)
class Interval:
    """A mean (or mean difference) with its confidence interval.

    Attributes:
        mean: the point estimate.
        low: lower end of the interval (equal to ``mean`` when it cannot be computed).
        high: upper end of the interval.
        n: finite observations used.
        method: how the interval was computed.
    """

    mean: float
    low: float
    high: float
    n: int
    method: str

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2.0

    def as_dict(self) -> dict[str, float | int | str | None]:
        return {"mean": _finite(self.mean), "ci_low": _finite(self.low), "ci_high": _finite(self.high), "n": self.n}


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def mean_ci(values: np.ndarray | pd.Series, level: float = LEVEL) -> Interval:
    """Mean and t-interval over replications (NaNs dropped); the interval is the mean when n < 2.

    Args:
        values: one value per replication.
        level: confidence level.

    Returns:
        The :class:`Interval`.
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0, "no finite values")
    m = float(x.mean())
    if n < 2:
        return Interval(m, m, m, n, "none (one replication: ci = mean)")
    half = float(_t_ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return Interval(m, m - half, m + half, n, f"t-interval, {n - 1} df")


def diff_ci(a: np.ndarray | pd.Series, b: np.ndarray | pd.Series, *, paired: bool, level: float = LEVEL) -> Interval:
    """Difference ``b - a`` of means with a paired t-interval or a Welch t-interval.

    Args:
        a: one value per replication of run A.
        b: one value per replication of run B.
        paired: pair replication i of A with replication i of B (common random numbers).
        level: confidence level.

    Returns:
        The :class:`Interval` of the difference; the interval is the point estimate when it cannot be computed.
    """
    xa = np.asarray(a, dtype=float)
    xb = np.asarray(b, dtype=float)
    if paired:
        d = xb - xa
        iv = mean_ci(d, level)
        method = f"paired t-interval, {iv.n - 1} df" if iv.n >= 2 else iv.method
        return Interval(iv.mean, iv.low, iv.high, iv.n, method)
    xa, xb = xa[np.isfinite(xa)], xb[np.isfinite(xb)]
    na, nb = xa.size, xb.size
    if na == 0 or nb == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0, "no finite values")
    d = float(xb.mean() - xa.mean())
    if na < 2 or nb < 2:
        return Interval(d, d, d, min(na, nb), "none (a run has one replication: ci = difference)")
    va, vb = xa.var(ddof=1) / na, xb.var(ddof=1) / nb
    se2 = va + vb
    if se2 == 0:
        return Interval(d, d, d, min(na, nb), "Welch t-interval (zero variance)")
    df = se2**2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    half = float(_t_ppf(0.5 + level / 2, df) * math.sqrt(se2))
    return Interval(d, d - half, d + half, min(na, nb), f"Welch t-interval, {df:.1f} df")


def summarise(headlines: pd.DataFrame, level: float = LEVEL) -> dict[str, Interval]:
    """One :class:`Interval` per headline KPI column."""
    return {c: mean_ci(headlines[c], level) for c in headlines.columns}


def monthly_band(kpis: pd.DataFrame, column: str, level: float = LEVEL) -> pd.DataFrame:
    """Mean and t-band of ``column`` over replications, per month (columns ``month, mean, low, high``).

    Args:
        kpis: monthly KPIs, with or without a ``replication`` column.
        column: the KPI.
        level: confidence level.
    """
    rows = []
    for month, g in kpis.groupby("month", sort=True):
        iv = mean_ci(g[column].to_numpy(dtype=float), level)
        rows.append((month, iv.mean, iv.low, iv.high))
    return pd.DataFrame(rows, columns=["month", "mean", "low", "high"])


def monthly_diff_band(kpis_a: pd.DataFrame, kpis_b: pd.DataFrame, column: str, *, paired: bool,
                      level: float = LEVEL) -> pd.DataFrame:
    """The difference B - A of ``column`` per month with its CI over replications.

    Paired (replication r of B minus replication r of A, common random numbers) or Welch,
    as :func:`diff_ci`; months present in only one run are left out.

    Args:
        kpis_a: monthly KPIs of A, with or without a ``replication`` column.
        kpis_b: monthly KPIs of B, likewise.
        column: the KPI.
        paired: pair the replications.
        level: confidence level.

    Returns:
        Columns ``month, mean, low, high`` (the interval is the difference when it cannot be computed).
    """
    a = kpis_a if "replication" in kpis_a.columns else kpis_a.assign(replication=0)
    b = kpis_b if "replication" in kpis_b.columns else kpis_b.assign(replication=0)
    ga = {m: g.sort_values("replication") for m, g in a.groupby("month", sort=True)}
    gb = {m: g.sort_values("replication") for m, g in b.groupby("month", sort=True)}
    rows = []
    for month in sorted(set(ga) & set(gb)):
        xa, xb = ga[month], gb[month]
        if paired:
            m = xa[["replication", column]].merge(xb[["replication", column]], on="replication", suffixes=("_a", "_b"))
            iv = diff_ci(m[f"{column}_a"], m[f"{column}_b"], paired=True, level=level)
        else:
            iv = diff_ci(xa[column], xb[column], paired=False, level=level)
        rows.append((month, iv.mean, iv.low, iv.high))
    return pd.DataFrame(rows, columns=["month", "mean", "low", "high"])


__all__ = ["LEVEL", "Interval", "diff_ci", "mean_ci", "monthly_band", "monthly_diff_band", "replication_headlines",
           "summarise"]
