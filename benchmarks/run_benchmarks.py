"""Speed and memory of channelsim against an agent-per-account Mesa reference.

Usage::

    make bench                                   # same as the next line
    .venv/bin/python benchmarks/run_benchmarks.py [--out benchmarks/results.json] [--cpu 0]
    .venv/bin/python benchmarks/run_benchmarks.py --profile large   # cProfile of one large replication

Every measurement runs in a fresh child process (``python run_benchmarks.py --child SPEC``)
pinned to one core (``os.sched_setaffinity``) with ``OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=1``
(and the MKL / numexpr equivalents), so that the targets of issue 2 ("on one core") are what
is measured and one workload's memory does not inflate the next one's:

* a *timing* child per workload runs one small untimed warm-up (lazy imports), then
  ``reps`` replications, each timed with ``time.perf_counter``: model set-up, the
  48 monthly steps and the result frames, i.e. all of ``sim.run(scenario, seed)``;
* a *memory* child per workload runs exactly one replication and reports
  ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (peak resident set of the whole
  process, interpreter and imports included), and the same figure just before the run.

Throughput is account-months per second: ``n_accounts * (warmup_months + months) / seconds``; the
reference runs the same number of monthly steps as the scenario.
The table goes to stdout and everything (with CPU model, versions, date, load average) to
``benchmarks/results.json``.  Nothing here asserts a target: the figures are reported as
measured and ``docs/PERFORMANCE.md`` compares them with the targets.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_OUT = HERE / "results.json"

# scenarios/large.yaml: "extends: baseline" plus these fields.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
TARGETS = {  # issue 2, "Speed and memory": one core of this machine
    "baseline": {"seconds": 0.5},
    "large": {"seconds": 10.0, "peak_mib": 2048.0},
}


# ------------------------------------------------------------------ workloads (run in the child)
def build_scenario(name: str, overrides: dict[str, Any] | None = None):
    """The named scenario (``scenarios/<name>.yaml``: ``baseline`` or ``large``) plus ``overrides``.

    Returns (scenario, source).
    """
    from experiments.io import load_scenario

    if name not in ("baseline", "large"):
        raise ValueError(f"unknown scenario {name!r}: expected 'baseline' or 'large'")
    scenario = load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    source = f"experiments.io.load_scenario('scenarios/{name}.yaml')"
    if overrides:
        scenario = scenario.with_overrides(overrides)
    return scenario, source


def pin_to_one_core(cpu: int | None) -> list[int] | None:
    """Restrict this process to ``cpu`` (when the platform allows); return the affinity in force."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    if cpu is not None:
        try:
            os.sched_setaffinity(0, {cpu})
        except OSError:  # cpu not available to us: leave the affinity as it is
            pass
    return sorted(os.sched_getaffinity(0))


def idlest_cpu(sample_s: float = 1.0) -> int | None:
    """The allowed core with the least busy time over ``sample_s`` seconds (from /proc/stat), or None."""

    def busy() -> dict[int, tuple[int, int]]:
        out = {}
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("cpu") and line[3:4].isdigit():
                name, *vals = line.split()
                v = [int(x) for x in vals]
                idle = v[3] + (v[4] if len(v) > 4 else 0)
                out[int(name[3:])] = (sum(v) - idle, sum(v))
        return out

    try:
        allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
        a = busy()
        time.sleep(sample_s)
        b = busy()
    except OSError:
        return None
    load = {c: (b[c][0] - a[c][0]) / max(b[c][1] - a[c][1], 1) for c in b if c in a and (not allowed or c in allowed)}
    return min(load, key=load.get) if load else None


def _peak_mib() -> float:
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kib / 1024.0


