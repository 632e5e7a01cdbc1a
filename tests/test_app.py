"""The Solara app of ``channelsim app``, driven in headless Chromium (Playwright), and its what-if logic.

The browser test fails (never skips) when Chromium is missing: ``make test`` installs it
(Debian's ``chromium`` package, see the Makefile's ``chromium`` target).
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from conftest import SMALL_OVERRIDES

import sim
from channelsim.app import HEADLINE_ORDER, WhatIf, explain, levers_for, overrides_for
from channelsim.solara_app import ViewModel, model_view_scenario
from experiments.io import load_scenario

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SMALL = {**SMALL_OVERRIDES, "time.months": 12}
SEED, REPS = 3, 2
BASE = "mediation"  # not the baseline: the page must name the base it was started with
SHOTS = Path(os.environ.get("CHANNELSIM_SCREENSHOTS", "/tmp/channelsim-app-screenshots"))


def _small_baseline(name: str = "baseline") -> sim.Scenario:
    return load_scenario(name).with_overrides(SMALL)


def _expected(scenario: sim.Scenario, seed: int, reps: int) -> dict[str, float]:
    """Headline KPIs averaged over replications, computed here with sim.run (replication r: seed_sequence(seed, r))."""
    rows = [sim.headline(sim.run(scenario, sim.seed_sequence(seed, r)).kpis) for r in range(reps)]
    return {k: float(np.mean([row[k] for row in rows])) for k in rows[0]}


@pytest.fixture(scope="module")
def app_url():
    """``channelsim app mediation --port 0`` (small sizes) in a subprocess; yields the printed URL."""
    args = [sys.executable, "-c", "from channelsim.cli import main; main()", "app", BASE, "--port", "0",
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


def _tile(page, kpi: str) -> dict[str, float]:
    el = page.locator(f'.cs-tile[data-kpi="{kpi}"]')
    return {k: float(el.get_attribute(f"data-{k}")) for k in ("value", "base", "diff")} | \
        {"verdict": el.get_attribute("data-verdict"), "text": el.inner_text()}


def _non_local(url: str) -> bool:
    if url.startswith(("data:", "blob:", "about:")):
        return False
    return urlsplit(url).hostname not in ("127.0.0.1",)


def _fits(page, width: int) -> list[str]:
    """Elements of the what-if view whose right edge lies beyond ``width`` (cut off at that window width)."""
    return page.eval_on_selector_all(
        ".cs-page *", f"els => els.filter(e => e.getBoundingClientRect().right > {width} + 1 && "
                      "e.getBoundingClientRect().width > 0).map(e => e.className || e.tagName)")


@pytest.mark.timeout(600)
def test_app_in_chromium_matches_sim_run(app_url):
    assert CHROMIUM.exists(), "Chromium is missing: run `make chromium` (apt-get install -y chromium)"
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    requested: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 2400})
            page.set_default_timeout(120_000)
            page.on("request", lambda r: requested.append(r.url))
            page.on("websocket", lambda ws: requested.append(ws.url))
            page.goto(app_url)
            page.wait_for_selector(".cs-run")
            title = page.locator(".cs-title").inner_text()
            assert BASE in title and "baseline" not in title  # names the base scenario
            assert page.locator(".lever-rebate_scale .lever-value").inner_text() == "1.00 x"

            # 1. Run with the levers as loaded: the what-if is the base.
            page.click(".cs-run")
            page.wait_for_selector(".cs-tile")
            first = _tile(page, "gross_profit")
            assert first["value"] == first["base"] and first["diff"] == 0 and first["verdict"] == "unchanged"
            assert "USD, total over 12 months" in first["text"]  # units on the tile

            # 2. Move two levers: the results are marked stale until the next run.
            page.click(".lever-conflict_fallback .option-price_contest")
            thumb = page.locator(".lever-rebate_scale [role=slider]")
            thumb.focus()
            thumb.press("End")  # the slider's maximum
            page.wait_for_selector(".lever-rebate_scale .lever-value:has-text('3.00 x')")
            page.wait_for_selector(".cs-stale-marker")
            assert "rebate rates" in page.locator(".cs-changed").inner_text()
            # Record every text the progress line shows during the run.
            page.evaluate("""() => { window.progressSeen = [];
                new MutationObserver(() => { const el = document.querySelector('.cs-progress');
                    if (el && window.progressSeen.at(-1) !== el.textContent)
                        window.progressSeen.push(el.textContent); })
                .observe(document.body, {subtree: true, childList: true, characterData: true}); }""")
            page.click(".cs-run")
            page.wait_for_selector(".cs-run-info[data-overrides*='rebate']")
            page.wait_for_selector(".cs-progress:has-text('done: 2 replication')")
            assert page.locator(".cs-stale-marker").count() == 0
            progress_seen = page.evaluate("window.progressSeen")
            overrides = json.loads(page.locator(".cs-run-info").get_attribute("data-overrides"))
            shown = {k: _tile(page, k) for k in ("gross_profit", "revenue_total", "partner_satisfaction",
                                                 "incentive_spend", "conflicts_horizontal", "incentive_roi")}
            assert page.locator(".cs-tile").count() == len(HEADLINE_ORDER)
            page.wait_for_selector(".chart-kpi_diff img")
            charts = page.eval_on_selector_all(".cs-chart img", "els => els.map(e => e.naturalWidth)")
            page.screenshot(path=str(SHOTS / "whatif-1280.png"))
            page.set_viewport_size({"width": 800, "height": 2600})
            page.wait_for_timeout(800)
            page.screenshot(path=str(SHOTS / "whatif-800.png"))
            cut_off = _fits(page, 800)

            # 3. Reset to the base; a lever combination the scenario refuses is one paragraph, nothing run.
            page.click(".cs-reset")
            page.wait_for_selector(".cs-changed:has-text('all levers at the base')")
            assert page.locator(".lever-rebate_scale .lever-value").inner_text() == "1.00 x"
            silver = page.locator(".lever-threshold_silver [role=slider]")
            silver.focus()
            silver.press("End")
            page.click(".cs-run")
            error = page.locator(".cs-error").inner_text()

            # 4. The model view: SolaraViz, stepped month by month with live charts.
            page.set_viewport_size({"width": 1280, "height": 1400})
            page.click(".cs-tab-model")
            page.wait_for_selector(".model-now[data-month='0']")
            months = []
            for k in range(1, 4):
                page.click("button:has-text('Step')")
                page.wait_for_selector(f".model-now[data-month='{k}']")
                months.append(float(page.locator(".model-now").get_attribute("data-gross-profit")))
            page.wait_for_selector(".model-chart-tiers img")
            model_charts = page.eval_on_selector_all("[class*=model-chart-] img", "els => els.length")
            page.screenshot(path=str(SHOTS / "model-1280.png"))
            page.click("button:has-text('▶')")  # play: months advance on their own
            page.wait_for_selector(".model-now[data-month='6']")
            page.click("button:has-text('❚❚')")
            page.set_viewport_size({"width": 800, "height": 1400})
            page.wait_for_timeout(800)
            page.screenshot(path=str(SHOTS / "model-800.png"))
        finally:
            browser.close()

    # The what-if values shown equal sim.run for the same scenario, overrides and seeds, computed here.
    assert overrides == {"incentives.rebate.scale": 3.0, "conflict.fallback": "price_contest"}
    base = _small_baseline(BASE)
    want = _expected(base.with_overrides(overrides), SEED, REPS)
    want_base = _expected(base, SEED, REPS)
    assert first["value"] == pytest.approx(want_base["gross_profit"], rel=1e-12)
    for k, tile in shown.items():
        assert tile["value"] == pytest.approx(want[k], rel=1e-12), k
        assert tile["base"] == pytest.approx(want_base[k], rel=1e-12), k
        assert tile["diff"] == pytest.approx(want[k] - want_base[k], rel=1e-9, abs=1e-9), k
    assert shown["gross_profit"]["value"] != first["value"]
    # Tripled rebates cut the ROI in every replication: significant, worse, said in words and colour.
    assert shown["incentive_roi"]["verdict"] == "worse" and "CI excludes 0" in shown["incentive_roi"]["text"]
    # Progress went replication by replication (the base, then the what-if) and ended with "done".
    assert [t for t in progress_seen if "replication 2 of 2 done" in t][:1], progress_seen
    assert progress_seen[-1].startswith("done: 2 replication(s)")
    assert len(charts) >= 7 and all(w > 500 for w in charts)  # rendered at a readable resolution
    assert cut_off == [], cut_off  # usable at 800 px: nothing falls off the right edge
    assert "tier thresholds must rise" in error and "now: silver" in error
    assert "\n" not in error.strip() and "{" not in error
    # The model view's months equal ChannelModel on the same small scenario and seed, stepped here.
    model = ViewModel(model_view_scenario(base), seed=0)
    for _ in range(3):
        model.step()
    assert months == pytest.approx(list(model.datacollector.get_model_vars_dataframe()["gross_profit"]), rel=1e-12)
    assert model_charts == 4
    # Offline: nothing was requested from anywhere but 127.0.0.1 (pages, assets, websocket).
    assert requested and [u for u in requested if _non_local(u)] == []


def _get(url: str, headers: dict[str, str], method: str = "GET") -> int:
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.putrequest(method, "/", skip_host=True)
    for k, v in headers.items():
        conn.putheader(k, v)
    conn.endheaders()
    status = conn.getresponse().status
    conn.close()
    return status


def test_server_answers_its_own_host_only(app_url):
    port = urlsplit(app_url).port
    assert _get(app_url, {"Host": f"127.0.0.1:{port}"}) == 200
    assert _get(app_url, {"Host": f"localhost:{port}"}) == 200
    assert _get(app_url, {"Host": "evil.example"}) == 421  # a DNS name rebound to 127.0.0.1
    assert _get(app_url, {"Host": f"127.0.0.1:{port}", "Origin": "http://evil.example"}, "POST") == 403


def test_page_loads_nothing_from_a_cdn(app_url):
    status_ok = _get(app_url, {"Host": urlsplit(app_url).netloc})
    assert status_ok == 200
    import urllib.request

    with urllib.request.urlopen(app_url, timeout=30) as resp:
        text = resp.read().decode()
    # Scripts and styles come from this server (Solara's assets from the solara-assets package).
    assert not re.search(r"""<(script|link)[^>]+(src|href)\s*=\s*["'](https?:)?//""", text)
    assert "/_solara/cdn/" in text


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


