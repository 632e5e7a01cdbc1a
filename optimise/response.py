"""Response estimation: simulate spend levels of each tier x lever cell, fit concave curves.

A *spend level* of a cell is a multiplier ``m`` of the cell's reference rate:

============  =====================================  =====================================
lever         tier cell (``gold:rebate``)             programme-wide cell (``all:rebate``)
============  =====================================  =====================================
rebate        ``tiering.tiers.<t>.rebate_rate``        ``incentives.rebate.scale``
mdf           ``tiering.tiers.<t>.mdf_accrual_rate``   ``incentives.mdf.scale``
training      ``tiering.tiers.<t>.training_budget``    ``incentives.training.scale``
discount      ``tiering.tiers.<t>.discount``           ``incentives.discount_scale``
spiff         (eligibility only: not continuous)       ``incentives.spiff.amount``
============  =====================================  =====================================

The reference rate is the cell's current rate; when that is zero (the
registered tier has no rebate) it is the smallest positive rate of the lever
among the tiers, and the current programme sits at ``m = 0``.  The spend of a
level is what the simulator books to the cell (``spend_<lever>_<tier>``), so
curves are in USD per year of *realised* spend.

For every level and replication ``r`` the run uses the seed
``seed_sequence(seed, ESTIMATION_KEY, round, r)``: every level of every cell
in replication ``r`` shares it with the current programme (common random
numbers), and the increments are paired differences within a replication.
The value of a level is ``delta gross_profit + delta own spend``: the cell's
incremental gross profit before its own incentive cost (other levers' spend
that moves with it, such as rebates on extra revenue, stays charged).  The
brief's ``delta(gross_profit + incentive_spend)`` is kept as ``gp_before_all``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

import sim

from .lp import Curve
from .simulate import ProgressFn, Task, simulate_many

ESTIMATION_KEY = 101
VALIDATION_KEY = 202
DEFAULT_MULTIPLIERS = (0.0, 0.5, 1.0, 1.5, 2.0)
#: Noise-aware estimation: a level's return on spend is known when its net-profit CI is within +-0.1 x its
#: change of spend (10 cents a dollar), unless the CI already excludes zero.
DEFAULT_ROI_PRECISION = 0.1
LEVERS = ("rebate", "mdf", "spiff", "training", "discount")
DEFAULT_LEVERS = ("rebate", "mdf", "training", "discount")
_TIER_FIELD = {
    "rebate": "rebate_rate", "mdf": "mdf_accrual_rate", "training": "training_budget", "discount": "discount",
}
_GLOBAL_PATH = {
    "rebate": "incentives.rebate.scale", "mdf": "incentives.mdf.scale", "training": "incentives.training.scale",
    "discount": "incentives.discount_scale", "spiff": "incentives.spiff.amount",
}
_FALLBACK_REF = {"rebate": 0.01, "mdf": 0.01, "training": 100.0, "discount": 0.05}


@dataclass(frozen=True)
class CellSpec:
    """How a spend level of one cell maps to scenario overrides."""

    tier: str
    lever: str
    path: str
    reference: float
    current_value: float
    upper: float | None  # the field's largest allowed value (discount and rates: 1)

    @property
    def cell(self) -> str:
        return f"{self.tier}/{self.lever}"

    @property
    def current_multiplier(self) -> float:
        return self.current_value / self.reference if self.reference else 0.0

    def value(self, multiplier: float) -> float:
        v = max(0.0, float(multiplier)) * self.reference
        return min(v, self.upper) if self.upper is not None else v

    def overrides(self, multiplier: float) -> dict[str, float]:
        return {self.path: self.value(multiplier)}


def parse_cells(text: str | Sequence[str] | None, scenario: sim.Scenario) -> list[tuple[str, str]]:
    """Cells from ``"gold:rebate,silver:mdf"``, ``"*:rebate"``, ``"gold:*"`` or None (tiers x default levers)."""
    tiers = scenario.tier_names
    if text is None:
        return [(t, lv) for t in tiers for lv in DEFAULT_LEVERS]
    items = text.split(",") if isinstance(text, str) else list(text)
    out: list[tuple[str, str]] = []
    for raw in items:
        raw = raw.strip()
        if not raw:
            continue
        sep = ":" if ":" in raw else "/"
        if sep not in raw:
            raise ValueError(f"a cell is TIER:LEVER (e.g. gold:rebate), got {raw!r}")
        t, lv = (p.strip() for p in raw.split(sep, 1))
        ts = tiers if t == "*" else [t]
        lvs = list(DEFAULT_LEVERS) if lv == "*" else [lv]
        for tt in ts:
            for ll in lvs:
                if tt != "all" and tt not in tiers:
                    raise ValueError(f"unknown tier {tt!r} in cell {raw!r}; tiers: {tiers} (or 'all')")
                if ll not in LEVERS:
                    raise ValueError(f"unknown lever {ll!r} in cell {raw!r}; levers: {list(LEVERS)}")
                if (tt, ll) not in out:
                    out.append((tt, ll))
    if not out:
        raise ValueError("no cells given")
    return out


def cell_spec(scenario: sim.Scenario, tier: str, lever: str) -> CellSpec:
    """The override path, reference rate and current value of one cell in ``scenario``."""
    if tier == "all":
        path = _GLOBAL_PATH[lever]
        node = scenario
        for part in path.split("."):
            node = getattr(node, part)
        cur = float(node)
        ref = cur if cur > 0 else (500.0 if lever == "spiff" else 1.0)
        return CellSpec(tier, lever, path, ref, cur, None)
    if lever == "spiff":
        raise ValueError(
            f"{tier}:spiff cannot take spend levels: a tier only switches SPIFF eligibility on or off, and the "
            "amount is programme-wide; use the cell all:spiff"
        )
    field = _TIER_FIELD[lever]
    values = {t.name: float(getattr(t, field)) for t in scenario.tiering.tiers}
    cur = values[tier]
    positive = [v for v in values.values() if v > 0]
    ref = cur if cur > 0 else (min(positive) if positive else _FALLBACK_REF[lever])
    upper = None if lever == "training" else 1.0
    return CellSpec(tier, lever, f"tiering.tiers.{tier}.{field}", ref, cur, upper)


def spend_column(tier: str, lever: str) -> str:
    return f"spend_{lever}" if tier == "all" else f"spend_{lever}_{tier}"


# ----------------------------------------------------------------------------------------------- fitting


def concave_fit(spend: Sequence[float], value: Sequence[float], se: Sequence[float] | None = None, *,
                anchor: int | None = None, monotone: bool = True) -> np.ndarray:
    """Weighted least-squares concave (and, by default, nondecreasing) piecewise-linear fit.

    The fitted values at the breakpoints are ``a + sum_i b_i h_i`` with slopes ``b_0 >= b_1 >= ...``
    (``>= 0`` when monotone), written with non-negative slope decrements so that the problem is a
    bounded least-squares problem (``scipy.optimize.lsq_linear``).  ``anchor`` is the breakpoint of
    the current programme: the fitted curve is shifted to be 0 there (increments are relative to it).
    """
    s = np.asarray(spend, float)
    v = np.asarray(value, float)
    n = len(s)
    if n <= 2:  # a line is concave; only monotonicity can bind
        out = np.full(n, v.mean()) if (n == 2 and monotone and v[1] < v[0]) else v.copy()
        return out - out[anchor] if anchor is not None else out
    scale_s = max(s[-1] - s[0], 1e-12)
    scale_v = max(np.abs(v).max(), 1e-12)
    x = (s - s[0]) / scale_s
    y = v / scale_v
    # column m (slope decrement c_m >= 0) contributes (x_min(j, m+1) - x_0) to point j
    A = np.zeros((n, n))
    A[:, 0] = 1.0
    for m in range(n - 1):
        A[:, 1 + m] = x[np.minimum(np.arange(n), m + 1)]
    lower = np.zeros(n)
    lower[0] = -np.inf
    upper = np.full(n, np.inf)
    if not monotone:  # the last slope may be negative: give it a free column
        A = np.hstack([A, x[:, None]])
        lower = np.append(lower, -np.inf)
        upper = np.append(upper, 0.0)
    if se is not None:
        w = np.asarray(se, float) / scale_v
        pos = w[w > 0]
        floor = 0.25 * float(np.median(pos)) if len(pos) else 1.0
        w = 1.0 / np.maximum(w, floor)
    else:
        w = np.ones(n)
    if anchor is not None and se is not None:
        # the anchor's paired increment is exactly 0 (se 0); weigh it like a typical level instead of
        # pinning the curve to it, which would put a kink at the current programme whatever the data say
        w[anchor] = float(np.median(w))
    res = optimize.lsq_linear(A * w[:, None], y * w, bounds=(lower, upper), method="bvls")
    fitted = (A @ res.x) * scale_v
    if anchor is not None:
        fitted = fitted - fitted[anchor]  # a vertical shift keeps the shape: value(current) = 0
    return fitted


def upper_concave_envelope(spend: Sequence[float], value: Sequence[float], *, monotone: bool = True) -> np.ndarray:
    """The least concave majorant of the points, evaluated at the breakpoints (flat after its peak if monotone)."""
    s = np.asarray(spend, float)
    v = np.asarray(value, float)
    hull: list[int] = []
    for i in range(len(s)):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            # drop b if it lies on or below the chord a -> i
            if (v[b] - v[a]) * (s[i] - s[a]) <= (v[i] - v[a]) * (s[b] - s[a]):
                hull.pop()
            else:
                break
        hull.append(i)
    env = np.interp(s, s[hull], v[hull])
    if monotone:
        env = np.maximum.accumulate(env)
    return env


def shape_of(spend: Sequence[float], value: Sequence[float], se: Sequence[float]) -> dict[str, object]:
    """Concavity diagnosis of the estimated means: the envelope's overstatement and the slope pattern."""
    s = np.asarray(spend, float)
    v = np.asarray(value, float)
    e = np.asarray(se, float)
    env = upper_concave_envelope(s, v, monotone=False)
    over = env - v
    j = int(np.argmax(over)) if len(over) else 0
    worst = float(over[j]) if len(over) else 0.0
    span = float(np.ptp(v)) if len(v) else 0.0
    tol = 1e-9 * max(1.0, float(np.abs(v).max()) if len(v) else 1.0)
    concave = worst <= tol
    if len(s) >= 3:
        sl = np.diff(v) / np.diff(s)
        d = np.diff(sl)
        if concave:
            shape = "concave"
        elif np.all(d >= -tol):
            shape = "convex"
        else:
            k = int(np.argmax(d < -tol))  # first slope decrease
            shape = "S-shaped" if k > 0 and np.all(d[:k] >= -tol) and np.all(d[k:] <= tol) else "irregular"
    else:
        shape = "concave"
    # the overstatement in standard errors (the centre has se 0 by construction: use the typical se there)
    pos = e[e > 0]
    den = max(float(e[j]) if len(e) else 0.0, float(np.median(pos)) if len(pos) else 0.0)
    z = worst / den if den > 0 else (np.inf if worst > tol else 0.0)
    return {
        "concave": bool(concave), "shape": shape, "overstatement": worst,
        "overstatement_share_of_range": worst / span if span > 0 else 0.0,
        "at_spend": float(s[j]) if len(s) else 0.0, "overstatement_se": float(z),
        "significant": bool(z > 1.96),
    }


