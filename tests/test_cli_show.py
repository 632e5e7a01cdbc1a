"""``channelsim show``: the whole resolved scenario as YAML with each field's meaning, unit and bounds as comments."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import sim
from channelsim.cli import app, show_text
from experiments.io import available_scenarios, commented_scenario_yaml, load_scenario, validate_scenario
from sim.fields import scenario_fields

REPO = Path(__file__).resolve().parent.parent
COMMENTED = REPO / "scenarios" / "baseline.commented.yaml"
SCHEMA = "../docs/scenario.schema.json"


def show(*args: str):
    return CliRunner().invoke(app, ["show", *map(str, args)])


@pytest.mark.parametrize("name", available_scenarios())
def test_the_commented_yaml_loads_back_to_the_same_scenario(name):
    sc = load_scenario(name)
    assert validate_scenario(yaml.safe_load(commented_scenario_yaml(sc)), "shown.yaml") == sc


def test_show_prints_every_field_with_its_description_and_unit():
    res = show("baseline")
    assert res.exit_code == 0, res.output
    text = res.stdout
    assert "  # horizon reported in KPIs, after the warm-up [months; >= 1; <= 600]\n  months: 36\n" in text
    assert "  tiers:  # tiers from lowest to highest" in text and "    - name: gold\n" in text
    data = yaml.safe_load(text)
    for row in scenario_fields(load_scenario("baseline")):  # every leaf field is written out, none left to a default
        node = data
        for part in row.path.split("."):
            node = next(t for t in node if t["name"] == part) if isinstance(node, list) else node[part]
        assert node == row.default or (isinstance(row.default, float) and node == pytest.approx(row.default))


def test_show_applies_set_and_names_it():
    res = show("rebate_boost", "--set", "tiering.tiers.gold.discount=0.3")
    assert res.exit_code == 0
    sc = validate_scenario(yaml.safe_load(res.stdout), "shown.yaml")
    assert sc.incentives.rebate.scale == 2.0 and {t.name: t.discount for t in sc.tiering.tiers}["gold"] == 0.3
    assert "# Written by: channelsim show rebate_boost --set tiering.tiers.gold.discount=0.3" in res.stdout


def test_show_writes_a_file_and_refuses_bad_input_with_exit_2(tmp_path):
    out = tmp_path / "b.yaml"
    res = show("baseline", "-o", out, "--schema", "s.json")
    assert res.exit_code == 0 and out.read_text().startswith("# yaml-language-server: $schema=s.json\n")
    res = show("baseline", "--set", "market.n_acounts=3", "-o", tmp_path / "never.yaml")
    assert res.exit_code == 2 and "did you mean 'n_accounts'?" in res.stderr and "Traceback" not in res.output
    assert not (tmp_path / "never.yaml").exists()


def test_the_shipped_commented_baseline_is_up_to_date_and_is_the_baseline():
    assert COMMENTED.read_text() == show_text("baseline", [], SCHEMA), (
        f"regenerate: channelsim show baseline --schema {SCHEMA} -o scenarios/baseline.commented.yaml")
    assert load_scenario(COMMENTED) == load_scenario("baseline")
    everything_but_the_text = {"description"}
    assert load_scenario(COMMENTED).model_dump(exclude=everything_but_the_text) == \
        sim.Scenario().model_dump(exclude=everything_but_the_text)
