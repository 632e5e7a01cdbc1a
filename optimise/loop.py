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

:func:`resolve` solves again from curves estimated earlier (no estimation
simulation) and validates the answer like the loop's final validation, or not at
all (``validate_result=False``: no simulation whatever).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

import sim

from .feasibility import check
from .joint import check_design, estimate_joint
from .lp import AllocationProblem, Objective, Robust, TierOrder
from .response import DEFAULT_ROI_PRECISION, VALIDATION_KEY, ResponseData, estimate, spend_column
from .simulate import ProgressFn, Task, simulate_many
from .solve import Allocation, solve

#: How the response curves are estimated: one cell at a time, or all cells at once in a balanced design.
Estimation = Literal["cells", "joint"]

#: Given a phase's label (``"round 0: estimation"``), a function called with (done, total) after each of
#: its simulations, or None; the command line draws a progress bar with it.
RunProgress = Callable[[str], ProgressFn | None]

FINAL_ROUND_KEY = 1000
FRONTIER_ROUND_KEY = 2000


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
    progress: ProgressFn | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate each policy on the same fresh seeds; summary per policy and per-replication outcomes.

    Returns the summary (policy, net_profit mean, ci_low, ci_high, paired differences vs ``reference``)
    and the per-replication frame (policy, rep, net_profit, revenue, incentive_spend, cells_spend: the sum of
    ``spend_columns`` per year).
    """
    seeds = [sim.seed_sequence(seed, VALIDATION_KEY, round_, r) for r in range(replications)]
    names = list(policies)
    tasks = [Task(policies[n], sd) for n in names for sd in seeds]
    outs = simulate_many(tasks, workers=workers, progress=progress)
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


VALIDATION_COLUMNS = ("policy", "net_profit", "ci_low", "ci_high", "diff_vs_current", "diff_ci_low", "diff_ci_high",
                      "revenue", "revenue_diff", "revenue_diff_ci_low", "revenue_diff_ci_high", "incentive_spend",
                      "cells_spend", "replications", "optimised_minus_policy", "omp_ci_low", "omp_ci_high")
RUN_COLUMNS = ("policy", "rep", "net_profit", "revenue", "incentive_spend", "cells_spend")


@dataclass(frozen=True)
class OptimisationResult:
    """Every round, the recommended allocation and its validation.

    ``recommended`` names the programme to adopt (:func:`best_validated`): ``optimised`` unless another
    validated programme (``current``, a simple rule, ``optimised_seed2``) beat it with a paired 95 % CI
    below zero; ``candidates`` holds every validated programme by name.

    ``validated`` is False when no validation was simulated (``validation`` and ``validation_runs`` are then
    empty frames with their columns, and ``accepted_any`` is None).  ``curves_source`` is ``"estimated"`` or
    ``"stored"`` (:func:`resolve`).
    """

    allocation: Allocation
    response: ResponseData
    rounds: pd.DataFrame
    validation: pd.DataFrame
    validation_runs: pd.DataFrame
    scenario: sim.Scenario
    optimised: sim.Scenario
    overrides: dict[str, Any]
    original_spends: dict[str, float]
    accepted_any: bool | None
    seconds: float
    notes: tuple[str, ...] = field(default_factory=tuple)
    validated: bool = True
    curves_source: str = "estimated"
    recommended: str = "optimised"
    candidates: dict[str, sim.Scenario] = field(default_factory=dict)
    #: the first round's estimation, around the current programme: what the simple rules (equal split,
    #: proportional split) are built from; None when it is ``response`` itself
    rules_response: ResponseData | None = None

    @property
    def recommendation(self) -> sim.Scenario:
        """The programme recommended: the optimised one, unless validation showed another to be better."""
        return self.candidates.get(self.recommended, self.optimised)

    def allocation_frame(self) -> pd.DataFrame:
        df = self.allocation.to_frame()
        keys = [f"{t}/{lv}" for t, lv in zip(df["tier"], df["lever"], strict=True)]
        df["original_current"] = [self.original_spends.get(k, np.nan) for k in keys]
        specs = [self.response.spec(k) for k in keys]
        df["setting"] = [self.overrides.get(s.path, s.current_value) for s in specs]
        df["setting_path"] = [s.path for s in specs]
        return df


def _estimate(estimation: str, centre: sim.Scenario, cells, *, multipliers, replications: int,
              design_points: int | None, design_replications: int, seed: int, round_: int, workers, fit: str,
              progress, max_replications: int | None = None,
              roi_precision: float = DEFAULT_ROI_PRECISION) -> ResponseData:
    if estimation == "joint":
        return estimate_joint(centre, cells, multipliers=multipliers, replications=design_replications,
                              points=design_points, seed=seed, round_=round_, workers=workers, fit=fit,
                              progress=progress)
    if estimation != "cells":
        raise ValueError(f"estimation must be 'cells' or 'joint', got {estimation!r}")
    return estimate(centre, cells, multipliers=multipliers, replications=replications, seed=seed, round_=round_,
                    workers=workers, fit=fit, progress=progress, max_replications=max_replications,
                    roi_precision=roi_precision)


def _move(alloc: Allocation, rd: ResponseData) -> float:
    out = 0.0
    for c, cur in zip(alloc.cells, rd.curves, strict=True):
        scale = max(cur.current, (cur.hi - cur.lo) / 2.0, 1e-9)
        out = max(out, abs(c.spend - cur.current) / scale)
    return out


@dataclass(frozen=True)
class _Constraints:
    objective: Objective
    min_roi: float | None
    min_spend: float | None
    robust: Robust | None
    tier_order: TierOrder
    lever_shares: dict[str, tuple[float | None, float | None]]
    cell_bounds: dict[str, tuple[float | None, float | None]]
    tier_bounds: dict[str, tuple[float | None, float | None]]
    lever_bounds: dict[str, tuple[float | None, float | None]]
    max_total_change: float | None

    def check(self, cells: Sequence[tuple[str, str]], budget: float) -> None:
        check(cells, budget, objective=self.objective, min_roi=self.min_roi, min_spend=self.min_spend,
              robust=self.robust, cell_bounds=self.cell_bounds, tier_bounds=self.tier_bounds,
              lever_bounds=self.lever_bounds, lever_shares=self.lever_shares, max_total_change=self.max_total_change)

    def holding_flat(self, rd: ResponseData, hold: bool) -> _Constraints:
        """With ``hold``, cells whose curve cannot be told from flat stay at their current spend (unless bounded)."""
        if not hold:
            return self
        from dataclasses import replace

        flat = set(flat_cells(rd))
        held = {c.cell: (c.current, c.current) for c in rd.curves if c.cell in flat}
        return replace(self, cell_bounds={**held, **self.cell_bounds})

    def problem(self, rd: ResponseData, budget: float, radius: float | None, tiers: Sequence[str]) -> AllocationProblem:
        return AllocationProblem(
            curves=rd.curves, budget=budget, objective=self.objective, min_roi=self.min_roi, min_spend=self.min_spend,
            cell_bounds=self.cell_bounds, tier_bounds=self.tier_bounds, lever_bounds=self.lever_bounds,
            lever_shares=self.lever_shares, tier_order=self.tier_order, max_change=radius,
            max_total_change=self.max_total_change, robust=self.robust, tier_names=tuple(tiers),
        )


def _phase(run_progress: RunProgress | None, label: str) -> ProgressFn | None:
    return run_progress(label) if run_progress is not None else None


def other_spend(rd: ResponseData) -> float:
    """Incentive spend per year outside the cells in the programme the curves were estimated around."""
    base = rd.base
    cells = [f"spend::{s.cell}" for s in rd.specs]
    if base is None or base.empty or "incentive_spend" not in base or any(c not in base for c in cells):
        return 0.0
    return float(max((base["incentive_spend"] - base[cells].sum(axis=1)).mean(), 0.0))


def under_budget(policies: dict[str, sim.Scenario], cap: float | None) -> dict[str, sim.Scenario]:
    """Every programme with the incentive budget ``cap`` (USD per year, all levers; None: as it is)."""
    if cap is None:
        return dict(policies)
    return {name: sc.with_overrides({"incentives.budget": float(cap)}) for name, sc in policies.items()}


def _final_validation(scenario: sim.Scenario, opt: sim.Scenario, rd: ResponseData, budget: float, *, replications: int,
                      seed: int, workers: int | None, compare: bool, say: Callable[[str], None],
                      run_progress: RunProgress | None, others: dict[str, sim.Scenario] | None = None,
                      cap: float | None = None, rules_rd: ResponseData | None = None
                      ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, sim.Scenario]]:
    policies = {"current": scenario, "optimised": opt}
    if compare:
        # The simple rules split the budget over the cells around the current programme: the curves of
        # the first round (``rules_rd``), not those of a later round's centre, whose simulated ranges
        # (0 to 2 x that centre's rates) may not reach the rules' spends and would clip them alike.
        base = rules_rd if rules_rd is not None else rd
        policies["equal_split"] = scenario.with_overrides(base.overrides_for(equal_split(base, budget)))
        policies["proportional_to_tier_revenue"] = scenario.with_overrides(
            base.overrides_for(proportional_split(base, budget)))
    policies.update(others or {})
    policies = under_budget(policies, cap)
    say(f"final validation: {len(policies)} policies x {replications} fresh replications"
        + (f", each under an incentive budget of {cap:,.0f} USD/yr" if cap is not None else ""))
    cols = [spend_column(s.tier, s.lever) for s in rd.specs]
    val, per = validate(policies, replications=replications, seed=seed, round_=FINAL_ROUND_KEY, reference="current",
                        workers=workers, spend_columns=cols, progress=_phase(run_progress, "final validation"))
    # optimised minus each policy, paired
    opt_runs = per[per["policy"] == "optimised"].sort_values("rep")["net_profit"].to_numpy()
    extra = []
    for n in val["policy"]:
        d = per[per["policy"] == n].sort_values("rep")["net_profit"].to_numpy()
        extra.append(paired_ci(opt_runs - d))
    val["optimised_minus_policy"] = [e[0] for e in extra]
    val["omp_ci_low"] = [e[1] for e in extra]
    val["omp_ci_high"] = [e[2] for e in extra]
    return val, per, policies


def _no_validation() -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.DataFrame(columns=list(VALIDATION_COLUMNS)), pd.DataFrame(columns=list(RUN_COLUMNS))


def settings_of(opt: sim.Scenario, rd: ResponseData) -> dict[str, float]:
    """The value of every cell's scenario field in ``opt`` (the programme that implements the allocation)."""
    overrides = {}
    for s in rd.specs:
        node: Any = opt
        for part in s.path.split("."):
            node = next(t for t in node if t.name == part) if isinstance(node, list) else getattr(node, part)
        overrides[s.path] = float(node)
    return overrides


