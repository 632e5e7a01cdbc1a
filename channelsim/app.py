"""The what-if page: a static HTML page with plain JavaScript and a JSON endpoint that runs ``sim.run``.

Served by the standard library (:class:`http.server.ThreadingHTTPServer`) on 127.0.0.1; the page loads
nothing from elsewhere (no CDN, no external JS, CSS or fonts), so it works offline.  Charts are PNGs
rendered by :mod:`channelsim.plots` and sent base64-encoded in the JSON answer.

Endpoints:

* ``GET /``: the page (lever definitions embedded).
* ``GET /api/levers``: the levers, their scenario paths, ranges and the base scenario's values.
* ``POST /api/run``: body ``{"levers": {key: value}, "seed": int, "replications": int}``; runs the base
  scenario and the what-if (the base with the levers applied) with the same seeds (replication ``r``
  uses ``sim.seed_sequence(seed, r)``, as ``channelsim run`` does) and answers with the headline KPIs of
  both, the paired differences with 95 % CIs and the charts.  Errors: 400 with ``{"error": message}``.

Every request is checked before anything runs (:func:`parse_run_request`, :meth:`_Handler.check_origin`):
the ``Host`` header names this server and a browser's ``Origin`` (or ``Sec-Fetch-Site``) is this page
(so another site the user visits cannot start simulations, nor read the page through a rebound DNS
name); a body is at most :data:`MAX_BODY_BYTES` of JSON nested at most :data:`MAX_JSON_DEPTH` levels;
each lever is within its range (the slider's, enforced here, not only in the page).  A bad request is
answered with a short 4xx; a socket that sends nothing for :data:`SOCKET_TIMEOUT` seconds is closed.

See ``docs/APP.md``.
"""

from __future__ import annotations

import html
import json
import math
import socket
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pandas as pd

import sim
from sim.errors import MAX_INT, Described, ScenarioError
from sim.overrides import apply_overrides

from . import plots
from .stats import LEVEL, diff_ci, mean_ci, replication_headlines

#: Most replications a request may ask for (each is two simulations: baseline and what-if).
MAX_REPLICATIONS = 32
#: Largest request body (bytes); a run request is well under 1 KB.
MAX_BODY_BYTES = 16_384
#: Deepest nesting of JSON arrays and objects in a request body (a run request has 2 levels).
MAX_JSON_DEPTH = 8
#: Seconds a connection may stay silent (while sending its request line, headers or body) before it is closed.
SOCKET_TIMEOUT = 15.0
#: Longest error message sent back (characters).
MAX_ERROR_CHARS = 2_000

#: Headline KPIs shown first, in this order (the others follow in :func:`sim.headline` order).
HEADLINE_ORDER = (
    "gross_profit", "revenue_total", "revenue_partner", "incentive_spend", "incentive_roi",
    "margin_lost_to_conflict", "partner_satisfaction", "partner_nps", "active_partners_end",
    "conflicts_horizontal", "conflicts_vertical", "conflicts_multichannel", "customer_satisfaction", "market_share",
)


@dataclass(frozen=True)
class Lever:
    """One control on the page.

    Attributes:
        key: the control's id (``lever-<key>`` in the page) and its key in a run request.
        label: what the page shows.
        kind: ``range`` (a slider), ``select`` or ``checkbox``.
        path: the scenario field it sets (dotted), or ``conflict.protections`` for deal registration.
        unit: shown next to the value.
        min: slider minimum.
        max: slider maximum.
        step: slider step.
        options: choices of a select.
    """

    key: str
    label: str
    kind: str
    path: str
    unit: str = ""
    min: float | None = None
    max: float | None = None
    step: float | None = None
    options: tuple[str, ...] = ()


def _get(scenario: sim.Scenario, path: str) -> Any:
    node: Any = scenario
    for part in path.split("."):
        if isinstance(node, list):
            node = next(t for t in node if getattr(t, "name", None) == part)
        else:
            node = getattr(node, part)
    return node