def test_whatif_matches_sim_run_and_reports_progress():
    calls = []
    res = WhatIf(_small_baseline()).run({"mdf_scale": 0.0}, 1, 2, progress=lambda *a: calls.append(a))
    assert calls == [("base", 1, 2), ("base", 2, 2), ("what-if", 1, 2), ("what-if", 2, 2)]
    want = _expected(_small_baseline().with_overrides({"incentives.mdf.scale": 0.0}), 1, 2)
    tiles = {t.kpi: t for t in res.tiles()}
    assert tiles["gross_profit"].value == pytest.approx(want["gross_profit"], rel=1e-12)
    assert res.overrides == {"incentives.mdf.scale": 0.0}
    assert list(tiles) == list(HEADLINE_ORDER)
    for t in tiles.values():  # a significant tile's CI excludes zero, and only then
        assert t.significant == (t.low > 0 or t.high < 0)
        assert (t.verdict != "unchanged") == t.significant


def test_whatif_without_changes_is_the_baseline():
    res = WhatIf(_small_baseline()).run({}, 0, 1)
    assert res.overrides == {} and res.whatif is res.base
    assert all(t.diff == 0 and t.verdict == "unchanged" for t in res.tiles(None))


def test_a_rejected_combination_is_one_paragraph():
    wi = WhatIf(_small_baseline())
    with pytest.raises(sim.ScenarioError) as err:
        wi.run({"threshold_silver": 900_000.0}, 0, 1)
    msg = explain(err.value, wi.levers, {**wi.values(), "threshold_silver": 900_000.0})
    assert "tier thresholds must rise" in msg and "silver tier" in msg
    assert "now: silver 900,000 USD, gold 300,000 USD" in msg
    assert "\n" not in msg and "{" not in msg and "field '" not in msg


