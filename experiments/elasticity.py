"""Lever effects measured in the simulator: elasticities by paired finite differences.

For a lever with a scenario multiplier ``x`` (or a scenario change that scales a
quantity by ``1 + h``), both arms warm up on the scenario itself and the change takes
effect at the first reported month (``sim.run(..., warmup=scenario)``), so the
elasticity is the response over the reported months to a change made today.  The arc
elasticity of an outcome ``Y`` with respect to an input ``X`` is

    e = mean_r[ln Y_r(+h) - ln Y_r(-h)] / mean_r[ln X_r(+h) - ln X_r(-h)],

over replications ``r`` that share their seed between the two arms (common random
numbers), so that the noise the two arms share cancels.  ``X`` is what the lever
changes as realised in the run (MDF paid, partners' seller-months), or the lever's
own factor (the price index).  The 95 % interval is the delta-method interval of the
ratio of means, with Student's t over the replications.

The published ranges the elasticities are held to (issue 11, docs/MODEL.md):

* MDF (co-op marketing funds) -> partner revenue: 0.05-0.25 (Sethuraman, Tellis &
  Briesch 2011: advertising elasticity 0.12 short-term, 0.24 long-term, 751 estimates;
  Henningsen et al. 2011: 0.09);
* partner selling effort (sellers x mindshare) -> partner revenue: 0.2-0.5 (Albers,
  Mantrala & Sridhar 2010: personal-selling elasticity, mean 0.34);
* the price customers see -> the vendor's unit sales (new customers): -1.5 to -3
  (Bijmolt, van Heerde & Pieters 2005: mean -2.62 over 1,851 estimates; Tellis 1988: -1.76).

Lever responses with no published range are measured the same way (rebates, SPIFFs,
training, discounts on partner effort; audits on over-claiming) and reported beside them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

import sim
from sim.scenario import PARTNER_TYPES

from .backends import make_backend

SEED_KEY = 303  # seed_sequence(seed, SEED_KEY, r): the replications of elasticity measurements


def _scale_all(paths: Callable[[sim.Scenario], dict[str, float]]) -> Callable[[sim.Scenario, float], dict]:
    def arm(sc: sim.Scenario, h: float) -> dict[str, float]:
        return {p: v * (1.0 + h) for p, v in paths(sc).items()}

    return arm


def _sellers(sc: sim.Scenario) -> dict[str, float]:
    return {"partners.sellers_scale": sc.partners.sellers_scale}


@dataclass(frozen=True)
class Lever:
    """One elasticity: the scenario change, the outcome, the input, and the published range (if any)."""

    name: str
    label: str
    arm: Callable[[sim.Scenario, float], dict[str, Any]]
    outcome: str  # KPI summed over the reported months
    input: str | None  # KPI summed over the reported months, or None: the lever's own factor
    h: float
    published: tuple[float, float] | None = None
    source: str = ""
    outcome_level: bool = False  # the outcome is a level KPI (mean over months), not a flow


LEVERS: dict[str, Lever] = {
    lv.name: lv
    for lv in (
        Lever("mdf", "MDF paid -> partner revenue",
              _scale_all(lambda sc: {"incentives.mdf.scale": sc.incentives.mdf.scale}),
              "revenue_partner", "spend_mdf", 0.25, (0.05, 0.25),
              "Sethuraman, Tellis & Briesch 2011 (0.12 short-term, 0.24 long-term); Henningsen et al. 2011 (0.09)"),
        Lever("effort", "partner selling effort (sellers x mindshare) -> partner revenue", _scale_all(_sellers),
              "revenue_partner", "partner_effort", 0.25, (0.2, 0.5),
              "Albers, Mantrala & Sridhar 2010 (mean 0.34)"),
        Lever("price", "price customers see -> vendor unit sales (new customers)",
              _scale_all(lambda sc: {"market.price_index": sc.market.price_index}),
              "customers_new", None, 0.05, (-3.0, -1.5),
              "Bijmolt, van Heerde & Pieters 2005 (mean -2.62); Tellis 1988 (-1.76)"),
        Lever("rebate_effort", "rebate rates -> partner selling effort",
              _scale_all(lambda sc: {"incentives.rebate.scale": sc.incentives.rebate.scale}),
              "partner_effort", None, 0.25),
        Lever("rebate_revenue", "rebate rates -> partner revenue",
              _scale_all(lambda sc: {"incentives.rebate.scale": sc.incentives.rebate.scale}),
              "revenue_partner", None, 0.25),
        Lever("discount_effort", "front-end discount rates -> partner selling effort",
              _scale_all(lambda sc: {"incentives.discount_scale": sc.incentives.discount_scale}),
              "partner_effort", None, 0.1),
        Lever("spiff_revenue", "SPIFF amount -> partner revenue",
              _scale_all(lambda sc: {"incentives.spiff.amount": sc.incentives.spiff.amount}),
              "revenue_partner", None, 0.5),
        Lever("training_revenue", "funded training -> partner revenue",
              _scale_all(lambda sc: {"incentives.training.scale": sc.incentives.training.scale}),
              "revenue_partner", None, 0.5),
        Lever("audit_overclaim", "audit rate -> share of claims over-claimed",
              _scale_all(lambda sc: {"partners.compliance.audit_rate": sc.partners.compliance.audit_rate}),
              "overclaim_share", None, 0.5, outcome_level=True),
    )
}
PUBLISHED = ("mdf", "effort", "price")


def _totals(kpis) -> dict[str, float]:
    out = {c: float(kpis[c].sum()) for c in ("revenue_partner", "spend_mdf", "partner_effort", "customers_new",
                                             "gross_profit", "revenue_total", "partners_exited")}
    out["overclaim_share"] = float(1.0 - kpis["compliance_rate"].mean())
    return out


def run_arm(task: dict[str, Any]) -> dict[str, Any]:
    """One replication of every arm (a module-level task for the backends; never raises).

    ``task["arms"]`` maps an arm's point number to its overrides.  The arms share the replication's
    seed and its warm-up, simulated once (:func:`sim.warm_up`; bit-identical to simulating it for
    each arm), and take effect at the first reported month.
    """
    record = {"replication": task["replication"], "status": "ok", "error": None, "outputs": {}}
    try:
        base = task["scenario"]
        seed = sim.seed_sequence(task["seed"], SEED_KEY, task["replication"])
        warm = sim.warm_up(base, seed)
        for point, over in task["arms"].items():
            sc = base.with_overrides(over) if over else base
            res = sim.run(sc, sim.seed_sequence(task["seed"], SEED_KEY, task["replication"]), warmup=warm)
            record["outputs"][point] = _totals(res.kpis)
    except Exception as err:  # noqa: BLE001 - reported by measure()
        record.update(status="failed", error=f"{type(err).__name__}: {err}")
    return record


@dataclass(frozen=True)
class Elasticity:
    """An elasticity with its 95 % interval, its published range and the data behind it."""

    lever: Lever
    value: float
    low: float
    high: float
    replications: int
    d_outcome: np.ndarray  # per replication: ln Y(+h) - ln Y(-h)
    d_input: np.ndarray

    @property
    def in_range(self) -> bool | None:
        if self.lever.published is None:
            return None
        lo, hi = self.lever.published
        return lo <= self.value <= hi


def elasticity(lever: Lever, d_outcome: np.ndarray, d_input: np.ndarray) -> Elasticity:
    """The ratio-of-means elasticity and its delta-method 95 % interval."""
    n = d_outcome.size
    e = float(d_outcome.mean() / d_input.mean())
    if n > 1:
        resid = d_outcome - e * d_input
        se = float(np.sqrt(resid.var(ddof=1) / n) / abs(d_input.mean()))
        half = float(stats.t.ppf(0.975, n - 1)) * se
    else:
        half = float("nan")
    return Elasticity(lever, e, e - half, e + half, n, d_outcome, d_input)


def measure(
    scenario: sim.Scenario | None = None,
    levers: Sequence[str] = PUBLISHED,
    replications: int = 8,
    *,
    seed: int = 2026,
    workers: int | None = None,
) -> dict[str, Elasticity]:
    """Measure the elasticities of ``levers`` on ``scenario`` (the baseline when None).

    Args:
        scenario: the scenario whose lever effects are measured.
        levers: names from :data:`LEVERS`.
        replications: paired replications per lever (two runs each).
        seed: the experiment seed; replication ``r`` uses ``seed_sequence(seed, 303, r)`` in both arms.
        workers: local processes (``None``: one per core; 1: in this process).
    """
    scenario = scenario if scenario is not None else sim.Scenario()
    unknown = [name for name in levers if name not in LEVERS]
    if unknown:
        raise ValueError(f"unknown lever(s) {unknown}; known: {sorted(LEVERS)}")
    arms: dict[int, dict] = {}
    for i, name in enumerate(levers):
        lv = LEVERS[name]
        for j, h in enumerate((-lv.h, lv.h)):
            arms[2 * i + j] = lv.arm(scenario, h)
    tasks = [{"replication": r, "scenario": scenario, "arms": arms, "seed": seed} for r in range(replications)]
    results: dict[tuple[int, int], dict[str, float]] = {}
    with make_backend(workers=workers, in_process=workers == 1) as backend:
        for rec in backend.map_unordered(run_arm, tasks):
            if rec["status"] != "ok":
                raise RuntimeError(f"an elasticity run failed: {rec['error']}")
            for point, outputs in rec["outputs"].items():
                results[(point, rec["replication"])] = outputs
    out = {}
    for i, name in enumerate(levers):
        lv = LEVERS[name]
        lo = [results[(2 * i, r)] for r in range(replications)]
        hi = [results[(2 * i + 1, r)] for r in range(replications)]
        dy = np.array([np.log(b[lv.outcome] / a[lv.outcome]) for a, b in zip(lo, hi, strict=True)])
        if lv.input is None:
            dx = np.full(replications, np.log((1 + lv.h) / (1 - lv.h)))
        else:
            dx = np.array([np.log(b[lv.input] / a[lv.input]) for a, b in zip(lo, hi, strict=True)])
        out[name] = elasticity(lv, dy, dx)
    return out


__all__ = ["LEVERS", "PUBLISHED", "Elasticity", "Lever", "elasticity", "measure", "run_arm", "PARTNER_TYPES"]