def ladder_notes(opt: sim.Scenario, rd: ResponseData, tiers: Sequence[str]) -> list[str]:
    """Where the programme ``opt`` gives a lower tier a higher rate of a lever than the next tier up."""
    values = settings_of(opt, rd)
    out = []
    by_lever: dict[str, list[tuple[str, float]]] = {}
    for spec in rd.specs:
        if spec.tier != "all":
            by_lever.setdefault(spec.lever, []).append((spec.tier, values[spec.path]))
    for lever, items in by_lever.items():
        items.sort(key=lambda tv: list(tiers).index(tv[0]))
        for (ta, va), (tb, vb) in zip(items, items[1:], strict=False):
            if va > vb * (1 + 1e-6) + 1e-12:
                out.append(f"the recommended {lever} rate of {ta} ({va:.4g}) is above that of {tb} ({vb:.4g}): "
                           "the tier ladder is inverted")
    return out


STABILITY_POLICY = "optimised_seed2"


def stability_notes(val: pd.DataFrame, first: Allocation, second: Allocation, seed: int) -> list[str]:
    """How far apart two estimation seeds' programmes are, and whether their validated profits differ."""
    a, b = first.spends(), second.spends()
    total_a, total_b = sum(a.values()) or 1.0, sum(b.values()) or 1.0
    l1 = sum(abs(a[c] / total_a - b.get(c, 0.0) / total_b) for c in a)
    v = val.set_index("policy")
    if STABILITY_POLICY not in v.index:
        return []
    d, lo, hi = (float(v.loc[STABILITY_POLICY, k]) for k in ("optimised_minus_policy", "omp_ci_low", "omp_ci_high"))
    text = (f"stability: estimation seeds {seed} and {seed + 1} give programmes {l1:.3f} apart (L1 distance of "
            f"spend shares); validated net profit of seed {seed}'s minus seed {seed + 1}'s {d / 1e6:+,.2f} M USD/yr "
            f"(95 % CI {lo / 1e6:+,.2f} to {hi / 1e6:+,.2f})")
    if lo > 0 or hi < 0:
        text = ("WARNING: the recommendation depends on the estimation seed. " + text
                + "; estimate with more replications (--replications) or fewer cells")
    return [text]


