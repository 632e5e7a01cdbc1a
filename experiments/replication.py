"""Replications of one scenario: run them, summarise them, compare two sets of them.

The one way the package replicates a scenario: the command line (``channelsim run``,
``compare``), the app (``channelsim app``) and the notebooks all go through it::

    import sim
    from experiments import replicate

    base = replicate(sim.Scenario().scaled(0.2), replications=10, workers=2)
    alt = replicate(base.scenario.with_overrides({"incentives.rebate.scale": 1.5}), replications=10,
                    label="rebate x1.5")
    base.summary()            # mean and 95 % t-interval of each headline KPI over replications
    base.compare(alt)         # alt - base per headline KPI: paired (common random numbers) with CIs

Replication ``r`` of seed ``s`` runs ``sim.run(scenario, sim.seed_sequence(s, r))``, so two
sets with the same seed and count share their random numbers replication by replication,
and the results do not depend on ``workers`` (each run rebuilds its generator from the two
integers).  ``seeds=[...]`` runs explicit integer seeds instead (``sim.run(scenario, seed)``).
"""

from __future__ import annotations

import contextlib
import math
import pickle
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

import sim

from .stats import LEVEL, Interval, diff_ci, mean_ci, monthly_diff_band, replication_headlines

#: The frames a run returns, in the order they are kept.
FRAMES = ("kpis", "partners", "conflicts", "migrations")
#: Fields that make two runs comparable: the market's size and the horizon.
SCALE_FIELDS = ("time.months", "time.warmup_months", "market.n_accounts", "market.n_territories",
                "partners.n_initial")
#: Most replications one call accepts.
MAX_REPLICATIONS = 1_000

ProgressFn = Callable[[int, int], None]


class IncomparableError(ValueError):
    """Two sets of replications that cannot be compared as they stand (different horizons or markets)."""


def _get(scenario: sim.Scenario, path: str) -> Any:
    obj: Any = scenario
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _with_replication(df: pd.DataFrame, r: int) -> pd.DataFrame:
    df = df.copy()
    df.insert(0, "replication", np.int64(r))
    return df


# ---------------------------------------------------------------------- the task (module level: picklable)
def _run_one(task: dict[str, Any]) -> dict[str, Any]:
    """One replication; never raises (an error comes back as text)."""
    r = int(task["replication"])
    try:
        seed = task["seed"] if task["int_seed"] else sim.seed_sequence(task["seed"], r)
        res = sim.run(task["scenario"], seed, policies=task["policies"], warmup=task["warmup"],
                      initial=task.get("initial"))
        frames = {name: _with_replication(getattr(res, name), r) for name in task["frames"]}
        return {"replication": r, "status": "ok", "frames": frames, "error": None}
    except Exception as err:  # noqa: BLE001 - reported to the caller with the replication it came from
        return {"replication": r, "status": "failed", "frames": {}, "error": f"{type(err).__name__}: {err}",
                "exception": err if _picklable(err) else None}


def _picklable(obj: Any) -> bool:
    try:
        pickle.dumps(obj)
    except Exception:  # noqa: BLE001 - anything that stops pickling
        return False
    return True


class _Bar:
    """A tqdm bar on stderr: replications done, rate and ETA."""

    def __init__(self, total: int, label: str):
        from tqdm import tqdm  # the terminal bar (tqdm.auto warns in notebooks without ipywidgets)

        self.bar = tqdm(total=total, desc=label, unit="run", file=sys.stderr, dynamic_ncols=True, leave=False)

    def __call__(self, done: int, total: int) -> None:
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        self.bar.close()


#: The bar ``replicate(progress=True)`` draws, for other commands' runs (``channelsim optimise``).
ProgressBar = _Bar