def test_solaraviz_reset_builds_the_model_from_its_parameters():
    """SolaraViz's Reset re-creates the model with the controls' values (and adds Mesa's own ``scenario``)."""
    from mesa.visualization.solara_viz import _build_model_init_kwargs

    from channelsim.solara_app import model_params

    sc = model_view_scenario(_small_baseline())
    params = {k: (v["value"] if isinstance(v, dict) else v) for k, v in model_params(sc).items()}
    params.update({"incentives__mdf__scale": 0.5, "direct__territory_coverage": 0.8, "seed": 7})
    kwargs = _build_model_init_kwargs(ViewModel(sc, seed=0), params, add_scenario_when_empty=True,
                                      require_model_accepts_scenario=True)
    model = ViewModel(**kwargs)
    assert model.config.incentives.mdf.scale == 0.5 and model.config.direct.territory_coverage == 0.8
    assert model.config.market.n_accounts == sc.market.n_accounts
    model.step()
    again = sim.ChannelModel(sc.with_overrides({"incentives.mdf.scale": 0.5, "direct.territory_coverage": 0.8}),
                             rng=7)
    again.step()
    assert model.datacollector.get_model_vars_dataframe()["gross_profit"].iloc[0] == \
        again.datacollector.get_model_vars_dataframe()["gross_profit"].iloc[0]
