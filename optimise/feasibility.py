"""Constraints checked against each other before any simulation (pure, no I/O, no solver).

The LP's feasibility depends on the response curves (each cell's simulated spend
range, its partner counts, its gains), which cost simulations to estimate.  Much
of what makes a set of constraints impossible does not: a minimum spend above
the budget, lower bounds that add up to more than the budget, share floors that
add up to more than 1, a bound on a cell that is not allocated.  :func:`conflicts`
finds those from the constraints alone; with curves at hand the LP's own
diagnosis (:func:`optimise.solve.diagnose`) takes over.

Each :class:`Conflict` names the constraint *groups* involved, spelled as the LP
spells them (``budget``, ``min_spend``, ``cell_bounds[gold/rebate]``,
``tier_bounds[gold]``, ``lever_bounds[mdf]``, ``lever_share[mdf]``, ``min_roi``,
``objective``, ``robust``, ``max_total_change``), and says why they cannot hold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Bounds = Mapping[str, tuple[float | None, float | None]]


@dataclass(frozen=True)
class Conflict:
    """Constraint groups that cannot hold together, and why (in words, with the numbers)."""

    groups: tuple[str, ...]
    reason: str


def _f(x: float) -> str:
    """USD amounts in full (``6,000,000``, not ``6e+06``); small and odd numbers to six digits."""
    if math.isfinite(x) and 1e3 <= abs(x) < 1e18:
        return f"{x:,.0f}" if abs(x - round(x)) < 1e-6 * abs(x) else f"{x:,.2f}"
    return f"{x:.6g}"


def conflicts(
    cells: Sequence[tuple[str, str]],
    budget: float,
    *,
    objective: str = "profit",
    min_roi: float | None = None,
    min_spend: float | None = None,
    robust: object | None = None,
    cell_bounds: Bounds | None = None,
    tier_bounds: Bounds | None = None,
    lever_bounds: Bounds | None = None,
    lever_shares: Bounds | None = None,
    max_total_change: float | None = None,
) -> list[Conflict]:
    """Every conflict that can be seen without the curves (empty when none is found).

    Args:
        cells: the ``(tier, lever)`` pairs to allocate.
        budget: the most the cells may spend together (USD per year).
        objective: ``profit``, ``revenue`` or ``roi``.
        min_roi: the least programme ROI, or None.
        min_spend: the least total spend, or None.
        robust: the :class:`optimise.lp.Robust` objective, or None.
        cell_bounds: ``{"tier/lever": (lo, hi)}``, None for no bound on a side.
        tier_bounds: ``{tier: (lo, hi)}``.
        lever_bounds: ``{lever: (lo, hi)}``.
        lever_shares: ``{lever: (lo, hi)}``, shares of the total spend.
        max_total_change: the most ``sum |spend - current|``, or None.

    A problem with no conflict here may still be infeasible once the curves are known (the
    simulated spend ranges, the per-partner tier order); the solve step reports those.
    """
    cb, tb = dict(cell_bounds or {}), dict(tier_bounds or {})
    lb, ls = dict(lever_bounds or {}), dict(lever_shares or {})
    keys = [f"{t}/{lv}" for t, lv in cells]
    tiers = list(dict.fromkeys(t for t, _ in cells))
    levers = list(dict.fromkeys(lv for _, lv in cells))
    out: list[Conflict] = []

    def add(groups, reason: str) -> None:
        c = Conflict(tuple(dict.fromkeys(groups)), reason)
        if c not in out:
            out.append(c)

    # options that do not go together
    if objective == "roi" and min_roi is not None:
        add(("objective", "min_roi"), "the roi objective maximises the programme's ROI itself, so a least ROI "
                                      "cannot be imposed on it (a least ROI applies to the profit and revenue "
                                      "objectives)")
    if robust is not None and objective != "profit":
        add(("objective", "robust"), f"the mean-CVaR (robust) objective is a profit objective; it cannot be "
                                     f"combined with the {objective} objective")
    if min_roi is not None and not math.isfinite(min_roi):
        add(("min_roi",), f"the least ROI must be a finite number, got {min_roi}")
    if max_total_change is not None and not max_total_change >= 0:
        add(("max_total_change",), f"the sum of spend changes is at least 0, so it cannot be at most "
                                   f"{_f(max_total_change)}")
    if min_spend is not None and not math.isfinite(min_spend):
        add(("min_spend",), f"the least total spend must be a finite number, got {min_spend}")

    # bounds on keys that are not allocated, and bounds that contradict themselves
    for name, table, known, what in (("cell_bounds", cb, keys, "cell"), ("tier_bounds", tb, tiers, "tier"),
                                     ("lever_bounds", lb, levers, "lever"), ("lever_share", ls, levers, "lever")):
        for k, (lo, hi) in table.items():
            g = f"{name}[{k}]"
            if k not in known:
                among = "the cells being allocated are" if what == "cell" else f"the {what}s of the cells are"
                add((g, "cells"), f"{k!r} is not a {what} being allocated ({among} {', '.join(known)})")
                continue
            if lo is not None and hi is not None and lo > hi:
                add((g,), f"its lower bound {_f(lo)} is above its upper bound {_f(hi)}")
            if hi is not None and hi < 0:
                add((g,), f"its upper bound {_f(hi)} is below 0, and spend is never negative")
            bad_share = any(x is not None and not 0 <= x <= 1 for x in (lo, hi))
            if name == "lever_share" and bad_share:
                add((g,), "a share of the total spend lies in [0, 1]")
    if out:
        return out  # the arithmetic below assumes well-formed bounds

    def lo_of(table: Bounds, k: str) -> float:
        lo = table.get(k, (None, None))[0]
        return max(0.0, float(lo)) if lo is not None else 0.0

    def hi_of(table: Bounds, k: str) -> float | None:
        hi = table.get(k, (None, None))[1]
        return float(hi) if hi is not None else None

    # lower and upper bounds on the total spend, each with the groups it comes from
    lowers: list[tuple[float, tuple[str, ...], str]] = []
    uppers: list[tuple[float, tuple[str, ...], str]] = []
    if min_spend is not None and min_spend > 0:
        lowers.append((float(min_spend), ("min_spend",), f"a least total spend of {_f(min_spend)}"))
    for name, table, known, what in (("cell_bounds", cb, keys, "cell"), ("tier_bounds", tb, tiers, "tier"),
                                     ("lever_bounds", lb, levers, "lever")):
        pos = [k for k in known if lo_of(table, k) > 0]
        if pos:
            s = sum(lo_of(table, k) for k in pos)
            lowers.append((s, tuple(f"{name}[{k}]" for k in pos),
                           f"{what} lower bounds adding up to {_f(s)}"))
        if known and all(hi_of(table, k) is not None for k in known):
            s = sum(hi_of(table, k) for k in known)
            uppers.append((s, tuple(f"{name}[{k}]" for k in known),
                           f"upper bounds on every {what} adding up to {_f(s)}"))
    uppers.append((float(budget), ("budget",), f"a budget of {_f(budget)}"))
    tol = 1e-9
    for lo, lg, ltext in lowers:
        for hi, hg, htext in uppers:
            if lo > hi * (1 + tol) + tol:
                add((*lg, *hg), f"the total spend must be at least {_f(lo)} ({ltext}) and at most {_f(hi)} ({htext})")
    total_lo = max([lo for lo, _, _ in lowers], default=0.0)
    total_lo_groups = next((g for lo, g, _ in lowers if lo == total_lo), ())
    total_hi, total_hi_groups, _ = min(uppers, key=lambda u: u[0])

    # a tier's (a lever's) total against the bounds of its own cells
    for name, table, idx, what in (("tier_bounds", tb, 0, "tier"), ("lever_bounds", lb, 1, "lever")):
        for k, (lo, hi) in table.items():
            mine = [f"{t}/{lv}" for t, lv in cells if (t, lv)[idx] == k]
            cell_lo = sum(lo_of(cb, c) for c in mine)
            if hi is not None and cell_lo > hi * (1 + tol) + tol:
                add((f"{name}[{k}]", *(f"cell_bounds[{c}]" for c in mine if lo_of(cb, c) > 0)),
                    f"the cells of {what} {k} must spend at least {_f(cell_lo)} together, but the {what} at most "
                    f"{_f(hi)}")
            if lo is not None and mine and all(hi_of(cb, c) is not None for c in mine):
                cell_hi = sum(hi_of(cb, c) for c in mine)
                if lo > cell_hi * (1 + tol) + tol:
                    add((f"{name}[{k}]", *(f"cell_bounds[{c}]" for c in mine)),
                        f"the {what} {k} must spend at least {_f(lo)}, but its cells at most {_f(cell_hi)} together")

    # shares of the total spend
    floors = {k: lo for k, (lo, _) in ls.items() if lo is not None and lo > 0}
    if sum(floors.values()) > 1 + tol:
        add(tuple(f"lever_share[{k}]" for k in floors),
            f"share floors adding up to {sum(floors.values()):.4g} of the total spend, more than all of it")
    caps = {k: hi for k, (_, hi) in ls.items() if hi is not None}
    if levers and set(caps) >= set(levers) and sum(caps[k] for k in levers) < 1 - tol and total_lo > 0:
        add((*(f"lever_share[{k}]" for k in levers), *total_lo_groups),
            f"every lever's share is capped and the caps add up to {sum(caps[k] for k in levers):.4g} < 1, which only "
            f"a total spend of 0 satisfies, but the total spend must be at least {_f(total_lo)}")
    for k, (slo, shi) in ls.items():
        lever_hi = hi_of(lb, k)
        if slo is not None and slo > 0 and lever_hi is not None and slo * total_lo > lever_hi * (1 + tol) + tol:
            add((f"lever_share[{k}]", f"lever_bounds[{k}]", *total_lo_groups),
                f"lever {k} must get at least {slo:.4g} of a total spend of at least {_f(total_lo)}, i.e. "
                f"{_f(slo * total_lo)}, but may spend at most {_f(lever_hi)}")
        if shi is not None:
            mine = [f"{t}/{lv}" for t, lv in cells if lv == k]
            need = max(lo_of(lb, k), sum(lo_of(cb, c) for c in mine))
            if need > shi * total_hi * (1 + tol) + tol:
                src = (f"lever_bounds[{k}]",) if lo_of(lb, k) >= need else tuple(
                    f"cell_bounds[{c}]" for c in mine if lo_of(cb, c) > 0)
                add((f"lever_share[{k}]", *src, *total_hi_groups),
                    f"lever {k} must spend at least {_f(need)} but may get at most {shi:.4g} of a total spend of at "
                    f"most {_f(total_hi)}, i.e. {_f(shi * total_hi)}")
    return out


def check(cells: Sequence[tuple[str, str]], budget: float, **constraints) -> None:
    """Raise :class:`~optimise.solve.InfeasibleAllocation` when :func:`conflicts` finds any.

    The message lists each conflict as ``group + group: why``; ``conflicts`` on the exception
    holds every group involved.
    """
    from .solve import InfeasibleAllocation

    found = conflicts(cells, budget, **constraints)
    if not found:
        return
    statements = tuple(f"{' + '.join(c.groups)}: {c.reason}" for c in found)
    groups = tuple(dict.fromkeys(g for c in found for g in c.groups))
    raise InfeasibleAllocation("the allocation constraints cannot all hold (found before any simulation): "
                               + "; ".join(statements), groups, statements)


__all__ = ["Conflict", "check", "conflicts"]
