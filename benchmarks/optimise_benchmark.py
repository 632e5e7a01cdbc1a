"""Optimisation speed (issue 4, "Speed"): the LP at 5 tiers x 5 levers x 50 segments, and the whole optimisation.

Usage::

    .venv/bin/python benchmarks/optimise_benchmark.py                 # LP only (a few seconds)
    .venv/bin/python benchmarks/optimise_benchmark.py --full          # also `channelsim optimise baseline` (minutes)
    .venv/bin/python benchmarks/optimise_benchmark.py --full --out benchmarks/optimise_results.json

LP: 25 random concave curves of 50 segments each (the generator of ``tests/test_optimise_lp.py``,
seed 0), budget 30 % of the cells' total range, an ``mdf <= 40 %`` lever share and the tier order
per lever (1,250 segment variables).  After one untimed warm-up solve (imports), ``--lp-repeats``
times: ``build`` (data to PuLP problem), HiGHS solve of that problem, and the whole
``optimise.solve.solve`` (build, solve, the two marginal-ROI re-solves at B +- 1 %, read-back);
medians are reported.  Target: build + HiGHS solve < 0.2 s.

Full (``--full``): the budget is the current spend of the default cells (4 tiers x rebate, MDF,
training, discount), i.e. the mean over the 8 estimation replications of the baseline of the sum of
their ``spend_<lever>_<tier>`` per year, the same figure the optimiser reports as the current
allocation.  Then, in a fresh process, timed from start to exit::

    channelsim optimise baseline --budget B --out TMP --levels 0,0.5,1,1.5,2 --replications 8 --workers 2

(default cells, 1 round, validation of 4 policies on 8 fresh replications).  Target: < 300 s on
the 2 cores.  The run's ``rounds.csv``, ``validation.csv`` and ``summary.json`` are summarised in
the JSON output.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
DEFAULT_OUT = HERE / "optimise_results.json"


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def random_curves(rng, n_tiers: int, n_levers: int, n_seg: int):
    """The random concave instances the LP tests use (``optimise.instances``)."""
    from optimise.instances import random_concave_curves

    return random_concave_curves(rng, n_tiers, n_levers, n_seg)


def bench_lp(repeats: int) -> dict[str, Any]:
    import numpy as np
    import pulp

    from optimise.lp import AllocationProblem, build
    from optimise.solve import solve, solver

    curves = random_curves(np.random.default_rng(0), 5, 5, 50)
    p = AllocationProblem(curves, budget=0.3 * sum(c.hi for c in curves), lever_shares={"mdf": (None, 0.4)},
                          tier_order="lever")
    build(p).prob.solve(solver())  # warm-up: imports, HiGHS library load
    b_s, s_s, tot, full = [], [], [], []
    status = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        built = build(p)
        t1 = time.perf_counter()
        st = built.prob.solve(solver())
        t2 = time.perf_counter()
        status = st.status == pulp.LpSolveStatus.Optimal
        b_s.append(t1 - t0)
        s_s.append(t2 - t1)
        tot.append(t2 - t0)
        t3 = time.perf_counter()
        solve(p)
        full.append(time.perf_counter() - t3)
    n_vars = len(built.prob.variables())
    n_rows = len(built.prob.constraints())
    return {
        "size": "5 tiers x 5 levers x 50 segments", "variables": n_vars, "constraints": n_rows, "optimal": status,
        "repeats": repeats, "build_median": statistics.median(b_s), "highs_solve_median": statistics.median(s_s),
        "build_plus_solve_median": statistics.median(tot), "build_plus_solve_max": max(tot),
        "solve_function_median": statistics.median(full), "target_seconds": 0.2,
    }


def current_spend(replications: int, seed: int) -> float:
    """Mean over the estimation replications of the baseline of the default cells' spend per year."""
    import sim
    from experiments.io import load_scenario
    from optimise.response import ESTIMATION_KEY, parse_cells, spend_column
    from optimise.simulate import Task, simulate_many

    sc = load_scenario("baseline")
    cols = [spend_column(t, lv) for t, lv in parse_cells(None, sc)]
    outs = simulate_many([Task(sc, sim.seed_sequence(seed, ESTIMATION_KEY, 0, r)) for r in range(replications)],
                         workers=2)
    return statistics.fmean(sum(o.per_year(c) for c in cols) for o in outs)


