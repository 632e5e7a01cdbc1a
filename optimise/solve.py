"""The solve step: HiGHS through PuLP, read back into a frozen :class:`Allocation`.

Sign convention (checked in ``tests/test_optimise_lp.py`` on a problem whose
shadow prices are known): HiGHS reports ``pi = d objective / d rhs`` of each
row as written (``expr <= rhs`` or ``expr >= rhs``), whether the problem is a
maximisation or a minimisation.  :class:`Binding` keeps that number as
``dual`` and adds ``relax_value``: the objective gained per unit the row is
*relaxed* (``dual`` for a ``<=`` row, ``-dual`` for a ``>=`` row), which is
never negative at an optimum of a maximisation.

The marginal ROI of the budget is measured, not assumed: the LP is re-solved
at ``B + delta`` and ``B - delta`` and the change of the incremental net profit
is divided by ``delta`` (``marginal_roi_right``, ``marginal_roi_left``).  For the
profit objective the budget row's dual must lie between them; ``dual_check``
records whether it does.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pulp

from .lp import AllocationProblem, BuiltLP, Curve, build, tail_atoms

_ABS_TOL = 1e-6


class InfeasibleAllocation(ValueError):
    """The constraints cannot all hold; ``conflicts`` names a minimal conflicting set of groups."""

    def __init__(self, message: str, conflicts: tuple[str, ...], statements: tuple[str, ...]):
        super().__init__(message)
        self.conflicts = conflicts
        self.statements = statements


@dataclass(frozen=True)
class CellResult:
    """The optimised spend of one cell and what the curve expects of it (USD per year)."""

    tier: str
    lever: str
    spend: float
    current: float
    share: float
    value: float
    revenue: float | None
    marginal_roi_left: float | None
    marginal_roi_right: float | None

    @property
    def cell(self) -> str:
        return f"{self.tier}/{self.lever}"


@dataclass(frozen=True)
class Binding:
    """An active constraint at the optimum and its shadow price.

    ``dual`` is ``d objective / d rhs``; ``relax_value`` is the objective gained per unit of relaxation.
    """

    name: str
    group: str
    statement: str
    sense: str
    dual: float
    relax_value: float


@dataclass(frozen=True)
class Allocation:
    """The frozen result of one solve."""

    status: str
    objective: str
    objective_value: float
    budget: float
    cells: tuple[CellResult, ...]
    total_spend: float
    expected_uplift: float  # incremental net profit vs the current programme, from the curves
    expected_revenue_uplift: float | None
    roi: float | None  # (sum gain over the lowest level - spend) / spend
    marginal_roi_left: float | None
    marginal_roi_right: float | None
    objective_slope_left: float | None
    objective_slope_right: float | None
    budget_dual: float | None
    dual_check: bool | None
    binding: tuple[Binding, ...]
    cvar: float | None = None
    scenario_profits: tuple[float, ...] | None = None
    solve_seconds: float = 0.0
    notes: tuple[str, ...] = field(default_factory=tuple)

    def spends(self) -> dict[str, float]:
        return {c.cell: c.spend for c in self.cells}

    def to_frame(self) -> pd.DataFrame:
        """One row per cell: tier, lever, spend, share, marginal_roi (left) and the rest."""
        df = pd.DataFrame([{
            "tier": c.tier, "lever": c.lever, "spend": c.spend, "share": c.share,
            "marginal_roi": c.marginal_roi_left if c.marginal_roi_left is not None else c.marginal_roi_right,
            "marginal_roi_left": c.marginal_roi_left, "marginal_roi_right": c.marginal_roi_right,
            "current": c.current, "expected_gain": c.value, "expected_revenue": c.revenue,
        } for c in self.cells])
        return df


_banner_swallowed = False


def _swallow_banner() -> None:
    """Construct HiGHS once with the process's standard output sent to /dev/null.

    HiGHS (1.16) prints its banner ("Running HiGHS ... Copyright ...") from C++ the first time a
    ``Highs`` object is made in a process, before any option (``output_flag``) can be set on it;
    it is never printed again in that process.  Making that first object here, with file
    descriptor 1 pointed at /dev/null for the moment it takes, keeps the banner off the
    terminal and out of piped output.  Nothing is done when descriptor 1 cannot be redirected.
    """
    global _banner_swallowed
    if _banner_swallowed:
        return
    _banner_swallowed = True
    try:
        import highspy
    except ImportError:  # PuLP reports a missing HiGHS when it solves
        return
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError, AttributeError):
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 1)
            highspy.Highs()
            _flush_c_stdout()
        finally:
            os.dup2(saved, 1)
            os.close(devnull)
    except OSError:
        pass
    finally:
        os.close(saved)


def _flush_c_stdout() -> None:
    """Flush the C library's stdio buffers (what HiGHS printed may still sit in them)."""
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError, TypeError):  # no C library to load (Windows): HiGHS flushes its log itself
        pass


