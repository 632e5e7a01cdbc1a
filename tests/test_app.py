"""The what-if page: served by ``channelsim app``, driven in headless Chromium (Playwright).

The browser test fails (never skips) when Chromium is missing: ``make test`` installs it
(Debian's ``chromium`` package, see the Makefile's ``chromium`` target).
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import SMALL_OVERRIDES

import sim
from channelsim.app import WhatIf, levers_for, make_server, overrides_for
from experiments.io import load_scenario

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SMALL = dict(SMALL_OVERRIDES)
SEED, REPS = 3, 2


def _small_baseline() -> sim.Scenario:
    return load_scenario("baseline").with_overrides(SMALL)


def _expected(scenario: sim.Scenario, seed: int, reps: int) -> dict[str, float]:
    """Headline KPIs averaged over replications, computed here with sim.run (replication r: seed_sequence(seed, r))."""
    rows = [sim.headline(sim.run(scenario, sim.seed_sequence(seed, r)).kpis) for r in range(reps)]
    return {k: float(np.mean([row[k] for row in rows])) for k in rows[0]}


@pytest.fixture(scope="module")
def app_url():
    """``channelsim app baseline --port 0`` (small sizes) in a subprocess; yields the printed URL."""
    args = [sys.executable, "-c", "from channelsim.cli import main; main()", "app", "baseline", "--port", "0",
            "--seed", str(SEED), "--replications", str(REPS)]
    for k, v in SMALL.items():
        args += ["--set", f"{k}={v}"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    try:
        try:
            first = lines.get(timeout=90)
        except queue.Empty:
            pytest.fail(f"channelsim app printed no URL; stderr: {proc.stderr.read() if proc.poll() else ''}")
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", first)
        assert m, first
        assert int(m.group(1)) > 0  # --port 0 picked a free port and printed it
        yield m.group(0)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _post(url: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(url + "api/run", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _value(page, attr: str, kpi: str) -> tuple[float, str]:
    el = page.locator(f'[{attr}="{kpi}"]')
    return float(el.get_attribute("data-value")), el.inner_text()


def _shown(text: str) -> float:
    return float(text.replace(",", ""))


@pytest.mark.timeout(600)
def test_page_in_chromium_matches_sim_run(app_url):
    assert CHROMIUM.exists(), "Chromium is missing: run `make chromium` (apt-get install -y chromium)"
    from playwright.sync_api import sync_playwright

    external: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(180_000)
            page.on("request", lambda r: external.append(r.url)
                    if not (r.url.startswith(app_url) or r.url.startswith("data:")) else None)
            page.goto(app_url)
            assert page.locator("#lever-conflict_fallback").input_value() == "price_contest"
            assert page.locator("#lever-deal_registration").is_checked()
            assert page.locator("#replications").input_value() == str(REPS)

            # 1. Run with the levers as loaded: the what-if is the baseline.
            page.click("#run")
            page.wait_for_selector('#results[data-run="1"]')
            gp0, _ = _value(page, "data-kpi", "gross_profit")
            gpb, _ = _value(page, "data-kpi-baseline", "gross_profit")
            assert gp0 == gpb

            # 2. Change levers (a select and a slider), run again.
            page.select_option("#lever-conflict_fallback", "mediation")
            page.eval_on_selector("#lever-rebate_scale",
                                  "el => { el.value = '2'; el.dispatchEvent(new Event('input', {bubbles: true})); }")
            assert page.locator("#lever-rebate_scale-val").inner_text().startswith("2")
            page.click("#run")
            page.wait_for_selector('#results[data-run="2"]')
            assert "conflict.fallback" in page.locator("#run-info").inner_text()

            shown = {k: _value(page, "data-kpi", k) for k in
                     ("gross_profit", "revenue_total", "partner_satisfaction", "incentive_spend",
                      "conflicts_horizontal")}
            base_shown = {k: _value(page, "data-kpi-baseline", k) for k in ("gross_profit", "partner_satisfaction")}
            diff_gp, _ = _value(page, "data-kpi-diff", "gross_profit")
            images = page.eval_on_selector_all(".charts img", "els => els.map(e => [e.id, e.naturalWidth])")
        finally:
            browser.close()

    # The KPI values shown changed...
    assert shown["gross_profit"][0] != gp0
    # ... and equal sim.run for the same scenario, overrides and seeds, computed here.
    base = _small_baseline()
    whatif = base.with_overrides({"incentives.rebate.scale": 2.0, "conflict.fallback": "mediation"})
    want = _expected(whatif, SEED, REPS)
    want_base = _expected(base, SEED, REPS)
    for k, (value, text) in shown.items():
        assert value == pytest.approx(want[k], rel=1e-12), k
        assert _shown(text) == pytest.approx(want[k], rel=5e-3, abs=1.0), (k, text)
    for k, (value, _) in base_shown.items():
        assert value == pytest.approx(want_base[k], rel=1e-12), k
    assert gp0 == pytest.approx(want_base["gross_profit"], rel=1e-12)
    assert diff_gp == pytest.approx(want["gross_profit"] - want_base["gross_profit"], rel=1e-9)
    # Charts: KPIs against the baseline, the conflict and tier views, all rendered.
    ids = {i for i, w in images if w > 0}
    assert {"chart-gross_profit", "chart-kpi_diff", "chart-conflicts_whatif", "chart-tiers_whatif",
            "chart-migrations_whatif"} <= ids
    # Offline: nothing was requested from anywhere but the page's own server.
    assert external == []


def test_bad_levers_are_refused_with_a_message(app_url):
    status, body = _post(app_url, {"levers": {"threshold_silver": 900000.0}, "seed": 0, "replications": 1})
    assert status == 400 and "min_ttm_revenue" in body["error"]
    status, body = _post(app_url, {"levers": {"no_such_lever": 1}, "seed": 0, "replications": 1})
    assert status == 400 and "no_such_lever" in body["error"]
    status, body = _post(app_url, {"levers": {}, "seed": -1, "replications": 0})
    assert status == 400 and "seed" in body["error"] and "replications" in body["error"]


def test_page_is_self_contained(app_url):
    with urllib.request.urlopen(app_url, timeout=30) as resp:
        text = resp.read().decode()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "@import" not in text and "url(" not in text


def test_lever_overrides():
    base = _small_baseline()
    levers = levers_for(base)
    keys = {lv.key for lv in levers}
    assert {"threshold_silver", "threshold_gold", "threshold_platinum", "rebate_scale", "mdf_scale",
            "deal_registration", "direct_coverage", "conflict_fallback"} <= keys
    assert overrides_for(base, {"rebate_scale": 1.0, "deal_registration": True}) == {}
    ov = overrides_for(base, {"deal_registration": False, "direct_coverage": 0.8, "threshold_gold": 350000})
    assert ov == {"conflict.protections": ["rules_of_engagement"], "direct.territory_coverage": 0.8,
                  "tiering.tiers.gold.min_ttm_revenue": 350000.0}
    base.with_overrides(ov)  # valid


def test_server_in_a_thread_on_a_free_port():
    server = make_server(_small_baseline(), port=0, seed=1, replications=1)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        assert server.url.startswith("http://127.0.0.1:") and not server.url.endswith(":0/")
        status, body = _post(server.url, {"levers": {"mdf_scale": 0.0}, "seed": 1, "replications": 1})
        assert status == 200
        want = _expected(_small_baseline().with_overrides({"incentives.mdf.scale": 0.0}), 1, 1)
        assert body["kpis"]["gross_profit"]["whatif"] == pytest.approx(want["gross_profit"], rel=1e-12)
        assert body["overrides"] == {"incentives.mdf.scale": 0.0}
    finally:
        server.shutdown()
        server.server_close()


def test_whatif_without_changes_is_the_baseline():
    res = WhatIf(_small_baseline()).run({}, 0, 1)
    assert res["overrides"] == {}
    assert all(v["diff"] == 0 for v in res["kpis"].values() if v["diff"] is not None)
