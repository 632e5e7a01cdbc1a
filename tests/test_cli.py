"""The channelsim command line: run, validate, compare, schema, bad input, atomic output."""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path

import pandas as pd
import pytest
import typer
import yaml
from typer.testing import CliRunner

import sim
from channelsim import cli
from channelsim.narrative import interval
from channelsim.report import fmt as report_fmt
from channelsim.report import short_value
from channelsim.schema import markdown, scenario_fields
from experiments.io import load_scenario

REPO = Path(__file__).resolve().parent.parent
TINY = ["--months", "3", "--set", "market.n_accounts=2000", "--set", "partners.n_initial=40",
        "--set", "time.warmup_months=2"]
ISSUE_KPI_COLUMNS = [
    "replication", "month", "revenue_total", "revenue_partner", "revenue_direct", "revenue_digital", "gross_profit",
    "incentive_spend", "incentive_roi", "active_partners", "partners_onboarded", "partners_exited",
    "partner_satisfaction", "partner_nps", "customers_active", "customers_new", "customers_churned",
    "customer_satisfaction", "market_share", "conflicts_horizontal", "conflicts_vertical", "conflicts_multichannel",
    "margin_lost_to_conflict", "mdf_utilisation", "win_rate", "compliance_rate",
]
RUN_FILES = {"kpis.parquet", "partners.parquet", "conflicts.parquet", "summary.json", "scenario.resolved.yaml",
             "report.html"}


def invoke(*args: str):
    return CliRunner().invoke(cli.app, [str(a) for a in args])


def run_tiny(out: Path, scenario: str = "baseline", *extra: str):
    res = invoke("run", scenario, *TINY, *extra, "--out", out)
    assert res.exit_code == 0, res.output + (res.stderr or "")
    return res


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "base"
    run_tiny(out, "baseline", "--seed", "7", "--replications", "2")
    return out


@pytest.fixture(scope="module")
def drop_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "drop"
    run_tiny(out, "deal_registration_off", "--seed", "7", "--replications", "2")
    return out


# ------------------------------------------------------------------ run
def test_run_writes_every_file(base_run):
    assert RUN_FILES <= {p.name for p in base_run.iterdir()}
    assert not [p for p in base_run.parent.iterdir() if p.name.startswith(".")]  # no temporary folders left


def test_kpis_parquet_has_the_issue_columns(base_run):
    kpis = pd.read_parquet(base_run / "kpis.parquet")
    assert list(kpis.columns[:2]) == ["replication", "month"]
    missing = [c for c in ISSUE_KPI_COLUMNS if c not in kpis.columns]
    assert not missing
    for tier in sim.Scenario().tier_names:
        assert f"revenue_tier_{tier}" in kpis.columns and f"partners_tier_{tier}" in kpis.columns
    assert len(kpis) == 2 * 3
    assert sorted(kpis["replication"].unique()) == [0, 1]
    assert kpis.groupby("replication")["month"].apply(list).tolist() == [[1, 2, 3], [1, 2, 3]]


def test_replications_use_the_seed_sequence(base_run):
    kpis = pd.read_parquet(base_run / "kpis.parquet")
    sc = load_scenario(base_run / "scenario.resolved.yaml")
    ref = sim.run(sc, sim.seed_sequence(7, 1)).kpis
    got = kpis[kpis["replication"] == 1].drop(columns="replication").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, ref[got.columns], check_dtype=False)


def test_partner_and_conflict_frames_carry_the_replication(base_run):
    for name in ("partners", "conflicts"):
        df = pd.read_parquet(base_run / f"{name}.parquet")
        assert df.columns[0] == "replication" and len(df) > 0
    partners = pd.read_parquet(base_run / "partners.parquet")
    assert {"partner_id", "month", "tier", "revenue", "satisfaction"} <= set(partners.columns)


def test_summary_has_mean_and_t_interval(base_run):
    summary = json.loads((base_run / "summary.json").read_text())
    assert summary["replications"] == 2 and summary["seed"] == 7
    assert "t-interval" in summary["ci_method"]
    first = pd.read_parquet(base_run / "kpis.parquet").query("replication == 0")
    assert set(sim.headline(first)) == set(summary["kpis"])
    rev = summary["kpis"]["revenue_total"]
    assert rev["ci_low"] <= rev["mean"] <= rev["ci_high"] and rev["n"] == 2
    kpis = pd.read_parquet(base_run / "kpis.parquet")
    assert rev["mean"] == pytest.approx(kpis.groupby("replication")["revenue_total"].sum().mean())


