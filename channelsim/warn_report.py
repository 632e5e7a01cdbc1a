"""The HTML report and the printed summary of ``channelsim warn`` (built on :mod:`channelsim.report`).

Like the other reports it opens with the answer in words (how well each early-warning model ranks the
partners that leave, with its 95 % CI, against no skill and a satisfaction-only rule), then tiles, what
was evaluated, the tables and the figures, each with a one-sentence caption.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .narrative import Tile
from .report import Cell, facts, figure, now, page, summary_section, table, tiles

#: Scores of the exit models, as they are named in words.
EXIT_SCORES = {"classifier": "gradient boosting", "cox": "Cox model", "satisfaction_rule": "satisfaction only",
               "no_skill": "no skill"}
HOT_SCORES = {"classifier": "gradient boosting", "persistence": "persistence", "no_skill": "no skill"}

CAPTIONS = {
    "roc": "ROC curves of the exit models on the test replications: the share of partner-months whose partner "
           "leaves within the horizon that each model flags (y) against the share of the others it flags (x); the "
           "diagonal is no skill.",
    "reliability": "Reliability of the predicted exit risk on the test replications: the observed share of "
                   "partner-months followed by an exit (y) in each tenth of predicted risk (x); on the diagonal the "
                   "risk means what it says.",
    "importance": "Which features carry the signal: the drop in the gradient-boosting model's test AUC when the "
                  "feature's values are shuffled (mean of 3 shuffles).",
    "hot_roc": "ROC curves of the hot-spot model and the persistence baseline on the test replications "
               "(territory x segment cells: does the cell have more conflicts next quarter?).",
}


#: The watch list's reasons keep a readable width; the table scrolls sideways in its wrapper instead.
_REASONS_CSS = "<style>td.reasons { min-width: 22em; }</style>"


def _num(v: Any, digits: int = 2) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "n/a"
    return f"{f:.{digits}f}" if math.isfinite(f) else "n/a"


def _auc_text(a: Mapping[str, Any]) -> str:
    return f"{_num(a['auc'])} (95 % CI {_num(a['ci_low'])} to {_num(a['ci_high'])})"


def _diff_text(a: Mapping[str, Any], ref: str) -> str:
    return (f"{float(a[f'diff_vs_{ref}']):+.2f} (95 % CI {float(a[f'diff_ci_low_vs_{ref}']):+.2f} to "
            f"{float(a[f'diff_ci_high_vs_{ref}']):+.2f})")


def _beats(a: Mapping[str, Any], ref: str) -> bool:
    return float(a.get(f"diff_ci_low_vs_{ref}", float("nan"))) > 0


def summary_paragraphs(ev: Mapping[str, Any], name: str) -> tuple[list[str], list[str]]:
    """The report's opening paragraphs and warnings, from ``evaluation.json``."""
    pe = ev["partner_exit"]
    h = pe["horizon_months"]
    auc = pe["auc"]
    reps = pe["replications"]
    paras = [
        f"Early warning of partner exits in the run of {name}: the models were fitted on {len(reps['train'])} "
        f"replications and tested on {len(reps['test'])} others ({pe['rows']['test']:,} partner-months, "
        f"{pe['exiting_partners']['test']} partners leaving). The question: does the partner leave the programme "
        f"within the next {h} months, from what is known at the month (tenure, tier, profit and its trend, "
        f"mindshare, satisfaction and its trend, conflicts lost and to whom, months since the last deal, "
        f"certifications, MDF claimed)?",
    ]
    best = max(("classifier", "cox"), key=lambda k: auc[k]["auc"])
    paras.append(
        f"The {EXIT_SCORES[best]} ranks a partner that leaves above one that stays with probability "
        f"{_auc_text(auc[best])}; the {EXIT_SCORES['cox' if best == 'classifier' else 'classifier']} "
        f"{_auc_text(auc['cox' if best == 'classifier' else 'classifier'])}; satisfaction alone "
        f"{_auc_text(auc['satisfaction_rule'])}; no skill 0.50. Against satisfaction alone the "
        f"{EXIT_SCORES[best]} is {_diff_text(auc[best], 'satisfaction_rule')} (paired on the same resamples).")
    lead = pe["lead_time"][best]
    share = pe["lead_time"]["alarm_share"]
    paras.append(
        f"With an alarm on the {share:.0%} of partner-months it rates riskiest, the {EXIT_SCORES[best]} flags "
        f"{lead['detected']} of {lead['exits']} leaving partners ({_num(100 * lead['detection_rate'], 0)} %) in the "
        f"{pe['lead_time']['window_months']} months before they leave, a median of "
        f"{_num(lead['median_lead_months'], 0)} months ahead; {_num(100 * lead['precision'], 0)} % of its alarms "
        f"are followed by an exit within {h} months. Satisfaction alone flags "
        f"{_num(100 * pe['lead_time']['satisfaction_rule']['detection_rate'], 0)} %.")
    imp = pe["importance"]["classifier_permutation"][:3]
    paras.append("The signal is carried most by " + ", ".join(r["label"] for r in imp) + ".")
    hs = ev.get("hot_spots")
    warnings = []
    if hs and hs.get("evaluated"):
        a = hs["auc"]
        paras.append(
            f"Conflict hot spots (territory x segment cells with more conflicts next quarter than this quarter): the "
            f"model's AUC is {_auc_text(a['classifier'])} against {_auc_text(a['persistence'])} for persistence, "
            f"a difference of {_diff_text(a['classifier'], 'persistence')}.")
    elif hs:
        warnings.append(f"conflict hot spots were not evaluated: {hs['reason']}")
    for k in ("classifier", "cox"):
        if not _beats(auc[k], "satisfaction_rule"):
            warnings.append(f"the {EXIT_SCORES[k]} does not beat satisfaction alone with 95 % confidence on these "
                            "test replications; a longer run or more replications narrow the interval")
        if not auc[k]["ci_low"] > 0.5:
            warnings.append(f"the {EXIT_SCORES[k]}'s AUC interval includes 0.5 (no skill)")
    return paras, warnings