# ----------------------------------------------------------------------------------------------- estimation


@dataclass(frozen=True)
class ResponseData:
    """Everything estimated for one scenario and set of cells.

    Attributes:
        scenario: the programme the levels are taken around (the *centre*).
        specs: the cells' override mappings.
        multipliers: the simulated levels.
        runs: one row per (cell, multiplier, replication) with paired increments vs the centre.
        points: per (cell, multiplier): mean spend and increments with 95 % CIs, the fit and the envelope.
        shapes: per cell: the concavity diagnosis (:func:`shape_of`).
        curves: the concave curves handed to the LP.
        base: per replication outcomes of the centre (columns as in ``runs``).
        partners: mean active partners per tier in the centre.
        seconds: wall time of the simulations.
        n_runs: simulations run.
        diagnostics: what the estimation design adds (the joint design: its size, the lack-of-fit test
            of the separable model and the largest pairwise interactions; empty for one cell at a time).
    """

    scenario: sim.Scenario
    specs: tuple[CellSpec, ...]
    multipliers: tuple[float, ...]
    runs: pd.DataFrame
    points: pd.DataFrame
    shapes: pd.DataFrame
    curves: tuple[Curve, ...]
    base: pd.DataFrame
    partners: dict[str, float]
    seconds: float
    n_runs: int
    diagnostics: dict = field(default_factory=dict)

    def spec(self, cell: str) -> CellSpec:
        return next(s for s in self.specs if s.cell == cell)

    def multiplier_for(self, cell: str, spend: float) -> float:
        """The level multiplier whose simulated spend is ``spend`` (linear between levels)."""
        p = self.points[self.points["cell"] == cell].sort_values("multiplier")
        s = p["spend"].to_numpy()
        m = p["multiplier"].to_numpy()
        order = np.argsort(s, kind="stable")
        s, m = s[order], m[order]
        s, idx = np.unique(s, return_index=True)
        m = m[idx]
        if len(s) == 1:
            return float(m[0])
        return float(np.interp(spend, s, m))

    def overrides_for(self, spends: dict[str, float]) -> dict[str, float]:
        """Scenario overrides (on top of the centre) that implement an allocation."""
        out: dict[str, float] = {}
        for spec in self.specs:
            if spec.cell in spends:
                out.update(spec.overrides(self.multiplier_for(spec.cell, spends[spec.cell])))
        return out

    def current_spends(self) -> dict[str, float]:
        return {c.cell: c.current for c in self.curves}