def child_sim(spec: dict[str, Any]) -> dict[str, Any]:
    """Time or measure ``spec['reps']`` replications of a channelsim scenario (in this process)."""
    import sim

    scenario, source = build_scenario(spec["scenario"], spec.get("overrides"))
    steps = scenario.time.warmup_months + scenario.time.months
    n_accounts = scenario.market.n_accounts
    out: dict[str, Any] = {
        "scenario_source": source,
        "n_accounts": n_accounts,
        "steps": steps,
        "n_partners_initial": scenario.partners.n_initial,
    }
    if spec["mode"] == "time":
        tiny = sim.Scenario().with_overrides({"market.n_accounts": 500, "time.warmup_months": 0, "time.months": 1})
        sim.run(tiny, 0)  # untimed: pays for lazy imports (pandas, pyarrow) once
    out["rss_before_mib"] = _peak_mib()
    seconds, cpu_seconds = [], []
    for i in range(spec["reps"]):
        c0, t0 = time.process_time(), time.perf_counter()
        result = sim.run(scenario, spec.get("seed", 0) + i)
        seconds.append(time.perf_counter() - t0)
        cpu_seconds.append(time.process_time() - c0)
        out["kpi_rows"] = len(result.kpis)
        del result
    out["seconds"] = seconds
    out["cpu_seconds"] = cpu_seconds
    out["peak_mib"] = _peak_mib()
    return out


def child_reference(spec: dict[str, Any]) -> dict[str, Any]:
    """Time or measure ``spec['reps']`` runs of the agent-per-account reference (in this process)."""
    sys.path.insert(0, str(HERE))
    import reference_agents

    n, steps = spec["n_accounts"], spec.get("steps", 48)
    out: dict[str, Any] = {"n_accounts": n, "steps": steps, "rss_before_mib": _peak_mib()}
    seconds, cpu_seconds, build = [], [], []
    for i in range(spec["reps"]):
        c0, t0 = time.process_time(), time.perf_counter()
        model = reference_agents.ReferenceModel(n, rng=spec.get("seed", 0) + i)
        t1 = time.perf_counter()
        for _ in range(steps):
            model.step()
        seconds.append(time.perf_counter() - t0)
        cpu_seconds.append(time.process_time() - c0)
        build.append(t1 - t0)
        out["adopted_share"] = model.adopted / n
        del model
    out["seconds"] = seconds
    out["cpu_seconds"] = cpu_seconds
    out["build_seconds"] = build
    out["peak_mib"] = _peak_mib()
    return out


def child_main(spec: dict[str, Any]) -> dict[str, Any]:
    affinity = pin_to_one_core(spec.get("cpu"))
    if spec["kind"] == "sim":
        out = child_sim(spec)
    elif spec["kind"] == "reference":
        out = child_reference(spec)
    else:
        raise ValueError(f"unknown workload kind {spec['kind']!r}")
    out["affinity"] = affinity
    return out


