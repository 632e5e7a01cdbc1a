"""Sweep speed (issue 3, "Speed"): a 40-run sweep of the baseline on each backend, and the store's overhead.

Usage::

    .venv/bin/python benchmarks/sweep_benchmark.py [--repeats 3] [--workers 2] [--out benchmarks/sweep_results.json]

The sweep is an experiment file written to a temporary folder: base ``baseline`` (50,000
accounts, 500 partners, the full horizon), one factor ``incentives.mdf.scale`` at 10 evenly
spaced levels in [0.5, 1.5] (full factorial) x 4 replications = 40 runs, common random numbers,
every headline KPI kept.  For each repeat, in turn:

* ``in-process``: ``run_experiment(..., InProcess())``, the sequential reference;
* ``local``: ``LocalProcesses(workers)``, the default backend of ``channelsim sweep`` (fork server,
  ``sim`` preloaded);
* ``local-spawn`` (only with ``--backends ...,local-spawn``): the same pool with the ``spawn`` start
  method, each worker importing the package itself (the default before the fork server);
* ``dask``: ``Dask("local:N")``, a LocalCluster with N single-threaded worker processes;
* ``dask-single`` (only with ``--backends ...,dask-single``): the same with one run per Dask task
  (``max_runs_per_task=1``, the default before batches).

Every sweep runs in a fresh Python process (``--child``), as ``channelsim sweep`` would: the
child imports the package and makes one tiny untimed run (so the in-process reference is not
charged for imports), then times ``run_experiment`` from its call to its return.  Pool or
cluster start-up (a cold fork server or cold Dask workers) and tear-down are therefore included,
which is what a user waits for; interpreter start-up is not.  Each sweep writes to a fresh
output folder.  The order of the backends rotates between repeats so that drift in the
machine's load does not favour one of them.  The figures reported are medians over the repeats.

* parallel efficiency = T_in-process / (workers x T_local) (target >= 85 %);
* Dask vs local = T_dask / T_local - 1 (target <= 10 %);
* cores busy with runs = the sum of the runs' own ``seconds`` / the sweep's wall time: how many
  cores the backend keeps busy simulating (2.0 is perfect on 2 workers); unlike the efficiency it
  does not depend on how fast the host happens to run this VM at the time.  Its median over the
  repeats divided by the workers is the *backend utilisation*; the parallel efficiency is about
  that times (a run's seconds in-process / its seconds in the pool), the host's share;
* store overhead = time of ``RunStore.write`` (building the one-row Arrow table, Parquet
  serialisation, fsync, rename) of each run / that run's own ``seconds`` (target < 5 %), both
  measured inside the in-process sweeps (``RunStore.write`` is wrapped by a timer).

Before each sweep the script waits (``--wait-idle``, up to 120 s) until the machine is idle (less
than 8 % of both cores busy over 2 s), and it records how busy the whole machine was during each
sweep (from /proc/stat): about 50 % is the in-process sweep alone on 2 cores, about 100 % a
parallel one; more than that for the in-process sweep means another job shared the machine.

The stored results of every backend are compared with the in-process reference (all columns but
``seconds`` and ``worker``, exact equality); a difference is an error.  Load averages and the
machine are recorded with the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
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
DEFAULT_OUT = HERE / "sweep_results.json"
TARGETS = {"parallel_efficiency_min": 0.85, "dask_vs_local_max": 0.10, "store_overhead_max": 0.05}

EXPERIMENT = """\
name: sweep_benchmark
description: 40 runs of the baseline (10 MDF scales x 4 replications) for the sweep benchmark.
base: baseline
factors:
  incentives.mdf.scale: {{low: 0.5, high: 1.5}}
design: {{kind: full_factorial, n_levels: {points}}}
replications: {replications}
seed: 20261130
streams: common
"""


def cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all cores from /proc/stat."""
    vals = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return sum(vals) - idle, sum(vals)


def busy_share(a: tuple[int, int], b: tuple[int, int]) -> float:
    return (b[0] - a[0]) / max(b[1] - a[1], 1)


