"""Early warning (guide parts 5 and 6): which partners will leave, which cells' conflicts will rise.

Two predictions, fitted on a run's panels (``partners.parquet``, ``conflicts.parquet``) and tested on
*other* replications than those they were fitted on:

* **Partner exit.** For every partner still in the programme at month ``t``: will it leave (any exit
  reason) in months ``t+1 .. t+k``?  Features (:func:`partner_features`) use only rows of months
  ``<= t`` and at most :data:`LOOKBACK` months back: tenure, tier, type, lifecycle, profit and its
  trend, mindshare, satisfaction and its trend, conflicts won and lost (to partners, direct sales,
  the digital channel) over the last three months, months since the last deal, certifications, MDF
  claimed, revenue, effort, customers, compliance.  Two models: a scikit-learn
  ``HistGradientBoostingClassifier`` on the partner-months whose ``k``-month window lies inside the
  run, and a statsmodels Cox proportional-hazards model (``PHReg``) on landmark rows (each
  partner-month, followed for at most ``k`` months, censored at the run's end), whose risk is
  ``1 - S(k | x)`` (:class:`CoxModel`).
* **Conflict hot spots.** For every territory x segment cell and full quarter ``q``: will the cell
  have more conflicts in ``q+1`` than in ``q``?  Features are the cell's past conflicts only
  (:func:`cell_features`); the baseline is persistence (a cell whose conflicts rose keeps rising).

Evaluation (:func:`evaluate`) splits replications into a training and a test group (replications are
independent runs, so the test partners never shared a market with the training ones), then on the
test group reports AUC with a 95 % cluster-bootstrap interval (resampling partners, or cells, with all
their months: consecutive months of one partner share state and overlapping label windows, so rows
are not independent; replications are too few for a replication bootstrap), the Brier score and a
reliability table, how many months before the exit the first alarm comes (at a threshold flagging a
fixed share of partner-months), and which features carry the signal (permutation importance of the
classifier, hazard ratios of the Cox model).  It compares with no skill (AUC 0.5) and with a
satisfaction-only rule (risk = -satisfaction), paired on the same bootstrap resamples.

:class:`EarlyWarning` is the fitted model (refitted on every replication); :meth:`EarlyWarning.as_risk`
turns it into the risk function a vendor policy calls with a live :class:`sim.ChannelModel`, built
from the same panel rows as ``partners.parquet`` (:func:`sim.economics.panel_rows`).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.partners import EXITED
from sim.scenario import PARTNER_TYPES, SEGMENTS

if TYPE_CHECKING:
    from sim.model import ChannelModel

#: Months a feature looks back (trends are the change over this many months, conflict counts their sum).
LOOKBACK = 3
#: Default horizon k: "exits within the next k months".
HORIZON = 6
MAX_HORIZON = 24
#: Share of replications held out for the test.
TEST_SHARE = 0.3
MIN_REPLICATIONS = 4
#: Fewest exiting partners in each of the training and test groups for an evaluation.
MIN_EXITS = 10
BOOTSTRAP = 400
LEVEL = 0.95
#: The alarm threshold flags this share of the scored partner-months (the lead-time measure).
ALARM_SHARE = 0.10
RELIABILITY_BINS = 10
KEYS = ("replication", "month", "partner_id")
CELL_KEYS = ("replication", "quarter", "territory", "segment")

#: Partner features, each with what it is in words (reports, reasons).
FEATURE_LABELS: dict[str, str] = {
    "tenure": "months in the programme",
    "tier": "tier (0 = lowest)",
    "improvement_plan": "on an improvement plan",
    "onboarding": "onboarding",
    "satisfaction": "satisfaction",
    "satisfaction_trend": "satisfaction change over 3 months",
    "mindshare": "mindshare",
    "mindshare_trend": "mindshare change over 3 months",
    "profit_ratio": "profit ratio (line vs other lines)",
    "profit_ratio_trend": "profit ratio change over 3 months",
    "line_profit_3m": "line profit, last 3 months (USD)",
    "log_ttm_revenue": "log of trailing-12-month revenue",
    "effort": "effort (seller-months)",
    "customers": "customers served",
    "months_since_deal": "months since the last deal",
    "certifications": "certifications",
    "mdf_claimed_3m": "MDF claimed, last 3 months (USD)",
    "opportunities_3m": "opportunities pursued, last 3 months",
    "wins_3m": "deals won, last 3 months",
    "conflicts_won_3m": "conflicts won, last 3 months",
    "conflicts_lost_partner_3m": "conflicts lost to partners, last 3 months",
    "conflicts_lost_direct_3m": "conflicts lost to direct sales, last 3 months",
    "conflicts_lost_digital_3m": "conflicts lost to digital, last 3 months",
    "compliance": "compliance record",
    **{f"type_{t}": f"a {t}" for t in PARTNER_TYPES},
}
FEATURES: tuple[str, ...] = tuple(FEATURE_LABELS)
#: The features that are 0/1 flags.
FLAGS = frozenset({"improvement_plan", "onboarding", *(f"type_{t}" for t in PARTNER_TYPES)})
#: Cox covariates: the type dummies less the first (they sum to one, which the baseline hazard absorbs).
COX_FEATURES: tuple[str, ...] = tuple(f for f in FEATURES if f != f"type_{PARTNER_TYPES[0]}")
#: Ridge penalty of the Cox fit per landmark row: the log partial likelihood less ``0.01 * n / 2 * |beta|^2``.
#: Many features move together (deals won and conflicts won over 3 months correlate at 0.99; satisfaction,
#: mindshare, customers are 94-95 % explained by the others).  Unpenalized, such coefficients run to large
#: opposite values (on the run of docs/WARNING.md a hazard ratio of 400 per sd for deals won, 0.016 for
#: conflicts won), which the hazard-ratio table and the watch list's reasons would show, and the test AUC
#: falls from 0.837 to 0.826.  The penalty shrinks near-copies together and keeps a 0/1 flag without exits
#: (onboarding) finite.
COX_PENALTY = 0.01

CELL_FEATURE_LABELS: dict[str, str] = {
    "conflicts": "conflicts this quarter",
    "conflicts_lag1": "conflicts the quarter before",
    "conflicts_lag2": "conflicts two quarters before",
    "change": "change on the quarter before",
    "past_mean": "mean conflicts per quarter so far",
    "horizontal": "horizontal conflicts this quarter",
    "vertical": "vertical conflicts this quarter",
    "multichannel": "multichannel conflicts this quarter",
    "value_at_stake": "value at stake this quarter (USD)",
    "lost_to_competitor": "conflicts lost to a competitor this quarter",
    "market_conflicts": "conflicts in all cells this quarter",
}
CELL_FEATURES: tuple[str, ...] = tuple(CELL_FEATURE_LABELS)


class WarningError(ValueError):
    """A run that cannot be evaluated: too few replications or exits, or a bad horizon."""


# ---------------------------------------------------------------------------
# Features and labels


def _cat(series: pd.Series) -> pd.Series:
    return series.astype(str) if not isinstance(series.dtype, pd.CategoricalDtype) else series.astype(str)


def partner_features(panel: pd.DataFrame) -> pd.DataFrame:
    """The features of every partner-month of a partner panel, from that month and the months before only.

    Args:
        panel: ``partners.parquet`` (one row per partner and month; a ``replication`` column, or one run).

    Returns:
        One row per partner still in the programme (lifecycle not ``exited``): the :data:`KEYS` and the
        :data:`FEATURES`, sorted by replication, partner and month.  A feature at month ``t`` depends on
        the partner's rows of months ``t - LOOKBACK .. t`` only (trends and three-month sums start from
        the partner's first month when it has fewer).
    """
    df = panel.copy()
    if "replication" not in df.columns:
        df["replication"] = 0
    df = df.sort_values(["replication", "partner_id", "month"], kind="stable").reset_index(drop=True)
    keys = [df["replication"].to_numpy(), df["partner_id"].to_numpy()]
    out = df[list(KEYS)].copy()
    life = _cat(df["lifecycle"])
    tier = df["tier"]
    out["tenure"] = df["tenure"].astype(float)
    out["tier"] = (tier.cat.codes if isinstance(tier.dtype, pd.CategoricalDtype) else tier).astype(float)
    out["improvement_plan"] = (life == "improvement_plan").astype(float)
    out["onboarding"] = (life == "onboarding").astype(float)

    def trend(col: pd.Series) -> pd.Series:
        gg = col.groupby(keys, sort=False)
        return col - gg.shift(LOOKBACK).fillna(gg.transform("first"))

    def last_sum(col: pd.Series) -> pd.Series:  # months t-2..t, added in the same order whatever came before
        col = col.astype(float)
        gg = col.groupby(keys, sort=False)
        total = col.copy()
        for lag in range(1, LOOKBACK):
            total = total + gg.shift(lag).fillna(0.0)
        return total

    ratio = df["profit_ratio"].astype(float).clip(-5.0, 5.0)
    out["satisfaction"] = df["satisfaction"].astype(float)
    out["satisfaction_trend"] = trend(out["satisfaction"])
    out["mindshare"] = df["mindshare"].astype(float)
    out["mindshare_trend"] = trend(out["mindshare"])
    out["profit_ratio"] = ratio
    out["profit_ratio_trend"] = trend(ratio)
    out["line_profit_3m"] = last_sum(df["line_profit"])
    out["log_ttm_revenue"] = np.log1p(df["ttm_revenue"].astype(float).clip(lower=0.0))
    out["effort"] = df["effort"].astype(float)
    out["customers"] = df["customers"].astype(float)
    out["months_since_deal"] = df["months_since_deal"].astype(float)
    out["certifications"] = df["certifications"].astype(float)
    out["mdf_claimed_3m"] = last_sum(df["mdf_claimed"])
    out["opportunities_3m"] = last_sum(df["opportunities"])
    out["wins_3m"] = last_sum(df["wins"])
    for c in ("conflicts_won", "conflicts_lost_partner", "conflicts_lost_direct", "conflicts_lost_digital"):
        out[f"{c}_3m"] = last_sum(df[c])
    out["compliance"] = df["compliance"].astype(float)
    ptype = _cat(df["type"])
    for t in PARTNER_TYPES:
        out[f"type_{t}"] = (ptype == t).astype(float)
    keep = (life != "exited").to_numpy()
    return out[keep].reset_index(drop=True)


def exit_labels(panel: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """For every partner-month in the programme: months to the partner's exit and the label.

    Returns:
        The :data:`KEYS` and ``exit_month`` (NaN when it did not leave in the run), ``last_month`` (of its
        replication), ``label`` (it leaves within ``horizon`` months), ``complete`` (the whole window lies
        inside the run, so ``label`` is known), ``duration`` and ``event`` (the Cox landmark follow-up: at
        most ``horizon`` months, censored at the run's end).
    """
    df = panel[[c for c in ("replication", "month", "partner_id", "lifecycle") if c in panel.columns]].copy()
    if "replication" not in df.columns:
        df["replication"] = 0
    life = _cat(df["lifecycle"])
    exits = df[life == "exited"].groupby(["replication", "partner_id"])["month"].min().rename("exit_month")
    last = df.groupby("replication")["month"].max().rename("last_month")
    rows = df[life != "exited"][list(KEYS)]
    rows = rows.join(exits, on=["replication", "partner_id"]).join(last, on="replication")
    rows = rows.sort_values(list(KEYS[:1]) + ["partner_id", "month"], kind="stable").reset_index(drop=True)
    to_exit = rows["exit_month"] - rows["month"]
    rows["label"] = (to_exit <= horizon).fillna(False).astype(int).to_numpy()
    rows["complete"] = (rows["month"] + horizon <= rows["last_month"]).to_numpy()
    follow = np.minimum(horizon, rows["last_month"] - rows["month"])
    rows["event"] = (to_exit <= follow).fillna(False).astype(int).to_numpy()
    rows["duration"] = np.where(rows["event"] == 1, to_exit.fillna(0), follow).astype(float)
    return rows


def cell_features(conflicts: pd.DataFrame, *, months: int, territories: int | None = None,
                  replications: Sequence[int] | None = None) -> pd.DataFrame:
    """Conflicts per territory x segment cell and full quarter, with features from past quarters only.

    Args:
        conflicts: ``conflicts.parquet`` (a ``replication`` column, or one run).
        months: reported months of the run (quarters are months 1-3, 4-6, ...; a last partial quarter
            is left out).
        territories: number of territories (default: the largest seen + 1).
        replications: the replications of the run (those without a conflict count zero everywhere).

    Returns:
        One row per replication, quarter, territory and segment from the second quarter on: the
        :data:`CELL_KEYS`, the :data:`CELL_FEATURES`, ``next`` (conflicts in the next quarter, NaN in
        the last quarter) and ``label`` (``next > conflicts``; NaN in the last quarter).
    """
    c = conflicts.copy()
    if "replication" not in c.columns:
        c["replication"] = 0
    n_q = months // 3
    reps = sorted(set(replications) if replications is not None else set(c["replication"].unique()))
    n_terr = territories if territories is not None else int(c["territory"].max()) + 1 if len(c) else 1
    c = c[c["month"] <= 3 * n_q]
    c["quarter"] = (c["month"].astype(int) - 1) // 3
    c["segment"] = _cat(c["segment"])
    grid = pd.MultiIndex.from_product([reps, range(n_q), range(n_terr), list(SEGMENTS)], names=list(CELL_KEYS))
    by = list(CELL_KEYS)
    base = pd.DataFrame(index=grid)
    base["conflicts"] = c.groupby(by).size()
    ctype = _cat(c["type"])
    for kind in ("horizontal", "vertical", "multichannel"):
        base[kind] = c[ctype == kind].groupby(by).size()
    base["value_at_stake"] = c.groupby(by)["value_at_stake"].sum()
    base["lost_to_competitor"] = c[c["lost_to_competitor"].astype(bool)].groupby(by).size()
    base = base.fillna(0.0).astype(float).reset_index()
    base = base.sort_values(["replication", "territory", "segment", "quarter"], kind="stable").reset_index(drop=True)
    cell = [base["replication"].to_numpy(), base["territory"].to_numpy(), base["segment"].to_numpy()]
    g = base.groupby(cell, sort=False)["conflicts"]
    base["conflicts_lag1"] = g.shift(1)
    base["conflicts_lag2"] = g.shift(2)
    base["change"] = base["conflicts"] - base["conflicts_lag1"]
    base["past_mean"] = g.cumsum() / (base["quarter"] + 1)
    base["market_conflicts"] = base.groupby(["replication", "quarter"])["conflicts"].transform("sum")
    base["next"] = g.shift(-1)
    base["label"] = np.where(base["next"].isna(), np.nan, (base["next"] > base["conflicts"]).astype(float))
    return base[base["quarter"] >= 1].reset_index(drop=True)[[*CELL_KEYS, *CELL_FEATURES, "next", "label"]]


# ---------------------------------------------------------------------------
# Scores: AUC (weighted, for the bootstrap), CIs, calibration


def weighted_auc(y: np.ndarray, score: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Area under the ROC curve with case weights (ties count one half); equals sklearn's ``roc_auc_score``.

    Written out because the cluster bootstrap evaluates it a few thousand times: one sort per score,
    then O(n) per resample (tests check it against scikit-learn).
    """
    return _AUC(y, score).auc(np.ones(len(y)) if weights is None else weights)


class _AUC:
    """A score's ranks computed once, the AUC of any case weights in O(n)."""

    def __init__(self, y: np.ndarray, score: np.ndarray):
        self.y = np.asarray(y, dtype=float)
        _, self.group = np.unique(np.asarray(score, dtype=float), return_inverse=True)
        self.n_groups = int(self.group.max()) + 1 if len(self.group) else 0

    def auc(self, w: np.ndarray) -> float:
        pos = np.bincount(self.group, w * self.y, minlength=self.n_groups)
        neg = np.bincount(self.group, w * (1.0 - self.y), minlength=self.n_groups)
        tp, tn = pos.sum(), neg.sum()
        if tp <= 0 or tn <= 0:
            return float("nan")
        below = np.cumsum(neg) - neg
        return float((pos * (below + 0.5 * neg)).sum() / (tp * tn))


def bootstrap_aucs(y: np.ndarray, scores: dict[str, np.ndarray], clusters: np.ndarray, *, reference: str | None,
                   n_boot: int = BOOTSTRAP, seed: int = 0, level: float = LEVEL) -> dict[str, dict[str, float]]:
    """AUC of each score with a percentile cluster-bootstrap CI, and each score's difference from ``reference``.

    A resample draws clusters (partners or cells) with replacement and keeps all their rows (as case
    weights); every score is evaluated on the same resamples, so the differences are paired.
    """
    _, cl = np.unique(clusters, return_inverse=True)
    n_cl = int(cl.max()) + 1
    rng = np.random.default_rng(seed)
    aucs = {k: _AUC(y, s) for k, s in scores.items()}
    draws = {k: np.empty(n_boot) for k in scores}
    for b in range(n_boot):
        w = np.bincount(rng.integers(0, n_cl, n_cl), minlength=n_cl)[cl].astype(float)
        for k, a in aucs.items():
            draws[k][b] = a.auc(w)
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    out: dict[str, dict[str, float]] = {}
    for k, a in aucs.items():
        d = draws[k][np.isfinite(draws[k])]
        out[k] = {"auc": a.auc(np.ones(len(y))), "ci_low": float(np.percentile(d, lo)),
                  "ci_high": float(np.percentile(d, hi))}
        if reference is not None and k != reference:
            diff = draws[k] - draws[reference]
            diff = diff[np.isfinite(diff)]
            out[k][f"diff_vs_{reference}"] = out[k]["auc"] - aucs[reference].auc(np.ones(len(y)))
            out[k][f"diff_ci_low_vs_{reference}"] = float(np.percentile(diff, lo))
            out[k][f"diff_ci_high_vs_{reference}"] = float(np.percentile(diff, hi))
    return out


def calibration(y: np.ndarray, p: np.ndarray, base_rate: float, bins: int = RELIABILITY_BINS) -> dict[str, Any]:
    """Brier score of ``p``, that of the constant training base rate, and a reliability table by risk decile."""
    from sklearn.metrics import brier_score_loss

    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)))
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(len(edges) - 2, 0))
    table = []
    for b in range(max(len(edges) - 1, 1)):
        m = idx == b
        if m.any():
            table.append({"bin": b + 1, "low": float(edges[b]), "high": float(edges[min(b + 1, len(edges) - 1)]),
                          "rows": int(m.sum()), "mean_predicted": float(p[m].mean()),
                          "observed": float(y[m].mean())})
    return {"brier": float(brier_score_loss(y, p)),
            "brier_base_rate": float(brier_score_loss(y, np.full(len(y), base_rate))),
            "reliability": table}


