"""``channelsim optimise``: allocate an incentive budget across tier x lever cells.

Registered on the main app by :func:`register` (called from :mod:`channelsim.cli`).
Bad input (scenario, cells, options) or infeasible constraints print a message
to stderr, exit with code 2 and write nothing.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

EXIT_BAD_INPUT = 2
OUTPUT_FILES = ("allocation.csv", "response_curves.parquet", "estimation.json", "validation.csv", "rounds.csv",
                "report.html", "shapes.csv", "binding.csv", "summary.json", "recommended.yaml",
                "frontier.csv")  # frontier.csv only with --budgets
class Objective(StrEnum):
    """What ``--objective`` maximises."""

    profit = "profit"
    revenue = "revenue"
    roi = "roi"


class TierOrder(StrEnum):
    """``--tier-order``: benefits never lower in a higher tier (rate, per-partner spend per lever or in total)."""

    rate = "rate"
    lever = "lever"
    total = "total"
    none = "none"


class Estimation(StrEnum):
    """``--estimation``: how the response curves are estimated."""

    cells = "cells"
    joint = "joint"


class Fit(StrEnum):
    """``--fit``: how response curves are fitted to the simulated levels."""

    ls = "ls"
    envelope = "envelope"


ROBUST_HELP = ("cvar:ALPHA[:WEIGHT]: maximise (1-WEIGHT) x mean + WEIGHT x CVaR of the replication scenarios' "
               "profits; ALPHA is the confidence level (Rockafellar-Uryasev), in (0, 1): cvar:0.9 is the mean of "
               "the worst 10 %; WEIGHT in [0, 1], default 0.5")


def _complete_scenario(incomplete: str) -> list[str]:
    """Shell completion of the scenario argument (``channelsim.cli.complete_scenario``, imported when asked)."""
    from .cli import complete_scenario

    return complete_scenario(incomplete)


def parse_budgets(text: str) -> tuple[float, ...]:
    """``--budgets 2e7,4e7,6e7`` -> the budgets, each a non-negative number, at least two, no repeats."""
    try:
        vals = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ValueError(f"--budgets {text!r}: comma-separated numbers in USD per year, e.g. 2e7,4e7,6e7") from None
    if len(vals) < 2 or any(not math.isfinite(v) or v < 0 for v in vals) or len(set(vals)) != len(vals):
        raise ValueError(f"--budgets {text!r}: at least two different non-negative numbers (USD per year), "
                         "e.g. 2e7,4e7,6e7")
    return tuple(sorted(vals))


def _fail(message: str) -> NoReturn:
    sys.stderr.write(message.rstrip("\n") + "\n")
    raise typer.Exit(EXIT_BAD_INPUT)


def parse_robust(text: str | None):
    """``cvar:ALPHA`` or ``cvar:ALPHA:WEIGHT`` -> :class:`optimise.lp.Robust` (None for None).

    ALPHA is the confidence level in (0, 1): ``cvar:0.9`` averages the worst 10 % of scenario profits.
    """
    from optimise.lp import Robust

    if text is None:
        return None
    parts = text.split(":")
    if parts[0] != "cvar" or len(parts) not in (2, 3):
        raise ValueError(f"--robust {text!r}: expected cvar:ALPHA or cvar:ALPHA:WEIGHT, e.g. cvar:0.9 (ALPHA is the "
                         "confidence level: cvar:0.9 is the mean of the worst 10 % of scenario profits)")
    try:
        alpha = float(parts[1])
        weight = float(parts[2]) if len(parts) == 3 else 0.5
    except ValueError:
        raise ValueError(f"--robust {text!r}: ALPHA and WEIGHT must be numbers, e.g. cvar:0.9:0.5") from None
    if not (math.isfinite(alpha) and 0 < alpha < 1):
        raise ValueError(f"--robust {text!r}: ALPHA {parts[1]} is not allowed; ALPHA is the confidence level, a "
                         "number strictly between 0 and 1 (cvar:0.9 is the mean of the worst 10 % of scenario "
                         "profits, cvar:0.95 of the worst 5 %)")
    if not (math.isfinite(weight) and 0 <= weight <= 1):
        raise ValueError(f"--robust {text!r}: WEIGHT {parts[2]} is not allowed; WEIGHT is the weight of the CVaR "
                         "against the mean, a number in [0, 1] (default 0.5)")
    return Robust(alpha=alpha, weight=weight)


def parse_shares(items: list[str]) -> dict[str, tuple[float | None, float | None]]:
    """``["mdf<=0.4", "rebate>=0.1"]`` -> ``{"mdf": (None, 0.4), "rebate": (0.1, None)}``."""
    out: dict[str, list[float | None]] = {}
    for it in items:
        for op, idx in (("<=", 1), (">=", 0)):
            if op in it:
                lever, val = it.split(op, 1)
                try:
                    v = float(val)
                except ValueError:
                    raise ValueError(f"--lever-share {it!r}: the share must be a number in [0, 1]") from None
                if not 0 <= v <= 1:
                    raise ValueError(f"--lever-share {it!r}: the share must be in [0, 1]")
                out.setdefault(lever.strip(), [None, None])[idx] = v
                break
        else:
            raise ValueError(f"--lever-share {it!r}: expected LEVER<=SHARE or LEVER>=SHARE, e.g. mdf<=0.4")
    return {k: (v[0], v[1]) for k, v in out.items()}


def parse_bounds(items: list[str], what: str) -> dict[str, tuple[float | None, float | None]]:
    """``["gold:rebate=1000:50000", "silver=:2e5"]`` -> ``{key: (lo, hi)}`` (an empty side is no bound)."""
    out = {}
    for it in items:
        key, sep, rng = it.partition("=")
        lo, sep2, hi = rng.partition(":")
        if not sep or not sep2:
            raise ValueError(f"{what} {it!r}: expected KEY=LO:HI with either side empty, e.g. gold:rebate=:50000")
        try:
            out[key.strip().replace(":", "/")] = (float(lo) if lo.strip() else None, float(hi) if hi.strip() else None)
        except ValueError:
            raise ValueError(f"{what} {it!r}: LO and HI must be numbers") from None
    return out


def _clean(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _write_outputs(folder: Path, res, info: dict[str, Any], *, base_file: Path, file_scenario,
                   estimation: dict[str, Any], frontier_frame=None) -> list[str]:
    """Write every output file into the staging ``folder``; return their names."""
    import pandas as pd

    import sim
    from experiments.io import atomic_write_text, load_scenario
    from optimise import store

    from .report import optimise_report

    written = []
    res.allocation_frame().to_csv(folder / "allocation.csv", index=False)
    res.response.points.to_parquet(folder / store.POINTS_FILE, index=False)
    rec = store.estimation_record(res.response, res.scenario, points_sha256=store.sha256_file(
        folder / store.POINTS_FILE), version=sim.__version__, **estimation)
    written += ["allocation.csv", store.POINTS_FILE]
    if res.rules_response is not None:  # a later round's curves: keep the first round's for the simple rules
        res.rules_response.points.to_parquet(folder / store.RULES_POINTS_FILE, index=False)
        first = {**estimation, "round_": 0,
                 "radius": float(res.rounds["radius"].iloc[0]) if len(res.rounds) else None}
        rec["rules"] = {**store.estimation_record(res.rules_response, res.scenario, points_sha256=store.sha256_file(
            folder / store.RULES_POINTS_FILE), version=sim.__version__, **first),
            "points_file": store.RULES_POINTS_FILE}
        written.append(store.RULES_POINTS_FILE)
    (folder / store.ESTIMATION_FILE).write_text(json.dumps(rec, indent=1, allow_nan=True))
    written.append(store.ESTIMATION_FILE)
    if res.validated:
        res.validation.to_csv(folder / "validation.csv", index=False)
        written.append("validation.csv")
    if frontier_frame is not None:
        frontier_frame.to_csv(folder / "frontier.csv", index=False)
        written.append("frontier.csv")
        info = {**info, "frontier": frontier_frame.to_dict(orient="records")}
    res.rounds.to_csv(folder / "rounds.csv", index=False)
    res.response.shapes.to_csv(folder / "shapes.csv", index=False)
    pd.DataFrame([{"name": b.name, "group": b.group, "statement": b.statement, "sense": b.sense, "dual": b.dual,
                   "relax_value": b.relax_value} for b in res.allocation.binding],
                 columns=["name", "group", "statement", "sense", "dual", "relax_value"]).to_csv(
        folder / "binding.csv", index=False)
    written += ["rounds.csv", "shapes.csv", "binding.csv"]

    # the recommendation as a scenario file, checked to load back as the programme validation simulated
    a = res.allocation
    rec_hash = store.scenario_hash(res.recommendation)
    chosen = "" if res.recommended == "optimised" else (
        f" The {res.recommended} programme, which beat the optimised one in validation.")
    text = store.recommended_yaml(
        base_file, file_scenario, res.recommendation, name=f"{res.scenario.name}_{res.recommended}",
        description=(f"The programme recommended by channelsim optimise for {info['scenario']} (objective "
                     f"{a.objective}, budget {a.budget:,.0f} USD/yr over {', '.join(info['cells'])}); "
                     + ("validated by simulation." if res.validated else "not validated by simulation.") + chosen),
        run={"written_by": "channelsim optimise", "channelsim": sim.__version__, "date": info["date"],
             "objective": a.objective, "budget": a.budget, "validated": res.validated, "seed": info["seed"],
             "scenario_hash": rec_hash},
    )
    atomic_write_text(folder / "recommended.yaml", text)
    again = load_scenario(folder / "recommended.yaml")
    if store.scenario_hash(again) != rec_hash:
        raise RuntimeError("recommended.yaml does not load back as the optimised programme (an internal error)")
    written.append("recommended.yaml")

    summary = {
        **info, "objective": a.objective, "budget": a.budget, "total_spend": a.total_spend,
        "expected_uplift": a.expected_uplift, "marginal_roi_left": _clean(a.marginal_roi_left),
        "marginal_roi_right": _clean(a.marginal_roi_right), "budget_dual": _clean(a.budget_dual),
        "dual_check": a.dual_check, "roi": _clean(a.roi), "cvar": _clean(a.cvar), "accepted_any": res.accepted_any,
        "validated": res.validated, "curves": res.curves_source, "scenario_hash": store.scenario_hash(res.scenario),
        "recommended": res.recommended, "recommended_scenario_hash": rec_hash, "overrides": res.overrides,
        "notes": list(res.notes) + list(a.notes), "seconds": res.seconds,
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    (folder / "report.html").write_text(optimise_report(res, info))
    written += ["summary.json", "report.html"]
    return written


def _stage(out: Path, force: bool) -> Path:
    """Check ``out``, remove stale staging folders beside it and create this command's (before any simulation)."""
    from .cli import InputError, _stage_prefix, check_out, clean_stale_stages

    try:
        out = check_out(out, force)
    except InputError as err:
        raise ValueError(str(err)) from None
    clean_stale_stages(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=out.parent, prefix=_stage_prefix(out, "tmp")))
    except OSError as err:
        raise ValueError(f"--out {out}: cannot create a folder there ({err.strerror or err})") from None


