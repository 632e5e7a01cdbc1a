"""The Solara app of ``channelsim app``: the what-if view and a SolaraViz view of the model.

``channelsim app`` serves it (:func:`channelsim.app_server.serve`); ``solara run channelsim/solara_app.py``
works too.  The base scenario comes from the environment variable ``CHANNELSIM_APP`` (JSON:
``{"scenario": name or file, "sets": ["a.b=1", ...], "months": M, "seed": S, "replications": R}``),
which ``channelsim app`` sets after checking it; without it the baseline.

* ``/`` (**What-if**): the levers of :func:`channelsim.app.levers_for`, Run (progress: replication k of
  n), KPI tiles against the base with 95 % CIs (:func:`channelsim.app.tiles`), a stale marker once a
  lever moves after a run, Reset to the base, charts.
* ``/model`` (**Model**): Mesa's ``SolaraViz`` on :class:`ViewModel` (a :class:`sim.ChannelModel` on a
  small market): MDF and rebate scales, direct coverage and the seed as model parameters, step and play
  month by month, live charts of revenue by channel, gross profit, partners by tier and conflicts.

Every element a test reads has a stable class or ``data-*`` attribute (see ``docs/APP.md``).
"""

from __future__ import annotations

import functools
import html
import json
import os
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")

import solara  # noqa: E402
import solara.lab  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from mesa.visualization import SolaraViz  # noqa: E402

import sim  # noqa: E402

from . import plots  # noqa: E402
from .app import (  # noqa: E402
    MAX_REPLICATIONS,
    Lever,
    Result,
    Tile,
    WhatIf,
    explain,
    fmt,
    fmt_change,
    label_of,
)
from .app_server import CONFIG_ENV  # noqa: E402

#: Market size of the model view (stepping a month takes milliseconds); the base's levers are kept.
MODEL_VIEW_SIZE: dict[str, Any] = {
    "market.n_accounts": 5_000, "market.n_territories": 5, "partners.n_initial": 60,
}
#: Resolution of the what-if charts (dots per inch of the PNGs sent to the browser).
CHART_DPI = 144


@dataclass(frozen=True)
class AppConfig:
    """What the app serves: the what-if state, the initial seed and replications, the model view's scenario."""

    whatif: WhatIf
    seed: int
    replications: int
    model_scenario: sim.Scenario


def model_view_scenario(base: sim.Scenario) -> sim.Scenario:
    """``base`` on a small market (:data:`MODEL_VIEW_SIZE`; never larger than the base)."""
    size = {k: min(v, _get(base, k)) for k, v in MODEL_VIEW_SIZE.items()}
    return base.with_overrides(size)


def _get(sc: sim.Scenario, path: str) -> Any:
    node: Any = sc
    for part in path.split("."):
        node = getattr(node, part)
    return node


@functools.cache
def config() -> AppConfig:
    """The app's configuration from :data:`CONFIG_ENV` (read once per server process)."""
    from .cli import build_scenario

    raw = json.loads(os.environ.get(CONFIG_ENV) or "{}")
    sc, _ = build_scenario(raw.get("scenario", "baseline"), list(raw.get("sets", [])), raw.get("months"))
    return AppConfig(WhatIf(sc, label=sc.name), int(raw.get("seed", 0)), int(raw.get("replications", 3)),
                     model_view_scenario(sc))


