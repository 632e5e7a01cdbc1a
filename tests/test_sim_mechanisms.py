"""Each mechanism moves its KPIs in the direction the brief and issue 2 expect.

Method: paired comparisons with common seeds (the control and the what-if run
with the same seeds, so shared randomness cancels), R replications, and a
one-sided test on the paired t statistic, t = mean(d) / (sd(d)/sqrt(R)).  The
seeds are fixed, so each test is deterministic; the threshold guards against
the model changing under it: a direction is accepted only when t >= T_MIN
(T_MIN = 3: p < 0.005 one-sided for R = 20, where the 1 % point of Student's t
with 19 degrees of freedom is 2.54 and the 0.5 % point 2.86).  R = 20 rather than 10
because the kernel is still being recalibrated, and every change of the random
streams moves the observed t by one or two units: at R = 10 two directions sat
at t = 2.6 and 3.7 after one such change.  Each test states the effect, its standard
error and t observed when it was written, so the margin to the threshold is
visible.

What-ifs come from the shipped scenario files (``scenarios/<name>.yaml``),
applied to the small scenario of ``conftest.py`` (5,000 accounts, 5
territories, 60 partners, 6 + 24 months) unless a test says otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from conftest import small

import sim
from sim.policies import MDFLever, Policies
from sim.policies.levers import default_levers

ROOT = Path(__file__).resolve().parent.parent
T_MIN = 3.0
SEEDS = list(range(100, 120))  # R = 20


def what_if(name: str) -> dict[str, object]:
    """The overrides a shipped what-if file makes to the baseline, as dotted paths."""
    data = yaml.safe_load((ROOT / "scenarios" / f"{name}.yaml").read_text())
    assert data.pop("extends", None) in ("baseline", "baseline.yaml"), f"{name}.yaml must extend the baseline"
    data.pop("name", None)
    data.pop("description", None)

    def flat(d: dict, prefix: str = "") -> dict[str, object]:
        out: dict[str, object] = {}
        for k, v in d.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out

    return flat(data)


_CACHE: dict[tuple[str, int], sim.RunResult] = {}


def run_cached(overrides: dict[str, object], seed: int) -> sim.RunResult:
    """Runs of the small scenario, shared between tests (the control arm is used by several)."""
    key = (json.dumps(overrides, sort_keys=True), seed)
    if key not in _CACHE:
        _CACHE[key] = sim.run(small(overrides), seed)
    return _CACHE[key]


def arms(metric, treatment: dict, control: dict | None = None, seeds=SEEDS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-replication metrics of control and treatment with common seeds."""
    control = control or {}
    a = pd.DataFrame([metric(run_cached(control, s)) for s in seeds], index=list(seeds))
    b = pd.DataFrame([metric(run_cached({**control, **treatment}, s)) for s in seeds], index=list(seeds))
    return a, b


def paired_t(a: pd.Series, b: pd.Series) -> tuple[float, float, float]:
    d = (b - a).to_numpy(dtype=float)
    mean = float(d.mean())
    se = float(d.std(ddof=1) / np.sqrt(d.size))
    return mean, se, (mean / se if se > 0 else (np.inf if mean > 0 else -np.inf if mean < 0 else 0.0))


def assert_raises(a: pd.Series, b: pd.Series, what: str, t_min: float = T_MIN) -> None:
    mean, se, t = paired_t(a, b)
    assert t >= t_min, f"{what}: expected a rise, paired mean {mean:.4g} (se {se:.3g}, t {t:.2f} < {t_min})"


def assert_lowers(a: pd.Series, b: pd.Series, what: str, t_min: float = T_MIN) -> None:
    mean, se, t = paired_t(a, b)
    assert t <= -t_min, f"{what}: expected a fall, paired mean {mean:.4g} (se {se:.3g}, t {t:.2f} > -{t_min})"


# ---------------------------------------------------------------------- conflict (part 5)

def _conflicts(res: sim.RunResult) -> dict[str, float]:
    k, c = res.kpis, res.conflicts
    horizontal = c[c["type"] == "horizontal"]
    return {
        "horizontal": float(k["conflicts_horizontal"].sum()),
        "horizontal_fought": float((horizontal["resolution"] == "price_contest").sum()),
        "vertical": float(k["conflicts_vertical"].sum()),
        "margin_lost": float(k["margin_lost_to_conflict"].sum()),
        "management": float((k["conflict_cost"] - k["margin_lost_to_conflict"]).sum()),
        "partner_satisfaction": float(k["partner_satisfaction"].mean()),
        "mediated": float(k["conflicts_resolved_mediation"].sum()),
        "conflicts": float(k[["conflicts_horizontal", "conflicts_vertical", "conflicts_multichannel"]].sum().sum()),
    }


