"""Batch experiments: experiment files, designs, seeds, backends, the result store and analysis.

The pipeline, one module per stage: :mod:`experiments.design` (experiment files and
samplers), :mod:`experiments.seeds` (a SeedSequence per run), :mod:`experiments.backends`
(in-process, local processes, Dask), :mod:`experiments.runner` (the sweep),
:mod:`experiments.replication` (replications of one scenario, summaries and paired comparisons),
:mod:`experiments.store` (one Parquet file per run) and :mod:`experiments.analysis`.
Names are imported lazily so that ``import experiments.io`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Experiment": "design", "ExperimentError": "design", "load_experiment": "design", "parse_experiment": "design",
    "build_design": "design", "run_experiment": "runner", "run_task": "runner", "SweepSummary": "runner",
    "InProcess": "backends", "LocalProcesses": "backends", "Dask": "backends", "make_backend": "backends",
    "load_results": "store", "load_monthly": "store", "RunStore": "store", "StoreError": "store",
    "run_seed_sequence": "seeds",
    "replicate": "replication", "Replications": "replication", "Comparison": "replication",
    "IncomparableError": "replication", "mean_ci": "stats", "diff_ci": "stats", "Interval": "stats",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'experiments' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
