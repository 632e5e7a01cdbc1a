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
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

EXIT_BAD_INPUT = 2
OUTPUT_FILES = ("allocation.csv", "response_curves.parquet", "validation.csv", "rounds.csv", "report.html",
                "shapes.csv", "binding.csv", "summary.json")


def _fail(message: str) -> NoReturn:
    sys.stderr.write(message.rstrip("\n") + "\n")
    raise typer.Exit(EXIT_BAD_INPUT)


def parse_robust(text: str | None):
    """``cvar:ALPHA`` or ``cvar:ALPHA:WEIGHT`` -> :class:`optimise.lp.Robust` (None for None)."""
    from optimise.lp import Robust

    if text is None:
        return None
    parts = text.split(":")
    if parts[0] != "cvar" or len(parts) not in (2, 3):
        raise ValueError(f"--robust {text!r}: expected cvar:ALPHA or cvar:ALPHA:WEIGHT, e.g. cvar:0.1")
    try:
        alpha = float(parts[1])
        weight = float(parts[2]) if len(parts) == 3 else 0.5
    except ValueError:
        raise ValueError(f"--robust {text!r}: ALPHA and WEIGHT must be numbers") from None
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


def _write_outputs(folder: Path, res, info: dict[str, Any]) -> None:
    from .report import optimise_report

    res.allocation_frame().to_csv(folder / "allocation.csv", index=False)
    res.response.points.to_parquet(folder / "response_curves.parquet", index=False)
    res.validation.to_csv(folder / "validation.csv", index=False)
    res.rounds.to_csv(folder / "rounds.csv", index=False)
    res.response.shapes.to_csv(folder / "shapes.csv", index=False)
    import pandas as pd

    pd.DataFrame([{"name": b.name, "group": b.group, "statement": b.statement, "sense": b.sense, "dual": b.dual,
                   "relax_value": b.relax_value} for b in res.allocation.binding],
                 columns=["name", "group", "statement", "sense", "dual", "relax_value"]).to_csv(
        folder / "binding.csv", index=False)
    a = res.allocation

    def clean(x):
        if isinstance(x, float) and not math.isfinite(x):
            return None
        return x

    summary = {
        **info, "objective": a.objective, "budget": a.budget, "total_spend": a.total_spend,
        "expected_uplift": a.expected_uplift, "marginal_roi_left": clean(a.marginal_roi_left),
        "marginal_roi_right": clean(a.marginal_roi_right), "budget_dual": clean(a.budget_dual),
        "dual_check": a.dual_check, "roi": clean(a.roi), "cvar": clean(a.cvar), "accepted_any": res.accepted_any,
        "overrides": res.overrides, "notes": list(res.notes) + list(a.notes), "seconds": res.seconds,
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    (folder / "report.html").write_text(optimise_report(res, info))


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


def optimise_cmd(
    scenario: Annotated[str, typer.Argument(help="scenario file or name (as for `channelsim run`)")],
    budget: Annotated[float, typer.Option("--budget", help="USD per year the cells may spend together")],
    out: Annotated[Path, typer.Option("--out", help="output folder (new or empty)")],
    cells: Annotated[str | None, typer.Option("--cells", help="TIER:LEVER,... ('*' for all; tier 'all' for "
                                              "programme-wide); default: every tier x rebate, mdf, training, "
                                              "discount")] = None,
    objective: Annotated[str, typer.Option("--objective", help="profit | revenue | roi")] = "profit",
    min_roi: Annotated[float | None, typer.Option("--min-roi", help="least programme ROI (profit, revenue)")] = None,
    min_spend: Annotated[float | None, typer.Option("--min-spend", help="least total spend (useful with roi)")] = None,
    robust: Annotated[str | None, typer.Option("--robust", help="cvar:ALPHA[:WEIGHT] mean-CVaR over the "
                                               "replication curves (weight default 0.5)")] = None,
    lever_share: Annotated[list[str] | None, typer.Option("--lever-share", help="LEVER<=SHARE or LEVER>=SHARE, "
                                                          "repeatable")] = None,
    cell_bound: Annotated[list[str] | None, typer.Option("--cell-bound", help="TIER:LEVER=LO:HI, repeatable")] = None,
    tier_bound: Annotated[list[str] | None, typer.Option("--tier-bound", help="TIER=LO:HI, repeatable")] = None,
    lever_bound: Annotated[list[str] | None, typer.Option("--lever-bound", help="LEVER=LO:HI, repeatable")] = None,
    tier_order: Annotated[str, typer.Option("--tier-order", help="lever | total | none: per-partner benefit "
                                            "never lower in a higher tier")] = "lever",
    max_total_change: Annotated[float | None, typer.Option("--max-total-change", help="sum of |spend change| "
                                                           "(USD/yr)")] = None,
    rounds: Annotated[int, typer.Option("--rounds", help="trust-region rounds")] = 1,
    radius: Annotated[float | None, typer.Option("--radius", help="trust region: share of each cell's scale "
                                                 "(default: the whole simulated range)")] = None,
    levels: Annotated[str, typer.Option("--levels", help="spend levels, multipliers of the current rate")] =
        "0,0.5,1,1.5,2",
    replications: Annotated[int, typer.Option("--replications", help="replications per level")] = 8,
    validation_replications: Annotated[int | None, typer.Option("--validation-replications")] = None,
    fit: Annotated[str, typer.Option("--fit", help="ls (least-squares concave fit) | envelope")] = "ls",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    workers: Annotated[int | None, typer.Option("--workers", help="processes (default: up to 2)")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="path=value scenario override, repeatable")] = None,
    months: Annotated[int | None, typer.Option("--months", help="reported months")] = None,
    force: Annotated[bool, typer.Option("--force", help="replace a non-empty --out")] = False,
) -> None:
    """Allocate an incentive budget across tiers and levers against simulated ROI; validate by simulation."""
    import sim
    from experiments.io import load_scenario
    from optimise.loop import optimise
    from optimise.response import parse_cells
    from optimise.solve import InfeasibleAllocation
    from sim.errors import ScenarioError
    from sim.overrides import apply_overrides

    from .cli import parse_sets

    try:
        sc = load_scenario(scenario)
        overrides = parse_sets(set_ or [])
        if months is not None:
            overrides["time.months"] = months
        if overrides:
            sc = apply_overrides(sc, overrides, source="--set", strict=True)
        if objective not in ("profit", "revenue", "roi"):
            raise ValueError(f"--objective {objective!r}: allowed: profit, revenue, roi")
        if tier_order not in ("lever", "total", "none"):
            raise ValueError(f"--tier-order {tier_order!r}: allowed: lever, total, none")
        if budget < 0 or not math.isfinite(budget):
            raise ValueError(f"--budget {budget}: a non-negative number (USD per year)")
        if replications < 2:
            raise ValueError("--replications: at least 2")
        if rounds < 1:
            raise ValueError("--rounds: at least 1")
        try:
            mults = tuple(float(x) for x in levels.split(","))
        except ValueError:
            raise ValueError(f"--levels {levels!r}: comma-separated numbers, e.g. 0,0.5,1,1.5,2") from None
        if any(m < 0 for m in mults) or len(mults) < 2:
            raise ValueError(f"--levels {levels!r}: at least two non-negative multipliers")
        cell_list = parse_cells(cells, sc)
        rb = parse_robust(robust)
        shares = parse_shares(lever_share or [])
        cb = parse_bounds(cell_bound or [], "--cell-bound")
        tb = parse_bounds(tier_bound or [], "--tier-bound")
        lb = parse_bounds(lever_bound or [], "--lever-bound")
        tmp = _stage(out, force)
    except (ScenarioError, ValueError, FileNotFoundError) as err:
        _fail(f"error: {err}")

    def progress(msg: str) -> None:
        sys.stderr.write(msg + "\n")

    try:
        res = optimise(
            sc, cell_list, budget, objective=objective, min_roi=min_roi, min_spend=min_spend, robust=rb,
            tier_order=None if tier_order == "none" else tier_order, lever_shares=shares, cell_bounds=cb,
            tier_bounds=tb, lever_bounds=lb, max_total_change=max_total_change, rounds=rounds, radius=radius,
            multipliers=mults, replications=replications, validation_replications=validation_replications, seed=seed,
            workers=workers, fit=fit, progress=progress,
        )
        info = {"scenario": scenario, "scenario_name": sc.name, "cells": [f"{t}:{lv}" for t, lv in cell_list],
                "levels": list(mults), "replications": replications, "seed": seed, "channelsim": sim.__version__,
                "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")}
        _write_outputs(tmp, res, info)
        _publish(tmp, out)
    except (InfeasibleAllocation, ValueError) as err:
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
    v = res.validation
    vt = Table(title="validation: net profit per year vs current (paired, 95% CI)")
    for col in ("policy", "net profit", "diff vs current", "95% CI"):
        vt.add_column(col, justify="right")
    for _, r in v.iterrows():
        vt.add_row(r["policy"], f"{r['net_profit']:,.0f}", f"{r['diff_vs_current']:,.0f}",
                   f"[{r['diff_ci_low']:,.0f}, {r['diff_ci_high']:,.0f}]")
    con.print(vt)
    mrl = "n/a" if a.marginal_roi_left is None else f"{a.marginal_roi_left:.4f}"
    mrr = "n/a" if a.marginal_roi_right is None else f"{a.marginal_roi_right:.4f}"
    con.print(f"marginal ROI of the budget: left {mrl}, right {mrr}; "
              f"budget shadow price {a.budget_dual if a.budget_dual is not None else 'n/a'}")
    for n in (*res.notes, *a.notes):
        con.print(f"note: {n}")
    con.print(f"wrote {', '.join(OUTPUT_FILES)} to {out} in {res.seconds:.0f} s")


def register(app: typer.Typer) -> None:
    """Add the ``optimise`` command to ``app``."""
    app.command("optimise")(optimise_cmd)


__all__ = ["optimise_cmd", "parse_bounds", "parse_robust", "parse_shares", "register"]