def bench_full(budget: float | None, replications: int, workers: int, levels: str, seed: int) -> dict[str, Any]:
    import pandas as pd

    if budget is None:
        budget = current_spend(replications, seed)
    exe = str(Path(sys.executable).with_name("channelsim"))
    with tempfile.TemporaryDirectory(prefix="optimise-bench-") as tmpd:
        out = Path(tmpd) / "out"
        cmd = [exe, "optimise", "baseline", "--budget", f"{budget:.0f}", "--out", str(out), "--levels", levels,
               "--replications", str(replications), "--workers", str(workers), "--seed", str(seed)]
        load0 = load_average()
        c0 = os.times()
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - t0
        c1 = os.times()
        load1 = load_average()
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr}")
        rounds = pd.read_csv(out / "rounds.csv")
        val = pd.read_csv(out / "validation.csv")
        summ = json.loads((out / "summary.json").read_text())
    shown = ["channelsim" if c == exe else c for c in cmd]
    shown[shown.index(str(out))] = "TMP"
    return {
        "command": " ".join(shown), "budget": budget, "wall_seconds": wall,
        "cpu_seconds_children": (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system),
        "load_average_start": load0, "load_average_end": load1, "target_seconds": 300.0,
        "estimation_runs": int(rounds["estimation_runs"].sum()),
        "estimation_seconds": float(rounds["estimation_seconds"].sum()),
        "optimiser_seconds": summ.get("seconds"),
        "validation": val[["policy", "net_profit", "diff_vs_current", "diff_ci_low", "diff_ci_high",
                           "optimised_minus_policy", "omp_ci_low", "omp_ci_high"]].to_dict(orient="records"),
        "predicted_uplift": float(rounds["predicted_uplift"].iloc[0]),
        "realised_uplift_round0": float(rounds["realised_uplift"].iloc[0]),
        "total_spend": summ.get("total_spend"), "stderr_tail": proc.stderr.strip().splitlines()[-12:],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lp-repeats", type=int, default=20)
    ap.add_argument("--full", action="store_true", help="also time `channelsim optimise baseline`")
    ap.add_argument("--budget", type=float, default=None, help="default: the default cells' current spend")
    ap.add_argument("--replications", type=int, default=8)
    ap.add_argument("--levels", default="0,0.5,1,1.5,2")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)

    res: dict[str, Any] = {
        "what": "issue 4 optimisation speed",
        "command": "benchmarks/optimise_benchmark.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "started_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "load_average_start": load_average(),
    }
    res["lp"] = lp = bench_lp(args.lp_repeats)
    print(f"LP {lp['size']} ({lp['variables']} variables, {lp['constraints']} rows): build {lp['build_median']:.3f} s"
          f" + HiGHS {lp['highs_solve_median']:.3f} s = {lp['build_plus_solve_median']:.3f} s median "
          f"(max {lp['build_plus_solve_max']:.3f} s; target < 0.2 s); solve() with the marginal-ROI re-solves "
          f"{lp['solve_function_median']:.3f} s", flush=True)
    if args.full:
        res["full"] = full = bench_full(args.budget, args.replications, args.workers, args.levels, args.seed)
        print(f"whole optimisation: {full['wall_seconds']:.1f} s wall (target < 300 s), "
              f"{full['cpu_seconds_children']:.0f} s CPU in the child processes, {full['estimation_runs']} "
              f"estimation runs, budget {full['budget']:,.0f}; load {full['load_average_start']} -> "
              f"{full['load_average_end']}")
        for v in full["validation"]:
            print(f"  {v['policy']:<30} diff vs current {v['diff_vs_current']:>14,.0f} "
                  f"[{v['diff_ci_low']:,.0f}, {v['diff_ci_high']:,.0f}]; optimised minus it "
                  f"{v['optimised_minus_policy']:,.0f} [{v['omp_ci_low']:,.0f}, {v['omp_ci_high']:,.0f}]")
    res["finished_utc"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    res["load_average_end"] = load_average()
    args.out.write_text(json.dumps(res, indent=2, default=str) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
