"""``channelsim warn RUN_DIR``: the files it writes, the report's layout, and hostile input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import SMALL_OVERRIDES
from test_cli import assert_self_contained, invoke

SMALL_SETS = [a for k, v in SMALL_OVERRIDES.items() if k != "time.months" for a in ("--set", f"{k}={v}")]
# The run size of tests/test_warning.py (12 replications of the small scenario over 36 months), where the
# models' test AUC intervals clear 0.5 and the satisfaction rule.
RUN = ["--months", "36", *SMALL_SETS, "--replications", "12", "--seed", "1", "--workers", "1"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("warn") / "run"
    res = invoke("run", "baseline", *RUN, "--out", out)
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module")
def warned(run_dir) -> tuple[Path, object]:
    res = invoke("warn", run_dir)
    assert res.exit_code == 0, res.output + (res.stderr or "")
    return run_dir / "warning", res


def test_warn_writes_the_evaluation_watchlist_and_report(warned, run_dir):
    out, res = warned
    assert sorted(p.name for p in out.iterdir()) == ["evaluation.json", "report.html", "watchlist.csv"]
    ev = json.loads((out / "evaluation.json").read_text())  # strict JSON: no NaN
    pe = ev["partner_exit"]
    assert ev["scenario"] == "baseline" and pe["horizon_months"] == 6 and ev["replication_count"] == 12
    for k in ("classifier", "cox"):
        assert pe["auc"][k]["ci_low"] > max(0.5, pe["auc"]["satisfaction_rule"]["auc"])
    assert ev["hot_spots"]["evaluated"]
    wl = pd.read_csv(out / "watchlist.csv")
    assert list(wl.columns) == ["rank", "replication", "partner_id", "type", "tier", "lifecycle", "risk",
                                "cox_risk", "satisfaction", "reasons"]
    assert wl["risk"].is_monotonic_decreasing and wl["rank"].tolist() == list(range(1, len(wl) + 1))
    for text in ("gradient boosting", "Cox model", "satisfaction only", "no skill", "Watch list", "hot spots"):
        assert text in res.stdout, text
    html = (out / "report.html").read_text()
    assert_self_contained(html)
    assert f"{pe['auc']['classifier']['auc']:.3f}" in html and "Months of warning" in html


def test_warn_again_replaces_the_default_folder_and_honours_horizon_and_out(warned, run_dir, tmp_path):
    res = invoke("warn", run_dir, "--horizon", "3", "-o", tmp_path / "w3")
    assert res.exit_code == 0, res.output
    ev = json.loads((tmp_path / "w3" / "evaluation.json").read_text())
    assert ev["partner_exit"]["horizon_months"] == 3
    again = invoke("warn", run_dir, "--horizon", "3", "-o", tmp_path / "w3")  # not empty, no --force
    assert again.exit_code == 2 and "--force" in again.stderr
    first = (run_dir / "warning" / "evaluation.json").read_text()
    assert invoke("warn", run_dir).exit_code == 0  # the default RUN_DIR/warning is replaced ...
    assert (run_dir / "warning" / "evaluation.json").read_text() == first  # ... by the same numbers (same seed)
    assert sorted(p.name for p in (run_dir / "warning").iterdir()) == ["evaluation.json", "report.html",
                                                                       "watchlist.csv"]


def _hostile(tmp: Path, run_dir: Path) -> dict[str, tuple[list[str], str]]:
    empty = tmp / "empty"
    empty.mkdir()
    bad = tmp / "bad"
    bad.mkdir()
    (bad / "partners.parquet").write_text("not parquet")
    cols = tmp / "cols"
    cols.mkdir()
    pd.DataFrame({"month": [1], "partner_id": [0]}).to_parquet(cols / "partners.parquet")
    few = tmp / "few"
    few.mkdir()
    p = pd.read_parquet(run_dir / "partners.parquet")
    p[p["replication"] < 2].to_parquet(few / "partners.parquet")
    short = tmp / "short"
    short.mkdir()
    p[p["month"] <= 8].to_parquet(short / "partners.parquet")
    afile = tmp / "afile"
    afile.write_text("x")
    return {
        "missing folder": ([str(tmp / "nope")], "no such folder"),
        "not a run": ([str(empty)], "no partners.parquet"),
        "a file": ([str(afile)], "not a folder"),
        "unreadable panel": ([str(bad)], "unreadable Parquet"),
        "columns missing": ([str(cols)], "missing"),
        "too few replications": ([str(few)], "at least 4"),
        "too few exits": ([str(short), "--horizon", "4"], "exiting partner"),
        "horizon 0": ([str(run_dir), "--horizon", "0"], "--horizon 0"),
        "horizon too long": ([str(run_dir), "--horizon", "30"], "--horizon 30"),
        "horizon not a number": ([str(run_dir), "--horizon", "six"], "--horizon"),
        "out is a file": ([str(run_dir), "-o", str(afile)], "not a folder"),
    }


def test_hostile_input_exits_2_with_one_paragraph_and_writes_nothing(tmp_path, run_dir):
    for name, (args, needle) in _hostile(tmp_path, run_dir).items():
        before = sorted(p.name for p in tmp_path.rglob("*"))
        res = invoke("warn", *args)
        assert res.exit_code == 2, (name, res.output)
        err = res.stderr
        assert needle in err, (name, err)
        assert "Traceback" not in err, name
        if name != "horizon not a number":  # typer's own usage message
            # one paragraph: the last line (after at most the progress line "fitting and testing ...")
            lines = err.strip().splitlines()
            assert lines[-1].startswith("error: ") and len(lines) <= 2, (name, err)
            assert len(lines) == 1 or lines[0].startswith("fitting and testing"), (name, err)
        assert sorted(p.name for p in tmp_path.rglob("*")) == before, name


@pytest.mark.parametrize("width", (1280, 800))
def test_report_text_neither_overlaps_nor_is_clipped(warned, width):
    from test_reports_browser import CHROMIUM, CHROMIUM_ARGS, LAYOUT_JS

    assert CHROMIUM.exists(), "Chromium is missing: run `make chromium`"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = b.new_page(viewport={"width": width, "height": 900})
            page.goto((warned[0] / "report.html").resolve().as_uri())
            got = page.evaluate(LAYOUT_JS)
        finally:
            b.close()
    assert got["n"] > 30
    assert got["overlaps"] == [] and got["clipped"] == [] and got["misaligned"] == [], got
    assert got["page"][0] <= got["page"][1], "the page scrolls sideways"