def _tiles(ev: Mapping[str, Any]) -> list[Tile]:
    pe = ev["partner_exit"]
    auc = pe["auc"]
    out = []
    for k in ("classifier", "cox"):
        a = auc[k]
        better = _beats(a, "satisfaction_rule")
        out.append(Tile(f"AUC, {EXIT_SCORES[k]}", _num(a["auc"]),
                        f"{float(a['diff_vs_satisfaction_rule']):+.2f} vs satisfaction only", "",
                        f"95 % CI {_num(a['ci_low'])} to {_num(a['ci_high'])}",
                        "better" if better else "flat",
                        "better than satisfaction only" if better else "not better than satisfaction only", k))
    s = auc["satisfaction_rule"]
    out.append(Tile("AUC, satisfaction only", _num(s["auc"]), "", "", f"95 % CI {_num(s['ci_low'])} to "
                    f"{_num(s['ci_high'])}", "level", "the simple rule", "satisfaction_rule"))
    best = max(("classifier", "cox"), key=lambda k: auc[k]["auc"])
    lead = pe["lead_time"][best]
    out.append(Tile("Months of warning (median)", _num(lead["median_lead_months"], 0), "", "",
                    f"{lead['detected']} of {lead['exits']} exits flagged", "level", EXIT_SCORES[best], "lead"))
    hs = ev.get("hot_spots")
    if hs and hs.get("evaluated"):
        a = hs["auc"]["classifier"]
        better = _beats(a, "persistence")
        out.append(Tile("AUC, conflict hot spots", _num(a["auc"]), f"{float(a['diff_vs_persistence']):+.2f} vs "
                        "persistence", "", f"95 % CI {_num(a['ci_low'])} to {_num(a['ci_high'])}",
                        "better" if better else "flat",
                        "better than persistence" if better else "not better than persistence", "hot_spots"))
    return out


def _auc_rows(auc: Mapping[str, Mapping[str, Any]], names: Mapping[str, str], ref: str) -> list[list[Any]]:
    rows = []
    for k, label in names.items():
        a = auc[k]
        diff = _diff_text(a, ref) if f"diff_vs_{ref}" in a else "-"
        rows.append([label, _num(a["auc"], 3), _num(a["ci_low"], 3), _num(a["ci_high"], 3), diff])
    return rows


