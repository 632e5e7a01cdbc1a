"""Early intervention measured with common random numbers: exits avoided and profit, against two controls.

Three arms share each replication's seed and its warm-up (:func:`sim.warm_up` on the scenario without
intervention, simulated once; the arms take effect at the first reported month):

* ``none``: the programme without early intervention;
* ``risk``: early intervention on the top-risk partners (``partners.intervention``, risk targeting);
* ``random``: the same intervention on as many active partners drawn at random, at the same cost per
  partner (the control that tells targeting from spending). Both treated arms target the same number of
  partners a month (``partners_per_month = round(share x partners.n_initial)``), so they cost the same.

Replication ``r`` uses ``sim.seed_sequence(seed, SEED_KEY, r)`` in every arm, so the differences
``risk - none``, ``random - none`` and ``risk - random`` are paired: the noise the arms share (the market,
the partners drawn, every process the intervention does not touch) cancels, and each difference gets a
paired t-interval over the replications (:func:`experiments.stats.diff_ci`).

Reproduce the figures of docs/MODEL.md ("Early intervention")::

    python -m experiments.intervention --scale 1 --replications 16
    python -m experiments.intervention --scale 0.2 --replications 30
    python -m experiments.intervention --scale 0.2 --action contact     # or support
    python -m experiments.intervention --scale 0.2 --diagnose            # does the rule find the leavers?
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

import sim
from sim.policies import InterventionLever, Policies, default_levers, default_risk
from sim.policies.intervention import Risk

from .backends import make_backend
from .stats import LEVEL, diff_ci

SEED_KEY = 404  # seed_sequence(seed, SEED_KEY, r): the replications of intervention measurements
ARMS: tuple[str, ...] = ("none", "risk", "random")
#: (treatment, control) pairs reported, each as treatment - control.
CONTRASTS: tuple[tuple[str, str], ...] = (("risk", "none"), ("random", "none"), ("risk", "random"))
#: KPIs summed over the reported months (flows).
TOTALS: tuple[str, ...] = (
    "partners_exited", "partners_exited_choice", "partners_exited_terminated", "partners_exited_other",
    "partners_exited_targeted", "partner_exit_risk", "interventions", "intervention_spend", "incentive_spend",
    "revenue_partner", "gross_profit", "operating_profit", "partner_profit",
)


def arm_overrides(arm: str, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """The scenario changes of one arm: ``partners.intervention`` enabled with its targeting, or nothing.

    ``settings`` are further ``partners.intervention`` fields (e.g. ``{"action": "contact"}``) for both
    treated arms.
    """
    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm!r}; known: {ARMS}")
    if arm == "none":
        return {}
    over = {f"partners.intervention.{k}": v for k, v in (settings or {}).items()}
    over.update({"partners.intervention.enabled": True, "partners.intervention.targeting": arm})
    return over


def _totals(res: sim.RunResult) -> dict[str, float]:
    k = res.kpis
    out = {c: float(k[c].sum()) for c in TOTALS}
    out["active_partners_end"] = float(k["active_partners"].iloc[-1])
    out["active_partners"] = float(k["active_partners"].mean())
    return out


def run_replication(task: dict[str, Any]) -> dict[str, Any]:
    """Every arm of one replication, from one warm-up (a module-level task for the backends; never raises)."""
    record: dict[str, Any] = {"replication": task["replication"], "status": "ok", "error": None, "outputs": {}}
    try:
        base = task["scenario"]
        risk = task.get("risk")

        def seed():
            return sim.seed_sequence(task["seed"], SEED_KEY, task["replication"])

        policies = None
        if risk is not None:  # the same lever objects in the warm-up and every arm (a WarmStart keeps them)
            levers = [lv for lv in default_levers(base) if not isinstance(lv, InterventionLever)]
            policies = Policies(levers=[*levers, InterventionLever(base, risk=risk)])
        warm = sim.warm_up(base, seed(), policies=policies)
        for arm in task["arms"]:
            over = arm_overrides(arm, task.get("settings"))
            sc = base.with_overrides(over) if over else base
            record["outputs"][arm] = _totals(sim.run(sc, seed(), warmup=warm))
    except Exception as err:  # noqa: BLE001 - reported by measure()
        record.update(status="failed", error=f"{type(err).__name__}: {err}")
    return record


@dataclass(frozen=True)
class InterventionEffect:
    """The measured arms and their paired differences.

    Attributes:
        scenario: the scenario the arms start from (intervention settings of the treated arms applied on top).
        settings: the ``partners.intervention`` fields of the treated arms.
        totals: one row per (replication, arm), one column per total (:data:`TOTALS`, plus active partners).
        level: the confidence level of the intervals.
    """

    scenario: sim.Scenario
    settings: dict[str, Any]
    totals: pd.DataFrame
    level: float = LEVEL

    @property
    def replications(self) -> int:
        return int(self.totals["replication"].nunique())

    def arm(self, name: str) -> pd.DataFrame:
        """The totals of one arm, indexed by replication."""
        return self.totals[self.totals["arm"] == name].set_index("replication").sort_index()

    def difference(self, treatment: str, control: str, kpi: str):
        """Paired ``treatment - control`` of a total, with its t-interval (an :class:`experiments.stats.Interval`)."""
        a, b = self.arm(control)[kpi], self.arm(treatment)[kpi]
        return diff_ci(a, b, paired=True, level=self.level)

    def table(self, kpis: Sequence[str] = ("partners_exited", "partners_exited_choice", "partners_exited_terminated",
                                           "operating_profit", "intervention_spend", "revenue_partner")
              ) -> pd.DataFrame:
        """One row per (contrast, KPI): mean paired difference and its interval."""
        rows = []
        for treat, ctrl in CONTRASTS:
            for kpi in kpis:
                iv = self.difference(treat, ctrl, kpi)
                rows.append({"contrast": f"{treat} - {ctrl}", "kpi": kpi, "diff": iv.mean, "ci_low": iv.low,
                             "ci_high": iv.high, "n": iv.n})
        return pd.DataFrame(rows)

    def exits_avoided(self, control: str = "none"):
        """Exits avoided by risk targeting against ``control`` (control - risk), with its paired interval."""
        iv = self.difference("risk", control, "partners_exited")
        return type(iv)(-iv.mean, -iv.high, -iv.low, iv.n, iv.method)


def measure(
    scenario: sim.Scenario | None = None,
    replications: int = 20,
    *,
    seed: int = 2026,
    settings: dict[str, Any] | None = None,
    risk: Risk | None = None,
    workers: int | None = 1,
    arms: Sequence[str] = ARMS,
    equal_count: bool = True,
) -> InterventionEffect:
    """Run the arms with common random numbers and return their totals.

    Args:
        scenario: the scenario without intervention (the baseline when None); its own
            ``partners.intervention`` fields other than ``enabled`` and ``targeting`` apply to the treated arms.
        replications: paired replications (each runs every arm once, from one shared warm-up).
        seed: the experiment seed.
        settings: further ``partners.intervention`` fields for the treated arms (``action``, ``share``, ...).
        risk: a risk function ``risk(model) -> np.ndarray`` for risk targeting (``None``: the default rule);
            it must be picklable for ``workers`` other than 1.
        workers: local processes (``1``: in this process; ``None``: one per core).
        arms: the arms to run.
        equal_count: target the same number of partners every month in both treated arms,
            ``partners_per_month = round(share x partners.n_initial)`` (unless ``settings`` gives one), so that
            random targeting costs exactly what risk targeting does; ``False``: the share of the active
            partners, as the scenario has it (risk targeting keeps more partners, so it then spends a little more).
    """
    scenario = scenario if scenario is not None else sim.Scenario()
    settings = dict(settings or {})
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        raise ValueError(f"unknown arm(s) {unknown}; known: {ARMS}")
    if equal_count and settings.get("partners_per_month") is None:
        share = settings.get("share", scenario.partners.intervention.share)
        settings["partners_per_month"] = max(1, round(share * scenario.partners.n_initial))
    scenario.with_overrides(arm_overrides("risk", settings))  # fail early on bad settings
    tasks = [{"replication": r, "scenario": scenario, "arms": list(arms), "seed": seed, "settings": settings,
              "risk": risk} for r in range(replications)]
    rows = []
    with make_backend(workers=workers, in_process=workers == 1) as backend:
        for rec in backend.map_unordered(run_replication, tasks):
            if rec["status"] != "ok":
                raise RuntimeError(f"an intervention run failed (replication {rec['replication']}): {rec['error']}")
            for arm, out in rec["outputs"].items():
                rows.append({"replication": rec["replication"], "arm": arm, **out})
    totals = pd.DataFrame(rows).sort_values(["replication", "arm"]).reset_index(drop=True)
    return InterventionEffect(scenario, settings, totals)


def _auc(score: np.ndarray, y: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for the 0/1 outcome ``y`` (the Mann-Whitney U statistic, ties halved)."""
    pos, neg = score[y], score[~y]
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    return float(stats.mannwhitneyu(pos, neg).statistic / (pos.size * neg.size))