def best_validated(val: pd.DataFrame) -> tuple[str, str | None]:
    """The programme to recommend, and why when it is not ``optimised``.

    Another validated programme replaces the optimised one only when it earns more net profit with a
    paired 95 % CI that excludes zero (``optimised - policy`` entirely below 0): choosing the best of
    several means on the same seeds would otherwise pick noise.
    """
    if val.empty or "optimised" not in set(val["policy"]):
        return "optimised", None
    v = val.set_index("policy")
    better = v[(v.index != "optimised") & (v["omp_ci_high"] < 0)]
    if better.empty:
        return "optimised", None
    name = str(better["optimised_minus_policy"].idxmin())
    d, lo, hi = (float(better.loc[name, k]) for k in ("optimised_minus_policy", "omp_ci_low", "omp_ci_high"))
    return name, (f"RECOMMENDATION: {name}, not the optimised programme: in validation it earns "
                  f"{-d / 1e6:,.2f} M USD/yr more net profit (95 % CI {-hi / 1e6:,.2f} to {-lo / 1e6:,.2f}); "
                  "recommended.yaml holds it")


def range_notes(alloc: Allocation, rd: ResponseData) -> list[str]:
    """Cells whose recommended spend sits at an end of its simulated range that is not a natural bound.

    The top of a cell's range is never a natural bound (more could be spent); the bottom is one only when
    the lowest level is 0 (no spend at all).  The LP cannot see beyond the simulated levels.
    """
    top, bottom = [], []
    lowest = min(rd.multipliers) if rd.multipliers else 0.0
    for c, cur in zip(alloc.cells, rd.curves, strict=True):
        tol = 1e-6 * max(1.0, abs(cur.hi))
        if cur.hi > cur.lo and c.spend >= cur.hi - tol:
            top.append(c)
        elif lowest > 0 and cur.hi > cur.lo and c.spend <= cur.lo + tol:
            bottom.append(c)
    out = []
    total = alloc.total_spend or 1.0
    for cells, end, hint in ((top, "top", "higher"), (bottom, "bottom", "lower")):
        if cells:
            money = sum(c.spend for c in cells)
            out.append(f"WARNING: {len(cells)} cell(s) sit at the {end} of their simulated range "
                       f"({', '.join(c.cell for c in cells)}; {money / 1e6:,.2f} M USD/yr, {money / total:.0%} of "
                       f"the recommended spend): the optimum may lie beyond what was simulated; estimate again "
                       f"with {hint} --levels for them")
    return out