# ------------------------------------------------------------------------------------------- what-if view
CSS = """
.cs-page { max-width: 1400px; margin: 0 auto; padding: 8px 12px; }
.cs-page h1 { font-size: 1.5rem; margin: 4px 0 2px; }
.cs-sub { color: #555; margin-bottom: 8px; }
.cs-levers { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 0 20px; }
.cs-lever-name { font-size: 0.85rem; color: #333; }
.cs-lever-name b { color: #000; }
.cs-tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 10px; }
.cs-tile { border: 1px solid #ccc; border-left: 6px solid #9e9e9e; border-radius: 4px; padding: 8px 10px;
           background: #fff; min-width: 0; }
.cs-tile.better { border-left-color: #2e7d32; background: #f1f8f1; }
.cs-tile.worse { border-left-color: #c62828; background: #fdf1f1; }
.cs-tile .name { font-weight: 600; }
.cs-tile .unit { font-size: 0.75rem; color: #666; }
.cs-tile .value { font-size: 1.35rem; font-weight: 600; margin: 2px 0; }
.cs-tile .line { font-size: 0.85rem; overflow-wrap: anywhere; }
.cs-tile .verdict { font-size: 0.8rem; font-weight: 600; margin-top: 3px; }
.cs-tile.better .verdict { color: #1b5e20; }
.cs-tile.worse .verdict { color: #b71c1c; }
.cs-tile.unchanged .verdict { color: #555; }
.cs-stale .cs-tiles, .cs-stale .cs-charts { opacity: 0.45; }
.cs-charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr)); gap: 12px; }
.cs-charts img, .cs-charts svg { max-width: 100%; height: auto; }
.cs-table { overflow-x: auto; }
.cs-table table { border-collapse: collapse; font-size: 0.85rem; width: 100%; }
.cs-table th, .cs-table td { padding: 2px 8px; border-bottom: 1px solid #eee; text-align: right; white-space: nowrap; }
.cs-table th:first-child, .cs-table td:first-child { text-align: left; white-space: normal; }
.cs-table tr.sig td { font-weight: 600; }
@media (max-width: 900px) { .cs-charts { grid-template-columns: 1fr; } }
"""

values = solara.reactive({})  # lever key -> value (per browser session)
seed_r = solara.reactive(0)
reps_r = solara.reactive(3)
result_r: solara.Reactive[Result | None] = solara.reactive(None)
ran_with = solara.reactive({})  # the lever values, seed and replications of the shown result
error_r: solara.Reactive[str | None] = solara.reactive(None)
progress_text = solara.reactive("")


@solara.lab.task(prefer_threaded=True)
def run_whatif(levers: dict[str, Any], seed: int, replications: int) -> None:
    """Run the what-if in a thread, reporting "replication k of n" as it goes."""
    wi = config().whatif
    error_r.set(None)
    total = 2 * replications

    def progress(stage: str, done: int, n: int) -> None:
        k = done + (n if stage == "what-if" else 0)
        run_whatif.progress = 100.0 * k / total
        progress_text.set(f"{stage}: replication {done} of {n} done")

    progress_text.set(f"base: replication 1 of {replications} running")
    run_whatif.progress = 0.0
    try:
        res = wi.run(levers, seed, replications, progress=progress)
    except Exception as err:  # noqa: BLE001 - every failure is shown on the page as a paragraph
        error_r.set(explain(err, wi.levers, levers))
        progress_text.set("")
        return
    result_r.set(res)
    ran_with.set({"levers": dict(levers), "seed": seed, "replications": replications})
    progress_text.set(f"done: {replications} replication(s) of base and what-if in {res.seconds:.1f} s")


def _lever_text(lv: Lever, value: Any) -> str:
    if lv.kind == "range":
        if lv.unit == "USD":
            return f"{value:,.0f} USD"
        if lv.unit == "share":
            return f"{value * 100:.0f} %"
        return f"{value:.2f} {lv.unit}"
    return str(value)