def _t(n: int) -> float:
    return float(stats.t.ppf(0.975, n - 1)) if n > 1 else float("nan")


def _outcome_row(o, spec_cols: dict[str, str]) -> dict[str, float]:
    row = {
        "gp": o.per_year("gross_profit"),
        "incentive_spend": o.per_year("incentive_spend"),
        "revenue": o.per_year("revenue_total"),
    }
    for cell, col in spec_cols.items():
        row[f"spend::{cell}"] = o.per_year(col)
    for k, v in o.means.items():
        row[k] = v
    for k in o.totals:
        if k.startswith("revenue_tier_"):
            row[k] = o.per_year(k)
    return row


def estimate(
    scenario: sim.Scenario,
    cells: Sequence[tuple[str, str]],
    *,
    multipliers: Sequence[float] = DEFAULT_MULTIPLIERS,
    replications: int = 8,
    seed: int = 0,
    round_: int = 0,
    workers: int | None = None,
    fit: str = "ls",
    progress: ProgressFn | None = None,
    max_replications: int | None = None,
    roi_precision: float = DEFAULT_ROI_PRECISION,
) -> ResponseData:
    """Simulate every cell at every level with CRN and fit its concave response curve.

    Args:
        scenario: the centre programme.
        cells: ``(tier, lever)`` pairs.
        multipliers: levels as multiples of each cell's reference rate (the current level is added).
        replications: R, replications per level (paired across levels by seed).
        seed: the root seed; runs use ``seed_sequence(seed, ESTIMATION_KEY, round_, r)``.
        round_: the trust-region round (a new round draws new seeds).
        workers: processes for the simulations.
        fit: ``"ls"`` (weighted least-squares concave fit, default) or ``"envelope"`` (upper concave envelope).
        progress: called with ``(done, total)`` after each simulation.
        max_replications: noise-aware estimation (None or ``replications``: every cell gets ``replications``).
            After the first ``replications``, a cell whose decision is still open (:func:`undecided_levels`:
            some level's 95 % CI of the net-profit increment contains zero and is wider than ``roi_precision``
            x the level's change of spend) gets more replications, doubling, up to ``max_replications``; cells
            whose levels are decided stop.  Every added replication ``r`` uses the same seed for the centre
            and every level of the cell (common random numbers, as before).
        roi_precision: the half-width of the net-profit CI, as a share of the level's change of spend (a
            return-on-spend precision), below which a level counts as decided.
    """
    import time

    if replications < 2:
        raise ValueError("replications must be at least 2 (confidence intervals need them)")
    if fit not in ("ls", "envelope"):
        raise ValueError(f"fit must be 'ls' or 'envelope', got {fit!r}")
    r_max = max(replications, max_replications or replications)
    if roi_precision <= 0:
        raise ValueError(f"roi_precision must be positive, got {roi_precision!r}")
    specs = tuple(cell_spec(scenario, t, lv) for t, lv in cells)
    spec_cols = {s.cell: spend_column(s.tier, s.lever) for s in specs}
    levels: dict[str, list[float]] = {}
    for spec in specs:
        cur = spec.current_multiplier
        levels[spec.cell] = sorted({round(float(m), 10) for m in multipliers} | {round(cur, 10)})

    def is_centre(spec: CellSpec, m: float) -> bool:
        return abs(spec.value(m) - spec.current_value) <= 1e-12 * max(1.0, spec.current_value)

    base_rows: dict[int, dict[str, float]] = {}
    rows: dict[tuple[str, float, int], dict[str, float]] = {}
    n_reps = {spec.cell: 0 for spec in specs}
    done_runs = 0
    seconds = 0.0
    stages = []

    def run_stage(want: dict[str, int]) -> None:
        """Run replications n_reps[cell] .. want[cell] - 1 of each cell (and the centre's runs they pair with)."""
        nonlocal done_runs, seconds
        tasks: list[Task] = []
        keys: list[tuple[str, float, int]] = []
        for r in range(max(want.values(), default=0)):
            if r not in base_rows:
                tasks.append(Task(scenario, sim.seed_sequence(seed, ESTIMATION_KEY, round_, r)))
                keys.append(("__base__", np.nan, r))
        for spec in specs:
            for m in levels[spec.cell]:
                if is_centre(spec, m):
                    continue  # the centre itself: reuse the base runs
                sc = scenario.with_overrides(spec.overrides(m))
                for r in range(n_reps[spec.cell], want.get(spec.cell, n_reps[spec.cell])):
                    tasks.append(Task(sc, sim.seed_sequence(seed, ESTIMATION_KEY, round_, r)))
                    keys.append((spec.cell, m, r))
        offset = done_runs
        stage_progress = (None if progress is None
                          else (lambda done, total: progress(offset + done, offset + total)))
        t0 = time.perf_counter()
        outs = simulate_many(tasks, workers=workers, progress=stage_progress)
        seconds += time.perf_counter() - t0
        done_runs += len(tasks)
        for (cell, m, r), o in zip(keys, outs, strict=True):
            row = _outcome_row(o, spec_cols)
            if cell == "__base__":
                base_rows[r] = row
            else:
                rows[(cell, m, r)] = row
        for cell, n in want.items():
            n_reps[cell] = max(n_reps[cell], n)
        stages.append({"cells": sorted(want), "replications": max(want.values(), default=0), "runs": len(tasks)})

    run_stage({spec.cell: replications for spec in specs})
    while True:
        more = {}
        for spec in specs:
            n = n_reps[spec.cell]
            if n >= r_max:
                continue
            d_net = {m: [rows.get((spec.cell, m, r), base_rows[r])["gp"] - base_rows[r]["gp"] for r in range(n)]
                     for m in levels[spec.cell] if not is_centre(spec, m)}
            d_spend = {m: [rows.get((spec.cell, m, r), base_rows[r])[f"spend::{spec.cell}"]
                           - base_rows[r][f"spend::{spec.cell}"] for r in range(n)] for m in d_net}
            if undecided_levels(d_net, d_spend, roi_precision):
                more[spec.cell] = min(2 * n, r_max)
        if not more:
            break
        run_stage(more)
    n_tasks = done_runs

    base = pd.DataFrame([{"rep": r, **row} for r, row in sorted(base_rows.items())])
    partners = {t: float(base[f"partners_tier_{t}"].mean()) for t in scenario.tier_names
                if f"partners_tier_{t}" in base}

    recs = []
    for spec in specs:
        for m in levels[spec.cell]:
            for r in range(n_reps[spec.cell]):
                b = base_rows[r]
                row = rows.get((spec.cell, m, r), b)
                own = f"spend::{spec.cell}"
                recs.append({
                    "cell": spec.cell, "tier": spec.tier, "lever": spec.lever, "multiplier": m,
                    "rate": spec.value(m), "rep": r, "spend": row[own],
                    "d_spend": row[own] - b[own],
                    "value": (row["gp"] - b["gp"]) + (row[own] - b[own]),
                    "gp_before_all": (row["gp"] + row["incentive_spend"]) - (b["gp"] + b["incentive_spend"]),
                    "d_net": row["gp"] - b["gp"],
                    "d_revenue": row["revenue"] - b["revenue"],
                    "d_other_spend": (row["incentive_spend"] - row[own]) - (b["incentive_spend"] - b[own]),
                })
    runs = pd.DataFrame(recs)

    pts = []
    curves = []
    shapes = []
    for spec in specs:
        d = runs[runs["cell"] == spec.cell]
        g = d.groupby("multiplier", sort=True)
        agg = pd.DataFrame({
            "spend": g["spend"].mean(),
            "value": g["value"].mean(), "value_sd": g["value"].std(ddof=1),
            "revenue": g["d_revenue"].mean(), "revenue_sd": g["d_revenue"].std(ddof=1),
            "d_net": g["d_net"].mean(), "d_net_sd": g["d_net"].std(ddof=1),
            "gp_before_all": g["gp_before_all"].mean(),
            "d_other_spend": g["d_other_spend"].mean(),
            "n": g["value"].count(),
        }).reset_index()
        agg = agg.sort_values(["spend", "multiplier"]).reset_index(drop=True)
        n = int(agg["n"].iloc[0])
        tq = _t(n)
        for col in ("value", "revenue", "d_net"):
            se = agg[f"{col}_sd"].fillna(0.0) / np.sqrt(n)
            agg[f"{col}_se"] = se
            agg[f"{col}_ci_low"] = agg[col] - tq * se
            agg[f"{col}_ci_high"] = agg[col] + tq * se
        # Breakpoints must increase strictly: merge levels whose mean spends coincide.
        key = np.round(agg["spend"].to_numpy(), 6)
        if len(np.unique(key)) < len(key):
            agg["_k"] = key
            agg = agg.groupby("_k", sort=True).agg("mean").reset_index(drop=True)
        per_rep = []
        for r in range(replications):  # the robust objective's scenarios: the first replications, common to every cell
            dr = d[d["rep"] == r].set_index("multiplier").reindex(agg["multiplier"])
            vr = dr["value"].to_numpy()
            per_rep.append(vr if np.all(np.isfinite(vr)) else agg["value"].to_numpy())  # merged levels: mean curve
        centre_spend = float(base[f"spend::{spec.cell}"].mean())
        agg, sh, curve = fit_cell(spec, agg, per_rep, fit=fit, current_spend=centre_spend,
                                  partners=partners.get(spec.tier))
        pts.append(agg)
        shapes.append(sh)
        curves.append(curve)
    points = pd.concat(pts, ignore_index=True)
    return ResponseData(
        scenario=scenario, specs=specs, multipliers=tuple(float(m) for m in multipliers), runs=runs, points=points,
        shapes=pd.DataFrame(shapes), curves=tuple(curves), base=base, partners=partners, seconds=seconds,
        n_runs=n_tasks,
        diagnostics=({} if r_max == replications else {"sequential": {
            "replications": int(replications), "max_replications": int(r_max), "roi_precision": float(roi_precision),
            "per_cell": {c: int(n) for c, n in n_reps.items()},
            "undecided": [c for c in n_reps if n_reps[c] >= r_max and _cell_undecided(runs, c, roi_precision)],
            "stages": stages}}),
    )


