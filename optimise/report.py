"""The self-contained HTML report of an optimisation (plots inlined as base64 PNG; returns a string)."""

from __future__ import annotations

import base64
import html
import io
import math
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .loop import OptimisationResult  # noqa: E402


def _img(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}"/>'


def fmt(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return f"{x:,}"
    if isinstance(x, (float, np.floating)):
        if not math.isfinite(x):
            return ""
        if abs(x) >= 1000:
            return f"{x:,.0f}"
        return f"{x:.4g}"
    return html.escape(str(x))


def table(df: pd.DataFrame, columns: list[str] | None = None) -> str:
    cols = columns or list(df.columns)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{fmt(r[c])}</td>" for c in cols) + "</tr>" for _, r in df.iterrows())
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def curves_figure(res: OptimisationResult):
    pts = res.response.points
    cells = list(dict.fromkeys(pts["cell"]))
    spends = res.allocation.spends()
    n = len(cells)
    ncol = min(4, n)
    nrow = math.ceil(n / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.4 * ncol, 2.8 * nrow), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, cell in zip(axes.flat, cells, strict=False):
        p = pts[pts["cell"] == cell].sort_values("spend")
        s = p["spend"].to_numpy() / 1e3
        ax.errorbar(s, p["value"] / 1e3, yerr=[(p["value"] - p["value_ci_low"]) / 1e3,
                                               (p["value_ci_high"] - p["value"]) / 1e3],
                    fmt="o", ms=3, color="0.3", capsize=2, label="estimate (95% CI)")
        ax.plot(s, p["fit"] / 1e3, "-", color="tab:blue", label="concave fit")
        ax.plot(s, p["envelope"] / 1e3, "--", color="tab:orange", lw=1, label="concave envelope")
        cur = next(c.current for c in res.response.curves if c.cell == cell)
        ax.plot(s, s - cur / 1e3, ":", color="tab:red", lw=1, label="break-even (gain = spend change)")
        ax.axvline(cur / 1e3, color="0.6", lw=1)
        if cell in spends:
            ax.axvline(spends[cell] / 1e3, color="tab:green", lw=1.5)
        ax.set_title(cell, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("spend, $k/yr", fontsize=7)
    axes.flat[0].set_ylabel("gain before own cost, $k/yr", fontsize=7)
    axes.flat[0].legend(fontsize=6, loc="best")
    fig.suptitle("Response curves (grey line: current spend, green: optimised)", fontsize=10)
    fig.tight_layout()
    return fig


def allocation_figure(res: OptimisationResult):
    df = res.allocation_frame()
    labels = [f"{t}/{lv}" for t, lv in zip(df["tier"], df["lever"], strict=True)]
    x = np.arange(len(df))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.55 * len(df) + 2), 3.2))
    ax.bar(x - 0.2, df["original_current"] / 1e3, 0.4, label="current", color="0.6")
    ax.bar(x + 0.2, df["spend"] / 1e3, 0.4, label="optimised", color="tab:green")
    ax.set_xticks(x, labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("$k per year")
    ax.legend(fontsize=8)
    ax.set_title("Allocation by cell", fontsize=10)
    fig.tight_layout()
    return fig


def validation_figure(res: OptimisationResult):
    v = res.validation
    fig, ax = plt.subplots(figsize=(6, 0.5 * len(v) + 1.2))
    y = np.arange(len(v))
    m = v["diff_vs_current"].to_numpy() / 1e3
    lo = m - v["diff_ci_low"].to_numpy() / 1e3
    hi = v["diff_ci_high"].to_numpy() / 1e3 - m
    ax.errorbar(m, y, xerr=[np.nan_to_num(lo), np.nan_to_num(hi)], fmt="o", capsize=3)
    ax.axvline(0, color="0.5", lw=1)
    ax.set_yticks(y, v["policy"], fontsize=8)
    ax.set_xlabel("net profit vs current, $k/yr (paired, 95% CI)")
    ax.set_title("Closed-loop validation on fresh seeds", fontsize=10)
    fig.tight_layout()
    return fig


def render(res: OptimisationResult, info: dict[str, Any]) -> str:
    """The report as one HTML string."""
    a = res.allocation
    facts = {
        "scenario": info.get("scenario"), "objective": a.objective, "budget ($/yr)": a.budget,
        "total spend ($/yr)": a.total_spend, "expected net uplift from curves ($/yr)": a.expected_uplift,
        "marginal ROI of budget (left / right)": f"{fmt(a.marginal_roi_left)} / {fmt(a.marginal_roi_right)}",
        "budget shadow price (d objective / d budget)": a.budget_dual,
        "dual within finite-difference slopes": a.dual_check,
        "programme ROI of the cells": a.roi, "rounds": len(res.rounds), "accepted a round": res.accepted_any,
        "seconds": res.seconds,
    }
    if a.cvar is not None:
        facts["CVaR of scenario profits"] = a.cvar
    frows = "".join(f"<tr><th>{html.escape(k)}</th><td>{fmt(v)}</td></tr>" for k, v in facts.items())
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in (*res.notes, *a.notes))
    shapes = res.response.shapes
    s_bad = shapes[~shapes["concave"]]
    shape_text = ("All estimated curves are concave." if s_bad.empty else
                  f"{len(s_bad)} of {len(shapes)} cells have non-concave estimates; the concave envelope overstates "
                  "them by the amounts below (significant = more than 1.96 standard errors).")
    binding = pd.DataFrame([{"group": b.group, "statement": b.statement, "dual (d obj / d rhs)": b.dual,
                             "value of relaxing one unit": b.relax_value} for b in a.binding])
    css = ("body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em;color:#222}"
           "table{border-collapse:collapse;font-size:12px;margin:0.5em 0}td,th{border:1px solid #ccc;padding:3px 6px;"
           "text-align:right}th{background:#f4f4f4}h2{margin-top:1.5em}img{max-width:100%}")
    body = [
        f"<h1>channelsim optimise: {html.escape(str(info.get('scenario')))}</h1>",
        f"<table>{frows}</table>",
        f"<ul>{notes}</ul>" if notes else "",
        "<h2>Allocation</h2>", _img(allocation_figure(res)),
        table(res.allocation_frame(), ["tier", "lever", "spend", "share", "marginal_roi", "marginal_roi_right",
                                       "original_current", "setting_path", "setting"]),
        "<h2>Validation</h2>", _img(validation_figure(res)),
        table(res.validation, ["policy", "net_profit", "ci_low", "ci_high", "diff_vs_current", "diff_ci_low",
                               "diff_ci_high", "optimised_minus_policy", "omp_ci_low", "omp_ci_high"]),
        "<h2>Rounds</h2>", table(res.rounds, ["round", "radius", "predicted_uplift", "realised_uplift",
                                              "realised_ci_low", "realised_ci_high", "accepted", "max_move",
                                              "total_spend"]),
        "<h2>Response curves</h2>", _img(curves_figure(res)),
        f"<p>{html.escape(shape_text)}</p>",
        table(shapes, ["cell", "shape", "concave", "overstatement", "overstatement_share_of_range",
                       "overstatement_se", "significant"]),
        "<h2>Binding constraints and shadow prices</h2>",
        table(binding) if not binding.empty else "<p>none</p>",
    ]
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>channelsim optimise</title>"
            f"<style>{css}</style></head><body>{''.join(body)}</body></html>")


__all__ = ["render"]