def flat_cells(rd: ResponseData) -> list[str]:
    """Cells whose curve cannot be told from flat: no simulated level's 95 % CI of ``value`` excludes zero."""
    pts = rd.points
    if pts is None or pts.empty or not {"value_ci_low", "value_ci_high"} <= set(pts.columns):
        return []
    out = []
    for spec in rd.specs:
        p = pts[pts["cell"] == spec.cell]
        sig = (p["value_ci_low"] > 0) | (p["value_ci_high"] < 0)
        if not sig.any():
            out.append(spec.cell)
    return out


def flat_notes(alloc: Allocation, rd: ResponseData, held: bool) -> list[str]:
    """Say which curves are indistinguishable from flat and how much budget the LP moved on them."""
    flat = flat_cells(rd)
    if not flat:
        return []
    moved = sum(abs(c.spend - c.current) for c in alloc.cells if c.cell in flat)
    text = (f"{len(flat)} of {len(rd.specs)} cell curves cannot be told from flat (no level's 95 % CI excludes "
            f"zero): {', '.join(flat)}")
    if held:
        return [text + "; they were held at their current spend (--hold-flat)"]
    return [text + f"; the allocation moves {moved / 1e6:,.2f} M USD/yr on them, which the estimation cannot "
            "support: more --replications, or --hold-flat to keep them at today's spend"]


def interaction_notes(rounds: pd.DataFrame, joint: bool = False) -> list[str]:
    """Rounds whose validated gain is not what the separable curves predicted: the cells interact."""
    how = ("each curve is the cell's effect averaged over the other cells' levels, without their interactions"
           if joint else "each curve was estimated with the others at the centre")
    out = []
    for r in rounds.itertuples():
        lo, hi, pred = float(r.realised_ci_low), float(r.realised_ci_high), float(r.predicted_uplift)
        if np.isfinite(lo) and np.isfinite(hi) and not lo <= pred <= hi:
            out.append(f"round {r.round}: the curves predicted {pred / 1e6:+,.2f} M USD/yr, validation realised "
                       f"{float(r.realised_uplift) / 1e6:+,.2f} M (95 % CI {lo / 1e6:+,.2f} to {hi / 1e6:+,.2f}): the "
                       f"cells interact ({how})"
                       + ("; the next round re-estimates around the accepted programme" if r.accepted else ""))
    return out


def design_notes(rd: ResponseData) -> list[str]:
    """What the joint design says about the separable model: the lack-of-fit test and the largest interactions."""
    d = rd.diagnostics
    seq = d.get("sequential")
    if seq:
        per = seq["per_cell"]
        grown = {c: n for c, n in per.items() if n > seq["replications"]}
        text = (f"noise-aware estimation: {len(grown)} of {len(per)} cells needed more than {seq['replications']} "
                f"replications to decide their levels (net-profit CI within +-{seq['roi_precision']:g} x the change "
                "of spend, or excluding zero)")
        if grown:
            text += ": " + ", ".join(f"{c} {n}" for c, n in sorted(grown.items()))
        if seq["undecided"]:
            text += (f"; still undecided at {seq['max_replications']} replications: {', '.join(seq['undecided'])} "
                     "(their curves are noise at this precision: --hold-flat keeps flat ones at today's spend)")
        return [text]
    if d.get("design") != "joint" or not np.isfinite(d.get("lof_p", float("nan"))):
        return []
    out = []
    strong = [it for it in d.get("interactions", []) if it["p_adjusted"] < 0.05]
    if d["lof_p"] < 0.05 or strong:
        pairs = "; ".join(f"{a} x {b} (t = {it['t']:+.1f})" for it in strong[:3] for a, b in [it["cells"]])
        out.append(f"interactions: the separable curves leave {1 - d['r2_between']:.0%} of the variation between "
                   f"design points unexplained (lack-of-fit F = {d['lof_f']:.2f}, p = {d['lof_p']:.2g})"
                   + (f"; the strongest pairs: {pairs}" if pairs else "")
                   + ". The curves are each cell's effect averaged over the others' levels; validation, not the "
                   "curves, says what the programme earns")
    return out


