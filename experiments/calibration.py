"""Calibrate a scenario to a PRM export: ABC-SMC (pyabc) on standardised moments, then a holdout forecast.

The pipeline (``channelsim calibrate DATA_DIR --out DIR`` calls :func:`calibrate`; docs/CALIBRATION.md):

1. **Moments** (:func:`moments`) are computed from a PRM export (:mod:`experiments.prm`): revenue by channel
   per year, partner revenue by tier, partner exits and tier migrations per partner-month, concentration,
   MDF payouts per partner revenue, the partner win rate, conflicts per month.  Observed and simulated
   moments come from the same function: simulated = ``moments(export_run(sim.run(...)))``.
2. **Pilot** at the base scenario: ``pilot`` replications with independent seeds give each moment's
   run-to-run standard deviation (the distance divides by the upper end of its 90 % interval).
3. **Screening** (identifiability): each calibrated parameter is moved from its prior's 10th to its 90th
   percentile (the others at their defaults), with common random numbers; a parameter whose moments do
   not move (no standardised change of 0.25 or more, none with a paired t above 2) is *not identifiable*:
   it is left out of the fit and keeps its default.
4. **Fit**: pyabc's ABC-SMC with a weighted Euclidean distance on the standardised moments, uniform priors
   from :data:`PARAMETERS`, and common random numbers (every candidate runs the same seeds).  The
   tolerance falls by the median of each generation's distances until it reaches :func:`tolerance` (the
   ``confidence`` quantile of the distance a run at the truth has from the data; a floored pyabc
   ``QuantileEpsilon``), so the final population is the set of parameters the data do not reject at that
   level: its intervals are the fit's uncertainty.  A parameter whose posterior sd is still 60 % or more of
   its prior's (:data:`SD_RATIO_IDENTIFIED`) is reported *not identifiable* and keeps its default.
5. **Holdout forecast**: the fit uses months 1..T-h; months T-h+1..T are forecast from posterior draws x
   fresh replications, with prediction intervals, against the observed values.

Runs execute in this process, on local processes (pyabc's multicore sampler) or on a Dask cluster
(pyabc's ``DaskDistributedSampler``).  pyabc keeps its database in a folder the caller gives (the CLI: a
temporary folder inside the output's staging folder).  pyabc would draw candidate parameters from
NumPy's global generator; :func:`calibrate` hands it a prior, a model prior and a perturbation kernel
that draw from the fit's own generator (:class:`Draws`), so a single-process fit is reproducible from
``seed`` and the global state is never touched.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import sim
from sim.errors import InputError
from sim.scenario import CHANNELS

#: Months of history a fit needs at the least (besides the holdout).
MIN_FIT_MONTHS = 12
#: A fitted parameter is identified when its posterior sd is below this share of its prior's.  A population that
#: is only a sample of the uniform prior has a smaller sd with probability 2 % for 10 particles and under 0.1 %
#: for 20 or more (100,000 simulated samples), so a prior passed through unchanged is not reported as a fit.
SD_RATIO_IDENTIFIED = 0.6


class CalibrationError(InputError):
    """Input a calibration cannot use (the data, the settings); one paragraph naming the value and what is allowed."""

    what = "calibration input"


# ---------------------------------------------------------------------------
# The parameters


@dataclass(frozen=True)
class Parameter:
    """A scenario field the calibration fits, with its uniform prior.

    Attributes:
        name: short name (the pyabc parameter and the column of the outputs).
        path: the scenario field (dotted path).
        low, high: the uniform prior's bounds, from the field's documented source.
        mechanism: what it governs (docs/MODEL.md's submodel).
        prior_source: why these bounds.
    """

    name: str
    path: str
    low: float
    high: float
    mechanism: str
    prior_source: str

    def quantile(self, q: float) -> float:
        return self.low + q * (self.high - self.low)


#: The parameters a PRM export can identify, with priors from each field's documented range (sim/scenario.py).
PARAMETERS: tuple[Parameter, ...] = (
    Parameter("bass_p", "market.bass_p", 0.01, 0.06, "S6 demand: Bass innovation (accounts entering the market "
              "unprompted)", "Sultan, Farley & Lehmann (1990): mean 0.03 over 213 diffusion studies; the bulk of "
              "the estimates lies within 0.01-0.06."),
    Parameter("bass_q", "market.bass_q", 0.15, 0.75, "S6 demand: Bass imitation (accounts entering because "
              "others have bought)", "Sultan, Farley & Lehmann (1990): mean 0.38; the bulk within 0.15-0.75."),
    Parameter("exit_drop_hazard", "partners.lifecycle.exit_drop_hazard", 0.004, 0.03, "S14 exit: hazard that a "
              "partner drops a line that only covers its costs", "Calibrated default 0.012 for about 12 % of "
              "partners leaving a year; the prior spans roughly 6-30 % a year."),
    Parameter("response_elasticity", "partners.mindshare.response_elasticity", 0.15, 0.6, "S3 effort: elasticity "
              "of sales to effort that sets how strongly partners' effort follows margin", "Albers, Mantrala & "
              "Sridhar (2010): mean 0.34 over personal-selling elasticities; most within 0.15-0.6."),
    Parameter("mdf_claim_rate", "incentives.mdf.claim_rate", 0.01, 0.05, "S4 MDF: base share of the available "
              "fund a partner claims each month", "Calibrated default 0.023 for 40-60 % of MDF unclaimed (ZINFI "
              "2016); the prior spans about 25-75 % unclaimed."),
)

#: What the issue names and the calibration does not fit, with the reason (written to the report).
NOT_CALIBRATED: dict[str, str] = {
    "win rates (market.competitor_strength, conflict.contest_effort)": "the partner win rate is matched as a "
    "moment, but the strength of competitors is confounded with the channel preferences and capacity that set "
    "the same win rate and revenue split; fitting it together with the demand parameters leaves a ridge",
    "exit hazard at the satisfaction pivot (partners.lifecycle.exit_hazard)": "at its default (0.0005 a month) "
    "it is a small part of the exits; the exits a PRM export records identify the dominant cause "
    "(exit_drop_hazard), not the split between causes",
    "compliance (partners.compliance.honesty_mean, gain_sensitivity)": "a PRM export records what was paid, not "
    "what was claimed, audited or caught, so over-claiming does not show in any moment",
    "MDF lead response (incentives.mdf.leads_per_1000, diminishing)": "MDF's effect on revenue is small against "
    "the run-to-run noise of revenue; the claim behaviour (mdf_claim_rate) is what the payouts identify",
}


class Draws:
    """The fit's own random numbers, handed to pyabc's prior, model prior and transition.

    pyabc draws candidates from NumPy's global generator; these objects replace the three places it
    draws (the prior, the one-model prior, the perturbation kernel), so that every draw of a fit comes
    from a ``numpy.random.Generator`` seeded by the fit's seed and nothing touches the global state.
    The process that made the object draws from ``SeedSequence(seed)``: a single-process fit is
    reproducible.  A worker process (pyabc's multicore sampler forks, Dask's workers unpickle) draws
    from ``SeedSequence(seed, spawn_key=(pid,))``, distinct from every other process, as pyabc's own
    re-seeding of each worker is (a parallel fit is not reproducible from run to run).
    """

    def __init__(self, seed: int):
        self.seed = int(seed)
        self._pid = os.getpid()
        self._generator: np.random.Generator | None = None

    def generator(self) -> np.random.Generator:
        pid = os.getpid()
        if self._generator is None or pid != getattr(self, "_at", None):
            key = () if pid == self._pid else (pid,)
            self._generator = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=key))
            self._at = pid
        return self._generator

    def __getstate__(self) -> dict:
        return {"seed": self.seed, "_pid": self._pid, "_generator": None}


def prior_distribution(parameters: Sequence[Parameter], draws: Draws | None = None) -> Any:
    """The uniform priors as a pyabc ``Distribution``, drawn from ``draws`` (the seed-0 fit's when None)."""
    import pyabc

    draws = draws if draws is not None else Draws(0)

    class Uniform(pyabc.RVBase):
        def __init__(self, low: float, high: float):
            self.low, self.high = float(low), float(high)

        def copy(self):
            return Uniform(self.low, self.high)

        def rvs(self, *args, **kwargs) -> float:  # noqa: ARG002 - pyabc's signature
            return float(self.low + (self.high - self.low) * draws.generator().random())

        def pdf(self, x, *args, **kwargs) -> float:  # noqa: ARG002
            return 1.0 / (self.high - self.low) if self.low <= x <= self.high else 0.0

        def pmf(self, x, *args, **kwargs) -> float:  # noqa: ARG002
            return 0.0

        def cdf(self, x, *args, **kwargs) -> float:  # noqa: ARG002
            return float(min(max((x - self.low) / (self.high - self.low), 0.0), 1.0))

    return pyabc.Distribution(**{p.name: Uniform(p.low, p.high) for p in parameters})


def _one_model_prior() -> Any:
    """The model prior pyabc needs, for a fit of one model: model 0, without a draw."""
    import pyabc

    class OnlyModel(pyabc.RVBase):
        def copy(self):
            return OnlyModel()

        def rvs(self, *args, **kwargs) -> int:  # noqa: ARG002
            return 0

        def pmf(self, x, *args, **kwargs) -> float:  # noqa: ARG002
            return 1.0 if x == 0 else 0.0

        def pdf(self, x, *args, **kwargs) -> float:  # noqa: ARG002
            return self.pmf(x)

        def cdf(self, x, *args, **kwargs) -> float:  # noqa: ARG002
            return 1.0 if x >= 0 else 0.0

    return OnlyModel()


def _transition(draws: Draws) -> Any:
    """The multivariate normal perturbation kernel of pyabc, drawing from ``draws``, not the global generator."""
    import pyabc
    from pyabc.parameters import Parameter as PyabcParameter

    class Kernel(pyabc.MultivariateNormalTransition):
        def rvs_single(self):
            rng = draws.generator()
            i = rng.choice(self._range, p=self.w)
            perturbed = self.X.iloc[i] + rng.multivariate_normal(np.zeros(self.cov.shape[0]), self.cov)
            return PyabcParameter(perturbed)

        def rvs(self, size: int | None = None):
            if size is None:
                return self.rvs_single()
            rng = draws.generator()
            idx = rng.choice(self._range, size=size, p=self.w)
            return self.X.iloc[idx] + rng.multivariate_normal(np.zeros(self.cov.shape[0]), self.cov, size=size)

    return Kernel()


def overrides(parameters: Sequence[Parameter], values: Mapping[str, float]) -> dict[str, float]:
    """Scenario overrides (dotted path -> value) for the parameters' values (by name)."""
    return {p.path: float(values[p.name]) for p in parameters}


def default_values(scenario: sim.Scenario, parameters: Sequence[Parameter]) -> dict[str, float]:
    out = {}
    for p in parameters:
        v: Any = scenario
        for part in p.path.split("."):
            v = v[part] if isinstance(v, Mapping) else getattr(v, part)
        out[p.name] = float(v)
    return out


def check_parameters(scenario: sim.Scenario, parameters: Sequence[Parameter]) -> None:
    """Every parameter names a scenario field and has a prior the field accepts (raises CalibrationError)."""
    names = [p.name for p in parameters]
    if len(set(names)) != len(names):
        raise CalibrationError("parameters", [("name", names, "distinct names")])
    for p in parameters:
        if not p.low < p.high:
            raise CalibrationError("parameters", [(p.name, (p.low, p.high), "low < high")])
        try:
            default_values(scenario, [p])
            scenario.with_overrides({p.path: p.low})
            scenario.with_overrides({p.path: p.high})
        except (AttributeError, KeyError, TypeError, ValueError) as e:
            raise CalibrationError("parameters", [(p.path, (p.low, p.high), f"a numeric scenario field whose "
                                                  f"range holds the prior ({str(e).splitlines()[0][:200]})")]) from None


# ---------------------------------------------------------------------------
# Moments of a PRM export


def month_numbers(values: pd.Series, first_month: Any) -> np.ndarray:
    """Months (``YYYY-MM`` strings or Period[M]) as numbers, ``first_month`` = 1; missing values -> 0."""
    first = pd.Period(str(first_month), freq="M")
    f = first.year * 12 + first.month - 1
    s = pd.Series(values).astype(str).str.strip().to_numpy(dtype=str)
    ok = np.char.str_len(s) == 7
    out = np.zeros(len(s), dtype=np.int64)
    if ok.any():
        v = pd.Series(s[ok])
        years = v.str.slice(0, 4).astype(np.int64).to_numpy()
        mons = v.str.slice(5, 7).astype(np.int64).to_numpy()
        out[ok] = years * 12 + mons - 1 - f + 1  # first month = 1
    return out


def _blocks(a: int, b: int, size: int = 12) -> list[tuple[int, int]]:
    """``a..b`` cut into blocks of ``size`` months (a short last block joins the one before it)."""
    out = []
    start = a
    while start <= b:
        end = min(start + size - 1, b)
        if out and end - start + 1 < size // 2:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
        start = end + 1
    return out


def moments(export: Any, window: tuple[int, int] | None = None, tiers: Sequence[str] | None = None
            ) -> dict[str, float]:
    """The calibration moments of a PRM export over ``window`` (month numbers, the export's first month = 1).

    Args:
        export: a :class:`experiments.prm.PRMExport` (partners, tiers, deals, payouts, optional conflicts).
        window: first and last month (inclusive); default the whole history.
        tiers: the tier names, lowest first (default: as they appear in the export); fixes which moments exist.

    Returns:
        name -> value; every value finite (a ratio with nothing to divide by is 0).
    """
    first = export.first_month
    n = int(export.n_months)
    a, b = window or (1, n)
    months = b - a + 1
    out: dict[str, float] = {}

    deals = export.deals
    dm = month_numbers(deals["month"], first)
    d = deals.assign(_m=dm)[(dm >= a) & (dm <= b)]
    won = d[d["outcome"].astype(str) == "won"]
    by = won.groupby(won["channel"].astype(str))["value"].sum()
    for ch in CHANNELS:
        out[f"revenue_{ch}"] = float(by.get(ch, 0.0)) / months
        out[f"log_revenue_{ch}"] = math.log(max(out[f"revenue_{ch}"], 1.0))
    for j, (s, e) in enumerate(_blocks(a, b)):
        blk = won[(won["_m"] >= s) & (won["_m"] <= e)]
        by = blk.groupby(blk["channel"].astype(str))["value"].sum()
        for ch in CHANNELS:
            out[f"revenue_{ch}_y{j + 1}"] = float(by.get(ch, 0.0)) / (e - s + 1)

    pdeals = d[d["channel"].astype(str) == "partner"]
    pwon = pdeals[pdeals["outcome"].astype(str) == "won"]
    out["partner_win_rate"] = float(len(pwon) / len(pdeals)) if len(pdeals) else 0.0
    out["partner_registered_share"] = (float(pdeals["registered"].astype(str).str.lower().isin(["true", "1"]).mean())
                                       if len(pdeals) else 0.0)
    prev = float(pwon["value"].sum())

    # tier of the partner at each won deal (tiers: the tier held from that month on)
    tt = export.tiers
    tiers = list(tiers) if tiers is not None else list(dict.fromkeys(tt["tier"].astype(str)))
    tm = tt.assign(_m=month_numbers(tt["month"], first), partner_id=tt["partner_id"].astype(str),
                   tier=tt["tier"].astype(str)).sort_values(["_m"], kind="stable")
    if len(pwon):
        w = pwon.assign(partner_id=pwon["partner_id"].astype(str)).sort_values("_m", kind="stable")
        joined = pd.merge_asof(w, tm[["_m", "partner_id", "tier"]], on="_m", by="partner_id", direction="backward")
        by_tier = joined.groupby("tier")["value"].sum()
    else:
        by_tier = pd.Series(dtype=float)
    for t in tiers:
        out[f"tier_share_{t}"] = float(by_tier.get(t, 0.0)) / prev if prev > 0 else 0.0

    # partner-months active in the window; exits, arrivals
    p = export.partners
    joined_m = month_numbers(p["joined"], first)
    exited_m = month_numbers(p["exited"], first)
    ex = np.where(exited_m == 0, np.iinfo(np.int64).max, exited_m)
    lo = np.maximum(joined_m, a)
    hi = np.minimum(ex, b)
    pm = float(np.clip(hi - lo + 1, 0, None).sum())
    in_win = (exited_m >= a) & (exited_m <= b)
    reasons = p["exit_reason"].astype(str).to_numpy()
    out["active_partners"] = pm / months
    out["exit_rate"] = float(in_win.sum()) / pm if pm else 0.0
    out["exit_choice_rate"] = float((in_win & (reasons == "partner_choice")).sum()) / pm if pm else 0.0
    out["arrivals_per_month"] = float(((joined_m >= a) & (joined_m <= b)).sum()) / months

    # tier migrations (a change of tier against the partner's previous row)
    rank = {t: i for i, t in enumerate(tiers)}
    tm2 = tm.sort_values(["partner_id", "_m"], kind="stable")
    r = tm2["tier"].map(rank).to_numpy(dtype=float)
    same = tm2["partner_id"].to_numpy()[1:] == tm2["partner_id"].to_numpy()[:-1]
    step = np.r_[np.nan, np.where(same, r[1:] - r[:-1], np.nan)]
    mig_in = ((tm2["_m"] >= a) & (tm2["_m"] <= b)).to_numpy()
    out["migrations_up_rate"] = float(((step > 0) & mig_in).sum()) / pm if pm else 0.0
    out["migrations_down_rate"] = float(((step < 0) & mig_in).sum()) / pm if pm else 0.0

    # concentration: share of partner revenue won by the top 20 % of partners active in the window
    active_ids = p["partner_id"].astype(str)[(lo <= hi)]
    rev = pwon.groupby(pwon["partner_id"].astype(str))["value"].sum().reindex(active_ids, fill_value=0.0)
    v = np.sort(rev.to_numpy(dtype=float))[::-1]
    top = max(1, int(round(0.2 * v.size))) if v.size else 0
    out["top20_share"] = float(v[:top].sum() / v.sum()) if v.size and v.sum() > 0 else 0.0

    # payouts: MDF and all levers per partner revenue
    pay = export.payouts
    pym = month_numbers(pay["month"], first)
    pw = pay[(pym >= a) & (pym <= b)]
    mdf = float(pw.loc[pw["lever"].astype(str) == "mdf", "amount"].sum())
    out["mdf_per_revenue"] = mdf / prev if prev > 0 else 0.0
    out["payouts_per_revenue"] = float(pw["amount"].sum()) / prev if prev > 0 else 0.0

    conflicts = getattr(export, "conflicts", None)
    if conflicts is not None:
        cm = month_numbers(conflicts["month"], first)
        c = conflicts[(cm >= a) & (cm <= b)]
        by = c.groupby(c["type"].astype(str)).size()
        for kind in ("horizontal", "vertical", "multichannel"):
            out[f"conflicts_{kind}"] = float(by.get(kind, 0)) / months
        out["conflicts_per_month"] = float(len(c)) / months
    return {k: (v if math.isfinite(v) else 0.0) for k, v in out.items()}


def fit_moments(tiers: Sequence[str], conflicts: bool = True) -> tuple[str, ...]:
    """The moments the distance uses: whole-window means (the yearly and per-tier ones are reported, not fitted).

    Eleven moments rather than all of :func:`moments`: every noisy moment added to the distance widens the
    tolerance a run at the truth needs, so the fit keeps one moment per mechanism.  Revenue enters as logs (its
    run-to-run noise is multiplicative and skewed); digital revenue, a small and heavy-tailed share, is reported
    but not fitted.
    """
    keys = ["log_revenue_partner", "log_revenue_direct", "partner_win_rate", f"tier_share_{tiers[-1]}",
            "active_partners", "exit_rate", "migrations_up_rate", "migrations_down_rate", "top20_share",
            "mdf_per_revenue"]
    return tuple(keys + (["conflicts_per_month"] if conflicts else []))


def monthly_series(export: Any, window: tuple[int, int]) -> dict[str, float]:
    """Per-month quantities forecast in the holdout: won revenue by channel and partner exits, month by month."""
    first = export.first_month
    deals = export.deals
    dm = month_numbers(deals["month"], first)
    won = deals.assign(_m=dm)[(dm >= window[0]) & (dm <= window[1]) & (deals["outcome"].astype(str) == "won")]
    by = won.groupby([won["_m"], won["channel"].astype(str)])["value"].sum()
    exm = month_numbers(export.partners["exited"], first)
    out = {}
    for m in range(window[0], window[1] + 1):
        for ch in CHANNELS:
            out[f"revenue_{ch}_m{m}"] = float(by.get((m, ch), 0.0))
        out[f"partner_exits_m{m}"] = float((exm == m).sum())
    return out


# ---------------------------------------------------------------------------
# The simulator


def export_of(scenario: sim.Scenario, seed: np.random.SeedSequence, start: str) -> Any:
    """The PRM export of one simulated run (``experiments.prm.export_run`` of ``sim.run``)."""
    from . import prm

    return prm.export_run(sim.run(scenario, seed, record_deals=True), start=start)


@dataclass(frozen=True)
class Simulator:
    """Parameters -> scenario overrides -> runs -> mean moments; the same seeds for every candidate (CRN).

    A module-level, picklable callable (pyabc's model): ``Simulator(...)(theta) -> {moment: value}``.
    """

    scenario: sim.Scenario
    parameters: tuple[Parameter, ...]
    seeds: tuple[tuple[int, tuple[int, ...]], ...]
    start: str
    window: tuple[int, int]
    tiers: tuple[str, ...]
    keys: tuple[str, ...] = ()
    simulate: Callable[[sim.Scenario, np.random.SeedSequence, str], Any] = export_of

    def scenario_at(self, theta: Mapping[str, float]) -> sim.Scenario:
        return self.scenario.with_overrides(overrides(self.parameters, theta), source="calibration")

    def each(self, theta: Mapping[str, float]) -> list[dict[str, float]]:
        scen = self.scenario_at(theta)
        return [moments(self.simulate(scen, sim.seed_sequence(e, *k), self.start), self.window, self.tiers)
                for e, k in self.seeds]

    def __call__(self, theta: Mapping[str, float]) -> dict[str, float]:
        runs = self.each(theta)
        keys = self.keys or tuple(runs[0])
        return {k: float(np.mean([r.get(k, 0.0) for r in runs])) for k in keys}


# ---------------------------------------------------------------------------
# pyabc pieces


def _floored_epsilon(floor: float, alpha: float = 0.5) -> Any:
    import pyabc

    class FlooredQuantileEpsilon(pyabc.epsilon.QuantileEpsilon):
        """pyabc's quantile epsilon that never falls below ``floor`` (the distance expected at the truth)."""

        def _update(self, t: int, weighted_distances: pd.DataFrame) -> None:
            super()._update(t, weighted_distances)
            self._look_up[t] = max(self._look_up[t], floor)

    return FlooredQuantileEpsilon(alpha=alpha)


@contextlib.contextmanager
def sampler(workers: int = 1, dask: str | None = None) -> Iterator[Any]:
    """The pyabc sampler: single-core, multicore (``workers`` processes) or Dask (``ADDRESS`` or ``local:N``)."""
    import pyabc

    if dask:
        from distributed import Client, LocalCluster

        if dask.startswith("local:"):
            try:
                n = int(dask.split(":", 1)[1])
            except ValueError:
                raise CalibrationError("--dask", [("--dask", dask, "local:N (N workers) or a scheduler address "
                                                  "such as tcp://host:8786")]) from None
            with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
                    Client(cl) as client:
                yield pyabc.sampler.DaskDistributedSampler(dask_client=client, batch_size=1)
        else:
            with Client(dask) as client:
                yield pyabc.sampler.DaskDistributedSampler(dask_client=client, batch_size=1)
    elif workers > 1:
        yield pyabc.sampler.MulticoreEvalParallelSampler(n_procs=workers)
    else:
        yield pyabc.sampler.SingleCoreSampler()


# ---------------------------------------------------------------------------
# Settings and results


@dataclass(frozen=True)
class Settings:
    """How hard the calibration works (defaults: the baseline-sized settings docs/PERFORMANCE.md times).

    Attributes:
        holdout: months at the end of the history held out and forecast.
        replications: runs per candidate (common random numbers: the same seeds for every candidate).
        pilot: independent runs at the base scenario for the moments' scale and the final tolerance.
        screen_replications: runs per end of the screening.
        population: ABC-SMC particles per generation.
        generations: most generations.
        confidence: the final tolerance is this quantile of the distance a run at the truth has from the data.
        draws, forecast_replications: posterior draws x runs each for the holdout forecast.
        interval: nominal coverage of the credible and prediction intervals.
        seed: the seed of the runs and of pyabc.
        max_simulations: start no generation after this many simulations (bounds the time: docs/PERFORMANCE.md).
        min_acceptance: a generation stops (and the fit keeps the one before) once it has run
            ``population / min_acceptance`` simulations without filling its population.
    """

    holdout: int = 6
    replications: int = 1
    pilot: int = 12
    screen_replications: int = 2
    population: int = 60
    generations: int = 6
    confidence: float = 0.9
    draws: int = 20
    forecast_replications: int = 1
    interval: float = 0.9
    seed: int = 0
    max_simulations: int = 1500
    min_acceptance: float = 0.1

    def check(self) -> None:
        bad = []
        for name in ("replications", "screen_replications", "population", "generations", "draws",
                     "forecast_replications", "max_simulations"):
            if int(getattr(self, name)) < 1:
                bad.append((name, getattr(self, name), "a whole number >= 1"))
        if self.pilot < 3:
            bad.append(("pilot", self.pilot, "a whole number >= 3 (the moments' spread needs several runs)"))
        if self.holdout < 1:
            bad.append(("holdout", self.holdout, "a whole number of months >= 1"))
        for name in ("confidence", "interval", "min_acceptance"):
            if not 0 < getattr(self, name) < 1:
                bad.append((name, getattr(self, name), "a share strictly between 0 and 1"))
        if not 0 <= self.seed <= 2**32 - 1:
            bad.append(("seed", self.seed, f"a whole number from 0 to {2**32 - 1}"))
        if bad:
            raise CalibrationError("settings", bad)


@dataclass
class Fit:
    """What :func:`calibrate` returns; the CLI writes it (``fitted.json``, ``moments.csv``, ``forecast.csv``...)."""

    parameters: pd.DataFrame          # one row per parameter: default, prior, status, estimate, intervals
    moments: pd.DataFrame             # observed, simulated at the defaults and at the estimate, scale
    screening: pd.DataFrame           # parameter x moment standardised changes
    posterior: pd.DataFrame           # final population: parameter columns and weight
    generations: pd.DataFrame         # t, epsilon, particles, simulations, acceptance rate
    forecast: pd.DataFrame            # holdout quantities: observed, mean, lower, upper, covered
    overrides: dict[str, float]       # the fitted scenario's overrides (identified parameters)
    info: dict[str, Any] = field(default_factory=dict)


def _quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    o = np.argsort(x)
    cw = np.cumsum(w[o]) / w.sum()
    return float(np.interp(q, cw - w[o] / (2 * w.sum()), x[o]))


def _scale(pilot: list[dict[str, float]], keys: Sequence[str]) -> dict[str, float]:
    """Each moment's run-to-run standard deviation: the upper end of its 90 % interval from the pilot runs.

    A pilot of a few runs underestimates a standard deviation often (and the moments of a small programme are
    heavy-tailed); dividing by the upper bound keeps an underestimated spread from making the fit's intervals
    too narrow: sd * sqrt((n - 1) / chi2_0.1(n - 1)), 1.57 x the sample sd for 8 runs, 1.36 x for 16.
    """
    from scipy import stats

    arr = np.array([[r[k] for k in keys] for r in pilot])
    n = arr.shape[0]
    inflate = math.sqrt((n - 1) / stats.chi2.ppf(0.1, n - 1))
    return dict(zip(keys, arr.std(axis=0, ddof=1) * inflate, strict=True))


def _distance(x: Mapping[str, float], y: Mapping[str, float], w: Mapping[str, float]) -> float:
    return float(math.sqrt(sum((w[k] * (x[k] - y[k])) ** 2 for k in w)))


def tolerance(n_moments: int, n_parameters: int, replications: int, confidence: float) -> float:
    """The tolerance: the distance of the data from parameters the data do not reject at level ``confidence``.

    With standardised, roughly normal moments the squared distance between the data and the mean of R runs at
    the truth is ``(1 + 1/R) chi2(k)`` for k moments.  Accepting the parameters within the
    ``(1 + 1/R) chi2(k - p + 1)`` quantile (p fitted parameters) gives each parameter's projection of the
    accepted set the nominal coverage ``confidence`` (the residual the parameters cannot fit takes k - p
    degrees of freedom).
    """
    from scipy import stats

    dof = max(n_moments - n_parameters + 1, 1)
    return float(math.sqrt((1 + 1 / replications) * stats.chi2.ppf(confidence, dof)))


def screen(simulator: Simulator, parameters: Sequence[Parameter], defaults: Mapping[str, float],
           scale: Mapping[str, float], log: Callable[[str], None] = lambda s: None
           ) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    """Each parameter at its prior's 10th and 90th percentile, the others at their defaults (CRN).

    Returns:
        the standardised change of every moment (rows: parameters), and per parameter its largest
        standardised change, largest paired |t| and the identifiable verdict.
    """
    rows, verdict = {}, {}
    for p in parameters:
        lo = simulator.each({**defaults, p.name: p.quantile(0.1)})
        hi = simulator.each({**defaults, p.name: p.quantile(0.9)})
        diffs = np.array([[h[k] - low[k] for k in scale] for h, low in zip(hi, lo, strict=True)])
        sd = np.array([scale[k] for k in scale])
        eff = diffs.mean(axis=0) / sd
        if len(diffs) > 1:
            se = diffs.std(axis=0, ddof=1) / math.sqrt(len(diffs))
            t = np.where(se > 0, np.abs(diffs.mean(axis=0)) / np.where(se > 0, se, 1), np.where(
                np.abs(diffs.mean(axis=0)) > 0, np.inf, 0.0))
        else:
            t = np.where(np.abs(eff) > 0, np.inf, 0.0)
        rows[p.name] = dict(zip(scale, eff, strict=True))
        big = float(np.max(np.abs(eff))) if eff.size else 0.0
        tmax = min(float(np.max(t)), 999.0) if t.size else 0.0
        verdict[p.name] = {"max_change": big, "max_t": tmax,
                           "moves": bool(big >= 0.25 and tmax >= 2.0),
                           "most_moved": max(rows[p.name], key=lambda k: abs(rows[p.name][k]))}
        log(f"screening {p.name}: largest standardised change {big:.2f} "
            f"({verdict[p.name]['most_moved']}), paired |t| {tmax:.1f}")
    return pd.DataFrame(rows).T, verdict


def check_history(observed: Any, settings: Settings) -> None:
    """The settings are valid and the export's history is long enough and has won deals (raises CalibrationError)."""
    settings.check()
    n = int(observed.n_months)
    if n - settings.holdout < MIN_FIT_MONTHS:
        most = n - MIN_FIT_MONTHS
        allowed = (f"at most {most} months" if most >= 1 else "a history of at least "
                   f"{MIN_FIT_MONTHS + 1} months") + (f": the history has {n} months and the fit needs at least "
                                                       f"{MIN_FIT_MONTHS} before the holdout")
        raise CalibrationError("export", [("holdout", settings.holdout, allowed)])
    deals = observed.deals
    if not (deals["outcome"].astype(str) == "won").any():
        raise CalibrationError("deals", [("outcome", "no 'won' row", "at least one won deal: the moments are "
                                          "shares of won revenue")])


def calibrate(observed: Any, base: sim.Scenario, settings: Settings = Settings(), *,
              parameters: Sequence[Parameter] = PARAMETERS, workers: int = 1, dask: str | None = None,
              db_dir: str | os.PathLike[str] | None = None, log: Callable[[str], None] = lambda s: None,
              simulate: Callable[[sim.Scenario, np.random.SeedSequence, str], Any] = export_of) -> Fit:
    """Fit ``parameters`` of ``base`` to the PRM export ``observed``; forecast the held-out months.

    Args:
        observed: the PRM export (:func:`experiments.prm.read_export`).
        base: the scenario the fit starts from (its size should be the programme's).
        settings: see :class:`Settings`.
        parameters: the candidates (default :data:`PARAMETERS`).
        workers: local processes for pyabc's multicore sampler (1: this process).
        dask: a Dask scheduler's address, or ``local:N`` for a local cluster of N workers (instead of workers).
        db_dir: folder for pyabc's database (default a temporary folder, removed).
        log: progress lines.
        simulate: (scenario, seed sequence, first month) -> PRM export of a run (tests may replace it).

    Raises:
        CalibrationError: settings or history the fit cannot use.
    """
    import pyabc

    check_history(observed, settings)
    check_parameters(base, parameters)
    n = int(observed.n_months)
    fit_months = n - settings.holdout
    start = str(pd.Period(str(observed.first_month), freq="M"))
    tiers = tuple(base.tier_names)
    fit_scen = base.with_overrides({"time.months": fit_months}, source="calibration")
    full_scen = base.with_overrides({"time.months": n}, source="calibration")
    t0 = time.time()
    seed = settings.seed
    obs = moments(observed, (1, fit_months), tiers)
    keys_all = tuple(obs)

    # pilot: independent seeds (point 1) at the defaults
    log(f"pilot: {settings.pilot} runs of {fit_months} months at the base scenario")
    defaults = default_values(base, parameters)
    pilot_sim = Simulator(fit_scen, tuple(parameters), tuple((seed, (1, r)) for r in range(settings.pilot)),
                          start, (1, fit_months), tiers, keys_all, simulate)
    pilot = pilot_sim.each(defaults)
    scale_all = _scale(pilot, keys_all)
    wanted = fit_moments(tiers, getattr(observed, "conflicts", None) is not None)
    keys = tuple(k for k in wanted if scale_all.get(k, 0) > 0)
    dropped = [k for k in wanted if scale_all.get(k, 0) <= 0]
    scale = {k: scale_all[k] for k in keys}
    weights = {k: 1.0 / scale[k] for k in keys}
    d_obs_default = _distance(obs, {k: float(np.mean([r[k] for r in pilot])) for k in keys}, weights)
    log(f"{len(keys)} moments; the data are {d_obs_default:.2f} from the base (run-to-run standard deviations)")

    # common random numbers: replication r of every candidate uses SeedSequence(seed, 0, r)
    crn = tuple((seed, (0, r)) for r in range(max(settings.replications, settings.screen_replications)))
    screen_sim = Simulator(fit_scen, tuple(parameters), crn[: settings.screen_replications], start,
                           (1, fit_months), tiers, keys, simulate)
    screening, verdict = screen(screen_sim, parameters, defaults, scale, log)
    fitted = [p for p in parameters if verdict[p.name]["moves"]]

    rows = []
    posterior = pd.DataFrame()
    gens = pd.DataFrame(columns=["t", "epsilon", "particles", "simulations", "acceptance_rate"])
    estimate = dict(defaults)
    n_sims = settings.pilot + 2 * len(parameters) * settings.screen_replications
    eps_floor = tolerance(len(keys), len(fitted), settings.replications, settings.confidence)
    if fitted:
        log(f"final tolerance {eps_floor:.2f}")
        model = Simulator(fit_scen, tuple(fitted), crn[: settings.replications], start, (1, fit_months), tiers,
                          keys, simulate)
        fixed = {p.name: defaults[p.name] for p in parameters if p not in fitted}
        if fixed:
            model = Simulator(fit_scen.with_overrides(overrides([p for p in parameters if p not in fitted], fixed)),
                              tuple(fitted), model.seeds, start, (1, fit_months), tiers, keys, simulate)
        with contextlib.ExitStack() as stack:
            # pyabc's INFO lines (every generation's timings) would drown the progress ``log`` gives.
            abc_log = logging.getLogger("ABC")
            stack.callback(abc_log.setLevel, abc_log.level)
            abc_log.setLevel(logging.WARNING)
            folder = Path(db_dir) if db_dir is not None else Path(stack.enter_context(tempfile.TemporaryDirectory()))
            folder.mkdir(parents=True, exist_ok=True)
            smp = stack.enter_context(sampler(workers, dask))
            smp.show_progress = False
            draws = Draws(seed)  # every candidate's parameters come from the fit's own generator
            abc = pyabc.ABCSMC(model, prior_distribution(fitted, draws),
                               pyabc.PNormDistance(p=2, fixed_weights=weights),
                               model_prior=_one_model_prior(), transitions=_transition(draws),
                               population_size=settings.population, sampler=smp,
                               eps=_floored_epsilon(eps_floor))
            abc.new("sqlite:///" + str(folder / "pyabc.db"), {k: obs[k] for k in keys})
            log(f"ABC-SMC: {len(fitted)} parameters ({', '.join(p.name for p in fitted)}), population "
                f"{settings.population}, at most {settings.generations} generations")
            history = abc.run(minimum_epsilon=eps_floor, max_nr_populations=settings.generations,
                              max_total_nr_simulations=settings.max_simulations,
                              min_acceptance_rate=settings.min_acceptance)
            df, w = history.get_distribution(m=0)
            posterior = df.reset_index(drop=True).assign(weight=np.asarray(w) / np.sum(w))
            pops = history.get_all_populations()
            pops = pops[pops["t"] >= 0]
            gens = pd.DataFrame({"t": pops["t"].astype(int), "epsilon": pops["epsilon"].astype(float),
                                 "particles": pops["particles"].astype(int),
                                 "simulations": pops["samples"].astype(int)})
            gens["acceptance_rate"] = gens["particles"] / gens["simulations"].where(gens["simulations"] > 0)
            n_sims += int(gens["simulations"].sum())
            del history, abc
    eps_final = float(gens["epsilon"].iloc[-1]) if len(gens) else float("nan")
    alpha = (1 - settings.interval) / 2
    for p in parameters:
        prior_width = (p.high - p.low) * settings.interval
        row: dict[str, Any] = {"parameter": p.name, "field": p.path, "default": defaults[p.name],
                               "prior_low": p.low, "prior_high": p.high, "mechanism": p.mechanism,
                               "prior_source": p.prior_source,
                               "screen_max_change": verdict[p.name]["max_change"],
                               "screen_max_t": verdict[p.name]["max_t"],
                               "screen_most_moved": verdict[p.name]["most_moved"]}
        if p in fitted:
            x = posterior[p.name].to_numpy(dtype=float)
            wts = posterior["weight"].to_numpy(dtype=float)
            mean = float(np.sum(wts * x))
            sd = float(math.sqrt(np.sum(wts * (x - mean) ** 2)))
            lo, hi = _quantile(x, wts, alpha), _quantile(x, wts, 1 - alpha)
            ratio = (hi - lo) / prior_width
            sd_ratio = sd / ((p.high - p.low) / math.sqrt(12))
            identified = sd_ratio < SD_RATIO_IDENTIFIED
            row.update(estimate=mean, sd=sd, lower=lo, upper=hi, width_ratio=ratio, sd_ratio=sd_ratio,
                       status="fitted" if identified else "not identifiable",
                       reason="" if identified else (f"the data leave it almost as uncertain as the prior (posterior "
                                                     f"sd {sd_ratio:.0%} of the prior's); keeps its default"))
            if identified:
                estimate[p.name] = mean
        else:
            row.update(estimate=float("nan"), sd=float("nan"), lower=float("nan"), upper=float("nan"),
                       width_ratio=float("nan"), sd_ratio=float("nan"), status="not identifiable",
                       reason=(f"moving it across its prior's central 80 % changes no moment by 0.25 run-to-run "
                               f"standard deviations or more (largest {verdict[p.name]['max_change']:.2f}, "
                               f"{verdict[p.name]['most_moved']}); keeps its default"))
        rows.append(row)
    params = pd.DataFrame(rows)
    identified = [p for p in parameters if params.set_index("parameter").loc[p.name, "status"] == "fitted"]
    ov = overrides(identified, estimate)

    # moments at the defaults (pilot mean) and at the estimate (CRN replications of the fit)
    at_est = Simulator(fit_scen, tuple(parameters), crn[: max(settings.replications, 2)], start, (1, fit_months),
                       tiers, keys_all, simulate).each(estimate)
    n_sims += len(at_est)
    mrows = []
    for k in keys_all:
        mrows.append({"moment": k, "observed": obs[k], "simulated_default": float(np.mean([r[k] for r in pilot])),
                      "simulated_fitted": float(np.mean([r[k] for r in at_est])), "scale": scale_all[k],
                      "used": k in scale})
    mom = pd.DataFrame(mrows)
    mom["z_default"] = (mom["simulated_default"] - mom["observed"]) / mom["scale"].where(mom["scale"] > 0)
    mom["z_fitted"] = (mom["simulated_fitted"] - mom["observed"]) / mom["scale"].where(mom["scale"] > 0)

    # holdout forecast: posterior draws x fresh replications of the full history (independent seeds, point 2)
    fc_window = (fit_months + 1, n)
    rng = np.random.default_rng(sim.seed_sequence(seed, 3))
    if len(posterior) and identified:
        idx = rng.choice(len(posterior), size=settings.draws, p=posterior["weight"].to_numpy(dtype=float))
        draws = [{**estimate, **{p.name: float(posterior.loc[i, p.name]) for p in identified}} for i in idx]
    else:
        draws = [dict(estimate) for _ in range(settings.draws)]
    log(f"holdout forecast: months {fc_window[0]}-{fc_window[1]}, {settings.draws} posterior draws x "
        f"{settings.forecast_replications} runs")
    obs_fc = {**{f"holdout_{k}": v for k, v in moments(observed, fc_window, tiers).items()},
              **monthly_series(observed, fc_window)}
    sims = []
    for i, theta in enumerate(draws):
        scen = full_scen.with_overrides(overrides(parameters, theta), source="calibration")
        for r in range(settings.forecast_replications):
            ex = simulate(scen, sim.seed_sequence(seed, 2, i, r), start)
            sims.append({**{f"holdout_{k}": v for k, v in moments(ex, fc_window, tiers).items()},
                         **monthly_series(ex, fc_window)})
    n_sims += len(sims)
    frows = []
    for k, v in obs_fc.items():
        s = np.array([x.get(k, 0.0) for x in sims])
        lo, hi = float(np.quantile(s, alpha)), float(np.quantile(s, 1 - alpha))
        frows.append({"quantity": k, "observed": v, "mean": float(s.mean()), "lower": lo, "upper": hi,
                      "covered": bool(lo <= v <= hi)})
    forecast = pd.DataFrame(frows)
    info = {"months": n, "fit_months": fit_months, "holdout_months": settings.holdout,
            "first_month": start, "moments_used": list(keys), "moments_dropped": dropped,
            "tolerance": eps_floor, "final_epsilon": eps_final,
            "distance_at_defaults": d_obs_default, "simulations": n_sims, "seconds": time.time() - t0,
            "interval": settings.interval, "coverage": float(forecast["covered"].mean()) if len(forecast) else None,
            "settings": settings.__dict__.copy(), "workers": workers, "dask": dask}
    return Fit(params, mom, screening.reset_index(names="parameter"), posterior, gens, forecast, ov, info)


__all__ = ["NOT_CALIBRATED", "PARAMETERS", "CalibrationError", "Fit", "Parameter", "Settings", "Simulator",
           "calibrate", "moments", "monthly_series", "screen", "tolerance"]