# ------------------------------------------------------------------ parent side
def child_env() -> dict[str, str]:
    env = dict(os.environ)
    for var in THREAD_VARS:
        env[var] = "1"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def run_child(spec: dict[str, Any], timeout: float = 1800) -> dict[str, Any]:
    """Run one workload in a fresh interpreter and return its JSON answer."""
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=ROOT,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed ({spec}):\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(spec: dict[str, Any], reps: int, cpu: int | None = 0) -> dict[str, Any]:
    """Timing child (``reps`` replications) plus memory child (one replication) for one workload."""
    timing = run_child({**spec, "mode": "time", "reps": reps, "cpu": cpu})
    memory = run_child({**spec, "mode": "memory", "reps": 1, "cpu": cpu})
    secs = timing["seconds"]
    account_months = timing["n_accounts"] * timing["steps"]
    row = {
        "n_accounts": timing["n_accounts"],
        "steps": timing["steps"],
        "reps": len(secs),
        "seconds": secs,
        "seconds_min": min(secs),
        "seconds_median": statistics.median(secs),
        "cpu_seconds": timing["cpu_seconds"],
        "cpu_seconds_median": statistics.median(timing["cpu_seconds"]),
        "account_months_per_s_best": account_months / min(secs),
        "account_months_per_s_median": account_months / statistics.median(secs),
        "peak_mib": memory["peak_mib"],
        "rss_before_run_mib": memory["rss_before_mib"],
        "affinity": timing["affinity"],
    }
    for key in ("scenario_source", "n_partners_initial", "adopted_share"):
        if key in timing:
            row[key] = timing[key]
    if "build_seconds" in timing:
        row["build_seconds_median"] = statistics.median(timing["build_seconds"])
    return row


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine_info() -> dict[str, Any]:
    import mesa
    import numpy
    import pandas

    cpu_model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:  # read-only git queries: the commit, and whether sim/ differs from it
        git = lambda *a: subprocess.run(["git", *a], capture_output=True, text=True, cwd=ROOT, timeout=10).stdout
        commit = git("rev-parse", "--short", "HEAD").strip() or None
        sim_modified = bool(git("status", "--porcelain", "--", "sim").strip()) if commit else None
    except (OSError, subprocess.SubprocessError):
        commit, sim_modified = None, None
    return {
        "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu_model": cpu_model,
        "logical_cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "mesa": mesa.__version__,
        "git_commit": commit,
        "sim_modified_since_commit": sim_modified,
        "load_average_start": load_average(),
    }


def run_all(
    *,
    baseline_reps: int = 7,
    large_reps: int = 3,
    reference_reps: int = 3,
    reference_accounts: int = 50_000,
    cpu: int | None = 0,
    overrides: dict[str, Any] | None = None,
    large: bool = True,
) -> dict[str, Any]:
    """Measure baseline, large and the reference; return the results document.

    ``overrides`` (applied to both scenarios) and ``reference_accounts`` exist for the smoke test.
    """
    results: dict[str, Any] = {"machine": machine_info(), "targets": TARGETS, "pinned_cpu": cpu, "workloads": {}}
    w = results["workloads"]
    w["baseline"] = measure({"kind": "sim", "scenario": "baseline", "overrides": overrides}, baseline_reps, cpu)
    if large:
        w["large"] = measure({"kind": "sim", "scenario": "large", "overrides": overrides}, large_reps, cpu)
    # The reference runs as many monthly steps as the scenario (warm-up included).
    steps = w["baseline"]["steps"]
    ref = measure({"kind": "reference", "n_accounts": reference_accounts, "steps": steps}, reference_reps, cpu)
    w["reference_agents"] = ref
    # Linear extrapolation of the reference to the large scenario's size: labelled as such.
    if large:
        n_large = w["large"]["n_accounts"]
        scale = n_large / ref["n_accounts"]
        w["reference_agents_extrapolated_to_large"] = {
            "extrapolated": True,
            "method": f"linear in accounts from the {ref['n_accounts']:,}-agent measurement",
            "n_accounts": n_large,
            "seconds_median": ref["seconds_median"] * scale,
            "peak_mib_above_imports": (ref["peak_mib"] - ref["rss_before_run_mib"]) * scale,
        }
    # Throughput ratios: account-months per second of channelsim over the reference's, from median wall
    # times and (less sensitive to other processes on a shared machine) from median CPU times.
    ratios, cpu_ratios = {}, {}
    for name in ("baseline", "large"):
        if name in w:
            ratios[name] = w[name]["account_months_per_s_median"] / ref["account_months_per_s_median"]
            cpu_ratios[name] = (w[name]["n_accounts"] * w[name]["steps"] / w[name]["cpu_seconds_median"]) / (
                ref["n_accounts"] * ref["steps"] / ref["cpu_seconds_median"]
            )
    results["throughput_ratio_vs_reference_median"] = ratios
    results["throughput_ratio_vs_reference_cpu_median"] = cpu_ratios
    results["machine"]["load_average_end"] = load_average()
    return results