def _roc_figure(roc: Mapping[str, tuple[np.ndarray, np.ndarray]], names: Mapping[str, str],
                auc: Mapping[str, Mapping[str, Any]]) -> Figure:
    fig = Figure(figsize=(5.2, 4.2), layout="constrained")
    ax = fig.subplots()
    for k, (fpr, tpr) in roc.items():
        ax.plot(fpr, tpr, label=f"{names[k]} (AUC {auc[k]['auc']:.2f})")
    ax.plot([0, 1], [0, 1], "--", color="#888", label="no skill (AUC 0.50)")
    ax.set_xlabel("false-alarm rate (share of the others flagged)")
    ax.set_ylabel("hit rate (share flagged)")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def _reliability_figure(cal: Mapping[str, Mapping[str, Any]]) -> Figure:
    fig = Figure(figsize=(5.2, 4.2), layout="constrained")
    ax = fig.subplots()
    top = 0.0
    for k, c in cal.items():
        x = [r["mean_predicted"] for r in c["reliability"]]
        y = [r["observed"] for r in c["reliability"]]
        top = max(top, *x, *y)
        ax.plot(x, y, "o-", label=f"{EXIT_SCORES[k]} (Brier {c['brier']:.3f})")
    ax.plot([0, top], [0, top], "--", color="#888", label="perfectly calibrated")
    ax.set_xlabel("predicted risk of an exit within the horizon")
    ax.set_ylabel("observed share that exit")
    ax.legend(loc="upper left", fontsize=8)
    return fig


def _importance_figure(rows: Sequence[Mapping[str, Any]], n: int = 12) -> Figure:
    rows = list(rows)[:n][::-1]
    fig = Figure(figsize=(7.0, 0.8 + 0.32 * len(rows)), layout="constrained")
    ax = fig.subplots()
    ax.barh([r["label"] for r in rows], [r["auc_drop"] for r in rows], xerr=[r["sd"] for r in rows], color="#1f77b4")
    ax.set_xlabel("drop in test AUC when the feature is shuffled")
    ax.tick_params(axis="y", labelsize=8)
    return fig