def levers_for(scenario: sim.Scenario) -> list[Lever]:
    """The page's controls for ``scenario``.

    Tier revenue thresholds, rebate/MDF/discount scales, deal registration, direct coverage and the
    conflict fallback.
    """
    out = []
    tiers = scenario.tiering.tiers
    top = max(t.min_ttm_revenue for t in tiers) or 600_000.0
    for t in tiers[1:]:
        out.append(Lever(f"threshold_{t.name}", f"{t.name} tier: TTM revenue threshold", "range",
                         f"tiering.tiers.{t.name}.min_ttm_revenue", "USD", 0.0, float(round(top * 2.5, -3)),
                         5_000.0))
    out += [
        Lever("rebate_scale", "rebate rates (x every tier's rate)", "range", "incentives.rebate.scale", "x",
              0.0, 3.0, 0.05),
        Lever("mdf_scale", "MDF accrual rates (x every tier's rate)", "range", "incentives.mdf.scale", "x",
              0.0, 3.0, 0.05),
        Lever("discount_scale", "front-end discounts (x every tier's discount)", "range",
              "incentives.discount_scale", "x", 0.0, 2.0, 0.05),
        Lever("deal_registration", "deal registration", "checkbox", "conflict.protections"),
        Lever("direct_coverage", "direct sales territory coverage", "range", "direct.territory_coverage", "share",
              0.0, 1.0, 0.05),
        Lever("conflict_fallback", "conflict fallback (after protections)", "select", "conflict.fallback",
              options=("price_contest", "mediation")),
    ]
    return out


def lever_values(scenario: sim.Scenario, levers: list[Lever]) -> dict[str, Any]:
    """The value of each lever in ``scenario`` (what the page starts from)."""
    out: dict[str, Any] = {}
    for lv in levers:
        if lv.key == "deal_registration":
            out[lv.key] = "deal_registration" in scenario.conflict.protections
        else:
            v = _get(scenario, lv.path)
            out[lv.key] = float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
    return out


def overrides_for(scenario: sim.Scenario, values: dict[str, Any], levers: list[Lever] | None = None) -> dict[str, Any]:
    """Scenario overrides (dotted paths) for the lever values that differ from ``scenario``.

    Raises:
        ScenarioError: for an unknown lever key or a value of the wrong kind.
    """
    levers = levers if levers is not None else levers_for(scenario)
    by_key = {lv.key: lv for lv in levers}
    current = lever_values(scenario, levers)
    out: dict[str, Any] = {}
    problems = []
    unknown = [str(k) for k in values if k not in by_key]
    if unknown:  # one problem for them all: a request may name thousands
        shown = ", ".join(repr(k[:40]) for k in unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5
                                                                else "")
        problems.append((unknown[0][:40] if len(unknown) == 1 else "levers", Described(shown),
                         f"unknown lever(s); the levers of the page: {', '.join(sorted(by_key))}"))
    for key, value in values.items():
        lv = by_key.get(key)
        if lv is None:
            continue
        if lv.kind == "checkbox":
            if not isinstance(value, bool):
                problems.append((key, value, "true or false"))
                continue
            if value == current[key]:
                continue
            prot = [p for p in scenario.conflict.protections if p != "deal_registration"]
            out[lv.path] = [*prot, "deal_registration"] if value else prot
        elif lv.kind == "select":
            if value not in lv.options:
                problems.append((key, value, f"one of {list(lv.options)}"))
            elif value != current[key]:
                out[lv.path] = value
        else:
            lo, hi = lv.min if lv.min is not None else -math.inf, lv.max if lv.max is not None else math.inf
            if isinstance(value, bool) or not isinstance(value, int | float) or \
                    (isinstance(value, float) and not math.isfinite(value)):
                problems.append((key, value, f"a number from {lo:g} to {hi:g}"))
            elif not lo <= value <= hi:  # compared exactly: a 400-digit integer is out of range, not an overflow
                problems.append((key, value, f"a number from {lo:g} to {hi:g} (the lever's range)"))
            elif float(value) != current[key]:
                out[lv.path] = float(value)
    if problems:
        raise ScenarioError("the page's levers", problems)
    return out