def verdict_notes(val: pd.DataFrame, planned_spend: float, budget: float) -> list[str]:
    """Warnings from the final validation: no gain over a simple rule, realised spend off the plan."""
    out: list[str] = []
    if val.empty:
        return out
    v = val.set_index("policy")
    rules = [p for p in ("equal_split", "proportional_to_tier_revenue") if p in v.index]
    if rules:
        best = max(rules, key=lambda p: float(v.loc[p, "net_profit"]))
        d, lo, hi = (float(v.loc[best, k]) for k in ("optimised_minus_policy", "omp_ci_low", "omp_ci_high"))
        if not lo > 0:
            out.append(f"WARNING: the optimised programme does not beat the best simple rule ({best}) in validation: "
                       f"optimised minus {best} {d / 1e6:+,.2f} M USD/yr (95 % CI {lo / 1e6:+,.2f} to "
                       f"{hi / 1e6:+,.2f}); the allocation is not better than splitting the budget by that rule")
    for rule in rules:  # a simple rule plans to spend the whole budget
        realised = float(v.loc[rule, "cells_spend"])
        if budget > 0 and abs(realised / budget - 1.0) > 0.02:
            out.append(f"{rule} realised {realised / 1e6:,.2f} M USD/yr on the cells in validation, "
                       f"{realised / budget - 1.0:+.1%} off the budget of {budget / 1e6:,.2f} M")
    if "optimised" in v.index and planned_spend > 0:
        realised = float(v.loc["optimised", "cells_spend"])
        off = realised / planned_spend - 1.0
        if abs(off) > 0.02:
            out.append(f"realised spend of the optimised cells in validation {realised / 1e6:,.2f} M USD/yr is "
                       f"{off:+.1%} off the planned {planned_spend / 1e6:,.2f} M (budget {budget / 1e6:,.2f} M): "
                       "rates set from the curves do not spend exactly what was planned")
    return out


def _round_row(k: int, rad: float | None, objective: str, alloc: Allocation, rd: ResponseData, move: float,
               realised: float, ci: tuple[float, float], accepted: bool | None, source: str) -> dict[str, Any]:
    predicted = (alloc.expected_revenue_uplift if objective == "revenue" else alloc.expected_uplift) or 0.0
    ratio = realised / predicted if predicted > 0 and np.isfinite(realised) else float("nan")
    return {
        "round": k, "radius": rad if rad is not None else float("nan"), "objective": objective,
        "objective_value": alloc.objective_value, "predicted_uplift": predicted, "realised_uplift": realised,
        "realised_ci_low": ci[0], "realised_ci_high": ci[1], "ratio": ratio,
        "accepted": accepted, "max_move": move, "total_spend": alloc.total_spend,
        "marginal_roi_left": alloc.marginal_roi_left, "marginal_roi_right": alloc.marginal_roi_right,
        "estimation_runs": rd.n_runs if source == "estimated" else 0,
        "estimation_seconds": rd.seconds if source == "estimated" else 0.0,
        "non_concave_cells": int((~rd.shapes["concave"].astype(bool)).sum()), "curves": source,
    }


def _realised(val: pd.DataFrame, policy: str, objective: str, reference: str) -> tuple[float, tuple[float, float]]:
    cv = val.set_index("policy").loc[policy]
    if objective == "revenue":
        return float(cv["revenue_diff"]), (float(cv["revenue_diff_ci_low"]), float(cv["revenue_diff_ci_high"]))
    return float(cv[f"diff_vs_{reference}"]), (float(cv["diff_ci_low"]), float(cv["diff_ci_high"]))