def undecided_levels(d_net: dict[float, Sequence[float]], d_spend: dict[float, Sequence[float]],
                     roi_precision: float) -> list[float]:
    """Levels whose net-profit effect is not yet known well enough to allocate on.

    A level (paired increments over the replications so far: ``d_net`` of net profit, ``d_spend`` of the
    cell's own spend, USD/yr) is *decided* when the 95 % t-interval of its mean net-profit increment
    excludes zero (the sign of spending more or less there is known), or when the interval's half-width is
    at most ``roi_precision`` x its mean absolute change of spend (its return on spend is known to within
    +- ``roi_precision``, whatever its sign).  A level that does not change spend is decided.
    """
    out = []
    for m, dn in d_net.items():
        x = np.asarray(dn, dtype=float)
        ds = float(np.mean(np.abs(np.asarray(d_spend[m], dtype=float))))
        if x.size < 2 or ds <= 0:
            continue
        half = _t(x.size) * float(np.std(x, ddof=1)) / np.sqrt(x.size)
        mean = float(np.mean(x))
        if mean - half <= 0 <= mean + half and half > roi_precision * ds:
            out.append(m)
    return out


def _cell_undecided(runs: pd.DataFrame, cell: str, roi_precision: float) -> bool:
    d = runs[runs["cell"] == cell]
    groups = {m: g for m, g in d.groupby("multiplier")}
    return bool(undecided_levels({m: g["d_net"].to_numpy() for m, g in groups.items()},
                                 {m: g["d_spend"].to_numpy() for m, g in groups.items()}, roi_precision))


