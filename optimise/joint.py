"""Joint response estimation: every cell moves at once, in a balanced design with common random numbers.

The one-cell-at-a-time estimation (:func:`optimise.response.estimate`) holds every other cell at
today's level while it moves one, so its curves miss how the cells act together (training in every
tier at once, a rebate cut together with an MDF rise). Here each *design point* sets every cell to
one of its levels; the levels of a cell are balanced over the points (each level appears equally
often, in an order drawn by the estimation seed: a discrete Latin hypercube). Every point runs with
the same replication seeds as the centre (common random numbers), and each outcome is taken as
the paired difference from the centre's run of the same seed.

The separable model is then fitted by least squares: for each cell ``c`` the outcome
``y_c = delta gross profit + delta own spend of c`` (the value the LP's curve of ``c`` holds, as in
the one-cell estimation) is regressed on indicator columns of every cell's level (the current
level is the reference, so effects are 0 there). The effect of cell ``c``'s own levels in that
regression is ``c``'s value curve, *averaged over the other cells' levels* instead of at today's
levels of the others; likewise its own spend and the revenue. Standard errors are ordinary
least-squares ones from the residuals.

Interactions are tested, not assumed away: with the replications of each point, the lack-of-fit
F-test compares what the separable model leaves unexplained between points with the pure
replication noise within them; and each pair of cells gets a product term of their level
deviations, ranked by its t statistic (``ResponseData.diagnostics``).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

import sim

from .response import (
    DEFAULT_MULTIPLIERS,
    ESTIMATION_KEY,
    ResponseData,
    _outcome_row,
    _t,
    cell_spec,
    fit_cell,
    spend_column,
)
from .simulate import ProgressFn, Task, simulate_many

#: The design's own key under the root seed (its draws never share a stream with a run).
DESIGN_KEY = 303


def design_size(n_params: int) -> int:
    """Design points for ``n_params`` level effects: twice as many, at least 24.

    A rule of thumb for main-effect screening designs, leaving residual degrees of freedom for the
    lack-of-fit test.
    """
    return max(24, 2 * n_params)


def design_levels(specs, multipliers: Sequence[float]) -> tuple[list[list[float]], list[int]]:
    """Each cell's levels (the multipliers and the current one) and the index of the current one.

    Levels whose value coincides with the current one (a rate capped at 1) are the current level.
    """
    levels, current = [], []
    for spec in specs:
        cur = round(spec.current_multiplier, 10)
        ms = sorted({round(float(m), 10) for m in multipliers} | {cur})
        tol = 1e-12 * max(1.0, spec.current_value)
        ms = [m for m in ms if m == cur or abs(spec.value(m) - spec.current_value) > tol]
        levels.append(ms)
        current.append(ms.index(cur))
    return levels, current


def check_points(points: int | None, n_params: int) -> int:
    """The design's size: ``points``, or :func:`design_size`; more points than level effects are needed.

    Raises:
        ValueError: ``points`` too small.
    """
    n_points = int(points) if points is not None else design_size(n_params)
    if n_points <= n_params:
        raise ValueError(f"design points {n_points} (--design-points): the joint design needs more points than level "
                         f"effects ({n_params}: each cell's levels but its current one); allowed: at least "
                         f"{n_params + 1}")
    return n_points


def check_design(scenario: sim.Scenario, cells: Sequence[tuple[str, str]], multipliers: Sequence[float],
                 points: int | None) -> int:
    """The joint design's size for these cells, checked before any simulation (see :func:`check_points`)."""
    levels, _ = design_levels([cell_spec(scenario, t, lv) for t, lv in cells], multipliers)
    return check_points(points, sum(len(ms) - 1 for ms in levels))


