"""``channelsim optimise`` end to end on a tiny scenario (in-process workers)."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

import sim
from channelsim.narrative import interval, quantity
from channelsim.optimise_cli import parse_bounds, parse_robust, parse_shares, register
from channelsim.report import fmt
from experiments.io import load_scenario

TINY = ["--set", "market.n_accounts=2000", "--set", "partners.n_initial=30", "--set", "time.warmup_months=3",
        "--months", "6"]


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    a = typer.Typer()
    register(a)

    @a.command("noop")
    def noop() -> None:  # a second command keeps `optimise` a sub-command
        pass

    return a


def test_optimise_writes_every_output(app, tmp_path):
    out = tmp_path / "opt"
    res = CliRunner().invoke(app, ["optimise", "baseline", "--budget", "5e6", "--cells", "all:discount,gold:rebate",
                                   "--levels", "0,1,2", "--replications", "2", "--workers", "1",
                                   "--lever-share", "rebate<=0.5", "--out", str(out), *TINY])
    assert res.exit_code == 0, res.output
    for f in ("allocation.csv", "response_curves.parquet", "validation.csv", "rounds.csv", "report.html"):
        assert (out / f).is_file(), f
    alloc = pd.read_csv(out / "allocation.csv")
    assert list(alloc.columns[:5]) == ["tier", "lever", "spend", "share", "marginal_roi"]
    assert alloc["share"].sum() == pytest.approx(1.0)
    val = pd.read_csv(out / "validation.csv")
    # the simple rules and, by default, the programme of an independent estimation seed (--stability)
    assert {"current", "optimised", "equal_split", "proportional_to_tier_revenue", "optimised_seed2"} == set(
        val["policy"])
    assert "stability: estimation seeds 0 and 1 give programmes" in " ".join(res.output.split())
    assert {"net_profit", "ci_low", "ci_high"} <= set(val.columns)
    curves = pd.read_parquet(out / "response_curves.parquet")
    assert {"cell", "multiplier", "spend", "value", "value_ci_low", "value_ci_high", "fit", "envelope"} <= set(curves)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["objective"] == "profit" and "incentives.discount_scale" in summary["overrides"]
    html = (out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html
    assert "http://" not in html and "https://" not in html
    srcs = re.findall(r"""src\s*=\s*["']([^"']*)""", html)
    assert not re.findall(r"""href\s*=""", html)
    # the validation, the allocation and the response curves, each with its caption
    assert len(srcs) == 3 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert html.count("<figcaption>") == 3
    # what was run
    for text in ("baseline", "all:discount, gold:rebate", "0, 1, 2", "channelsim version", summary["date"],
                 sim.__version__):
        assert text in html, text
    # the headline numbers of summary.json, and every cell of allocation.csv
    for key in ("budget", "total_spend", "expected_uplift"):
        assert f"<dd>{fmt(summary[key])}</dd>" in html, key
    for _, r in alloc.iterrows():
        assert f"<td>{r['tier']}</td><td>{r['lever']}</td><td>{fmt(r['spend'])}</td><td>{fmt(r['share'])}</td>" in html
    for _, r in val.iterrows():  # each policy's net profit with its 95 % CI (USD per year, in words)
        row = (f'<td class="text">{r["policy"].replace("_", " ")}</td><td>'
               f'{quantity("net_profit", r["net_profit"], with_unit=False)}</td><td class="ci">'
               f'{interval("net_profit", r["ci_low"], r["ci_high"])}</td>')
        assert row in html, row
    # the summary says in words whether the recommendation beats each simple rule
    v = val.set_index("policy")
    for rule, words in (("equal_split", "the equal split"), ("proportional_to_tier_revenue", "the split proportional")):
        beats = v.loc[rule, "omp_ci_low"] > 0
        assert (f"It beats {words}" in html) == beats
        assert (f"does not beat {words}" in html or f"does worse than {words}" in html) == (not beats)
    assert "optimised allocation" in res.output


def test_infeasible_constraints_exit_2_and_write_nothing(app, tmp_path):
    out = tmp_path / "bad"
    # within the budget (no conflict the pre-check sees), beyond anything the levels simulate (the LP sees it)
    res = CliRunner().invoke(app, ["optimise", "baseline", "--budget", "1e13", "--cells", "all:discount",
                                   "--levels", "0.5,1", "--replications", "2", "--workers", "1",
                                   "--lever-bound", "discount=1e12:", "--out", str(out), *TINY])
    assert res.exit_code == 2
    # the bound conflicts with the range of spend the levels simulated, whatever the budget
    assert "lever_bounds[discount]" in res.output and "simulated spend range" in res.output
    assert not out.exists()


def test_bad_options_name_the_option(app, tmp_path):
    r = CliRunner().invoke(app, ["optimise", "baseline", "--budget", "1", "--objective", "margin",
                                 "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "--objective" in r.output
    r = CliRunner().invoke(app, ["optimise", "baseline", "--budget", "1", "--cells", "gold:bribes",
                                 "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "unknown lever" in r.output


def test_option_parsers():
    rb = parse_robust("cvar:0.2:0.7")
    assert rb.alpha == 0.2 and rb.weight == 0.7
    assert parse_shares(["mdf<=0.4", "rebate>=0.1"]) == {"mdf": (None, 0.4), "rebate": (0.1, None)}
    assert parse_bounds(["gold:rebate=:5e4"], "--cell-bound") == {"gold/rebate": (None, 5e4)}
    with pytest.raises(ValueError, match="cvar"):
        parse_robust("var:0.1")


def test_the_recommended_rates_keep_the_tier_ladder_by_default(app, tmp_path):
    # Rebate and discount of three tiers, levels 0-2 x today's rates: whatever the noisy tiny curves say, the
    # default rate tier order keeps each lever's recommended rate non-decreasing from silver to platinum.
    out = tmp_path / "ladder"
    res = CliRunner().invoke(app, ["optimise", "baseline", "--budget", "2e6",
                                   "--cells", "silver:rebate,gold:rebate,platinum:rebate,silver:discount,"
                                              "gold:discount,platinum:discount",
                                   "--levels", "0,1,2", "--replications", "2", "--workers", "1", "--no-validate",
                                   "--out", str(out), *TINY])
    assert res.exit_code == 0, res.output
    rec = load_scenario(out / "recommended.yaml")
    tiers = {t.name: t for t in rec.tiering.tiers}
    for field in ("rebate_rate", "discount"):
        ladder = [getattr(tiers[t], field) for t in ("silver", "gold", "platinum")]
        assert ladder == sorted(ladder), (field, ladder)
    assert "inverted" not in res.output


def test_the_rate_order_is_refused_with_the_roi_objective_before_any_simulation(app, tmp_path):
    r = CliRunner().invoke(app, ["optimise", "baseline", "--budget", "1e6", "--objective", "roi",
                                 "--tier-order", "rate", "--out", str(tmp_path / "x"), *TINY])
    assert r.exit_code == 2 and "--tier-order rate" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "x").exists()


def test_the_budget_frontier_is_validated_at_every_budget(app, tmp_path):
    out = tmp_path / "front"
    res = CliRunner().invoke(app, ["optimise", "baseline", "--budget", "5e6", "--budgets", "0,2e6,5e6",
                                   "--cells", "all:discount,gold:rebate", "--levels", "0,1,2", "--replications", "2",
                                   "--workers", "1", "--no-stability", "--out", str(out), *TINY])
    assert res.exit_code == 0, res.output
    front = pd.read_csv(out / "frontier.csv")
    assert front["budget"].tolist() == [0.0, 2e6, 5e6]
    ok = front[front["status"] == "optimal"]
    assert len(ok) >= 2 and (ok["planned_spend"] <= ok["budget"] * (1 + 1e-9) + 1e-6).all()
    # the LP's best at a larger budget is at least as good on the curves it was solved on
    assert ok["predicted_uplift"].is_monotonic_increasing
    assert (ok["ci_low"] <= ok["net_profit_diff"]).all() and (ok["net_profit_diff"] <= ok["ci_high"]).all()
    assert "budget frontier" in res.output
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["frontier"]) == 3
    bad = CliRunner().invoke(app, ["optimise", "baseline", "--budget", "5e6", "--budgets", "1e6",
                                   "--out", str(tmp_path / "x"), *TINY])
    assert bad.exit_code == 2 and "--budgets" in bad.output and not (tmp_path / "x").exists()


def test_the_report_shows_the_frontier_and_says_each_warning_once(app, tmp_path):
    out = tmp_path / "front"
    res = CliRunner().invoke(app, ["optimise", "baseline", "--budget", "5e6", "--budgets", "1e6,5e6",
                                   "--cells", "all:discount,gold:rebate", "--levels", "0,1,2", "--replications", "2",
                                   "--workers", "1", "--out", str(out), *TINY])
    assert res.exit_code == 0, res.output
    html = (out / "report.html").read_text()
    assert "Budget frontier" in html and "earns the most in validation" in html
    assert html.count("data:image/png;base64,") == 4  # validation, frontier, allocation, response curves
    assert "stability: estimation seeds" not in html  # said in words in the summary, not repeated as a raw note


def test_joint_estimation_end_to_end_and_its_curves_re_solve(app, tmp_path):
    out = tmp_path / "joint"
    res = CliRunner().invoke(app, ["optimise", "baseline", "--budget", "5e6", "--cells", "all:discount,gold:rebate",
                                   "--levels", "0,1,2", "--estimation", "joint", "--design-points", "12",
                                   "--validation-replications", "2", "--rounds", "1", "--no-stability",
                                   "--workers", "1", "--out", str(out), *TINY])
    assert res.exit_code == 0, res.output
    assert "estimating 2 cells jointly: a balanced design of 12 points x 2 replications" in res.output
    rec = json.loads((out / "estimation.json").read_text())
    assert rec["estimation"] == "joint" and rec["replications"] == 2
    d = rec["diagnostics"]
    assert d["points"] == 12 and d["parameters"] == 4 and len(d["interactions"]) == 1
    assert json.loads((out / "summary.json").read_text())["estimation"] == "joint"
    html = " ".join((out / "report.html").read_text().split())
    assert "curves estimated jointly (a balanced design of 12 points over all cells x 2 replications" in html
    assert "joint: 12 design points over all cells x 2 replications" in html and "replications per level" not in html
    again = tmp_path / "again"
    res = CliRunner().invoke(app, ["optimise", "baseline", "--budget", "4e6", "--curves", str(out), "--no-validate",
                                   "--out", str(again), *TINY])
    assert res.exit_code == 0, res.output
    assert json.loads((again / "estimation.json").read_text())["estimation"] == "joint"


def test_joint_estimation_options_are_checked_before_any_simulation(app, tmp_path):
    for args, text in ((["--estimation", "joint", "--design-replications", "1"], "--design-replications: at least 2"),
                       (["--design-points", "30"], "--design-points is for --estimation joint"),
                       (["--estimation", "joint", "--design-points", "3"], "more points than level effects")):
        res = CliRunner().invoke(app, ["optimise", "baseline", "--budget", "5e6", "--cells", "all:discount,gold:rebate",
                                       "--levels", "0,1,2", "--workers", "1", "--out", str(tmp_path / "x"), *TINY,
                                       *args])
        assert res.exit_code == 2 and text in " ".join(res.output.split()), res.output
        assert not (tmp_path / "x").exists()