def fit_cell(spec: CellSpec, agg: pd.DataFrame, per_rep: Sequence[np.ndarray], *, fit: str, current_spend: float,
             partners: float | None) -> tuple[pd.DataFrame, dict[str, object], Curve]:
    """Fit one cell's concave curve to its levels' mean values; the curve the LP gets and its diagnosis.

    ``agg`` has one row per level, sorted by spend (``multiplier``, ``spend``, ``value``, ``value_se``,
    ``revenue``, ``revenue_se``); ``per_rep`` the level values of each replication (for the robust
    objective's scenario curves). Shared by the one-cell-at-a-time and the joint estimation.
    """
    s = agg["spend"].to_numpy()
    anchor = int(np.argmin(np.abs(agg["multiplier"].to_numpy() - spec.current_multiplier)))
    v = agg["value"].to_numpy()
    se = agg["value_se"].to_numpy()
    env = upper_concave_envelope(s, v)
    lsfit = concave_fit(s, v, se, anchor=anchor)
    used = env if fit == "envelope" else lsfit
    rev_fit = concave_fit(s, agg["revenue"].to_numpy(), agg["revenue_se"].to_numpy(), anchor=anchor)
    scen = tuple(tuple(float(x) for x in (upper_concave_envelope(s, vr) if fit == "envelope"
                                          else concave_fit(s, vr, None, anchor=anchor))) for vr in per_rep)
    agg = agg.copy()
    agg["fit"] = lsfit
    agg["envelope"] = env
    agg["revenue_fit"] = rev_fit
    agg["used"] = used
    agg.insert(0, "cell", spec.cell)
    agg.insert(1, "tier", spec.tier)
    agg.insert(2, "lever", spec.lever)
    sh = shape_of(s, v, se)
    sh["fit_rmse"] = float(np.sqrt(np.mean((lsfit - v) ** 2)))
    curve = Curve(
        tier=spec.tier, lever=spec.lever, spend=tuple(float(x) for x in s), value=tuple(float(x) for x in used),
        current=float(np.clip(current_spend, s[0], s[-1])), revenue=tuple(float(x) for x in rev_fit),
        scenario_values=scen, partners=partners, rates=tuple(spec.value(m) for m in agg["multiplier"].to_numpy()),
    )
    return agg, {"cell": spec.cell, "tier": spec.tier, "lever": spec.lever, **sh}, curve


__all__ = ["DEFAULT_LEVERS", "DEFAULT_MULTIPLIERS", "DEFAULT_ROI_PRECISION", "ESTIMATION_KEY", "LEVERS",
           "VALIDATION_KEY", "CellSpec", "ResponseData", "cell_spec", "concave_fit", "estimate", "fit_cell",
           "parse_cells", "shape_of", "spend_column", "undecided_levels", "upper_concave_envelope"]
