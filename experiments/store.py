"""The result store: one Parquet file per run, written atomically, plus a manifest.

Layout of an experiment's output folder::

    DIR/manifest.json                 experiment file text, package version, start/end times, sessions
    DIR/design.parquet                one row per design point (unit coordinates and factor values)
    DIR/runs/dp00000_r000.parquet     one row per run: point, replication, status, factor values, outputs

Each run file is written to a hidden temporary name in ``runs/`` (``.dp…parquet.XXXX.tmp``),
fsynced and renamed, so a reader sees a whole file or none; the loader reads only
``runs/*.parquet``.  Every run file has the same Arrow schema (fixed from the
experiment), so DuckDB reads the folder directly::

    duckdb.sql("SELECT * FROM read_parquet('DIR/runs/*.parquet')")

and so does pandas (``pd.read_parquet('DIR/runs')``).  A failed run is a row with
``status = 'failed'``, its traceback in ``error`` and null outputs.
"""

from __future__ import annotations

import fcntl
import io as _io
import json
import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import sim

from .design import Experiment, factor_column_value
from .io import atomic_write_bytes, atomic_write_text, write_parquet_atomic

RUN_FILE = re.compile(r"^dp(\d{5,})_r(\d{3,})\.parquet$")
MANIFEST = "manifest.json"
LOCK = ".lock"
DESIGN = "design.parquet"
RUNS = "runs"
MONTHLY_PREFIX = "monthly_"
META_COLUMNS = ("point", "replication", "status", "error", "seconds", "worker", "seed_key")


class StoreError(RuntimeError):
    """The output folder cannot be used for this experiment (e.g. it holds another experiment's runs)."""


def run_filename(point: int, replication: int) -> str:
    return f"dp{point:05d}_r{replication:03d}.parquet"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _factor_type(values: list[Any]) -> pa.DataType:
    vals = [factor_column_value(v) for v in values]
    if all(isinstance(v, bool) for v in vals):
        return pa.bool_()
    if all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
        return pa.int64()
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in vals):
        return pa.float64()
    return pa.string()


def _factor_cast(v: Any, typ: pa.DataType) -> Any:
    v = factor_column_value(v)
    if typ == pa.string():
        return v if isinstance(v, str) else json.dumps(v)
    if typ == pa.float64():
        return float(v)
    return v


