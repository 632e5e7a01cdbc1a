"""experiments.limits: YAML with bounded depth, size and alias expansion; hostile input is an error, never a crash."""

from __future__ import annotations

import time

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experiments.io import load_scenario
from experiments.limits import MAX_DEPTH, MAX_NODES, LimitError, load_yaml
from sim.errors import ScenarioError

FUZZ = settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def bomb(levels: int, width: int = 9) -> str:
    """A 'billion laughs': each level is a list of ``width`` aliases of the level below."""
    lines = ["a0: &a0 [" + ", ".join(["x"] * width) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def test_ordinary_yaml_loads_as_the_safe_loader_does():
    text = "a: 1\nb: [x, 2.5, true, null]\nc: {d: {e: -3}}\nanchor: &x {k: 1}\nuse: *x\n"
    assert load_yaml(text) == yaml.safe_load(text)


def test_yaml12_exponents_are_numbers():
    assert load_yaml("a: 1e3\nb: 2.5E-2\nc: -4e+1\nd: 1_000\n") == {"a": 1000.0, "b": 0.025, "c": -40.0, "d": 1000}


@pytest.mark.parametrize("text", [".inf", "-.inf", ".nan", ".NaN", "1e999", "-1.0e400"])
def test_non_finite_floats_are_refused_where_written(text):
    with pytest.raises(LimitError, match="finite") as info:
        load_yaml(f"x:\n  y: {text}\n")
    assert info.value.problem_mark.line == 1  # the line of the value


@pytest.mark.parametrize("digits", [20, 400, 5000, 100_000])
def test_integers_beyond_64_bits_are_refused_quickly(digits):
    t0 = time.perf_counter()
    with pytest.raises(LimitError, match="integer"):
        load_yaml("n: " + "9" * digits + "\n")
    assert time.perf_counter() - t0 < 1.0
    assert load_yaml(f"n: {2**63 - 1}\n") == {"n": 2**63 - 1}


def test_500_nested_brackets_are_a_limit_not_a_recursion_error():
    with pytest.raises(LimitError, match="nesting deeper"):
        load_yaml("x: " + "[" * 500 + "]" * 500 + "\n")
    load_yaml("x: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n")


@pytest.mark.parametrize("text", ["a: &a [*a]\n", "a: &a {b: *a}\n", "a: &a [1, [2, *a]]\n"])
def test_recursive_aliases_are_refused(text):
    with pytest.raises(LimitError, match="cycle"):
        load_yaml(text)


def test_an_alias_bomb_is_refused_before_it_is_built():
    text = bomb(8)
    assert len(text) < 700  # the audit's 638-byte bomb: 31 s and 2.2 GiB before
    t0 = time.perf_counter()
    with pytest.raises(LimitError, match="aliases are expanded"):
        load_yaml(text)
    assert time.perf_counter() - t0 < 1.0
    load_yaml(bomb(3))  # 9**4 values: within the limit


def test_deep_nesting_through_aliases_counts():
    lines = ["l0: &l0 [1]"] + [f"l{i}: &l{i} [*l{i - 1}]" for i in range(1, MAX_DEPTH + 5)]
    with pytest.raises(LimitError, match="aliases are expanded"):
        load_yaml("\n".join(lines) + "\n")


def test_long_text_is_refused():
    with pytest.raises(LimitError, match="at most"):
        load_yaml("a: 1\n" * 10, max_chars=20)


def test_limit_errors_in_a_scenario_file_name_file_line_and_column(tmp_path):
    p = tmp_path / "bomb.yaml"
    p.write_text(bomb(8))
    with pytest.raises(ScenarioError) as info:
        load_scenario(p)
    msg = str(info.value)
    assert str(p) in msg and "line" in msg and "column" in msg and str(MAX_NODES) in msg


YAML_PIECES = st.sampled_from([
    "[", "]", "{", "}", ",", ":", " ", "\n", "  ", "- ", "&a ", "*a", "&b ", "*b", "!!python/object ", "!!int ",
    "'", '"', "#", "|", ">", "? ", "1e999", ".inf", "9" * 30, "0x" + "f" * 40, "<<: ", "%YAML 1.1\n", "---\n",
    "key", "x", "1", "true", "\t", "\\", "\x00", "é", "\ud800",
])


@FUZZ
@given(st.lists(YAML_PIECES, max_size=60).map("".join))
def test_fuzzed_yaml_either_loads_or_is_a_yaml_error(text):
    try:
        load_yaml(text)
    except yaml.YAMLError:
        pass


@FUZZ
@given(st.lists(YAML_PIECES, max_size=40).map("".join))
def test_fuzzed_scenario_files_are_scenarios_or_scenario_errors(tmp_path_factory, text):
    p = tmp_path_factory.mktemp("fuzz") / "f.yaml"
    p.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_scenario(p)
    except ScenarioError as err:
        assert len(str(err)) < 5_000 and "Traceback" not in str(err)
