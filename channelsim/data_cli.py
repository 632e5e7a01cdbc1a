"""``channelsim data check DIR`` and ``channelsim data export SCENARIO --out DIR`` (``docs/DATA.md``).

``check`` reads a PRM export (:func:`experiments.prm.read_export`) and prints what is usable: the
months, partners, tiers, deals and payouts it holds and which calibration moments it supports; bad
data exits with code 2 and the paragraph naming file, row, column and value.  ``export`` simulates a
scenario with the deal log on and writes its PRM export (all or nothing, like ``channelsim run``).
``channelsim.cli`` calls :func:`register`.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer


def _complete_scenario(incomplete: str) -> list[str]:
    """Shell completion of the scenario argument (``channelsim.cli.complete_scenario``, imported when asked)."""
    from .cli import complete_scenario

    return complete_scenario(incomplete)

class Format(StrEnum):
    """File format of the tables ``channelsim data export`` writes."""

    csv = "csv"
    parquet = "parquet"


data_app = typer.Typer(name="data", help="PRM exports: check one, or make a synthetic one from a scenario.",
                       no_args_is_help=True)


def _money(v: float) -> str:
    for unit, size in (("bn", 1e9), ("m", 1e6), ("k", 1e3)):
        if abs(v) >= size:
            return f"${v / size:,.1f}{unit}"
    return f"${v:,.0f}"


def check_text(summary: dict[str, Any], folder: Path) -> list[Any]:
    """The tables ``channelsim data check`` prints (rich renderables) for :func:`experiments.prm.summarise`'s dict."""
    from rich.table import Table

    m, p = summary["months"], summary["partners"]
    head = Table(title=f"PRM export {folder}" + (f" ({summary['vendor']})" if summary["vendor"] else ""),
                 show_header=False)
    head.add_column("what")
    head.add_column("value")
    head.add_row("months", f"{m['first']} to {m['last']} ({m['count']} months)")
    head.add_row("partners", f"{p['total']} ({p['at_end']} in the programme at the end, {p['exited']} exited, "
                             f"{p['joined_during']} joined during the history)")
    head.add_row("tiers seen", ", ".join(f"{name} ({t['partners_at_end']} at the end)"
                                         for name, t in summary["tiers"].items() if t["rows"]) or "none")
    for name, rows in summary["optional"].items():
        head.add_row(f"{name} table", "absent" if rows is None else f"present ({rows:,} rows)")
    deals = Table(title="Deals by channel")
    for col in ("channel", "won", "won value", "lost", "win rate"):
        deals.add_column(col, justify="left" if col == "channel" else "right")
    for ch, d in summary["deals"].items():
        rate = "n/a" if d["win_rate"] is None else f"{d['win_rate']:.0%}"
        deals.add_row(ch, f"{d['won']:,}", _money(d["won_value"]), f"{d['lost']:,}", rate)
    pay = Table(title="Payouts by lever")
    for col in ("lever", "payouts", "amount"):
        pay.add_column(col, justify="left" if col == "lever" else "right")
    for lever, x in summary["payouts"].items():
        pay.add_row(lever, f"{x['rows']:,}", _money(x["amount"]))
    mom = Table(title="Calibration moments this data supports")
    for col in ("moment", "supported", "from"):
        mom.add_column(col)
    for name, x in summary["moments"].items():
        mom.add_row(name, x["supported"], x["basis"])
    return [head, deals, pay, mom]


@data_app.command("check")
def check_cmd(
    folder: Annotated[Path, typer.Argument(help="Folder of a PRM export (partners, tiers, deals, payouts, ...).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON instead of tables.")] = False,
) -> None:
    """Check a PRM export and print what is usable: months, partners, tiers, deals, payouts, moments supported."""
    from experiments.prm import PRMError, read_export, summarise

    from .cli import _console, _fail

    try:
        export = read_export(folder)
    except PRMError as err:
        _fail(f"error: {err}")
    summary = summarise(export)
    if as_json:
        typer.echo(json.dumps(summary, indent=2, allow_nan=False))
        return
    con = _console()
    for table in check_text(summary, folder):
        con.print(table)


@data_app.command("export")
def export_cmd(
    scenario: Annotated[str, typer.Argument(help="Scenario file, or a name in scenarios/.",
                                            autocompletion=_complete_scenario)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the export to (new or empty).")],
    seed: Annotated[int, typer.Option("--seed", "-s", help="Seed of the run.")] = 0,
    months: Annotated[int | None, typer.Option("--months", help="Reported months (replaces time.months).")] = None,
    sets: Annotated[list[str] | None, typer.Option("--set", help="Override a field: a.b.c=VALUE (YAML). "
                                                   "Repeatable.")] = None,
    start: Annotated[str, typer.Option("--start", help="The month (YYYY-MM) the first reported month maps to.")]
    = "2024-01",
    fmt: Annotated[Format, typer.Option("--format", help="File format of the tables.")] = Format.csv,
    manifest: Annotated[bool, typer.Option("--manifest/--no-manifest", help="Write export.yaml (vendor, "
                                          "months, tiers); without it a reader takes the months from the deals.")]
    = True,
    force: Annotated[bool, typer.Option("--force", help="Replace DIR if it exists and is not empty.")] = False,
) -> None:
    """Simulate a scenario and write its synthetic PRM export (partners, tiers, deals, payouts, accounts, ...)."""
    import sim
    from experiments.prm import export_run, write_tables

    from .cli import InputError as CliInputError
    from .cli import _check_counts, _console, _user_errors, build_scenario, check_out, staged_dir

    err = _console(stderr=True)
    with _user_errors():
        _check_counts(seed=seed, replications=1)
        if not re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", start):
            raise CliInputError(f"--start {start[:40]!r}: allowed: a month YYYY-MM, e.g. 2024-01")
        check_out(out, force)
        sc, _ = build_scenario(scenario, sets or [], months)
    with _user_errors(), staged_dir(out, force) as tmp:
        err.print(f"simulating {sc.name}: {sc.time.months} months (+{sc.time.warmup_months} warm-up), seed {seed}")
        result = sim.run(sc, seed, record_deals=True)
        export = export_run(result, start=start)
        write_tables(export, tmp, format=Format(fmt).value, manifest=manifest)
    err.print(f"wrote {out}/ ({export.n_months} months, {len(export.partners)} partners, {len(export.deals)} deals, "
              f"{len(export.payouts)} payouts)")


def register(app: typer.Typer) -> None:
    """Add ``channelsim data`` (check, export) to ``app``."""
    app.add_typer(data_app, name="data")
