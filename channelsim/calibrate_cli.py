"""``channelsim calibrate DATA_DIR --out DIR``: fit a scenario to a PRM export (docs/CALIBRATION.md).

Reads the export (:func:`experiments.prm.read_export`), runs :func:`experiments.calibration.calibrate`
and writes, all or nothing (staged like ``channelsim run``): ``fitted.yaml`` (a scenario that extends the
base with the fitted values), ``fitted.json`` (the values, their uncertainty, what was not identifiable
and what is not calibrated, the settings), ``parameters.csv``, ``moments.csv`` (simulated against
observed), ``forecast.csv`` (the held-out months), ``posterior.csv``, ``generations.csv``,
``screening.csv`` and ``report.html``.  pyabc's database lives in a temporary folder inside the staging
folder and is removed before the output is published.  ``channelsim.cli`` calls :func:`register`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated, Any

import typer

OUT_FILES = ("fitted.yaml", "fitted.json", "parameters.csv", "moments.csv", "forecast.csv", "posterior.csv",
             "generations.csv", "screening.csv", "report.html")


def nested(overrides: dict[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}``."""
    out: dict[str, Any] = {}
    for path, value in overrides.items():
        node = out
        *head, last = path.split(".")
        for part in head:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def fitted_yaml(base_ref: str, name: str, overrides: dict[str, float], data_dir: Path) -> str:
    """The fitted scenario: ``extends`` the base, sets the identified parameters."""
    import yaml

    doc: dict[str, Any] = {"extends": base_ref, "name": f"{name}_calibrated",
                           "description": f"{name} calibrated to the PRM export {data_dir} by channelsim calibrate "
                                          "(fitted parameters only; the rest as in the base)."}
    doc.update(nested(overrides))
    return ("# Written by channelsim calibrate: the base scenario with the parameters the data identify.\n"
            + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))