def format_table(results: dict[str, Any]) -> str:
    head = (
        f"{'workload':<18}{'accounts':>11}{'reps':>6}{'min s':>9}{'median s':>10}{'cpu s med':>10}"
        f"{'acct-months/s':>16}{'peak MiB':>10}"
    )
    lines = [head, "-" * len(head)]
    for name, r in results["workloads"].items():
        if r.get("extrapolated"):
            lines.append(
                f"{'reference (extr.)':<18}{r['n_accounts']:>11,}{'-':>6}{'-':>9}{r['seconds_median']:>10.1f}"
                f"{'-':>10}{'-':>16}{'-':>10}  linear extrapolation, not measured"
            )
            continue
        lines.append(
            f"{name:<18}{r['n_accounts']:>11,}{r['reps']:>6}{r['seconds_min']:>9.3f}{r['seconds_median']:>10.3f}"
            f"{r['cpu_seconds_median']:>10.3f}"
            f"{r['account_months_per_s_median']:>16,.0f}{r['peak_mib']:>10.0f}"
        )
    lines.append("")
    cpu_ratios = results.get("throughput_ratio_vs_reference_cpu_median", {})
    for name, ratio in results["throughput_ratio_vs_reference_median"].items():
        extra = f", {cpu_ratios[name]:.1f}x on CPU time" if name in cpu_ratios else ""
        lines.append(f"throughput {name} / agent-per-account reference (medians): {ratio:.1f}x on wall time{extra}")
    m = results["machine"]
    lines.append(
        f"{m['cpu_model']}, Python {m['python']}, numpy {m['numpy']}, mesa {m['mesa']}; "
        f"load average {m['load_average_start']} -> {m['load_average_end']}; {m['date_utc']}"
    )
    return "\n".join(lines)


# ------------------------------------------------------------------ profile
def profile(name: str, top: int = 25, cpu: int | None = 0) -> str:
    """cProfile one replication of ``name`` in a pinned child; return the top functions by cumulative time."""
    code = (
        f"import cProfile, io, pstats, sys; sys.path.insert(0, {str(HERE)!r})\n"
        "import run_benchmarks as rb; import sim\n"
        f"rb.pin_to_one_core({cpu!r}); sc, _ = rb.build_scenario({name!r})\n"
        "pr = cProfile.Profile(); pr.enable(); sim.run(sc, 0); pr.disable()\n"
        "for key in ('cumulative', 'tottime'):\n"
        f"    s = io.StringIO(); pstats.Stats(pr, stream=s).sort_stats(key).print_stats({top}); print(s.getvalue())\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=child_env(), cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    return proc.stdout


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results JSON (default benchmarks/results.json)")
    p.add_argument(
        "--cpu",
        default="auto",
        help="core to pin every child to: a number, 'auto' (the idlest core, sampled once at start; "
        "the default) or 'none'",
    )
    p.add_argument("--baseline-reps", type=int, default=7)
    p.add_argument("--large-reps", type=int, default=3)
    p.add_argument("--reference-reps", type=int, default=3)
    p.add_argument("--reference-accounts", type=int, default=50_000)
    p.add_argument("--profile", choices=["baseline", "large"], help="print a cProfile of one replication instead")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is not None:
        print(json.dumps(child_main(json.loads(args.child))))
        return 0
    cpu = {"none": None, "auto": None}.get(args.cpu) if args.cpu in ("none", "auto") else int(args.cpu)
    if args.cpu == "auto":
        cpu = idlest_cpu()
    if args.profile:
        print(profile(args.profile, cpu=cpu))
        return 0
    print(f"pinning benchmark children to cpu {cpu}; load average {load_average()}", flush=True)
    results = run_all(
        baseline_reps=args.baseline_reps,
        large_reps=args.large_reps,
        reference_reps=args.reference_reps,
        reference_accounts=args.reference_accounts,
        cpu=cpu,
    )
    print(format_table(results))
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
