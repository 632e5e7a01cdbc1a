"""Probes behind the sweep figures in docs/PERFORMANCE.md ("Sweeps") that the sweep benchmark does not print.

Usage::

    .venv/bin/python benchmarks/sweep_probes.py worker-cpu [--runs 6]
    .venv/bin/python benchmarks/sweep_probes.py timeline [--backend local|dask] [--repeats 2]
    .venv/bin/python benchmarks/sweep_probes.py malloc-trim [--cycles 4]
    .venv/bin/python benchmarks/sweep_probes.py in-sweep [--repeats 3] [--backends local,dask,dask-single]
    .venv/bin/python benchmarks/sweep_probes.py main-import [--repeats 5]
    .venv/bin/python benchmarks/sweep_probes.py cli [--repeats 4]

``worker-cpu``: one baseline replication at a time in a ``Dask("local:1")`` worker, under four
worker configurations: as channelsim ships it; with Dask's statistical profiler back on; with
Dask's own event-loop tick, system monitor and memory monitor intervals; with Dask's own defaults
for all four.  For each run it
records the worker process's CPU time and the running thread's CPU time: their difference is the
CPU that the worker's other threads (its event loop and their periodic callbacks) took during the
run.  That share does not depend on how fast the host runs the VM at the moment, unlike a run's
wall time.  A ``LocalProcesses(1)`` worker is measured the same way for reference.

``timeline``: a 40-run sweep of the baseline (the benchmark's experiment) on one backend, in a
fresh process as ``channelsim sweep`` would run it, then a second one in the same process (its
fork server already running), with a progress hook recording when each result arrives.  Prints
when the workers started their first run, how many runs the parent ran meanwhile, how long
closing took, the cores kept busy with runs, and the CPU time the parent spent besides its own
runs (for Dask: the scheduler, client and nannies, which live in the parent; a run's ``seconds``
are wall time, so for the pool, whose parent runs share the cores with the fork server's
imports, this can come out a little below zero).

``in-sweep``: the benchmark's 40-run sweep through ``run_experiment``, as ``channelsim sweep``
runs it (overlapped start, every record stored), on ``LocalProcesses(2)``, on ``Dask("local:2")``
as shipped and, with ``--backends``, on ``dask-single`` (one run per Dask task); each sweep in a
fresh process, the backends in turn, ``--repeats`` times.  The runs are measured by wrapping the
runner's task function (two ``getrusage`` calls a run).  For each run in a worker: its wall time,
the running thread's CPU time, the share of the wall time the thread was not running (waiting
for a core or for the GIL), the share of the worker's CPU taken by its other threads, the
thread's involuntary context switches and minor page faults (``getrusage(RUSAGE_THREAD)``);
medians per sweep.  And the CPU time the parent spent during the sweep besides its own runs
(client, scheduler and nannies for Dask; storing and the pool's threads for both).  Shares of
one run do not depend on how fast the host runs at the moment.  ``--dask-config KEY=VALUE``
(repeatable) changes a setting of the Dask cluster for comparison.

``main-import``: what a worker of ``channelsim sweep`` pays to run the command's script again
after the fork: in fresh processes that have imported the fork server's preload (``sim``,
``experiments.runner``), the time of ``import channelsim.cli``; median of ``--repeats``.

``cli``: the benchmark's 40-run sweep through the ``channelsim sweep`` command, timed from
launch to exit (interpreter start, imports and the report of progress included), with
``--workers 2`` and ``--dask local:2`` in turn, ``--repeats`` times each.  The command's own
script is the main module, as for a user: each worker forked from the fork server runs its
top level again (Python 3.12 ignores ``__main__`` in the fork server's preload list).

``malloc-trim``: baseline replications in fresh processes with and without Dask's
``MALLOC_TRIM_THRESHOLD_=65536`` in the environment, alternating, 3 runs a process: the
median run of each and their ratio (why our LocalCluster starts its workers without it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

# Dask's own values for what the shipped LocalCluster changes (distributed.yaml).
DASK_DEFAULTS = {"distributed.worker.profile.enabled": True, "distributed.admin.tick.interval": "20ms",
                 "distributed.admin.system-monitor.interval": "500ms",
                 "distributed.worker.memory.monitor-interval": "100ms"}


def run_with_cpu(seed: int) -> tuple[float, float, float]:
    """One baseline replication: (process CPU s, this thread's CPU s, wall s)."""
    import sim
    from experiments.io import load_scenario

    scenario = load_scenario("baseline")
    p0, t0, w0 = time.process_time(), time.thread_time(), time.perf_counter()
    sim.run(scenario, seed)
    return time.process_time() - p0, time.thread_time() - t0, time.perf_counter() - w0


def _dask_with(overrides: dict, workers: int = 1, **options):
    """A ``Dask("local:N")`` whose LocalCluster is built with ``overrides`` on top of the shipped settings.

    ``options`` go to :class:`Dask` (``overlap_startup`` is off unless given).
    """
    from experiments.backends import Dask

    class Configured(Dask):
        def cluster_settings(self):
            return {**super().cluster_settings(), **overrides}

    return Configured(f"local:{workers}", **{"overlap_startup": False, **options})


def worker_cpu(runs: int) -> None:
    import logging

    import distributed  # noqa: F401 - its configuration must be loaded before it is overridden

    from experiments.backends import LocalProcesses

    logging.getLogger("distributed").setLevel(logging.ERROR)
    variants = [("Dask, as shipped", {}),
                ("Dask, profiler on", {"distributed.worker.profile.enabled": True}),
                ("Dask, Dask's tick+monitors", {k: v for k, v in DASK_DEFAULTS.items() if "profile" not in k}),
                ("Dask, Dask's defaults", DASK_DEFAULTS)]
    for label, overrides in variants:
        with _dask_with(overrides) as d:
            d._client.submit(run_with_cpu, 99, pure=False).result()  # noqa: SLF001 - a probe
            xs = [d._client.submit(run_with_cpu, i, pure=False).result() for i in range(runs)]  # noqa: SLF001
        _print_cpu(label, xs)
    with LocalProcesses(1, overlap_startup=False) as pool:
        pool._pool.submit(run_with_cpu, 99).result()  # noqa: SLF001
        xs = [pool._pool.submit(run_with_cpu, i).result() for i in range(runs)]  # noqa: SLF001
    _print_cpu("local pool worker", xs)


def _print_cpu(label: str, xs: list[tuple[float, float, float]]) -> None:
    other = statistics.median([(p - t) / p for p, t, _ in xs])
    print(f"{label:<24} run wall median {statistics.median([w for *_, w in xs]):.3f} s; other threads' share of "
          f"the worker's CPU during a run: {other:.2%}", flush=True)


def _arrivals_class():
    from experiments.runner import Progress

    class Arrivals(Progress):
        """Records (arrival time, the run's seconds, its worker) of every result."""

        def __init__(self) -> None:
            self.seen: list[tuple[float, float, str]] = []

        def update(self, record, done, failed):
            self.seen.append((time.perf_counter(), record["seconds"], record["worker"]))

    return Arrivals


def timeline(backend: str) -> None:
    import logging

    from sweep_benchmark import EXPERIMENT, make_backend

    import sim
    from experiments.design import load_experiment
    from experiments.io import load_scenario
    from experiments.runner import run_experiment

    _Arrivals = _arrivals_class()
    logging.getLogger("distributed").setLevel(logging.WARNING)
    sim.run(load_scenario("baseline").with_overrides({"market.n_accounts": 500, "time.warmup_months": 0,
                                                      "time.months": 1}), 0)
    # twice in this process: first with a cold fork server (as from the command line), then with the
    # fork server the first sweep left running (as for a second sweep from a notebook)
    for when in ("cold", "warm"):
        with tempfile.TemporaryDirectory(prefix="sweep-probe-") as tmp:
            exp_path = Path(tmp) / "e.yaml"
            exp_path.write_text(EXPERIMENT.format(points=10, replications=4))
            exp = load_experiment(exp_path)
            hook = _Arrivals()
            arrivals = hook.seen

            c0, t0 = time.process_time(), time.perf_counter()
            run_experiment(exp, Path(tmp) / "out", make_backend(backend, 2), progress=hook)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        here = f":{os.getpid()}"
        parent = [(t - s - t0, t - t0) for t, s, w in arrivals if w.endswith(here)]
        # A Dask batch's records arrive together, after all its runs (then each is stored, a few ms
        # apart): its first run started at the first arrival minus the seconds of all of them.  A
        # record of the same worker that arrives sooner after the previous one than its own run took
        # belongs to the same batch.
        starts, batch = [], []
        for t, s, w in [a for a in arrivals if not a[2].endswith(here)] + [(float("inf"), 0.0, "")]:
            if batch and (w != batch[-1][2] or t - batch[-1][0] >= s):
                starts.append(batch[0][0] - sum(x[1] for x in batch) - t0)
                batch = []
            batch.append((t, s, w))
        workers = sorted(starts)
        in_parent = sum(s for _, s, w in arrivals if w.endswith(here))
        print(f"{backend:<6}{when}: wall {wall:5.2f} s; the parent ran {len(parent)} runs (last ended at "
              f"{parent[-1][1] if parent else 0:.2f} s); first worker run started at {workers[0]:.2f} s; closing "
              f"took {wall - (arrivals[-1][0] - t0):.2f} s; cores busy with runs "
              f"{sum(s for _, s, _ in arrivals) / wall:.2f}; parent CPU besides its runs {cpu - in_parent:.2f} s",
              flush=True)


def malloc_trim(cycles: int) -> None:
    import json
    import subprocess

    code = (f"import json, sys, time; sys.path.insert(0, {str(HERE.parent)!r}); import sim; "
            "from experiments.io import load_scenario; s = load_scenario('baseline'); sim.run(s, 99); ts = []\n"
            "for i in range(3):\n t = time.perf_counter(); sim.run(s, i); ts.append(time.perf_counter() - t)\n"
            "print(json.dumps(ts))")
    times: dict[str, list[float]] = {"without": [], "with": []}
    for _ in range(cycles):
        for label in ("without", "with"):
            env = {k: v for k, v in os.environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}
            if label == "with":
                env["MALLOC_TRIM_THRESHOLD_"] = "65536"
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            times[label] += json.loads(out.stdout.strip().splitlines()[-1])
    a, b = statistics.median(times["without"]), statistics.median(times["with"])
    print(f"baseline run, median of {len(times['with'])}: {a:.3f} s without MALLOC_TRIM_THRESHOLD_, {b:.3f} s with "
          f"it (x{b / a:.2f})", flush=True)


def measured_task(task: dict) -> dict:
    """The runner's task function, with what its thread and process spent in ``record["probe"]``."""
    import resource

    from experiments import runner

    run = getattr(runner, "_unmeasured_run_task", runner.run_task)  # the original, in the parent too
    r0, w0, t0, p0 = (resource.getrusage(resource.RUSAGE_THREAD), time.perf_counter(), time.thread_time(),
                      time.process_time())
    record = run(task)
    r1 = resource.getrusage(resource.RUSAGE_THREAD)
    wall, cpu, proc = time.perf_counter() - w0, time.thread_time() - t0, time.process_time() - p0
    record["probe"] = {"wall": wall, "cpu": cpu, "waiting": (wall - cpu) / wall, "other_threads": (proc - cpu) / proc,
                       "ivcsw": r1.ru_nivcsw - r0.ru_nivcsw, "minflt": r1.ru_minflt - r0.ru_minflt}
    return record


def in_sweep(backend: str, dask_config: dict) -> None:
    import json
    import logging

    import distributed  # noqa: F401 - its configuration must be loaded before it is overridden
    from sweep_benchmark import EXPERIMENT

    # pickled by reference (a function of this script's __main__ would be pickled by value by Dask)
    from sweep_probes import measured_task as task_fn

    import sim
    from experiments import runner
    from experiments.backends import LocalProcesses
    from experiments.design import load_experiment
    from experiments.io import load_scenario

    logging.getLogger("distributed").setLevel(logging.ERROR)
    sim.run(load_scenario("baseline").with_overrides({"market.n_accounts": 500, "time.warmup_months": 0,
                                                      "time.months": 1}), 0)
    if backend == "local":
        be = LocalProcesses(2)
    else:  # as the command line runs it: overlapped start; batches unless dask-single
        be = _dask_with(dask_config, workers=2, overlap_startup=True,
                        **({"max_runs_per_task": 1} if backend == "dask-single" else {}))
    records: list[dict] = []

    class Keep(runner.Progress):
        def update(self, record, done, failed):
            records.append(record)

    runner._unmeasured_run_task, runner.run_task = runner.run_task, task_fn  # noqa: SLF001 - a probe
    with tempfile.TemporaryDirectory(prefix="sweep-probe-") as tmp:
        exp_path = Path(tmp) / "e.yaml"
        exp_path.write_text(EXPERIMENT.format(points=10, replications=4))
        c0, t0 = time.process_time(), time.perf_counter()
        runner.run_experiment(load_experiment(exp_path), Path(tmp) / "out", be, progress=Keep())
        wall, parent_cpu = time.perf_counter() - t0, time.process_time() - c0
    here = f":{os.getpid()}"
    in_workers = [r["probe"] for r in records if not r["worker"].endswith(here)]
    own = sum(r["probe"]["cpu"] for r in records if r["worker"].endswith(here))
    out = {k: statistics.median(r[k] for r in in_workers) for k in in_workers[0]}
    out.update(sweep=wall, parent_other_cpu=parent_cpu - own, worker_runs=len(in_workers))
    print(json.dumps(out), flush=True)


def in_sweep_repeats(repeats: int, dask_config: list[str], backends: list[str]) -> None:
    import json
    import subprocess

    extra = [a for kv in dask_config for a in ("--dask-config", kv)]
    for i in range(repeats):
        for backend in backends[i % len(backends):] + backends[:i % len(backends)]:  # the order rotates
            out = subprocess.run([sys.executable, __file__, "in-sweep", "--backend", backend, "--child", *extra],
                                 check=True, capture_output=True, text=True)
            m = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{backend:<11} sweep {m['sweep']:5.2f} s; {m['worker_runs']} runs in workers: run "
                  f"{m['wall']:.3f} s, its thread's CPU {m['cpu']:.3f} s, not running {m['waiting']:.1%}, other "
                  f"threads {m['other_threads']:.1%} of the worker's CPU, {m['ivcsw']:.0f} involuntary context "
                  f"switches and {m['minflt']:.0f} page faults a run; the parent's CPU besides its runs "
                  f"{m['parent_other_cpu']:.2f} s", flush=True)


