"""Every numeric scenario field is bounded, and every value is checked the same way wherever it comes in.

Issue 16, class 2: schema-valid values crashed runs (``scale=.inf``, ``arrival_rate=1e12``,
``certification_months=1e20``).  The input layer refuses non-finite numbers, integers beyond 64 bits
and values of the wrong type generically; the upper bound of each field lives in ``sim/scenario.py``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import sim
from channelsim import cli
from channelsim.schema import scenario_fields, unbounded_fields
from experiments.io import load_scenario
from sim.errors import MAX_INT, ScenarioError, number_problems

FUZZ = settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
NUMERIC = [r.path for r in scenario_fields() if isinstance(r.default, int | float) and not isinstance(r.default, bool)]


def invoke(*args: str):
    return CliRunner().invoke(cli.app, [str(a) for a in args])


def test_every_numeric_field_declares_a_finite_upper_bound():
    assert unbounded_fields() == []


def test_unbounded_fields_finds_fields_without_le_or_lt():
    from pydantic import BaseModel, Field

    class Inner(BaseModel):
        bounded: float = Field(1.0, ge=0, le=10)
        open_ended: int = Field(1, ge=0)
        infinite: float = Field(1.0, le=math.inf)
        label: str = "x"
        flag: bool = True

    class Outer(BaseModel):
        inner: Inner = Inner()
        items: list[Inner] = []
        weights: dict[str, float] = {}
        budget: float | None = Field(None, lt=5)

    assert unbounded_fields(Outer) == ["inner.open_ended", "inner.infinite", "items.*.open_ended",
                                       "items.*.infinite", "weights"]
    assert "time.months" not in unbounded_fields()  # ge=1, le=600


def test_schema_unbounded_command_lists_them():
    res = invoke("schema", "--unbounded")
    assert res.stdout.split() == unbounded_fields()
    assert res.exit_code == (1 if unbounded_fields() else 0)


BAD_VALUES = {
    ".inf": "finite", "-.inf": "finite", ".nan": "finite", "inf": "valid number", "nan": "valid number",
    "1e999": "finite", "'1e400'": "valid number", "9" * 25: "integer", "true": "valid number", "'2'": "valid number",
    "[1, 2]": "valid number", "{a: 1}": "valid number",
}


@pytest.mark.parametrize("value", sorted(BAD_VALUES))
@pytest.mark.parametrize("command", ["validate", "run"])
def test_hostile_numbers_are_refused_by_validate_and_run_alike(tmp_path, value, command):
    args = ["--out", tmp_path / "out"] if command == "run" else []
    res = invoke(command, "baseline", "--set", f"incentives.rebate.scale={value}", *args)
    assert res.exit_code == 2, res.output
    assert "incentives.rebate.scale" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == []


def test_integer_fields_take_integers_only():
    for value in ("1e20", "24.0", "true", "'24'"):
        res = invoke("validate", "baseline", "--set", f"incentives.training.certification_months={value}")
        assert res.exit_code == 2 and "certification_months" in res.stderr, value


def test_a_scenario_file_with_non_finite_or_huge_numbers_is_refused(tmp_path):
    for text in ("incentives: {rebate: {scale: .inf}}", "incentives: {rebate: {scale: 'inf'}}",
                 "partners: {recruitment: {arrival_rate: 1e999}}",
                 "incentives: {training: {certification_months: 100000000000000000000}}"):
        p = tmp_path / "s.yaml"
        p.write_text(f"extends: baseline\n{text}\n")
        with pytest.raises(ScenarioError):
            load_scenario(p)


def test_number_problems_sees_nested_non_finite_floats_and_long_integers():
    data = {"a": {"b": [1.0, math.inf]}, "c": -math.nan, "d": 2**64, "e": True, "f": MAX_INT}
    found = {f for f, _, _ in number_problems(data)}
    assert found == {"a.b.1", "c", "d"}
    assert "digits" in repr(number_problems({"n": 10**5000})[0][1])  # shown by its length, not its digits


def test_python_callers_get_the_same_number_checks():
    with pytest.raises(ScenarioError, match="finite"):
        sim.Scenario().with_overrides({"incentives.rebate.scale": math.inf})
    with pytest.raises(ScenarioError, match="less than or equal to"):
        sim.Scenario().with_overrides({"partners.recruitment.max_partners": 10**30})


HOSTILE = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.sampled_from([".inf", ".nan", "-.inf", "1e999", "true", "null", "~", "[]", "{}", "'x'", "[.inf]",
                     "0x" + "f" * 30, "&a [*a]", "!!float x", "!!int ''", "1:2:3", "2001-13-45", "!!binary x",
                     "'" + "9" * 5000 + "'"]),
    st.text(max_size=30),
)


@FUZZ
@given(path=st.sampled_from(NUMERIC), value=HOSTILE)
def test_fuzzed_set_values_give_a_valid_scenario_or_a_scenario_error(path, value):
    try:
        sc, _ = cli.build_scenario("baseline", [f"{path}={value}"])
    except ScenarioError as err:
        assert len(str(err)) < 3_000
        return
    assert number_problems(sc.model_dump(mode="python")) == []


# ------------------------------------------------------------------ JSON Schema for editors
def _validator():
    import jsonschema

    from channelsim.schema import json_schema

    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


SCENARIO_FILES = sorted((Path(__file__).resolve().parent.parent / "scenarios").rglob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.name)
def test_every_shipped_scenario_file_meets_the_json_schema(path):
    assert list(_validator().iter_errors(yaml.safe_load(path.read_text()) or {})) == []


def test_a_resolved_scenario_and_tiers_by_name_meet_the_json_schema():
    from experiments.io import scenario_yaml

    v = _validator()
    resolved = yaml.safe_load(scenario_yaml(sim.Scenario(), {"seed": 3}))
    assert list(v.iter_errors(resolved)) == []
    assert list(v.iter_errors({"tiering": {"tiers": {"gold": {"discount": 0.3}}}})) == []


@pytest.mark.parametrize(("data", "problem"), [
    ({"market": {"n_acounts": 5000}}, "'n_acounts' was unexpected"),
    ({"market": {"initial_vendor_share": 60}}, "60 is greater than the maximum of 1"),
    ({"time": {"months": "many"}}, "'many' is not of type 'integer'"),
    ({"tiering": {"tiers": {"gold": {"discont": 0.3}}}}, "'discont' was unexpected"),
    ({"conflict": {"protections": ["moats"]}}, "'moats' is not one of"),
])
def test_the_json_schema_catches_what_an_editor_should_flag(data, problem):
    messages = [e.message for e in _validator().iter_errors(data)]
    messages += [s.message for e in _validator().iter_errors(data) for s in (e.context or [])]
    assert any(problem in m for m in messages), messages
    from experiments.io import validate_scenario

    with pytest.raises(ScenarioError):  # and channelsim refuses it too
        validate_scenario(data, "editor.yaml")


def test_the_json_schema_describes_fields_with_their_units_and_defaults():
    from channelsim.schema import json_schema

    months = json_schema()["$defs"]["TimeConfig"]["properties"]["months"]
    assert months["default"] == 36 and months["maximum"] == 600 and months["description"].endswith("[months]")


def test_schema_json_prints_and_writes_the_shipped_schema_file(tmp_path):
    from channelsim.schema import SCHEMA_FILE, json_schema_text

    res = invoke("schema", "--json")
    assert res.exit_code == 0 and res.stdout == json_schema_text()
    out = tmp_path / "s.json"
    res = invoke("schema", "--json", "-o", out)
    assert res.exit_code == 0 and out.read_text() == json_schema_text()
    shipped = Path(__file__).resolve().parent.parent / SCHEMA_FILE
    assert shipped.read_text() == json_schema_text(), "regenerate: channelsim schema --json -o " + SCHEMA_FILE