@solara.component
def LeverControl(lv: Lever):
    value = values.value.get(lv.key)

    def set_value(v: Any) -> None:
        values.set({**values.value, lv.key: v})

    with solara.Column(classes=[f"cs-lever lever-{lv.key}"], gap="0px"):
        if lv.kind == "range":
            solara.HTML(tag="div", class_="cs-lever-name",
                        unsafe_innerHTML=f"{html.escape(lv.label)}: <b class='lever-value'>"
                                         f"{html.escape(_lever_text(lv, value))}</b>")
            solara.SliderFloat("", value=float(value), min=float(lv.min), max=float(lv.max), step=float(lv.step),
                               on_value=set_value, thumb_label=False)
        elif lv.kind == "checkbox":
            solara.Switch(label=lv.label, value=bool(value), on_value=set_value)
        else:
            solara.HTML(tag="div", class_="cs-lever-name", unsafe_innerHTML=html.escape(lv.label))
            solara.ToggleButtonsSingle(value=value, on_value=set_value, dense=True,
                                       children=[solara.Button(o.replace("_", " "), value=o, text=True,
                                                               classes=[f"option-{o}"]) for o in lv.options])


def _tile_html(t: Tile, pct_ok: bool) -> str:
    e = html.escape
    pct = f" ({t.pct:+.1f} %)" if pct_ok and t.pct == t.pct else ""
    ci = f"{fmt_change(t.low, t.unit)} to {fmt_change(t.high, t.unit)}"
    mark = {"better": "▲ " if t.diff > 0 else "▼ ", "worse": "▲ " if t.diff > 0 else "▼ "}.get(t.verdict, "")
    return (f'<div class="cs-tile {t.verdict}" data-kpi="{e(t.kpi)}" data-value="{t.value!r}" '
            f'data-base="{t.base!r}" data-diff="{t.diff!r}" data-low="{t.low!r}" data-high="{t.high!r}" '
            f'data-verdict="{t.verdict}">'
            f'<div class="name">{e(t.label)}</div><div class="unit">{e(t.unit)}</div>'
            f'<div class="value">{e(fmt(t.value, t.unit))}</div>'
            f'<div class="line">base {e(fmt(t.base, t.unit))}</div>'
            f'<div class="line">change <b>{e(fmt_change(t.diff, t.unit))}</b>{e(pct)}</div>'
            f'<div class="line">95 % CI {e(ci)}</div>'
            f'<div class="verdict">{mark}{e(t.text)}</div></div>')


