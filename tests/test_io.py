"""experiments.io: scenario files with extends, error messages, resolved dumps, atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

import sim
from experiments import io as eio
from experiments.io import (
    atomic_write_bytes,
    atomic_write_text,
    deep_merge,
    dump_scenario,
    load_scenario,
    write_parquet_atomic,
)
from sim.errors import ScenarioError

REPO = Path(__file__).resolve().parent.parent
SCENARIO_FILES = sorted((REPO / "scenarios").rglob("*.yaml"))
TINY = {"market.n_accounts": 2000, "partners.n_initial": 40, "time.warmup_months": 2}


def write(folder: Path, name: str, text: str) -> Path:
    p = folder / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


def error_of(path, **kw) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, **kw)
    return info.value


# ------------------------------------------------------------------ loading
def test_baseline_by_name_is_the_default_scenario():
    sc = load_scenario("baseline")
    assert sc.name == "baseline"
    assert sc.model_dump(exclude={"description"}) == sim.Scenario().model_dump(exclude={"description"})


def test_name_path_and_suffixless_path_give_the_same_scenario():
    by_name = load_scenario("rebate_boost")
    assert load_scenario(REPO / "scenarios" / "rebate_boost.yaml") == by_name
    assert load_scenario(str(REPO / "scenarios" / "rebate_boost")) == by_name
    assert load_scenario("validation/bass").name == "bass_validation"


def test_name_defaults_to_the_file_stem(tmp_path):
    p = write(tmp_path, "my_whatif.yaml", "time: {months: 4}\n")
    sc = load_scenario(p)
    assert sc.name == "my_whatif" and sc.time.months == 4


def test_extends_chain_merges_mappings_and_child_wins(tmp_path):
    write(tmp_path, "c.yaml", "market: {n_accounts: 3000, n_territories: 7}\ntime: {months: 5}\n")
    write(tmp_path, "sub/b.yaml", "extends: ../c\nmarket: {n_accounts: 4000}\ndirect: {sellers: 3}\n")
    a = write(tmp_path, "a.yaml", "extends: sub/b.yaml\nname: a\nmarket: {bass_p: 0.05}\n")
    sc = load_scenario(a)
    assert sc.market.n_accounts == 4000  # b over c
    assert sc.market.n_territories == 7  # from c, kept by the merge
    assert sc.market.bass_p == 0.05  # a
    assert sc.direct.sellers == 3 and sc.time.months == 5
    assert sc.market.bass_q == sim.Scenario().market.bass_q  # defaults fill the rest


def test_extends_a_bare_scenario_name(tmp_path):
    sdir = tmp_path / "scen"
    write(sdir, "base.yaml", "time: {months: 9}\n")
    child = write(tmp_path / "elsewhere", "child.yaml", "extends: base\n")
    assert load_scenario(child, scenarios_dir=sdir).time.months == 9
    assert load_scenario("base", scenarios_dir=sdir).time.months == 9


def test_lists_are_replaced_not_merged(tmp_path):
    write(tmp_path, "base.yaml", "conflict: {protections: [rules_of_engagement, deal_registration]}\n")
    tiers = ("tiering:\n  tiers:\n    - {name: basic}\n    - {name: top, min_ttm_revenue: 100000, discount: 0.2}\n")
    child = write(tmp_path, "child.yaml", "extends: base\nconflict: {protections: [territory_exclusivity]}\n" + tiers)
    sc = load_scenario(child)
    assert sc.conflict.protections == ["territory_exclusivity"]
    assert sc.tier_names == ["basic", "top"]


def test_deep_merge_does_not_modify_its_arguments():
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    over = {"a": {"c": [3]}, "e": {"f": 1}}
    merged = deep_merge(base, over)
    assert merged == {"a": {"b": 1, "c": [3]}, "d": 1, "e": {"f": 1}}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1} and over == {"a": {"c": [3]}, "e": {"f": 1}}


def test_extends_cycle_is_detected(tmp_path):
    write(tmp_path, "a.yaml", "extends: b\n")
    write(tmp_path, "b.yaml", "extends: a.yaml\n")
    err = error_of(tmp_path / "a.yaml")
    assert "cycle" in str(err) and "a.yaml -> b.yaml -> a.yaml" in str(err)
    assert err.problems[0][0] == "extends"


def test_self_extension_is_a_cycle(tmp_path):
    p = write(tmp_path, "self.yaml", "extends: self\n")
    assert "cycle" in str(error_of(p))


def test_missing_extends_target_names_target_and_where_it_was_looked_for(tmp_path):
    p = write(tmp_path, "child.yaml", "extends: no_such_base\n")
    err = error_of(p, scenarios_dir=tmp_path / "scen")
    msg = str(err)
    assert str(p) in msg and "'extends'" in msg and "no_such_base" in msg
    assert str(tmp_path / "no_such_base.yaml") in msg and str(tmp_path / "scen" / "no_such_base.yaml") in msg


def test_missing_file_and_unknown_name():
    err = error_of("definitely_not_a_scenario")
    assert "definitely_not_a_scenario" in str(err) and "baseline" in str(err)  # lists the names available


def test_broken_yaml_names_line_and_column(tmp_path):
    p = write(tmp_path, "broken.yaml", "time:\n  months: 3\nmarket: {n_accounts: 5000\n")
    msg = str(error_of(p))
    assert str(p) in msg and "line" in msg and "column" in msg and "valid YAML" in msg


def test_tab_indentation_is_broken_yaml(tmp_path):
    p = write(tmp_path, "tabs.yaml", "time:\n\tmonths: 3\n")
    msg = str(error_of(p))
    assert "line 2" in msg and "column 1" in msg


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "", "# only a comment\n"])
def test_top_level_must_be_a_mapping(tmp_path, text):
    p = write(tmp_path, "list.yaml", text)
    err = error_of(p)
    assert err.problems[0][0] == "(top level)" and "mapping" in str(err)


def test_unknown_key_names_field_and_allowed_keys(tmp_path):
    p = write(tmp_path, "typo.yaml", "partners:\n  recruitment:\n    prequal_minimum: 0.5\n")
    err = error_of(p)
    field, value, allowed = err.problems[0]
    assert field == "partners.recruitment.prequal_minimum" and repr(value) == "(not shown)"  # the key is the mistake
    assert "unknown key" in allowed and "prequal_min" in allowed and "accept_score" in allowed
    assert str(p) in str(err)


def test_unknown_top_level_key(tmp_path):
    p = write(tmp_path, "typo.yaml", "markets: {n_accounts: 3}\n")
    field, _, allowed = error_of(p).problems[0]
    assert field == "markets" and "market" in allowed and "partners" in allowed


def test_wrong_type_names_field_value_and_expected_type(tmp_path):
    p = write(tmp_path, "type.yaml", "time: {months: many}\n")
    field, value, allowed = error_of(p).problems[0]
    assert (field, value) == ("time.months", "many") and "integer" in allowed


def test_out_of_range_value_names_the_bound(tmp_path):
    p = write(tmp_path, "range.yaml", "partners: {compliance: {audit_rate: 1.5}}\n")
    err = error_of(p)
    field, value, allowed = err.problems[0]
    assert (field, value) == ("partners.compliance.audit_rate", 1.5) and "less than or equal to 1" in allowed
    assert "partners.compliance.audit_rate" in str(err) and "1.5" in str(err)


def test_bad_tier_value_in_a_replaced_list(tmp_path):
    p = write(tmp_path, "tiers.yaml", "extends: baseline\ntiering: {tiers: [{name: a, discount: 2}]}\n")
    field, value, _ = error_of(p).problems[0]
    assert field == "tiering.tiers.a.discount" and value == 2  # the tier by its name, not its position


def test_error_in_a_base_file_names_the_base_file(tmp_path):
    base = write(tmp_path, "base.yaml", "market: {n_accounts: 5}\n")
    child = write(tmp_path, "child.yaml", "extends: base\n")
    err = error_of(child)
    assert str(base) in err.source and str(child) in err.source
    assert err.problems[0][:2] == ("market.n_accounts", 5)


def test_errors_from_two_files_say_where_each_was_set(tmp_path):
    base = write(tmp_path, "base.yaml", "market: {n_accounts: 5}\n")
    child = write(tmp_path, "child.yaml", "extends: base\ntime: {months: 0}\n")
    err = error_of(child)
    by_field = {f: a for f, _, a in err.problems}
    assert str(base) in by_field["market.n_accounts"] and str(child) in by_field["time.months"]


def test_extends_must_be_a_name(tmp_path):
    p = write(tmp_path, "x.yaml", "extends: [a, b]\n")
    assert error_of(p).problems[0][0] == "extends"


# ------------------------------------------------------------------ shipped scenarios
@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.relative_to(REPO / "scenarios").as_posix())
def test_every_shipped_scenario_validates(path):
    sc = load_scenario(path)
    assert isinstance(sc, sim.Scenario) and sc.name


NOT_WHATIFS = ("baseline", "baseline.commented", "large")  # the baseline, its commented resolved copy, the large one
WHATIFS = [p for p in SCENARIO_FILES if p.parent.name == "scenarios" and p.stem not in NOT_WHATIFS]


@pytest.mark.parametrize("path", WHATIFS, ids=lambda p: p.stem)
def test_every_whatif_extends_baseline_with_a_description_and_changes_something(path):
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert raw["extends"] == "baseline"
    assert raw["name"] == path.stem
    assert "part" in raw["description"].lower()  # which part of the guide it comes from
    assert set(raw) - {"extends", "name", "description"}, "a what-if must override something"
    sc = load_scenario(path)
    base = load_scenario("baseline")
    assert sc.model_dump(exclude={"name", "description"}) != base.model_dump(exclude={"name", "description"})


def test_one_whatif_per_part_of_the_guide():
    names = {p.stem for p in WHATIFS}
    required = {"strict_prequalification", "rebate_boost", "mdf_shift", "training_investment", "improvement_plans",
                "relationship_programme", "deal_registration_off", "direct_expansion", "mediation",
                "audit_intensity", "tier_restructure", "digital_shift"}
    assert required <= names
    parts = set()
    for p in WHATIFS:
        desc = yaml.safe_load(p.read_text())["description"]
        parts |= {k for k in range(1, 9) if f"part {k}" in desc}
    assert parts == set(range(1, 9))


@pytest.mark.parametrize("path", WHATIFS + [REPO / "scenarios" / "validation" / "bass.yaml"], ids=lambda p: p.stem)
def test_every_whatif_runs(path):
    sc = load_scenario(path).with_overrides(TINY)
    res = sim.run(sc, 1, months=2)
    assert len(res.kpis) == 2 and res.kpis["revenue_total"].notna().all()


# ------------------------------------------------------------------ dump
def test_dump_scenario_writes_every_field_and_reloads(tmp_path):
    sc = load_scenario("tier_restructure").with_overrides({"incentives.rebate.scale": 1.7})
    out = dump_scenario(sc, tmp_path / "resolved.yaml", {"seed": 3, "package_version": sim.__version__})
    data = yaml.safe_load(out.read_text())
    assert data["run"] == {"seed": 3, "package_version": sim.__version__}
    assert data["incentives"]["budget"] is None  # defaults included
    assert data["tiering"]["tiers"][2]["name"] == "elite"
    assert set(data) - {"run"} == set(sim.Scenario.model_fields)
    assert load_scenario(out) == sc  # the resolved file runs again as it is


# ------------------------------------------------------------------ atomic writes
def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_atomic_writers(tmp_path):
    atomic_write_bytes(tmp_path / "a.bin", b"\x00\x01")
    atomic_write_text(tmp_path / "sub" / "b.txt", "héllo")
    df = pd.DataFrame({"x": [1, 2], "y": ["a", "b"]})
    write_parquet_atomic(df, tmp_path / "c.parquet")
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "sub" / "b.txt").read_text(encoding="utf-8") == "héllo"
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "c.parquet"), df, check_dtype=False)
    assert no_temp_files(tmp_path)
    mode = (tmp_path / "a.bin").stat().st_mode & 0o777
    assert mode & 0o044  # readable by others as with open(), not mkstemp's 0600 (umask permitting)


def test_failed_replace_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "t.txt"
    target.write_text("old")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(eio.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(target, "new")
    with pytest.raises(OSError, match="disk full"):
        write_parquet_atomic(pd.DataFrame({"x": [1]}), tmp_path / "t.parquet")
    assert target.read_text() == "old"
    assert not (tmp_path / "t.parquet").exists()
    assert sorted(os.listdir(tmp_path)) == ["t.txt"]


# ------------------------------------------------------------------ files outside the scenarios (issue 16, class 1)
SECRET = "AKIAIOSFODNN7EXAMPLE-wJalrXUtnFEMI"


def _outside(tmp_path: Path) -> dict[str, Path]:
    """Files a hostile scenario may try to reach: credentials in several shapes, none of them a scenario."""
    d = tmp_path / "home"
    d.mkdir()
    files = {
        "credentials": d / "credentials",  # no suffix
        "ini": d / "config.ini",
        "secrets_yaml": d / "secrets.yaml",  # YAML, but not a scenario
        "secrets_list": d / "list.yaml",
        "broken_yaml": d / "broken.yaml",
    }
    files["credentials"].write_text(f"[default]\naws_secret_access_key = {SECRET}\n")
    files["ini"].write_text(f"password={SECRET}\n")
    files["secrets_yaml"].write_text(f"aws_secret_access_key: {SECRET}\ntoken: {SECRET}\n")
    files["secrets_list"].write_text(f"- {SECRET}\n- {SECRET}\n")
    files["broken_yaml"].write_text(f"key: [{SECRET}\n")
    (d / "link.yaml").symlink_to(files["credentials"])
    files["link"] = d / "link.yaml"
    return files


@pytest.mark.parametrize("target", ["credentials", "ini", "secrets_yaml", "secrets_list", "broken_yaml", "link"])
@pytest.mark.parametrize("how", ["absolute", "relative"])
def test_extends_reads_scenario_files_only_and_never_echoes_another_file(tmp_path, target, how):
    files = _outside(tmp_path)
    scen = tmp_path / "scen" / "deep"
    scen.mkdir(parents=True)
    path = files[target]
    ref = str(path) if how == "absolute" else os.path.relpath(path, scen)
    child = write(scen, "child.yaml", f"extends: {ref}\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(child)
    msg = str(info.value)
    assert SECRET not in msg
    assert str(child) in msg and len(msg) < 2_000


def test_a_non_scenario_file_is_refused_without_opening_it(tmp_path, monkeypatch):
    files = _outside(tmp_path)
    opened = []
    real_open = open

    def spy(file, *a, **k):
        opened.append(str(file))
        return real_open(file, *a, **k)

    monkeypatch.setattr("builtins.open", spy)
    child = write(tmp_path, "child.yaml", f"extends: {files['credentials']}\n")
    with pytest.raises(ScenarioError, match=r"\.yaml or \.yml"):
        load_scenario(child)
    assert str(files["credentials"]) not in opened


def test_an_unknown_keys_value_is_never_quoted(tmp_path):
    p = write(tmp_path, "s.yaml", f"extends: baseline\naws_secret_access_key: {SECRET}\nmarket: {{token: {SECRET}}}\n")
    err = error_of(p)
    assert SECRET not in str(err) and "aws_secret_access_key" in str(err) and "market.token" in str(err)


def test_values_are_quoted_short(tmp_path):
    p = write(tmp_path, "s.yaml", f"time: {{months: '{SECRET * 20}'}}\n")
    msg = str(error_of(p))
    assert "time.months" in msg and SECRET * 2 not in msg and len(msg) < 1_000


def test_experiment_base_outside_the_scenarios_is_refused_without_echo(tmp_path):
    from experiments.design import ExperimentError, load_experiment

    files = _outside(tmp_path)
    for target in ("credentials", "secrets_yaml", "link"):
        e = write(tmp_path, f"e_{target}.yaml", f"name: x\nbase: {files[target]}\n")
        with pytest.raises((ExperimentError, ScenarioError)) as info:
            load_experiment(e)
        assert SECRET not in str(info.value), target
    rel = write(tmp_path / "exp", "e.yaml", "name: x\nbase: ../../../../../../etc/passwd\n")
    with pytest.raises(ExperimentError, match="base"):
        load_experiment(rel)


def test_extends_chains_are_bounded(tmp_path):
    for i in range(1200):
        write(tmp_path, f"c{i}.yaml", f"extends: c{i + 1}\n")
    write(tmp_path, "c1200.yaml", "name: end\n")
    err = error_of(tmp_path / "c0.yaml")
    assert f"at most {eio.MAX_EXTENDS}" in str(err)
    for i in range(eio.MAX_EXTENDS - 1):
        write(tmp_path / "ok", f"c{i}.yaml", f"extends: c{i + 1}\n")
    write(tmp_path / "ok", f"c{eio.MAX_EXTENDS - 1}.yaml", "name: end\n")
    assert load_scenario(tmp_path / "ok" / "c0.yaml").name == "end"


def test_a_folder_a_fifo_or_a_huge_file_named_yaml_is_refused(tmp_path):
    (tmp_path / "dir.yaml").mkdir()
    os.mkfifo(tmp_path / "fifo.yaml")  # would block a plain read for ever
    with open(tmp_path / "huge.yaml", "wb") as fh:
        fh.truncate(2_000_000_000)  # sparse: 2 GB that take no disk
    for name in ("dir", "fifo", "huge"):
        child = write(tmp_path, f"x_{name}.yaml", f"extends: {name}\n")
        with pytest.raises(ScenarioError):
            load_scenario(child)
    with pytest.raises(ScenarioError, match="at most"):
        load_scenario(tmp_path / "huge.yaml")


def test_a_scenario_named_directly_must_be_a_yaml_file(tmp_path):
    files = _outside(tmp_path)
    err = error_of(files["credentials"])
    assert SECRET not in str(err) and ".yaml or .yml" in str(err)


@pytest.mark.parametrize("tiers, named", [
    ("  tiers:\n    gold:\n      discont: 0.3\n", "tiering.tiers.gold.discont"),  # by name, over the baseline's
    ("  tiers:\n    - name: member\n      discont: 0.3\n", "tiering.tiers.member.discont"),  # a whole list
])
def test_a_misspelt_field_inside_a_tier_names_the_tier(tmp_path, tiers, named):
    f = tmp_path / "bad.yaml"
    f.write_text("extends: baseline\ntiering:\n" + tiers)
    with pytest.raises(ScenarioError) as info:
        load_scenario(f)
    text = str(info.value)
    assert named in text and "did you mean 'discount'" in text and "tiers.2." not in text and "tiers.0." not in text