def optimise(
    scenario: sim.Scenario,
    cells: Sequence[tuple[str, str]],
    budget: float,
    *,
    objective: Objective = "profit",
    min_roi: float | None = None,
    min_spend: float | None = None,
    robust: Robust | None = None,
    tier_order: TierOrder = "rate",
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
    max_replications: int | None = None,
    roi_precision: float = DEFAULT_ROI_PRECISION,
    validation_replications: int | None = None,
    seed: int = 0,
    workers: int | None = None,
    fit: str = "ls",
    estimation: Estimation = "cells",
    design_points: int | None = None,
    design_replications: int = 2,
    compare: bool = True,
    validate_result: bool = True,
    stability: bool = False,
    budget_cap: bool = True,
    hold_flat: bool = False,
    progress: Callable[[str], None] | None = None,
    run_progress: RunProgress | None = None,
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
        tier_order: benefits never lower in a higher tier: ``rate`` (default: each lever's rate, e.g. the
            rebate rate, is non-decreasing up the tier ladder), ``lever`` or ``total`` (per-partner spend), None.
        lever_shares: ``{lever: (lo, hi)}`` shares of the total spend.
        cell_bounds: ``{"tier/lever": (lo, hi)}``.
        tier_bounds: ``{tier: (lo, hi)}``.
        lever_bounds: ``{lever: (lo, hi)}``.
        max_total_change: ``sum |spend - current|`` at most this (USD per year).
        rounds: the most trust-region rounds (each estimates, solves and validates).
        radius: the initial trust region, a share of each cell's scale (None: the whole simulated range).
        tol: stop when no cell moves more than this share of its scale.
        multipliers: spend levels (see :func:`optimise.response.estimate`).
        replications: replications per level in estimation (with ``max_replications``: the first stage's).
        max_replications: noise-aware estimation, one cell at a time: cells whose levels' net-profit effect is
            still undecided get more replications, doubling, up to this many (None: ``replications`` for all;
            see :func:`optimise.response.estimate`).
        roi_precision: what decides a level in the noise-aware estimation: its net-profit CI within
            +- this share of its change of spend (or excluding zero).
        validation_replications: replications of each validation (default: ``replications``).
        seed: the root seed (estimation and validation use different keys under it).
        workers: processes for the simulations.
        fit: ``ls`` or ``envelope``.
        estimation: ``cells`` (one cell at a time, ``replications`` per level, the others at the centre:
            :func:`optimise.response.estimate`) or ``joint`` (a balanced design moving every cell at once,
            ``design_points`` x ``design_replications`` runs, separable fit with interaction tests:
            :func:`optimise.joint.estimate_joint`).
        design_points: the joint design's points (default :func:`optimise.joint.design_size`).
        design_replications: replications of each joint design point (paired by seed).
        compare: also validate the equal split and the revenue-proportional split at the end.
        validate_result: False: estimate and solve only (one round; no validation simulation).
        hold_flat: keep cells whose curve cannot be told from flat (no level's 95 % CI excludes zero) at
            their current spend, so that budget is not moved on noise (a cell bound given for the cell wins).
        budget_cap: validate every programme under the budget: ``incentives.budget`` = ``budget`` plus the
            current programme's incentive spend outside the cells, so that no programme (a simple rule whose
            rates would spend more, say) is compared while spending more than the others may.
        stability: also estimate the first round with the independent seed ``seed + 1``, solve it under the
            same constraints and validate that programme (``optimised_seed2``) with the others: the notes give
            the distance between the two programmes and the paired difference of their validated profits,
            with a warning when its CI excludes zero.
        progress: called with one line per step.
        run_progress: called with each phase's label; returns a function called with (done, total) after each
            of the phase's simulations (a progress bar), or None.

    Raises:
        InfeasibleAllocation: constraints that cannot hold together, found before any simulation
            (:mod:`optimise.feasibility`) or, with the curves, by the LP.
    """
    import time

    t0 = time.perf_counter()
    say = progress or (lambda _msg: None)
    cons = _Constraints(objective, min_roi, min_spend, robust, tier_order, dict(lever_shares or {}),
                        dict(cell_bounds or {}), dict(tier_bounds or {}), dict(lever_bounds or {}), max_total_change)
    cons.check(cells, budget)
    if not validate_result and rounds != 1:
        raise ValueError(f"rounds={rounds}: without validation there is one round (a round is accepted or rejected "
                         "by validating it)")
    if estimation == "joint":  # the design's size; one too small for the cells is refused before any simulation
        design_points = check_design(scenario, cells, multipliers, design_points)
    vr = validation_replications or replications
    centre = scenario
    rows = []
    notes: list[str] = []
    best: tuple[Allocation, ResponseData, sim.Scenario] | None = None
    first: tuple[Allocation, ResponseData, sim.Scenario] | None = None
    original: dict[str, float] | None = None
    rad = radius
    for k in range(rounds):
        if estimation == "joint":
            say(f"round {k}: estimating {len(cells)} cells jointly: a balanced design of "
                f"{design_points} points x {design_replications} replications")
        else:
            say(f"round {k}: estimating {len(cells)} cells x {len(multipliers)} levels x {replications} "
                "replications")
        rd = _estimate(estimation, centre, cells, multipliers=multipliers, replications=replications,
                       design_points=design_points, design_replications=design_replications, seed=seed, round_=k,
                       workers=workers, fit=fit, progress=_phase(run_progress, f"round {k}: estimation"),
                       max_replications=max_replications, roi_precision=roi_precision)
        if original is None:
            original = rd.current_spends()
            cap = budget + other_spend(rd) if budget_cap else None
        alloc = solve(cons.holding_flat(rd, hold_flat).problem(rd, budget, rad, scenario.tier_names))
        cand = centre.with_overrides(rd.overrides_for(alloc.spends()))
        move = _move(alloc, rd)
        if not validate_result:
            say(f"round {k}: LP {alloc.status}, predicted net uplift {alloc.expected_uplift:,.0f}/yr; not validated")
            rows.append(_round_row(k, rad, objective, alloc, rd, move, float("nan"), (float("nan"), float("nan")),
                                   None, "estimated"))
            best = first = (alloc, rd, cand)
            break
        say(f"round {k}: LP {alloc.status}, predicted net uplift {alloc.expected_uplift:,.0f}/yr, move {move:.3f}; "
            f"validating on {vr} fresh replications")
        val, _ = validate(under_budget({"centre": centre, "candidate": cand}, cap), replications=vr, seed=seed,
                          round_=k,
                          reference="centre", workers=workers, progress=_phase(run_progress, f"round {k}: validation"))
        realised, ci = _realised(val, "candidate", objective, "centre")
        accepted = realised > 0
        row = _round_row(k, rad, objective, alloc, rd, move, realised, ci, accepted, "estimated")
        rows.append(row)
        ratio = row["ratio"]
        say(f"round {k}: realised {realised:,.0f} [{ci[0]:,.0f}, {ci[1]:,.0f}] -> "
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
    extra: dict[str, sim.Scenario] = {}
    second: Allocation | None = None
    if stability and validate_result:
        # The same first round from an independent estimation seed: how much of the answer is estimation noise.
        say(f"stability: estimating again with seed {seed + 1}")
        rd2 = _estimate(estimation, scenario, cells, multipliers=multipliers, replications=replications,
                        design_points=design_points, design_replications=design_replications, seed=seed + 1,
                        round_=0, workers=workers, fit=fit, progress=_phase(run_progress, "stability: estimation"),
                        max_replications=max_replications, roi_precision=roi_precision)
        second = solve(cons.problem(rd2, budget, radius, scenario.tier_names))
        extra[STABILITY_POLICY] = scenario.with_overrides(rd2.overrides_for(second.spends()))
    candidates = {"optimised": opt}
    if validate_result:
        val, per, candidates = _final_validation(scenario, opt, rd, budget, replications=vr, seed=seed,
                                                 rules_rd=first[1] if first is not None else None,
                                                 workers=workers, compare=compare, say=say, run_progress=run_progress,
                                                 others=extra, cap=cap)
    else:
        val, per = _no_validation()
        notes.append("not validated by simulation (validation was switched off)")
    if second is not None:
        notes += stability_notes(val, alloc, second, seed)
    notes += (interaction_notes(pd.DataFrame(rows), joint=estimation == "joint") + design_notes(rd)
              + flat_notes(alloc, rd, hold_flat)
              + range_notes(alloc, rd)
              + ladder_notes(opt, rd, scenario.tier_names) + verdict_notes(val, alloc.total_spend, budget))
    recommended, why = best_validated(val)
    if why:
        notes.append(why)
    return OptimisationResult(
        allocation=alloc, response=rd, rounds=pd.DataFrame(rows), validation=val, validation_runs=per,
        scenario=scenario, optimised=opt, overrides=settings_of(opt, rd), original_spends=original or {},
        accepted_any=any(r["accepted"] for r in rows) if validate_result else None,
        seconds=time.perf_counter() - t0, notes=tuple(notes), validated=validate_result,
        recommended=recommended, candidates=candidates,
        rules_response=first[1] if first is not None and first[1] is not rd else None,
    )


FRONTIER_COLUMNS = ("budget", "status", "planned_spend", "realised_spend", "predicted_uplift", "net_profit_diff",
                    "ci_low", "ci_high", "replications")


def frontier(
    scenario: sim.Scenario,
    response: ResponseData,
    budgets: Sequence[float],
    *,
    objective: Objective = "profit",
    min_roi: float | None = None,
    min_spend: float | None = None,
    robust: Robust | None = None,
    tier_order: TierOrder = "rate",
    lever_shares: dict[str, tuple[float | None, float | None]] | None = None,
    cell_bounds: dict[str, tuple[float | None, float | None]] | None = None,
    tier_bounds: dict[str, tuple[float | None, float | None]] | None = None,
    lever_bounds: dict[str, tuple[float | None, float | None]] | None = None,
    max_total_change: float | None = None,
    radius: float | None = None,
    validation_replications: int = 8,
    seed: int = 0,
    workers: int | None = None,
    budget_cap: bool = True,
    progress: ProgressFn | None = None,
) -> pd.DataFrame:
    """Validated net profit against budget: the LP solved at each budget on ``response``'s curves.

    Every budget's programme and ``scenario`` (the current programme) are simulated on the same fresh seeds
    (``seed_sequence(seed, VALIDATION_KEY, FRONTIER_ROUND_KEY, r)``), so each row's difference and its 95 % CI
    are paired, and rows can be compared with each other.  With ``budget_cap`` each budget's programme runs
    under that budget (plus the spend outside the cells), as in :func:`optimise`; the current programme as it
    is.  A budget whose constraints cannot hold is a row
    with ``status`` ``infeasible`` and no simulation.  Other arguments as in :func:`resolve`.

    Returns:
        One row per budget (:data:`FRONTIER_COLUMNS`): planned spend of the cells (the LP's) and realised
        spend (validation), the curves' predicted uplift and the validated net profit difference per year.
    """
    from .solve import InfeasibleAllocation

    cons = _Constraints(objective, min_roi, min_spend, robust, tier_order, dict(lever_shares or {}),
                        dict(cell_bounds or {}), dict(tier_bounds or {}), dict(lever_bounds or {}), max_total_change)
    rd = response
    noncell = other_spend(rd)
    policies: dict[str, sim.Scenario] = {"current": scenario}
    plans: dict[float, Allocation | None] = {}
    for b in budgets:
        try:
            alloc = solve(cons.problem(rd, float(b), radius, scenario.tier_names))
        except InfeasibleAllocation:
            plans[float(b)] = None
            continue
        plans[float(b)] = alloc
        prog = rd.scenario.with_overrides(rd.overrides_for(alloc.spends()))
        policies.update(under_budget({f"budget_{float(b):.0f}": prog}, float(b) + noncell if budget_cap else None))
    cols = [spend_column(s.tier, s.lever) for s in rd.specs]
    val = pd.DataFrame()
    if len(policies) > 1:
        val, _ = validate(policies, replications=validation_replications, seed=seed, round_=FRONTIER_ROUND_KEY,
                          reference="current", workers=workers, spend_columns=cols, progress=progress)
        val = val.set_index("policy")
    rows = []
    for b, alloc in plans.items():
        if alloc is None:
            rows.append({"budget": b, "status": "infeasible", "planned_spend": float("nan"),
                         "realised_spend": float("nan"), "predicted_uplift": float("nan"),
                         "net_profit_diff": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"),
                         "replications": 0})
            continue
        v = val.loc[f"budget_{b:.0f}"]
        rows.append({"budget": b, "status": alloc.status, "planned_spend": alloc.total_spend,
                     "realised_spend": float(v["cells_spend"]), "predicted_uplift": float(alloc.expected_uplift),
                     "net_profit_diff": float(v["diff_vs_current"]), "ci_low": float(v["diff_ci_low"]),
                     "ci_high": float(v["diff_ci_high"]), "replications": validation_replications})
    return pd.DataFrame(rows, columns=list(FRONTIER_COLUMNS))


def resolve(
    scenario: sim.Scenario,
    response: ResponseData,
    budget: float,
    *,
    objective: Objective = "profit",
    min_roi: float | None = None,
    min_spend: float | None = None,
    robust: Robust | None = None,
    tier_order: TierOrder = "rate",
    lever_shares: dict[str, tuple[float | None, float | None]] | None = None,
    cell_bounds: dict[str, tuple[float | None, float | None]] | None = None,
    tier_bounds: dict[str, tuple[float | None, float | None]] | None = None,
    lever_bounds: dict[str, tuple[float | None, float | None]] | None = None,
    max_total_change: float | None = None,
    radius: float | None = None,
    validation_replications: int = 8,
    seed: int = 0,
    workers: int | None = None,
    compare: bool = True,
    validate_result: bool = True,
    budget_cap: bool = True,
    hold_flat: bool = False,
    original_spends: dict[str, float] | None = None,
    rules_response: ResponseData | None = None,
    progress: Callable[[str], None] | None = None,
    run_progress: RunProgress | None = None,
) -> OptimisationResult:
    """Solve once from curves estimated earlier (``response``; no estimation simulation), then validate.

    The LP is solved on ``response.curves`` around ``response.scenario`` (the centre the curves were
    estimated around) with the constraints given here; the answer is validated as :func:`optimise`'s final
    validation (``current`` is ``scenario``, fresh seeds under ``seed``), or not at all with
    ``validate_result=False``, in which case no simulation runs.  Arguments as in :func:`optimise`;
    ``radius`` (default None: the whole simulated range) keeps each cell near the centre.
    ``rules_response``: the first round's curves, around the current programme, which the simple rules are
    built from when ``response`` is a later round's (None: ``response``).

    Raises:
        InfeasibleAllocation: the constraints cannot hold together (before any simulation).
    """
    import time

    t0 = time.perf_counter()
    say = progress or (lambda _msg: None)
    cons = _Constraints(objective, min_roi, min_spend, robust, tier_order, dict(lever_shares or {}),
                        dict(cell_bounds or {}), dict(tier_bounds or {}), dict(lever_bounds or {}), max_total_change)
    cells = [(s.tier, s.lever) for s in response.specs]
    cons.check(cells, budget)
    rd = response
    alloc = solve(cons.holding_flat(rd, hold_flat).problem(rd, budget, radius, scenario.tier_names))
    opt = rd.scenario.with_overrides(rd.overrides_for(alloc.spends()))
    say(f"LP {alloc.status} on the stored curves in {alloc.solve_seconds:.2f} s, predicted net uplift "
        f"{alloc.expected_uplift:,.0f}/yr")
    notes: list[str] = []
    candidates = {"optimised": opt}
    if validate_result:
        val, per, candidates = _final_validation(scenario, opt, rd, budget, replications=validation_replications,
                                                 seed=seed, workers=workers, compare=compare, say=say,
                                                 run_progress=run_progress, rules_rd=rules_response,
                                                 cap=budget + other_spend(rules_response or rd) if budget_cap
                                                 else None)
        realised, ci = _realised(val, "optimised", objective, "current")
        accepted: bool | None = realised > 0
    else:
        val, per = _no_validation()
        realised, ci, accepted = float("nan"), (float("nan"), float("nan")), None
        notes.append("not validated by simulation (validation was switched off)")
    notes += (flat_notes(alloc, rd, hold_flat) + range_notes(alloc, rd) + ladder_notes(opt, rd, scenario.tier_names)
              + verdict_notes(val, alloc.total_spend, budget))
    recommended, why = best_validated(val)
    if why:
        notes.append(why)
    row = _round_row(0, radius, objective, alloc, rd, _move(alloc, rd), realised, ci, accepted, "stored")
    return OptimisationResult(
        allocation=alloc, response=rd, rounds=pd.DataFrame([row]), validation=val, validation_runs=per,
        scenario=scenario, optimised=opt, overrides=settings_of(opt, rd),
        original_spends=original_spends if original_spends is not None else rd.current_spends(),
        accepted_any=accepted, seconds=time.perf_counter() - t0, notes=tuple(notes), validated=validate_result,
        curves_source="stored", recommended=recommended, candidates=candidates, rules_response=rules_response,
    )


__all__ = ["FRONTIER_COLUMNS", "STABILITY_POLICY", "OptimisationResult", "RunProgress", "best_validated",
           "equal_split", "flat_cells", "flat_notes", "frontier", "interaction_notes", "ladder_notes", "optimise",
           "paired_ci", "proportional_split", "range_notes", "resolve", "settings_of", "spread", "stability_notes",
           "validate", "verdict_notes"]