def test_deal_registration_off_raises_horizontal_conflicts():
    # deal_registration_off.yaml keeps only the rules of engagement.  A registration known in
    # advance keeps other partners off the deal (the conflict never starts); without it they
    # pursue, and what they fight over goes to the price contest, which erodes margin.
    # Observed (R = 20): horizontal conflicts +91 on 145 (se 12, t 7.7); those settled by
    # price contest +138 on 98 (se 12, t 11.7); margin lost +0.76M on 0.10M (se 0.08M, t 10).
    a, b = arms(_conflicts, what_if("deal_registration_off"))
    assert_raises(a["horizontal"], b["horizontal"], "horizontal conflicts (KPI conflicts_horizontal)")
    assert_raises(a["horizontal_fought"], b["horizontal_fought"], "horizontal conflicts settled by price contest")
    assert_raises(a["margin_lost"], b["margin_lost"], "margin lost to conflict")


def test_direct_expansion_raises_vertical_conflicts_and_lowers_partner_satisfaction():
    # direct_expansion.yaml: direct sales in every territory, twice the sellers, small accounts
    # too, no protections.  Observed (R = 20): vertical conflicts +707 on 44 (se 19, t 38);
    # partner satisfaction -0.033 on 0.599 (se 0.0017, t -20).
    a, b = arms(_conflicts, what_if("direct_expansion"))
    assert_raises(a["vertical"], b["vertical"], "vertical conflicts")
    assert_lowers(a["partner_satisfaction"], b["partner_satisfaction"], "partner satisfaction")


def test_direct_expansion_with_rules_of_engagement_only():
    # The same expansion with the rules of engagement kept (registration off): the account-size
    # rule keeps direct sales off part of the partners' deals, but the overlap still raises
    # vertical conflicts and costs partner satisfaction.  Observed (R = 20): vertical +255 on 44
    # (se 11, t 24); partner satisfaction -0.018 (se 0.0015, t -12).
    over = {**what_if("direct_expansion"), "conflict.protections": ["rules_of_engagement"]}
    a, b = arms(_conflicts, over)
    assert_raises(a["vertical"], b["vertical"], "vertical conflicts")
    assert_lowers(a["partner_satisfaction"], b["partner_satisfaction"], "partner satisfaction")


def test_mediation_costs_management_time():
    # mediation.yaml: conflicts left open go to mediation (USD 1,200 of management time each,
    # on top of the USD 150 every conflict costs) instead of the price contest.
    # Observed (R = 20): management cost +342k on 69k (se 21k, t 16); margin lost falls to 0.
    a, b = arms(_conflicts, what_if("mediation"))
    assert_raises(a["management"], b["management"], "conflict management cost")
    assert (b["margin_lost"] == 0).all(), "mediation erodes no price"
    assert (a["margin_lost"] > 0).all()
    sc = small(what_if("mediation")).conflict
    # Every conflict costs the management fee; each mediated one at most the mediation fee on top.
    assert (b["management"] >= sc.management_cost * b["conflicts"] - 1e-6).all()
    assert (b["management"] <= sc.management_cost * b["conflicts"] + sc.mediation_cost * b["mediated"] + 1e-6).all()
    assert (b["management"] > sc.management_cost * b["conflicts"]).all()


# ---------------------------------------------------------------------- incentives (part 2)

# The rebate's effect on mindshare and partner revenue is asserted in tests/test_sim_levers.py, on a
# market large enough for it (issue 11).


class CountingMDF(MDFLever):
    """The shipped MDF lever, counting the leads it generates (a researcher's instrumented lever)."""

    def __init__(self, scenario):
        super().__init__(scenario)
        self.leads = 0

    def apply(self, model, event, paid):
        super().apply(model, event, paid)
        if model.month >= model.config.time.warmup_months:
            self.leads += int(np.sum(event.extra["mdf_leads"]))