def lead_times(scored: pd.DataFrame, score: str, threshold: float, window: int) -> dict[str, Any]:
    """How early the first alarm comes before an exit.

    For every partner that leaves, the first month of the ``window`` months before its exit whose
    score is at least ``threshold``; its lead is the exit month minus that month (at most ``window``).

    Args:
        scored: test partner-months with ``exit_month``, ``month``, ``label``, ``complete``, the score.
        score: the score column.
        threshold: the alarm threshold.
        window: months before the exit in which an alarm counts (twice the horizon in :func:`evaluate`).
    """
    ex = scored[scored["exit_month"].notna() & (scored["exit_month"] - scored["month"] <= window)]
    keys = ["replication", "partner_id"]
    n_exits = int(ex.groupby(keys).ngroups)
    alarms = ex[ex[score] >= threshold]
    first = alarms.groupby(keys).agg(first=("month", "min"), exit_month=("exit_month", "first"))
    lead = (first["exit_month"] - first["first"]).to_numpy()
    flagged = scored[(scored[score] >= threshold) & scored["complete"]]
    return {
        "threshold": float(threshold),
        "exits": n_exits,
        "detected": int(len(first)),
        "detection_rate": float(len(first) / n_exits) if n_exits else float("nan"),
        "median_lead_months": float(np.median(lead)) if len(lead) else float("nan"),
        "lead_months_quartiles": [float(np.percentile(lead, 25)), float(np.percentile(lead, 75))] if len(lead)
        else [float("nan"), float("nan")],
        "precision": float(flagged["label"].mean()) if len(flagged) else float("nan"),
    }


