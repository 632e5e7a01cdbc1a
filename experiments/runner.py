"""The runner: build the task list, skip runs already stored, execute the rest, store each result as it arrives.

::

    from experiments import load_experiment, run_experiment
    from experiments.backends import LocalProcesses
    summary = run_experiment(load_experiment("experiments/tier_threshold_sweep.yaml"), "out/tiers",
                             backend=LocalProcesses(2))

Running the same experiment on the same folder again resumes it: only runs with no
file execute (``retry_failed=True`` also re-runs the failed ones).  The task function
:func:`run_task` is module-level, takes plain data and never raises: a run that raises
comes back as a failure record with its traceback, so one bad run never stops the sweep.
A run the backend lost (status ``lost``) is not stored: the summary counts it, and the
next session runs it.  A session that fails before storing any run in a folder it
created leaves nothing behind.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .backends import LOST, Backend, LocalProcesses, Record, Task
from .design import Experiment
from .seeds import from_key, run_key
from .store import RunStore

log = logging.getLogger("channelsim.sweep")


# ---------------------------------------------------------------------- the task
def run_task(task: Task) -> Record:
    """Run one (design point, replication) and return its record; never raises.

    Args:
        task: plain data: ``point``, ``replication``, ``scenario`` (the base :class:`sim.Scenario`),
            ``overrides`` (dotted path -> value), ``entropy`` and ``key`` (the run's SeedSequence),
            ``summary`` and ``monthly`` (KPI names to keep).

    Returns:
        ``{"point", "replication", "status": "ok"|"failed", "error", "seconds", "worker", "seed_key",
        "outputs": {kpi: float}, "monthly": {kpi: [float, ...]}}``
    """
    t0 = time.perf_counter()
    record: Record = {
        "point": int(task["point"]), "replication": int(task["replication"]), "status": "ok", "error": None,
        "worker": f"{socket.gethostname()}:{os.getpid()}", "seed_key": task.get("seed_key", ""),
        "outputs": {}, "monthly": {},
    }
    try:
        import sim

        hook = task.get("hook")
        if hook is not None:  # test and debugging hook: a module-level callable run before the simulation
            hook(task)
        scenario = task["scenario"]
        if task.get("overrides"):
            scenario = scenario.with_overrides(task["overrides"])
        arms = task.get("arms") or {}
        # With arms, the point's warm-up is simulated once and shared by the point and each arm
        # (sim.warm_up: bit-identical to simulating it for each of them).
        initial = task.get("initial")  # the state of month 0 from the scenario's data folder, or None
        warm = sim.warm_up(scenario, from_key(task["entropy"], task["key"]), initial=initial) if arms else None
        result = sim.run(scenario, from_key(task["entropy"], task["key"]), warmup=warm,
                         initial=None if arms else initial)
        head = result.summary()
        summary = task.get("base_summary", task["summary"])
        record["outputs"] = {k: float(head[k]) for k in summary}
        for arm, over in arms.items():
            # The arm warms up on the point's scenario with the same seed: only its change differs.
            arm_head = sim.run(scenario.with_overrides(over), from_key(task["entropy"], task["key"]),
                               warmup=warm).summary()  # the warm start holds the initial state
            for k in summary:
                record["outputs"][f"{k}@{arm}"] = float(arm_head[k])
                record["outputs"][f"{k}:{arm}"] = float(arm_head[k]) - float(head[k])
        kpis = result.kpis
        record["monthly"] = {k: [float(x) for x in kpis[k].to_numpy()] for k in task["monthly"]}
    except BaseException as err:  # noqa: BLE001 - a failed run is data, not a crash
        if isinstance(err, KeyboardInterrupt | SystemExit) and task.get("reraise_interrupts", True):
            raise
        record.update(status="failed", outputs={}, monthly={},
                      error="".join(traceback.format_exception(type(err), err, err.__traceback__)))
    record["seconds"] = time.perf_counter() - t0
    return record


# ---------------------------------------------------------------------- progress
class Progress:
    """Receives the sweep's events; the default does nothing."""

    def start(self, total: int, skipped: int, description: str) -> None: ...

    def update(self, record: Record, done: int, failed: int) -> None: ...

    def close(self) -> None: ...


class BarProgress(Progress):
    """A tqdm bar: runs done (of those to execute), failed count, rate and ETA."""

    def __init__(self, stream: Any = None):
        self.stream = stream or sys.stderr
        self.bar: Any = None
        self.skipped = 0

    def start(self, total: int, skipped: int, description: str) -> None:
        from tqdm import tqdm  # the terminal bar (tqdm.auto warns in notebooks without ipywidgets)

        self.bar = tqdm(total=total, desc="runs", unit="run", file=self.stream, dynamic_ncols=True,
                        smoothing=0.1)
        self.skipped = skipped
        self.bar.set_postfix(failed=0, skipped=skipped)
        if skipped:
            self.bar.write(f"resuming: {skipped} runs already stored")

    def update(self, record: Record, done: int, failed: int) -> None:
        if self.bar is not None:
            self.bar.set_postfix(failed=failed, skipped=self.skipped, refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class LogProgress(Progress):
    """Plain log lines (``--quiet``): a line every ``every`` seconds and one per failed run."""

    def __init__(self, every: float = 10.0):
        self.every = every
        self.t0 = self.last = 0.0
        self.total = 0

    def start(self, total: int, skipped: int, description: str) -> None:
        self.t0 = self.last = time.monotonic()
        self.total = total
        log.info("sweep: %d runs to execute, %d already stored, on %s", total, skipped, description)

    def update(self, record: Record, done: int, failed: int) -> None:
        if record["status"] != "ok":
            first = (record.get("error") or "").strip().splitlines()
            log.warning("run dp%05d r%03d failed: %s", record["point"], record["replication"],
                        first[-1] if first else "")
        now = time.monotonic()
        if now - self.last >= self.every or done == self.total:
            self.last = now
            rate = done / max(now - self.t0, 1e-9)
            eta = (self.total - done) / rate if rate > 0 else float("nan")
            log.info("sweep: %d/%d done, %d failed, ETA %.0f s", done, self.total, failed, eta)


# ---------------------------------------------------------------------- the runner
@dataclass
class SweepSummary:
    """What one call of :func:`run_experiment` did."""

    out_dir: Path
    total: int
    skipped: int
    executed: int = 0
    failed: int = 0
    seconds: float = 0.0
    backend: str = ""
    failures: list[tuple[int, int]] = field(default_factory=list)
    #: Runs the backend lost (not stored; the next session runs them) and the first reason given.
    lost: int = 0
    lost_reason: str = ""

    @property
    def complete(self) -> bool:
        return self.skipped + self.executed == self.total


def monthly_names(experiment: Experiment, base: Any) -> list[str]:
    """The monthly KPI series to keep, resolved against the base scenario's KPI columns."""
    spec = experiment.monthly_outputs()
    from sim import reporters

    available = list(reporters.model_reporters(base))
    if spec == "all":
        return available
    bad = [k for k in spec if k not in available]
    if bad:
        from .design import ExperimentError

        raise ExperimentError(experiment.source, [("outputs.monthly", bad, f"allowed: {', '.join(available)}")])
    return list(spec)


def build_tasks(experiment: Experiment, design: Any, base: Any, monthly: list[str],
                initial: Any = None) -> list[Task]:
    """Every run of the experiment as plain-data tasks, in (point, replication) order.

    ``initial`` (a :class:`sim.InitialState`, built once from the base scenario's data folder) goes
    to every task.
    """
    summary = experiment.summary_outputs()
    tasks = []
    for point in range(len(design)):
        overrides = {name: _plain(design.iloc[point][name]) for name in experiment.factor_names}
        for rep in range(experiment.replications):
            entropy, key = run_key(experiment.seed, point, rep, experiment.streams)
            tasks.append({
                "experiment": experiment.name, "point": point, "replication": rep, "scenario": base,
                "overrides": overrides, "entropy": entropy, "key": key,
                "seed_key": f"{entropy}/" + "/".join(str(k) for k in key),
                "summary": summary, "monthly": monthly,
                "base_summary": experiment.base_summary_outputs(), "arms": experiment.arms,
                "initial": initial,
            })
    return tasks


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") and not isinstance(v, list | dict | str) else v


def run_experiment(
    experiment: Experiment,
    out_dir: str | Path,
    backend: Backend | None = None,
    *,
    retry_failed: bool = False,
    progress: Progress | None = None,
    task_hook: Any = None,
) -> SweepSummary:
    """Run every run of ``experiment`` not yet stored in ``out_dir``; store each as it completes.

    Args:
        experiment: a validated experiment (:func:`experiments.design.load_experiment`).
        out_dir: the output folder; an existing folder of the same experiment is resumed.
        backend: where runs execute (local processes, one per core, by default).
        retry_failed: also re-run runs stored as failed.
        progress: receives start/update/close events (nothing is shown by default).
        task_hook: a module-level callable ``hook(task)`` each task calls before simulating (tests).

    Returns:
        A :class:`SweepSummary`. An interrupt (Ctrl-C) propagates after the runs finished so far are stored.

    Raises:
        experiments.store.StoreError: ``out_dir`` holds another experiment's results.
        experiments.design.ExperimentError: the base scenario or an output name is invalid.
    """
    from .design import check_factor_paths

    backend = backend if backend is not None else LocalProcesses()
    progress = progress or Progress()
    from .initial import with_data

    # The base scenario's data folder is read once, here; every task carries the state.
    base, initial = with_data(check_factor_paths(experiment), source=f"{experiment.source} (base {experiment.base})")
    design = experiment.design_table()
    monthly = monthly_names(experiment, base)
    store = RunStore(out_dir, experiment, design, monthly, base=base)
    tasks = build_tasks(experiment, design, base, monthly, initial)
    manifest = store.open(backend.describe())  # takes the folder's lock; store.close releases it
    summary = SweepSummary(out_dir=Path(out_dir), total=len(tasks), skipped=0, backend=backend.describe())
    t0 = time.perf_counter()
    finished = False
    try:
        have = store.existing({(t["point"], t["replication"]): t["seed_key"] for t in tasks})
        todo = [t for t in tasks if (t["point"], t["replication"]) not in have
                or (retry_failed and have[(t["point"], t["replication"])] != "ok")]
        kept_failed = 0 if retry_failed else sum(1 for status in have.values() if status != "ok")
        if task_hook is not None:
            for t in todo:
                t["hook"] = task_hook
        summary.skipped = len(tasks) - len(todo)
        progress.start(len(todo), summary.skipped, backend.describe())
        try:
            if todo:
                with backend:
                    for record in _results(backend, todo):
                        if record.get("status") == LOST:
                            summary.lost += 1
                            summary.lost_reason = summary.lost_reason or _first_line(record.get("error"))
                            progress.update(record, summary.executed, summary.failed)
                            continue
                        store.write(record)
                        summary.executed += 1
                        if record["status"] != "ok":
                            summary.failed += 1
                            summary.failures.append((record["point"], record["replication"]))
                        progress.update(record, summary.executed, summary.failed)
        finally:
            progress.close()
        finished = True
    finally:
        summary.seconds = time.perf_counter() - t0
        if not finished and summary.executed == 0 and store.fresh:
            store.close(manifest, 0, 0, complete=False)
            store.discard()  # a folder this session created and stored nothing in: leave nothing behind
        else:
            store.close(manifest, summary.executed, summary.failed, complete=summary.complete)
    if summary.complete:
        log.info("sweep complete: %d runs (%d failed in total) in %s", summary.total,
                 kept_failed + summary.failed, out_dir)
    return summary


def _first_line(text: Any) -> str:
    lines = str(text or "").strip().splitlines()
    return lines[0][:200] if lines else ""


def _results(backend: Backend, todo: list[Task]) -> Iterator[Record]:
    # run_task is module-level (experiments.runner.run_task), so any worker can import it.
    yield from backend.map_unordered(run_task, todo)


__all__ = ["BarProgress", "LogProgress", "Progress", "SweepSummary", "build_tasks", "run_experiment", "run_task"]
