"""``channelsim warn RUN_DIR``: early warning of partner exits and conflict hot spots (``docs/WARNING.md``).

Fits :mod:`experiments.warning`'s models on some replications of a run folder, tests them on the
others, prints the evaluation and writes ``evaluation.json``, ``watchlist.csv`` and ``report.html``
to ``--out`` (default ``RUN_DIR/warning``), all or nothing.  ``channelsim.cli`` calls :func:`register`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

#: Columns of ``partners.parquet`` the features need.
PARTNER_COLUMNS = ("month", "partner_id", "type", "tier", "lifecycle", "tenure", "satisfaction", "mindshare",
                   "profit_ratio", "line_profit", "ttm_revenue", "effort", "customers", "months_since_deal",
                   "certifications", "mdf_claimed", "opportunities", "wins", "conflicts_won",
                   "conflicts_lost_partner", "conflicts_lost_direct", "conflicts_lost_digital", "compliance")
CONFLICT_COLUMNS = ("month", "type", "territory", "segment", "value_at_stake", "lost_to_competitor")
OUT_FILES = ("evaluation.json", "watchlist.csv", "report.html")


def _read(path: Path, columns: tuple[str, ...], what: str) -> pd.DataFrame:
    from .cli import InputError

    try:
        df = pd.read_parquet(path)
    except Exception as err:  # noqa: BLE001 - any unreadable file is bad input
        first = (str(err).splitlines() or [""])[0][:200]
        raise InputError(f"{path}: unreadable Parquet ({first}); allowed: the {what} written by 'channelsim run'") \
            from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"{path}: column(s) {missing} missing; allowed: the {what} written by 'channelsim run'")
    return df


def read_warn_inputs(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame | None, dict[str, Any]]:
    """The partner panel, conflict log (None when absent) and ``summary.json`` of a run folder.

    Raises:
        InputError: the folder is missing, or is not a run folder, or its panel is unreadable or incomplete.
    """
    from .cli import InputError

    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: a file, not a folder; allowed: a folder written by 'channelsim run' (with "
                         "several replications)")
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder; allowed: a folder written by 'channelsim run' (with several "
                         "replications)")
    pp = folder / "partners.parquet"
    if not pp.is_file():
        raise InputError(f"{folder}: no partners.parquet, so not a run folder; allowed: a folder written by "
                         "'channelsim run SCENARIO --replications 10 -o DIR'")
    partners = _read(pp, PARTNER_COLUMNS, "partner panel")
    if "replication" not in partners.columns:
        partners = partners.assign(replication=0)
    cp = folder / "conflicts.parquet"
    conflicts = _read(cp, CONFLICT_COLUMNS, "conflict log") if cp.is_file() else None
    summary: dict[str, Any] = {}
    sp = folder / "summary.json"
    if sp.is_file():
        try:
            summary = json.loads(sp.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            summary = {}
    return partners, conflicts, summary if isinstance(summary, dict) else {}


def _pct(v: float) -> str:
    return f"{100 * v:.0f} %" if v == v else "n/a"


def print_evaluation(ev: dict[str, Any], watchlist: pd.DataFrame) -> None:
    """The short evaluation ``channelsim warn`` prints: AUCs with CIs, calibration, lead time, top partners."""
    from rich.table import Table

    from .cli import _console
    from .warn_report import EXIT_SCORES, HOT_SCORES

    pe = ev["partner_exit"]
    h = pe["horizon_months"]
    con = _console()
    t = Table(title=f"Partner exit within {h} months: test replications {pe['replications']['test']} "
                    f"({pe['rows']['test']:,} partner-months, {pe['exiting_partners']['test']} partners leaving)",
              caption=f"95 % CI: bootstrap over partners, {ev['bootstrap']['resamples']} resamples, paired")
    for col, just in (("score", "left"), ("AUC", "right"), ("95 % CI", "right"), ("vs satisfaction only", "right"),
                      ("Brier", "right"), ("flagged before exit", "right"), ("median lead", "right")):
        t.add_column(col, justify=just)
    for k, label in EXIT_SCORES.items():
        a = pe["auc"][k]
        diff = (f"{a['diff_vs_satisfaction_rule']:+.3f} ({a['diff_ci_low_vs_satisfaction_rule']:+.3f} .. "
                f"{a['diff_ci_high_vs_satisfaction_rule']:+.3f})" if "diff_vs_satisfaction_rule" in a else "")
        cal = pe["calibration"].get(k)
        lt = pe["lead_time"].get(k)
        t.add_row(label, f"{a['auc']:.3f}", f"{a['ci_low']:.3f} .. {a['ci_high']:.3f}", diff,
                  f"{cal['brier']:.4f}" if cal else "", _pct(lt["detection_rate"]) if lt else "",
                  f"{lt['median_lead_months']:.0f} months" if lt else "")
    con.print(t)
    base = pe["calibration"]["classifier"]["brier_base_rate"]
    signal = ", ".join(r["label"] for r in pe["importance"]["classifier_permutation"][:3])
    con.print(f"Brier score of the base rate {base:.4f}; alarm on the {pe['lead_time']['alarm_share']:.0%} riskiest "
              f"partner-months. Signal: {signal}")
    hs = ev.get("hot_spots")
    if hs and hs.get("evaluated"):
        ht = Table(title="Conflict hot spots: more conflicts in a territory x segment cell next quarter")
        for col in ("score", "AUC", "95 % CI", "vs persistence"):
            ht.add_column(col, justify="left" if col == "score" else "right")
        for k, label in HOT_SCORES.items():
            a = hs["auc"][k]
            diff = (f"{a['diff_vs_persistence']:+.3f} ({a['diff_ci_low_vs_persistence']:+.3f} .. "
                    f"{a['diff_ci_high_vs_persistence']:+.3f})" if "diff_vs_persistence" in a else "")
            ht.add_row(label, f"{a['auc']:.3f}", f"{a['ci_low']:.3f} .. {a['ci_high']:.3f}", diff)
        con.print(ht)
    elif hs:
        con.print(f"Conflict hot spots not evaluated: {hs['reason']}")
    wt = Table(title="Watch list: the riskiest partners at the last month (all in watchlist.csv)")
    for col in ("rank", "replication", "partner", "tier", "risk", "reasons"):
        wt.add_column(col, justify="right" if col in ("rank", "risk") else "left")
    for _, r in watchlist.head(5).iterrows():
        wt.add_row(str(r["rank"]), str(r["replication"]), f"P{r['partner_id']}", str(r["tier"]), f"{r['risk']:.3f}",
                   str(r["reasons"]))
    con.print(wt)


def warn_cmd(
    run_dir: Annotated[Path, typer.Argument(help="Run folder written by 'channelsim run' (several replications).")],
    horizon: Annotated[int, typer.Option("--horizon", "-k", help="Predict exits within this many months.")] = 6,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Folder for evaluation.json, watchlist.csv and report.html (default RUN_DIR/warning, "
        "replaced on each call).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists and is not empty.")] = False,
    seed: Annotated[int, typer.Option("--seed", "-s", help="Seed of the train/test split, bootstrap and models.")] = 0,
) -> None:
    """Fit early-warning models of partner exit and conflict hot spots; test them on held-out replications.

    Prints AUCs with 95 % CIs (vs no skill and satisfaction alone), calibration, months of warning, top partners.
    """
    import sim
    from experiments.io import atomic_write_text, json_safe
    from experiments.warning import WarningError, check_run, evaluate

    from .cli import InputError, _console, _user_errors, check_out, run_scale, staged_dir

    err = _console(stderr=True)
    with _user_errors():
        if not 0 <= seed <= 2**32 - 1:
            raise InputError(f"--seed {seed}: allowed: a whole number from 0 to {2**32 - 1}")
        if horizon < 1:  # before reading: the months of the run bound it from above
            raise InputError(f"--horizon {horizon}: allowed: a whole number of months from 1 to 24 (and at most "
                             "half of the run's reported months)")
        default_out = out is None
        target = run_dir / "warning" if default_out else out
        if run_dir.is_dir():
            check_out(target, force or default_out)
        partners, conflicts, summary = read_warn_inputs(run_dir)
        name = str(summary.get("scenario") or run_dir.name)
        territories = run_scale(run_dir).get("market.n_territories")
        try:
            months = int(partners["month"].max()) if len(partners) else 0
            check_run(partners, horizon)
            typer.echo(f"fitting and testing early-warning models on {run_dir} ({partners['replication'].nunique()} "
                      f"replications, {months} months, horizon {horizon} months)", err=True)
            res = evaluate(partners, conflicts, horizon, territories=territories, seed=seed)
        except WarningError as e:
            raise InputError(f"{run_dir}: {e}") from None
    from .warn_report import warn_report

    ev = json_safe(res.evaluation)
    info = {"run folder": str(run_dir), "scenario": name, "replications": ev["replication_count"],
            "reported months": ev["months"], "horizon": f"{horizon} months",
            "training replications": ", ".join(map(str, ev["partner_exit"]["replications"]["train"])),
            "test replications": ", ".join(map(str, ev["partner_exit"]["replications"]["test"])),
            "models": "scikit-learn HistGradientBoostingClassifier; statsmodels PHReg Cox model (landmark rows)",
            "seed": seed, "channelsim version": sim.__version__}
    payload = {"run": str(run_dir), "scenario": name, **ev}
    with _user_errors(), staged_dir(target, force or default_out) as tmp:
        atomic_write_text(tmp / "evaluation.json", json.dumps(payload, indent=2, allow_nan=False) + "\n")
        atomic_write_text(tmp / "watchlist.csv", res.watchlist.to_csv(index=False, float_format="%.6g"))
        atomic_write_text(tmp / "report.html", warn_report(res.evaluation, res.watchlist, info, res.roc,
                                                           res.hot_spot_roc, name=name))
    print_evaluation(res.evaluation, res.watchlist)
    err.print(f"wrote {target}/ ({', '.join(OUT_FILES)})")


def register(app: typer.Typer) -> None:
    """Add ``channelsim warn`` to ``app``."""
    app.command("warn")(warn_cmd)