def balanced_design(levels: Sequence[Sequence[float]], n_points: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_points, n_cells)`` level indices: each cell's levels equally often, in an order drawn by ``rng``.

    Among 20 candidate designs the one with the smallest largest correlation between two cells'
    level columns is kept (a cheap maximin step: near-orthogonal columns keep the effects apart).
    """
    best, best_r = None, np.inf
    for _ in range(20):
        cols = []
        for lv in levels:
            k = len(lv)
            base = np.resize(np.arange(k), n_points)
            cols.append(rng.permutation(base))
        d = np.column_stack(cols)
        if d.shape[1] > 1:
            c = np.corrcoef(d.T.astype(float))
            r = float(np.nanmax(np.abs(c - np.eye(len(c)))))
        else:
            r = 0.0
        if r < best_r:
            best, best_r = d, r
    return best


def _indicators(design: np.ndarray, current: Sequence[int], n_levels: Sequence[int]) -> tuple[np.ndarray, list]:
    """Indicator columns of every non-current level of every cell, and their (cell index, level index)."""
    cols, names = [], []
    for j, (cur, k) in enumerate(zip(current, n_levels, strict=True)):
        for lv in range(k):
            if lv != cur:
                cols.append((design[:, j] == lv).astype(float))
                names.append((j, lv))
    return np.column_stack(cols) if cols else np.zeros((len(design), 0)), names


def estimate_joint(
    scenario: sim.Scenario,
    cells: Sequence[tuple[str, str]],
    *,
    multipliers: Sequence[float] = DEFAULT_MULTIPLIERS,
    replications: int = 2,
    points: int | None = None,
    seed: int = 0,
    round_: int = 0,
    workers: int | None = None,
    fit: str = "ls",
    progress: ProgressFn | None = None,
) -> ResponseData:
    """Simulate a balanced design over all cells at once (CRN) and fit each cell's separable concave curve.

    Args:
        scenario: the centre programme.
        cells: ``(tier, lever)`` pairs.
        multipliers: levels as multiples of each cell's reference rate (the current level is added).
        replications: replications of every design point and of the centre (paired by seed); at least 2,
            so that the lack-of-fit test has pure replication noise to compare with.
        points: design points (default :func:`design_size` of the number of level effects).
        seed: the root seed; runs use ``seed_sequence(seed, ESTIMATION_KEY, round_, r)`` as the one-cell
            estimation does, the design ``seed_sequence(seed, DESIGN_KEY, round_)``.
        round_: the trust-region round.
        workers: processes for the simulations.
        fit: ``"ls"`` or ``"envelope"`` (as :func:`optimise.response.estimate`).
        progress: called with ``(done, total)`` after each simulation.

    Returns:
        A :class:`ResponseData` like the one-cell estimation's; ``runs`` has one row per (point,
        replication) with each cell's multiplier (``m::CELL``) and spend (``spend::CELL``);
        ``diagnostics`` holds the lack-of-fit test and the ranked pairwise interactions.
    """
    if replications < 2:
        raise ValueError("replications must be at least 2 (the lack-of-fit test needs replicated points)")
    if fit not in ("ls", "envelope"):
        raise ValueError(f"fit must be 'ls' or 'envelope', got {fit!r}")
    specs = tuple(cell_spec(scenario, t, lv) for t, lv in cells)
    spec_cols = {s.cell: spend_column(s.tier, s.lever) for s in specs}
    levels, current = design_levels(specs, multipliers)
    n_levels = [len(ms) for ms in levels]
    n_params = sum(k - 1 for k in n_levels)
    n_points = check_points(points, n_params)
    rng = np.random.default_rng(sim.seed_sequence(seed, DESIGN_KEY, round_))
    design = balanced_design(levels, n_points, rng)
    seeds = [sim.seed_sequence(seed, ESTIMATION_KEY, round_, r) for r in range(replications)]

    tasks = [Task(scenario, sd) for sd in seeds]
    for p in range(n_points):
        ov: dict[str, float] = {}
        for j, spec in enumerate(specs):
            ov.update(spec.overrides(levels[j][design[p, j]]))
        sc = scenario.with_overrides(ov)
        tasks += [Task(sc, sd) for sd in seeds]
    t0 = time.perf_counter()
    outs = simulate_many(tasks, workers=workers, progress=progress)
    seconds = time.perf_counter() - t0

    base_rows = [_outcome_row(o, spec_cols) for o in outs[:replications]]
    base = pd.DataFrame([{"rep": r, **row} for r, row in enumerate(base_rows)])
    partners = {t: float(base[f"partners_tier_{t}"].mean()) for t in scenario.tier_names
                if f"partners_tier_{t}" in base}
    recs = []
    for i, o in enumerate(outs[replications:]):
        p, r = divmod(i, replications)
        row, b = _outcome_row(o, spec_cols), base_rows[r]
        rec = {"point": p, "rep": r, "d_net": row["gp"] - b["gp"], "d_revenue": row["revenue"] - b["revenue"],
               "d_spend_total": row["incentive_spend"] - b["incentive_spend"]}
        for j, spec in enumerate(specs):
            rec[f"m::{spec.cell}"] = levels[j][design[p, j]]
            rec[f"spend::{spec.cell}"] = row[f"spend::{spec.cell}"]
            rec[f"d_spend::{spec.cell}"] = row[f"spend::{spec.cell}"] - b[f"spend::{spec.cell}"]
        recs.append(rec)
    runs = pd.DataFrame(recs)

    rows_design = design[runs["point"].to_numpy()]
    X, names = _indicators(rows_design, current, n_levels)
    # responses: each cell's value (delta gp + its own spend change) and own spend change, revenue, net
    Y = np.column_stack(
        [runs["d_net"] + runs[f"d_spend::{s.cell}"] for s in specs]
        + [runs[f"d_spend::{s.cell}"] for s in specs]
        + [runs["d_revenue"], runs["d_net"]]
    )
    coef, se = _ols(X, Y)
    per_rep_coef = []
    for r in range(replications):
        m = runs["rep"].to_numpy() == r
        per_rep_coef.append(_ols(X[m], Y[m])[0] if m.sum() > X.shape[1] else coef)
    n_c = len(specs)
    tq = _t(len(runs) - X.shape[1] + 1)

    pts, shapes, curves = [], [], []
    for j, spec in enumerate(specs):
        idx = {lv: k for k, (jj, lv) in enumerate(names) if jj == j}

        def effect(col: int, c: np.ndarray, lv: int, idx=idx) -> float:
            return float(c[idx[lv], col]) if lv in idx else 0.0

        centre_spend = float(base[f"spend::{spec.cell}"].mean())
        agg = pd.DataFrame({
            "multiplier": levels[j],
            "spend": [centre_spend + effect(n_c + j, coef, lv) for lv in range(n_levels[j])],
            "value": [effect(j, coef, lv) for lv in range(n_levels[j])],
            "value_se": [float(se[idx[lv], j]) if lv in idx else 0.0 for lv in range(n_levels[j])],
            "revenue": [effect(2 * n_c, coef, lv) for lv in range(n_levels[j])],
            "revenue_se": [float(se[idx[lv], 2 * n_c]) if lv in idx else 0.0 for lv in range(n_levels[j])],
            "d_net": [effect(2 * n_c + 1, coef, lv) for lv in range(n_levels[j])],
            "d_net_se": [float(se[idx[lv], 2 * n_c + 1]) if lv in idx else 0.0 for lv in range(n_levels[j])],
            "n": [int((design[:, j] == lv).sum()) * replications for lv in range(n_levels[j])],
        })
        for col in ("value", "revenue", "d_net"):
            agg[f"{col}_ci_low"] = agg[col] - tq * agg[f"{col}_se"]
            agg[f"{col}_ci_high"] = agg[col] + tq * agg[f"{col}_se"]
        agg["d_other_spend"] = np.nan
        agg["gp_before_all"] = np.nan
        order = np.argsort(agg["spend"].to_numpy(), kind="stable")
        agg = agg.iloc[order].reset_index(drop=True)
        # Breakpoints must increase strictly: merge levels whose estimated spends coincide.
        key = np.round(agg["spend"].to_numpy(), 6)
        merged = len(np.unique(key)) < len(key)
        if merged:
            agg["_k"] = key
            agg = agg.groupby("_k", sort=True).agg("mean").reset_index(drop=True)
        per_rep = []
        for c in per_rep_coef:
            vr = np.array([effect(j, c, lv) for lv in range(n_levels[j])])[order]
            per_rep.append(agg["value"].to_numpy() if merged else vr)
        agg, sh, curve = fit_cell(spec, agg, per_rep, fit=fit, current_spend=centre_spend,
                                  partners=partners.get(spec.tier))
        pts.append(agg)
        shapes.append(sh)
        curves.append(curve)

    diagnostics = {"design": "joint", "points": n_points, "replications": replications, "parameters": n_params,
                   **lack_of_fit(runs, X), "interactions": pair_interactions(runs, X, specs, levels, current)}
    return ResponseData(
        scenario=scenario, specs=specs, multipliers=tuple(float(m) for m in multipliers), runs=runs,
        points=pd.concat(pts, ignore_index=True), shapes=pd.DataFrame(shapes), curves=tuple(curves), base=base,
        partners=partners, seconds=seconds, n_runs=len(tasks), diagnostics=diagnostics,
    )


def _ols(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares coefficients (no intercept: effects are 0 at the centre) and their standard errors."""
    coef, *_ = np.linalg.lstsq(X, Y, rcond=None)
    resid = Y - X @ coef
    dof = max(X.shape[0] - X.shape[1], 1)
    sigma2 = (resid ** 2).sum(axis=0) / dof
    xtx_inv = np.linalg.pinv(X.T @ X)
    se = np.sqrt(np.maximum(np.diag(xtx_inv), 0.0))[:, None] * np.sqrt(sigma2)[None, :]
    return coef, se