def _mdf_run(overrides: dict, seed: int) -> dict[str, float]:
    sc = small(overrides)
    levers = [CountingMDF(sc) if isinstance(lv, MDFLever) else lv for lv in default_levers(sc)]
    res = sim.run(sc, seed, policies=Policies(levers=levers))
    counter = next(lv for lv in levers if isinstance(lv, CountingMDF))
    return {"spend_mdf": float(res.kpis["spend_mdf"].sum()), "leads": float(counter.leads),
            "revenue_partner": float(res.kpis["revenue_partner"].sum())}


MDF_SEEDS = SEEDS


def test_mdf_scale_raises_mdf_spend_and_leads():
    # mdf_shift.yaml: MDF accrues at twice the rate; partners claim part of a bigger fund and
    # turn it into leads.  Observed (R = 20): MDF paid +41k on 33k (se 7.1k, t 5.8); MDF leads
    # +31 on 38 (se 4.5, t 7.0).  Partner revenue +0.65M on 20.5M (se 0.45M, t 1.4) is not
    # asserted: 40-70 leads over two years are a few per cent of the partners' opportunities.
    over = what_if("mdf_shift")
    a = pd.DataFrame([_mdf_run({}, s) for s in MDF_SEEDS])
    b = pd.DataFrame([_mdf_run(over, s) for s in MDF_SEEDS])
    assert_raises(a["spend_mdf"], b["spend_mdf"], "MDF paid")
    assert_raises(a["leads"], b["leads"], "MDF leads")


def test_training_raises_capability_after_the_lag():
    # Training x3 from month 0 (no warm-up).  Training reaches capability only after
    # lag_months, so the two arms are identical - not merely close - until then, and the
    # partners' capability is higher afterwards.  The win rate it buys is small next to the
    # noise at this size (partner win rate +0.002, se 0.0011, t 2.0 when written) and is not
    # asserted; capability of selling partners, months 13-30, is.
    base = {"time.warmup_months": 0, "time.months": 30}
    lag = small(base).incentives.training.lag_months

    def metric(res):
        k, p = res.kpis, res.partners
        late = p[(p["month"] > 12) & p["lifecycle"].isin(["active", "improvement_plan"])]
        return {
            "win_early": k["win_rate"].iloc[:lag].to_numpy(),
            "revenue_early": k["revenue_total"].iloc[:lag].to_numpy(),
            "capability_late": float(late["capability"].mean()),
            "win_rate": k["win_rate"].to_numpy(),
        }

    a, b = arms(metric, {"incentives.training.scale": 3.0}, base)
    for seed in SEEDS:
        np.testing.assert_array_equal(a.loc[seed, "win_early"], b.loc[seed, "win_early"])
        np.testing.assert_array_equal(a.loc[seed, "revenue_early"], b.loc[seed, "revenue_early"])
        differs = np.flatnonzero(a.loc[seed, "win_rate"] != b.loc[seed, "win_rate"])
        assert differs.size and differs[0] + 1 > lag, f"seed {seed}: win rate differs in month {differs[0] + 1}"
    assert_raises(a["capability_late"], b["capability_late"], "capability of selling partners, months 13-30")


# ---------------------------------------------------------------------- recruitment (part 1)

def test_strict_prequalification_fewer_partners_more_capable_ones():
    # A market where recruits make most of the partner base (20 initial partners, 3 prospects
    # a month from events and directories, 36 months), so the filter has something to act on.
    # Observed (R = 20): active partners -4.6 on 24.1 (se 0.53, t -8.7); mean contest
    # capability of partners in the programme +0.029 on 0.620 (se 0.0037, t 7.9).
    # Partner revenue per active partner does not rise detectably (-2.8k on 89k, se 15k,
    # t -0.2): the partners in a cell share its voice (docs/MODEL.md, S7), so fewer partners
    # sell about as much each, and +0.03 of capability is +0.09 on the contest logit, small
    # against the size tail that dominates revenue per partner.  docs/MODEL.md states this.
    base = {"partners.n_initial": 20, "partners.recruitment.sources.events.rate": 1.5,
            "partners.recruitment.sources.directories.rate": 1.5, "time.months": 36}

    def metric(res):
        return {
            "active_partners": float(res.kpis["active_partners"].mean()),
            "capability": float(res.partners["capability"].mean()),
        }

    a, b = arms(metric, what_if("strict_prequalification"), base)
    assert_lowers(a["active_partners"], b["active_partners"], "active partners")
    assert_raises(a["capability"], b["capability"], "mean contest capability of partners")