def wait_idle(max_seconds: float, threshold: float = 0.08, sample: float = 2.0) -> tuple[float, float]:
    """Wait (at most ``max_seconds``) until the machine's busy share over ``sample`` s is below ``threshold``.

    Returns (seconds waited, last busy share).
    """
    t0 = time.monotonic()
    while True:
        a = cpu_jiffies()
        time.sleep(sample)
        share = busy_share(a, cpu_jiffies())
        if share < threshold or time.monotonic() - t0 >= max_seconds:
            return time.monotonic() - t0, share


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        return []


def machine_info() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:  # pragma: no cover
        pass
    git = lambda *a: subprocess.run(["git", *a], capture_output=True, text=True, cwd=ROOT, timeout=10).stdout  # noqa: E731
    commit = git("rev-parse", "--short", "HEAD").strip() or None
    dirty = [ln[3:] for ln in git("status", "--porcelain").splitlines()]
    import dask
    import distributed
    import numpy
    import pandas

    return {
        "cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": numpy.__version__,
        "pandas": pandas.__version__, "dask": dask.__version__, "distributed": distributed.__version__,
        "git_commit": commit, "uncommitted_files": dirty,
    }


class WriteTimer:
    """Wraps ``RunStore.write`` to time each call (per run: write seconds and the run's own seconds)."""

    def __init__(self) -> None:
        from experiments.store import RunStore

        self.cls = RunStore
        self.orig = RunStore.write
        self.samples: list[tuple[float, float]] = []

    def __enter__(self) -> WriteTimer:
        orig, samples = self.orig, self.samples

        def write(store, record):
            t0 = time.perf_counter()
            out = orig(store, record)
            samples.append((time.perf_counter() - t0, float(record.get("seconds", float("nan")))))
            return out

        self.cls.write = write
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cls.write = self.orig


def make_backend(name: str, workers: int):
    from experiments.backends import Dask, InProcess, LocalProcesses

    if name == "in-process":
        return InProcess()
    if name == "local":
        return LocalProcesses(workers)
    if name == "local-spawn":  # the start method before forkserver became the default (for comparison)
        return LocalProcesses(workers, context="spawn")
    if name == "dask":
        return Dask(f"local:{workers}")
    if name == "dask-single":  # one run per Dask task (the default before batches, for comparison)
        return Dask(f"local:{workers}", max_runs_per_task=1)
    raise ValueError(name)


def stable(df):
    return df.drop(columns=["seconds", "worker"]).sort_values(["point", "replication"]).reset_index(drop=True)


def child(name: str, exp_path: Path, out: Path, workers: int) -> dict[str, Any]:
    """In a fresh process: warm up, then time one sweep on backend ``name``."""
    import logging

    logging.getLogger("distributed").setLevel(logging.WARNING)
    import sim
    from experiments.design import load_experiment
    from experiments.io import load_scenario
    from experiments.runner import run_experiment

    # lazy imports of pandas / pyarrow, paid once by any process before its first real run
    sim.run(load_scenario("baseline").with_overrides({"market.n_accounts": 500, "time.warmup_months": 0,
                                                      "time.months": 1}), 0)
    exp = load_experiment(exp_path)
    backend = make_backend(name, workers)
    with WriteTimer() as timer:
        t0 = time.perf_counter()
        summary = run_experiment(exp, out, backend)
        wall = time.perf_counter() - t0
    if not summary.complete or summary.failed:
        raise RuntimeError(f"{name}: sweep incomplete or failed runs: {summary}")
    return {"wall": wall, "writes": timer.samples, "backend": backend.describe()}


def run_once(exp_path: Path, name: str, workers: int, tmp: Path, tag: str) -> tuple[float, Any, list, str]:
    from experiments.store import load_results

    out = tmp / f"{name}-{tag}"
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", name, "--exp", str(exp_path),
                           "--dest", str(out), "--workers", str(workers)], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"{name} child failed:\n{proc.stderr[-4000:]}")
    ans = json.loads(proc.stdout.strip().splitlines()[-1])
    return ans["wall"], load_results(out), ans["writes"], ans["backend"]


