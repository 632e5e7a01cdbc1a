"""The HTML report of ``channelsim calibrate`` (built on :mod:`channelsim.report`).

Like the other reports it opens with the answer in words (which parameters the data identify, their
fitted values with their intervals, how well the held-out months are forecast), then tiles, what was
run, the tables and the figures, each with a one-sentence caption.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .narrative import Tile
from .report import Cell, facts, figure, now, page, summary_section, table, tiles

CAPTIONS = {
    "posterior": "Each fitted parameter's final ABC-SMC population (bars, weighted) across its prior (the x range); "
                 "the dashed line is the default, the solid line the estimate.",
    "moments": "Each fitted moment's distance from the data in run-to-run standard deviations, at the defaults "
               "and at the estimate; within about 2 the model reproduces what the data show.",
    "forecast": "Held-out months: observed monthly partner revenue (dots) against the forecast's mean (line) and "
                "prediction interval (band) from posterior draws x fresh runs.",
}


def _num(v: Any, digits: int = 3) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "n/a"
    if not math.isfinite(f):
        return "n/a"
    return f"{f:.{digits}g}"


def summary_paragraphs(params: pd.DataFrame, forecast: pd.DataFrame, info: Mapping[str, Any], name: str
                       ) -> tuple[list[str], list[str]]:
    """The report's opening paragraphs and warnings."""
    level = round(100 * float(info["interval"]))
    fitted = params[params["status"] == "fitted"]
    not_id = params[params["status"] != "fitted"]
    paras = [f"Calibration of {name} to the PRM export: {info['fit_months']} months fitted, the last "
             f"{info['holdout_months']} held out and forecast; {len(info['moments_used'])} moments matched; "
             f"{info['simulations']:,} simulations in {info['seconds'] / 60:.1f} minutes."]
    if len(fitted):
        paras.append("The data identify " + "; ".join(
            f"{r.parameter} = {_num(r.estimate)} ({level} % interval {_num(r.lower)} to {_num(r.upper)}; default "
            f"{_num(r.default)})" for r in fitted.itertuples()) + ". The fitted scenario (fitted.yaml) sets them.")
    else:
        paras.append("The data identify none of the parameters: the fitted scenario is the base scenario.")
    if len(not_id):
        paras.append("Not identifiable from these data, kept at their defaults: " + "; ".join(
            f"{r.parameter} ({r.reason})" for r in not_id.itertuples()) + ".")
    cov = info.get("coverage")
    if cov is not None and len(forecast):
        paras.append(f"The held-out months: {forecast['covered'].sum()} of {len(forecast)} observed quantities "
                     f"({100 * cov:.0f} %) lie within their {level} % prediction intervals (nominal {level} %).")
    warnings = []
    if info.get("final_epsilon") is not None and info.get("tolerance") is not None and \
            float(info["final_epsilon"]) > float(info["tolerance"]) * 1.0001:
        warnings.append(f"the fit stopped at tolerance {float(info['final_epsilon']):.2f} before reaching "
                        f"{float(info['tolerance']):.2f} (more --generations narrow the intervals); the intervals "
                        "are wider than the data allow")
    if cov is not None and len(forecast) and cov < float(info["interval"]) - 0.15:
        warnings.append(f"the prediction intervals cover {100 * cov:.0f} % of the held-out values, well below the "
                        f"nominal {level} %: the model misses something the data show")
    return paras, warnings


def _tiles(params: pd.DataFrame, info: Mapping[str, Any]) -> list[Tile]:
    out = []
    level = round(100 * float(info["interval"]))
    for r in params.itertuples():
        if r.status == "fitted":
            out.append(Tile(r.parameter, _num(r.estimate), "", "", f"{level} % interval {_num(r.lower)} to "
                            f"{_num(r.upper)}", "changed", f"fitted (default {_num(r.default)})", r.parameter))
        else:
            out.append(Tile(r.parameter, _num(r.default), "", "", "", "flat", "not identifiable: default kept",
                            r.parameter))
    cov = info.get("coverage")
    if cov is not None:
        out.append(Tile("Holdout coverage", f"{100 * cov:.0f} %", "", "", f"nominal {level} %", "level",
                        "observed within the prediction intervals", "coverage"))
    return out


def _posterior_figure(params: pd.DataFrame, posterior: pd.DataFrame) -> Figure | None:
    fitted = [r for r in params.itertuples() if r.parameter in posterior.columns]
    if not fitted:
        return None
    fig = Figure(figsize=(2.6 * len(fitted), 2.6), layout="constrained")
    axes = fig.subplots(1, len(fitted), squeeze=False)[0]
    for ax, r in zip(axes, fitted, strict=True):
        x = posterior[r.parameter].to_numpy(dtype=float)
        ax.hist(x, bins=np.linspace(r.prior_low, r.prior_high, 16), weights=posterior["weight"], color="#1f77b4",
                alpha=0.7)
        ax.axvline(r.default, color="#7f7f7f", linestyle="--")
        if r.status == "fitted":
            ax.axvline(r.estimate, color="#d62728")
        ax.set_xlim(r.prior_low, r.prior_high)
        ax.set_title(r.parameter, fontsize=9)
        ax.set_yticks([])
    return fig