def _table_html(res: Result) -> str:
    e = html.escape
    rows = []
    for t in res.tiles(None):
        pct = f"{t.pct:+.1f} %" if t.pct == t.pct else "n/a"
        rows.append(f'<tr class="{"sig" if t.significant else ""}"><td>{e(t.label)} <small>({e(t.unit)})</small>'
                    f'</td><td>{e(fmt(t.base, t.unit))}</td><td>{e(fmt(t.value, t.unit))}</td>'
                    f'<td>{e(fmt_change(t.diff, t.unit))}</td><td>{e(pct)}</td>'
                    f'<td>{e(fmt_change(t.low, t.unit))} to {e(fmt_change(t.high, t.unit))}</td></tr>')
    return ('<table><thead><tr><th>KPI (unit)</th><th>base</th><th>what-if</th><th>change</th><th>%</th>'
            f'<th>95 % CI of the change</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _charts(res: Result) -> list[tuple[str, Figure]]:
    base, wi = res.base, res.whatif
    pair = {f"base ({res.label})": base.kpis, "what-if": wi.kpis}
    table = res.comparison.table.rename(columns={"a": "a_mean"})
    table = table.loc[[t.kpi for t in res.tiles()]]
    table.index = [label_of(k) for k in table.index]
    forest = plots.compare_forest(table)
    forest.axes[0].set(xlabel="what-if minus base, % of base (95 % CI)", title="Change by headline KPI")
    tiers = list(base.scenario.tier_names)
    return [
        ("kpi_diff", forest),
        ("gross_profit", plots.kpi_series(pair, "gross_profit")),
        ("revenue_total", plots.kpi_series(pair, "revenue_total")),
        ("partner_satisfaction", plots.kpi_series(pair, "partner_satisfaction")),
        ("conflicts_whatif", plots.conflicts_by_resolution(wi.conflicts)),
        ("tiers_whatif", plots.tier_distribution(wi.kpis)),
        ("migrations_whatif", plots.tier_migration(wi.migrations, tiers)),
        ("channel_mix_whatif", plots.channel_mix(wi.kpis)),
    ]


@solara.component
def Charts(res: Result):
    figs = solara.use_memo(lambda: _charts(res), [id(res)])
    with solara.Div(classes=["cs-charts"]):
        for cid, fig in figs:
            with solara.Div(classes=[f"chart-{cid}", "cs-chart"], style={"min-width": "0"}):
                solara.FigureMatplotlib(fig, format="png", dpi=CHART_DPI, bbox_inches="tight")


@solara.component
def NavTabs():
    """The two views as tabs in the app bar (Solara's default names the root "Home")."""
    with solara.AppBar():
        with solara.lab.Tabs(align="center"):
            solara.lab.Tab("What-if", path_or_route="/", classes=["cs-tab-whatif"])
            solara.lab.Tab("Model (SolaraViz)", path_or_route="/model", classes=["cs-tab-model"])


@solara.component
def WhatIfView():
    cfg = config()
    wi = cfg.whatif

    def init() -> None:
        if not values.value:
            values.set(wi.values())
            seed_r.set(cfg.seed)
            reps_r.set(cfg.replications)

    solara.use_effect(init, [])
    if not values.value:
        return solara.Text("loading...")
    res = result_r.value
    current = {"levers": values.value, "seed": seed_r.value, "replications": reps_r.value}
    stale = res is not None and current != ran_with.value
    changed = [lv.label for lv in wi.levers if values.value.get(lv.key) != wi.values()[lv.key]]
    busy = run_whatif.pending

    solara.Style(CSS)
    NavTabs()
    solara.Title(f"channelsim what-if: {wi.label}")
    with solara.Div(classes=["cs-page", "cs-stale" if stale else "cs-fresh"]):
        solara.HTML(tag="h1", unsafe_innerHTML=f"What-if against the base scenario “{html.escape(wi.label)}”",
                    classes=["cs-title"])
        solara.HTML(tag="div", class_="cs-sub", unsafe_innerHTML=html.escape(
            f"{wi.base.time.months} reported months after {wi.base.time.warmup_months} warm-up months, "
            f"{wi.base.market.n_accounts:,} accounts. Move the levers, press Run: the base and the what-if "
            "are simulated with the same seeds and compared with paired 95 % confidence intervals."))
        with solara.Card("Levers"):
            with solara.Div(classes=["cs-levers"]):
                for lv in wi.levers:
                    LeverControl(lv)
            with solara.Row(style={"flex-wrap": "wrap", "align-items": "center"}):
                solara.InputInt("replications", value=reps_r, classes=["cs-reps"], style={"max-width": "130px"})
                solara.InputInt("seed", value=seed_r, classes=["cs-seed"], style={"max-width": "130px"})
                solara.Button("Run", color="primary", classes=["cs-run"], disabled=busy,
                              on_click=lambda: run_whatif(dict(values.value), seed_r.value, reps_r.value))
                solara.Button("Reset to base", outlined=True, classes=["cs-reset"], disabled=busy,
                              on_click=lambda: values.set(wi.values()))
                solara.Text(f"changed from the base: {', '.join(changed)}" if changed
                            else "all levers at the base's values", classes=["cs-changed"])
            if busy:
                solara.ProgressLinear(run_whatif.progress if run_whatif.progress is not None else True)
            solara.HTML(tag="div", class_="cs-progress", unsafe_innerHTML=html.escape(progress_text.value))
        if error_r.value:
            solara.Error(error_r.value, classes=["cs-error"])
        if stale and not busy:
            solara.Warning("The levers, seed or replications changed since the last run: the results below are "
                           "for the previous settings. Press Run to update them.", classes=["cs-stale-marker"])
        if res is None:
            solara.Info(f"Press Run to simulate the base and the what-if ({reps_r.value} replications each; at most "
                        f"{MAX_REPLICATIONS}).")
            return
        ov = ", ".join(f"{k} = {v}" for k, v in res.overrides.items()) or "none (the what-if is the base)"
        info = (f"{res.replications} replication(s) each, seed {res.seed} (replication r runs "
                f"sim.seed_sequence({res.seed}, r)); changes: {ov}; {res.comparison.method}.")
        solara.HTML(tag="div", class_="cs-run-info", unsafe_innerHTML=html.escape(info),
                    attributes={"data-overrides": json.dumps(res.overrides), "data-seed": str(res.seed),
                                "data-replications": str(res.replications)})
        for w in res.comparison.warnings:
            if "labelled" not in w:  # the page names the base and the what-if itself
                solara.Info(w)
        pct_ok = True
        solara.HTML(tag="div", class_="cs-tiles",
                    unsafe_innerHTML="".join(_tile_html(t, pct_ok) for t in res.tiles()))
        with solara.Details("Every headline KPI (table)"):
            solara.HTML(tag="div", class_="cs-table", unsafe_innerHTML=_table_html(res))
        Charts(res)


# --------------------------------------------------------------------------------------------- model view
class ViewModel(sim.ChannelModel):
    """A :class:`sim.ChannelModel` as SolaraViz creates and resets it.

    Args:
        base: the scenario (the app's base on a small market when omitted).
        seed: the run's seed (an int, so that a reset with the same seed replays the same months).
        **overrides: scenario fields by double-underscore path (``incentives__mdf__scale=1.5``), the
            SolaraViz model parameters.  ``scenario`` and ``rng``, which SolaraViz's Reset adds from Mesa's
            own ``Model.scenario``, are dropped: the scenario is ``base`` and the seed ``seed``.
    """

    def __init__(self, base: sim.Scenario | None = None, seed: int = 0, **overrides: Any):
        overrides.pop("scenario", None)
        overrides.pop("rng", None)
        super().__init__(base if base is not None else config().model_scenario, rng=int(seed), **overrides)


#: SolaraViz model parameters: slider specs (Mesa's format) keyed by ``ChannelModel`` keyword.
def model_params(base: sim.Scenario) -> dict[str, Any]:
    """The model view's controls for ``base`` (MDF and rebate scales, direct coverage, seed) and the fixed base."""
    return {
        "base": base,
        "incentives__mdf__scale": {"type": "SliderFloat", "label": "MDF scale (x)",
                                   "value": float(base.incentives.mdf.scale), "min": 0.0, "max": 3.0, "step": 0.05},
        "incentives__rebate__scale": {"type": "SliderFloat", "label": "rebate scale (x)",
                                      "value": float(base.incentives.rebate.scale), "min": 0.0, "max": 3.0,
                                      "step": 0.05},
        "direct__territory_coverage": {"type": "SliderFloat", "label": "direct coverage",
                                       "value": float(base.direct.territory_coverage), "min": 0.0, "max": 1.0,
                                       "step": 0.05},
        "seed": {"type": "SliderInt", "label": "seed", "value": 0, "min": 0, "max": 99, "step": 1},
    }


def _month_figure(model: sim.ChannelModel, columns: dict[str, str], title: str, unit: str) -> Figure:
    df = model.datacollector.get_model_vars_dataframe()
    fig = Figure(figsize=(5.6, 3.0), layout="constrained")
    ax = fig.subplots()
    scale, shown_unit = 1.0, unit
    if unit.startswith("USD") and len(df):
        top = float(df[list(columns)].abs().to_numpy().max()) if len(df) else 0.0
        scale, shown_unit = (1e6, unit.replace("USD", "USD million", 1)) if top >= 1e6 else \
            (1e3, unit.replace("USD", "USD thousand", 1)) if top >= 1e3 else (1.0, unit)
    months = range(1, len(df) + 1)
    for col, name in columns.items():
        if col in df.columns:
            ax.plot(months, df[col] / scale, label=name)
    warm = model.config.time.warmup_months if hasattr(model, "config") else 0
    if warm and len(df) > 0:
        ax.axvspan(0.5, min(warm, len(df)) + 0.5, color="0.92", lw=0, label="warm-up")
    ax.set(title=title, xlabel="month", ylabel=shown_unit)
    ax.set_xlim(0.5, getattr(model, "horizon", max(len(df), 12)) + 0.5)
    if len(df):
        ax.legend(loc="best", fontsize=7, ncols=2)
    return fig


def _chart(columns: dict[str, str], title: str, unit: str, cid: str):
    def component(model: sim.ChannelModel):
        fig = _month_figure(model, columns, title, unit)
        with solara.Div(classes=[f"model-chart-{cid}"]) as div:
            solara.FigureMatplotlib(fig, format="png", dpi=110)
        return div

    component.__name__ = f"chart_{cid}"
    return component


def _now(model: sim.ChannelModel):
    """What is happening this month: the month, partners by tier, conflicts."""
    df = model.datacollector.get_model_vars_dataframe()
    month = int(model.month)
    warm = model.config.time.warmup_months
    if not len(df):
        return solara.HTML(tag="div", class_="model-now", unsafe_innerHTML="Month 0: press Step or ▶.",
                           attributes={"data-month": "0"})
    last = df.iloc[-1]
    tiers = ", ".join(f"{t} {int(last.get(f'partners_tier_{t}', 0))}" for t in model.config.tier_names)
    conf = ", ".join(f"{c} {int(last.get(f'conflicts_{c}', 0))}" for c in ("horizontal", "vertical", "multichannel"))
    phase = "warm-up" if month <= warm else f"reported month {month - warm}"
    text = (f"<b>Month {month}</b> of {model.horizon} ({phase}). Active partners by tier: {html.escape(tiers)}. "
            f"Conflicts this month: {html.escape(conf)}. Gross profit this month: "
            f"{fmt(float(last['gross_profit']), 'USD')} USD.")
    return solara.HTML(tag="div", class_="model-now", unsafe_innerHTML=text,
                       attributes={"data-month": str(month), "data-gross-profit": repr(float(last["gross_profit"]))})


def model_components(scenario: sim.Scenario) -> list:
    """The model view's live charts (SolaraViz components on page 0)."""
    tiers = {f"partners_tier_{t}": t for t in scenario.tier_names}
    return [
        (_now, 0),
        (_chart({"revenue_partner": "partners", "revenue_direct": "direct", "revenue_digital": "digital"},
                "Revenue by channel", "USD per month", "revenue"), 0),
        (_chart({"gross_profit": "gross profit"}, "Gross profit", "USD per month", "gross_profit"), 0),
        (_chart(tiers, "Active partners by tier", "partners", "tiers"), 0),
        (_chart({f"conflicts_{c}": c for c in ("horizontal", "vertical", "multichannel")}, "Channel conflicts",
                "conflicts per month", "conflicts"), 0),
    ]


@solara.component
def ModelView():
    cfg = config()
    sc = cfg.model_scenario
    model = solara.use_memo(lambda: ViewModel(sc, seed=0), [])
    solara.Title(f"channelsim model: {cfg.whatif.label}")
    NavTabs()
    SolaraViz(model, components=model_components(sc), model_params=model_params(sc),
              name=f"Channel model: {cfg.whatif.label} on {sc.market.n_accounts:,} accounts",
              play_interval=150)


# ----------------------------------------------------------------------------------------------- routes
routes = [
    solara.Route(path="/", component=WhatIfView, label="What-if"),
    solara.Route(path="model", component=ModelView, label="Model (SolaraViz)"),
]

__all__ = ["CONFIG_ENV", "AppConfig", "ModelView", "ViewModel", "WhatIfView", "config", "model_components",
           "model_params", "model_view_scenario", "routes", "run_whatif"]