def warn_report(ev: Mapping[str, Any], watchlist: pd.DataFrame, info: Mapping[str, Any],
                roc: Mapping[str, tuple[np.ndarray, np.ndarray]],
                hot_roc: Mapping[str, tuple[np.ndarray, np.ndarray]], *, name: str) -> str:
    """The self-contained HTML report of ``channelsim warn``.

    Args:
        ev: the evaluation (``evaluation.json``).
        watchlist: the ranked partners at the last month (``watchlist.csv``).
        info: what was evaluated, term -> value.
        roc: test ROC curves of the exit scores.
        hot_roc: test ROC curves of the hot-spot scores.
        name: the scenario's name.
    """
    pe = ev["partner_exit"]
    paras, warnings = summary_paragraphs(ev, name)
    h = pe["horizon_months"]
    body = [
        f"<h1>channelsim warn: {html.escape(name)}</h1>",
        summary_section(paras, warnings, warnings_first=False),
        tiles(_tiles(ev)),
        "<h2>What was evaluated</h2>", facts({**info, "report written": now()}),
        f"<h2>Partner exit within {h} months: AUC on the test replications</h2>",
        '<p class="note">AUC: the probability that a partner-month followed by an exit is rated riskier than one '
        'that is not (0.5: no skill). 95 % CI: percentile bootstrap over partners (each with all its months), '
        f"{ev['bootstrap']['resamples']} resamples; differences are paired on the same resamples.</p>",
        table(["score", "AUC", "95 % CI low", "95 % CI high", "vs satisfaction only (95 % CI)"],
              _auc_rows(pe["auc"], EXIT_SCORES, "satisfaction_rule")),
        "<h2>ROC curves</h2>", figure(_roc_figure(roc, EXIT_SCORES, pe["auc"]), CAPTIONS["roc"]),
        "<h2>Calibration</h2>",
        '<p class="note">Brier score: mean squared error of the predicted risk (lower is better); the base rate '
        "predicts the training share of exits for everyone.</p>",
        table(["model", "Brier score", "Brier score of the base rate"],
              [[EXIT_SCORES[k], _num(c["brier"], 4), _num(c["brier_base_rate"], 4)]
               for k, c in pe["calibration"].items()]),
        table(["risk bin", "predicted risk from", "to", "partner-months", "mean predicted", "observed share"],
              [[f"{EXIT_SCORES[k]} {r['bin']}", _num(r["low"], 3), _num(r["high"], 3), r["rows"],
                _num(r["mean_predicted"], 3), _num(r["observed"], 3)]
               for k, c in pe["calibration"].items() for r in c["reliability"]]),
        figure(_reliability_figure(pe["calibration"]), CAPTIONS["reliability"]),
        "<h2>Months of warning</h2>",
        f'<p class="note">The alarm flags the {pe["lead_time"]["alarm_share"]:.0%} of test partner-months a score '
        f"rates riskiest. Lead: months from a partner's first alarm in the {pe['lead_time']['window_months']} months "
        f"before its exit to the exit. Precision: share of alarms followed by an exit within {h} months.</p>",
        table(["score", "exits", "flagged before the exit", "share flagged", "median lead (months)",
               "lead quartiles (months)", "precision"],
              [[EXIT_SCORES[k], lt["exits"], lt["detected"], f"{_num(100 * lt['detection_rate'], 0)} %",
                _num(lt["median_lead_months"], 0),
                f"{_num(lt['lead_months_quartiles'][0], 0)} to {_num(lt['lead_months_quartiles'][1], 0)}",
                f"{_num(100 * lt['precision'], 0)} %"]
               for k in ("classifier", "cox", "satisfaction_rule") for lt in [pe["lead_time"][k]]]),
        "<h2>Which features carry the signal</h2>",
        figure(_importance_figure(pe["importance"]["classifier_permutation"]), CAPTIONS["importance"]),
        table(["feature", "drop in test AUC (gradient boosting)", "sd"],
              [[r["label"], _num(r["auc_drop"], 4), _num(r["sd"], 4)]
               for r in pe["importance"]["classifier_permutation"]]),
        '<p class="note">Cox model on standardized features: the hazard ratio of a one-standard-deviation rise '
        "(above 1: a higher risk of leaving), with its 95 % CI.</p>",
        table(["feature", "hazard ratio per sd", "95 % CI", "coefficient", "p"],
              [[r["label"], _num(r["hazard_ratio_per_sd"], 3),
                f"{_num(r.get('hazard_ratio_ci_low'), 3)} to {_num(r.get('hazard_ratio_ci_high'), 3)}",
                _num(r["coef_per_sd"], 3), _p_value(r["p"])] if r.get("p") is not None
               else [r["label"], f"left out: {r.get('dropped', 'not fitted')}", "", "", ""]
               for r in pe["importance"]["cox"]]),
    ]
    hs = ev.get("hot_spots")
    if hs and hs.get("evaluated"):
        body += [
            "<h2>Conflict hot spots: more conflicts next quarter</h2>",
            f'<p class="note">{html.escape(hs["label"])}; baseline: {html.escape(hs["baseline"])}. 95 % CI: '
            "bootstrap over cells (each with all its quarters).</p>",
            table(["score", "AUC", "95 % CI low", "95 % CI high", "vs persistence (95 % CI)"],
                  _auc_rows(hs["auc"], HOT_SCORES, "persistence")),
            figure(_roc_figure(hot_roc, HOT_SCORES, hs["auc"]), CAPTIONS["hot_roc"]),
            table(["feature", "drop in test AUC", "sd"],
                  [[r["label"], _num(r["auc_drop"], 4), _num(r["sd"], 4)]
                   for r in hs["importance"]["classifier_permutation"]]),
            "<h3>Cells most likely to see more conflicts next quarter</h3>",
            table(["replication", "territory", "segment", "conflicts last quarter", "risk of a rise"],
                  [[str(c["replication"]), str(c["territory"]), c["segment"], _num(c["conflicts_last_quarter"], 0),
                    _num(c["risk_of_rise"], 3)] for c in hs["watch_cells"]]),
        ]
    top = watchlist.head(25)
    body += [
        "<h2>Watch list: partners most at risk at the last month</h2>",
        _REASONS_CSS,
        f'<p class="note">{len(watchlist):,} partners in the programme at the last month; the 25 riskiest shown '
        "(all in watchlist.csv). Risk: the gradient-boosting model's probability of an exit within "
        f"{h} months, refitted on every replication. Reasons: the features raising the Cox hazard most.</p>",
        table(["rank", "replication", "partner", "type", "tier", "lifecycle", "risk", "Cox risk", "satisfaction",
               "reasons"],
              [[str(r["rank"]), str(r["replication"]), f"P{r['partner_id']}", Cell(r["type"], "text"),
                Cell(r["tier"], "text"), Cell(r["lifecycle"], "text"),
                _num(r["risk"], 3), _num(r["cox_risk"], 3), _num(r["satisfaction"], 2),
                Cell(r["reasons"], "text reasons")]
               for _, r in top.iterrows()]),
    ]
    return page(f"channelsim warn: {name}", body)


__all__ = ["summary_paragraphs", "warn_report"]


def _p_value(p: float) -> str:
    """A p-value as text; below double precision's resolution (it underflows to 0) as "< 1e-16"."""
    return "< 1e-16" if p < 1e-16 else f"{p:.2g}"