# ---------------------------------------------------------------------------
# Models


def _one_thread(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``fn`` with one BLAS/OpenMP thread.

    The same result on any machine, and no oversubscription: scikit-learn's gradient boosting is
    several times slower with a thread per core on a busy machine.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            return fn(*args, **kwargs)

    return wrapper


def _classifier(seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier

    # Shallow trees, a slow rate and L2 shrinkage: the labels are rare (a few % of partner-months).
    return HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, max_leaf_nodes=15, min_samples_leaf=40,
                                          l2_regularization=1.0, early_stopping=False, random_state=seed)


@dataclass(frozen=True)
class CoxModel:
    """A Cox proportional-hazards model of exit, fitted on standardized :data:`COX_FEATURES` (:func:`fit_cox`).

    Attributes:
        horizon: k, in months: :meth:`risk` is the probability of an exit within k months, ``1 - S(k | x)``.
        params: the coefficient per standard deviation of each of :data:`COX_FEATURES` (0 for one left out).
        bse: its standard error (NaN for a covariate left out).
        ci_low: lower bound of its 95 % confidence interval (NaN for a covariate left out).
        ci_high: upper bound.
        pvalues: its Wald p-value (NaN for a covariate left out).
        dropped: the covariates left out of the fit, each with the reason.
        times: the event times (months of follow-up) up to the horizon.
        cumulative_hazard: the Breslow baseline cumulative hazard at each of ``times`` (exits at that time
            included), for the standardized covariates all 0.
    """

    horizon: int
    params: pd.Series
    bse: pd.Series
    ci_low: pd.Series
    ci_high: pd.Series
    pvalues: pd.Series
    dropped: dict[str, str]
    times: np.ndarray
    cumulative_hazard: np.ndarray

    def baseline_cumulative_hazard(self, t: float) -> float:
        """The baseline cumulative hazard at ``t`` months: a right-continuous step function, 0 before the first exit."""
        i = int(np.searchsorted(self.times, t, side="right"))
        return float(self.cumulative_hazard[i - 1]) if i else 0.0

    def risk(self, z: pd.DataFrame) -> np.ndarray:
        """``1 - S(horizon | z) = 1 - exp(-H0(horizon) * exp(z'beta))`` for standardized covariates ``z``."""
        lp = z[list(COX_FEATURES)].to_numpy() @ self.params[list(COX_FEATURES)].to_numpy()
        return -np.expm1(-self.baseline_cumulative_hazard(self.horizon) * np.exp(lp))

    def table(self) -> list[dict[str, Any]]:
        """Per covariate: coefficient and hazard ratio per sd with the 95 % CI, p; the largest effects first.

        A covariate left out of the fit has ``None`` for its numbers and ``dropped`` saying why, and comes last.
        """
        rows = []
        for k in COX_FEATURES:
            if k in self.dropped:
                rows.append({"feature": k, "label": FEATURE_LABELS[k], "coef_per_sd": None, "se": None,
                             "hazard_ratio_per_sd": None, "hazard_ratio_ci_low": None, "hazard_ratio_ci_high": None,
                             "p": None, "dropped": self.dropped[k]})
                continue
            rows.append({"feature": k, "label": FEATURE_LABELS[k], "coef_per_sd": float(self.params[k]),
                         "se": float(self.bse[k]), "hazard_ratio_per_sd": math.exp(self.params[k]),
                         "hazard_ratio_ci_low": math.exp(self.ci_low[k]),
                         "hazard_ratio_ci_high": math.exp(self.ci_high[k]), "p": float(self.pvalues[k])})
        return sorted(rows, key=lambda r: (r["coef_per_sd"] is None, -abs(r["coef_per_sd"] or 0.0)))


def _degenerate(z: pd.DataFrame, event: np.ndarray, penalty: float) -> dict[str, str]:
    """Covariates left out of the Cox fit, each with the reason.

    A covariate that is constant, or a linear combination of a constant and the covariates before it
    (a type dummy when the first type is absent), has no coefficient of its own.  Without a penalty,
    a 0/1 flag with no exit among the rows with it (or without it) has no finite coefficient either
    (the partial likelihood rises for ever as it goes to minus or plus infinity: onboarding partners,
    for example, do not leave within the horizon); the ridge penalty keeps it finite.  Leaving a
    covariate out is its coefficient 0: it raises no one's risk and gives no reason.
    """
    out: dict[str, str] = {}
    kept = [np.ones(len(z))]
    for name in COX_FEATURES:
        col = z[name].to_numpy(dtype=float)
        if penalty == 0 and name in FLAGS:
            on = col > col.min()
            if on.any() and not event[on].any():
                out[name] = "no exit among the rows with it (its hazard ratio would be 0)"
                continue
            if (~on).any() and not event[~on].any():
                out[name] = "no exit among the rows without it (its hazard ratio would be infinite)"
                continue
        trial = np.column_stack([*kept, col])
        if np.linalg.matrix_rank(trial) < trial.shape[1]:
            out[name] = "constant, or determined by the covariates before it"
            continue
        kept.append(col)
    return out


@functools.cache
def _ridge_phreg() -> type:
    """The class of statsmodels' ``PHReg`` with a ridge penalty ``penalty * n / 2 * |beta|^2`` on the log-likelihood.

    The penalty enters the log-likelihood, its gradient and its Hessian, so the fit is statsmodels'
    maximization and its standard errors, CIs and p-values come from the penalized Hessian (as in
    lifelines' ``CoxPHFitter(penalizer=...)``, whose convention this is).  ``PHReg.fit_regularized``
    is not used: it gives no standard errors.
    """
    from statsmodels.duration.hazard_regression import PHReg

    class RidgePHReg(PHReg):
        def __init__(self, endog: Any, exog: Any, penalty: float, **kwargs: Any):
            super().__init__(endog, exog, **kwargs)
            self.ridge = penalty * len(endog)

        def loglike(self, params: np.ndarray) -> float:
            return super().loglike(params) - 0.5 * self.ridge * float(params @ params)

        def score(self, params: np.ndarray) -> np.ndarray:
            return super().score(params) - self.ridge * params

        def hessian(self, params: np.ndarray) -> np.ndarray:
            return super().hessian(params) - self.ridge * np.eye(len(params))

    return RidgePHReg


def fit_cox(z: pd.DataFrame, duration: np.ndarray, event: np.ndarray, horizon: int,
            penalty: float = COX_PENALTY) -> CoxModel:
    """Fit statsmodels' Cox proportional-hazards model (``PHReg``, Efron ties) on landmark rows.

    Args:
        z: the standardized :data:`COX_FEATURES` of the rows.
        duration: months followed (> 0).
        event: 1 when the partner left at ``duration``, 0 when censored.
        horizon: k, for :meth:`CoxModel.risk`.
        penalty: the ridge penalty per row (:data:`COX_PENALTY`; 0 for the plain partial likelihood).

    Covariates without a coefficient of their own are left out first (:func:`_degenerate`).

    Raises:
        WarningError: no exit in the rows, or the fit does not converge.
    """
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    duration = np.asarray(duration, dtype=float)
    event = np.asarray(event, dtype=int)
    if not event.any():
        raise WarningError("no partner leaves in the training rows: allowed: a run in which partners leave")
    dropped = _degenerate(z, event, penalty)
    cols = [c for c in COX_FEATURES if c not in dropped]
    model = _ridge_phreg()(duration, z[cols].to_numpy(dtype=float), penalty, status=event, ties="efron")
    # statsmodels' Newton steps have no line search and overshoot from 0 on these covariates (some reach
    # 10-20 sd); BFGS gets near the maximum, then Newton polishes it (a few steps, exact Hessian).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = model.fit(method="bfgs", maxiter=1000, disp=0).params
    res = model.fit(method="newton", start_params=start, maxiter=100, disp=0)
    b = np.asarray(res.params)
    if not np.isfinite(b).all() or np.abs(model.score(b)).max() > 1e-6 * len(duration):
        raise WarningError("the Cox model did not converge on the training rows: allowed: a run with more "
                           "replications or months")
    ci = np.asarray(res.conf_int(alpha=1 - LEVEL))
    nan = pd.Series(np.nan, index=list(COX_FEATURES))
    params = pd.Series(0.0, index=list(COX_FEATURES))
    params[cols] = b
    bse, lo, hi, pv = nan.copy(), nan.copy(), nan.copy(), nan.copy()
    bse[cols], lo[cols], hi[cols], pv[cols] = res.bse, ci[:, 0], ci[:, 1], res.pvalues
    # The Breslow baseline cumulative hazard.  Not ``res.baseline_cumulative_hazard``: statsmodels returns
    # its left limits (``cumsum(h0) - h0``: at time t the exits at t are not counted, and the last jump is
    # missing), while S(k | x) must count the exits in month k.  tests/test_warning.py checks the two agree
    # otherwise.
    w = np.exp(z[cols].to_numpy(dtype=float) @ b)
    times = np.unique(duration[event == 1])
    times = times[times <= horizon]
    jumps = np.array([event[duration == t].sum() / w[duration >= t].sum() for t in times])
    return CoxModel(horizon, params, bse, lo, hi, pv, dropped, times, np.cumsum(jumps))


@dataclass
class EarlyWarning:
    """A fitted early-warning model of partner exit within ``horizon`` months.

    Attributes:
        horizon: k, in months.
        classifier: the fitted scikit-learn classifier (its probability is the risk).
        cox: the fitted :class:`CoxModel` on standardized :data:`COX_FEATURES`.
        means: feature means of the training rows (standardization, reasons).
        sds: their standard deviations (1 for constant features).
        base_rate: share of training partner-months that exit within ``horizon`` months.
    """

    horizon: int
    classifier: Any
    cox: CoxModel
    means: pd.Series
    sds: pd.Series
    base_rate: float
    features: tuple[str, ...] = FEATURES

    @classmethod
    @_one_thread
    def fit(cls, features: pd.DataFrame, labels: pd.DataFrame, horizon: int, seed: int = 0) -> EarlyWarning:
        """Fit both models on partner-months (rows of :func:`partner_features` and :func:`exit_labels`, aligned).

        The classifier learns from the rows whose window lies inside the run (``complete``); the Cox
        model from every row, followed up to ``horizon`` months and censored at the run's end.
        """
        X = features[list(FEATURES)]
        complete = labels["complete"].to_numpy()
        y = labels["label"].to_numpy()
        clf = _classifier(seed).fit(X[complete].to_numpy(), y[complete])
        means = X.mean()
        sds = X.std().replace(0.0, 1.0).fillna(1.0)
        z = ((X[list(COX_FEATURES)] - means[list(COX_FEATURES)]) / sds[list(COX_FEATURES)])
        keep = (labels["duration"] > 0).to_numpy()
        cox = fit_cox(z[keep].reset_index(drop=True), labels["duration"].to_numpy()[keep],
                      labels["event"].to_numpy()[keep], horizon)
        return cls(horizon, clf, cox, means, sds, float(y[complete].mean()))

    def risk(self, features: pd.DataFrame) -> np.ndarray:
        """The classifier's probability that each partner-month's partner exits within ``horizon`` months."""
        return self.classifier.predict_proba(features[list(self.features)].to_numpy())[:, 1]

    def _z(self, features: pd.DataFrame) -> pd.DataFrame:
        cols = list(COX_FEATURES)
        return (features[cols] - self.means[cols]) / self.sds[cols]

    def cox_risk(self, features: pd.DataFrame) -> np.ndarray:
        """The Cox model's probability of an exit within ``horizon`` months, ``1 - S(horizon | x)``."""
        return self.cox.risk(self._z(features))

    def reasons(self, features: pd.DataFrame, top: int = 3) -> list[str]:
        """Per row, the ``top`` features that raise its Cox hazard most (coefficient x standardized value), in words."""
        z = self._z(features)
        contrib = z.to_numpy() * self.cox.params[list(COX_FEATURES)].to_numpy()
        raw = features[list(COX_FEATURES)].to_numpy()
        out = []
        for i in range(len(z)):
            order = np.argsort(-contrib[i])[:top]
            words = []
            for j in order:
                if contrib[i, j] <= 0:
                    break
                name = COX_FEATURES[j]
                if name in FLAGS:
                    words.append(FEATURE_LABELS[name] if raw[i, j] > 0.5 else f"not {FEATURE_LABELS[name]}")
                else:
                    side = "high" if z.iloc[i, j] > 0 else "low"
                    words.append(f"{FEATURE_LABELS[name]} {side} ({_short(raw[i, j])})")
            out.append("; ".join(words) or "none above average")
        return out

    def watchlist(self, panel: pd.DataFrame) -> pd.DataFrame:
        """Partners in the programme at each replication's last month, ranked by risk (highest first).

        Returns:
            ``rank``, ``replication``, ``partner_id``, ``type``, ``tier``, ``lifecycle``, ``risk`` (classifier),
            ``cox_risk``, ``satisfaction`` and ``reasons`` (the features raising its hazard most).
        """
        feats = partner_features(panel)
        last = feats.groupby("replication")["month"].transform("max")
        now = feats[feats["month"] == last].reset_index(drop=True)
        info = panel.copy()
        if "replication" not in info.columns:
            info["replication"] = 0
        info = info.set_index(list(KEYS))[["type", "tier", "lifecycle"]].astype(str)
        out = now[list(KEYS)].join(info, on=list(KEYS))
        out["risk"] = self.risk(now)
        out["cox_risk"] = self.cox_risk(now)
        out["satisfaction"] = now["satisfaction"]
        out["reasons"] = self.reasons(now)
        out = out.sort_values(["risk", "replication", "partner_id"], ascending=[False, True, True], kind="stable")
        out.insert(0, "rank", np.arange(1, len(out) + 1))
        return out.drop(columns="month").reset_index(drop=True)

    def as_risk(self) -> Callable[[ChannelModel], np.ndarray]:
        """A risk function for a vendor policy: ``risk(model)`` -> one score in [0, 1] per partner slot.

        The features are built from the model's partner rows exactly as in ``partners.parquet``
        (:func:`sim.economics.panel_rows`, :func:`sim.run.panel_frame`, :func:`partner_features`).
        Called between two steps after a reported month, it scores the month just recorded, so the
        scores equal :meth:`risk` on that month of the run's panel.  Called during the warm-up or inside a
        step, it scores the state as it stands (rows it took on earlier calls supply the trends).
        Partners no longer in the programme get 0; partners without a row yet get the base rate.
        """
        return LiveRisk(self)


def _short(v: float) -> str:
    if not math.isfinite(v):
        return "n/a"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}"


