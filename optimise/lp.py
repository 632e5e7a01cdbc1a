"""The pure builder: allocation data -> a PuLP problem (no I/O, no solving).

A *cell* is one tier x lever pair.  Its response is a concave piecewise-linear
curve ``value(spend)`` on breakpoints ``spend[0] < ... < spend[n]`` (the spend
levels that were simulated); ``value`` is the cell's incremental gross profit
before its own incentive cost, relative to the programme the curve was
estimated around (so ``value(current) = 0``).  Spend is split into segments
``x[c, k]`` in ``[0, spend[k+1] - spend[k]]`` with ``spend_c = spend[0] + sum_k
x[c, k]``; because slopes decrease, an LP fills them in order and the
formulation is exact without binaries (see ``docs/OPTIMISE.md``).

:func:`build` returns a :class:`BuiltLP`: the ``pulp.LpProblem`` plus handles
(segment variables, the row -> constraint-group map) that :mod:`optimise.solve`
reads back.  Every constraint row belongs to a named *group* (``budget``,
``lever_share[mdf]``, ...) so that infeasibility can be explained group by
group, and any group can be dropped when the problem is built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pulp

Objective = Literal["profit", "revenue", "roi"]
TierOrder = Literal["rate", "lever", "total"] | None
_TOL = 1e-9


@dataclass(frozen=True)
class Curve:
    """The response of one tier x lever cell, on its simulated spend range.

    Attributes:
        tier: tier name (or ``"all"`` for a programme-wide lever).
        lever: lever name (``rebate``, ``mdf``, ``spiff``, ``training``, ``discount``).
        spend: breakpoints, USD per year, strictly increasing.
        value: incremental gross profit before the cell's incentive cost at each breakpoint,
            USD per year, concave in ``spend``.
        current: the cell's spend in the programme the curve was estimated around.
        revenue: incremental revenue at each breakpoint (needed by the revenue objective), concave.
        scenario_values: K rows of ``value`` (one per demand scenario / replication) for robust mode,
            each concave.
        partners: mean active partners of the tier (for the per-partner tier-order constraint).
        rates: the cell's benefit rate (the scenario field the cell sets: a tier's rebate or MDF rate, its
            discount, its training budget per partner) at each breakpoint, for the rate tier order;
            linear in spend between breakpoints, as the level mapping is.
    """

    tier: str
    lever: str
    spend: tuple[float, ...]
    value: tuple[float, ...]
    current: float = 0.0
    revenue: tuple[float, ...] | None = None
    scenario_values: tuple[tuple[float, ...], ...] | None = None
    partners: float | None = None
    rates: tuple[float, ...] | None = None

    @property
    def cell(self) -> str:
        return f"{self.tier}/{self.lever}"

    @property
    def lo(self) -> float:
        return float(self.spend[0])

    @property
    def hi(self) -> float:
        return float(self.spend[-1])

    def slopes(self, values: Sequence[float] | None = None) -> np.ndarray:
        s = np.asarray(self.spend, float)
        v = np.asarray(self.value if values is None else values, float)
        return np.diff(v) / np.diff(s)

    def at(self, spend: float, values: Sequence[float] | None = None) -> float:
        """The curve (linear interpolation between breakpoints) at ``spend``."""
        v = self.value if values is None else values
        return float(np.interp(spend, self.spend, v))

    def check(self, *, need_revenue: bool = False, need_scenarios: bool = False) -> None:
        s = np.asarray(self.spend, float)
        if s.ndim != 1 or len(s) < 1 or not np.all(np.isfinite(s)):
            raise ValueError(f"{self.cell}: spend breakpoints must be a finite 1-d sequence")
        if len(s) > 1 and not np.all(np.diff(s) > 0):
            raise ValueError(f"{self.cell}: spend breakpoints must be strictly increasing, got {list(s)}")
        series = [("value", self.value)]
        if need_revenue:
            if self.revenue is None:
                raise ValueError(f"{self.cell}: the revenue objective needs a revenue curve")
            series.append(("revenue", self.revenue))
        if need_scenarios:
            if not self.scenario_values:
                raise ValueError(f"{self.cell}: robust mode needs scenario_values")
            series += [(f"scenario {k}", v) for k, v in enumerate(self.scenario_values)]
        for label, vals in series:
            if len(vals) != len(s):
                raise ValueError(f"{self.cell}: {label} has {len(vals)} points for {len(s)} breakpoints")
            if len(s) > 1:
                sl = self.slopes(vals)
                scale = max(1.0, float(np.max(np.abs(sl))))
                if np.any(np.diff(sl) > 1e-7 * scale):
                    raise ValueError(
                        f"{self.cell}: {label} is not concave (slopes {np.round(sl, 4).tolist()}); the segment "
                        "formulation is exact only for concave curves - fit one with optimise.response.concave_fit"
                    )


@dataclass(frozen=True)
class Robust:
    """Mean-CVaR objective over the K scenario curves (Rockafellar-Uryasev).

    Maximises ``(1 - weight) * mean_k profit_k + weight * CVaR_alpha(profit)``.  ``alpha`` is the
    *confidence level*, as in Rockafellar and Uryasev (2000) and PyMC-Marketing: ``CVaR_alpha`` is the
    mean of the worst ``1 - alpha`` share of scenario profits, so ``alpha=0.9`` is the mean of the
    worst 10 %.  ``alpha`` lies in the open interval (0, 1); as it falls to 0 the CVaR becomes the mean.
    """

    alpha: float = 0.9
    weight: float = 0.5

    def __post_init__(self) -> None:
        if not (isinstance(self.alpha, int | float) and np.isfinite(self.alpha) and 0 < self.alpha < 1):
            raise ValueError(f"CVaR alpha is the confidence level, in the open interval (0, 1) (0.9: the mean of "
                             f"the worst 10 % of scenarios), got {self.alpha}")
        if not (isinstance(self.weight, int | float) and np.isfinite(self.weight) and 0 <= self.weight <= 1):
            raise ValueError(f"CVaR weight must be in [0, 1], got {self.weight}")

    @property
    def tail(self) -> float:
        """The share of scenarios averaged by the CVaR: ``1 - alpha``."""
        return 1.0 - self.alpha


@dataclass(frozen=True)
class AllocationProblem:
    """Everything the LP needs; plain data, no solver state.

    Attributes:
        curves: one concave response curve per cell.
        budget: the most the cells may spend together, USD per year.
        objective: ``profit`` (incremental net profit), ``revenue`` (incremental revenue, with
            ``min_roi``) or ``roi`` (return on the cells' spend, Charnes-Cooper).
        min_roi: the least programme ROI ``(sum gain - spend) / spend`` (``profit``/``revenue`` objectives).
        min_spend: the least total spend (keeps the ROI objective from spending next to nothing).
        cell_bounds: ``{"tier/lever": (lo, hi)}``; None for no bound on a side.
        tier_bounds: ``{tier: (lo, hi)}`` on the tier's total.
        lever_bounds: ``{lever: (lo, hi)}`` on the lever's total.
        lever_shares: ``{lever: (lo, hi)}`` shares of the total spend, e.g. ``{"mdf": (None, 0.4)}``.
        tier_order: ``"rate"``: each lever's benefit rate (the tier's rebate, MDF or discount rate, its
            training budget per partner) never lower in a higher tier, the rates interpolated between
            breakpoints as spend maps to rates (needs ``Curve.rates``); ``"lever"``: per-partner spend of
            each lever never lower in a higher tier; ``"total"``: the same on the sum over levers; None:
            no such constraint.  Programme-wide (``all``) cells take no part.
        max_change: per cell ``|spend - current| <= max_change * max(current, (hi - lo) / 2)``.
        max_total_change: ``sum |spend - current| <= max_total_change`` (USD per year).
        robust: mean-CVaR objective over the scenario curves (profit objective only).
        tier_names: tier order, lowest first (for ``tier_order``); defaults to the order of appearance.
    """

    curves: tuple[Curve, ...]
    budget: float
    objective: Objective = "profit"
    min_roi: float | None = None
    min_spend: float | None = None
    cell_bounds: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)
    tier_bounds: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)
    lever_bounds: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)
    lever_shares: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)
    tier_order: TierOrder = None
    max_change: float | None = None
    max_total_change: float | None = None
    robust: Robust | None = None
    tier_names: tuple[str, ...] | None = None

    def replace(self, **changes) -> AllocationProblem:
        from dataclasses import replace

        return replace(self, **changes)

    def validate(self) -> None:
        if not self.curves:
            raise ValueError("no cells to allocate")
        cells = [c.cell for c in self.curves]
        if len(set(cells)) != len(cells):
            raise ValueError(f"duplicate cells: {sorted({c for c in cells if cells.count(c) > 1})}")
        if self.objective not in ("profit", "revenue", "roi"):
            raise ValueError(f"objective must be profit, revenue or roi, got {self.objective!r}")
        if self.robust is not None and self.objective != "profit":
            raise ValueError("robust (CVaR) mode is defined for the profit objective only")
        if not np.isfinite(self.budget) or self.budget < 0:
            raise ValueError(f"budget must be a non-negative number, got {self.budget}")
        for c in self.curves:
            c.check(need_revenue=self.objective == "revenue", need_scenarios=self.robust is not None)
        if self.robust is not None:
            ks = {len(c.scenario_values or ()) for c in self.curves}
            if len(ks) != 1:
                raise ValueError(f"every cell needs the same number of scenario curves, got {sorted(ks)}")
        unknown = set(self.cell_bounds) - set(cells)
        if unknown:
            raise ValueError(f"cell_bounds for unknown cells {sorted(unknown)}; cells are {cells}")
        tiers = {c.tier for c in self.curves}
        levers = {c.lever for c in self.curves}
        for name, keys, known in (("tier_bounds", self.tier_bounds, tiers), ("lever_bounds", self.lever_bounds, levers),
                                  ("lever_shares", self.lever_shares, levers)):
            bad = set(keys) - known
            if bad:
                raise ValueError(f"{name} for unknown keys {sorted(bad)}; known: {sorted(known)}")
        if self.tier_order is not None and self.tier_order not in ("rate", "lever", "total"):
            raise ValueError(f"tier_order must be 'rate', 'lever', 'total' or None, got {self.tier_order!r}")
        if self.tier_order == "rate":
            if self.objective == "roi":
                raise ValueError("the rate tier order is not available with the roi objective (its Charnes-Cooper "
                                 "form cannot hold the segment order); use tier_order 'lever' or 'total'")
            for c in self.curves:
                if c.tier != "all" and (c.rates is None or len(c.rates) != len(c.spend)):
                    raise ValueError(f"{c.cell}: the rate tier order needs the cell's rate at each of its "
                                     f"{len(c.spend)} breakpoints (Curve.rates)")


@dataclass(frozen=True)
class Row:
    """One constraint row as built: its group, sense and a readable statement."""

    name: str
    group: str
    sense: str  # "<=", ">=", "=="
    text: str


@dataclass(frozen=True)
class BuiltLP:
    """The PuLP problem and the handles the solve step reads back."""

    prob: pulp.LpProblem
    problem: AllocationProblem
    budget: float
    segments: dict[str, list[pulp.LpVariable]]
    scale_var: pulp.LpVariable | None  # Charnes-Cooper t (None unless objective == "roi")
    rows: dict[str, Row]
    groups: tuple[str, ...]
    eta: pulp.LpVariable | None = None
    binaries: tuple[pulp.LpVariable, ...] = ()  # segment-order indicators (rate tier order): a small MIP


def tail_atoms(alpha: float, k: int) -> float:
    """``(1 - alpha) * k``, the number of scenarios in the CVaR tail (snapped to an integer within 1e-9)."""
    m = (1.0 - float(alpha)) * k
    r = round(m)
    return float(r) if abs(m - r) <= 1e-9 * max(1.0, m) and r > 0 else m


def _lin(pairs, constant: float = 0.0) -> pulp.LpAffineExpression:
    """``sum coef * var + constant`` built in one pass (PuLP 4's batch constructor; lpSum is slower)."""
    return pulp.LpAffineExpression.from_list([(v, float(c)) for v, c in pairs], constant=float(constant))


def _fmt(x: float) -> str:
    return f"{x:,.6g}"


def build(
    problem: AllocationProblem,
    *,
    budget: float | None = None,
    drop: frozenset[str] | set[str] = frozenset(),
    feasibility: bool = False,
) -> BuiltLP:
    """Build the LP of ``problem`` (a pure function of its arguments).

    Args:
        problem: the allocation data.
        budget: replaces ``problem.budget`` (used for the marginal-ROI re-solves).
        drop: constraint groups to leave out (used by the infeasibility diagnosis).
        feasibility: build a zero objective in the plain (not Charnes-Cooper) space.
    """
    problem.validate()
    B = problem.budget if budget is None else float(budget)
    cc = problem.objective == "roi" and not feasibility
    prob = pulp.LpProblem("allocation", pulp.LpMaximize)
    # T multiplies every constant: 1 in the plain LP, the Charnes-Cooper scale t otherwise.
    t = prob.add_variable("cc_t", lowBound=0) if cc else None
    T = t if cc else 1.0

    segs: dict[str, list[pulp.LpVariable]] = {}
    spend: dict[str, pulp.LpAffineExpression] = {}
    gain: dict[str, pulp.LpAffineExpression] = {}  # value(s) - value(lo), linear in segments
    for i, c in enumerate(problem.curves):
        widths = np.diff(np.asarray(c.spend, float))
        xs = []
        for k, w in enumerate(widths):
            # In the Charnes-Cooper space the width bound x <= w becomes y <= w t: a row, not a bound.
            v = prob.add_variable(f"x_{i}_{k}", lowBound=0, upBound=None if cc else float(w))
            xs.append(v)
        segs[c.cell] = xs
        sl = c.slopes() if len(widths) else np.zeros(0)
        ones = [(x, 1.0) for x in xs]
        spend[c.cell] = _lin(ones + [(t, c.lo)]) if cc else _lin(ones, c.lo)
        gain[c.cell] = _lin(zip(xs, sl, strict=True))

    rows: dict[str, Row] = {}
    groups: list[str] = []

    def add(expr, name: str, group: str, text: str, sense: str) -> None:
        if group in drop:
            return
        prob.addConstraint(expr, name)
        rows[name] = Row(name, group, sense, text)
        if group not in groups:
            groups.append(group)

    all_x = [(x, 1.0) for xs in segs.values() for x in xs]
    lo_sum = sum(c.lo for c in problem.curves)
    total = _lin(all_x + [(t, lo_sum)]) if cc else _lin(all_x, lo_sum)
    cells = [c.cell for c in problem.curves]

    if cc:
        for c in problem.curves:
            for k, (x, w) in enumerate(zip(segs[c.cell], np.diff(np.asarray(c.spend, float)), strict=True)):
                prob.addConstraint(x - float(w) * t <= 0, f"cc_width_{cells.index(c.cell)}_{k}")
        prob.addConstraint(total == 1, "cc_normalise")

    add(total <= B * T, "budget", "budget", f"total spend <= {_fmt(B)}", "<=")
    if problem.min_spend is not None:
        add(total >= problem.min_spend * T, "min_spend", "min_spend", f"total spend >= {_fmt(problem.min_spend)}", ">=")

    def bounds(expr, key: str, group: str, what: str, lohi) -> None:
        lo, hi = lohi
        if lo is not None:
            add(expr >= float(lo) * T, f"{key}_lo", group, f"{what} >= {_fmt(lo)}", ">=")
        if hi is not None:
            add(expr <= float(hi) * T, f"{key}_hi", group, f"{what} <= {_fmt(hi)}", "<=")

    for cell, lohi in problem.cell_bounds.items():
        bounds(spend[cell], f"cell_{cells.index(cell)}", f"cell_bounds[{cell}]", f"spend of {cell}", lohi)
    for j, (tier, lohi) in enumerate(problem.tier_bounds.items()):
        expr = pulp.lpSum(spend[c.cell] for c in problem.curves if c.tier == tier)
        bounds(expr, f"tier_{j}", f"tier_bounds[{tier}]", f"spend of tier {tier}", lohi)
    for j, (lever, lohi) in enumerate(problem.lever_bounds.items()):
        expr = pulp.lpSum(spend[c.cell] for c in problem.curves if c.lever == lever)
        bounds(expr, f"lever_{j}", f"lever_bounds[{lever}]", f"spend of lever {lever}", lohi)
    for j, (lever, (lo, hi)) in enumerate(problem.lever_shares.items()):
        expr = pulp.lpSum(spend[c.cell] for c in problem.curves if c.lever == lever)
        g = f"lever_share[{lever}]"
        if lo is not None:
            add(expr - float(lo) * total >= 0, f"share_{j}_lo", g, f"{lever} share of spend >= {lo:.3g}", ">=")
        if hi is not None:
            add(expr - float(hi) * total <= 0, f"share_{j}_hi", g, f"{lever} share of spend <= {hi:.3g}", "<=")

    def tier_cells(tier: str, lv: str) -> list[Curve]:
        return [c for c in problem.curves if c.tier == tier and (lv == "all levers" or c.lever == lv)]

    def has_partners(tier: str, lv: str) -> bool:
        """Whether per-partner spend is defined for the tier.

        A tier with no partners spends nothing per partner and is left out of the per-partner order (it has
        nobody to pay).
        """
        n = tier_cells(tier, lv)[0].partners
        if n is None:
            raise ValueError(f"tier_order {problem.tier_order!r} needs each tier's partner count; the curve of tier "
                             f"{tier} has none (use tier_order 'rate' or None)")
        return n > 0

    def per_partner(tier: str, lv: str):
        cs = tier_cells(tier, lv)
        return pulp.lpSum(spend[c.cell] for c in cs) * (1.0 / cs[0].partners)

    def rate(c: Curve) -> pulp.LpAffineExpression:
        # The rate at the cell's spend, linear between breakpoints: r_0 + sum_k x_k (r_k+1 - r_k) / w_k.
        r = np.asarray(c.rates, float)
        w = np.diff(np.asarray(c.spend, float))
        pairs = [(x, float(dr / wk)) for x, dr, wk in zip(segs[c.cell], np.diff(r), w, strict=True)]
        return _lin(pairs + [(t, float(r[0]))]) if cc else _lin(pairs, float(r[0]))

    binaries: list[pulp.LpVariable] = []
    ordered: set[str] = set()
    if problem.tier_order == "rate":
        order = list(problem.tier_names or dict.fromkeys(c.tier for c in problem.curves))
        levers = list(dict.fromkeys(c.lever for c in problem.curves))
        for j, lv in enumerate(levers):
            present = [next(c for c in problem.curves if c.tier == tr and c.lever == lv) for tr in order
                       if tr != "all" and any(c.tier == tr and c.lever == lv for c in problem.curves)]
            for a, b in zip(present, present[1:], strict=False):
                add(rate(a) - rate(b) <= 0, f"rate_order_{j}_{a.tier}_{b.tier}",
                    f"tier_order[{lv} rate: {a.tier} <= {b.tier}]", f"{lv} rate of {a.tier} <= that of {b.tier}",
                    "<=")
                ordered.update((a.cell, b.cell))
        # A rate is a non-linear function of spend, so the LP could fill a later segment before an earlier one
        # to buy spend at a lower rate.  Binaries keep every rate-ordered cell's segments filled in order
        # (segment k+1 only once segment k is full): the spend -> rate map is then the curves' own.
        for i, c in enumerate(problem.curves):
            xs = segs[c.cell]
            if c.cell not in ordered or len(xs) < 2:
                continue
            w = np.diff(np.asarray(c.spend, float))
            for k in range(len(xs) - 1):
                y = prob.add_variable(f"full_{i}_{k}", cat="Binary")
                binaries.append(y)
                prob.addConstraint(xs[k] - float(w[k]) * y >= 0, f"fill_{i}_{k}_full")
                prob.addConstraint(xs[k + 1] - float(w[k + 1]) * y <= 0, f"fill_{i}_{k}_next")
    elif problem.tier_order is not None:
        order = list(problem.tier_names or dict.fromkeys(c.tier for c in problem.curves))
        levers = list(dict.fromkeys(c.lever for c in problem.curves))
        keys = levers if problem.tier_order == "lever" else ["all levers"]
        for lv in keys:
            present = [tr for tr in order if tier_cells(tr, lv) and has_partners(tr, lv)]
            for a, b in zip(present, present[1:], strict=False):
                add(per_partner(a, lv) - per_partner(b, lv) <= 0, f"order_{keys.index(lv)}_{a}_{b}",
                    f"tier_order[{lv}: {a} <= {b}]", f"per-partner {lv} spend of {a} <= that of {b}", "<=")

    if problem.max_change is not None:
        for c in problem.curves:
            d = problem.max_change * max(c.current, (c.hi - c.lo) / 2.0)
            i = cells.index(c.cell)
            g = f"max_change[{c.cell}]"
            add(spend[c.cell] <= (c.current + d) * T, f"chg_{i}_hi", g,
                f"spend of {c.cell} <= {_fmt(c.current + d)}", "<=")
            add(spend[c.cell] >= (c.current - d) * T, f"chg_{i}_lo", g,
                f"spend of {c.cell} >= {_fmt(c.current - d)}", ">=")
    if problem.max_total_change is not None and "max_total_change" not in drop:
        ds = []
        for i, c in enumerate(problem.curves):
            dv = prob.add_variable(f"dev_{i}", lowBound=0)
            ds.append(dv)
            add(dv - spend[c.cell] + c.current * T >= 0, f"dev_{i}_up", "max_total_change", "", ">=")
            add(dv + spend[c.cell] - c.current * T >= 0, f"dev_{i}_dn", "max_total_change", "", ">=")
        add(pulp.lpSum(ds) <= problem.max_total_change * T, "total_change", "max_total_change",
            f"sum |spend - current| <= {_fmt(problem.max_total_change)}", "<=")

    gain_total = _lin((x, g) for c in problem.curves
                      for x, g in zip(segs[c.cell], c.slopes() if len(c.spend) > 1 else (), strict=True))
    if problem.min_roi is not None and problem.objective != "roi":
        X = float(problem.min_roi)
        add(gain_total - (1.0 + X) * total >= 0, "min_roi", "min_roi", f"programme ROI >= {X:.4g}", ">=")

    eta = None
    if feasibility:
        prob.setObjective(pulp.lpSum([]) + 0.0)
    elif problem.objective == "profit" and problem.robust is None:
        const = sum(c.at(c.lo) - (c.lo - c.current) for c in problem.curves)
        prob.setObjective(_lin((x, g - 1.0) for c in problem.curves
                               for x, g in zip(segs[c.cell], c.slopes() if len(c.spend) > 1 else (), strict=True))
                          + const)
    elif problem.objective == "profit":
        rb = problem.robust
        K = len(problem.curves[0].scenario_values)
        eta = prob.add_variable("cvar_eta")
        us = []
        profits = []
        for k in range(K):
            pairs = []
            const = 0.0
            for c in problem.curves:
                vk = c.scenario_values[k]
                sl = c.slopes(vk) if len(c.spend) > 1 else np.zeros(0)
                pairs += [(x, float(s) - 1.0) for s, x in zip(sl, segs[c.cell], strict=True)]
                const += float(vk[0]) - (c.lo - c.current)
            pk = _lin(pairs, const)
            profits.append(pk)
            u = prob.add_variable(f"cvar_u_{k}", lowBound=0)
            us.append(u)
            prob.addConstraint(u - eta + pk >= 0, f"cvar_tail_{k}")
        mean = pulp.lpSum(profits) * (1.0 / K)
        cvar = eta - pulp.lpSum(us) * (1.0 / (tail_atoms(rb.alpha, K)))
        prob.setObjective(mean * (1.0 - rb.weight) + cvar * rb.weight)
    elif problem.objective == "revenue":
        pairs = []
        const = 0.0
        for c in problem.curves:
            sl = c.slopes(c.revenue) if len(c.spend) > 1 else np.zeros(0)
            pairs += [(x, float(s)) for s, x in zip(sl, segs[c.cell], strict=True)]
            const += float(c.revenue[0])
        prob.setObjective(_lin(pairs, const))
    else:  # roi, Charnes-Cooper: max gain/spend - 1 with spend * t = 1
        prob.setObjective(gain_total - 1.0)

    return BuiltLP(prob=prob, problem=problem, budget=B, segments=segs, scale_var=t, rows=rows,
                   groups=tuple(groups), eta=eta, binaries=tuple(binaries))


__all__ = ["AllocationProblem", "BuiltLP", "Curve", "Objective", "Robust", "Row", "build", "tail_atoms"]