class RunStore:
    """Writes and reads one experiment's output folder.

    Args:
        root: the output folder (created if missing).
        experiment: the experiment whose runs it holds.
        design: its design table (:func:`experiments.design.build_design`).
        monthly: the monthly KPI series kept (resolved names).
    """

    def __init__(self, root: str | Path, experiment: Experiment, design: pd.DataFrame, monthly: list[str]):
        self.root = Path(root)
        self.runs_dir = self.root / RUNS
        self.experiment = experiment
        self.design = design
        self.summary = experiment.summary_outputs()
        self.monthly = list(monthly)
        self.factor_types = {f: _factor_type(list(design[f])) for f in experiment.factor_names}
        self.schema = self._schema()

    # ------------------------------------------------------------------ schema
    def _schema(self) -> pa.Schema:
        fields = [
            pa.field("point", pa.int64()), pa.field("replication", pa.int64()), pa.field("status", pa.string()),
        ]
        fields += [pa.field(name, typ) for name, typ in self.factor_types.items()]
        fields += [pa.field(k, pa.float64()) for k in self.summary]
        fields += [pa.field(MONTHLY_PREFIX + k, pa.list_(pa.float64())) for k in self.monthly]
        fields += [
            pa.field("error", pa.string()), pa.field("seconds", pa.float64()), pa.field("worker", pa.string()),
            pa.field("seed_key", pa.string()),
        ]
        return pa.schema(fields)

    # ------------------------------------------------------------------ manifest
    def open(self, backend: str) -> dict[str, Any]:
        """Create the folder (or check it holds this experiment) and record a new session in the manifest."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.runs_dir.mkdir(exist_ok=True)
        self._lock()
        manifest = self.read_manifest()
        if manifest is not None:
            if manifest.get("experiment_sha256") != self.experiment.sha256:
                self._unlock()
                raise StoreError(
                    f"{self.root} holds the results of a different experiment "
                    f"({manifest.get('experiment_file')!r}, name {manifest.get('name')!r}); "
                    "use another --out folder or remove this one"
                )
        else:
            manifest = {
                "name": self.experiment.name,
                "experiment_file": self.experiment.source,
                "experiment_text": self.experiment.text,
                "experiment": self.experiment.model_dump(mode="json"),
                "experiment_sha256": self.experiment.sha256,
                "package_version": sim.__version__,
                "python": platform.python_version(),
                "n_points": int(len(self.design)),
                "replications": self.experiment.replications,
                "n_runs": int(len(self.design)) * self.experiment.replications,
                "factors": self.experiment.factor_names,
                "summary_outputs": self.summary,
                "monthly_outputs": self.monthly,
                "started": now_iso(),
                "finished": None,
                "sessions": [],
            }
            write_parquet_atomic(self._design_frame(), self.root / DESIGN)
        manifest["sessions"].append({"started": now_iso(), "finished": None, "backend": backend,
                                     "package_version": sim.__version__})
        self.write_manifest(manifest)
        return manifest

    def close(self, manifest: dict[str, Any], executed: int, failed: int, complete: bool) -> None:
        manifest["sessions"][-1].update({"finished": now_iso(), "executed": executed, "failed": failed,
                                         "complete": complete})
        if complete:
            manifest["finished"] = now_iso()
        self.write_manifest(manifest)
        self._unlock()

    def _lock(self) -> None:
        """One sweep per folder at a time (an advisory lock on ``DIR/.lock``, released when the process ends)."""
        fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreError(f"another sweep is writing to {self.root}; wait for it to finish (or stop it)") from None
        self._lock_fd = fd

    def _unlock(self) -> None:
        fd, self._lock_fd = getattr(self, "_lock_fd", None), None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _design_frame(self) -> pd.DataFrame:
        d = self.design.copy()
        for f in self.experiment.factor_names:
            d[f] = [_factor_cast(v, self.factor_types[f]) for v in d[f]]
        return d

    def read_manifest(self) -> dict[str, Any] | None:
        p = self.root / MANIFEST
        return json.loads(p.read_text()) if p.exists() else None

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_text(self.root / MANIFEST, json.dumps(manifest, indent=2, default=str) + "\n")

    # ------------------------------------------------------------------ runs
    def path(self, point: int, replication: int) -> Path:
        return self.runs_dir / run_filename(point, replication)

    def existing(self) -> dict[tuple[int, int], str]:
        """``(point, replication) -> status`` of every run already stored."""
        out: dict[tuple[int, int], str] = {}
        if not self.runs_dir.is_dir():
            return out
        for p in self.runs_dir.iterdir():
            m = RUN_FILE.match(p.name)
            if not m:
                continue
            status = pq.read_table(p, columns=["status"]).column("status")[0].as_py()
            out[(int(m.group(1)), int(m.group(2)))] = status
        return out

    def table(self, record: dict[str, Any]) -> pa.Table:
        """The one-row Arrow table of a run record (see :func:`experiments.runner.run_task`)."""
        point, rep = int(record["point"]), int(record["replication"])
        row = self.design.iloc[point]
        outputs = record.get("outputs") or {}
        monthly = record.get("monthly") or {}
        cols: dict[str, list[Any]] = {
            "point": [point], "replication": [rep], "status": [record["status"]],
        }
        for f, typ in self.factor_types.items():
            cols[f] = [_factor_cast(row[f], typ)]
        for k in self.summary:
            v = outputs.get(k)
            cols[k] = [None if v is None else float(v)]
        for k in self.monthly:
            v = monthly.get(k)
            cols[MONTHLY_PREFIX + k] = [None if v is None else [float(x) for x in v]]
        cols["error"] = [record.get("error") or None]
        cols["seconds"] = [float(record.get("seconds", np.nan))]
        cols["worker"] = [str(record.get("worker", ""))]
        cols["seed_key"] = [str(record.get("seed_key", ""))]
        return pa.table(cols, schema=self.schema)

    def write(self, record: dict[str, Any]) -> Path:
        """Store one run atomically (temporary file, fsync, rename); replaces an earlier file of the same run."""
        buf = _io.BytesIO()
        pq.write_table(self.table(record), buf)
        return atomic_write_bytes(self.path(int(record["point"]), int(record["replication"])), buf.getvalue())


# ---------------------------------------------------------------------- reading
def run_files(root: str | Path) -> list[Path]:
    """The complete run files of a folder (temporary ``.tmp`` files are never included)."""
    d = Path(root) / RUNS
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if RUN_FILE.match(p.name))


def read_manifest(root: str | Path) -> dict[str, Any]:
    p = Path(root) / MANIFEST
    if not p.exists():
        raise StoreError(f"{root} is not an experiment output folder (no {MANIFEST})")
    return json.loads(p.read_text())


def load_results(root: str | Path, *, monthly: bool = False, status: str | None = None) -> pd.DataFrame:
    """The tidy table: one row per stored run (design point, replication, factor values, status, outputs).

    Args:
        root: the experiment's output folder.
        monthly: keep the ``monthly_*`` list columns (see :func:`load_monthly` for a long table).
        status: keep only runs with this status (``ok`` or ``failed``).
    """
    read_manifest(root)
    files = run_files(root)
    if not files:
        return pd.DataFrame(columns=list(META_COLUMNS))
    table = pa.concat_tables([pq.read_table(p) for p in files])
    df = table.to_pandas()
    if not monthly:
        df = df.drop(columns=[c for c in df.columns if c.startswith(MONTHLY_PREFIX)])
    if status is not None:
        df = df[df["status"] == status]
    return df.sort_values(["point", "replication"]).reset_index(drop=True)


def load_monthly(root: str | Path) -> pd.DataFrame:
    """Monthly series in long form: point, replication, factor values, month and one column per KPI kept."""
    df = load_results(root, monthly=True, status="ok")
    mcols = [c for c in df.columns if c.startswith(MONTHLY_PREFIX)]
    if not mcols or df.empty:
        return pd.DataFrame()
    manifest = read_manifest(root)
    keep = ["point", "replication", *manifest.get("factors", [])]
    rows = []
    for _, r in df.iterrows():
        n = len(r[mcols[0]])
        part = pd.DataFrame({c[len(MONTHLY_PREFIX):]: np.asarray(r[c], dtype=float) for c in mcols})
        part.insert(0, "month", np.arange(1, n + 1))
        for c in reversed(keep):
            part.insert(0, c, [r[c]] * n)
        rows.append(part)
    return pd.concat(rows, ignore_index=True)


__all__ = [
    "DESIGN", "MANIFEST", "RUNS", "RunStore", "StoreError", "load_monthly", "load_results", "read_manifest",
    "run_filename", "run_files",
]