class LiveRisk:
    """The callable :meth:`EarlyWarning.as_risk` returns (picklable, keeps the last months' rows it saw)."""

    def __init__(self, model: EarlyWarning):
        self.model = model
        self._seen: dict[int, dict[str, np.ndarray]] = {}

    def rows(self, model: ChannelModel) -> list[dict[str, np.ndarray]]:
        """The partner rows of the last :data:`LOOKBACK` + 1 months, newest last."""
        from sim.economics import panel_rows

        warm = model.config.time.warmup_months
        recorded = {int(p["month"][0]): p for p in model.panel[-(LOOKBACK + 1):] if p["month"].size}
        if recorded and max(recorded) == model.month - warm:  # between steps: the month just recorded
            now = max(recorded)
        else:
            try:
                live = panel_rows(model)
            except (AttributeError, IndexError):  # before the first step, or mid-step after recruiting
                live = None
            if live is not None and live["month"].size:
                now = int(live["month"][0])
                self._seen[now] = live
            else:
                now = max([*recorded, *self._seen], default=None)
                if now is None:
                    return []
        self._seen = {m: r for m, r in self._seen.items() if now - LOOKBACK <= m <= now}
        merged = {**self._seen, **{m: r for m, r in recorded.items() if m < now or m not in self._seen}}
        return [merged[m] for m in sorted(merged) if now - LOOKBACK <= m <= now]

    def __call__(self, model: ChannelModel) -> np.ndarray:
        from sim.run import panel_frame

        out = np.full(model.partners.n, self.model.base_rate)
        out[model.partners.lifecycle == EXITED] = 0.0
        rows = self.rows(model)
        if not rows:
            return out
        feats = partner_features(panel_frame(rows, model.config.tier_names))
        now = feats[feats["month"] == feats["month"].max()]
        if len(now):
            ids = now["partner_id"].to_numpy()
            ok = ids < out.size
            out[ids[ok]] = self.model.risk(now)[ok]
        return np.clip(out, 0.0, 1.0)


