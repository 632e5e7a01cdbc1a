"""Closed loop: estimate, solve, validate by simulation; trust-region rounds.

Validation re-simulates policies on seeds never used in estimation
(``seed_sequence(seed, VALIDATION_KEY, round, r)``; estimation uses
``ESTIMATION_KEY``), the same seeds for every policy (common random numbers),
so policy differences are paired per replication and their 95 % CIs are
t-intervals of the paired differences.

Each round ``k`` estimates the curves around the current *centre*, solves the
LP with every cell kept within ``radius`` of the centre (``max_change``), and
validates the candidate against the centre.  The candidate is accepted when
its realised gain is positive; the radius grows (x1.5, at most 1) when the
realised gain is at least 3/4 of the curves' prediction and halves on a
rejection.  The loop stops when the allocation moves less than ``tol`` (as a
share of each cell's scale) or after ``rounds`` rounds; every round is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

import sim

from .lp import AllocationProblem, Objective, Robust, TierOrder
from .response import VALIDATION_KEY, ResponseData, estimate
from .simulate import Task, simulate_many
from .solve import Allocation, solve

FINAL_ROUND_KEY = 1000


def paired_ci(diff: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean and t confidence interval of paired differences."""
    d = np.asarray(diff, float)
    n = len(d)
    m = float(d.mean())
    if n < 2:
        return m, float("nan"), float("nan")
    h = float(stats.t.ppf(0.5 + level / 2, n - 1) * d.std(ddof=1) / np.sqrt(n))
    return m, m - h, m + h


def spread(weights: Sequence[float], total: float, lo: Sequence[float], hi: Sequence[float]) -> np.ndarray:
    """``clip(lam * w, lo, hi)`` with ``lam`` chosen so the parts sum to ``total`` (bisection)."""
    w = np.maximum(np.asarray(weights, float), 0.0)
    lo = np.asarray(lo, float)
    hi = np.asarray(hi, float)
    if w.sum() <= 0:
        w = np.ones_like(w)
    if total <= lo.sum():
        return lo.copy()
    if total >= hi.sum():
        return hi.copy()
    a, b = 0.0, 1.0
    while np.clip(b * w, lo, hi).sum() < total:
        b *= 2.0
    for _ in range(200):
        m = 0.5 * (a + b)
        if np.clip(m * w, lo, hi).sum() < total:
            a = m
        else:
            b = m
    return np.clip(b * w, lo, hi)


def equal_split(rd: ResponseData, budget: float) -> dict[str, float]:
    """The budget split equally over the cells (clipped to each cell's simulated range, water-filled)."""
    cs = rd.curves
    s = spread([1.0] * len(cs), budget, [c.lo for c in cs], [c.hi for c in cs])
    return {c.cell: float(v) for c, v in zip(cs, s, strict=True)}


def proportional_split(rd: ResponseData, budget: float) -> dict[str, float]:
    """The budget split over tiers in proportion to tier revenue, within a tier by the current lever mix.

    Programme-wide (``all``) cells weigh as an average tier.
    """
    cs = rd.curves
    rev = {t: float(rd.base[f"revenue_tier_{t}"].mean()) for t in rd.scenario.tier_names
           if f"revenue_tier_{t}" in rd.base}
    avg = float(np.mean(list(rev.values()))) if rev else 1.0
    w = []
    for c in cs:
        tier_cells = [d for d in cs if d.tier == c.tier]
        cur = sum(d.current for d in tier_cells)
        within = c.current / cur if cur > 0 else 1.0 / len(tier_cells)
        w.append(rev.get(c.tier, avg) * within)
    s = spread(w, budget, [c.lo for c in cs], [c.hi for c in cs])
    return {c.cell: float(v) for c, v in zip(cs, s, strict=True)}


