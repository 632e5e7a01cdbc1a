"""Each lever's effect measured in the simulator, next to the range the published meta-analyses report.

Usage::

    .venv/bin/python benchmarks/elasticities.py [--replications R] [--workers W] [--all] [--markdown]
        [--set PATH=VALUE ...]

Paired finite differences with common random numbers (``experiments.elasticity``): both
arms warm up on the baseline with the same seed and the change (+-h) takes effect at the
first reported month; the elasticity is the ratio of the mean log changes of outcome and
input over the 36 reported months, with its 95 % delta-method interval.  ``--all`` adds
the lever responses that have no published range (rebates, discounts, SPIFFs, training,
audits).  ``--markdown`` prints the table docs/MODEL.md quotes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sim  # noqa: E402
from experiments.elasticity import LEVERS, PUBLISHED, measure  # noqa: E402


def table(results, markdown: bool) -> str:
    lines = []
    if markdown:
        lines += ["| Lever -> outcome | Step | Simulated elasticity [95 % CI] | Published range | Source | In range |",
                  "|---|---|---|---|---|---|"]
    for e in results.values():
        lv = e.lever
        rng = f"{lv.published[0]:g} to {lv.published[1]:g}" if lv.published else "-"
        ok = {True: "yes", False: "no", None: "-"}[e.in_range]
        if markdown:
            lines.append(f"| {lv.label} | +-{100 * lv.h:.0f} % | {e.value:+.3f} [{e.low:+.3f}, {e.high:+.3f}] "
                         f"| {rng} | {lv.source or '-'} | {ok} |")
        else:
            lines.append(f"{lv.label:66s} {e.value:+7.3f} [{e.low:+7.3f}, {e.high:+7.3f}]  published {rng:14s} {ok}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replications", type=int, default=12)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--all", action="store_true", help="also the lever responses with no published range")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--set", action="append", default=[], metavar="PATH=VALUE")
    args = ap.parse_args()
    overrides = {}
    for item in args.set:
        path, _, value = item.partition("=")
        overrides[path] = yaml.safe_load(value)
    scenario = sim.Scenario().with_overrides(overrides) if overrides else sim.Scenario()
    levers = list(LEVERS) if args.all else list(PUBLISHED)
    results = measure(scenario, levers, args.replications, workers=args.workers)
    if not args.markdown:
        print(f"Baseline, {args.replications} paired replications a lever (seeds seed_sequence(2026, 303, r)); "
              "the change takes effect at the first of the 36 reported months")
    print(table(results, args.markdown))


if __name__ == "__main__":
    main()