def main_import(repeats: int) -> None:
    import subprocess

    code = ("import time, sim, experiments.runner; t = time.perf_counter(); import channelsim.cli; "
            "print(time.perf_counter() - t)")
    # the installed package (or the first checkout on PYTHONPATH, to measure another commit)
    times = [float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                                  cwd=tempfile.gettempdir()).stdout.split()[-1]) for _ in range(repeats)]
    print(f"import channelsim.cli after the fork server's preload: median {statistics.median(times):.3f} s "
          f"({', '.join(f'{t:.3f}' for t in times)})", flush=True)


def cli(repeats: int) -> None:
    import subprocess

    from sweep_benchmark import EXPERIMENT

    command = Path(sys.executable).parent / "channelsim"
    times: dict[str, list[float]] = {"--workers 2": [], "--dask local:2": []}
    with tempfile.TemporaryDirectory(prefix="sweep-probe-") as tmp:
        exp_path = Path(tmp) / "e.yaml"
        exp_path.write_text(EXPERIMENT.format(points=10, replications=4))
        for i in range(repeats):
            for backend in (list(times) if i % 2 == 0 else list(times)[::-1]):
                out = Path(tmp) / f"out-{i}-{backend.split()[0].strip('-')}"
                t0 = time.perf_counter()
                subprocess.run([str(command), "sweep", str(exp_path), "--out", str(out), "--quiet", *backend.split()],
                               check=True, capture_output=True, text=True)
                times[backend].append(time.perf_counter() - t0)
                print(f"channelsim sweep {backend}: {times[backend][-1]:.2f} s", flush=True)
    a, b = (statistics.median(v) for v in times.values())
    print(f"median of {repeats}: --workers 2 {a:.2f} s, --dask local:2 {b:.2f} s ({b / a - 1:+.1%})", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="probe", required=True)
    w = sub.add_parser("worker-cpu")
    w.add_argument("--runs", type=int, default=6)
    t = sub.add_parser("timeline")
    t.add_argument("--backend", choices=["local", "dask"], default="local")
    t.add_argument("--repeats", type=int, default=2)
    t.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    i = sub.add_parser("in-sweep")
    i.add_argument("--backend", choices=["local", "dask", "dask-single"], default="local")
    i.add_argument("--backends", default="local,dask", help="for the repeats: local, dask, dask-single")
    i.add_argument("--repeats", type=int, default=3)
    i.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    i.add_argument("--dask-config", action="append", default=[], metavar="KEY=VALUE",
                   help="a Dask setting on top of the shipped ones, e.g. distributed.worker.memory.monitor-interval=1s")
    mi = sub.add_parser("main-import")
    mi.add_argument("--repeats", type=int, default=5)
    c = sub.add_parser("cli")
    c.add_argument("--repeats", type=int, default=4)
    m = sub.add_parser("malloc-trim")
    m.add_argument("--cycles", type=int, default=4)
    args = ap.parse_args(argv)
    if args.probe == "worker-cpu":
        worker_cpu(args.runs)
    elif args.probe == "malloc-trim":
        malloc_trim(args.cycles)
    elif args.probe == "cli":
        cli(args.repeats)
    elif args.probe == "main-import":
        main_import(args.repeats)
    elif args.probe == "in-sweep":
        if args.child:
            import yaml

            in_sweep(args.backend, {k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in args.dask_config)})
        else:
            in_sweep_repeats(args.repeats, args.dask_config, [b.strip() for b in args.backends.split(",")])
    elif args.child:
        timeline(args.backend)
    else:
        import subprocess

        for _ in range(args.repeats):  # each sweep in a fresh process: a cold fork server, as from the command line
            subprocess.run([sys.executable, __file__, "timeline", "--backend", args.backend, "--child"], check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