def calibrate_cmd(
    data_dir: Annotated[Path, typer.Argument(help="Folder of a PRM export (docs/DATA.md).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the fitted scenario, values, moments, "
                                      "forecast and report.")],
    scenario: Annotated[str, typer.Option("--scenario", help="Base scenario (file or name); its size should be "
                                          "the programme's.")] = "baseline",
    sets: Annotated[list[str] | None, typer.Option("--set", help="Override a base field (PATH=VALUE).")] = None,
    holdout: Annotated[int, typer.Option("--holdout", help="Last months held out and forecast.")] = 6,
    population: Annotated[int, typer.Option("--population", help="ABC-SMC particles per generation.")] = 60,
    generations: Annotated[int, typer.Option("--generations", help="Most ABC-SMC generations.")] = 6,
    max_simulations: Annotated[int, typer.Option("--max-simulations", help="Start no ABC generation after this "
                                                 "many simulations (bounds the time).")] = 1500,
    replications: Annotated[int, typer.Option("--replications", help="Runs per candidate (the same seeds for "
                                              "every candidate).")] = 1,
    pilot: Annotated[int, typer.Option("--pilot", help="Runs at the base for the moments' scale.")] = 12,
    draws: Annotated[int, typer.Option("--draws", help="Posterior draws for the holdout forecast.")] = 20,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, max=64, help="Local processes (1: this "
                                         "process).")] = 1,
    dask: Annotated[str | None, typer.Option("--dask", help="tcp://HOST:PORT of a Dask scheduler, or "
                                             "local:N")] = None,
    seed: Annotated[int, typer.Option("--seed", "-s", help="Seed of the runs and of pyabc.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists and is not empty.")] = False,
) -> None:
    """Fit the behavioural parameters a PRM export identifies; forecast the held-out months.

    Writes fitted.yaml (extends the base), fitted.json, moments.csv, forecast.csv and report.html.
    """
    import sim
    from experiments.calibration import NOT_CALIBRATED, CalibrationError, Settings, calibrate, check_history
    from experiments.io import atomic_write_text, json_safe
    from experiments.prm import PRMError, read_export

    from .calibrate_report import calibrate_report
    from .cli import InputError, _console, _user_errors, build_scenario, check_out, staged_dir

    err = _console(stderr=True)
    with _user_errors():
        check_out(out, force)
        settings = Settings(holdout=holdout, replications=replications, pilot=pilot, population=population,
                            generations=generations, draws=draws, seed=seed,
                            max_simulations=max_simulations)
        settings.check()
        if dask and workers > 1:
            raise InputError(f"--dask {dask} with --workers {workers}: allowed: one of the two (the Dask cluster "
                             "sets its own workers)")
        base, base_path = build_scenario(scenario, sets or [])
        try:
            observed = read_export(data_dir, tier_names=base.tier_names)
        except PRMError as e:
            raise InputError(str(e)) from None
        try:
            check_history(observed, settings)
        except CalibrationError as e:
            raise InputError(f"{data_dir}: {e}") from None
    base_ref = scenario if (not sets and base_path.parent == _shipped()) else str(base_path.resolve())
    with _user_errors(), staged_dir(out, force) as tmp:
        db = tmp / ".pyabc"
        typer.echo(f"calibrating {base.name} to {data_dir} ({observed.n_months} months, last {holdout} held out)",
                   err=True)
        fit = calibrate(observed, base, settings, workers=workers, dask=dask, db_dir=db,
                        log=lambda s: typer.echo(s, err=True))
        shutil.rmtree(db, ignore_errors=True)
        fitted_values = {k: round(float(v), 6) for k, v in fit.overrides.items()}  # as fitted.yaml writes them
        overrides = {**(_sets(sets) if sets else {}), **fitted_values}
        atomic_write_text(tmp / "fitted.yaml", fitted_yaml(base_ref, str(base.name), overrides, data_dir))
        payload = {"data": str(data_dir), "scenario": str(base.name), "extends": base_ref,
                   "parameters": fit.parameters.to_dict(orient="records"), "overrides": fitted_values,
                   "not_calibrated": NOT_CALIBRATED, "info": fit.info, "channelsim_version": sim.__version__}
        atomic_write_text(tmp / "fitted.json", json.dumps(json_safe(payload), indent=2, allow_nan=False) + "\n")
        for fname, df in (("parameters.csv", fit.parameters), ("moments.csv", fit.moments),
                          ("forecast.csv", fit.forecast), ("posterior.csv", fit.posterior),
                          ("generations.csv", fit.generations), ("screening.csv", fit.screening)):
            atomic_write_text(tmp / fname, df.to_csv(index=False, float_format="%.6g"))
        info = {"data": str(data_dir), "base scenario": str(base_ref), "history": f"{observed.first_month} to "
                f"{observed.last_month} ({observed.n_months} months)", "fitted months": fit.info["fit_months"],
                "held-out months": holdout, "population": population, "generations (most)": generations,
                "replications per candidate": f"{replications} (common random numbers)", "pilot runs": pilot,
                "forecast": f"{draws} posterior draws x 1 run", "simulations": fit.info["simulations"],
                "where": f"Dask {dask}" if dask else f"{workers} local process(es)", "seed": seed,
                "library": "pyabc ABC-SMC (weighted Euclidean distance on standardised moments)",
                "channelsim version": sim.__version__}
        atomic_write_text(tmp / "report.html", calibrate_report(fit, info, NOT_CALIBRATED, name=str(base.name)))
    _print(fit)
    err.print(f"wrote {out}/ ({', '.join(OUT_FILES)})")


def _shipped() -> Path:
    from experiments.io import shipped_scenarios_dir

    return shipped_scenarios_dir().resolve()


def _sets(sets: list[str]) -> dict[str, Any]:
    from .cli import parse_sets

    return parse_sets(sets)


def _print(fit: Any) -> None:
    from rich.table import Table

    from .cli import _console

    level = round(100 * float(fit.info["interval"]))
    t = Table(title="Calibrated parameters")
    for col in ("parameter", "default", "status", "estimate", f"{level} % interval"):
        t.add_column(col, justify="left" if col in ("parameter", "status") else "right")
    for r in fit.parameters.itertuples():
        fitted = r.status == "fitted"
        t.add_row(r.parameter, f"{r.default:.4g}", r.status, f"{r.estimate:.4g}" if fitted else "",
                  f"{r.lower:.4g} .. {r.upper:.4g}" if fitted else "")
    con = _console()
    con.print(t)
    cov = fit.info.get("coverage")
    if cov is not None:
        con.print(f"Holdout: {int(fit.forecast['covered'].sum())} of {len(fit.forecast)} observed values within "
                  f"the {level} % prediction intervals ({100 * cov:.0f} %).")


def register(app: typer.Typer) -> None:
    """Add ``channelsim calibrate`` to ``app``."""
    app.command("calibrate")(calibrate_cmd)
