"""The words of the reports: numbers in words, and summaries and tiles generated from a comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from channelsim import narrative
from experiments.replication import compare_headlines


@pytest.mark.parametrize(("kpi", "value", "change", "want"), [
    ("gross_profit", 18_771_131.0, False, "18.8 M USD"),
    ("gross_profit", -1_547_512.0, True, "-1.55 M USD"),
    ("incentive_spend", 94_550.0, True, "+94.5 k USD"),
    ("market_share", 0.556, False, "55.6 %"),
    ("market_share", 0.0123, True, "+1.2 pp"),
    ("win_rate", 0.00033, True, "+0.03 pp"),  # a small change keeps a visible digit
    ("partner_satisfaction", 0.62, False, "0.620"),
    ("partner_nps", -5.03, False, "-5.0 points"),
    ("incentive_roi", -0.291, True, "-0.29"),
    ("active_partners_end", 65.7, False, "65.7 partners"),
    ("customers_new", 316.0, True, "+316 customers"),
    ("net_profit", 2.5e6, True, "+2.5 M USD per year"),
    ("gross_profit", float("nan"), False, "n/a"),
])
def test_quantity_in_words(kpi, value, change, want):
    assert narrative.quantity(kpi, value, change=change) == want


def test_direction_follows_what_is_better_for_the_vendor():
    assert narrative.direction("gross_profit", 1.0) == "better"
    assert narrative.direction("gross_profit", -1.0) == "worse"
    assert narrative.direction("conflicts_vertical", 3.0) == "worse"  # more conflicts: worse
    assert narrative.direction("margin_lost_to_conflict", -3.0) == "better"
    assert narrative.direction("incentive_spend", 3.0) == "changed"  # spend has no better direction


def _headlines(rng: np.random.Generator, shift: dict[str, float], n: int = 6) -> pd.DataFrame:
    base = {"gross_profit": 20e6, "revenue_total": 35e6, "partner_nps": -5.0, "conflicts_vertical": 130.0,
            "incentive_spend": 8e6}
    noise = {"gross_profit": 1e5, "revenue_total": 2e6, "partner_nps": 4.0, "conflicts_vertical": 1.0,
             "incentive_spend": 1e4}
    return pd.DataFrame({k: v + shift.get(k, 0.0) + rng.normal(0, noise[k], n) for k, v in base.items()})


@pytest.fixture
def comparison():
    """B vs A, unpaired: gross profit up 2 M (20 standard errors), conflicts up 20, spend up 1 M; revenue and
    NPS move by far less than their noise (seeded; the shifts are chosen so that the verdicts cannot flip)."""
    rng = np.random.default_rng(3)
    a = _headlines(rng, {})
    b = _headlines(rng, {"gross_profit": 2e6, "conflicts_vertical": 20.0, "incentive_spend": 1e6})
    return compare_headlines(a, b, a="baseline", b="rebate_boost", paired=False)


def test_comparison_summary_says_what_changed_by_how_much_and_what_did_not(comparison):
    t = comparison.table
    assert t["significant"].to_dict() == {"gross_profit": True, "revenue_total": False, "partner_nps": False,
                                          "conflicts_vertical": True, "incentive_spend": True}
    ran, changed, unchanged = narrative.comparison_summary(comparison)
    assert ran.startswith("What was compared: rebate_boost (B, the what-if) against baseline (A, the reference), "
                          "6 replications each") and "Welch" in ran
    r = t.loc["gross_profit"]
    gp = (f"gross profit {narrative.quantity('gross_profit', r['diff'], change=True)} ({r['pct']:+.1f} %, 95 % CI "
          f"{narrative.interval('gross_profit', r['ci_low'], r['ci_high'], change=True)})")
    assert changed.startswith("rebate_boost vs baseline, significant changes") and gp in changed
    assert "vertical conflicts +" in changed and "incentive spend +" in changed
    assert "revenue" not in changed and "NPS" not in changed
    assert unchanged == "No significant change in revenue and partner NPS."


def test_comparison_tiles_colour_only_significant_changes_and_say_so(comparison):
    tiles = {t.key: t for t in narrative.comparison_tiles(comparison)}
    assert set(tiles) == {"gross_profit", "revenue_total", "partner_nps", "incentive_spend"}  # the tile KPIs present
    assert (tiles["gross_profit"].status, tiles["gross_profit"].verdict) == ("better", "significant increase: better")
    assert (tiles["incentive_spend"].status, tiles["incentive_spend"].verdict) == ("changed", "significant increase")
    assert (tiles["revenue_total"].status, tiles["revenue_total"].verdict) == ("flat", "no significant change")
    gp = comparison.table.loc["gross_profit"]
    assert tiles["gross_profit"].value == narrative.quantity("gross_profit", gp["b"])
    assert tiles["gross_profit"].pct == f"{gp['pct']:+.1f} %" and tiles["gross_profit"].ci.startswith("95 % CI [")


def test_one_replication_has_no_verdicts():
    rng = np.random.default_rng(1)
    cmp = compare_headlines(_headlines(rng, {}, n=1), _headlines(rng, {"gross_profit": 5e6}, n=1), a="a", b="b",
                            paired=True)
    assert not cmp.has_intervals and not cmp.paired and not cmp.table["significant"].any()
    paragraphs = narrative.comparison_summary(cmp)
    assert "One replication per run" in paragraphs[-1] and "significant" not in paragraphs[1]
    assert {t.status for t in narrative.comparison_tiles(cmp)} == {"flat"}


def test_run_summary_gives_levels_with_cis_and_flags_one_replication():
    kpis = {"gross_profit": {"mean": 18.8e6, "ci_low": 8.2e6, "ci_high": 29.4e6},
            "partner_nps": {"mean": -5.0, "ci_low": -21.0, "ci_high": 11.0}}
    s = {"scenario": "baseline", "replications": 3, "months": 12, "warmup_months": 3, "seed": 7, "kpis": kpis}
    ran, levels, wide = narrative.run_summary(s)
    assert ran == "What was run: baseline, 3 replications of 12 months after 3 warm-up months, seed 7."
    assert "gross profit 18.8 M USD (95 % CI [8.2 M, 29.4 M])" in levels and "partner NPS -5.0 points" in levels
    assert "±56 % of its mean" in wide  # (29.4 - 8.2) / 2 / 18.8
    one = narrative.run_summary({**s, "replications": 1})
    assert "95 % CI" not in one[1] and one[2].startswith("One replication")


def _optimisation(omp: dict[str, tuple[float, float, float]], recommended: str = "optimised"):
    """An optimisation result as the report reads it: validation rows of optimised - policy (mean, low, high)."""
    from types import SimpleNamespace

    rows = [{"policy": "current", "net_profit": 10e6, "diff_vs_current": 0.0, "diff_ci_low": 0.0, "diff_ci_high": 0.0},
            {"policy": "optimised", "net_profit": 11e6, "diff_vs_current": 1e6, "diff_ci_low": 0.4e6,
             "diff_ci_high": 1.6e6}]
    for name, (d, lo, hi) in omp.items():
        rows.append({"policy": name, "net_profit": 11e6 - d, "optimised_minus_policy": d, "omp_ci_low": lo,
                     "omp_ci_high": hi})
    val = pd.DataFrame(rows)
    frame = pd.DataFrame({"tier": ["all", "gold"], "lever": ["discount", "rebate"], "spend": [3e6, 1e6],
                          "original_current": [2.5e6, 1.5e6]})
    alloc = SimpleNamespace(budget=5e6, objective="profit", total_spend=4e6, expected_uplift=0.8e6)
    return SimpleNamespace(allocation=alloc, allocation_frame=lambda: frame, validation=val, validated=True,
                           validation_runs=pd.DataFrame({"rep": range(4)}), recommended=recommended)


INFO = {"scenario_name": "baseline", "cells": ["all:discount", "gold:rebate"], "levels": [0, 1, 2],
        "replications": 2, "seed": 0}


def test_optimise_summary_warns_when_a_simple_rule_does_as_well_or_better():
    beats = _optimisation({"equal_split": (0.5e6, 0.1e6, 0.9e6),
                           "proportional_to_tier_revenue": (0.3e6, 0.05e6, 0.6e6)})
    paragraphs, warns = narrative.optimise_summary(beats, INFO)
    assert warns == []
    assert any(p.startswith("In validation the optimised programme earns +1 M USD per year") for p in paragraphs)
    assert any(p.startswith("It beats the equal split of the budget by +500 k USD per year") for p in paragraphs)
    assert "largest moves: all/discount +500 k and gold/rebate -500 k USD per year" in paragraphs[1]

    noise = _optimisation({"equal_split": (0.2e6, -0.3e6, 0.7e6)})
    _, warns = narrative.optimise_summary(noise, INFO)
    assert len(warns) == 1 and warns[0].startswith("The recommendation does not beat the equal split")
    assert "includes zero" in warns[0]

    worse = _optimisation({"equal_split": (-0.6e6, -0.9e6, -0.3e6)}, recommended="equal_split")
    _, warns = narrative.optimise_summary(worse, INFO)
    assert warns[0].startswith("Recommended programme: equal split, not the optimised allocation: in validation "
                               "it earns +600 k USD per year more")
    assert warns[1].startswith("The recommendation does worse than the equal split")


def test_optimise_summary_reports_the_stability_check():
    stable = _optimisation({"optimised_seed2": (0.1e6, -0.2e6, 0.4e6)})
    paragraphs, warns = narrative.optimise_summary(stable, INFO)
    assert warns == [] and any(p.startswith("Stability: the programme estimated again") for p in paragraphs)
    unstable = _optimisation({"optimised_seed2": (0.9e6, 0.5e6, 1.3e6)})
    _, warns = narrative.optimise_summary(unstable, INFO)
    assert len(warns) == 1 and warns[0].startswith("The recommendation depends on the estimation seed")