def solver(msg: bool = False) -> pulp.HiGHS:
    """The HiGHS solver, quiet: no log, and (``msg=False``) no banner on standard output.

    The MIP gap is closed (``mip_rel_gap`` 0, ``mip_abs_gap`` 1e-9 rather than HiGHS's 1e-4 and
    1e-6): with segment-order binaries the MIP picks which segments may be used, and a 0.01 % gap
    let it stop on a suboptimal choice that the fixed-binary LP then could not repair (found by
    the linprog property test, seed 0, 2 tiers x 3 levers x 4 segments: 75.5693 against 75.5738).
    These MIPs have tens of binaries, so proving optimality costs milliseconds.
    """
    if not msg:
        _swallow_banner()
    return pulp.HiGHS(msg=msg, output_flag=msg, gapRel=0.0, gapAbs=1e-9)


def _run(built: BuiltLP) -> pulp.LpSolveStats:
    """Solve; with segment-order binaries, solve the MIP, fix them and solve the LP again (for its duals)."""
    st = built.prob.solve(solver())
    if built.binaries and st.status == pulp.LpSolveStatus.Optimal:
        for y in built.binaries:
            v = float(round(y.value() or 0.0))
            y.cat = pulp.LpContinuous
            y.lowBound = y.upBound = v
        st = built.prob.solve(solver())
    return st


def _spends(built: BuiltLP) -> dict[str, float]:
    t = built.scale_var.value() if built.scale_var is not None else 1.0
    out = {}
    for c in built.problem.curves:
        xs = sum((x.value() or 0.0) for x in built.segments[c.cell])
        s = c.lo + (xs / t if built.scale_var is not None else xs)
        out[c.cell] = float(min(max(s, c.lo), c.hi))
    return out


def evaluate(problem: AllocationProblem, spends: dict[str, float]) -> dict[str, float | None]:
    """Curve-implied outcomes of an allocation: net profit uplift, revenue uplift, ROI, gains."""
    uplift = 0.0
    rev = 0.0 if all(c.revenue is not None for c in problem.curves) else None
    gain = 0.0
    spend = 0.0
    for c in problem.curves:
        s = spends[c.cell]
        uplift += c.at(s) - (s - c.current)
        gain += c.at(s) - c.at(c.lo)
        spend += s
        if rev is not None:
            rev += c.at(s, c.revenue)
    roi = (gain - spend) / spend if spend > 0 else None
    return {"uplift": uplift, "revenue": rev, "roi": roi, "spend": spend}


def objective_of(problem: AllocationProblem, spends: dict[str, float]) -> float:
    """The objective value of an allocation, recomputed from the curves (in-order segment fill)."""
    if problem.objective == "revenue":
        return float(evaluate(problem, spends)["revenue"])
    if problem.objective == "roi":
        r = evaluate(problem, spends)["roi"]
        return float("nan") if r is None else float(r)
    if problem.robust is None:
        return float(evaluate(problem, spends)["uplift"])
    profits = scenario_profits(problem, spends)
    w = problem.robust.weight
    return float((1 - w) * profits.mean() + w * cvar(profits, problem.robust.alpha))


def scenario_profits(problem: AllocationProblem, spends: dict[str, float]) -> np.ndarray:
    K = len(problem.curves[0].scenario_values)
    out = np.zeros(K)
    for c in problem.curves:
        s = spends[c.cell]
        for k in range(K):
            out[k] += c.at(s, c.scenario_values[k]) - (s - c.current)
    return out