# ---------------------------------------------------------------------------
# Evaluation


def split_replications(replications: Sequence[int], seed: int = 0, test_share: float = TEST_SHARE
                       ) -> tuple[list[int], list[int]]:
    """Replications for training and for the test (at least two each), drawn with ``seed``."""
    reps = sorted(int(r) for r in replications)
    n_test = min(max(2, round(test_share * len(reps))), len(reps) - 2)
    perm = np.random.default_rng(seed).permutation(reps)
    test = sorted(int(r) for r in perm[:n_test])
    return [r for r in reps if r not in test], test


def _importance(clf: Any, X: pd.DataFrame, y: np.ndarray, seed: int, names: Sequence[str]) -> list[dict[str, Any]]:
    from sklearn.inspection import permutation_importance

    imp = permutation_importance(clf, X.to_numpy(), y, scoring="roc_auc", n_repeats=3, random_state=seed)
    rows = [{"feature": n, "label": (FEATURE_LABELS | CELL_FEATURE_LABELS)[n], "auc_drop": float(m), "sd": float(s)}
            for n, m, s in zip(names, imp.importances_mean, imp.importances_std, strict=True)]
    return sorted(rows, key=lambda r: -r["auc_drop"])


@dataclass
class WarningResult:
    """What :func:`evaluate` returns.

    Attributes:
        evaluation: the JSON-ready evaluation (``evaluation.json``).
        model: the exit model refitted on every replication (for the watch list and :meth:`EarlyWarning.as_risk`).
        watchlist: :meth:`EarlyWarning.watchlist` of the run.
        roc: per exit-model score, its test ROC curve (``fpr``, ``tpr`` arrays), for plots.
        hot_spot_roc: the same for the hot-spot scores.
    """

    evaluation: dict[str, Any]
    model: EarlyWarning
    watchlist: pd.DataFrame
    roc: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    hot_spot_roc: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def check_horizon(horizon: Any, months: int) -> int:
    """``horizon`` if it is a whole number of months from 1 to min(24, months / 2).

    Raises:
        WarningError: otherwise.
    """
    top = min(MAX_HORIZON, months // 2)
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or not 1 <= horizon <= top:
        raise WarningError(f"--horizon {horizon!r}: allowed: a whole number of months from 1 to {top} (at most "
                           f"{MAX_HORIZON}, and at most half of the run's {months} reported months, so that some "
                           "months have a known outcome)")
    return int(horizon)


def check_run(panel: pd.DataFrame, horizon: Any) -> None:
    """Refuse a partner panel with fewer than :data:`MIN_REPLICATIONS` replications, or a bad ``horizon``.

    Raises:
        WarningError: naming what is wrong and what is allowed.
    """
    n = int(panel["replication"].nunique()) if "replication" in panel.columns else 1
    if n < MIN_REPLICATIONS:
        raise WarningError(f"{n} replication(s): allowed: at least {MIN_REPLICATIONS}, so that the models "
                           "are tested on replications they were not fitted on (run with --replications 10 or more)")
    check_horizon(horizon, int(panel["month"].max()) if len(panel) else 0)


def _roc(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y, s)
    return fpr, tpr


@_one_thread
def evaluate_exits(panel: pd.DataFrame, horizon: int = HORIZON, *, seed: int = 0, n_boot: int = BOOTSTRAP,
                   alarm_share: float = ALARM_SHARE, test_share: float = TEST_SHARE
                   ) -> tuple[dict[str, Any], EarlyWarning, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Out-of-sample evaluation of the exit models; also the model refitted on every replication.

    Raises:
        WarningError: too few replications, or too few exits in the training or the test group.
    """
    if "replication" not in panel.columns:
        panel = panel.assign(replication=0)
    check_run(panel, horizon)
    reps = sorted(int(r) for r in panel["replication"].unique())
    feats = partner_features(panel)
    labels = exit_labels(panel, horizon)
    assert (feats[list(KEYS)].to_numpy() == labels[list(KEYS)].to_numpy()).all()
    train_reps, test_reps = split_replications(reps, seed, test_share)
    tr = feats["replication"].isin(train_reps).to_numpy()
    te = ~tr

    def exits(mask: np.ndarray) -> int:
        lab = labels[mask & labels["complete"].to_numpy() & (labels["label"] == 1).to_numpy()]
        return int(lab.groupby(["replication", "partner_id"]).ngroups)

    n_tr, n_te = exits(tr), exits(te)
    if min(n_tr, n_te) < MIN_EXITS:
        raise WarningError(f"{n_tr} exiting partner(s) in the training replications and {n_te} in the test "
                           f"replications: allowed: at least {MIN_EXITS} in each, to fit and test the models (run "
                           "more replications or more months)")
    model = EarlyWarning.fit(feats[tr].reset_index(drop=True), labels[tr].reset_index(drop=True), horizon, seed)
    test = labels[te].reset_index(drop=True)
    tf = feats[te].reset_index(drop=True)
    test["classifier"] = model.risk(tf)
    test["cox"] = model.cox_risk(tf)
    test["satisfaction_rule"] = -tf["satisfaction"].to_numpy()
    ev = test[test["complete"]].reset_index(drop=True)
    y = ev["label"].to_numpy()
    clusters = (ev["replication"].astype(np.int64) * 1_000_000 + ev["partner_id"].astype(np.int64)).to_numpy()
    names = ("classifier", "cox", "satisfaction_rule")
    scores = bootstrap_aucs(y, {k: ev[k].to_numpy() for k in names}, clusters, reference="satisfaction_rule",
                            n_boot=n_boot, seed=seed)
    scores["no_skill"] = {"auc": 0.5, "ci_low": 0.5, "ci_high": 0.5}
    leads = {}
    for k in names:
        thr = float(np.quantile(test[k], 1.0 - alarm_share))
        leads[k] = lead_times(test, k, thr, 2 * horizon)
    Xte = tf.loc[test["complete"].to_numpy(), list(FEATURES)].reset_index(drop=True)
    result = {
        "horizon_months": horizon,
        "lookback_months": LOOKBACK,
        "label": f"the partner leaves the programme (any exit reason) within the next {horizon} months",
        "replications": {"train": train_reps, "test": test_reps},
        "rows": {"train": int(labels[tr]["complete"].sum()), "test": int(len(ev))},
        "exiting_partners": {"train": n_tr, "test": n_te},
        "base_rate": {"train": model.base_rate, "test": float(y.mean())},
        "auc": scores,
        "calibration": {"classifier": calibration(y, ev["classifier"].to_numpy(), model.base_rate),
                        "cox": calibration(y, ev["cox"].to_numpy(), model.base_rate)},
        "lead_time": {"alarm_share": alarm_share, "window_months": 2 * horizon, **leads},
        "importance": {"classifier_permutation": _importance(model.classifier, Xte, y, seed, FEATURES),
                       "cox": model.cox.table()},
    }
    roc = {k: _roc(y, ev[k].to_numpy()) for k in names}
    full = EarlyWarning.fit(feats, labels, horizon, seed)
    return result, full, roc


@_one_thread
def evaluate_hot_spots(conflicts: pd.DataFrame, *, months: int, territories: int | None, replications: Sequence[int],
                       seed: int = 0, n_boot: int = BOOTSTRAP, test_share: float = TEST_SHARE
                       ) -> tuple[dict[str, Any], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Out-of-sample evaluation of the hot-spot classifier against persistence.

    Returns ``{"evaluated": False, "reason": ...}`` when the run has too few quarters or rises to test.
    """
    cells = cell_features(conflicts, months=months, territories=territories, replications=replications)
    cells = cells[cells["label"].notna()].reset_index(drop=True)
    train_reps, test_reps = split_replications(replications, seed, test_share)
    tr = cells["replication"].isin(train_reps).to_numpy()
    y_tr, y_te = cells["label"].to_numpy()[tr], cells["label"].to_numpy()[~tr]
    if len(cells) == 0 or min(y_tr.sum(), y_te.sum(), (1 - y_tr).sum(), (1 - y_te).sum()) < MIN_EXITS:
        return {"evaluated": False, "reason": f"too few cell-quarters whose conflicts rose or did not rise "
                f"(at least {MIN_EXITS} of each in the training and the test replications are needed; "
                f"{months // 3} full quarters)"}, {}
    clf = _classifier(seed).fit(cells.loc[tr, list(CELL_FEATURES)].to_numpy(), y_tr)
    te = cells[~tr].reset_index(drop=True)
    te["classifier"] = clf.predict_proba(te[list(CELL_FEATURES)].to_numpy())[:, 1]
    te["persistence"] = te["change"].to_numpy()
    clusters = (te["replication"].astype(np.int64) * 1_000 + te["territory"].astype(np.int64) * 10
                + te["segment"].map({s: i for i, s in enumerate(SEGMENTS)}).astype(np.int64)).to_numpy()
    scores = bootstrap_aucs(y_te, {k: te[k].to_numpy() for k in ("classifier", "persistence")}, clusters,
                            reference="persistence", n_boot=n_boot, seed=seed)
    scores["no_skill"] = {"auc": 0.5, "ci_low": 0.5, "ci_high": 0.5}
    clf_all = _classifier(seed).fit(cells[list(CELL_FEATURES)].to_numpy(), cells["label"].to_numpy())
    latest = cell_features(conflicts, months=months, territories=territories, replications=replications)
    latest = latest[latest["quarter"] == latest["quarter"].max()].reset_index(drop=True)
    latest["risk"] = clf_all.predict_proba(latest[list(CELL_FEATURES)].to_numpy())[:, 1]
    top = latest.sort_values(["risk", "replication"], ascending=[False, True], kind="stable").head(10)
    result = {
        "evaluated": True,
        "label": "the territory x segment cell has more conflicts next quarter than this quarter",
        "baseline": "persistence: the cell's change on the quarter before (a cell whose conflicts rose keeps rising)",
        "replications": {"train": train_reps, "test": test_reps},
        "rows": {"train": int(tr.sum()), "test": int(len(te))},
        "base_rate": {"train": float(y_tr.mean()), "test": float(y_te.mean())},
        "auc": scores,
        "calibration": {"classifier": calibration(y_te, te["classifier"].to_numpy(), float(y_tr.mean()))},
        "importance": {"classifier_permutation": _importance(clf, te[list(CELL_FEATURES)], y_te, seed,
                                                              CELL_FEATURES)},
        "watch_cells": [{"replication": int(r.replication), "territory": int(r.territory), "segment": r.segment,
                         "conflicts_last_quarter": float(r.conflicts), "risk_of_rise": float(r.risk)}
                        for r in top.itertuples()],
    }
    return result, {k: _roc(y_te, te[k].to_numpy()) for k in ("classifier", "persistence")}


def evaluate(partners: pd.DataFrame, conflicts: pd.DataFrame | None = None, horizon: int = HORIZON, *,
             territories: int | None = None, seed: int = 0, n_boot: int = BOOTSTRAP,
             alarm_share: float = ALARM_SHARE) -> WarningResult:
    """Fit and test the exit and hot-spot models on a run's panels; rank the partners of the last month.

    Args:
        partners: ``partners.parquet`` of a run with several replications.
        conflicts: ``conflicts.parquet`` (hot spots are left out when None).
        horizon: k in "exits within the next k months".
        territories: the scenario's number of territories (default: the largest seen + 1).
        seed: seeds the replication split, the bootstrap and the models.
        n_boot: bootstrap resamples.
        alarm_share: share of partner-months the lead-time alarm flags.

    Raises:
        WarningError: too few replications or exits, or a bad horizon.
    """
    if "replication" not in partners.columns:
        partners = partners.assign(replication=0)
    exits, model, roc = evaluate_exits(partners, horizon, seed=seed, n_boot=n_boot, alarm_share=alarm_share)
    months = int(partners["month"].max())
    reps = sorted(int(r) for r in partners["replication"].unique())
    evaluation: dict[str, Any] = {
        "months": months,
        "replication_count": len(reps),
        "bootstrap": {"resamples": n_boot, "level": LEVEL, "unit_exits": "partner (all its months)",
                      "unit_hot_spots": "territory x segment cell (all its quarters)", "method": "percentile"},
        "seed": seed,
        "partner_exit": exits,
    }
    hot_roc: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if conflicts is not None:
        evaluation["hot_spots"], hot_roc = evaluate_hot_spots(
            conflicts, months=months, territories=territories, replications=reps, seed=seed, n_boot=n_boot)
    return WarningResult(evaluation, model, model.watchlist(partners), roc, hot_roc)


__all__ = ["ALARM_SHARE", "BOOTSTRAP", "CELL_FEATURES", "COX_FEATURES", "COX_PENALTY", "CoxModel", "EarlyWarning",
           "FEATURES", "HORIZON", "LOOKBACK", "LiveRisk", "WarningError", "WarningResult", "bootstrap_aucs",
           "calibration", "cell_features", "check_horizon", "check_run", "evaluate", "evaluate_exits",
           "evaluate_hot_spots", "exit_labels", "fit_cox", "lead_times", "partner_features", "split_replications",
           "weighted_auc"]
