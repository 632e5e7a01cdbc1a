"""Scenario files a strategist can edit: tiers by name, "did you mean" for misspelt fields, percentages as shares."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import sim
from channelsim.cli import app
from experiments.io import load_scenario
from sim.errors import ScenarioError, did_you_mean, percent_hint


def validate(*args: str):
    return CliRunner().invoke(app, ["validate", *map(str, args)])


def tiers(sc: sim.Scenario) -> dict[str, sim.scenario.TierConfig]:
    return {t.name: t for t in sc.tiering.tiers}


# ------------------------------------------------------------------ tiers by name
def test_a_file_changes_one_tier_by_name_and_keeps_the_others(tmp_path):
    p = tmp_path / "gold.yaml"
    p.write_text("extends: baseline\ntiering:\n  tiers:\n    gold: {discount: 0.3, min_ttm_revenue: 400000}\n")
    base, sc = tiers(load_scenario("baseline")), tiers(load_scenario(p))
    assert list(sc) == list(base)
    assert sc["gold"].discount == 0.3 and sc["gold"].min_ttm_revenue == 400_000
    assert sc["gold"].rebate_rate == base["gold"].rebate_rate  # fields not named are kept
    assert sc["silver"] == base["silver"] and sc["platinum"] == base["platinum"]


def test_a_mapping_changes_the_tiers_of_the_file_it_extends(tmp_path):
    """Over tier_restructure's list (member, advanced, elite), not over the default tiers."""
    p = tmp_path / "elite.yaml"
    p.write_text("extends: tier_restructure\ntiering:\n  tiers:\n    elite: {discount: 0.25}\n")
    base, sc = tiers(load_scenario("tier_restructure")), tiers(load_scenario(p))
    assert list(sc) == ["member", "advanced", "elite"]
    assert sc["elite"].discount == 0.25 and sc["elite"].training_budget == base["elite"].training_budget
    assert sc["member"] == base["member"]


def test_a_file_without_extends_changes_the_default_tiers(tmp_path):
    p = tmp_path / "plain.yaml"
    p.write_text("tiering:\n  tiers:\n    platinum: {rebate_rate: 0.12}\n")
    sc = tiers(load_scenario(p))
    assert sc["platinum"].rebate_rate == 0.12 and list(sc) == sim.Scenario().tier_names


@pytest.mark.parametrize("value", ["tiering.tiers={gold: {discount: 0.3}}", "tiering.tiers.gold={discount: 0.3}",
                                   "tiering.tiers.gold.discount=0.3", "tiering.tiers.2={discount: 0.3}"])
def test_set_changes_one_tier_in_every_form(value):
    from channelsim.cli import build_scenario

    sc, _ = build_scenario("baseline", [value])
    base = tiers(sim.Scenario())
    got = tiers(sc)
    assert got["gold"].discount == 0.3 and got["gold"].leads_per_month == base["gold"].leads_per_month
    assert {k: v for k, v in got.items() if k != "gold"} == {k: v for k, v in base.items() if k != "gold"}


def test_an_unknown_tier_name_is_refused_naming_the_tiers(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("extends: tier_restructure\ntiering:\n  tiers:\n    gold: {discount: 0.3}\n")
    res = validate(p)
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert str(p) in res.stderr and "no tier 'gold'" in res.stderr and "member, advanced, elite" in res.stderr
    res = validate("baseline", "--set", "tiering.tiers={diamond: {discount: 0.3}}")
    assert res.exit_code == 2 and "no tier 'diamond'" in res.stderr and "whole list" in res.stderr
    res = validate("baseline", "--set", "tiering.tiers.gold={name: diamond}")
    assert res.exit_code == 2 and "keeps its name" in res.stderr


def test_the_whole_list_still_replaces_the_tiers(tmp_path):
    sc = load_scenario("tier_restructure")
    assert sc.tier_names == ["member", "advanced", "elite"]


# ------------------------------------------------------------------ did you mean
def test_did_you_mean_for_a_misspelt_field_in_a_file(tmp_path):
    p = tmp_path / "typo.yaml"
    p.write_text("extends: baseline\nmarket:\n  n_acounts: 5000\ntiers:\n  gold: {discount: 0.3}\n")
    res = validate(p)
    assert res.exit_code == 2
    assert "market.n_acounts" in res.stderr and "did you mean 'n_accounts'?" in res.stderr
    assert "did you mean 'tiering.tiers'?" in res.stderr  # a key one level too high: the whole path
    assert len(res.stderr.strip().splitlines()) == 3  # one paragraph: the file, then one line per problem


@pytest.mark.parametrize(("path", "suggestion"), [
    ("market.n_acount=3", "n_accounts"), ("incentive.rebate.scale=2", "incentives"),
    ("tiering.tiers.gol.discount=0.3", "gold"), ("tiers.gold.discount=0.3", "tiering.tiers.gold.discount"),
    ("market.deal_size.Smal=3", "small"),
])
def test_did_you_mean_for_a_misspelt_set_path(path, suggestion):
    res = validate("baseline", "--set", path)
    assert res.exit_code == 2 and f"did you mean '{suggestion}'?" in res.stderr, res.stderr


def test_did_you_mean_for_a_misspelt_scenario_name():
    for command in (["validate", "rebate_bost"], ["run", "rebate_bost", "-o", "never"]):
        res = CliRunner().invoke(app, command)
        assert res.exit_code == 2 and "did you mean 'rebate_boost'?" in res.stderr


def test_nothing_is_suggested_when_nothing_is_close():
    assert did_you_mean("zzzz", ["n_accounts", "bass_p"]) == ""
    res = validate("baseline", "--set", "market.qqqqqq=1")
    assert res.exit_code == 2 and "did you mean" not in res.stderr and "allowed:" in res.stderr


# ------------------------------------------------------------------ percentages
def test_a_percentage_for_a_share_gets_a_hint(tmp_path):
    p = tmp_path / "pct.yaml"
    p.write_text("extends: baseline\nmarket:\n  initial_vendor_share: 60\n")
    res = validate(p)
    assert res.exit_code == 2 and "market.initial_vendor_share" in res.stderr
    assert "did you mean 0.60?" in res.stderr
    res = validate("baseline", "--set", "tiering.tiers.gold.discount=7.5")
    assert res.exit_code == 2 and "did you mean 0.075?" in res.stderr


def test_no_percentage_hint_where_it_cannot_be_one():
    assert percent_hint(60, 10) == ""  # the field allows up to 10: 60 is no percentage of a share
    assert percent_hint(250, 1) == ""  # beyond 100 %
    assert percent_hint(True, 1) == ""
    with pytest.raises(ScenarioError) as err:
        sim.Scenario().with_overrides({"time.months": 601})
    assert "did you mean" not in str(err.value)
