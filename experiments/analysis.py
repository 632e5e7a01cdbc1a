"""Analysis of a stored experiment: means with 95 % CIs, main effects, Sobol and Morris indices (SALib).

Intervals come from :func:`experiments.stats.mean_ci` (Student t, scipy.stats), the one
implementation the package uses.

Every function takes the tidy table of :func:`experiments.store.load_results` (or the
folder) and returns a tidy DataFrame; plots and the HTML report live in the presentation layer
(:mod:`channelsim.plots`, :func:`channelsim.report.sweep_report`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import InputError

from .design import Experiment, parse_experiment, salib_problem
from .stats import LEVEL, mean_ci
from .store import DESIGN, MANIFEST, StoreError, load_results, located, read_manifest


def experiment_of(root: str | Path) -> Experiment:
    """The experiment stored in a folder's manifest.

    Raises:
        experiments.store.StoreError: the folder has no manifest, or its experiment cannot be read back.
    """
    m = read_manifest(root)
    try:
        return parse_experiment(m.get("experiment"), source=str(m.get("experiment_file", root)),
                                text=str(m.get("experiment_text", "")))
    except InputError as err:
        raise StoreError(f"{located(root, MANIFEST)} is damaged: its experiment cannot be read back "
                         f"({str(err).splitlines()[-1].strip()[:200]})") from None


def _design(root: str | Path) -> pd.DataFrame:
    path = located(root, DESIGN)
    try:
        return pd.read_parquet(path)
    except Exception as err:  # noqa: BLE001 - pyarrow raises several kinds for a damaged file
        raise StoreError(f"{path} is damaged or missing ({str(err).splitlines()[0][:120]}); run "
                         "the sweep into a new --out folder") from None


def outputs_of(df: pd.DataFrame, experiment: Experiment) -> list[str]:
    return [k for k in experiment.summary_outputs() if k in df.columns]


def _ci_row(values: np.ndarray, level: float) -> dict[str, float | int]:
    """``n, mean, std, ci_low, ci_high`` of one group (:func:`experiments.stats.mean_ci`; NaN bounds for n < 2)."""
    iv = mean_ci(values, level)
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    interval = iv.n >= 2
    return {"n": iv.n, "mean": iv.mean, "std": float(v.std(ddof=1)) if interval else np.nan,
            "ci_low": iv.low if interval else np.nan, "ci_high": iv.high if interval else np.nan}


def point_means(df: pd.DataFrame, factors: list[str], outputs: list[str], level: float = LEVEL) -> pd.DataFrame:
    """Per design point and output: factor values, n (ok runs), mean, std and the ``level`` CI of the mean.

    The interval is :func:`experiments.stats.mean_ci`'s t-interval; with fewer than two successful
    replications ``std``, ``ci_low`` and ``ci_high`` are NaN (no interval).
    """
    ok = df[df["status"] == "ok"]
    rows = []
    for point, g in ok.groupby("point", sort=True):
        first = g.iloc[0]
        for out in outputs:
            rows.append({"point": int(point), **{f: first[f] for f in factors}, "output": out,
                         **_ci_row(g[out].to_numpy(), level)})
    return pd.DataFrame(rows)


def main_effects(df: pd.DataFrame, factors: list[str], outputs: list[str], max_levels: int = 8,
                 level: float = LEVEL) -> pd.DataFrame:
    """Mean of each output at each level of each factor (averaged over the other factors), with CIs.

    A numeric factor with more than ``max_levels`` distinct values is binned into
    ``max_levels`` quantile bins (labelled by the bin's mean value).
    """
    ok = df[df["status"] == "ok"]
    rows = []
    for f in factors:
        col = ok[f]
        numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
        if numeric and col.nunique() > max_levels:
            bins = pd.qcut(col, max_levels, duplicates="drop")
            groups = ok.groupby(bins, observed=True)
            labels = {k: float(g[f].mean()) for k, g in groups}
        else:
            groups = ok.groupby(f, sort=True)
            labels = {k: k for k, _ in groups}
        for key, g in groups:
            for out in outputs:
                r = _ci_row(g[out].to_numpy(), level)
                rows.append({"factor": f, "level": labels[key], "output": out, "n": r["n"], "mean": r["mean"],
                             "ci_low": r["ci_low"], "ci_high": r["ci_high"]})
    return pd.DataFrame(rows)


def _point_response(df: pd.DataFrame, n_points: int, output: str) -> np.ndarray:
    ok = df[df["status"] == "ok"]
    y = ok.groupby("point")[output].mean().reindex(range(n_points))
    if y.isna().any():
        missing = [int(p) for p in y.index[y.isna()]][:10]
        raise ValueError(f"{output}: no successful run at design point(s) {missing}; complete the sweep first "
                         "(or --retry-failed)")
    return y.to_numpy(dtype=float)


def sobol_indices(root: str | Path, outputs: list[str] | None = None) -> pd.DataFrame:
    """First-order and total Sobol indices (SALib) per output, for a ``saltelli`` design.

    The response at each design point is the mean over its successful replications.
    """
    from SALib.analyze import sobol

    exp = experiment_of(root)
    if exp.design.kind != "saltelli":
        raise ValueError(f"Sobol indices need a 'saltelli' design, this experiment's is '{exp.design.kind}'")
    df = load_results(root)
    n_points = len(_design(root))
    problem = salib_problem(exp)
    seed = exp.seed if exp.design.seed is None else exp.design.seed
    rows = []
    for out in outputs or outputs_of(df, exp):
        y = _point_response(df, n_points, out)
        res = sobol.analyze(problem, y, calc_second_order=exp.design.second_order, seed=seed)
        for i, name in enumerate(problem["names"]):
            rows.append({"output": out, "factor": name, "S1": res["S1"][i], "S1_conf": res["S1_conf"][i],
                         "ST": res["ST"][i], "ST_conf": res["ST_conf"][i]})
    return pd.DataFrame(rows)


def morris_indices(root: str | Path, outputs: list[str] | None = None) -> pd.DataFrame:
    """Morris elementary effects (mu*, its confidence, sigma) per output, for a ``morris`` design.

    Effects are per unit of the normalised factor range (0..1), so they compare across factors.
    """
    from SALib.analyze import morris

    exp = experiment_of(root)
    if exp.design.kind != "morris":
        raise ValueError(f"Morris indices need a 'morris' design, this experiment's is '{exp.design.kind}'")
    df = load_results(root)
    design = _design(root)
    x = design[[f"u:{n}" for n in exp.factor_names]].to_numpy(dtype=float)
    problem = salib_problem(exp)
    seed = exp.seed if exp.design.seed is None else exp.design.seed
    rows = []
    for out in outputs or outputs_of(df, exp):
        y = _point_response(df, len(design), out)
        res = morris.analyze(problem, x, y, num_levels=exp.design.levels, seed=seed)
        for i, name in enumerate(problem["names"]):
            rows.append({"output": out, "factor": name, "mu_star": res["mu_star"][i],
                         "mu_star_conf": res["mu_star_conf"][i], "mu": res["mu"][i], "sigma": res["sigma"][i]})
    return pd.DataFrame(rows)


def summarise(root: str | Path) -> dict[str, Any]:
    """Everything the report shows, as DataFrames: results, per-point means, main effects, indices."""
    exp = experiment_of(root)
    df = load_results(root)
    outputs = outputs_of(df, exp)
    out: dict[str, Any] = {"experiment": exp, "manifest": read_manifest(root), "results": df, "outputs": outputs}
    out["point_means"] = point_means(df, exp.factor_names, outputs) if len(df) else pd.DataFrame()
    out["main_effects"] = main_effects(df, exp.factor_names, outputs) if len(df) and exp.factors else pd.DataFrame()
    out["sobol"] = out["morris"] = None
    out["indices_error"] = None
    try:
        if exp.design.kind == "saltelli":
            out["sobol"] = sobol_indices(root, outputs)
        elif exp.design.kind == "morris":
            out["morris"] = morris_indices(root, outputs)
    except ValueError as err:
        out["indices_error"] = str(err)
    return out


__all__ = ["experiment_of", "main_effects", "morris_indices", "point_means", "sobol_indices", "summarise"]
