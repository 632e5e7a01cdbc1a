"""Experiment files and their designs: which scenarios to run, how many times, with which outputs.

An experiment file is YAML (see ``docs/EXPERIMENTS.md``)::

    name: tier_threshold_sweep
    base: baseline                     # a scenario name (scenarios/) or a path
    overrides: {market.n_accounts: 10000}
    factors:
      tiering.tiers.gold.min_ttm_revenue: {levels: [200000, 300000, 400000]}
      incentives.mdf.scale: {low: 0.5, high: 1.5}
    design: {kind: full_factorial, n_levels: 3}
    replications: 5
    seed: 20261130
    streams: common                    # or independent
    outputs: {summary: [revenue_total, gross_profit], monthly: [revenue_total]}

Every sampler works on the unit hypercube and is always seeded; a design point's
unit coordinates are then mapped to factor values (a range maps linearly, or
logarithmically with ``scale: log``; a list of levels maps by equal-width bins).

An experiment is bounded (:mod:`experiments.limits`): at most ``MAX_POINTS`` design
points and ``MAX_RUNS`` runs (points x replications), computed from the file before
any design is built; numbers are finite; the file is read with the same YAML limits
as a scenario; the base is a scenario file (``.yaml``/``.yml``) found as ``extends``
targets are.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

import sim
from sim.errors import HIDDEN, Described, InputError, number_problems

from .limits import MAX_FACTORS, MAX_INT, MAX_LEVELS, MAX_POINTS, MAX_RUNS

DesignKind = Literal["full_factorial", "latin_hypercube", "sobol", "saltelli", "morris"]


class ExperimentError(InputError):
    """An experiment file that cannot be used; names the file, the field, the value and what is allowed."""

    what = "experiment"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Factor(_Strict):
    """One factor: a scenario path with either a list of ``levels`` or a ``low``..``high`` range."""

    path: str = Field(description="dotted scenario path, e.g. incentives.mdf.scale")
    levels: list[Any] | None = Field(None, max_length=MAX_LEVELS,
                                     description="the values to try (any type, e.g. lists or names)")
    low: float | None = Field(None, description="lower end of a numeric range")
    high: float | None = Field(None, description="upper end of a numeric range")
    scale: Literal["linear", "log"] = Field("linear", description="how the unit interval maps onto the range")
    integer: bool = Field(False, description="round sampled values to integers")
    n_levels: int | None = Field(None, ge=2, le=MAX_LEVELS,
                                 description="evenly spaced levels of a range in a full factorial")

    @model_validator(mode="after")
    def _one_kind(self) -> Factor:
        has_levels = self.levels is not None
        has_range = self.low is not None or self.high is not None
        if has_levels == has_range:
            raise ValueError("give either 'levels' or both 'low' and 'high'")
        if has_levels and len(self.levels) == 0:
            raise ValueError("'levels' must not be empty")
        if has_range:
            if self.low is None or self.high is None:
                raise ValueError("a range needs both 'low' and 'high'")
            if not self.high > self.low:
                raise ValueError(f"'high' must exceed 'low', got low={self.low}, high={self.high}")
            if self.scale == "log" and self.low <= 0:
                raise ValueError("a log-scale range needs low > 0")
        return self

    @property
    def is_range(self) -> bool:
        return self.levels is None

    def from_unit(self, u: float) -> Any:
        """The factor value at unit coordinate ``u`` in [0, 1]."""
        u = min(max(float(u), 0.0), 1.0)
        if self.levels is not None:
            k = len(self.levels)
            return self.levels[min(int(math.floor(u * k)), k - 1)]
        lo, hi = float(self.low), float(self.high)  # type: ignore[arg-type]
        x = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))) if self.scale == "log" else lo + u * (hi - lo)
        return int(round(x)) if self.integer else x

    def factorial_levels(self, default_n: int) -> list[Any]:
        """Levels used by a full factorial: the listed levels, or ``n_levels`` evenly spaced over the range."""
        if self.levels is not None:
            return list(self.levels)
        n = self.n_levels or default_n
        return [self.from_unit(u) for u in np.linspace(0.0, 1.0, n)]


class DesignSpec(_Strict):
    kind: DesignKind = Field("full_factorial", description="the sampler")
    n: int | None = Field(None, ge=1, le=MAX_POINTS,
                          description="samples (latin_hypercube, sobol), base samples (saltelli, a power of 2) or "
                                      "trajectories (morris)")
    n_levels: int = Field(3, ge=2, le=MAX_LEVELS, description="levels of each range in a full factorial")
    levels: int = Field(4, ge=2, le=1_000, description="grid levels of a Morris design (SALib num_levels)")
    second_order: bool = Field(False, description="saltelli: also sample for second-order Sobol indices")
    scramble: bool = Field(True, description="sobol/latin_hypercube: scramble (randomise) the sequence")
    seed: int | None = Field(None, ge=0, le=MAX_INT, description="sampler seed; the experiment seed when omitted")

    @model_validator(mode="after")
    def _needs_n(self) -> DesignSpec:
        if self.kind != "full_factorial" and self.n is None:
            raise ValueError(f"design kind '{self.kind}' needs 'n'")
        if self.kind == "saltelli" and self.n is not None and (self.n & (self.n - 1)):
            raise ValueError(f"saltelli needs n to be a power of 2, got {self.n}")
        return self


class OutputSpec(_Strict):
    summary: list[str] | Literal["all"] = Field("all", description="headline KPIs to keep (sim.headline), or 'all'")
    monthly: list[str] | Literal["all"] = Field(default_factory=list, description="monthly KPI series to keep")


class Experiment(_Strict):
    """A validated experiment: base scenario, factors, design, replications, seed and outputs."""

    name: str = Field(description="short name")
    description: str = ""
    base: str = Field("baseline", description="scenario name (scenarios/) or path, relative to the experiment file")
    overrides: dict[str, Any] = Field(default_factory=dict, description="dotted paths applied to the base scenario")
    factors: list[Factor] = Field(default_factory=list, max_length=MAX_FACTORS)
    design: DesignSpec = Field(default_factory=DesignSpec)
    replications: int = Field(1, ge=1, le=100_000)
    seed: int = Field(0, ge=0, le=MAX_INT)
    streams: Literal["common", "independent"] = Field("common", description="random streams across design points")
    outputs: OutputSpec = Field(default_factory=OutputSpec)
    arms: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="paired what-ifs run at every design point and replication: each warms up on the point's "
        "scenario with the same seed and takes effect at the first reported month; outputs KPI@arm and the "
        "effect KPI:arm (arm minus the point)",
    )
    # Not part of the file: where it came from and its text (for the manifest and resume checks).
    source: str = Field("<string>", exclude=True)
    text: str = Field("", exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _factor_mapping(cls, data: Any) -> Any:
        """Accept ``factors`` as a mapping ``{path: spec}`` as well as a list of specs with ``path``."""
        if isinstance(data, dict) and isinstance(data.get("factors"), dict):
            data = dict(data)
            out = []
            for path, spec in data["factors"].items():
                spec = {"levels": spec} if isinstance(spec, list) else spec
                out.append({"path": path, **spec} if isinstance(spec, dict) else spec)
            data["factors"] = out
        return data

    @model_validator(mode="after")
    def _unique(self) -> Experiment:
        paths = [f.path for f in self.factors]
        if len(set(paths)) != len(paths):
            raise ValueError(f"factor paths must be unique, got {paths}")
        if self.design.kind in ("saltelli", "morris") and len(self.factors) < 2:
            raise ValueError(f"a {self.design.kind} design needs at least 2 factors")
        points = design_size(self)
        if points > MAX_POINTS:
            raise ValueError(f"the design has {points:,} points; at most {MAX_POINTS:,} are allowed "
                             "(fewer levels, factors or samples)")
        if points * self.replications > MAX_RUNS:
            raise ValueError(f"{points:,} points x {self.replications:,} replications = "
                             f"{points * self.replications:,} runs; at most {MAX_RUNS:,} are allowed")
        return self

    # ------------------------------------------------------------------ derived
    @property
    def factor_names(self) -> list[str]:
        return [f.path for f in self.factors]

    @property
    def sha256(self) -> str:
        """Fingerprint of the experiment's content (not of comments or formatting)."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def summary_outputs(self) -> list[str]:
        """The summary KPIs stored per run; with arms, also ``KPI@arm`` and the effects ``KPI:arm``."""
        base = list(SUMMARY_KPIS) if self.outputs.summary == "all" else list(self.outputs.summary)
        return base + [f"{k}{sep}{arm}" for arm in self.arms for sep in ("@", ":") for k in base]

    def base_summary_outputs(self) -> list[str]:
        return list(SUMMARY_KPIS) if self.outputs.summary == "all" else list(self.outputs.summary)

    def monthly_outputs(self) -> list[str] | Literal["all"]:
        return self.outputs.monthly

    def base_scenario(self) -> sim.Scenario:
        """The base scenario with the experiment's overrides applied (errors name the experiment file).

        ``base`` names a scenario file (``.yaml``/``.yml``) as an ``extends`` does: a path relative
        to the experiment file's folder, or to the current folder, or a name in ``scenarios/``.
        """
        from sim.overrides import apply_overrides

        from .io import load_scenario, resolve_scenario_path

        ref = self.base
        if self.source not in ("<string>", "") and not _looks_like_name(ref) and not Path(ref).is_absolute():
            for cand in (Path(self.source).parent / ref, Path(self.source).parent / f"{ref}.yaml",
                         Path(self.source).parent / f"{ref}.yml"):
                if cand.suffix in (".yaml", ".yml") and cand.is_file():
                    ref = str(cand)
                    break
        try:
            path = resolve_scenario_path(ref)
        except sim.ScenarioError as err:
            raise ExperimentError(self.source, [("base", self.base, err.problems[0][2])]) from None
        scenario = load_scenario(path, referenced=True)
        if self.overrides:
            try:
                scenario = apply_overrides(scenario, self.overrides, source=self.source, strict=True)
            except sim.ScenarioError as err:
                raise ExperimentError(self.source, [(f"overrides.{f}", v, a) for f, v, a in err.problems]) from None
        return scenario

    def resolved_sha256(self, base: sim.Scenario | None = None) -> str:
        """Fingerprint of what the experiment runs: its content and the resolved base scenario (every field).

        Two experiments with the same file but a base scenario edited in between have
        different fingerprints (a resume checks this, see :class:`experiments.store.RunStore`).
        """
        base = base if base is not None else self.base_scenario()
        blob = json.dumps({"experiment": self.model_dump(mode="json"), "base": base.model_dump(mode="json")},
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def design_table(self) -> pd.DataFrame:
        """One row per design point: ``point``, the unit coordinates ``u:<path>`` and the factor values."""
        return build_design(self)

    @property
    def n_points(self) -> int:
        return len(self.design_table())


def _looks_like_name(ref: str) -> bool:
    return "/" not in ref and not ref.endswith((".yaml", ".yml"))


def design_size(exp: Experiment) -> int:
    """The number of design points ``exp`` gives, computed from its specification (no design is built)."""
    spec, k = exp.design, len(exp.factors)
    if spec.kind == "full_factorial" or k == 0:
        size = 1
        for f in exp.factors:
            size *= len(f.levels) if f.levels is not None else (f.n_levels or spec.n_levels)
            if size > MAX_RUNS:  # the exact figure no longer matters
                return size
        return size
    n = spec.n or 0
    if spec.kind == "saltelli":
        return n * (2 * k + 2 if spec.second_order else k + 2)
    if spec.kind == "morris":
        return n * (k + 1)
    return n


# Headline KPIs available as summary outputs (``sim.headline``).
try:
    from sim.run import FLOW_KPIS as _FLOW
    from sim.run import LEVEL_KPIS as _LEVEL

    SUMMARY_KPIS: tuple[str, ...] = (*_FLOW, *_LEVEL, "incentive_roi", "active_partners_end")
except ImportError:  # pragma: no cover - older kernel
    SUMMARY_KPIS = ()


# ---------------------------------------------------------------------- loading
def parse_experiment(data: Any, source: str = "<string>", text: str = "") -> Experiment:
    """Validate a mapping as an :class:`Experiment`; errors name ``source``, field, value and what is allowed."""
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else "nothing" if data is None else f"a {type(data).__name__}"
        raise ExperimentError(source, [("(top level)", Described(f"<{kind}>"),
                                        "a mapping of experiment fields")])
    bad_keys = [k for k in data if not isinstance(k, str)]
    if bad_keys:
        raise ExperimentError(source, [(str(k)[:40], HIDDEN, "keys must be field names (text)") for k in bad_keys])
    problems = number_problems({k: v for k, v in data.items() if k not in ("source", "text")})
    if problems:
        raise ExperimentError(source, problems)
    try:
        exp = Experiment.model_validate({**data, "source": source, "text": text}, strict=True)
    except ValidationError as err:
        problems = []
        for e in err.errors(include_url=False):
            loc = ".".join(str(p) for p in e.get("loc", ()) if not str(p).startswith("function-")) or "(top level)"
            msg = e.get("msg", "invalid")
            value = e.get("input", "<missing>")
            if e.get("type") == "extra_forbidden":
                allowed = _allowed_keys(e.get("loc", ()))
                msg = f"unknown key; allowed: {allowed}"
                value = HIDDEN
            elif e.get("type") == "literal_error":
                msg = f"not allowed; {msg.lower()}"
            elif msg.startswith("Value error, "):
                msg = msg[len("Value error, "):]
            problems.append((loc, value, msg))
        raise ExperimentError(source, problems) from None
    _check_outputs(exp)
    return exp


def _allowed_keys(loc: tuple[Any, ...]) -> str:
    model: type[BaseModel] = Experiment
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        ann = getattr(field, "annotation", None) if field else None
        for cand in (Factor, DesignSpec, OutputSpec):
            if ann is cand or (ann is not None and cand.__name__ in str(ann)):
                model = cand
                break
    names = [n for n, f in model.model_fields.items() if not f.exclude]
    return ", ".join(names)


def _check_outputs(exp: Experiment) -> None:
    for arm, over in exp.arms.items():
        if not arm.isidentifier():
            raise ExperimentError(
                exp.source, [(f"arms.{arm}", arm, "an arm name is an identifier (letters, digits, _)")]
            )
        if not isinstance(over, dict) or not over:
            raise ExperimentError(exp.source, [(f"arms.{arm}", over, "a mapping of scenario paths to values")])
    if exp.outputs.summary != "all":
        bad = [k for k in exp.outputs.summary if k not in SUMMARY_KPIS]
        if bad:
            raise ExperimentError(exp.source, [("outputs.summary", bad, f"allowed: {', '.join(SUMMARY_KPIS)}")])


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate an experiment file; also checks the base scenario and every factor path.

    Raises:
        ExperimentError: naming the file, for a file that cannot be read, is not UTF-8, is larger
            than the limit, is broken YAML or YAML beyond the limits, or holds an invalid experiment.
        sim.ScenarioError: for a problem in the base scenario file.
    """
    from .io import _yaml_problem, read_text_limited
    from .limits import MAX_FILE_BYTES, load_yaml

    p = Path(path)
    try:
        text = read_text_limited(p)
    except OSError as err:
        raise ExperimentError(str(p), [("(file)", str(p), f"a readable experiment file "
                                                          f"({err.strerror or err})")]) from None
    except UnicodeDecodeError as err:
        raise ExperimentError(str(p), [("(file)", str(p), f"UTF-8 text ({err.reason} at byte {err.start})")]) \
            from None
    except ValueError as err:
        raise ExperimentError(str(p), [("(file)", str(p), f"an experiment file of at most {MAX_FILE_BYTES:,} bytes "
                                                          f"({err})")]) from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as err:
        raise ExperimentError(str(p), [_yaml_problem(err, text)]) from None
    exp = parse_experiment(data, source=str(p), text=text)
    check_factor_paths(exp)
    return exp


def check_factor_paths(exp: Experiment, base: sim.Scenario | None = None) -> sim.Scenario:
    """Fail early (naming the factor) when a factor path does not exist in the base scenario."""
    import copy

    from sim.overrides import set_path

    base = base if base is not None else exp.base_scenario()
    data = base.model_dump(mode="python")
    problems = []
    for i, f in enumerate(exp.factors):
        try:
            set_path(copy.deepcopy(data), f.path, None, source=exp.source)
        except sim.ScenarioError as err:
            problems += [(f"factors.{i}.path", f.path, a) for _, _, a in err.problems]
    for arm, over in exp.arms.items():
        try:
            base.with_overrides(over, source=exp.source)
        except sim.ScenarioError as err:
            problems += [(f"arms.{arm}.{f}", v, a) for f, v, a in err.problems]
    if problems:
        raise ExperimentError(exp.source, problems)
    return base


# ---------------------------------------------------------------------- designs
def unit_sample(exp: Experiment) -> np.ndarray:
    """The design in the unit hypercube, shape (points, factors). Always seeded."""
    d = len(exp.factors)
    spec = exp.design
    seed = exp.seed if spec.seed is None else spec.seed
    if d == 0:
        return np.zeros((1, 0))
    if spec.kind == "full_factorial":
        raise ValueError("a full factorial is built from levels, not sampled")
    if spec.kind == "latin_hypercube":
        from scipy.stats import qmc

        return qmc.LatinHypercube(d=d, scramble=spec.scramble, seed=np.random.default_rng(seed)).random(spec.n)
    if spec.kind == "sobol":
        from scipy.stats import qmc

        sampler = qmc.Sobol(d=d, scramble=spec.scramble, seed=np.random.default_rng(seed))
        m = int(math.ceil(math.log2(max(spec.n, 1))))
        return sampler.random_base2(m)[: spec.n] if (1 << m) >= spec.n else sampler.random(spec.n)
    problem = salib_problem(exp)
    if spec.kind == "saltelli":
        from SALib.sample import sobol as sobol_sample

        return sobol_sample.sample(problem, spec.n, calc_second_order=spec.second_order, scramble=spec.scramble,
                                   seed=seed)
    if spec.kind == "morris":
        from SALib.sample import morris as morris_sample

        return morris_sample.sample(problem, spec.n, num_levels=spec.levels, seed=seed)
    raise ValueError(f"unknown design kind {spec.kind}")  # pragma: no cover


def salib_problem(exp: Experiment) -> dict[str, Any]:
    """SALib's problem on the unit hypercube (factor values are mapped from it)."""
    return {"num_vars": len(exp.factors), "names": exp.factor_names, "bounds": [[0.0, 1.0]] * len(exp.factors)}


def build_design(exp: Experiment) -> pd.DataFrame:
    """The design table: ``point`` then ``u:<path>`` (unit coordinates) and ``<path>`` (values)."""
    names = exp.factor_names
    if exp.design.kind == "full_factorial" or not names:
        grids = [f.factorial_levels(exp.design.n_levels) for f in exp.factors]
        rows = list(itertools.product(*grids)) if grids else [()]
        units = []
        for combo in itertools.product(*[range(len(g)) for g in grids]) if grids else [()]:
            units.append([(i + 0.5) / len(g) if not f.is_range else (i / (len(g) - 1))
                          for i, g, f in zip(combo, grids, exp.factors, strict=True)])
        u = np.asarray(units, dtype=float).reshape(len(rows), len(names))
        values = [list(r) for r in rows]
    else:
        u = unit_sample(exp)
        values = [[f.from_unit(x) for f, x in zip(exp.factors, row, strict=True)] for row in u]
    # all columns at once (inserting them one by one fragments the frame)
    columns: dict[str, Any] = {"point": np.arange(len(values), dtype=np.int64)}
    for j, name in enumerate(names):
        columns[f"u:{name}"] = u[:, j]
    for j, name in enumerate(names):
        columns[name] = pd.Series([row[j] for row in values], dtype=object)
    return pd.DataFrame(columns)


def point_overrides(exp: Experiment, design: pd.DataFrame, point: int) -> dict[str, Any]:
    """The scenario overrides of one design point (plain Python values)."""
    row = design.iloc[point]
    return {name: _plain(row[name]) for name in exp.factor_names}


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


def factor_column_value(v: Any) -> Any:
    """How a factor value is stored in the results: scalars as is, anything else as JSON text."""
    v = _plain(v)
    if v is None or isinstance(v, bool | int | float | str):
        return v
    return json.dumps(v)


__all__ = [
    "DesignSpec", "Experiment", "ExperimentError", "Factor", "OutputSpec", "SUMMARY_KPIS", "build_design",
    "check_factor_paths", "design_size", "factor_column_value", "load_experiment", "parse_experiment",
    "point_overrides", "salib_problem", "unit_sample",
]