def lack_of_fit(runs: pd.DataFrame, X: np.ndarray) -> dict[str, float]:
    """Lack-of-fit F-test of the separable model for net profit (``d_net``), against replication noise.

    ``SS_pe`` is the spread of the replications around their point's mean; ``SS_lof`` the spread of
    the point means around the separable model's prediction (times the replications). A small
    p-value says the cells interact (or respond in a way the level effects cannot hold).
    """
    y = runs["d_net"].to_numpy()
    pt = runs["point"].to_numpy()
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    pred = X @ coef
    means = pd.Series(y).groupby(pt).transform("mean").to_numpy()
    ss_pe = float(((y - means) ** 2).sum())
    ss_lof = float(((means - pred) ** 2).sum())
    n_pts = int(pd.Series(pt).nunique())
    df_pe = len(y) - n_pts
    df_lof = n_pts - X.shape[1]
    if df_pe <= 0 or df_lof <= 0 or ss_pe <= 0:
        return {"lof_f": float("nan"), "lof_p": float("nan"), "lof_df": (df_lof, df_pe), "r2_between": float("nan")}
    f = (ss_lof / df_lof) / (ss_pe / df_pe)
    between = float(((means - means.mean()) ** 2).sum())
    return {"lof_f": float(f), "lof_p": float(stats.f.sf(f, df_lof, df_pe)), "lof_df": (int(df_lof), int(df_pe)),
            "r2_between": 1.0 - ss_lof / between if between > 0 else float("nan")}