def _ceiling_worker(conn: Any) -> None:
    """A warm process that runs ``k`` baseline replications on request and sends their times back."""
    import sim
    from experiments.io import load_scenario

    scenario = load_scenario("baseline")
    sim.run(scenario.with_overrides({"market.n_accounts": 500, "time.warmup_months": 0, "time.months": 1}), 0)
    conn.send("ready")
    while (k := conn.recv()) is not None:
        times = []
        for seed in range(k):
            t0 = time.perf_counter()
            sim.run(scenario, seed)
            times.append(time.perf_counter() - t0)
        conn.send(times)


def parallel_ceiling(cycles: int, per_block: int = 2) -> dict[str, Any]:
    """What the host itself allows: a run's time alone against its time while another process runs one too.

    Two warm processes; each cycle, one of them runs ``per_block`` baseline replications alone,
    then both run ``per_block`` at once.  Blocks a second or two apart see the host at about the
    same speed, so the ratio of the medians is free of the drift that separates whole sweeps.
    A pool of 2 workers cannot be more efficient than this ratio, whatever it does.
    """
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    conns, procs = [], []
    for _ in range(2):
        here, there = ctx.Pipe()
        proc = ctx.Process(target=_ceiling_worker, args=(there,), daemon=True)
        proc.start()
        conns.append(here)
        procs.append(proc)
    try:
        for c in conns:
            c.recv()
        alone: list[float] = []
        pair: list[float] = []
        for cycle in range(cycles):
            solo = conns[cycle % 2]
            solo.send(per_block)
            alone += solo.recv()
            for c in conns:
                c.send(per_block)
            for c in conns:
                pair += c.recv()
    finally:
        for c in conns:
            c.send(None)
        for proc in procs:
            proc.join(10)
    a, b = statistics.median(alone), statistics.median(pair)
    return {"cycles": cycles, "run_alone_median": a, "run_two_at_once_median": b, "ceiling": a / b,
            "alone": alone, "two_at_once": pair}


def _one_baseline_run(seed: int) -> float:
    import sim
    from experiments.io import load_scenario

    t0 = time.perf_counter()
    sim.run(load_scenario("baseline"), seed)
    return time.perf_counter() - t0


def dask_run_ratio(cycles: int) -> dict[str, Any]:
    """A run's time in a Dask ``local:1`` worker / in a ``LocalProcesses(1)`` worker, both at once.

    Both backends are up side by side (as ``channelsim sweep`` configures them) and each cycle
    starts the same baseline replication in both at the same moment, then waits for both.  The
    two runs of a pair see the host at the same speed, and each shares the two cores as in a
    sweep: with another busy process, and (the Dask run) with the scheduler, client and nanny in
    this process and the worker's own event loop.  The sessions saved in ``sweep_sessions/``
    ran a pair's runs one after the other, each with the other core idle, which left that
    contention out (docs/PERFORMANCE.md).
    """
    from concurrent.futures import ThreadPoolExecutor

    from experiments.backends import Dask, LocalProcesses

    with LocalProcesses(1, overlap_startup=False) as pool, Dask("local:1", overlap_startup=False) as dask, \
            ThreadPoolExecutor(2) as waiters:
        def in_pool(seed: int) -> float:
            return pool._pool.submit(_one_baseline_run, seed).result()  # noqa: SLF001 - a probe, not the runner

        def in_dask(seed: int) -> float:
            return dask._client.submit(_one_baseline_run, seed, pure=False).result()  # noqa: SLF001

        in_pool(99), in_dask(99)
        pairs = []
        for seed in range(cycles):
            p, d = waiters.submit(in_pool, seed), waiters.submit(in_dask, seed)
            pairs.append((p.result(), d.result()))
    ratios = [d / p for p, d in pairs]
    return {"cycles": cycles, "pool_median": statistics.median(p for p, _ in pairs),
            "dask_median": statistics.median(d for _, d in pairs), "ratio_median": statistics.median(ratios),
            "ratios": ratios, "design": "at once"}