def rule_diagnostics(
    scenario: sim.Scenario | None = None,
    runs: int = 4,
    *,
    seed: int = 7,
    months_ahead: int = 6,
    top: float = 0.1,
) -> dict[str, float]:
    """Does the default risk rule find the partners that leave, and what drives their exit hazard?

    Runs ``scenario`` without intervention ``runs`` times; in each reported month (but the last
    ``months_ahead``) it scores the active partners with :func:`sim.policies.default_risk` and records
    whether each exits (any reason) within ``months_ahead`` months, and the three terms of its own-choice
    exit hazard (docs/MODEL.md, S14: satisfaction, line drop, inactivity).

    Returns:
        ``base_rate`` (share exiting within the window), ``auc_rule`` and ``auc_satisfaction`` (the rule's
        and satisfaction's AUC for that outcome), ``top_rate`` and ``rest_rate`` (exit shares of the top
        ``top`` by score and of the others), and ``share_satisfaction``, ``share_drop``,
        ``share_inactive``: the terms' shares of the top group's mean own-choice hazard.
    """
    scenario = scenario if scenario is not None else sim.Scenario()
    p = scenario.partners
    lc = p.lifecycle
    rows: list[tuple[np.ndarray, ...]] = []
    for r in range(runs):
        model = sim.ChannelModel(scenario, rng=sim.seed_sequence(seed, SEED_KEY, r))
        snaps = []
        while model.running:
            model.step()
            if scenario.time.warmup_months < model.month < model.horizon - months_ahead:
                t = model.partners
                act = np.flatnonzero(t.active)
                x = lc.exit_satisfaction_slope * (p.satisfaction.pivot - t.satisfaction[act])
                sat_term = lc.exit_hazard * np.exp(np.minimum(x, 50.0))
                short = np.clip(lc.exit_profit_floor - t.profit_ratio()[act], 0.0, None)
                floor = lc.exit_profit_floor
                drop = np.clip(short / floor, 0.0, 1.0) if floor > 0 else (short > 0) * 1.0
                inactive = ((model.month - t.last_deal[act]) >= lc.inactive_months) * lc.inactive_exit_hazard
                snaps.append((model.month, act, default_risk(model)[act], t.satisfaction[act].copy(), sat_term,
                              lc.exit_drop_hazard * drop, inactive))
        t = model.partners
        for month, act, score, sat, s_term, d_term, i_term in snaps:
            left = t.left[act]
            y = (left >= month) & (left < month + months_ahead) & (t.exit_reason[act] > 0)
            rows.append((score, y, sat, s_term, d_term, i_term))
    score, y, sat, s_term, d_term, i_term = (np.concatenate([row[k] for row in rows]) for k in range(6))
    high = score >= np.quantile(score, 1.0 - top)
    total = s_term[high].mean() + d_term[high].mean() + i_term[high].mean()
    return {
        "base_rate": float(y.mean()),
        "auc_rule": _auc(score, y),
        "auc_satisfaction": _auc(-sat, y),
        "top_rate": float(y[high].mean()),
        "rest_rate": float(y[~high].mean()),
        "share_satisfaction": float(s_term[high].mean() / total),
        "share_drop": float(d_term[high].mean() / total),
        "share_inactive": float(i_term[high].mean() / total),
    }


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m experiments.intervention``: print the paired comparison of the three arms."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=0.2, help="market share of the baseline (Scenario.scaled)")
    ap.add_argument("--replications", type=int, default=30)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--action", choices=("mdf", "support", "contact"), default=None)
    ap.add_argument("--share", type=float, default=None)
    ap.add_argument("--cost", type=float, default=None, help="cost_per_partner (USD per partner-month)")
    ap.add_argument("--diagnose", action="store_true",
                    help="print how well the default rule ranks the partners that exit (rule_diagnostics) instead")
    args = ap.parse_args(argv)
    base = sim.Scenario()
    if args.scale < 1:
        base = base.scaled(args.scale)
    if args.diagnose:
        for key, value in rule_diagnostics(base).items():
            print(f"{key:20s} {value:.3f}")
        return
    settings = {k: v for k, v in (("action", args.action), ("share", args.share),
                                   ("cost_per_partner", args.cost)) if v is not None}
    eff = measure(base, args.replications, seed=args.seed, settings=settings, workers=args.workers)
    with pd.option_context("display.width", 160, "display.float_format", "{:,.2f}".format):
        print(f"scale {args.scale}, {eff.replications} paired replications, seed {args.seed}, settings {settings}")
        print(eff.totals.groupby("arm")[["partners_exited", "operating_profit", "intervention_spend",
                                         "interventions"]].mean())
        print(eff.table().to_string(index=False))


if __name__ == "__main__":  # pragma: no cover
    main()


__all__ = ["ARMS", "CONTRASTS", "SEED_KEY", "TOTALS", "InterventionEffect", "arm_overrides", "measure",
           "rule_diagnostics", "run_replication"]