def cvar(values: np.ndarray, alpha: float) -> float:
    """Conditional value at risk of profits at confidence level ``alpha`` (Rockafellar-Uryasev).

    The mean of the worst ``1 - alpha`` share of ``values`` (equal weights; a fractional atom is
    split): ``cvar(v, 0.9)`` is the mean of the worst 10 % of ``v``.  This is the value of the LP's
    ``max_eta eta - 1/((1 - alpha) K) sum_k max(eta - v_k, 0)``.

    Raises:
        ValueError: ``alpha`` outside the open interval (0, 1), or no values.
    """
    if not (np.isfinite(alpha) and 0 < alpha < 1):
        raise ValueError(f"CVaR alpha is the confidence level, in the open interval (0, 1), got {alpha}")
    v = np.sort(np.asarray(values, float))
    K = len(v)
    if K == 0:
        raise ValueError("CVaR of no values")
    m = tail_atoms(alpha, K)
    full = int(np.floor(m + 1e-12))
    tail = v[:full].sum() + (m - full) * (v[full] if full < K else 0.0)
    return float(tail / m)


def _solve_spends(problem: AllocationProblem, budget: float) -> dict[str, float] | None:
    built = build(problem, budget=budget)
    st = _run(built)
    if st.status != pulp.LpSolveStatus.Optimal:
        return None
    return _spends(built)


def diagnose(problem: AllocationProblem, budget: float | None = None) -> tuple[str, ...]:
    """A minimal set of constraint groups that cannot hold together (deletion filter).

    Groups are dropped one at a time; a group whose removal leaves the rest infeasible is
    not needed to explain the conflict and stays dropped.  Each cell's simulated spend
    range is always kept (it is the domain of the curves).
    """
    full = build(problem, budget=budget, feasibility=True)
    if _run(full).status == pulp.LpSolveStatus.Optimal:
        return ()
    dropped: set[str] = set()
    for g in full.groups:
        trial = build(problem, budget=budget, drop=frozenset(dropped | {g}), feasibility=True)
        if _run(trial).status != pulp.LpSolveStatus.Optimal:
            dropped.add(g)
    keep = tuple(g for g in full.groups if g not in dropped)
    return keep


def _infeasible(problem: AllocationProblem, budget: float) -> InfeasibleAllocation:
    groups = diagnose(problem, budget)
    built = build(problem, budget=budget, feasibility=True)
    statements = []
    for g in groups:
        texts = [r.text for r in built.rows.values() if r.group == g and r.text]
        statements.append(f"{g}: " + "; ".join(texts))
    ranges = ", ".join(f"{c.cell} in [{c.lo:,.0f}, {c.hi:,.0f}]" for c in problem.curves)
    if groups:
        msg = ("the allocation constraints are infeasible; these cannot all hold together: "
               + " | ".join(statements) + f" (given each cell's simulated spend range: {ranges})")
    else:
        msg = f"the allocation is infeasible within the cells' simulated spend ranges alone ({ranges})"
    return InfeasibleAllocation(msg, groups, tuple(statements))


