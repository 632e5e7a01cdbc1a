"""EMA Workbench adapter: a model factory so that ``ema_workbench`` 3 drives :func:`sim.run`.

EMA Workbench calls a model's function with one keyword argument per sampled parameter and
expects a dict of outcomes back.  :func:`model` builds that model from a scenario, a mapping
of dotted scenario paths to ranges or levels, and KPI names::

    import sim
    from ema_workbench import SequentialEvaluator
    from experiments import ema

    m = ema.model(sim.Scenario().scaled(0.2),
                  uncertainties={"incentives.mdf.scale": (0.5, 1.5),        # a range: RealParameter
                                 "partners.n_initial": (20, 80),            # ints on an int field: IntegerParameter
                                 "conflict.fallback": ["mediation", "price_contest"]},  # levels: CategoricalParameter
                  outcomes=["gross_profit", "incentive_roi"])
    with SequentialEvaluator(m) as evaluator:
        experiments, outcomes = evaluator.perform_experiments(scenarios=16)

Parameters are named by the path with ``__`` for ``.`` (``incentives__mdf__scale``), the
identifiers EMA Workbench 3 requires; the experiments table has one column per parameter.

**Outcomes** are KPI reporter names, reduced over the reported months by ``statistic``:
``"headline"`` (the default, :func:`sim.headline`: totals of flows, means of levels, as
``sim.run(...).summary()``, ``channelsim run`` and sweeps' summary outputs), ``"mean"`` (the
mean of the monthly KPI over the reported months) or ``"final"`` (the last reported month).

**Seeds.** EMA Workbench hands a model only the sampled values, not the experiment's index, so
the random stream is keyed on what the model sees, as :mod:`experiments.seeds` keys a sweep's
runs: with ``streams="common"`` (the default) replication ``r`` of every experiment runs
``sim.seed_sequence(seed, r)`` (common random numbers: experiments differ only by their
inputs, exactly as design points of a ``streams: common`` sweep); with ``streams="independent"``
the key also holds :func:`point_key`, a 63-bit digest of the experiment's parameter values, so
every distinct experiment has its own stream whatever the evaluator or the order it runs them.
``replications=None`` gives an ``ema_workbench.Model`` (one run per experiment, replication 0);
``replications=n`` gives a ``ReplicatorModel`` that runs replications ``0..n-1`` of each
experiment and reports each outcome's mean over them.  :func:`reproduce` re-runs one experiment with :func:`sim.run`.

``ema_workbench`` is optional: it is imported when :func:`model` is called, and a clear
``ImportError`` says how to install it when it is missing.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import numbers
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

import sim
from sim.errors import MAX_INT, ScenarioError

from .seeds import Streams, run_seed_sequence


class ModelSpecError(ScenarioError):
    """An argument of :func:`model` that cannot be used (a path, range, level, outcome or option)."""

    what = "EMA Workbench model"


Statistic = Literal["headline", "mean", "final"]
STATISTICS = ("headline", "mean", "final")
#: Where errors about the factory's arguments say they come from.
SOURCE = "experiments.ema.model"
#: Keyword EMA's ReplicatorModel passes to say which replication runs.
REPLICATION = "replication"
#: How to install the optional dependency.
INSTALL_HINT = "pip install 'ema_workbench>=3,<4' (or pip install 'channelsim[dev]')"


def _ema() -> Any:
    """Import ``ema_workbench`` (optional), with an error that says how to install it."""
    try:
        with warnings.catch_warnings():  # "ipyparallel not installed": irrelevant to the evaluators used here
            warnings.filterwarnings("ignore", message=".*ipyparallel.*", category=UserWarning)
            import ema_workbench
    except ImportError as err:
        raise ImportError(f"experiments.ema needs EMA Workbench 3, which is not installed ({err}); install it "
                          f"with: {INSTALL_HINT}") from None
    major = int(str(getattr(ema_workbench, "__version__", "0")).split(".")[0] or 0)
    if major < 3:
        raise ImportError(f"experiments.ema needs EMA Workbench 3, found {ema_workbench.__version__}; upgrade with: "
                          f"{INSTALL_HINT}")
    return ema_workbench


def parameter_name(path: str) -> str:
    """The EMA parameter name of a dotted scenario path: ``incentives.mdf.scale`` -> ``incentives__mdf__scale``."""
    return "__".join(p for p in path.replace("__", ".").split(".") if p)


def point_key(values: Mapping[str, Any]) -> int:
    """A 63-bit digest of an experiment's parameter values (the design point of ``streams="independent"``).

    The same values give the same key in any process; the key does not depend on the order of the mapping.
    """
    text = json.dumps({str(k): _plain(v) for k, v in values.items()}, sort_keys=True, default=str)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def outcome_names(scenario: sim.Scenario, statistic: Statistic = "headline") -> list[str]:
    """The KPI names :func:`model` accepts as outcomes for ``statistic`` (in the model's order)."""
    if statistic == "headline":
        from sim.run import FLOW_KPIS, LEVEL_KPIS

        return [*FLOW_KPIS, *LEVEL_KPIS, "incentive_roi", "active_partners_end"]
    from sim.reporters import model_reporters

    return list(model_reporters(scenario))


def reduce_kpis(kpis: pd.DataFrame, outcomes: Sequence[str], statistic: Statistic = "headline") -> dict[str, float]:
    """One value per outcome from a run's monthly KPIs (see the module's docstring for ``statistic``)."""
    if statistic == "headline":
        h = sim.headline(kpis)
        return {k: float(h[k]) for k in outcomes}
    if statistic == "mean":
        return {k: float(kpis[k].mean()) for k in outcomes}
    if statistic == "final":
        last = kpis.sort_values("month").iloc[-1]
        return {k: float(last[k]) for k in outcomes}
    raise ValueError(f"statistic {statistic!r}: allowed: {', '.join(STATISTICS)}")


# ---------------------------------------------------------------------- the function EMA calls
@dataclass(frozen=True)
class ScenarioFunction:
    """The callable an EMA model runs: sampled values in, one value per outcome out (picklable).

    Attributes:
        base: the scenario every experiment starts from.
        paths: EMA parameter name -> dotted scenario path.
        outcomes: KPI names returned.
        statistic: how each KPI is reduced over the reported months.
        seed: the base seed.
        streams: ``common`` or ``independent`` (see the module's docstring).
        policies: replacement policy objects for :func:`sim.run`.
        warmup: the scenario of the warm-up months for :func:`sim.run`.
    """

    base: sim.Scenario
    paths: Mapping[str, str]
    outcomes: tuple[str, ...]
    statistic: Statistic = "headline"
    seed: int = 0
    streams: Streams = "common"
    policies: sim.Policies | None = None
    warmup: sim.Scenario | None = None

    def overrides(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Dotted path -> value of one experiment's parameters (the replication left out).

        Raises:
            ModelSpecError: a parameter that is none of the model's.
        """
        unknown = [k for k in params if k not in self.paths and k != REPLICATION]
        if unknown:
            raise ModelSpecError(SOURCE, [(k, params[k], f"not a parameter of this model; allowed: "
                                                        f"{', '.join(self.paths) or '(none)'}") for k in unknown])
        return {self.paths[k]: _plain(v) for k, v in params.items() if k != REPLICATION}

    def scenario(self, params: Mapping[str, Any]) -> sim.Scenario:
        """The scenario one experiment runs."""
        return self.base.with_overrides(self.overrides(params), source=SOURCE)

    def seed_sequence(self, params: Mapping[str, Any]) -> np.random.SeedSequence:
        """The ``SeedSequence`` one experiment (and replication) runs with."""
        r = int(params.get(REPLICATION, 0))
        values = {k: v for k, v in params.items() if k != REPLICATION}
        point = point_key(values) if self.streams == "independent" else 0
        return run_seed_sequence(self.seed, point, r, self.streams)

    def run(self, params: Mapping[str, Any]) -> sim.RunResult:
        """:func:`sim.run` of one experiment."""
        return sim.run(self.scenario(params), self.seed_sequence(params), policies=self.policies,
                       warmup=self.warmup)

    def __call__(self, **params: Any) -> dict[str, float]:
        return reduce_kpis(self.run(params).kpis, self.outcomes, self.statistic)


# ---------------------------------------------------------------------- the factory
Spec = Any  # (low, high) | {"low", "high", "integer"} | [levels] | {"levels": [...]} | an ema_workbench Parameter


def model(
    scenario: sim.Scenario | str | None = None,
    uncertainties: Mapping[str, Spec] | Sequence[Any] | None = None,
    outcomes: Sequence[str] | None = None,
    *,
    levers: Mapping[str, Spec] | Sequence[Any] | None = None,
    statistic: Statistic = "headline",
    seed: int = 0,
    replications: int | None = None,
    streams: Streams = "common",
    name: str = "channelsim",
    policies: sim.Policies | None = None,
    warmup: sim.Scenario | None = None,
) -> Any:
    """An ``ema_workbench`` model that runs :func:`sim.run` on ``scenario`` with sampled overrides.

    Args:
        scenario: the base scenario: a :class:`sim.Scenario`, a scenario name or file
            (:func:`experiments.io.load_scenario`), or None for the baseline.
        uncertainties: dotted scenario path -> a range ``(low, high)`` or ``{"low": .., "high": ..,
            "integer": bool}`` (an ``IntegerParameter`` when both ends are integers and the field holds an
            integer, else a ``RealParameter``), or a list of levels ``[a, b, ...]`` / ``{"levels": [...]}``
            (a ``CategoricalParameter``); or a list of ``ema_workbench`` parameters named by dunder paths.
        outcomes: KPI reporter names (:func:`outcome_names`); every headline KPI when None.
        levers: policy levers, given as ``uncertainties`` are (sampled with ``policies=`` in EMA).
        statistic: ``headline`` (totals of flows, means of levels), ``mean`` (horizon mean) or
            ``final`` (last reported month) of each outcome KPI.
        seed: the base seed of every experiment's stream.
        replications: None for one run per experiment (``Model``), or the number of replications
            (``ReplicatorModel``: each outcome is the mean over the replications).
        streams: ``common`` (replication ``r`` of every experiment runs ``sim.seed_sequence(seed, r)``)
            or ``independent`` (the stream also depends on the experiment's values, :func:`point_key`).
        name: the model's name (a Python identifier).
        policies: replacement policy objects for :func:`sim.run`.
        warmup: the scenario of the warm-up months for :func:`sim.run`.

    Returns:
        An ``ema_workbench.Model`` (or ``ReplicatorModel``) with uncertainties, levers and outcomes set;
        its ``function`` is a :class:`ScenarioFunction`.

    Raises:
        ImportError: ``ema_workbench`` 3 is not installed (the message says how to install it).
        ModelSpecError: (a :class:`sim.ScenarioError`) a path that does not exist in the scenario, a range
            or level the field does not accept, an unknown outcome, or another bad argument; the message
            names the argument, the path, the value and what is allowed.
    """
    ema = _ema()
    base = _base(scenario)
    problems: list[tuple[str, Any, str]] = []
    if statistic not in STATISTICS:
        problems.append(("statistic", statistic, f"allowed: {', '.join(STATISTICS)}"))
    if streams not in ("common", "independent"):
        problems.append(("streams", streams, "allowed: common, independent"))
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= int(seed) <= MAX_INT:
        problems.append(("seed", seed, "a non-negative integer below 2**63"))
    if replications is not None and (isinstance(replications, bool) or not isinstance(replications, numbers.Integral)
                                     or not 1 <= int(replications) <= 1000):
        problems.append(("replications", replications, "None, or an integer from 1 to 1000"))
    if not isinstance(name, str) or not name.isidentifier():
        problems.append(("name", name, "a Python identifier (EMA Workbench 3 requires one)"))
    if problems:
        raise ModelSpecError(SOURCE, problems)

    paths: dict[str, str] = {}
    unc = _parameters(ema, base, uncertainties, "uncertainties", paths)
    lev = _parameters(ema, base, levers, "levers", paths)

    allowed = outcome_names(base, statistic)
    wanted = list(outcomes) if outcomes is not None else list(allowed)
    bad = [o for o in wanted if o not in allowed]
    if isinstance(outcomes, str) or bad or not wanted:
        raise ModelSpecError(SOURCE, [("outcomes", bad or outcomes,
                                      f"a non-empty list of KPI names for statistic {statistic!r}; allowed: "
                                      f"{', '.join(allowed)}")])
    if len(set(wanted)) != len(wanted):
        raise ModelSpecError(SOURCE, [("outcomes", wanted, "each KPI at most once")])

    fn = ScenarioFunction(base=base, paths=paths, outcomes=tuple(wanted), statistic=statistic, seed=int(seed),
                          streams=streams, policies=policies, warmup=warmup)
    if replications is None:
        m = ema.Model(name, function=fn)
        m.outcomes = [ema.ScalarOutcome(o) for o in wanted]
    else:
        m = ema.ReplicatorModel(name, function=fn)
        m.replications = [{REPLICATION: r} for r in range(int(replications))]
        # the mean over replications (EMA keeps one outcome class per name in a process, so no ArrayOutcome here)
        m.outcomes = [ema.ScalarOutcome(o, function=_mean) for o in wanted]
    clash = [p for p in paths if hasattr(m, p)]
    if clash:  # EMA sets a lever named like a model attribute on the model instead of passing it
        raise ModelSpecError(SOURCE, [("uncertainties/levers", clash, "paths that are not attributes of an "
                                                                     "ema_workbench model")])
    m.uncertainties = unc
    m.levers = lev
    return m


def _mean(values: Sequence[float]) -> float:
    """Mean over replications (module level: picklable for EMA's multiprocessing evaluator)."""
    return float(np.mean(values))


def _base(scenario: sim.Scenario | str | None) -> sim.Scenario:
    if scenario is None:
        return sim.Scenario()
    if isinstance(scenario, sim.Scenario):
        return scenario
    if isinstance(scenario, str):
        from .io import load_scenario

        return load_scenario(scenario)
    raise ModelSpecError(SOURCE, [("scenario", type(scenario).__name__, "a sim.Scenario, a scenario name or file, "
                                                                       "or None (the baseline)")])


def _parameters(ema: Any, base: sim.Scenario, specs: Any, arg: str, paths: dict[str, str]) -> list[Any]:
    """EMA parameters of ``specs``, each path checked against ``base``; fills ``paths`` (name -> path)."""
    if specs is None:
        return []
    if isinstance(specs, Mapping):
        items = list(specs.items())
    elif isinstance(specs, Sequence) and not isinstance(specs, str):
        items = []
        for p in specs:
            if not isinstance(p, ema.em_framework.parameters.Parameter):
                raise ModelSpecError(SOURCE, [(arg, p, "a mapping of dotted scenario paths to ranges or levels, or "
                                                      "a list of ema_workbench parameters")])
            items.append((p.name, p))
    else:
        raise ModelSpecError(SOURCE, [(arg, specs, "a mapping of dotted scenario paths to ranges or levels")])
    data = base.model_dump(mode="python")
    out = []
    for path, spec in items:
        where = f"{arg}[{path!r}]"
        if not isinstance(path, str) or not path:
            raise ModelSpecError(SOURCE, [(where, path, "a dotted scenario path (see docs/SCENARIOS.md)")])
        pname = parameter_name(path)
        dotted = pname.replace("__", ".")
        if not pname.isidentifier():
            raise ModelSpecError(SOURCE, [(where, path, "a path whose parts are identifiers (address a tier whose "
                                                       "name is not one by its index: tiering.tiers.0....)")])
        if pname in paths:
            raise ModelSpecError(SOURCE, [(where, path, "each scenario path at most once (across uncertainties "
                                                       "and levers)")])
        current = _current(data, dotted, where)
        param, values = _parameter(ema, pname, spec, current, where)
        for v in values:
            try:
                base.with_overrides({dotted: _plain(v)}, source=SOURCE)
            except ScenarioError as err:
                raise ModelSpecError(SOURCE, [(where, v, f"not accepted by the scenario: {a}")
                                             for _, _, a in err.problems]) from None
        paths[pname] = dotted
        out.append(param)
    return out


def _current(data: dict[str, Any], path: str, where: str) -> Any:
    """The value at ``path`` in the scenario's data (errors name the argument and the allowed keys)."""
    from sim.overrides import _list_index, set_path

    probe = copy.deepcopy(data)
    try:
        set_path(probe, path, _Marker, source=SOURCE)
    except ScenarioError as err:
        raise ModelSpecError(SOURCE, [(where, path, a) for _, _, a in err.problems]) from None
    node: Any = data
    for key in path.split("."):
        node = node[key] if isinstance(node, dict) else node[_list_index(node, key)]  # tiers: by index or name
    if isinstance(node, dict | list) and not isinstance(node, str):
        raise ModelSpecError(SOURCE, [(where, path, "a path to a value, not a section; allowed below it: "
                                                   + (", ".join(map(str, node)) if isinstance(node, dict) else
                                                      f"an index 0..{len(node) - 1}"))])
    return node


class _Marker:
    """Placeholder set at a path to check that it exists."""


def _parameter(ema: Any, pname: str, spec: Any, current: Any, where: str) -> tuple[Any, list[Any]]:
    """The EMA parameter for one spec and the values to check against the scenario."""
    P = ema.em_framework.parameters
    if isinstance(spec, P.Parameter):
        if isinstance(spec, P.CategoricalParameter):
            return spec, [c.value for c in spec.categories]
        return spec, [spec.lower_bound, spec.upper_bound]
    if isinstance(spec, Mapping) and "levels" in spec:
        spec = list(spec["levels"])
    if isinstance(spec, list):
        if not spec:
            raise ModelSpecError(SOURCE, [(where, spec, "at least one level")])
        return P.CategoricalParameter(pname, spec), spec
    integer = None
    if isinstance(spec, Mapping):
        extra = set(spec) - {"low", "high", "integer"}
        if extra or not {"low", "high"} <= set(spec):
            raise ModelSpecError(SOURCE, [(where, spec, "a range {low, high[, integer]} or {levels: [...]}")])
        low, high, integer = spec["low"], spec["high"], spec.get("integer")
    elif isinstance(spec, tuple) and len(spec) == 2:
        low, high = spec
    else:
        raise ModelSpecError(SOURCE, [(where, spec, "a range (low, high), {low, high}, a list of levels, or an "
                                                   "ema_workbench parameter")])
    for v in (low, high):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(float(v)):
            raise ModelSpecError(SOURCE, [(where, spec, "a range of two finite numbers (use a list of levels "
                                                       "for other values)")])
    if not low < high:
        raise ModelSpecError(SOURCE, [(where, spec, "a range with low < high")])
    if isinstance(current, bool) or not isinstance(current, numbers.Real):
        raise ModelSpecError(SOURCE, [(where, spec, f"the field holds {type(current).__name__} "
                                                   f"{current!r}, not a number: give a list of levels")])
    if integer is None:
        integer = isinstance(current, numbers.Integral) and all(isinstance(v, numbers.Integral) for v in (low, high))
    if integer:
        if not all(float(v).is_integer() for v in (low, high)):
            raise ModelSpecError(SOURCE, [(where, spec, "integer ends for an integer range")])
        return P.IntegerParameter(pname, int(low), int(high)), [int(low), int(high)]
    if isinstance(current, numbers.Integral):
        raise ModelSpecError(SOURCE, [(where, spec, f"the field holds an integer ({current!r}): a range of "
                                                   "integers")])
    return P.RealParameter(pname, float(low), float(high)), [float(low), float(high)]


# ---------------------------------------------------------------------- reproducing an experiment
def reproduce(m: Any, experiments: pd.DataFrame, index: int, replication: int = 0) -> sim.RunResult:
    """:func:`sim.run` of one experiment of an EMA results table, with the stream the model used.

    Args:
        m: the model :func:`model` returned.
        experiments: the experiments table ``perform_experiments`` returned.
        index: the experiment's row label in it.
        replication: which replication (0 for a ``Model``).
    """
    fn: ScenarioFunction = m.function
    row = experiments.loc[index]
    params = {k: row[k] for k in fn.paths if k in row.index}
    params[REPLICATION] = int(replication)
    return fn.run(params)


__all__ = ["STATISTICS", "ModelSpecError", "ScenarioFunction", "model", "outcome_names", "parameter_name", "point_key",
           "reduce_kpis", "reproduce"]