# ---------------------------------------------------------------------- results
@dataclass(frozen=True)
class Replications:
    """Replications of one scenario.

    Attributes:
        scenario: the scenario that was run (validated).
        label: its name in tables and legends (the scenario's name unless given).
        seed: the base seed (replication ``r`` ran ``sim.seed_sequence(seed, r)``), or None with ``seeds``.
        seeds: the explicit integer seeds, or None.
        warmup: the scenario of the warm-up months, or None (the scenario itself).
        kpis: monthly KPIs of every replication (``replication`` first, then ``month``).
        partners: the partner panel of every replication.
        conflicts: the conflict log of every replication.
        migrations: tier migrations of every replication.
    """

    scenario: sim.Scenario
    label: str
    seed: int | None
    seeds: tuple[int, ...] | None
    warmup: sim.Scenario | None
    kpis: pd.DataFrame
    partners: pd.DataFrame = field(repr=False)
    conflicts: pd.DataFrame = field(repr=False)
    migrations: pd.DataFrame = field(repr=False)

    @property
    def n(self) -> int:
        """Number of replications."""
        return int(self.kpis["replication"].nunique()) if len(self.kpis) else 0

    @property
    def months(self) -> int:
        return int(self.scenario.time.months)

    def seed_text(self) -> str:
        """How the replications were seeded, in words."""
        if self.seeds is not None:
            return f"sim.run(scenario, s) for s in {list(self.seeds)}"
        return f"sim.seed_sequence({self.seed}, r) for r in 0..{self.n - 1}"

    def headlines(self) -> pd.DataFrame:
        """Headline KPIs (:func:`sim.headline`: totals of flows, means of levels) per replication."""
        return replication_headlines(self.kpis)

    def interval(self, kpi: str, level: float = LEVEL) -> Interval:
        """Mean and t-interval of one headline KPI over replications."""
        h = self.headlines()
        if kpi not in h.columns:
            raise KeyError(f"{kpi!r}: not a headline KPI; allowed: {', '.join(h.columns)}")
        return mean_ci(h[kpi], level)

    def summary(self, level: float = LEVEL) -> pd.DataFrame:
        """Mean and ``level`` t-interval of each headline KPI over replications.

        Returns:
            A frame indexed by KPI with columns ``mean``, ``ci_low``, ``ci_high``, ``n``; with one
            replication the interval is the mean (no interval can be computed).
        """
        h = self.headlines()
        rows = {k: mean_ci(h[k], level) for k in h.columns}
        return pd.DataFrame({k: {"mean": iv.mean, "ci_low": iv.low, "ci_high": iv.high, "n": iv.n}
                             for k, iv in rows.items()}).T.astype({"n": int}).rename_axis("kpi")

    def pairs_with(self, other: Replications) -> bool:
        """Whether replication r of ``self`` and of ``other`` share their random numbers."""
        key_a = self.seeds if self.seeds is not None else self.seed
        key_b = other.seeds if other.seeds is not None else other.seed
        reps_a = sorted(self.kpis["replication"].unique()) if len(self.kpis) else []
        reps_b = sorted(other.kpis["replication"].unique()) if len(other.kpis) else []
        return pairs(key_a, key_b, reps_a, reps_b)

    def mismatches(self, other: Replications) -> list[str]:
        """The scale fields (horizon, market size) on which ``self`` and ``other`` differ, in words."""
        out = []
        for path in SCALE_FIELDS:
            a, b = _get(self.scenario, path), _get(other.scenario, path)
            if a != b:
                out.append(f"{path}: {a!r} in {self.label!r}, {b!r} in {other.label!r}")
        return out

    def compare(self, other: Replications, *, level: float = LEVEL, allow_mismatch: bool = False) -> Comparison:
        """``other`` against ``self`` per headline KPI: ``other - self`` with its CI.

        Paired t-intervals when the two share their seeds and count (common random numbers), else
        Welch t-intervals; with one replication the interval is the difference.

        Args:
            other: the what-if (``self`` is the reference).
            level: confidence level.
            allow_mismatch: compare runs of different horizons or market sizes anyway (the
                differences are then mostly the scale; the comparison's ``warnings`` say so).

        Raises:
            IncomparableError: the two differ in horizon or market size and ``allow_mismatch`` is False.
        """
        return compare_headlines(self.headlines(), other.headlines(), a=self.label, b=other.label,
                                 paired=self.pairs_with(other), mismatches=self.mismatches(other), level=level,
                                 allow_mismatch=allow_mismatch)

    def monthly_difference(self, other: Replications, kpi: str, level: float = LEVEL) -> pd.DataFrame:
        """``other - self`` of ``kpi`` per month with its CI (paired when the two share their seeds).

        Returns:
            Columns ``month, mean, low, high`` (see :func:`experiments.stats.monthly_diff_band`).
        """
        return monthly_diff_band(self.kpis, other.kpis, kpi, paired=self.pairs_with(other), level=level)

    def monthly(self, kpi: str, level: float = LEVEL) -> pd.DataFrame:
        """Mean and t-band of ``kpi`` per month over replications (``month, mean, low, high``)."""
        from .stats import monthly_band

        return monthly_band(self.kpis, kpi, level)

    def frames(self) -> dict[str, pd.DataFrame]:
        """The four frames by name (as ``channelsim run`` writes them)."""
        return {name: getattr(self, name) for name in FRAMES}

    def __repr__(self) -> str:
        return (f"Replications({self.label!r}: {self.n} replication(s) of {self.months} months, "
                f"{self.seed_text()})")