def solve(problem: AllocationProblem, *, delta: float | None = None) -> Allocation:
    """Solve ``problem`` with HiGHS and read back a frozen :class:`Allocation`.

    Args:
        problem: the allocation data.
        delta: the budget step of the marginal-ROI re-solves (default 1 % of the budget, at least 1).

    Raises:
        InfeasibleAllocation: naming a minimal set of conflicting constraint groups.
        RuntimeError: when HiGHS stops for any other reason than optimality.
    """
    t0 = time.perf_counter()
    B = float(problem.budget)
    built = build(problem)
    st = _run(built)
    if st.status == pulp.LpSolveStatus.Infeasible:
        raise _infeasible(problem, B)
    if st.status != pulp.LpSolveStatus.Optimal:
        if not diagnose(problem, B) == ():
            raise _infeasible(problem, B)
        raise RuntimeError(f"HiGHS stopped with status {st.status.name} on the allocation LP")
    spends = _spends(built)
    ev = evaluate(problem, spends)
    notes: list[str] = []
    lp_obj = float(st.objective)
    recomputed = objective_of(problem, spends)
    if np.isfinite(recomputed) and abs(recomputed - lp_obj) > 1e-6 * max(1.0, abs(lp_obj)):
        notes.append(f"objective re-evaluated in segment order: LP {lp_obj:.6g} vs curves {recomputed:.6g}")

    # Shadow prices, read with the sign convention of the module docstring.
    binding = []
    budget_dual = None
    for con in built.prob.constraints():
        row = built.rows.get(con.name)
        if row is None:
            continue
        pi = float(con.pi or 0.0)
        slack = float(con.slack or 0.0)
        if row.name == "budget" and built.scale_var is None:
            budget_dual = pi
        scale = max(1.0, abs(B))
        if abs(slack) <= 1e-7 * scale or abs(pi) > 1e-9:
            relax = pi if row.sense == "<=" else -pi
            binding.append(Binding(row.name, row.group, row.text, row.sense, pi, relax))

    # Marginal ROI of the budget from both sides: re-solve at B +- delta.
    d = float(delta) if delta is not None else max(1.0, 0.01 * B)
    up = _solve_spends(problem, B + d)
    dn = _solve_spends(problem, B - d) if B - d >= 0 else None
    up_ev = evaluate(problem, up) if up else None
    dn_ev = evaluate(problem, dn) if dn else None
    mr_right = (up_ev["uplift"] - ev["uplift"]) / d if up_ev else None
    mr_left = (ev["uplift"] - dn_ev["uplift"]) / d if dn_ev else None
    ob_right = (objective_of(problem, up) - recomputed) / d if up else None
    ob_left = (recomputed - objective_of(problem, dn)) / d if dn else None
    dual_check = None
    if budget_dual is not None and ob_right is not None and ob_left is not None:
        tol = 1e-6 * max(1.0, abs(ob_left), abs(ob_right))
        dual_check = bool(min(ob_left, ob_right) - tol <= budget_dual <= max(ob_left, ob_right) + tol)
        if not dual_check:
            notes.append(f"budget dual {budget_dual:.6g} outside the finite-difference slopes "
                         f"[{ob_right:.6g}, {ob_left:.6g}] (a kink wider than delta, or degeneracy)")

    total = sum(spends.values())
    cells = []
    for c in problem.curves:
        s = spends[c.cell]
        sl = c.slopes() if len(c.spend) > 1 else np.zeros(0)
        bp = np.asarray(c.spend, float)
        # left slope: the segment ending at or containing s; right: the segment starting at or containing s
        tol = 1e-9 * max(1.0, c.hi)
        left = right = None
        if len(sl):
            kl = int(np.searchsorted(bp, s - tol, side="left")) - 1
            kr = int(np.searchsorted(bp, s + tol, side="right")) - 1
            left = float(sl[kl]) - 1.0 if 0 <= kl < len(sl) else None
            right = float(sl[kr]) - 1.0 if 0 <= kr < len(sl) else None
        cells.append(CellResult(
            tier=c.tier, lever=c.lever, spend=s, current=c.current, share=s / total if total > _ABS_TOL else 0.0,
            value=c.at(s), revenue=c.at(s, c.revenue) if c.revenue is not None else None,
            marginal_roi_left=left, marginal_roi_right=right,
        ))
    cv = prof = None
    if problem.robust is not None:
        p = scenario_profits(problem, spends)
        prof = tuple(float(v) for v in p)
        cv = cvar(p, problem.robust.alpha)
    return Allocation(
        status="optimal", objective=problem.objective, objective_value=recomputed, budget=B, cells=tuple(cells),
        total_spend=total, expected_uplift=float(ev["uplift"]), expected_revenue_uplift=ev["revenue"], roi=ev["roi"],
        marginal_roi_left=mr_left, marginal_roi_right=mr_right, objective_slope_left=ob_left,
        objective_slope_right=ob_right, budget_dual=budget_dual, dual_check=dual_check, binding=tuple(binding),
        cvar=cv, scenario_profits=prof, solve_seconds=time.perf_counter() - t0, notes=tuple(notes),
    )


__all__ = ["Allocation", "Binding", "CellResult", "Curve", "InfeasibleAllocation", "cvar", "diagnose", "evaluate",
           "objective_of", "scenario_profits", "solve", "solver"]