def _moments_figure(moments: pd.DataFrame) -> Figure:
    m = moments[moments["used"]]
    fig = Figure(figsize=(7, 0.3 * len(m) + 1), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(m))
    ax.barh(y - 0.2, m["z_default"], height=0.4, label="defaults", color="#7f7f7f")
    ax.barh(y + 0.2, m["z_fitted"], height=0.4, label="fitted", color="#1f77b4")
    ax.set_yticks(y, m["moment"])
    ax.axvline(0, color="black", lw=0.8)
    for v in (-2, 2):
        ax.axvline(v, color="#d62728", lw=0.6, linestyle=":")
    ax.set_xlabel("simulated - observed (run-to-run SDs)")
    ax.legend(loc="best", fontsize=8)
    return fig


def _forecast_figure(forecast: pd.DataFrame) -> Figure | None:
    f = forecast[forecast["quantity"].str.startswith("revenue_partner_m")]
    if f.empty:
        return None
    months = f["quantity"].str.removeprefix("revenue_partner_m").astype(int)
    fig = Figure(figsize=(7, 3), layout="constrained")
    ax = fig.subplots()
    ax.fill_between(months, f["lower"] / 1e6, f["upper"] / 1e6, color="#1f77b4", alpha=0.25, label="interval")
    ax.plot(months, f["mean"] / 1e6, color="#1f77b4", label="forecast mean")
    ax.plot(months, f["observed"] / 1e6, "o", color="black", label="observed")
    ax.set_xlabel("month of the history")
    ax.set_ylabel("partner revenue won (USD M)")
    ax.legend(loc="best", fontsize=8)
    return fig


def calibrate_report(fit: Any, run_info: Mapping[str, Any], not_calibrated: Mapping[str, str], *, name: str) -> str:
    """The calibration report (an HTML page)."""
    params, info = fit.parameters, fit.info
    level = round(100 * float(info["interval"]))
    paras, warnings = summary_paragraphs(params, fit.forecast, info, name)
    prow = [[r.parameter, r.field, r.default, f"{_num(r.prior_low)} to {_num(r.prior_high)}", r.status,
             _num(r.estimate), _num(r.sd), f"{_num(r.lower)} to {_num(r.upper)}" if r.status == "fitted" else "",
             _num(r.screen_max_change, 2)] for r in params.itertuples()]
    mrow = [[r.moment, "yes" if r.used else "no", _num(r.observed, 4), _num(r.simulated_default, 4),
             _num(r.simulated_fitted, 4), _num(r.z_default, 2), _num(r.z_fitted, 2)] for r in fit.moments.itertuples()]
    frow = [[r.quantity, _num(r.observed, 4), _num(r.mean, 4), f"{_num(r.lower, 4)} to {_num(r.upper, 4)}",
             "yes" if r.covered else "no"] for r in fit.forecast.itertuples()]
    grow = [[int(r.t), _num(r.epsilon), int(r.particles), int(r.simulations), _num(r.acceptance_rate, 2)]
            for r in fit.generations.itertuples()]
    body = [f"<h1>Calibration: {name}</h1>", f'<p class="note">Written {now()}.</p>',
            summary_section(paras, warnings, warnings_first=False), tiles(_tiles(params, info)),
            "<h2>What was run</h2>", facts(run_info),
            "<h2>Parameters</h2>",
            table(["parameter", "field", "default", "prior (uniform)", "status", "estimate", "sd",
                   f"{level} % interval", "screening: largest change (SDs)"], prow),
            '<p class="note">Why a parameter keeps its default is said in the summary above and in '
            "parameters.csv (<code>reason</code>).</p>",
            "<h2>Not calibrated</h2>",
            table(["what", "why"], [[k, Cell(str(v), "text")] for k, v in not_calibrated.items()])]
    fig = _posterior_figure(params, fit.posterior)
    if fig is not None:
        body.append(figure(fig, CAPTIONS["posterior"]))
    body += ["<h2>Moments: observed and simulated</h2>",
             table(["moment", "fitted", "observed", "simulated (defaults)", "simulated (fitted)", "z (defaults)",
                    "z (fitted)"], mrow),
             figure(_moments_figure(fit.moments), CAPTIONS["moments"]),
             "<h2>Holdout forecast</h2>"]
    fig = _forecast_figure(fit.forecast)
    if fig is not None:
        body.append(figure(fig, CAPTIONS["forecast"]))
    body += [table(["quantity", "observed", "forecast mean", f"{level} % prediction interval", "covered"], frow),
             "<h2>ABC-SMC generations</h2>",
             table(["generation", "tolerance", "particles", "simulations", "acceptance rate"], grow)]
    return page(f"Calibration: {name}", body)