def _publish(tmp: Path, out: Path) -> None:
    from .cli import _publish as publish

    os.chmod(tmp, 0o755)
    publish(tmp, Path(os.path.abspath(out)))


def _stderr_is_tty() -> bool:
    return sys.stderr.isatty()


def _bars(label: str):
    """A progress function for one phase: the tqdm bar of ``channelsim run`` (rate and ETA), made on first use."""
    from experiments.replication import ProgressBar

    state: dict[str, Any] = {}

    def report(done: int, total: int) -> None:
        bar = state.get("bar")
        if bar is None:
            bar = state["bar"] = ProgressBar(total, label)
        bar(done, total)
        if done >= total:
            bar.close()

    return report


def _num(x: float) -> str:
    """A number as one would type it: ``5000000`` rather than ``5e+06``, ``0.25`` as is."""
    return str(int(x)) if math.isfinite(x) and x == int(x) and abs(x) < 1e15 else repr(x)


def _options(*, budget, min_spend, min_roi, objective, robust, max_total_change, cells, cell_bound, tier_bound,
             lever_bound, lever_share) -> dict[str, str]:
    """Constraint group -> the option that set it, as typed (for messages)."""
    out = {"budget": f"--budget {_num(budget)}", "objective": f"--objective {objective}",
           "cells": f"--cells {cells}" if cells else "the default cells (every tier x rebate, mdf, training, discount)"}
    if min_spend is not None:
        out["min_spend"] = f"--min-spend {_num(min_spend)}"
    if min_roi is not None:
        out["min_roi"] = f"--min-roi {_num(min_roi)}"
    if robust is not None:
        out["robust"] = f"--robust {robust}"
    if max_total_change is not None:
        out["max_total_change"] = f"--max-total-change {_num(max_total_change)}"
    for items, option, group in ((cell_bound, "--cell-bound", "cell_bounds"), (tier_bound, "--tier-bound",
                                 "tier_bounds"), (lever_bound, "--lever-bound", "lever_bounds")):
        for it in items or []:
            key = next(iter(parse_bounds([it], option)))
            out[f"{group}[{key}]"] = f"{option} {it}"
    for it in lever_share or []:
        key = next(iter(parse_shares([it])))
        g = f"lever_share[{key}]"
        out[g] = f"{out[g]} --lever-share {it}" if g in out else f"--lever-share {it}"
    return out


