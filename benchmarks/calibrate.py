"""Check the baseline against the published figures it is calibrated to, as means over the horizon.

Usage::

    .venv/bin/python benchmarks/calibrate.py [--replications R] [--workers W] [--markdown | --json]
        [--set PATH=VALUE ...]

For each target it prints the baseline's figure (mean over the reported months, then mean
and 95 % t-interval over replications with seeds ``SeedSequence(2026, r)``) and the
published range; ``--markdown`` prints the table docs/MODEL.md quotes.  It also checks the
steady state: for each KPI calibration uses, the change from the first to the last twelve
reported months (mean and 95 % CI over replications), which must include 0 or be small.
``--set`` applies scenario overrides (to explore a calibration before changing a default).
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import yaml
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sim  # noqa: E402


def _top20(ttm: np.ndarray) -> float:
    rev = np.sort(ttm)[::-1]
    n_top = max(1, int(round(0.2 * rev.size)))
    return float(rev[:n_top].sum() / rev.sum()) if rev.sum() > 0 else float("nan")


def measures(r: sim.RunResult) -> dict[str, float]:
    """The calibration measures of one run, each a mean over the reported months."""
    k, p = r.kpis, r.partners
    years = len(k) / 12.0
    act = p[p.lifecycle.isin(["active", "improvement_plan"])]
    by_month = act.groupby("month", observed=True)
    top_tier = r.scenario.tier_names[-1]
    exits = k["partners_exited"].sum()
    return {
        "partner_revenue_share": float(k.revenue_partner.sum() / k.revenue_total.sum()),
        "partner_originated_share": float(k.revenue_partner_originated.sum() / k.revenue_new_partner.sum()),
        "top20_partner_revenue_share": float(by_month["ttm_revenue"].apply(lambda s: _top20(s.to_numpy())).mean()),
        "top_tier_partner_share": float(by_month["tier"].apply(lambda s: (s == top_tier).mean()).mean()),
        "mdf_unclaimed_share": float(1.0 - k.mdf_utilisation.mean()),
        "annual_partner_exit_rate": float(exits / k.active_partners.mean() / years),
        "termination_share_of_exits": float(k.partners_exited_terminated.sum() / exits) if exits else float("nan"),
        "discount_rate": float(k.spend_discount.sum() / k.revenue_partner.sum()),
        "rebate_rate": float(np.nanmean(k.rebate_rate)),
        "leakage_share": float(k.leakage.sum() / k.claims_value.sum()) if k.claims_value.sum() else float("nan"),
        "overclaim_share": float(1.0 - k.compliance_rate.mean()),
        "active_partners": float(k.active_partners.mean()),
        "partner_mindshare": float(k.partner_mindshare.mean()),
        "partner_satisfaction": float(k.partner_satisfaction.mean()),
        "partner_nps": float(k.partner_nps.mean()),
        "win_rate": float(k.win_rate.mean()),
        "customer_retention": float(k.customer_retention.mean()),
        "market_share": float(k.market_share.mean()),
        "mdf_share_of_partner_revenue": float(k.spend_mdf.sum() / k.revenue_partner.sum()),
    }


# Steady state: KPIs calibration uses, compared between the first and the last twelve reported months.
STEADY = (
    "revenue_total",
    "revenue_partner",
    "active_partners",
    "market_share",
    "channel_maturity",
    "partner_mindshare",
    "partner_satisfaction",
    "mdf_utilisation",
)


def steady(r: sim.RunResult) -> dict[str, float]:
    """Relative change of each steady-state KPI from the first to the last twelve reported months."""
    k = r.kpis
    out = {}
    for c in STEADY:
        a, b = float(k[c].iloc[:12].mean()), float(k[c].iloc[-12:].mean())
        out[c] = (b - a) / abs(a) if a else float("nan")
    top = r.scenario.tier_names[-1]
    share = k[f"partners_tier_{top}"] / k["active_partners"]
    a, b = float(share.iloc[:12].mean()), float(share.iloc[-12:].mean())
    out["top_tier_partner_share"] = (b - a) / a if a else float("nan")
    return out


ROWS = (
    ("Partner share of vendor revenue (partner-delivered)", "partner_revenue_share", 100, "%",
     "56-73 % (Channelnomics 2025: 56 % partner-originated; Canalys: over 70 % partner-delivered)", (0.56, 0.73)),
    ("Partner-originated share of the partner channel's new-deal revenue", "partner_originated_share", 100, "%",
     "about 56 % (Channelnomics 2025)", (0.46, 0.66)),
    ("Revenue concentration: share of TTM revenue from the top 20 % of active partners", "top20_partner_revenue_share",
     100, "%", "at least 80 % (Pareto concentration of partner revenue)", (0.80, 1.0)),
    ("Top tier share of active partners", "top_tier_partner_share", 100, "%", "5-15 % (ZINFI)", (0.05, 0.15)),
    ("MDF unclaimed: 1 - `mdf_utilisation`", "mdf_unclaimed_share", 100, "%", "40-60 % (ZINFI survey 2016)",
     (0.40, 0.60)),
    ("Partners leaving a year: exits / mean active partners", "annual_partner_exit_rate", 100, "%",
     "about 12 % (a mean relationship of about 8 years)", (0.10, 0.14)),
    ("Share of exits that are terminations (failed improvement plans)", "termination_share_of_exits", 100, "%",
     "15-30 % (assumption: most partners leave by their own choice)", (0.15, 0.30)),
    ("Front-end discount: discount paid / partner revenue", "discount_rate", 100, "%",
     "20-40 % (research notes of issue 11)", (0.20, 0.40)),
    ("Back-end rebate: rebate paid / revenue of the tiers that earn one", "rebate_rate", 100, "%",
     "about 7-16 % (Cisco's programme, research notes of issue 11)", (0.07, 0.16)),
    ("Leakage: over-claims paid / true value of claims", "leakage_share", 100, "%",
     "5-10 % (industry estimates: 5-10 % of incentives abused)", (0.05, 0.10)),
    ("Claims over-claimed: 1 - `compliance_rate`", "overclaim_share", 100, "%", "about 10 % over-claimed",
     (0.06, 0.14)),
)


def _run_one(args: tuple[dict, int]) -> tuple[dict, dict]:
    overrides, r = args
    scenario = sim.Scenario().with_overrides(overrides) if overrides else sim.Scenario()
    res = sim.run(scenario, seed=sim.seed_sequence(2026, r))
    return measures(res), steady(res)


def interval(v: np.ndarray) -> tuple[float, float, float]:
    v = np.asarray(v, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    half = stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else 0.0
    return float(v.mean()), float(v.mean() - half), float(v.mean() + half)


def calibrate(replications: int = 8, workers: int = 1, overrides: dict | None = None) -> tuple[dict, dict]:
    """Mean and 95 % CI over replications of every measure and every steady-state change."""
    jobs = [(overrides or {}, r) for r in range(replications)]
    if workers > 1:
        with ProcessPoolExecutor(workers) as ex:
            rows = list(ex.map(_run_one, jobs))
    else:
        rows = [_run_one(j) for j in jobs]
    out = {key: interval([m[key] for m, _ in rows]) for key in rows[0][0]}
    drift = {key: interval([s[key] for _, s in rows]) for key in rows[0][1]}
    return out, drift


def markdown(out: dict[str, tuple[float, float, float]]) -> str:
    """The calibration table of docs/MODEL.md."""
    lines = ["| Target | Published figure | Baseline (mean [95 % CI]) | Met |", "|---|---|---|---|"]
    for label, key, scale, unit, published, (lo_ok, hi_ok) in ROWS:
        mean, lo, hi = out[key]
        met = "yes" if lo_ok <= mean <= hi_ok else "no"
        lines.append(
            f"| {label} | {published} | {mean * scale:.1f}{unit} [{lo * scale:.1f}, {hi * scale:.1f}] | {met} |"
        )
    return "\n".join(lines)


def drift_markdown(drift: dict[str, tuple[float, float, float]]) -> str:
    lines = ["| KPI | Change, last 12 against first 12 reported months (mean [95 % CI]) |", "|---|---|"]
    for key, (mean, lo, hi) in drift.items():
        lines.append(f"| `{key}` | {100 * mean:+.1f} % [{100 * lo:+.1f}, {100 * hi:+.1f}] |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replications", type=int, default=8)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--markdown", action="store_true", help="print the tables docs/MODEL.md quotes")
    ap.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help="scenario override")
    args = ap.parse_args()
    overrides = {}
    for item in args.set:
        path, _, value = item.partition("=")
        overrides[path] = yaml.safe_load(value)
    out, drift = calibrate(args.replications, args.workers, overrides)
    if args.json:
        print(json.dumps({"measures": out, "steady_state": drift}, indent=2))
        return
    if args.markdown:
        print(markdown(out))
        print()
        print(drift_markdown(drift))
        return
    print(f"Baseline, {args.replications} replications (seeds SeedSequence(2026, r)); mean [95 % CI] over them")
    targets = {key: (lo, hi, published) for _, key, _, _, published, (lo, hi) in ROWS}
    for key, (mean, lo, hi) in out.items():
        t = targets.get(key)
        flag = "" if t is None else ("  ok" if t[0] <= mean <= t[1] else "  MISS")
        rng = "" if t is None else f"  target {t[0]:g}-{t[1]:g}"
        print(f"  {key:32s} {mean:10.4g} [{lo:9.4g}, {hi:9.4g}]{rng}{flag}")
    print("Steady state: change from the first to the last 12 reported months")
    for key, (mean, lo, hi) in drift.items():
        print(f"  {key:32s} {100 * mean:+7.1f} % [{100 * lo:+6.1f}, {100 * hi:+6.1f}]")


if __name__ == "__main__":
    main()
