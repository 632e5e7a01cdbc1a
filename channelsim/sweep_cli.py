"""``channelsim sweep``, ``channelsim results`` and ``channelsim report``: the experiments commands.

``channelsim.cli`` calls :func:`register` to add them to its typer app.

Exit codes of ``channelsim sweep``: 0 done, 2 a problem with the input or the output
folder (nothing is written, or what a session created is removed again), 1 the backend
failed (no scheduler, a scheduler lost, a worker process died, runs lost), 130
interrupted (SIGINT), 143 terminated (SIGTERM); after 1, 130 and 143 the runs stored so
far are kept and the same command resumes.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

EXIT_USAGE = 2
EXIT_BACKEND = 1
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class Format(StrEnum):
    """``results --format``: the file to write."""

    csv = "csv"
    parquet = "parquet"


class Status(StrEnum):
    """``results --status``: which runs to list."""

    ok = "ok"
    failed = "failed"


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as an interrupt: the runs stored are kept, the workers stopped."""


def _fail(message: str, code: int = EXIT_USAGE) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread (as Ctrl-C raises KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _quiet_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    log = logging.getLogger("channelsim")
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False


def sweep(
    experiment: Annotated[Path, typer.Argument(help="experiment file (YAML)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder; an existing one is resumed")],
    workers: Annotated[int | None, typer.Option(
        "--workers", "-w", min=0, help="local worker processes (default: one per core; 0 = in-process)")] = None,
    dask: Annotated[str | None, typer.Option("--dask", help="tcp://HOST:PORT of a Dask scheduler, or local:N")] = None,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="also re-run runs stored as failed")] = False,
    no_overlap: Annotated[bool, typer.Option(
        "--no-overlap", help="keep every run in the workers (by default this process runs tasks while the local "
                             "pool or LocalCluster starts: one run more at a time, for a second or two)")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="log lines instead of a progress bar")] = False,
) -> None:
    """Run an experiment: every (design point, replication) not yet stored in OUT."""
    from concurrent.futures.process import BrokenProcessPool

    from experiments.backends import BackendError, make_backend
    from experiments.design import ExperimentError, load_experiment
    from experiments.runner import BarProgress, LogProgress, run_experiment
    from experiments.store import StoreError
    from sim import ScenarioError

    if workers is not None and dask is not None:
        _fail("--workers and --dask cannot be combined: --workers runs local processes, --dask a Dask cluster")
    try:
        backend = make_backend(workers=workers, dask=dask, overlap_startup=not no_overlap)
    except ValueError as err:  # a malformed --dask address or --workers count
        _fail(f"error: --dask {err}" if dask is not None else f"error: {err}")
        return
    try:
        exp = load_experiment(experiment)
    except (ExperimentError, ScenarioError) as err:
        _fail(f"error: {err}")
        return
    if quiet:
        _quiet_logging()
    progress = LogProgress() if quiet else BarProgress()
    try:
        with sigterm_as_interrupt():
            summary = run_experiment(exp, out, backend, retry_failed=retry_failed, progress=progress)
    except (ExperimentError, ScenarioError, StoreError) as err:
        _fail(f"error: {err}")
        return
    except Terminated:
        _fail(f"terminated (SIGTERM): the runs finished so far are stored in {out}; run the same command to resume",
              EXIT_TERMINATED)
        return
    except KeyboardInterrupt:
        _fail(f"interrupted: the runs finished so far are stored in {out}; run the same command to resume",
              EXIT_INTERRUPTED)
        return
    except BackendError as err:
        _fail(f"error: {err}", EXIT_BACKEND)
        return
    except BrokenProcessPool as err:
        _fail(f"error: a worker process died ({err}); the runs finished so far are stored in {out}; "
              "run the same command to resume (with fewer --workers if memory ran out)", EXIT_BACKEND)
        return
    except OSError as err:  # a full disk while storing a run: the files stored are whole
        where = f" ({err.filename})" if err.filename else ""
        _fail(f"error: cannot write to {out}: {err.strerror or err}{where}; the runs stored so far are whole and "
              "kept: free some space and run the same command to resume")
        return
    failed_note = (f", {summary.failed} failed (see `channelsim results {out} --status failed`)"
                   if summary.failed else "")
    typer.echo(f"{summary.executed} runs executed, {summary.skipped} already stored{failed_note}; "
               f"{summary.total} runs in {out} ({summary.seconds:.1f} s on {summary.backend})")
    if summary.lost:
        _fail(f"error: {summary.lost} run(s) were lost by the backend and not stored ({summary.lost_reason}); they "
              "are no failures of the model: run the same command to run them again (if it happens again, "
              "the run may be killing its worker, e.g. out of memory)", EXIT_BACKEND)