def pair_interactions(runs: pd.DataFrame, X: np.ndarray, specs, levels, current, top: int = 5) -> list[dict]:
    """Each pair of cells: the t statistic of a product term of their level deviations.

    The term is added to the separable model of net profit; the ``top`` largest are returned, with
    Bonferroni-adjusted p-values.
    """
    y = runs["d_net"].to_numpy()
    dev = []
    for j, spec in enumerate(specs):
        m = runs[f"m::{spec.cell}"].to_numpy()
        span = max(levels[j]) - min(levels[j]) or 1.0
        dev.append((m - levels[j][current[j]]) / span)
    out = []
    n_pairs = len(specs) * (len(specs) - 1) // 2
    for a, b in itertools.combinations(range(len(specs)), 2):
        z = dev[a] * dev[b]
        if not np.any(z):
            continue
        Xa = np.column_stack([X, z])
        coef, se = _ols(Xa, y[:, None])
        t = float(coef[-1, 0] / se[-1, 0]) if se[-1, 0] > 0 else 0.0
        dof = max(len(y) - Xa.shape[1], 1)
        p = float(min(1.0, 2 * stats.t.sf(abs(t), dof) * n_pairs))
        out.append({"cells": (specs[a].cell, specs[b].cell), "coef": float(coef[-1, 0]), "t": t, "p_adjusted": p})
    out.sort(key=lambda d: -abs(d["t"]))
    return out[:top]


__all__ = ["DESIGN_KEY", "balanced_design", "check_design", "design_levels", "design_size", "estimate_joint",
           "lack_of_fit", "pair_interactions"]