@dataclass(frozen=True)
class Comparison:
    """Headline KPIs of two sets of replications, B against A.

    Attributes:
        a: label of the reference.
        b: label of the what-if.
        table: per KPI: ``a`` and ``b`` (means), ``diff`` (b - a), ``ci_low``, ``ci_high``, ``pct``
            (diff / |a| x 100) and ``significant`` (the interval excludes zero).
        method: how the intervals were computed.
        paired: common random numbers were used.
        level: confidence level.
        warnings: what the reader must know before trusting the table.
        n_a: replications of the reference.
        n_b: replications of the what-if.
    """

    a: str
    b: str
    table: pd.DataFrame
    method: str
    paired: bool
    level: float
    warnings: tuple[str, ...] = ()
    n_a: int = 0
    n_b: int = 0

    @property
    def has_intervals(self) -> bool:
        """Whether the intervals could be computed (both runs have two or more replications)."""
        return self.n_a >= 2 and self.n_b >= 2

    def significant(self) -> pd.DataFrame:
        """The rows whose interval excludes zero."""
        return self.table[self.table["significant"]]

    def __repr__(self) -> str:
        head = f"Comparison({self.b!r} - {self.a!r}, {self.method})"
        notes = "".join(f"\nwarning: {w}" for w in self.warnings)
        return f"{head}{notes}\n{self.table.to_string()}"

    def _repr_html_(self) -> str:
        notes = "".join(f"<p><b>Warning:</b> {w}</p>" for w in self.warnings)
        return (f"<p><b>{self.b}</b> - <b>{self.a}</b>: {self.method}</p>{notes}"
                + self.table.to_html(float_format=lambda x: f"{x:,.4g}"))


def pairs(key_a: Any, key_b: Any, replications_a: Sequence[int], replications_b: Sequence[int]) -> bool:
    """Whether two sets of replications share their random numbers replication by replication.

    Args:
        key_a: how A was seeded (its base seed, or its tuple of explicit seeds); None when unknown.
        key_b: how B was seeded, likewise.
        replications_a: A's replication numbers.
        replications_b: B's replication numbers.

    Returns:
        True when both were seeded alike, have the same replications and at least two of them.
    """
    return (key_a is not None and key_a == key_b and list(replications_a) == list(replications_b)
            and len(replications_a) >= 2)