def results(
    directory: Annotated[Path, typer.Argument(help="an experiment's output folder")],
    format: Annotated[Format | None, typer.Option(
        "--format", "-f", help="file format (default: print a table)")] = None,
    output: Annotated[Path | None, typer.Option(
        "--out", "-o", "--output", help="file to write (csv: stdout by default; parquet: DIR/_results.parquet)")
    ] = None,
    status: Annotated[Status | None, typer.Option("--status", help="only runs with this status")] = None,
    monthly: Annotated[bool, typer.Option("--monthly", help="the monthly series in long form instead")] = False,
) -> None:
    """Print or export the tidy table: design point, replication, factor values, status, outputs."""
    from experiments.io import atomic_write_text, write_parquet_atomic
    from experiments.store import StoreError, load_monthly, load_results

    format = None if format is None else Format(format).value
    status = None if status is None else Status(status).value
    try:
        df = load_monthly(directory) if monthly else load_results(directory, status=status)
    except StoreError as err:
        _fail(f"error: {err}")
        return
    try:
        if format == "csv":
            text = df.to_csv(index=False)
            if output is None:
                sys.stdout.write(text)
            else:
                atomic_write_text(output, text)
                typer.echo(f"wrote {len(df)} rows to {output}", err=True)
            return
        if format == "parquet":
            # "_": parquet readers of the folder (pd.read_parquet(DIR)) skip it
            target = output or directory / ("_monthly.parquet" if monthly else "_results.parquet")
            write_parquet_atomic(df, target)
            typer.echo(f"wrote {len(df)} rows to {target}", err=True)
            return
    except OSError as err:
        _fail(f"error: cannot write {err.filename or output}: {err.strerror or err}")
        return
    import pandas as pd

    shown = df.drop(columns=[c for c in ("error", "worker", "seed_key") if c in df.columns])
    with pd.option_context("display.max_rows", 200, "display.max_columns", 50, "display.width", 200):
        typer.echo(shown.to_string(index=False) if len(shown) else "(no runs stored yet)")
    if "status" in df.columns and len(df):
        counts = df["status"].value_counts().to_dict()
        typer.echo(f"{len(df)} runs: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())), err=True)


def report(
    directory: Annotated[Path, typer.Argument(help="an experiment's output folder")],
    output: Annotated[Path | None, typer.Option("--out", "-o", "--output",
                                                help="HTML file (default: DIR/_report.html)")] = None,
    rank_on: Annotated[str | None, typer.Option(
        "--rank-on", help="Output to rank the design points on (default: gross_profit if it is an output, "
        "else the first output).")] = None,
) -> None:
    """Write a self-contained HTML report: design points ranked, means with 95 % CIs, main effects, indices."""
    from experiments.store import StoreError

    try:
        path = write_report(directory, output, rank_on=rank_on)
    except StoreError as err:
        _fail(f"error: {err}")
        return
    except ValueError as err:
        _fail(f"error: {directory}: {err}")
        return
    except OSError as err:
        _fail(f"error: cannot write {err.filename or output}: {err.strerror or err}")
        return
    typer.echo(f"wrote {path}")


def write_report(directory: Path, output: Path | None = None, *, rank_on: str | None = None) -> Path:
    """Write the sweep report of ``directory`` to ``output`` (default ``DIR/_report.html``) atomically.

    Args:
        directory: the experiment's output folder.
        output: the HTML file.
        rank_on: the output the summary ranks the design points on (see :func:`channelsim.report.sweep_report`).

    Raises:
        experiments.store.StoreError: when the folder holds no experiment.
        ValueError: ``rank_on`` is not one of the experiment's outputs.
    """
    from experiments.analysis import summarise
    from experiments.io import atomic_write_text
    from experiments.store import REPORT

    from .report import sweep_report

    text = sweep_report(summarise(directory), rank_on=rank_on)
    target = Path(output) if output is not None else Path(directory) / REPORT
    atomic_write_text(target, text)
    return target


def register(app: typer.Typer) -> None:
    """Add ``sweep``, ``results`` and ``report`` to ``app``."""
    app.command("sweep")(sweep)
    app.command("results")(results)
    app.command("report")(report)


__all__ = ["register", "report", "results", "sweep", "write_report"]