def validate(
    policies: dict[str, sim.Scenario],
    *,
    replications: int,
    seed: int,
    round_: int,
    reference: str,
    workers: int | None = None,
    spend_columns: Sequence[str] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate each policy on the same fresh seeds; summary per policy and per-replication outcomes.

    Returns the summary (policy, net_profit mean, ci_low, ci_high, paired differences vs ``reference``)
    and the per-replication frame (policy, rep, net_profit, revenue, incentive_spend, cells_spend: the sum of
    ``spend_columns`` per year).
    """
    seeds = [sim.seed_sequence(seed, VALIDATION_KEY, round_, r) for r in range(replications)]
    names = list(policies)
    tasks = [Task(policies[n], sd) for n in names for sd in seeds]
    outs = simulate_many(tasks, workers=workers)
    recs = []
    for i, n in enumerate(names):
        for r in range(replications):
            o = outs[i * replications + r]
            cell_spend = sum(o.per_year(c) for c in spend_columns)
            recs.append({"policy": n, "rep": r, "net_profit": o.per_year("gross_profit"),
                         "revenue": o.per_year("revenue_total"), "incentive_spend": o.per_year("incentive_spend"),
                         "cells_spend": cell_spend})
    per = pd.DataFrame(recs)
    rows = []
    ref = per[per["policy"] == reference].sort_values("rep")
    for n in names:
        d = per[per["policy"] == n].sort_values("rep")
        m, lo, hi = paired_ci(d["net_profit"].to_numpy())
        # the level's CI is the plain t-interval of the replications
        dm, dlo, dhi = paired_ci(d["net_profit"].to_numpy() - ref["net_profit"].to_numpy())
        rm, rlo, rhi = paired_ci(d["revenue"].to_numpy() - ref["revenue"].to_numpy())
        rows.append({"policy": n, "net_profit": m, "ci_low": lo, "ci_high": hi,
                     f"diff_vs_{reference}": dm, "diff_ci_low": dlo, "diff_ci_high": dhi,
                     "revenue": float(d["revenue"].mean()), "revenue_diff": rm, "revenue_diff_ci_low": rlo,
                     "revenue_diff_ci_high": rhi, "incentive_spend": float(d["incentive_spend"].mean()),
                     "cells_spend": float(d["cells_spend"].mean()), "replications": replications})
    return pd.DataFrame(rows), per


@dataclass(frozen=True)
class OptimisationResult:
    """Every round, the recommended allocation and its validation."""

    allocation: Allocation
    response: ResponseData
    rounds: pd.DataFrame
    validation: pd.DataFrame
    validation_runs: pd.DataFrame
    scenario: sim.Scenario
    optimised: sim.Scenario
    overrides: dict[str, Any]
    original_spends: dict[str, float]
    accepted_any: bool
    seconds: float
    notes: tuple[str, ...] = field(default_factory=tuple)

    def allocation_frame(self) -> pd.DataFrame:
        df = self.allocation.to_frame()
        keys = [f"{t}/{lv}" for t, lv in zip(df["tier"], df["lever"], strict=True)]
        df["original_current"] = [self.original_spends.get(k, np.nan) for k in keys]
        specs = [self.response.spec(k) for k in keys]
        df["setting"] = [self.overrides.get(s.path, s.current_value) for s in specs]
        df["setting_path"] = [s.path for s in specs]
        return df


def _move(alloc: Allocation, rd: ResponseData) -> float:
    out = 0.0
    for c, cur in zip(alloc.cells, rd.curves, strict=True):
        scale = max(cur.current, (cur.hi - cur.lo) / 2.0, 1e-9)
        out = max(out, abs(c.spend - cur.current) / scale)
    return out


def optimise(
    scenario: sim.Scenario,
    cells: Sequence[tuple[str, str]],
    budget: float,
    *,
    objective: Objective = "profit",
    min_roi: float | None = None,
    min_spend: float | None = None,
    robust: Robust | None = None,
    tier_order: TierOrder = None,
    lever_shares: dict[str, tuple[float | None, float | None]] | None = None,
    cell_bounds: dict[str, tuple[float | None, float | None]] | None = None,
    tier_bounds: dict[str, tuple[float | None, float | None]] | None = None,
    lever_bounds: dict[str, tuple[float | None, float | None]] | None = None,
    max_total_change: float | None = None,
    rounds: int = 3,
    radius: float | None = 0.5,
    tol: float = 0.02,
    multipliers: Sequence[float] = (0.0, 0.5, 1.0, 1.5, 2.0),
    replications: int = 8,
    validation_replications: int | None = None,
    seed: int = 0,
    workers: int | None = None,
    fit: str = "ls",
    compare: bool = True,
    progress: Callable[[str], None] | None = None,
) -> OptimisationResult:
    """Estimate, solve and validate in trust-region rounds; validate the result against the baselines.

    Args:
        scenario: the current programme.
        cells: ``(tier, lever)`` pairs to allocate.
        budget: USD per year the cells may spend together.
        objective: ``profit``, ``revenue`` or ``roi`` (see :class:`optimise.lp.AllocationProblem`).
        min_roi: least programme ROI.
        min_spend: least total spend.
        robust: mean-CVaR over the replication curves.
        tier_order: per-partner benefit never lower in a higher tier (``lever``, ``total`` or None).
        lever_shares: ``{lever: (lo, hi)}`` shares of the total spend.
        cell_bounds: ``{"tier/lever": (lo, hi)}``.
        tier_bounds: ``{tier: (lo, hi)}``.
        lever_bounds: ``{lever: (lo, hi)}``.
        max_total_change: ``sum |spend - current|`` at most this (USD per year).
        rounds: the most trust-region rounds (each estimates, solves and validates).
        radius: the initial trust region, a share of each cell's scale (None: the whole simulated range).
        tol: stop when no cell moves more than this share of its scale.
        multipliers: spend levels (see :func:`optimise.response.estimate`).
        replications: replications per level in estimation.
        validation_replications: replications of each validation (default: ``replications``).
        seed: the root seed (estimation and validation use different keys under it).
        workers: processes for the simulations.
        fit: ``ls`` or ``envelope``.
        compare: also validate the equal split and the revenue-proportional split at the end.
        progress: called with one line per step.
    """
    import time

    t0 = time.perf_counter()
    say = progress or (lambda _msg: None)
    vr = validation_replications or replications
    centre = scenario
    rows = []
    notes: list[str] = []
    best: tuple[Allocation, ResponseData, sim.Scenario] | None = None
    first: tuple[Allocation, ResponseData, sim.Scenario] | None = None
    original: dict[str, float] | None = None
    rad = radius
    for k in range(rounds):
        say(f"round {k}: estimating {len(cells)} cells x {len(multipliers)} levels x {replications} replications")
        rd = estimate(centre, cells, multipliers=multipliers, replications=replications, seed=seed, round_=k,
                      workers=workers, fit=fit)
        if original is None:
            original = rd.current_spends()
        problem = AllocationProblem(
            curves=rd.curves, budget=budget, objective=objective, min_roi=min_roi, min_spend=min_spend,
            cell_bounds=cell_bounds or {}, tier_bounds=tier_bounds or {}, lever_bounds=lever_bounds or {},
            lever_shares=lever_shares or {}, tier_order=tier_order, max_change=rad,
            max_total_change=max_total_change, robust=robust, tier_names=tuple(scenario.tier_names),
        )
        alloc = solve(problem)
        cand = centre.with_overrides(rd.overrides_for(alloc.spends()))
        move = _move(alloc, rd)
        say(f"round {k}: LP {alloc.status}, predicted net uplift {alloc.expected_uplift:,.0f}/yr, move {move:.3f}; "
            f"validating on {vr} fresh replications")
        val, _ = validate({"centre": centre, "candidate": cand}, replications=vr, seed=seed, round_=k,
                          reference="centre", workers=workers)
        cv = val.set_index("policy").loc["candidate"]
        metric = "revenue_diff" if objective == "revenue" else "diff_vs_centre"
        lo_col = "revenue_diff_ci_low" if objective == "revenue" else "diff_ci_low"
        hi_col = "revenue_diff_ci_high" if objective == "revenue" else "diff_ci_high"
        realised = float(cv[metric])
        predicted = (alloc.expected_revenue_uplift if objective == "revenue" else alloc.expected_uplift) or 0.0
        accepted = realised > 0
        ratio = realised / predicted if predicted > 0 else float("nan")
        rows.append({
            "round": k, "radius": rad if rad is not None else float("nan"), "objective": objective,
            "objective_value": alloc.objective_value, "predicted_uplift": predicted, "realised_uplift": realised,
            "realised_ci_low": float(cv[lo_col]), "realised_ci_high": float(cv[hi_col]), "ratio": ratio,
            "accepted": accepted, "max_move": move, "total_spend": alloc.total_spend,
            "marginal_roi_left": alloc.marginal_roi_left, "marginal_roi_right": alloc.marginal_roi_right,
            "estimation_runs": rd.n_runs, "estimation_seconds": rd.seconds,
            "non_concave_cells": int((~rd.shapes["concave"]).sum()),
        })
        say(f"round {k}: realised {realised:,.0f} [{cv[lo_col]:,.0f}, {cv[hi_col]:,.0f}] -> "
            f"{'accepted' if accepted else 'rejected'}")
        if first is None:
            first = (alloc, rd, cand)
        if accepted:
            best = (alloc, rd, cand)
            centre = cand
            if rad is not None and np.isfinite(ratio) and ratio >= 0.75:
                rad = min(1.0, rad * 1.5)
        elif rad is not None:
            rad = rad / 2.0
        else:
            rad = 0.5
        if move < tol:
            say(f"round {k}: the allocation moved less than {tol}: stop")
            break
    if best is None:
        notes.append("no round improved on the current programme in validation; the round-0 LP answer is reported "
                     "as 'optimised' for comparison, the recommendation is to keep the current programme")
        best = first
    alloc, rd, opt = best
    policies = {"current": scenario, "optimised": opt}
    if compare:
        policies["equal_split"] = scenario.with_overrides(rd.overrides_for(equal_split(rd, budget)))
        policies["proportional_to_tier_revenue"] = scenario.with_overrides(
            rd.overrides_for(proportional_split(rd, budget)))
    say(f"final validation: {len(policies)} policies x {vr} fresh replications")
    from .response import spend_column

    cols = [spend_column(s.tier, s.lever) for s in rd.specs]
    val, per = validate(policies, replications=vr, seed=seed, round_=FINAL_ROUND_KEY, reference="current",
                        workers=workers, spend_columns=cols)
    # optimised minus each policy, paired
    opt_runs = per[per["policy"] == "optimised"].sort_values("rep")["net_profit"].to_numpy()
    extra = []
    for n in val["policy"]:
        d = per[per["policy"] == n].sort_values("rep")["net_profit"].to_numpy()
        extra.append(paired_ci(opt_runs - d))
    val["optimised_minus_policy"] = [e[0] for e in extra]
    val["omp_ci_low"] = [e[1] for e in extra]
    val["omp_ci_high"] = [e[2] for e in extra]
    overrides = {}
    for s in rd.specs:
        node: Any = opt
        for part in s.path.split("."):
            node = next(t for t in node if t.name == part) if isinstance(node, list) else getattr(node, part)
        overrides[s.path] = float(node)
    return OptimisationResult(
        allocation=alloc, response=rd, rounds=pd.DataFrame(rows), validation=val, validation_runs=per,
        scenario=scenario, optimised=opt, overrides=overrides, original_spends=original or {},
        accepted_any=any(r["accepted"] for r in rows), seconds=time.perf_counter() - t0, notes=tuple(notes),
    )


__all__ = ["OptimisationResult", "equal_split", "optimise", "paired_ci", "proportional_split", "spread", "validate"]
