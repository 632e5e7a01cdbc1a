"""Coverage of ``channelsim calibrate``'s intervals over several twin datasets (docs/CALIBRATION.md).

Usage::

    .venv/bin/python benchmarks/calibration_benchmark.py [--datasets D] [--scale S] [--months M]
        [--holdout H] [--population N] [--generations G] [--workers W] [--params a,b,...] [--json PATH]

For each dataset d the true parameters are drawn from the priors (uniform, ``SeedSequence(2026, d)``), a
history is simulated with them (seed ``1000 + d``, the deal log on, exported with ``export_run``) and
calibrated from the base scenario with :func:`experiments.calibration.calibrate` (seed d).  It reports,
per parameter, how often it was fitted and how often the fitted interval (nominal 90 %) contains the
truth; and, per dataset, the share of held-out quantities inside their 90 % prediction intervals.  At full
size (``--scale 1 --datasets 20`` with the default settings) it takes many hours on 2 cores; the figures
docs/CALIBRATION.md quotes come from the command it names.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sim  # noqa: E402
from experiments import calibration as C  # noqa: E402
from experiments import prm  # noqa: E402
from experiments.io import load_scenario  # noqa: E402


def base_scenario(scale: float, months: int, warmup: int) -> sim.Scenario:
    sc = load_scenario("baseline")
    if scale < 1:
        sc = sc.scaled(scale)
    return sc.with_overrides({"time.months": months, "time.warmup_months": warmup})


def one(d: int, base: sim.Scenario, params: tuple[C.Parameter, ...], settings: C.Settings, workers: int) -> dict:
    rng = np.random.default_rng(np.random.SeedSequence(2026, spawn_key=(d,)))
    truth = {p.name: float(rng.uniform(p.low, p.high)) for p in params}
    observed = prm.export_run(sim.run(base.with_overrides(C.overrides(params, truth)), 1000 + d,
                                      record_deals=True), start="2024-01")
    t0 = time.time()
    fit = C.calibrate(observed, base, C.Settings(**{**settings.__dict__, "seed": d}), parameters=params,
                      workers=workers)
    rows = []
    for r in fit.parameters.itertuples():
        fitted = r.status == "fitted"
        rows.append({"parameter": r.parameter, "truth": truth[r.parameter], "status": r.status,
                     "estimate": r.estimate if fitted else None, "lower": r.lower if fitted else None,
                     "upper": r.upper if fitted else None,
                     "covered": bool(r.lower <= truth[r.parameter] <= r.upper) if fitted else None,
                     "width_ratio": r.width_ratio})
    return {"dataset": d, "parameters": rows, "forecast_coverage": fit.info["coverage"],
            "simulations": fit.info["simulations"], "seconds": time.time() - t0,
            "final_epsilon": fit.info["final_epsilon"], "tolerance": fit.info["tolerance"]}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", type=int, default=20)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--months", type=int, default=36, help="reported months of each history (fit + holdout)")
    ap.add_argument("--warmup", type=int, default=60)
    ap.add_argument("--holdout", type=int, default=6)
    ap.add_argument("--population", type=int, default=C.Settings.population)
    ap.add_argument("--generations", type=int, default=C.Settings.generations)
    ap.add_argument("--pilot", type=int, default=C.Settings.pilot)
    ap.add_argument("--max-simulations", type=int, default=C.Settings.max_simulations)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--params", default=",".join(p.name for p in C.PARAMETERS))
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    names = a.params.split(",")
    params = tuple(p for p in C.PARAMETERS if p.name in names)
    base = base_scenario(a.scale, a.months, a.warmup)
    settings = C.Settings(holdout=a.holdout, population=a.population, generations=a.generations, pilot=a.pilot,
                          max_simulations=a.max_simulations)
    results = []
    for d in range(a.datasets):
        r = one(d, base, params, settings, a.workers)
        results.append(r)
        cov = ", ".join(f"{x['parameter']} {'in' if x['covered'] else 'OUT'}" for x in r["parameters"]
                        if x["covered"] is not None)
        print(f"dataset {d}: {r['simulations']} simulations, {r['seconds']:.0f} s; fitted: {cov or 'none'}; "
              f"holdout coverage {100 * r['forecast_coverage']:.0f} %", flush=True)
    summary = {}
    for p in params:
        rows = [x for r in results for x in r["parameters"] if x["parameter"] == p.name]
        fitted = [x for x in rows if x["covered"] is not None]
        summary[p.name] = {"datasets": len(rows), "fitted": len(fitted),
                           "covered": sum(x["covered"] for x in fitted),
                           "coverage": (sum(x["covered"] for x in fitted) / len(fitted)) if fitted else None,
                           "mean_width_ratio": float(np.mean([x["width_ratio"] for x in fitted])) if fitted else None}
    fc = [r["forecast_coverage"] for r in results]
    out = {"settings": {**vars(a), "json": str(a.json) if a.json else None}, "nominal": settings.interval,
           "parameters": summary, "forecast_coverage_mean": float(np.mean(fc)), "datasets": results,
           "seconds_per_dataset": float(np.mean([r["seconds"] for r in results]))}
    print("parameter             fitted  covered  coverage  width/prior")
    for k, v in summary.items():
        cov = "n/a" if v["coverage"] is None else f"{100 * v['coverage']:.0f} %"
        wr = "n/a" if v["mean_width_ratio"] is None else f"{v['mean_width_ratio']:.2f}"
        print(f"{k:<21} {v['fitted']:>3}/{v['datasets']:<3} {v['covered']:>6}  {cov:>8}  {wr:>10}")
    print(f"holdout forecast: mean coverage {100 * out['forecast_coverage_mean']:.0f} % of the held-out quantities "
          f"(nominal {100 * settings.interval:.0f} %)")
    if a.json:
        a.json.write_text(json.dumps(out, indent=2, default=float) + "\n")
    return out


if __name__ == "__main__":
    main()
