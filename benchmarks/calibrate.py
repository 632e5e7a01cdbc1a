"""Check the baseline against the published figures it is calibrated to.

Usage: .venv/bin/python benchmarks/calibrate.py [--replications R]

Prints, for each target, the figure the baseline produces (mean and 95 % CI over
replications) and the published range.  docs/MODEL.md ("Calibration") quotes this
output.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from scipy import stats

import sim


def measures(r: sim.RunResult) -> dict[str, float]:
    k, p = r.kpis, r.partners
    last = p[p.month == p.month.max()]
    act = last[last.lifecycle.isin(["active", "improvement_plan"])]
    rev = np.sort(act.ttm_revenue.to_numpy())[::-1]
    n_top = max(1, int(round(0.2 * rev.size)))
    top_tier = r.scenario.tier_names[-1]
    return {
        "partner_revenue_share": float(k.revenue_partner.sum() / k.revenue_total.sum()),
        "top20_partner_revenue_share": float(rev[:n_top].sum() / rev.sum()),
        "top_tier_partner_share": float((act.tier == top_tier).mean()),
        "mdf_unclaimed_share": float(1.0 - k.mdf_utilisation.iloc[-12:].mean()),
        "mean_partner_relationship_years": float(1.0 / k.partner_churn.mean() / 12.0),
        "active_partners_end": float(k.active_partners.iloc[-1]),
        "partner_nps": float(k.partner_nps.mean()),
        "win_rate": float(k.win_rate.mean()),
        "customer_retention": float(k.customer_retention.mean()),
    }


TARGETS = {
    "partner_revenue_share": (
        "0.56-0.73",
        "Channelnomics 2025 (56 % partner-originated); Canalys (>70 % partner-delivered)",
    ),
    "top20_partner_revenue_share": (">= 0.80", "Pareto concentration of partner revenue"),
    "top_tier_partner_share": ("0.05-0.15", "ZINFI: top tier holds 5-15 % of partners"),
    "mdf_unclaimed_share": ("0.40-0.60", "ZINFI survey 2016: 40-60 % of MDF unclaimed"),
    "mean_partner_relationship_years": ("about 8", "mean partner relationship of about 8 years"),
}


ROWS = (
    (
        "Partner share of vendor revenue",
        "partner_revenue_share",
        100,
        "%",
        "56-73 % (Channelnomics 2025: 56 % partner-originated; Canalys: over 70 % partner-delivered)",
        (0.56, 0.73),
    ),
    (
        "Revenue concentration: share of TTM revenue from the top 20 % of active partners (last month)",
        "top20_partner_revenue_share",
        100,
        "%",
        "at least 80 %",
        (0.80, 1.0),
    ),
    (
        "Top tier share of active partners (last month)",
        "top_tier_partner_share",
        100,
        "%",
        "5-15 % (ZINFI)",
        (0.05, 0.15),
    ),
    (
        "MDF unclaimed: 1 - `mdf_utilisation` over the last 12 months",
        "mdf_unclaimed_share",
        100,
        "%",
        "40-60 % (ZINFI survey 2016)",
        (0.40, 0.60),
    ),
    (
        "Mean partner relationship: 1 / (12 x mean monthly `partner_churn`)",
        "mean_partner_relationship_years",
        1,
        " years",
        "about 8 years",
        (6.4, 9.6),
    ),
)


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replications", type=int, default=8)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--markdown", action="store_true", help="print the table docs/MODEL.md quotes")
    args = ap.parse_args()
    rows = [measures(sim.run(sim.Scenario(), seed=sim.seed_sequence(2026, r))) for r in range(args.replications)]
    out = {}
    for key in rows[0]:
        v = np.array([row[key] for row in rows])
        half = stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else 0.0
        out[key] = (float(v.mean()), float(v.mean() - half), float(v.mean() + half))
    if args.json:
        print(json.dumps(out, indent=2))
        return
    if args.markdown:
        print(markdown(out))
        return
    print(f"Baseline, {args.replications} replications (seeds SeedSequence(2026, r)); mean [95 % CI]")
    print(f"{'measure':34s} {'model':>28s}  {'target':>10s}  source")
    for key, (mean, lo, hi) in out.items():
        target, source = TARGETS.get(key, ("-", "(reported, not calibrated)"))
        print(f"{key:34s} {mean:10.3f} [{lo:7.3f}, {hi:7.3f}]  {target:>10s}  {source}")


if __name__ == "__main__":
    main()
