"""A self-contained HTML report of one experiment (figures embedded as PNG data URIs)."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import pandas as pd

from .analysis import summarise
from .io import atomic_write_text

CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;font-size:0.85em;margin:0.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f3f3f3} td.l,th.l{text-align:left} pre{background:#f7f7f7;padding:0.5em;overflow:auto;font-size:0.8em}
img{max-width:100%} .note{color:#666;font-size:0.9em}
"""


def _fig_uri(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _table(df: pd.DataFrame, floatfmt: str = "{:,.4g}") -> str:
    if df is None or df.empty:
        return "<p class='note'>(none)</p>"
    fmt = {c: (lambda v, f=floatfmt: "" if pd.isna(v) else f.format(v))
           for c in df.columns if pd.api.types.is_float_dtype(df[c])}
    return df.to_html(index=False, formatters=fmt, escape=True, border=0)


def _main_effect_figures(me: pd.DataFrame, outputs: list[str]) -> list[str]:
    import matplotlib.pyplot as plt

    uris = []
    factors = list(dict.fromkeys(me["factor"]))
    for out in outputs:
        sub = me[me["output"] == out]
        fig, axes = plt.subplots(1, len(factors), figsize=(3.6 * len(factors), 3.0), squeeze=False)
        for ax, f in zip(axes[0], factors, strict=True):
            g = sub[sub["factor"] == f]
            x = list(range(len(g)))
            err = [g["mean"] - g["ci_low"], g["ci_high"] - g["mean"]]
            ax.errorbar(x, g["mean"], yerr=err, fmt="o-", capsize=3)
            ax.set_xticks(x, [str(v)[:32] for v in g["level"]], rotation=30, ha="right", fontsize=7)
            ax.set_title(f, fontsize=8)
        axes[0][0].set_ylabel(out)
        fig.suptitle(f"Main effects on {out} (means, 95 % CI)", fontsize=9)
        uris.append(_fig_uri(fig))
    return uris


def _indices_figure(ix: pd.DataFrame, cols: tuple[str, ...], title: str) -> str:
    import matplotlib.pyplot as plt

    outputs = list(dict.fromkeys(ix["output"]))
    fig, axes = plt.subplots(1, len(outputs), figsize=(2.2 + 2.8 * len(outputs), 0.8 + 0.45 * ix["factor"].nunique()),
                             squeeze=False, sharey=True)
    for j, (ax, out) in enumerate(zip(axes[0], outputs, strict=True)):
        g = ix[ix["output"] == out]
        y = range(len(g))
        h = 0.8 / len(cols)
        for k, c in enumerate(cols):
            ax.barh([v + k * h for v in y], g[c], height=h, xerr=g.get(f"{c}_conf"), label=c, capsize=2)
        if j == 0:  # the y axis is shared: label it once
            ax.set_yticks([v + h * (len(cols) - 1) / 2 for v in y], list(g["factor"]), fontsize=7)
        ax.axvline(0, color="#999", lw=0.6)
        ax.set_title(out, fontsize=8)
        if j == len(outputs) - 1:
            ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    return _fig_uri(fig)


def render(root: str | Path) -> str:
    """The report's HTML text."""
    import matplotlib

    matplotlib.use("Agg")  # headless: figures go into the HTML
    s = summarise(root)
    exp, man, df = s["experiment"], s["manifest"], s["results"]
    n_ok = int((df["status"] == "ok").sum()) if len(df) else 0
    n_failed = int((df["status"] != "ok").sum()) if len(df) else 0
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(exp.name)}</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>Experiment: {html.escape(exp.name)}</h1>",
             f"<p>{html.escape(exp.description)}</p>",
             "<table>",
             *[f"<tr><th class='l'>{html.escape(k)}</th><td class='l'>{html.escape(str(v))}</td></tr>" for k, v in [
                 ("design", f"{exp.design.kind} ({man.get('n_points')} points x {exp.replications} replications)"),
                 ("runs", f"{len(df)} of {man.get('n_runs')} stored: {n_ok} ok, {n_failed} failed"),
                 ("seed / streams", f"{exp.seed} / {exp.streams}"),
                 ("factors", ", ".join(exp.factor_names) or "(none)"),
                 ("package version", man.get("package_version")),
                 ("started / finished", f"{man.get('started')} / {man.get('finished')}"),
                 ("experiment file", man.get("experiment_file")),
             ]],
             "</table>"]
    if len(df) < (man.get("n_runs") or 0):
        parts.append("<p class='note'>The sweep is incomplete: run the same <code>channelsim sweep</code> "
                     "command again to finish it.</p>")
    if s["sobol"] is not None:
        parts += ["<h2>Sobol indices</h2>",
                  "<p class='note'>First-order (S1) and total (ST) indices from SALib, with 95 % bootstrap "
                  "confidence half-widths.</p>",
                  f"<img src='{_indices_figure(s['sobol'], ('S1', 'ST'), 'Sobol indices')}'>",
                  _table(s["sobol"])]
    if s["morris"] is not None:
        parts += ["<h2>Morris elementary effects</h2>",
                  "<p class='note'>mu* per unit of each factor's normalised range (0..1).</p>",
                  f"<img src='{_indices_figure(s['morris'], ('mu_star',), 'Morris mu*')}'>",
                  _table(s["morris"])]
    if s["indices_error"]:
        parts.append(f"<p class='note'>Sensitivity indices not computed: {html.escape(s['indices_error'])}</p>")
    if not s["main_effects"].empty:
        parts.append("<h2>Main effects</h2>")
        parts += [f"<img src='{u}'>" for u in _main_effect_figures(s["main_effects"], s["outputs"])]
    if not s["point_means"].empty:
        pm = s["point_means"]
        # Pivot on the point alone (a pivot over every factor column would build their cartesian product).
        wide = pm.pivot(index="point", columns="output", values=["mean", "ci_low", "ci_high"])
        wide.columns = [f"{o} {stat}" for stat, o in wide.columns]
        order = [f"{o} {stat}" for o in s["outputs"] for stat in ("mean", "ci_low", "ci_high")]
        wide = wide[[c for c in order if c in wide.columns]]
        levels = pm.drop_duplicates("point").set_index("point")[exp.factor_names]
        wide = levels.join(wide).reset_index()
        parts += ["<h2>Means per design point (95 % CI)</h2>", _table(wide.head(500))]
        if len(wide) > 500:
            parts.append(f"<p class='note'>First 500 of {len(wide)} points shown.</p>")
    if n_failed:
        bad = df[df["status"] != "ok"][["point", "replication", "error"]].copy()
        bad["error"] = bad["error"].fillna("").map(lambda e: e.strip().splitlines()[-1] if e.strip() else "")
        parts += ["<h2>Failed runs</h2>", _table(bad.head(200)),
                  "<p class='note'>Full tracebacks: <code>channelsim results DIR --status failed --format csv</code>; "
                  "re-run them with <code>--retry-failed</code>.</p>"]
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(root: str | Path, output: str | Path | None = None) -> Path:
    """Write ``DIR/report.html`` (or ``output``) atomically and return its path."""
    target = Path(output) if output is not None else Path(root) / "report.html"
    atomic_write_text(target, render(root))
    return target


__all__ = ["render", "write_report"]