def test_resolved_scenario_has_every_field_seed_and_version(base_run):
    data = yaml.safe_load((base_run / "scenario.resolved.yaml").read_text())
    assert set(sim.Scenario.model_fields) <= set(data)
    assert data["run"]["seed"] == 7 and data["run"]["replications"] == 2
    assert data["run"]["package_version"] == sim.__version__
    assert data["market"]["n_accounts"] == 2000 and data["time"]["months"] == 3
    assert data["incentives"]["budget"] is None  # defaults included


RUN_FIGURES = ("Revenue by channel", "Gross profit", "Partner satisfaction and NPS", "Active partners",
               "Channel mix", "Tiers over time", "Tier migrations", "Conflicts by type",
               "Conflicts by type and resolution", "Partner revenue concentration (Lorenz curve)")


def assert_self_contained(html: str) -> None:
    assert html.startswith("<!DOCTYPE html>") and "<script" not in html
    assert "http://" not in html and "https://" not in html
    srcs = re.findall(r"""src\s*=\s*["']([^"']*)""", html)
    hrefs = re.findall(r"""href\s*=\s*["']([^"']*)""", html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs) and not hrefs
    assert html.count("<figcaption>") == len(srcs)  # every figure says what it shows


def test_report_is_self_contained(base_run):
    html = (base_run / "report.html").read_text()
    assert_self_contained(html)
    assert html.count('src="data:image/png;base64,') == len(RUN_FIGURES)
    for title in RUN_FIGURES:
        assert f"<h2>{title}</h2>" in html
    summary = json.loads((base_run / "summary.json").read_text())
    for text in ("baseline", "replications", "<dd>7</dd>", "sim.seed_sequence(7, r)", sim.__version__,
                 "report written", "t-interval over 2 replications"):
        assert text in html, text
    for kpi, v in summary["kpis"].items():  # every headline KPI with its mean and 95 % CI
        row = f"<td>{report_fmt(v['mean'])}</td><td>{report_fmt(v['ci_low'])}</td><td>{report_fmt(v['ci_high'])}</td>"
        assert f"<tr><td>{kpi} (" in html and row in html, kpi


def test_run_prints_a_summary_table(tmp_path):
    res = run_tiny(tmp_path / "one")
    assert "revenue_total" in res.stdout and "95 % CI" in res.stdout


def test_one_replication_ci_is_the_mean(tmp_path):
    run_tiny(tmp_path / "one")
    summary = json.loads((tmp_path / "one" / "summary.json").read_text())
    assert "one replication" in summary["ci_method"]
    rev = summary["kpis"]["revenue_total"]
    assert rev["ci_low"] == rev["mean"] == rev["ci_high"]


def test_same_seed_gives_identical_kpis_and_another_seed_does_not(tmp_path, base_run):
    run_tiny(tmp_path / "again", "baseline", "--seed", "7", "--replications", "2")
    a = pd.read_parquet(base_run / "kpis.parquet")
    b = pd.read_parquet(tmp_path / "again" / "kpis.parquet")
    pd.testing.assert_frame_equal(a, b)
    assert (base_run / "kpis.parquet").read_bytes() == (tmp_path / "again" / "kpis.parquet").read_bytes()
    run_tiny(tmp_path / "other", "baseline", "--seed", "8", "--replications", "2")
    c = pd.read_parquet(tmp_path / "other" / "kpis.parquet")
    assert not a.equals(c)


def test_set_parses_yaml_lists_and_tier_columns_follow_the_tiers(tmp_path):
    run_tiny(tmp_path / "t", "tier_restructure", "--set", "conflict.protections=[rules_of_engagement]",
             "--set", "tiering.tiers.elite.discount=0.25")
    data = yaml.safe_load((tmp_path / "t" / "scenario.resolved.yaml").read_text())
    assert data["conflict"]["protections"] == ["rules_of_engagement"]
    assert data["tiering"]["tiers"][2]["discount"] == 0.25
    kpis = pd.read_parquet(tmp_path / "t" / "kpis.parquet")
    for tier in ("member", "advanced", "elite"):
        assert f"revenue_tier_{tier}" in kpis.columns and f"partners_tier_{tier}" in kpis.columns
    assert "revenue_tier_gold" not in kpis.columns