def pool_sessions(paths: list[Path], resamples: int = 20000, seed: int = 0, backend: str = "dask") -> dict[str, Any]:
    """Dask / pool wall-time ratios of every repeat of several saved sessions, pooled.

    Each repeat is a pool sweep and a ``backend`` sweep (``dask`` or ``dask-single``) a few
    seconds apart; the median of their ratios minus one, its mean, and a 95 % bootstrap
    interval of the median (``resamples`` resamples of the repeats, from a seeded generator).
    Sessions without that backend are skipped.
    """
    import numpy as np

    key = f"{backend.replace('-', '_')}_vs_local_per_repeat"
    sessions = [json.loads(p.read_text()) for p in paths]
    used = [s[key] for s in sessions if key in s]
    ratios = np.array([r for per_repeat in used for r in per_repeat])
    if ratios.size == 0:
        raise SystemExit(f"no {backend} / pool repeats in {', '.join(map(str, paths))}")
    rng = np.random.default_rng(seed)
    medians = np.median(rng.choice(ratios, size=(resamples, ratios.size)), axis=1)
    low, high = np.quantile(medians, [0.025, 0.975])
    return {"sessions": len(used), "repeats": int(ratios.size), "median": float(np.median(ratios)),
            "mean": float(ratios.mean()), "ci95_median": (float(low), float(high))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="sweeps per backend (median reported)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--points", type=int, default=10)
    ap.add_argument("--replications", type=int, default=4)
    ap.add_argument("--backends", default="in-process,local,dask")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--wait-idle", type=float, default=120.0,
                    help="before each sweep, wait up to this many seconds for the machine to be idle (0: no wait)")
    ap.add_argument("--ceiling-cycles", type=int, default=16,
                    help="cycles of the machine's parallel-ceiling probe before and after the sweeps (0: skip)")
    ap.add_argument("--pool", type=Path, nargs="+", metavar="RESULTS_JSON",
                    help="run nothing: pool the Dask / pool ratios of every repeat in these saved results")
    ap.add_argument("--pool-backend", choices=["dask", "dask-single"], default="dask",
                    help="with --pool: which Dask sweeps to compare with the pool")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--exp", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--dest", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.pool:
        p = pool_sessions(args.pool, backend=args.pool_backend)
        lo, hi = p["ci95_median"]
        print(f"{args.pool_backend} vs local pool over {p['repeats']} repeats of {p['sessions']} sessions: median "
              f"{p['median']:+.1%}, mean {p['mean']:+.1%}, 95 % bootstrap interval of the median "
              f"{lo:+.1%} .. {hi:+.1%}")
        return 0
    if args.child:
        print(json.dumps(child(args.child, args.exp, args.dest, args.workers)))
        return 0

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    load_start = load_average()
    info = machine_info()
    described: dict[str, str] = {}
    walls: dict[str, list[float]] = {b: [] for b in backends}
    loads: dict[str, list[list[float]]] = {b: [] for b in backends}
    busy: dict[str, list[float]] = {b: [] for b in backends}
    busy_before: dict[str, list[float]] = {b: [] for b in backends}
    writes: list[tuple[float, float]] = []
    run_seconds: dict[str, list[float]] = {b: [] for b in backends}
    busy_cores: dict[str, list[float]] = {b: [] for b in backends}
    reference = None
    mismatches: list[str] = []
    ceilings = []
    if args.ceiling_cycles > 0:
        ceilings.append(parallel_ceiling(args.ceiling_cycles))
        print(f"machine's parallel ceiling (before): {ceilings[-1]['ceiling']:.1%}", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmpd:
        tmp = Path(tmpd)
        exp_path = tmp / "sweep_benchmark.yaml"
        exp_path.write_text(EXPERIMENT.format(points=args.points, replications=args.replications))
        n_runs = args.points * args.replications
        for rep in range(args.repeats):
            order = backends[rep % len(backends):] + backends[:rep % len(backends)]
            for name in order:
                if args.wait_idle > 0:
                    _, share = wait_idle(args.wait_idle)
                    busy_before[name].append(round(share, 3))
                loads[name].append(load_average())
                j0 = cpu_jiffies()
                wall, df, samples, described[name] = run_once(exp_path, name, args.workers, tmp, str(rep))
                busy[name].append(round(busy_share(j0, cpu_jiffies()), 3))
                walls[name].append(wall)
                run_seconds[name] += [float(s) for s in df["seconds"]]
                busy_cores[name].append(float(df["seconds"].sum()) / wall)
                if name == "in-process":
                    writes += samples
                got = stable(df)
                if reference is None:
                    reference = got
                elif not got.equals(reference):
                    mismatches.append(f"{name} repeat {rep}")
                print(f"repeat {rep} {name:<10} {wall:7.2f} s  (load {loads[name][-1]}, machine busy "
                      f"{busy[name][-1]:.0%} during the sweep)", file=sys.stderr,
                      flush=True)
    if args.ceiling_cycles > 0:
        ceilings.append(parallel_ceiling(args.ceiling_cycles))
        print(f"machine's parallel ceiling (after): {ceilings[-1]['ceiling']:.1%}", file=sys.stderr, flush=True)
    paired = None
    if args.ceiling_cycles > 0 and "dask" in backends and "local" in backends:
        paired = dask_run_ratio(2 * args.ceiling_cycles)
        print(f"a run in a Dask worker / in a pool worker: {paired['ratio_median']:.3f}", file=sys.stderr, flush=True)
    load_end = load_average()

    med = {b: statistics.median(v) for b, v in walls.items()}
    res: dict[str, Any] = {
        "what": "issue 3 sweep speed: a 40-run sweep of the baseline on each backend",
        "command": "benchmarks/sweep_benchmark.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "experiment": EXPERIMENT.format(points=args.points, replications=args.replications),
        "runs": n_runs, "workers": args.workers, "repeats": args.repeats,
        "started_utc": started, "finished_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_average_start": load_start, "load_average_end": load_end, "machine": info,
        "backends": described, "wall_seconds": walls, "wall_median": med, "load_average_before_each": loads,
        "machine_busy_share_before_each": busy_before, "machine_busy_share_during_each": busy,
        "run_seconds_median": {b: statistics.median(v) for b, v in run_seconds.items() if v},
        "cores_busy_with_runs": busy_cores,
        "identical_results": not mismatches, "mismatches": mismatches, "targets": TARGETS,
    }
    # efficiency = (cores busy with runs / workers) x (a run's time alone / its time in the pool): the first
    # factor is what the backend wastes (start-up, hand-over, tail), the second what the host takes when both
    # vCPUs are busy (and its drift between sweeps)
    res["backend_utilisation"] = {b: statistics.median(v) / (1 if b == "in-process" else args.workers)
                                  for b, v in busy_cores.items()}
    if ceilings:
        res["parallel_ceiling"] = ceilings
        res["parallel_ceiling_all"] = (statistics.median([x for c in ceilings for x in c["alone"]])
                                       / statistics.median([x for c in ceilings for x in c["two_at_once"]]))
    if paired is not None:
        res["dask_run_vs_pool_run"] = paired
    if "in-process" in med and "local" in med:
        res["parallel_efficiency"] = med["in-process"] / (args.workers * med["local"])
        # the same ratio within each repeat (sweeps run minutes apart see the host at different speeds)
        res["parallel_efficiency_per_repeat"] = [a / (args.workers * b) for a, b in
                                                 zip(walls["in-process"], walls["local"], strict=True)]
        res["speedup_local"] = med["in-process"] / med["local"]
    # Free of the host's drift between sweeps: each factor is measured within a sweep or in interleaved blocks.
    util = res["backend_utilisation"]
    if "parallel_ceiling_all" in res and "local" in util and "in-process" in util:
        res["parallel_efficiency_drift_free"] = util["local"] / util["in-process"] * res["parallel_ceiling_all"]
    if "dask" in med and "local" in med:
        res["dask_vs_local"] = med["dask"] / med["local"] - 1.0
        res["dask_vs_local_per_repeat"] = [a / b - 1.0 for a, b in zip(walls["dask"], walls["local"], strict=True)]
        if "in-process" in med:
            res["parallel_efficiency_dask"] = med["in-process"] / (args.workers * med["dask"])
    if "dask-single" in med and "local" in med:
        res["dask_single_vs_local"] = med["dask-single"] / med["local"] - 1.0
        res["dask_single_vs_local_per_repeat"] = [a / b - 1.0 for a, b in zip(walls["dask-single"], walls["local"],
                                                                              strict=True)]
    if writes:
        ws = [w for w, _ in writes]
        ratios = [w / s for w, s in writes if s > 0]
        res["store_write_seconds_median"] = statistics.median(ws)
        res["store_write_seconds_max"] = max(ws)
        res["store_overhead_median"] = statistics.median(ratios)
        res["store_overhead_total"] = sum(ws) / sum(s for _, s in writes)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(format_table(res))
    print(f"wrote {args.out}")
    return 1 if mismatches else 0


def format_table(res: dict[str, Any]) -> str:
    lines = [
        f"{res['runs']}-run sweep of the baseline, {res['workers']} workers, median of {res['repeats']} "
        f"(load average {res['load_average_start']} -> {res['load_average_end']})",
        "",
        "| backend | wall median s | all repeats s | run median s | cores busy with runs | machine busy |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for b, v in res["wall_seconds"].items():
        lines.append(f"| {b} | {res['wall_median'][b]:.2f} | {', '.join(f'{x:.2f}' for x in v)} | "
                     f"{res['run_seconds_median'].get(b, float('nan')):.3f} | "
                     f"{', '.join(f'{x:.2f}' for x in res['cores_busy_with_runs'][b])} | "
                     f"{', '.join(f'{x:.0%}' for x in res['machine_busy_share_during_each'][b])} |")
    lines.append("")
    lines.append("backend utilisation (median cores busy with runs / workers): " + ", ".join(
        f"{b} {u:.1%}" for b, u in res["backend_utilisation"].items()))
    if "parallel_ceiling_all" in res:
        lines.append(f"machine's parallel ceiling (a run alone / a run with another process running) = "
                     f"{res['parallel_ceiling_all']:.1%} ("
                     + ", ".join(f"{c['ceiling']:.1%}" for c in res["parallel_ceiling"]) + " before / after)")
    if "dask_run_vs_pool_run" in res:
        ratio = res["dask_run_vs_pool_run"]["ratio_median"]
        lines.append(f"a run in a Dask worker / in a pool worker (paired, both at once) = {ratio:.3f}")
    if "parallel_efficiency_drift_free" in res:
        pe = res["parallel_efficiency_drift_free"]
        lines.append(f"parallel efficiency, drift-free (utilisation local / in-process x ceiling) = {pe:.1%} "
                     f"(target >= 85 %: {'met' if pe >= 0.85 else 'MISSED'})")
    if "parallel_efficiency" in res:
        pe = res["parallel_efficiency"]
        lines.append(f"parallel efficiency (local) = {pe:.1%} (target >= 85 %: {'met' if pe >= 0.85 else 'MISSED'}); "
                     f"per repeat {', '.join(f'{x:.1%}' for x in res['parallel_efficiency_per_repeat'])}")
    if "dask_vs_local" in res:
        dv = res["dask_vs_local"]
        lines.append(f"Dask LocalCluster vs local pool = {dv:+.1%} (target <= +10 %: "
                     f"{'met' if dv <= 0.10 else 'MISSED'}); per repeat "
                     f"{', '.join(f'{x:+.1%}' for x in res['dask_vs_local_per_repeat'])}")
    if "dask_single_vs_local" in res:
        lines.append(f"Dask, one run per task, vs local pool = {res['dask_single_vs_local']:+.1%}; per repeat "
                     f"{', '.join(f'{x:+.1%}' for x in res['dask_single_vs_local_per_repeat'])}")
    if "store_overhead_median" in res:
        so = res["store_overhead_median"]
        lines.append(f"store write per run = {res['store_write_seconds_median'] * 1000:.1f} ms median "
                     f"(max {res['store_write_seconds_max'] * 1000:.1f} ms), {so:.2%} of a run "
                     f"(target < 5 %: {'met' if so < 0.05 else 'MISSED'})")
    lines.append(f"results identical across backends: {res['identical_results']}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