def compare_headlines(ha: pd.DataFrame, hb: pd.DataFrame, *, a: str, b: str, paired: bool,
                      mismatches: Sequence[str] = (), level: float = LEVEL,
                      allow_mismatch: bool = False) -> Comparison:
    """B against A per headline KPI: the one place a comparison's intervals are computed.

    :meth:`Replications.compare` and ``channelsim compare`` (which reads two run folders) both call it.

    Args:
        ha: headline KPIs of A, one row per replication (:func:`experiments.stats.replication_headlines`).
        hb: headline KPIs of B, likewise.
        a: A's label (the reference).
        b: B's label (the what-if).
        paired: replication r of A and of B share their random numbers (see :func:`pairs`): paired
            t-intervals; otherwise Welch t-intervals.
        mismatches: the scale fields on which A and B differ, in words.
        level: confidence level.
        allow_mismatch: compare anyway when ``mismatches`` is not empty (a warning says so).

    Returns:
        The :class:`Comparison` (``table`` indexed by KPI: ``a, b, diff, ci_low, ci_high, pct, significant``).

    Raises:
        IncomparableError: ``mismatches`` is not empty and ``allow_mismatch`` is False.
    """
    warnings = []
    if mismatches and not allow_mismatch:
        raise IncomparableError(
            f"cannot compare {a!r} with {b!r}: they differ in "
            + "; ".join(mismatches) + ". Allowed: runs of the same horizon and market size (re-run one of them, "
            "or pass allow_mismatch=True / --allow-mismatch to compare them anyway)")
    if mismatches:
        warnings.append("the runs differ in " + "; ".join(mismatches) + ": differences reflect the scale, not only "
                        "the programme")
    n_a, n_b = len(ha), len(hb)
    if n_a < 2 or n_b < 2:
        paired = False
        method = "no interval: a run has one replication (CI = difference)"
        warnings.append("one replication: no confidence interval can be computed; run more replications")
    elif paired:
        method = f"paired t-interval over {n_a} replications (same seeds, common random numbers)"
    else:
        why = "replications differ" if n_a != n_b else "seeds differ"
        method = f"Welch t-interval ({why}; {n_a} vs {n_b} replications)"
    if a == b:
        warnings.append(f"both runs are labelled {a!r}: pass label= (or --label) to tell them apart")
    rows = []
    for k in ha.columns:
        if k not in hb.columns:
            continue
        ma, mb = mean_ci(ha[k], level), mean_ci(hb[k], level)
        d = diff_ci(ha[k], hb[k], paired=paired, level=level)
        pct = d.mean / abs(ma.mean) * 100 if math.isfinite(ma.mean) and ma.mean != 0 else float("nan")
        sig = bool(d.n >= 2 and d.low != d.high and (d.low > 0 or d.high < 0))
        rows.append({"kpi": k, "a": ma.mean, "b": mb.mean, "diff": d.mean, "ci_low": d.low, "ci_high": d.high,
                     "pct": pct, "significant": sig})
    cols = ["kpi", "a", "b", "diff", "ci_low", "ci_high", "pct", "significant"]
    table = pd.DataFrame(rows, columns=cols).set_index("kpi")
    return Comparison(a=a, b=b, table=table, method=method, paired=paired, level=level, warnings=tuple(warnings),
                      n_a=n_a, n_b=n_b)