def test_existing_non_empty_out_is_refused_unless_force(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    res = invoke("run", "baseline", *TINY, "--out", out)
    assert res.exit_code == 2 and "--force" in res.stderr
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    run_tiny(out, "baseline", "--force")
    assert RUN_FILES <= {p.name for p in out.iterdir()} and not (out / "keep.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_existing_empty_out_is_used(tmp_path):
    (tmp_path / "out").mkdir()
    run_tiny(tmp_path / "out")
    assert RUN_FILES <= {p.name for p in (tmp_path / "out").iterdir()}


def test_failure_while_writing_leaves_nothing(tmp_path, monkeypatch):
    def broken(*a, **k):
        raise RuntimeError("plotting failed")

    monkeypatch.setattr(cli._report(), "run_report", broken)
    res = invoke("run", "baseline", *TINY, "--out", tmp_path / "out")
    assert res.exit_code != 0 and isinstance(res.exception, RuntimeError)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ bad input
def _bad_files(tmp: Path) -> dict[str, Path]:
    files = {
        "broken_yaml": "time:\n  months: 3\nmarket: {n_accounts: 5000\n",
        "not_mapping": "- 1\n- 2\n",
        "unknown_key": "extends: baseline\nmarket: {n_acounts: 5000}\n",
        "wrong_type": "extends: baseline\ntime: {months: soon}\n",
        "out_of_range": "extends: baseline\nincentives: {rebate: {scale: -1}}\n",
        "missing_extends": "extends: not_there\n",
    }
    out = {}
    for name, text in files.items():
        out[name] = tmp / f"{name}.yaml"
        out[name].write_text(text)
    return out


# case -> (scenario (file key or literal), extra args, substrings expected in stderr)
BAD = {
    "broken_yaml": ("broken_yaml", [], ["broken_yaml.yaml", "line 4", "column 1", "valid YAML"]),
    "not_mapping": ("not_mapping", [], ["not_mapping.yaml", "(top level)", "<a list>", "mapping"]),
    "unknown_key": ("unknown_key", [], ["unknown_key.yaml", "market.n_acounts", "(not shown)", "unknown key",
                                        "n_accounts"]),
    "wrong_type": ("wrong_type", [], ["wrong_type.yaml", "time.months", "'soon'", "valid integer"]),
    "out_of_range": ("out_of_range", [], ["out_of_range.yaml", "incentives.rebate.scale", "-1",
                                          "greater than or equal to 0"]),
    "missing_extends": ("missing_extends", [], ["missing_extends.yaml", "extends", "not_there", "looked for",
                                                "not_there.yaml"]),
    "unknown_name": ("no_such_scenario", [], ["no_such_scenario", "looked for", "scenario names", "baseline"]),
    "missing_file": ("/nonexistent/dir/x.yaml", [], ["/nonexistent/dir/x.yaml", "looked for"]),
    "bad_set_path": ("baseline", ["--set", "market.n_acounts=3"], ["--set", "market.n_acounts", "3", "allowed",
                                                                  "n_accounts"]),
    "bad_set_tier": ("baseline", ["--set", "tiering.tiers.diamond.discount=0.3"],
                     ["tiering.tiers.diamond.discount", "0.3", "registered, silver, gold, platinum"]),
    "bad_set_value": ("baseline", ["--set", "partners.compliance.audit_rate=2"],
                      ["--set", "partners.compliance.audit_rate", "2", "less than or equal to 1"]),
    "bad_set_type": ("baseline", ["--set", "direct.segments=[small, huge]"],
                     ["direct.segments.1", "'huge'", "'small', 'mid' or 'enterprise'"]),
    "bad_set_yaml": ("baseline", ["--set", "conflict.protections=[rules_of_engagement"],
                     ["--set", "conflict.protections", "YAML"]),
    "bad_set_syntax": ("baseline", ["--set", "incentives.rebate.scale"], ["--set", "incentives.rebate.scale",
                                                                         "path=value"]),
    "bad_months": ("baseline", ["--months", "0"], ["--months", "time.months", "0", "greater than or equal to 1"]),
    "bad_seed": ("baseline", ["--seed", "-1"], ["--seed", "-1", "non-negative"]),
    "bad_replications": ("baseline", ["--replications", "0"], ["--replications", "0", ">= 1"]),
    "bad_months_type": ("baseline", ["--months", "many"], ["--months", "valid int"]),  # typer: "int" or "integer"
}
RUN_ONLY = {"bad_months", "bad_seed", "bad_replications", "bad_months_type"}


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("out_exists", [False, True], ids=["absent_out", "empty_out"])
def test_bad_input_exits_2_with_a_message_and_writes_nothing(tmp_path, case, out_exists):
    files = _bad_files(tmp_path)
    scenario, extra, expected = BAD[case]
    scenario = str(files.get(scenario, scenario))
    out = tmp_path / "out"
    if out_exists:
        out.mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    res = invoke("run", scenario, *TINY[2:], *extra, "--out", out)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and "Traceback" not in res.stderr
    for text in expected:
        assert text in res.stderr, f"{text!r} not in {res.stderr!r}"
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    if out_exists:
        assert list(out.iterdir()) == []
    else:
        assert not out.exists()


@pytest.mark.parametrize("case", sorted(set(BAD) - RUN_ONLY))
def test_validate_reports_the_same_errors(tmp_path, case):
    files = _bad_files(tmp_path)
    scenario, extra, expected = BAD[case]
    res = invoke("validate", str(files.get(scenario, scenario)), *extra)
    assert res.exit_code == 2 and "Traceback" not in res.stderr
    assert all(text in res.stderr for text in expected)


def test_bad_input_through_the_console_script_has_no_traceback(tmp_path):
    import subprocess

    p = tmp_path / "bad.yaml"
    p.write_text("extends: baseline\nmarket: {n_accounts: 5}\n")
    proc = subprocess.run([sys.executable, "-c", "from channelsim.cli import main; main()", "validate", str(p)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "market.n_accounts" in proc.stderr and str(p) in proc.stderr
    assert proc.stdout == ""


# ------------------------------------------------------------------ validate
SCENARIO_FILES = sorted((REPO / "scenarios").rglob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.relative_to(REPO / "scenarios").as_posix())
def test_validate_every_shipped_scenario(path):
    res = invoke("validate", path)
    assert res.exit_code == 0, res.stderr
    assert res.stdout.strip().endswith("OK") and load_scenario(path).name in res.stdout


def test_validate_by_name():
    res = invoke("validate", "direct_expansion")
    assert res.exit_code == 0 and res.stdout.startswith("direct_expansion")


# ------------------------------------------------------------------ compare
def test_compare_paired_prints_differences_with_cis(base_run, drop_run, tmp_path):
    before = sorted(p.name for p in base_run.parent.iterdir())
    res = invoke("compare", base_run, drop_run)
    assert res.exit_code == 0, res.stderr
    assert "paired t-interval" in res.stdout and "95 % CI" in res.stdout
    for text in ("revenue_total", "conflicts_horizontal", "partner_satisfaction", "B - A"):
        assert text in res.stdout
    assert sorted(p.name for p in base_run.parent.iterdir()) == before  # writes nothing without --out


def test_compare_runs_numbers(base_run, drop_run):
    ka = pd.read_parquet(base_run / "kpis.parquet")
    kb = pd.read_parquet(drop_run / "kpis.parquet")
    sa = json.loads((base_run / "summary.json").read_text())
    sb = json.loads((drop_run / "summary.json").read_text())
    cmp = cli.compare_runs(ka, kb, sa, sb, a="baseline", b="deal_registration_off")
    assert cmp.paired and cmp.has_intervals and (cmp.a, cmp.b) == ("baseline", "deal_registration_off")
    ra = ka.groupby("replication")["revenue_total"].sum()
    rb = kb.groupby("replication")["revenue_total"].sum()
    row = cmp.table.loc["revenue_total"]
    assert row["a"] == pytest.approx(ra.mean()) and row["diff"] == pytest.approx((rb - ra).mean())
    assert row["pct"] == pytest.approx((rb - ra).mean() / abs(ra.mean()) * 100)
    assert row["ci_low"] <= row["diff"] <= row["ci_high"]
    assert row["significant"] == bool(row["ci_low"] > 0 or row["ci_high"] < 0)
    other_seed = cli.compare_runs(ka, kb, sa, {**sb, "seed": 99})
    assert not other_seed.paired and "Welch" in other_seed.method


def test_compare_runs_and_replications_compare_share_one_computation(tmp_path):
    # The same two sets of replications, compared from their run folders and in Python, give one table.
    from experiments import replicate

    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    run_tiny(a_dir, "baseline", "--seed", "4", "-r", "2")
    run_tiny(b_dir, "baseline", "--seed", "4", "-r", "2", "--set", "incentives.rebate.scale=2")
    sc_a = load_scenario(a_dir / "scenario.resolved.yaml")
    sc_b = load_scenario(b_dir / "scenario.resolved.yaml")
    ra = replicate(sc_a, 2, seed=4, frames=("kpis",), label="a")
    rb = replicate(sc_b, 2, seed=4, frames=("kpis",), label="b")
    in_python = ra.compare(rb)
    from_folders = cli.compare_runs(pd.read_parquet(a_dir / "kpis.parquet"), pd.read_parquet(b_dir / "kpis.parquet"),
                                    json.loads((a_dir / "summary.json").read_text()),
                                    json.loads((b_dir / "summary.json").read_text()), a="a", b="b")
    assert in_python.paired and from_folders.paired and in_python.method == from_folders.method
    pd.testing.assert_frame_equal(in_python.table, from_folders.table)


def test_compare_welch_when_seeds_differ_and_writes_a_report(base_run, tmp_path):
    other = tmp_path / "other"
    run_tiny(other, "baseline", "--seed", "11", "--replications", "3")
    res = invoke("compare", base_run, other, "--out", tmp_path / "cmp")
    assert res.exit_code == 0, res.stderr
    assert "Welch t-interval" in res.stdout and "% of A" in res.stdout and "significant" in res.stdout
    html = (tmp_path / "cmp" / "report.html").read_text()
    assert_self_contained(html)
    assert "Welch" in html and "seed 11" in html and "3 replication(s)" in html
    data = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert data["paired"] is False and "revenue_total" in data["kpis"]
    name_a, name_b = data["a_name"], data["b_name"]
    assert (name_a, name_b) == (f"baseline [{base_run.name}]", f"baseline [{other.name}]")
    for k, v in data["kpis"].items():  # every headline difference with its %, its 95 % CI and its significance
        pct = f"{v['pct']:+.1f} %" if v["pct"] is not None else "n/a"
        cells = (f"<td>{short_value(k, v['a_mean'])}</td><td>{short_value(k, v['b_mean'])}</td>"
                 f"<td>{short_value(k, v['diff'], change=True)}</td><td>{pct}</td>"
                 f'<td class="ci">{interval(k, v["ci_low"], v["ci_high"], change=True)}</td>')
        assert cells in html, cells
        if v["ci_low"] is not None:  # None: a KPI without finite values (no interval, never significant)
            assert v["significant"] == bool(v["ci_low"] > 0 or v["ci_high"] < 0)
        else:
            assert not v["significant"]
    # the report opens with the summary and the tiles, before what was compared
    assert html.index('class="summary"') < html.index('class="tiles"') < html.index("<h2>What was compared</h2>")
    assert f"What was compared: {name_b} (B, the what-if) against {name_a} (A, the reference)" in html
    # the forest plot; per headline series the difference over time and both runs; per run the six other views
    assert html.count('src="data:image/png;base64,') == 1 + 2 * 5 + 2 * 6
    for col in ("gross profit", "revenue total", "partner nps", "partner satisfaction", "active partners"):
        assert f"<h2>{col}: {name_b} vs {name_a}" in html
    for run in (name_a, name_b):
        for title in ("Channel mix", "Tier migrations", "Conflicts by type and resolution",
                      "Partner revenue concentration"):
            assert f"<h2>{run}: {title}" in html


@pytest.mark.parametrize("which", ["missing_dir", "no_kpis"])
def test_compare_bad_folder_exits_2(base_run, tmp_path, which):
    bad = tmp_path / "nothing"
    if which == "no_kpis":
        bad.mkdir()
    res = invoke("compare", base_run, bad, "--out", tmp_path / "cmp")
    assert res.exit_code == 2 and str(bad) in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "cmp").exists()


# ------------------------------------------------------------------ schema
def test_schema_lists_every_field_with_default_unit_and_description():
    res = invoke("schema")
    assert res.exit_code == 0
    rows = scenario_fields()
    paths = {r.path for r in rows}
    for p in ("time.months", "market.preference.small.digital", "partners.types.var.share",
              "tiering.tiers.gold.discount", "incentives.budget", "conflict.protections",
              "partners.recruitment.weights.sales", "relationship.joint_selling"):
        assert p in paths and f"`{p}`" in res.stdout
    assert all(r.unit and r.description for r in rows)
    sc = sim.Scenario()
    for r in rows:  # every path is one --set accepts, and its default is the baseline's value
        assert sc.with_overrides({r.path: r.default}) == sc


def test_docs_scenarios_md_is_up_to_date():
    doc = REPO / "docs" / "SCENARIOS.md"
    assert doc.read_text(encoding="utf-8") == markdown(), "regenerate: channelsim schema --out docs/SCENARIOS.md"


def test_schema_out_writes_the_file(tmp_path):
    res = invoke("schema", "--out", tmp_path / "S.md")
    assert res.exit_code == 0 and (tmp_path / "S.md").read_text().startswith("# Scenario fields")


# ------------------------------------------------------------------ plugins
def test_plugin_hook_registers_existing_modules_and_skips_missing(monkeypatch):
    calls = []
    mod = types.ModuleType("fake_channelsim_plugin")
    mod.register = lambda app: calls.append(app)
    monkeypatch.setitem(sys.modules, "fake_channelsim_plugin", mod)
    app = typer.Typer()
    done = cli.register_plugins(app, ("fake_channelsim_plugin", "no_such_channelsim_plugin_xyz"))
    assert done == ["fake_channelsim_plugin"] and calls == [app]


def test_plugin_hook_does_not_hide_broken_plugins(monkeypatch, tmp_path):
    (tmp_path / "broken_channelsim_plugin.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_xyz"):
        cli.register_plugins(typer.Typer(), ("broken_channelsim_plugin",))


def test_run_workers_give_the_same_files(tmp_path):
    # Replications in two processes (experiments.replicate) write exactly what one process writes.
    one, two = tmp_path / "one", tmp_path / "two"
    run_tiny(one, "baseline", "--seed", "3", "--replications", "2", "--workers", "1")
    run_tiny(two, "baseline", "--seed", "3", "--replications", "2", "--workers", "2")
    for name in ("kpis", "partners", "conflicts", "migrations"):
        a, b = pd.read_parquet(one / f"{name}.parquet"), pd.read_parquet(two / f"{name}.parquet")
        pd.testing.assert_frame_equal(a, b)


def test_run_refuses_a_bad_worker_count(tmp_path):
    res = invoke("run", "baseline", *TINY, "--workers", "0", "--out", tmp_path / "w")
    assert res.exit_code == 2 and "--workers" in (res.stderr or res.output) and not (tmp_path / "w").exists()


def test_compare_refuses_runs_of_different_scale_unless_asked(base_run, tmp_path):
    # base_run: 3 reported months; this one 4: a "paired" table of the two would mostly show the horizon.
    longer = tmp_path / "longer"
    res = invoke("run", "baseline", *TINY, "--months", "4", "--seed", "7", "-r", "2", "--out", longer)
    assert res.exit_code == 0, res.output
    res = invoke("compare", base_run, longer)
    text = res.stderr or res.output
    assert res.exit_code == 2 and "time.months: 3" in text and "4 in" in text and "--allow-mismatch" in text
    res = invoke("compare", base_run, longer, "--allow-mismatch")
    assert res.exit_code == 0 and "warning: the runs differ in time.months" in (res.stderr or res.output)


def test_compare_of_two_runs_of_one_scenario_names_them_by_folder(base_run, tmp_path):
    other = tmp_path / "mdf15"
    run_tiny(other, "baseline", "--seed", "7", "-r", "2", "--set", "incentives.mdf.scale=1.5")
    res = invoke("compare", base_run, other)
    text = " ".join(res.output.split())  # the title may wrap
    assert res.exit_code == 0
    assert f"baseline [{other.name}]" in text and f"baseline [{base_run.name}]" in text


def test_compare_with_one_replication_shows_no_interval(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    run_tiny(a, "baseline", "--seed", "1")
    run_tiny(b, "baseline", "--seed", "2")
    res = invoke("compare", a, b)
    assert res.exit_code == 0 and "n/a (1 replication)" in res.output