def run_frames(scenario: sim.Scenario, seed: int, replications: int) -> dict[str, pd.DataFrame]:
    """Run ``scenario`` ``replications`` times with :func:`experiments.replicate`.

    Replication ``r`` uses ``sim.seed_sequence(seed, r)``, as ``channelsim run`` does.

    Returns:
        ``kpis``, ``conflicts``, ``migrations``: frames with a ``replication`` column.
    """
    from experiments.replication import replicate

    frames = ("kpis", "conflicts", "migrations")
    rep = replicate(scenario, replications, seed=seed, frames=frames)
    return {k: getattr(rep, k) for k in frames}


def _num(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def kpi_table(base: pd.DataFrame, whatif: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    """Per headline KPI: baseline and what-if means with CIs and the paired difference with its CI."""
    hb, hw = replication_headlines(base), replication_headlines(whatif)
    keys = [k for k in HEADLINE_ORDER if k in hw.columns] + [k for k in hw.columns if k not in HEADLINE_ORDER]
    paired = len(hb) >= 2
    out = {}
    for k in keys:
        a, b = mean_ci(hb[k]), mean_ci(hw[k])
        d = diff_ci(hb[k], hw[k], paired=paired)
        out[k] = {"whatif": _num(b.mean), "whatif_low": _num(b.low), "whatif_high": _num(b.high),
                  "baseline": _num(a.mean), "baseline_low": _num(a.low), "baseline_high": _num(a.high),
                  "diff": _num(d.mean), "diff_low": _num(d.low), "diff_high": _num(d.high)}
    return out


def charts(base: dict[str, pd.DataFrame], whatif: dict[str, pd.DataFrame], table: pd.DataFrame,
           tiers: list[str]) -> list[dict[str, str]]:
    """The page's charts (PNG, base64): KPIs against the baseline with CIs, conflicts and tiers."""
    pair = {"baseline": base["kpis"], "what-if": whatif["kpis"]}
    figs = [
        ("kpi_diff", "What-if minus baseline by headline KPI (% of baseline, 95 % CI)", plots.compare_forest(table)),
        ("gross_profit", "Gross profit", plots.kpi_series(pair, "gross_profit")),
        ("revenue_total", "Revenue", plots.kpi_series(pair, "revenue_total")),
        ("partner_satisfaction", "Partner satisfaction", plots.kpi_series(pair, "partner_satisfaction")),
        ("conflicts_whatif", "Conflicts by type and resolution: what-if", plots.conflicts_by_resolution(
            whatif["conflicts"])),
        ("conflicts_baseline", "Conflicts by type and resolution: baseline", plots.conflicts_by_resolution(
            base["conflicts"])),
        ("tiers_whatif", "Tier distribution: what-if", plots.tier_distribution(whatif["kpis"])),
        ("tiers_baseline", "Tier distribution: baseline", plots.tier_distribution(base["kpis"])),
        ("migrations_whatif", "Tier migrations: what-if", plots.tier_migration(whatif["migrations"], tiers)),
        ("channel_mix_whatif", "Channel mix: what-if", plots.channel_mix(whatif["kpis"])),
    ]
    return [{"id": i, "title": t, "png": plots.to_png_base64(f, dpi=80)} for i, t, f in figs]


@dataclass
class WhatIf:
    """The state behind the page: the base scenario, its levers and a cache of baseline runs."""

    base: sim.Scenario
    label: str = ""
    levers: list[Lever] = field(default_factory=list)
    _cache: dict[tuple[int, int], dict[str, pd.DataFrame]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.levers = self.levers or levers_for(self.base)
        self.label = self.label or self.base.name

    def describe(self) -> dict[str, Any]:
        return {"scenario": self.label, "levers": [lv.__dict__ | {"options": list(lv.options)} for lv in self.levers],
                "values": lever_values(self.base, self.levers), "months": self.base.time.months,
                "warmup_months": self.base.time.warmup_months, "ci_level": LEVEL, "max_replications": MAX_REPLICATIONS}

    def run(self, values: dict[str, Any], seed: int, replications: int) -> dict[str, Any]:
        """Run the baseline and the what-if for the lever ``values``; the JSON answer of ``/api/run``.

        Raises:
            ScenarioError: for bad lever values, seed or replications, or a what-if the scenario rejects.
        """
        problems = []
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_INT:
            problems.append(("seed", seed, f"an integer from 0 to {MAX_INT}"))
        if isinstance(replications, bool) or not isinstance(replications, int) or \
                not 1 <= replications <= MAX_REPLICATIONS:
            problems.append(("replications", replications, f"an integer from 1 to {MAX_REPLICATIONS}"))
        if problems:
            raise ScenarioError("the page's run request", problems)
        if not isinstance(values, dict):
            raise ScenarioError("the page's run request", [("levers", values, "an object of lever values")])
        overrides = overrides_for(self.base, values, self.levers)
        scenario = apply_overrides(self.base, overrides, source="the page's levers", strict=True) \
            if overrides else self.base
        t0 = time.perf_counter()
        with self._lock:  # one simulation batch at a time: the machine's cores are shared
            key = (seed, replications)
            if key not in self._cache:
                self._cache = {key: run_frames(self.base, seed, replications)}
            base = self._cache[key]
            whatif = run_frames(scenario, seed, replications) if overrides else base
        kpis = kpi_table(base["kpis"], whatif["kpis"])
        table = pd.DataFrame({k: {"a_mean": v["baseline"], "diff": v["diff"], "ci_low": v["diff_low"],
                                  "ci_high": v["diff_high"]} for k, v in kpis.items()}).T.astype(float)
        figs = charts(base, whatif, table, self.base.tier_names)
        n = replications
        method = (f"paired t-interval over {n} replications (common random numbers)" if n >= 2
                  else "one replication: no interval")
        return {"scenario": self.label, "seed": seed, "replications": n, "overrides": overrides,
                "seeds": f"sim.seed_sequence({seed}, r) for r in 0..{n - 1}", "ci_method": method,
                "kpis": kpis, "charts": figs, "seconds": round(time.perf_counter() - t0, 3)}


# ---------------------------------------------------------------------------------------------- the page

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>channelsim what-if: __TITLE__</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #222; }
header { background: #1f3b57; color: #fff; padding: 0.6em 1.2em; }
header h1 { font-size: 1.25em; margin: 0; } header p { margin: 0.2em 0 0; font-size: 0.85em; opacity: 0.85; }
main { display: flex; gap: 1.2em; padding: 1em 1.2em; align-items: flex-start; }
#controls { flex: 0 0 330px; background: #f5f7fa; border: 1px solid #dde3ea; border-radius: 6px; padding: 0.8em; }
#controls label { display: block; font-size: 0.85em; margin-top: 0.7em; }
#controls input[type=range] { width: 100%; } #controls select, #controls input[type=number] { width: 100%; }
.val { float: right; font-variant-numeric: tabular-nums; color: #1f3b57; font-weight: 600; }
button { margin-top: 1em; width: 100%; padding: 0.6em; font-size: 1em; background: #1f77b4; color: #fff;
         border: 0; border-radius: 4px; cursor: pointer; } button:disabled { background: #8aa; cursor: wait; }
#results { flex: 1; min-width: 0; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { padding: 0.2em 0.6em; border-bottom: 1px solid #eee; text-align: right; font-variant-numeric: tabular-nums; }
th:first-child, td:first-child { text-align: left; }
.sig { font-weight: 700; color: #1f3b57; } .note { color: #666; font-size: 0.8em; }
#status.error { color: #b03030; white-space: pre-wrap; }
.charts { display: flex; flex-wrap: wrap; gap: 0.8em; } .charts figure { margin: 0; flex: 1 1 460px; }
.charts img { max-width: 100%; } figcaption { font-size: 0.8em; color: #555; }
</style></head>
<body>
<header><h1>channelsim what-if: __TITLE__</h1>
<p>Move the levers, press Run: the what-if is simulated against the baseline with the same seeds
(common random numbers); intervals are 95 % t-intervals over replications.</p></header>
<main>
<section id="controls" aria-label="levers">
<div id="lever-list"></div>
<label for="replications">replications <span class="val" id="replications-val"></span></label>
<input type="number" id="replications" min="1" value="__REPS__">
<label for="seed">seed</label>
<input type="number" id="seed" min="0" value="__SEED__">
<button id="run" type="button">Run</button>
<p id="status" class="note" role="status">Press Run to simulate.</p>
</section>
<section id="results" data-run="0" aria-live="polite">
<h2>Headline KPIs</h2>
<p class="note" id="run-info">No run yet.</p>
<table id="kpi-table"><thead><tr><th>KPI</th><th>baseline</th><th>what-if</th><th>95 % CI</th>
<th>what-if - baseline</th><th>95 % CI</th></tr></thead><tbody></tbody></table>
<p class="note">Bold differences: the 95 % interval excludes zero. Flows (revenue, spend, conflicts) are totals over
the reported months; levels (satisfaction, shares) are monthly means.</p>
<h2>Charts</h2>
<div class="charts" id="charts"></div>
</section>
</main>
<script id="config" type="application/json">__CONFIG__</script>
<script>
"use strict";
const CONFIG = JSON.parse(document.getElementById("config").textContent);
function fmt(x) {
  if (x === null || x === undefined || !isFinite(x)) return "n/a";
  const a = Math.abs(x);
  if (a !== 0 && a < 10) return x.toPrecision(3);
  return Math.round(x).toLocaleString("en-US");
}
function showValue(lv, el, out) {
  if (lv.kind === "checkbox") out.textContent = el.checked ? "on" : "off";
  else if (lv.kind === "select") out.textContent = "";
  else out.textContent = fmt(Number(el.value)) + (lv.unit ? " " + lv.unit : "");
}
function buildControls() {
  const box = document.getElementById("lever-list");
  for (const lv of CONFIG.levers) {
    const label = document.createElement("label");
    label.htmlFor = "lever-" + lv.key;
    label.textContent = lv.label + " ";
    const out = document.createElement("span");
    out.className = "val"; out.id = "lever-" + lv.key + "-val";
    label.appendChild(out);
    let el;
    const v = CONFIG.values[lv.key];
    if (lv.kind === "select") {
      el = document.createElement("select");
      for (const o of lv.options) { const opt = document.createElement("option"); opt.value = o; opt.textContent = o;
        el.appendChild(opt); }
      el.value = v;
    } else {
      el = document.createElement("input");
      if (lv.kind === "checkbox") { el.type = "checkbox"; el.checked = !!v; }
      else { el.type = "range"; el.min = lv.min; el.max = lv.max; el.step = lv.step; el.value = v; }
    }
    el.id = "lever-" + lv.key; el.dataset.path = lv.path; el.dataset.lever = lv.key;
    el.addEventListener("input", () => showValue(lv, el, out));
    el.addEventListener("change", () => showValue(lv, el, out));
    box.appendChild(label); box.appendChild(el);
    showValue(lv, el, out);
  }
}
function leverValues() {
  const values = {};
  for (const lv of CONFIG.levers) {
    const el = document.getElementById("lever-" + lv.key);
    values[lv.key] = lv.kind === "checkbox" ? el.checked : lv.kind === "select" ? el.value : Number(el.value);
  }
  return values;
}
function cell(text, attrs) {
  const td = document.createElement("td"); td.textContent = text;
  for (const [k, v] of Object.entries(attrs || {})) td.setAttribute(k, v);
  return td;
}
function render(res) {
  const body = document.querySelector("#kpi-table tbody");
  body.replaceChildren();
  for (const [k, v] of Object.entries(res.kpis)) {
    const tr = document.createElement("tr");
    tr.appendChild(cell(k.replaceAll("_", " ")));
    tr.appendChild(cell(fmt(v.baseline), {"data-kpi-baseline": k, "data-value": String(v.baseline)}));
    tr.appendChild(cell(fmt(v.whatif), {"data-kpi": k, "data-value": String(v.whatif)}));
    tr.appendChild(cell(fmt(v.whatif_low) + " .. " + fmt(v.whatif_high)));
    const d = cell(fmt(v.diff), {"data-kpi-diff": k, "data-value": String(v.diff)});
    if (v.diff_low > 0 || v.diff_high < 0) { d.className = "sig"; d.title = "the 95 % interval excludes zero"; }
    tr.appendChild(d);
    tr.appendChild(cell(fmt(v.diff_low) + " .. " + fmt(v.diff_high)));
    body.appendChild(tr);
  }
  const charts = document.getElementById("charts");
  charts.replaceChildren();
  for (const c of res.charts) {
    const fig = document.createElement("figure");
    const img = document.createElement("img");
    img.id = "chart-" + c.id; img.alt = c.title; img.src = "data:image/png;base64," + c.png;
    const cap = document.createElement("figcaption"); cap.textContent = c.title;
    fig.appendChild(img); fig.appendChild(cap); charts.appendChild(fig);
  }
  const ov = Object.entries(res.overrides).map(([k, v]) => k + "=" + JSON.stringify(v)).join(", ") || "none (baseline)";
  document.getElementById("run-info").textContent = res.scenario + ": " + res.replications +
    " replication(s), seed " + res.seed + "; overrides: " + ov + "; " + res.ci_method + "; " + res.seconds + " s.";
  const results = document.getElementById("results");
  results.dataset.run = String(Number(results.dataset.run) + 1);
}
async function run() {
  const button = document.getElementById("run");
  const status = document.getElementById("status");
  button.disabled = true; status.className = "note"; status.textContent = "Running...";
  const request = {levers: leverValues(), seed: Number(document.getElementById("seed").value),
                   replications: Number(document.getElementById("replications").value)};
  try {
    const resp = await fetch("api/run", {method: "POST", headers: {"Content-Type": "application/json"},
                                          body: JSON.stringify(request)});
    const res = await resp.json();
    if (!resp.ok) throw new Error(res.error || resp.statusText);
    render(res);
    status.textContent = "Done.";
  } catch (err) {
    status.className = "note error"; status.textContent = String(err.message || err);
  } finally {
    button.disabled = false;
  }
}
buildControls();
document.getElementById("run").addEventListener("click", run);
</script>
</body></html>
"""


def page(whatif: WhatIf, *, seed: int = 0, replications: int = 3) -> str:
    """The HTML page (self-contained: inline CSS and JavaScript, the lever definitions embedded)."""
    config = json.dumps(whatif.describe()).replace("</", "<\\/")
    return (_PAGE.replace("__TITLE__", html.escape(whatif.label)).replace("__REPS__", str(int(replications)))
            .replace("__SEED__", str(int(seed))).replace("__CONFIG__", config))


class RequestError(Exception):
    """A request the page refuses before running anything: an HTTP status and a short message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message[:MAX_ERROR_CHARS]


def _json_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text (strings skipped), without parsing it."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _int(text: str) -> int:
    if len(text.lstrip("-")) > 20:
        raise ValueError(f"an integer of {len(text)} digits")
    return int(text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def parse_run_request(raw: bytes, *, default_seed: int = 0, default_replications: int = 3) -> tuple[dict, Any, Any]:
    """``(levers, seed, replications)`` of a ``POST /api/run`` body; nothing is validated beyond the JSON's shape.

    Raises:
        RequestError: 413 for a body over :data:`MAX_BODY_BYTES`, 400 for one that is not UTF-8 JSON nested at
            most :data:`MAX_JSON_DEPTH` levels, or not an object with a ``levers`` object.
    """
    if len(raw) > MAX_BODY_BYTES:
        raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"a body of at most {MAX_BODY_BYTES} bytes")
    if _json_depth(raw) > MAX_JSON_DEPTH:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"bad request: JSON nested more than {MAX_JSON_DEPTH} levels")
    try:
        req = json.loads(raw.decode("utf-8") or "{}", parse_int=_int, parse_constant=_no_constant)
    except (ValueError, RecursionError) as err:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"bad request: not JSON ({str(err)[:200]})") from None
    if not isinstance(req, dict) or not isinstance(req.get("levers", {}), dict):
        raise RequestError(HTTPStatus.BAD_REQUEST, "bad request: the body must be a JSON object with a 'levers' object")
    unknown = sorted(set(req) - {"levers", "seed", "replications"})
    if unknown:
        shown = ", ".join(repr(k[:40]) for k in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        raise RequestError(HTTPStatus.BAD_REQUEST, f"bad request: unknown key(s) {shown}; allowed: levers, seed, "
                                                   "replications")
    return req.get("levers", {}), req.get("seed", default_seed), req.get("replications", default_replications)


class _Handler(BaseHTTPRequestHandler):
    server: AppServer
    protocol_version = "HTTP/1.1"

    @property
    def timeout(self) -> float:  # type: ignore[override]
        """StreamRequestHandler sets this on the socket: a client silent for that long is dropped."""
        return self.server.socket_timeout

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        if self.server.verbose:
            super().log_message(format, *args)

    def _send(self, status: int, body: bytes, ctype: str, *, close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: Any, *, close: bool = False) -> None:
        self._send(status, json.dumps(payload, allow_nan=False).encode(), "application/json", close=close)

    def _error(self, err: RequestError, *, close: bool = True) -> None:
        self._json(err.status, {"error": err.message}, close=close)

    def check_origin(self, post: bool) -> None:
        """Refuse a request whose ``Host`` is not this server, or (for a POST) that another site's page sent.

        Raises:
            RequestError: 421 for another ``Host`` (a DNS name rebound to this machine), 403 for a cross-site POST.
        """
        host = (self.headers.get("Host") or "").strip().lower()
        if host not in self.server.allowed_hosts:
            raise RequestError(HTTPStatus.MISDIRECTED_REQUEST,
                               f"this server answers for {', '.join(sorted(self.server.allowed_hosts))} only")
        if not post:
            return
        origin = self.headers.get("Origin")
        if origin is not None and origin.strip().lower() != f"http://{host}":
            raise RequestError(HTTPStatus.FORBIDDEN, "cross-site request refused: the page's own origin only")
        site = self.headers.get("Sec-Fetch-Site")
        if site is not None and site.strip().lower() not in ("same-origin", "none"):
            raise RequestError(HTTPStatus.FORBIDDEN, "cross-site request refused: the page's own origin only")

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        try:
            self.check_origin(post=False)
        except RequestError as err:
            self._error(err)
            return
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            body = page(self.server.whatif, seed=self.server.seed, replications=self.server.replications)
            self._send(HTTPStatus.OK, body.encode(), "text/html; charset=utf-8")
        elif path == "/api/levers":
            self._json(HTTPStatus.OK, self.server.whatif.describe())
        elif path == "/favicon.ico":
            self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {path[:100]}"})

    def _body(self) -> bytes:
        """The request body, read only when its declared length is a number within the limit.

        Raises:
            RequestError: 411 without a length, 400 for a length that is not a number, 413 over the limit,
                408 when the body does not arrive within the socket timeout.
        """
        if self.headers.get("Transfer-Encoding"):
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "a body with Content-Length (no chunked encoding)")
        declared = self.headers.get("Content-Length")
        if declared is None:
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "a Content-Length header")
        declared = declared.strip()
        if not (declared.isascii() and declared.isdigit()) or len(declared) > 12:
            raise RequestError(HTTPStatus.BAD_REQUEST, "bad request: Content-Length must be a non-negative integer")
        n = int(declared)
        if n > MAX_BODY_BYTES:
            raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"a body of at most {MAX_BODY_BYTES} bytes")
        try:
            raw = self.rfile.read(n)
        except (TimeoutError, OSError):
            raise RequestError(HTTPStatus.REQUEST_TIMEOUT, "the body did not arrive in time") from None
        if len(raw) < n:
            raise RequestError(HTTPStatus.REQUEST_TIMEOUT, "the body was shorter than its Content-Length")
        return raw

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        path = self.path.split("?", 1)[0]
        try:
            self.check_origin(post=True)
            if path != "/api/run":
                raise RequestError(HTTPStatus.NOT_FOUND, f"no such endpoint: {path[:100]}")
            levers, seed, replications = parse_run_request(self._body(), default_seed=self.server.seed,
                                                           default_replications=self.server.replications)
        except RequestError as err:
            self._error(err)
            return
        try:
            res = self.server.whatif.run(levers, seed, replications)
        except ScenarioError as err:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(err)[:MAX_ERROR_CHARS]})
            return
        except Exception as err:  # noqa: BLE001 - report any failure of the model to the page
            first = (str(err).splitlines() or [""])[0][:300]
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(err).__name__}: {first}"})
            return
        self._json(HTTPStatus.OK, res)


class AppServer(ThreadingHTTPServer):
    """The page's HTTP server (one thread per request; simulations run one batch at a time)."""

    daemon_threads = True

    def __init__(self, whatif: WhatIf, host: str = "127.0.0.1", port: int = 8050, *, seed: int = 0,
                 replications: int = 3, verbose: bool = False, allowed_hosts: tuple[str, ...] = (),
                 socket_timeout: float = SOCKET_TIMEOUT):
        self.whatif = whatif
        self.socket_timeout = socket_timeout
        self.seed = seed
        self.replications = replications
        self.verbose = verbose
        super().__init__((host, port), _Handler)
        self.allowed_hosts = self._hosts(host, allowed_hosts)

    def _hosts(self, host: str, extra: tuple[str, ...]) -> frozenset[str]:
        """The ``Host`` header values this server answers: its address and loopback names, with its port."""
        port = self.server_address[1]
        names = {"127.0.0.1", "localhost", "[::1]", host.lower(), *(h.lower() for h in extra)}
        if host in ("0.0.0.0", "::", ""):  # every interface: also this machine's own names
            names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
        names = {f"[{n}]" if ":" in n and not n.startswith("[") else n for n in names}
        return frozenset(f"{n}:{port}" for n in names) | (frozenset(names) if port == 80 else frozenset())

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


def make_server(scenario: sim.Scenario, host: str = "127.0.0.1", port: int = 8050, *, label: str = "",
                seed: int = 0, replications: int = 3, verbose: bool = False, allowed_hosts: tuple[str, ...] = (),
                socket_timeout: float = SOCKET_TIMEOUT) -> AppServer:
    """A server for the page on ``host:port`` (``port=0``: a free port, see ``server.url``); not yet serving.

    ``allowed_hosts`` adds names the ``Host`` header may give (besides the address bound and the loopback
    names); ``socket_timeout`` is how long a connection may stay silent.  Call ``serve_forever()`` (in a
    thread for tests) and ``shutdown()``/``server_close()`` to stop it.
    """
    return AppServer(WhatIf(scenario, label=label), host, port, seed=seed, replications=replications,
                     verbose=verbose, allowed_hosts=allowed_hosts, socket_timeout=socket_timeout)


__all__ = ["AppServer", "Lever", "RequestError", "WhatIf", "charts", "kpi_table", "lever_values", "levers_for",
           "make_server", "overrides_for", "page", "parse_run_request", "run_frames"]
