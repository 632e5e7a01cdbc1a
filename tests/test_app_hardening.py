"""The app on hostile input: lever values out of range, bad seeds, other hosts and origins.

The lever checks run before anything is simulated (:func:`channelsim.app.overrides_for`,
:func:`channelsim.app.check_run`); Host and Origin are checked in front of Solara by
:class:`channelsim.app_server.LocalOnly`, tested here on ASGI scopes and, in ``tests/test_app.py``,
against the running server.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SMALL_OVERRIDES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import sim
from channelsim import app as app_mod
from channelsim.app import WhatIf, explain, levers_for, overrides_for
from channelsim.app_server import LocalOnly, allowed_hosts, offline_environment
from sim.errors import ScenarioError

FUZZ = settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
BASE = sim.Scenario().with_overrides(SMALL_OVERRIDES)
LEVERS = levers_for(BASE)


@pytest.fixture
def no_simulation(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("a simulation started")

    monkeypatch.setattr(app_mod, "replicate", boom)


def test_lever_ranges_are_enforced(no_simulation):
    wi = WhatIf(BASE)
    for value in (1e300, -1, 2.01, 10**15, 10**401, "1", True, None, [1], float("nan"), float("inf")):
        with pytest.raises(ScenarioError) as err:
            wi.run({"discount_scale": value}, 0, 1)
        msg = explain(err.value, wi.levers)
        assert "front-end discounts" in msg and "from 0 to 2" in msg and len(msg) < 600, value
        assert "\n" not in msg and "{" not in msg


@pytest.mark.parametrize("seed, reps", [(-1, 1), (0, 0), (0, 33), (True, 1), (1.5, 1), (2**63, 1), (0, "2")])
def test_bad_seed_or_replications_are_refused(no_simulation, seed, reps):
    with pytest.raises(ScenarioError) as err:
        WhatIf(BASE).run({}, seed, reps)
    msg = explain(err.value)
    assert ("seed" in msg) or ("replications" in msg)
    assert msg.startswith("These settings cannot be run") and msg.endswith("Nothing was simulated.")


def test_many_unknown_levers_get_a_short_message(no_simulation):
    with pytest.raises(ScenarioError) as err:
        WhatIf(BASE).run({f"lever{i}": 1 for i in range(100_000)}, 0, 1)
    msg = explain(err.value, LEVERS)
    assert len(msg) < 1_000 and "99995 more" in msg and "rebate_scale" in msg


def _scope(kind: str = "http", method: str = "POST", **headers: str) -> dict:
    scope = {"type": kind, "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]}
    return scope | ({"method": method} if kind == "http" else {})


HOSTS = allowed_hosts("127.0.0.1", 8123)


def _answer(scope: dict) -> tuple[list[dict], bool]:
    """What :class:`LocalOnly` sends for ``scope`` and whether it passed the request on."""
    passed = []

    async def app(scope, receive, send):
        passed.append(True)

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request"}

    asyncio.run(LocalOnly(app, HOSTS)(scope, receive, send))
    return sent, bool(passed)


@pytest.mark.parametrize("host", ["evil.example:80", "attacker.test", "", "127.0.0.1:1", "localhost"])
def test_another_host_is_refused(host):
    for method in ("GET", "POST"):
        sent, passed = _answer(_scope(method=method, host=host))
        assert not passed and sent[0]["status"] == 421
    sent, passed = _answer(_scope("websocket", host=host))
    assert not passed and sent[0]["type"] == "websocket.close"


@pytest.mark.parametrize("headers", [{"origin": "http://evil.example"}, {"origin": "null"},
                                     {"origin": "http://localhost:8123"},  # another origin than the page's
                                     {"sec_fetch_site": "cross-site"}, {"sec_fetch_site": "same-site"}])
def test_a_cross_site_request_is_refused(headers):
    for kind in ("http", "websocket"):
        sent, passed = _answer(_scope(kind, host="127.0.0.1:8123", **headers))
        assert not passed
        assert sent[0].get("status") == 403 or sent[0]["type"] == "websocket.close"


@pytest.mark.parametrize("headers", [{"sec_fetch_site": "cross-site"}, {"origin": "http://evil.example"}])
def test_a_link_from_elsewhere_opens_the_page(headers):
    """A GET (a followed link) only needs the right Host: another site cannot read the answer anyway."""
    assert _answer(_scope(method="GET", host="127.0.0.1:8123", **headers)) == ([], True)
    sent, passed = _answer(_scope("websocket", host="127.0.0.1:8123", **headers))  # ... but cannot drive the app
    assert not passed and sent[0]["type"] == "websocket.close"


@pytest.mark.parametrize("headers", [{}, {"origin": "http://127.0.0.1:8123", "sec_fetch_site": "same-origin"},
                                     {"sec_fetch_site": "none"}])
def test_the_apps_own_pages_and_scripts_pass(headers):
    for host in ("127.0.0.1:8123", "localhost:8123", "[::1]:8123"):
        h = {**headers, "host": host}
        if "origin" in h:
            h["origin"] = f"http://{host}"
        assert _answer(_scope("websocket", **h)) == ([], True)
        assert _answer(_scope(**h)) == ([], True)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.org", "::"])
def test_the_app_binds_to_loopback_only(host):
    from channelsim.cli import app

    res = CliRunner().invoke(app, ["app", "baseline", "--host", host, "--port", "0"])
    assert res.exit_code == 2 and "loopback" in res.output and "Traceback" not in res.output


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30) |
    st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
LEVER_VALUES = st.dictionaries(st.sampled_from([lv.key for lv in LEVERS] + ["x", ""]), JSON, max_size=6)


@FUZZ
@given(levers=LEVER_VALUES)
def test_fuzzed_levers_are_in_range_or_one_paragraph(levers):
    try:
        overrides = overrides_for(BASE, levers, LEVERS)
    except ScenarioError as err:
        msg = explain(err, LEVERS)
        assert len(msg) < 3_000 and "\n" not in msg
        return
    by_path = {lv.path: lv for lv in LEVERS}
    for path, value in overrides.items():
        lv = by_path[path]
        if lv.kind == "range":
            assert lv.min <= value <= lv.max


def test_solara_is_configured_offline():
    """With the app's environment, Solara proxies its assets locally, has no CDN to fall back on, sends no telemetry."""
    code = ("import json, solara.settings as s, solara.server.settings as ss; print(json.dumps({"
            "'proxy': s.assets.proxy, 'cdn': s.assets.cdn, 'telemetry': ss.telemetry.mixpanel_enable, "
            "'mode': ss.main.mode, 'banner': ss.theme.show_banner, 'cache': str(ss.assets.proxy_cache_dir)}))")
    env = {**os.environ, **offline_environment({"scenario": "baseline"})}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                         cwd="/")
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["proxy"] is True and got["telemetry"] is False and got["mode"] == "production"
    assert got["banner"] is False
    assert got["cdn"].startswith("http://127.0.0.1:")  # a missing asset is never fetched from the internet
    cache = Path(got["cache"])  # solara-assets installs the front-end files here
    assert (cache / "@widgetti").is_dir() and (cache / "requirejs@2.3.6").is_dir()