def _conflict_message(found, options: dict[str, str]) -> str:
    parts = []
    for i, c in enumerate(found, 1):
        names = " and ".join(options.get(g, g) for g in c.groups)
        parts.append(f"({i}) {names}: {c.reason}")
    return ("error: these constraints cannot all hold, found before any simulation: " + "; ".join(parts)
            + ". Relax or drop one constraint of each group; nothing was simulated or written.")


def optimise_cmd(
    scenario: Annotated[str, typer.Argument(help="scenario file or name (as for `channelsim run`)",
                                            autocompletion=_complete_scenario)],
    budget: Annotated[float, typer.Option("--budget", help="USD per year the cells may spend together")],
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder (new or empty)")],
    budgets: Annotated[str | None, typer.Option("--budgets", help="B1,B2,...: also the budget frontier, validated "
                                                "net profit against budget on the final curves (frontier.csv, "
                                                "its plot in the report)")] = None,
    cells: Annotated[str | None, typer.Option("--cells", help="TIER:LEVER,... ('*' for all; tier 'all' for "
                                              "programme-wide); default: every tier x rebate, mdf, training, "
                                              "discount (with --curves: the stored cells)")] = None,
    curves: Annotated[Path | None, typer.Option("--curves", help="re-solve from the curves stored in the --out "
                                                "folder of an earlier run (no estimation simulation); refused when "
                                                "they were estimated for another scenario, horizon or cells")] = None,
    validate: Annotated[bool, typer.Option("--validate/--no-validate", help="validate the answer by simulation "
                                           "(--no-validate: solve only, no validation simulation)")] = True,
    hold_flat: Annotated[bool, typer.Option("--hold-flat", help="keep cells whose curve cannot be told from flat "
                                            "(no level's 95 % CI excludes zero) at today's spend")] = False,
    budget_cap: Annotated[bool, typer.Option("--budget-cap/--no-budget-cap", help="validate every programme under "
                                             "the budget (incentives.budget = --budget plus today's spend outside "
                                             "the cells), so none is compared while spending more")] = True,
    stability: Annotated[bool, typer.Option("--stability/--no-stability", help="estimate the first round again "
                                            "with seed + 1 and validate that programme too: how much of the answer "
                                            "is estimation noise (not with --curves or --no-validate)")] = True,
    objective: Annotated[Objective, typer.Option("--objective", help="what to maximise")] = Objective.profit,
    min_roi: Annotated[float | None, typer.Option("--min-roi", help="least programme ROI (profit, revenue)")] = None,
    min_spend: Annotated[float | None, typer.Option("--min-spend", help="least total spend (useful with roi)")] = None,
    robust: Annotated[str | None, typer.Option("--robust", help=ROBUST_HELP)] = None,
    lever_share: Annotated[list[str] | None, typer.Option("--lever-share", help="LEVER<=SHARE or LEVER>=SHARE, "
                                                          "repeatable")] = None,
    cell_bound: Annotated[list[str] | None, typer.Option("--cell-bound", help="TIER:LEVER=LO:HI, repeatable")] = None,
    tier_bound: Annotated[list[str] | None, typer.Option("--tier-bound", help="TIER=LO:HI, repeatable")] = None,
    lever_bound: Annotated[list[str] | None, typer.Option("--lever-bound", help="LEVER=LO:HI, repeatable")] = None,
    tier_order: Annotated[TierOrder | None, typer.Option(
        "--tier-order", help="benefits never lower in a higher tier: rate (each lever's rate; the default), lever or "
                             "total (per-partner spend; the default with --objective roi), or none")] = None,
    max_total_change: Annotated[float | None, typer.Option("--max-total-change", help="sum of |spend change| "
                                                           "(USD/yr)")] = None,
    rounds: Annotated[int | None, typer.Option("--rounds", help="the most trust-region rounds: estimate around the "
                                               "programme, solve, validate, move (default 3; 1 with --curves or "
                                               "--no-validate)")] = None,
    radius: Annotated[float | None, typer.Option("--radius", help="trust region: share of each cell's scale "
                                                 "(default: the whole simulated range)")] = None,
    levels: Annotated[str | None, typer.Option("--levels", help="spend levels, multipliers of the current rate "
                                               "(default 0,0.5,1,1.5,2; with --curves: the stored ones)")] = None,
    replications: Annotated[int | None, typer.Option("--replications", "-r", help="replications per level (default 8; "
                                                     "with --curves: the stored number)")] = None,
    max_replications: Annotated[int | None, typer.Option(
        "--max-replications", help="noise-aware estimation (--estimation cells): a cell whose levels' net-profit "
                                   "CI still contains zero and is wider than --roi-precision x the change of spend "
                                   "gets more replications, doubling, up to this many (default: --replications, "
                                   "i.e. off)")] = None,
    roi_precision: Annotated[float, typer.Option(
        "--roi-precision", help="with --max-replications: a level is decided when its net-profit CI is within "
                                "+- this share of its change of spend (default 0.1)")] = 0.1,
    validation_replications: Annotated[int | None, typer.Option("--validation-replications",
                                                                help="default: --replications")] = None,
    estimation_: Annotated[Estimation, typer.Option(
        "--estimation", help="cells: one cell at a time, the others at today's levels (--replications per level); "
                             "joint: every cell at once in a balanced design (--design-points x "
                             "--design-replications runs), with interaction tests")] = Estimation.cells,
    design_points: Annotated[int | None, typer.Option("--design-points", help="points of the joint design (default: "
                                                      "twice the number of level effects, at least 24)")] = None,
    design_replications: Annotated[int, typer.Option("--design-replications", help="replications of each joint "
                                                     "design point (default 2)")] = 2,
    fit: Annotated[Fit | None, typer.Option("--fit", help="ls: least-squares concave fit (default); envelope: the "
                                         "concave envelope of the simulated points")] = None,
    seed: Annotated[int | None, typer.Option("--seed", "-s", help="root seed (default 0; with --curves: the stored "
                                             "one, which only seeds the validation)")] = None,
    workers: Annotated[int | None, typer.Option("--workers", "-w", help="processes (default: up to 2)")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="path=value scenario override, repeatable")] = None,
    months: Annotated[int | None, typer.Option("--months", help="reported months")] = None,
    force: Annotated[bool, typer.Option("--force", help="replace a non-empty --out")] = False,
) -> None:
    """Allocate an incentive budget across tiers and levers against simulated ROI; validate by simulation."""
    import time

    import sim
    from experiments.io import load_scenario, resolve_scenario_path
    from optimise.feasibility import conflicts
    from optimise.loop import optimise, resolve
    from optimise.response import DEFAULT_MULTIPLIERS, parse_cells
    from optimise.solve import InfeasibleAllocation
    from optimise.store import CurvesError, check_stored, read_estimation
    from sim.errors import ScenarioError
    from sim.overrides import apply_overrides

    from .cli import parse_sets

    t0 = time.perf_counter()
    objective = Objective(objective).value
    tier_order = None if tier_order is None else TierOrder(tier_order).value
    fit = None if fit is None else Fit(fit).value
    stored = None
    try:
        base_file = resolve_scenario_path(scenario)
        file_sc = load_scenario(base_file)
        sc = file_sc
        overrides = parse_sets(set_ or [])
        if months is not None:
            overrides["time.months"] = months
        if overrides:
            sc = apply_overrides(sc, overrides, source="--set", strict=True)
        if objective not in ("profit", "revenue", "roi"):
            raise ValueError(f"--objective {objective!r}: allowed: profit, revenue, roi")
        if tier_order is None:
            tier_order = "lever" if objective == "roi" else "rate"
        if tier_order not in ("rate", "lever", "total", "none"):
            raise ValueError(f"--tier-order {tier_order!r}: allowed: rate, lever, total, none")
        if tier_order == "rate" and objective == "roi":
            raise ValueError("--tier-order rate is not available with --objective roi (the ROI objective's "
                             "Charnes-Cooper form cannot keep each cell's spend levels in order); use --tier-order "
                             "lever or total")
        if budget < 0 or not math.isfinite(budget):
            raise ValueError(f"--budget {budget}: a non-negative number (USD per year)")
        frontier_budgets = parse_budgets(budgets) if budgets is not None else None
        if frontier_budgets is not None and not validate:
            raise ValueError("--budgets with --no-validate: the frontier is validated net profit, which needs "
                             "simulation; drop one of the two")
        if replications is not None and replications < 2:
            raise ValueError("--replications: at least 2")
        if max_replications is not None and max_replications < 2:
            raise ValueError("--max-replications: at least 2")
        if not 0 < roi_precision <= 10:
            raise ValueError(f"--roi-precision: a number in (0, 10], got {roi_precision:g}")
        if max_replications is not None and estimation_ == Estimation.joint:
            raise ValueError("--max-replications: only with --estimation cells (the joint design has "
                             "--design-replications)")
        if validation_replications is not None and validation_replications < 2:
            raise ValueError("--validation-replications: at least 2")
        estimation_ = Estimation(estimation_).value
        if design_replications < 2:
            raise ValueError("--design-replications: at least 2 (the lack-of-fit test needs replicated points)")
        if design_points is not None and design_points < 2:
            raise ValueError(f"--design-points {design_points}: at least 2 (and more than the level effects)")
        if estimation_ == "cells" and design_points is not None:
            raise ValueError("--design-points is for --estimation joint")
        if rounds is not None and rounds < 1:
            raise ValueError("--rounds: at least 1")
        default_rounds = rounds is None
        rounds = rounds if rounds is not None else (3 if validate and curves is None else 1)
        if fit is not None and fit not in ("ls", "envelope"):
            raise ValueError(f"--fit {fit!r}: allowed: ls, envelope")
        if radius is not None and not (math.isfinite(radius) and radius > 0):
            raise ValueError(f"--radius {radius}: a positive share of each cell's scale")
        mults = None
        if levels is not None:
            try:
                mults = tuple(float(x) for x in levels.split(","))
            except ValueError:
                raise ValueError(f"--levels {levels!r}: comma-separated numbers, e.g. 0,0.5,1,1.5,2") from None
            if any(not math.isfinite(m) or m < 0 for m in mults) or len(mults) < 2:
                raise ValueError(f"--levels {levels!r}: at least two non-negative multipliers")
        asked_cells = parse_cells(cells, sc) if cells is not None else None
        if curves is not None:
            if max_replications is not None:
                raise ValueError("--max-replications with --curves: a re-solve from stored curves runs no estimation; "
                                 "leave --max-replications out")
            if not default_rounds and rounds != 1:
                raise ValueError(f"--rounds {rounds} with --curves: a re-solve from stored curves is one solve (trust-"
                                 "region rounds estimate new curves each round); leave --rounds out")
            stored = read_estimation(curves)
            check_stored(stored, sc, cells=asked_cells, levels=mults, replications=replications, fit=fit)
            if tier_order == "rate" and any(c.rates is None for c in stored.response.curves if c.tier != "all"):
                raise ValueError(f"--curves {curves}: these curves were stored without the cells' rates at each "
                                 "level, which --tier-order rate (the default) needs; estimate again without "
                                 "--curves, or pass --tier-order lever")
            cell_list = stored.cells
            mults = tuple(stored.record["levels"])
            replications = int(stored.record["replications"])
            fit = str(stored.record["fit"])
            seed = int(stored.record["seed"]) if seed is None else seed
            # the trust region the stored round was solved in, so the same constraints give the same answer
            radius = stored.record.get("radius") if radius is None else radius
        else:
            if not validate and not default_rounds and rounds != 1:
                raise ValueError(f"--rounds {rounds} with --no-validate: a trust-region round is accepted or rejected "
                                 "by validating it; leave --rounds out")
            cell_list = asked_cells if asked_cells is not None else parse_cells(None, sc)
            mults = mults or DEFAULT_MULTIPLIERS
            replications = replications or 8
            fit = fit or "ls"
            seed = 0 if seed is None else seed
        if seed < 0:
            raise ValueError(f"--seed {seed}: a non-negative integer")
        rb = parse_robust(robust)
        shares = parse_shares(lever_share or [])
        cb = parse_bounds(cell_bound or [], "--cell-bound")
        tb = parse_bounds(tier_bound or [], "--tier-bound")
        lb = parse_bounds(lever_bound or [], "--lever-bound")
        found = conflicts(cell_list, budget, objective=objective, min_roi=min_roi, min_spend=min_spend, robust=rb,
                          cell_bounds=cb, tier_bounds=tb, lever_bounds=lb, lever_shares=shares,
                          max_total_change=max_total_change)
        opts = _options(budget=budget, min_spend=min_spend, min_roi=min_roi, objective=objective, robust=robust,
                        max_total_change=max_total_change, cells=cells or (
                            ",".join(f"{t}:{lv}" for t, lv in cell_list) if stored is not None else None),
                        cell_bound=cell_bound, tier_bound=tier_bound, lever_bound=lever_bound, lever_share=lever_share)
        if found:
            _fail(_conflict_message(found, opts))
        tmp = _stage(out, force)
    except (ScenarioError, CurvesError, ValueError, FileNotFoundError) as err:
        _fail(f"error: {err}")

    def progress(msg: str) -> None:
        sys.stderr.write(msg + "\n")

    run_progress = _bars if _stderr_is_tty() else None
    vr = validation_replications or replications
    constraints = dict(objective=objective, min_roi=min_roi, min_spend=min_spend, robust=rb,
                       tier_order=None if tier_order == "none" else tier_order, lever_shares=shares, cell_bounds=cb,
                       tier_bounds=tb, lever_bounds=lb, max_total_change=max_total_change)
    try:
        if stored is not None:
            progress(f"re-solving from the curves stored in {curves} (no estimation)")
            res = resolve(sc, stored.response, budget, **constraints, radius=radius, validation_replications=vr,
                          seed=seed, workers=workers, validate_result=validate, budget_cap=budget_cap,
                          hold_flat=hold_flat, original_spends=stored.original_spends, rules_response=stored.rules,
                          progress=progress, run_progress=run_progress)
            estimation = {"replications": replications, "seed": int(stored.record["seed"]), "fit": fit,
                          "round_": int(stored.record["round"]), "original_spends": stored.original_spends,
                          "radius": radius}
        else:
            res = optimise(sc, cell_list, budget, **constraints, rounds=rounds, radius=radius, multipliers=mults,
                           replications=replications, max_replications=max_replications,
                           roi_precision=roi_precision, validation_replications=validation_replications, seed=seed,
                           workers=workers, fit=fit, validate_result=validate, stability=stability and validate,
                           budget_cap=budget_cap, hold_flat=hold_flat, estimation=estimation_,
                           design_points=design_points, design_replications=design_replications,
                           progress=progress, run_progress=run_progress)
            accepted = [int(r) for r, ok in zip(res.rounds["round"], res.rounds["accepted"], strict=True) if ok is True]
            chosen_round = accepted[-1] if accepted else 0
            estimation = {"replications": design_replications if estimation_ == "joint" else replications,
                          "seed": seed, "fit": fit, "round_": chosen_round,
                          "original_spends": res.original_spends,
                          "radius": float(res.rounds.set_index("round").loc[chosen_round, "radius"])}
        front = None
        if frontier_budgets is not None:
            from optimise.loop import frontier

            progress(f"budget frontier: {len(frontier_budgets)} budgets x {vr} fresh replications")
            front = frontier(sc, res.response, frontier_budgets, **constraints, radius=radius,
                             validation_replications=vr, seed=seed, workers=workers, budget_cap=budget_cap,
                             progress=run_progress("budget frontier") if run_progress else None)
        info = {"scenario": scenario, "scenario_name": sc.name, "cells": [f"{t}:{lv}" for t, lv in cell_list],
                "levels": list(mults), "replications": replications, "seed": seed,
                "estimation": stored.record.get("estimation", "cells") if stored is not None else estimation_,
                "design_points": res.response.diagnostics.get("points"),
                "design_replications": res.response.diagnostics.get("replications"),
                "estimation_seed": estimation["seed"], "curves_from": str(curves) if curves is not None else None,
                "robust": None if rb is None else {"alpha": rb.alpha, "weight": rb.weight, "tail_share": rb.tail,
                                                   "convention": "alpha is the confidence level (Rockafellar-Uryasev)"},
                "channelsim": sim.__version__, "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")}
        written = _write_outputs(tmp, res, info, base_file=base_file, file_scenario=file_sc, estimation=estimation,
                                 frontier_frame=front)
        _publish(tmp, out)
    except InfeasibleAllocation as err:
        shutil.rmtree(tmp, ignore_errors=True)
        named = [opts[g] for g in err.conflicts if g in opts]
        _fail(f"error: {err}" + (f" (set by {', '.join(named)})" if named else "")
              + "; nothing was validated or written")
    except ValueError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        _fail(f"error: {err}")
    except OSError as err:  # a full disk, say: nothing is published
        shutil.rmtree(tmp, ignore_errors=True)
        _fail(f"error: cannot write the results to {out}: {err.strerror or err}; nothing was written")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

    a = res.allocation
    from rich.console import Console
    from rich.table import Table

    con = Console()
    t = Table(title=f"optimised allocation ({a.objective}), budget {a.budget:,.0f}/yr")
    for col in ("cell", "current", "spend", "share", "marginal ROI (last $)"):
        t.add_column(col, justify="right")
    frame = res.allocation_frame()
    for c, orig, mr in zip(a.cells, frame["original_current"], frame["marginal_roi"], strict=True):
        t.add_row(c.cell, f"{orig:,.0f}", f"{c.spend:,.0f}", f"{c.share:.1%}",
                  "" if mr is None or not math.isfinite(mr) else f"{mr:.3f}")
    con.print(t)
    if res.validated:
        v = res.validation
        vt = Table(title="validation: net profit per year vs current (paired, 95% CI)")
        for col in ("policy", "net profit", "diff vs current", "95% CI"):
            vt.add_column(col, justify="right")
        for _, r in v.iterrows():
            vt.add_row(r["policy"], f"{r['net_profit']:,.0f}", f"{r['diff_vs_current']:,.0f}",
                       f"[{r['diff_ci_low']:,.0f}, {r['diff_ci_high']:,.0f}]")
        con.print(vt)
    if front is not None:
        ft = Table(title="budget frontier: validated net profit per year vs current (paired, 95% CI)")
        for col in ("budget", "planned spend", "realised spend", "net profit vs current", "95% CI"):
            ft.add_column(col, justify="right")
        for _, r in front.iterrows():
            if r["status"] == "infeasible":
                ft.add_row(f"{r['budget']:,.0f}", "infeasible", "", "", "")
                continue
            ft.add_row(f"{r['budget']:,.0f}", f"{r['planned_spend']:,.0f}", f"{r['realised_spend']:,.0f}",
                       f"{r['net_profit_diff']:,.0f}", f"[{r['ci_low']:,.0f}, {r['ci_high']:,.0f}]")
        con.print(ft)
    mrl = "n/a" if a.marginal_roi_left is None else f"{a.marginal_roi_left:.4f}"
    mrr = "n/a" if a.marginal_roi_right is None else f"{a.marginal_roi_right:.4f}"
    con.print(f"marginal ROI of the budget: left {mrl}, right {mrr}; "
              f"budget shadow price {a.budget_dual if a.budget_dual is not None else 'n/a'}")
    for n in (*res.notes, *a.notes):
        con.print(f"note: {n}")
    con.print(f"recommended: {res.recommended} (recommended.yaml)")
    con.print(f"wrote {', '.join(written)} to {out} in {time.perf_counter() - t0:.1f} s")


def register(app: typer.Typer) -> None:
    """Add the ``optimise`` command to ``app``."""
    app.command("optimise")(optimise_cmd)


__all__ = ["optimise_cmd", "parse_bounds", "parse_robust", "parse_shares", "register"]
