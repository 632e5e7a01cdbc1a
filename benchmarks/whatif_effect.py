"""A what-if's effect against the baseline, with common random numbers: the tables docs/MODEL.md quotes.

Usage::

    .venv/bin/python benchmarks/whatif_effect.py SCENARIO [--against baseline] [--replications 8]
        [--workers 2] [--seed 0] [--kpi NAME ...] [--set PATH=VALUE ...] [--from-steady-state]

Replication r of both arms runs with ``sim.seed_sequence(seed, r)`` (``experiments.replicate``),
so the arms share their random numbers replication by replication and the differences are
paired; the intervals are paired 95 % t-intervals over replications
(``experiments.replication.compare_headlines`` for headline KPIs; for any other KPI column, its mean
over the reported months per replication, through ``experiments.stats.diff_ci``). Prints a
Markdown table: the difference in the KPI's unit (points for shares and rates), the difference as
a percentage of the reference, and their intervals.

By default both arms run their own scenario from the first month (the long run of each programme);
``--from-steady-state`` warms both up on the reference, so the what-if takes effect at the first
reported month (a programme introduced today, the transition included).

``docs/MODEL.md`` S16a quotes ``benchmarks/whatif_effect.py speciality_tiering``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml  # noqa: E402

from experiments import replicate  # noqa: E402
from experiments.io import load_scenario  # noqa: E402
from experiments.stats import diff_ci  # noqa: E402

DEFAULT_KPIS = ("revenue_partner", "revenue_direct", "market_share", "win_rate", "incentive_spend",
                "operating_profit", "partners_exited", "conflicts_horizontal")
#: Headline KPIs that are shares or rates: their difference is quoted in points.
POINTS = {"market_share", "win_rate", "partner_revenue_share", "mdf_utilisation", "compliance_rate",
          "customer_retention", "partner_win_rate_enterprise", "collaborative_win_rate", "solo_win_rate",
          "revenue_specialised_share"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenario", help="the what-if (a name in scenarios/ or a path)")
    ap.add_argument("--against", default="baseline", help="the reference scenario (default baseline)")
    ap.add_argument("--replications", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kpi", action="append", help="headline KPI to show (repeatable; default a standard set)")
    ap.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                    help="override on both arms, e.g. a smaller market (repeatable)")
    ap.add_argument("--from-steady-state", action="store_true",
                    help="warm both arms up on the reference: the what-if starts at the first reported month")
    args = ap.parse_args(argv)
    ref = load_scenario(args.against)
    what_if = load_scenario(args.scenario)
    if args.set:
        overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
        ref, what_if = ref.with_overrides(overrides), what_if.with_overrides(overrides)
    kw = dict(replications=args.replications, workers=args.workers, seed=args.seed, frames=("kpis",),
              warmup=ref if args.from_steady_state else None)
    a = replicate(ref, label=args.against, **kw)
    b = replicate(what_if, label=args.scenario, **kw)
    table = a.compare(b).table
    kpis = args.kpi or [k for k in DEFAULT_KPIS if k in table.index]
    start = ", both warmed up on the reference" if args.from_steady_state else ""
    print(f"{args.scenario} against {args.against}: {args.replications} paired replications, seed {args.seed}"
          f"{start}, 95 % paired t-intervals")
    print()
    print("| KPI | reference | difference [95 % CI] | % of reference [95 % CI] |")
    print("|---|---|---|---|")
    for k in kpis:
        if k in table.index:
            row = table.loc[k]
            ref_mean = row.iloc[0]
        else:  # a KPI column that is not a headline: its monthly mean, per replication
            if k not in a.kpis.columns:
                raise SystemExit(f"--kpi {k}: not a KPI column; allowed: {', '.join(a.kpis.columns[2:])}")
            ma = a.kpis.groupby("replication")[k].mean()
            mb = b.kpis.groupby("replication")[k].mean()
            iv = diff_ci(ma.to_numpy(), mb.to_numpy(), paired=True)
            row = {"diff": iv.mean, "ci_low": iv.low, "ci_high": iv.high}
            ref_mean = float(ma.mean())
        pct = (f"{100 * row['diff'] / ref_mean:+.1f} % [{100 * row['ci_low'] / ref_mean:+.1f}, "
               f"{100 * row['ci_high'] / ref_mean:+.1f}]") if ref_mean else "-"
        if k in POINTS:
            diff = f"{100 * row['diff']:+.2f} pts [{100 * row['ci_low']:+.2f}, {100 * row['ci_high']:+.2f}]"
            ref_txt = f"{100 * ref_mean:.1f} %"
        else:
            diff = f"{row['diff']:+,.4g} [{row['ci_low']:+,.4g}, {row['ci_high']:+,.4g}]"
            ref_txt = f"{ref_mean:,.4g}"
        print(f"| `{k}` | {ref_txt} | {diff} | {pct} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