# ---------------------------------------------------------------------- the function
def replicate(
    scenario: sim.Scenario | None = None,
    replications: int | None = None,
    *,
    seed: int = 0,
    seeds: Sequence[int] | None = None,
    workers: int | None = 1,
    backend: Any = None,
    policies: sim.Policies | None = None,
    warmup: sim.Scenario | None = None,
    label: str | None = None,
    progress: bool | ProgressFn = False,
    frames: Iterable[str] = FRAMES,
    initial: sim.InitialState | None = None,
) -> Replications:
    """Run ``scenario`` ``replications`` times and keep every replication's frames.

    Args:
        scenario: a validated :class:`sim.Scenario` (the baseline when None).
        replications: how many (10 when neither this nor ``seeds`` is given).
        seed: base seed; replication ``r`` uses ``sim.seed_sequence(seed, r)``, as ``channelsim run`` does.
        seeds: explicit integer seeds instead (``sim.run(scenario, s)`` for each); excludes ``replications``.
        workers: processes; 1 (default) runs in this process, None one per core.  Results do not
            depend on it.  Policies must be picklable to use more than one (classes defined in a
            notebook are not: define them in a module, or keep ``workers=1``).
        backend: an :mod:`experiments.backends` backend (e.g. ``Dask(address)``) instead of ``workers``.
        policies: replacement policy objects (see :class:`sim.Policies`).
        warmup: the scenario of the warm-up months (see :func:`sim.run`).
        label: the name in tables and legends (the scenario's name when None).
        progress: True for a bar with ETA on stderr, or a function ``(done, total)`` called after each run.
        frames: which of ``kpis, partners, conflicts, migrations`` to keep (``kpis`` always).
        initial: the state of month 0 as data, for every replication.  When None and the scenario
            names a data folder (``data.path``), it is built once from the folder
            (:func:`experiments.initial.with_data`, which also fits the scenario's sizes to it).

    Returns:
        The :class:`Replications`.

    Raises:
        ValueError: bad counts or seeds, unknown frames, or policies that cannot be sent to workers.
        Exception: the error a replication raised, re-raised with a note naming the replication
            (a ``RuntimeError`` with its text when the error could not come back from a worker).
    """
    scenario = scenario if scenario is not None else sim.Scenario()
    if initial is None and scenario.data.path:
        from .initial import with_data

        scenario, initial = with_data(scenario)
    if initial is not None and warmup is not None:
        from .initial import fit_scenario

        warmup = fit_scenario(warmup, initial)
    if seeds is not None and replications is not None:
        raise ValueError("give replications or seeds, not both")
    if seeds is not None:
        seed_list = tuple(int(s) for s in seeds)
        if not seed_list or any(s < 0 for s in seed_list):
            raise ValueError(f"seeds {list(seeds)!r}: allowed: a non-empty list of non-negative integers")
        n = len(seed_list)
    else:
        seed_list = None
        n = 10 if replications is None else int(replications)
        if int(seed) < 0:
            raise ValueError(f"seed {seed!r}: allowed: a non-negative integer")
    if not 1 <= n <= MAX_REPLICATIONS:
        raise ValueError(f"replications {n!r}: allowed: 1 to {MAX_REPLICATIONS}")
    keep = tuple(dict.fromkeys(("kpis", *frames)))
    unknown = [f for f in keep if f not in FRAMES]
    if unknown:
        raise ValueError(f"frames {unknown!r}: allowed: {', '.join(FRAMES)}")
    tasks = [{"point": 0, "replication": r, "seed": seed_list[r] if seed_list is not None else int(seed),
              "int_seed": seed_list is not None, "scenario": scenario, "policies": policies, "warmup": warmup,
              "frames": keep, "initial": initial} for r in range(n)]
    parallel = backend is not None or (workers != 1 and n > 1)
    if parallel and policies is not None and not _picklable(policies):
        raise ValueError("policies cannot be sent to worker processes (not picklable: a class defined in a "
                         "notebook or a lambda); define them in a module, or use workers=1")
    bar = _Bar(n, label or scenario.name) if progress is True else None
    report: ProgressFn | None = bar if bar is not None else (progress if callable(progress) else None)
    records: dict[int, dict[str, Any]] = {}
    try:
        with contextlib.closing(_execute(tasks, workers, backend, parallel)) as results:
            for rec in results:
                records[rec["replication"]] = rec
                if rec["status"] != "ok":
                    break
                if report is not None:
                    report(len(records), n)
    finally:
        if bar is not None:
            bar.close()
    failed = [rec for rec in records.values() if rec["status"] != "ok"]
    if failed:
        rec = failed[0]
        if rec.get("exception") is not None:  # the run's own error, with the replication it came from
            exc = rec["exception"]
            exc.add_note(f"in replication {rec['replication']} of {label or scenario.name!r}")
            raise exc
        raise RuntimeError(f"replication {rec['replication']} of {label or scenario.name!r} failed: {rec['error']}")
    stacked = {}
    for name in FRAMES:
        parts = [records[r]["frames"][name] for r in range(n) if name in records[r]["frames"]]
        non_empty = [f for f in parts if len(f)]  # empty frames would change the columns' dtypes
        stacked[name] = (pd.concat(non_empty or parts[:1], ignore_index=True) if parts
                         else pd.DataFrame({"replication": pd.Series(dtype="int64")}))
    return Replications(scenario=scenario, label=label or scenario.name, seed=None if seed_list else int(seed),
                        seeds=seed_list, warmup=warmup, **stacked)


def _execute(tasks: list[dict[str, Any]], workers: int | None, backend: Any, parallel: bool):
    if not parallel:
        for task in tasks:
            yield _run_one(task)
        return
    if backend is None:
        from .backends import LocalProcesses

        backend = LocalProcesses(workers, preload=("sim", "experiments.replication"))
        with backend:
            yield from backend.map_unordered(_run_one, tasks)
        return
    with backend:
        yield from backend.map_unordered(_run_one, tasks)


__all__ = ["FRAMES", "Comparison", "IncomparableError", "ProgressBar", "Replications", "compare_headlines",
           "pairs", "replicate"]
