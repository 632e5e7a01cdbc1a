"""The one place where :mod:`optimise` runs the simulator.

``simulate_many(tasks, workers=...)`` runs each :class:`Task` (a scenario and a
SeedSequence) and returns one :class:`Outcome` per task, in order: the
horizon totals of the KPI columns the optimiser reads.  Today it calls
:func:`sim.run` in-process (``workers=1``) or in a ``ProcessPoolExecutor`` with the
*spawn* start method (set on the executor only, never globally); switching to
``experiments.runner`` later is a change to this file alone.

Results depend only on (scenario, seed), so they are the same for any
``workers``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

import sim

#: Called with (runs done, runs in all) after each run.
ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class Task:
    """One simulation: a scenario and the seed (a SeedSequence keyed by the caller)."""

    scenario: sim.Scenario
    seed: np.random.SeedSequence


@dataclass(frozen=True)
class Outcome:
    """Horizon totals of one run (USD over the reported months) and its length in months."""

    months: int
    totals: dict[str, float]
    means: dict[str, float]

    def per_year(self, column: str) -> float:
        return self.totals[column] * 12.0 / self.months


def _kpis(scenario: sim.Scenario, seed: np.random.SeedSequence):
    """The monthly KPI frame of one run (reported months only)."""
    return sim.run(scenario, seed).kpis


def run_one(task: Task) -> Outcome:
    k = _kpis(task.scenario, task.seed)
    num = k.select_dtypes("number")
    flows = [c for c in num.columns if c.startswith(("spend_", "revenue_")) or c in ("gross_profit", "incentive_spend")]
    levels = [c for c in num.columns if c.startswith("partners_tier_")]
    return Outcome(
        months=len(k),
        totals={c: float(num[c].sum()) for c in flows},
        means={c: float(num[c].mean()) for c in levels},
    )


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def simulate_many(tasks: Sequence[Task], workers: int | None = None,
                  progress: ProgressFn | None = None) -> list[Outcome]:
    """Run every task; ``workers > 1`` uses spawned processes. Results are in task order.

    ``progress`` is called with ``(done, total)`` after each run (in task order).
    """
    tasks = list(tasks)
    total = len(tasks)
    n = default_workers() if workers is None else max(1, int(workers))
    report = progress or (lambda _done, _total: None)
    out: list[Outcome] = []
    if n == 1 or total <= 1:
        for t in tasks:
            out.append(run_one(t))
            report(len(out), total)
        return out
    ctx = mp.get_context("spawn")
    chunk = max(1, total // (n * 8))
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as ex:
        for o in ex.map(run_one, tasks, chunksize=chunk):
            out.append(o)
            report(len(out), total)
    return out


__all__ = ["Outcome", "ProgressFn", "Task", "default_workers", "run_one", "simulate_many"]
