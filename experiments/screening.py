"""Which unsourced assumptions decide the answer: the factors of the Morris screening.

Every numeric scenario field whose basis is *assumption* (``sim.fields``) is a factor,
varied from half to one and a half times its default (within the field's bounds;
integers rounded), except those whose value is tied to others by a constraint the
screening would break (shares that must sum to 1, the ordering of tier thresholds,
weights that are normalised), those of policies off in the baseline (early intervention,
speciality tiering, collaboration) and
those at 0 (a relative range is empty).  At every
design point three what-ifs run as paired arms (``experiments.design.Experiment.arms``):
a 20 % cut of every incentive lever, twice the rebate and twice the MDF, each
warmed up on the point's scenario and taking effect at the first reported month, so
the outputs ``gross_profit:<arm>`` are the effects whose sensitivity is screened.

``channelsim sweep experiments/assumption_screening.yaml`` runs it; ``python -m
experiments.screening --write`` regenerates the file from the schema (a test keeps the
two in step); ``channelsim report`` prints the Morris indices of each effect.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import yaml

import sim
from sim.fields import scenario_fields

HERE = Path(__file__).resolve().parent
FILE = HERE / "assumption_screening.yaml"

ARMS: dict[str, dict[str, Any]] = {
    "incentive_cut": {
        "incentives.discount_scale": 0.8,
        "incentives.rebate.scale": 0.8,
        "incentives.mdf.scale": 0.8,
        "incentives.training.scale": 0.8,
        "incentives.spiff.amount": 400.0,
    },
    "rebate_boost": {"incentives.rebate.scale": 2.0},
    "mdf_boost": {"incentives.mdf.scale": 2.0},
}
EXCLUDED_PREFIXES = (
    "market.segment_shares.",  # sum to 1
    "partners.recruitment.weights.",  # normalised: only their ratios matter
    "conflict.capability_weights.",  # normalised
    "partners.intervention.",  # early intervention is off in the baseline: its assumptions cannot move the effects
    "tiering.specialisation.",  # speciality tiering is off in the baseline, likewise
    "partners.collaboration.",  # so is the collaboration programme
)
EXCLUDED_SUFFIXES = (".share", ".min_ttm_revenue")  # type shares sum to 1; tier thresholds are ordered
SCALE = 0.4  # the screening runs a market of 40 % of the baseline, so that its ~3,000 runs take minutes


def overrides(scenario: sim.Scenario | None = None) -> dict[str, Any]:
    """The smaller market of the screening: accounts, territories, partners, direct sellers, prospects scaled."""
    sc = scenario if scenario is not None else sim.Scenario()
    out: dict[str, Any] = {
        "market.n_accounts": int(sc.market.n_accounts * SCALE),
        "market.n_territories": max(1, int(round(sc.market.n_territories * SCALE))),
        "partners.n_initial": int(sc.partners.n_initial * SCALE),
        "direct.sellers": round(sc.direct.sellers * SCALE, 6),
        "time.months": 24,
    }
    for name, src in sc.partners.recruitment.sources.items():
        out[f"partners.recruitment.sources.{name}.rate"] = round(src.rate * SCALE, 6)
    return out


def factors(scenario: sim.Scenario | None = None) -> dict[str, dict[str, Any]]:
    """The screening's factors: path -> ``{low, high[, integer]}``."""
    out: dict[str, dict[str, Any]] = {}
    for row in scenario_fields(scenario):
        v = row.default
        if row.basis != "assumption" or isinstance(v, bool) or not isinstance(v, int | float) or v == 0:
            continue
        if row.path.startswith(EXCLUDED_PREFIXES) or row.path.endswith(EXCLUDED_SUFFIXES):
            continue
        lo, hi = 0.5 * v, 1.5 * v
        if row.lower is not None:
            lo = max(lo, row.lower)
        if row.upper is not None:
            hi = min(hi, row.upper)
        spec: dict[str, Any] = {}
        if isinstance(v, int):
            lo, hi = max(math.floor(lo), 0), math.ceil(hi)
            spec["integer"] = True
        if not hi > lo:
            continue
        if isinstance(v, int):
            spec = {"low": lo, "high": hi, **spec}
        else:
            spec = {"low": round(float(lo), 12), "high": round(float(hi), 12)}
        out[row.path] = spec
    return out


def experiment_text(scenario: sim.Scenario | None = None, trajectories: int = 4) -> str:
    """The experiment file, as YAML."""
    f = factors(scenario)
    doc = {
        "name": "assumption_screening",
        "description": (
            "Morris screening of every unsourced assumption (basis: assumption, half to one and a half times its "
            "default) on the gross-profit effects of a 20 % incentive cut, twice the rebate and twice the MDF."
        ),
        "base": "baseline",
        "overrides": overrides(scenario),
        "factors": f,
        "design": {"kind": "morris", "n": trajectories, "levels": 4},
        "replications": 1,
        "seed": 20261201,
        "streams": "common",
        "arms": ARMS,
        "outputs": {"summary": ["gross_profit", "revenue_partner", "partners_exited"]},
    }
    head = (
        "# Which unsourced assumptions decide the answer? (issue 11, docs/MODEL.md \"Sensitivity screening\")\n"
        f"# Generated by `python -m experiments.screening --write` from the schema: {len(f)} factors,\n"
        f"# {trajectories} Morris trajectories = {trajectories * (len(f) + 1)} design points, each run with 3 paired\n"
        "# arms (4 runs a point). Run:  channelsim sweep experiments/assumption_screening.yaml --out runs/screening\n"
        "#                              channelsim report runs/screening\n"
    )
    return head + yaml.safe_dump(doc, sort_keys=False, width=120)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", action="store_true", help=f"write {FILE.relative_to(HERE.parent)}")
    ap.add_argument("--trajectories", type=int, default=4)
    args = ap.parse_args(argv)
    text = experiment_text(trajectories=args.trajectories)
    if args.write:
        FILE.write_text(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
