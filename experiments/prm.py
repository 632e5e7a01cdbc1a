"""PRM exports: the tables a partner relationship management system exports, read, checked and made.

A PRM export is a folder of tables, each ``NAME.csv`` or ``NAME.parquet`` (one of the two per table),
laid out as ``docs/DATA.md`` describes:

* ``partners``: one row per partner (type, territories, segments, joined, exited, exit reason,
  certifications);
* ``tiers``: the tier each partner holds from a month on (one row per change);
* ``deals``: one row per deal a vendor channel pursued, won or lost to a competing vendor;
* ``payouts``: one row per month, partner and incentive lever paid;
* optionally ``accounts`` (the accounts at the end of the history), ``conflicts`` (channel conflicts)
  and ``export.yaml`` (the manifest: vendor, currency, first and last month, tier names).

:func:`read_export` reads and validates one (raising :class:`PRMError`, whose message names the file,
the row, the column, the value and what is allowed, for up to :data:`MAX_PROBLEMS` problems at a
time); :func:`export_run` makes the same tables from a simulated run (``sim.run(...,
record_deals=True)``); :func:`write_export` writes them atomically.

Months are ``YYYY-MM`` strings in every table and in :class:`PRMExport`; money is USD; identifiers
are strings.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.errors import InputError
from sim.scenario import CHANNELS, PARTNER_TYPES, SEGMENTS, Scenario

#: Incentive levers a payout may name (``sim/policies/levers.py``; ``intervention`` is the early-intervention
#: policy's spend, ``sim/policies/intervention.py``).
LEVERS: tuple[str, ...] = ("discount", "spiff", "rebate", "mdf", "training", "recognition", "relationship",
                           "improvement", "collaboration", "intervention")
EXIT_REASONS: tuple[str, ...] = ("partner_choice", "failed_improvement_plan", "other")
OUTCOMES: tuple[str, ...] = ("won", "lost")
ACCOUNT_STATUSES: tuple[str, ...] = ("prospect", "customer", "competitor", "churned")
CONFLICT_TYPES: tuple[str, ...] = ("horizontal", "vertical", "multichannel")
REQUIRED_TABLES: tuple[str, ...] = ("partners", "tiers", "deals", "payouts")
OPTIONAL_TABLES: tuple[str, ...] = ("accounts", "conflicts")
TABLES: tuple[str, ...] = REQUIRED_TABLES + OPTIONAL_TABLES
MANIFEST = "export.yaml"
#: A PRMError lists at most this many problems (then says how many more there are).
MAX_PROBLEMS = 10
#: Largest money amount accepted (USD): far above any deal, and exact in a float64.
MAX_AMOUNT = 1e12
#: Largest table file read (bytes).
MAX_FILE_BYTES = 200 * 2**20


class PRMError(InputError):
    """A PRM export that cannot be used: names the file, the row, the column, the value and what is allowed.

    Attributes:
        source: the export's folder.
        problems: ``(where, value, allowed)`` triples, ``where`` naming the file, the row and the column
            (``deals.csv, row 7, column 'value'``); at most :data:`MAX_PROBLEMS` are listed in the message.
        more: problems found beyond those in ``problems``.
    """

    what = "PRM export"

    def __init__(self, source: str, problems: list[tuple[str, Any, str]], more: int = 0):
        from sim.errors import _clip, _show

        self.source = str(source)
        self.problems = problems
        self.more = more + max(0, len(problems) - MAX_PROBLEMS)
        n = len(problems) + more
        lines = [f"{_clip(self.source, 300)}: this PRM export cannot be used ({n} problem{'s' * (n != 1)}; "
                 "rows are counted as a spreadsheet shows them, the header being row 1):"]
        for where, value, allowed in problems[:MAX_PROBLEMS]:
            shown = "" if value is _NO_VALUE else f" value {_show(value)} ->"
            lines.append(f"  - {_clip(str(where), 200)}:{shown} {_clip(str(allowed), 600)}")
        if self.more:
            lines.append(f"  - ... and {self.more} more problem(s)")
        lines.append("Nothing was read; fix the export and check it again with `channelsim data check`.")
        ValueError.__init__(self, "\n".join(lines))


_NO_VALUE = object()  # a problem with no single value to quote (a missing file or column)


@dataclass(frozen=True)
class Column:
    """One column of a table: its name, kind, whether a value is required, and the values allowed.

    Kinds: ``id`` (text without commas or semicolons), ``month`` (``YYYY-MM``), ``enum`` (one of
    ``allowed``), ``list`` (``;``-separated ids, or of ``allowed`` when given), ``int`` (>= 0),
    ``money`` (USD, >= 0; > 0 when ``positive``), ``bool`` (true/false), ``text`` (any text).
    """

    name: str
    kind: str
    required: bool = True
    allowed: tuple[str, ...] | None = None
    positive: bool = False
    doc: str = ""


def _schema(tier_names: Iterable[str] = ()) -> dict[str, tuple[Column, ...]]:
    """Every table's columns (tiers' allowed names from ``tier_names``)."""
    tiers = tuple(tier_names)
    return {
        "partners": (
            Column("partner_id", "id", doc="unique"),
            Column("type", "enum", allowed=PARTNER_TYPES),
            Column("territories", "list", doc="territory ids separated by ';'"),
            Column("segments", "list", allowed=SEGMENTS, doc="segments separated by ';'"),
            Column("joined", "month"),
            Column("exited", "month", required=False, doc="empty while the partner is in the programme"),
            Column("exit_reason", "enum", required=False, allowed=EXIT_REASONS,
                   doc="empty exactly when exited is empty"),
            Column("certifications", "int", doc="held at the end of the history or at exit"),
        ),
        "tiers": (
            Column("partner_id", "id", doc="a partner_id of partners"),
            Column("month", "month", doc="the tier is held from this month on"),
            Column("tier", "enum", allowed=tiers),
        ),
        "deals": (
            Column("deal_id", "id", doc="unique"),
            Column("month", "month"),
            Column("account_id", "id"),
            Column("territory", "id"),
            Column("segment", "enum", allowed=SEGMENTS),
            Column("channel", "enum", allowed=CHANNELS),
            Column("partner_id", "id", required=False, doc="required when channel is partner, empty otherwise"),
            Column("value", "money", positive=True, doc="first-year value"),
            Column("registered", "bool"),
            Column("outcome", "enum", allowed=OUTCOMES),
        ),
        "payouts": (
            Column("month", "month"),
            Column("partner_id", "id"),
            Column("lever", "enum", allowed=LEVERS),
            Column("amount", "money"),
        ),
        "accounts": (
            Column("account_id", "id", doc="unique"),
            Column("territory", "id"),
            Column("segment", "enum", allowed=SEGMENTS),
            Column("value", "money", doc="first-year value"),
            Column("status", "enum", allowed=ACCOUNT_STATUSES, doc="at the end of the history"),
            Column("partner_id", "id", required=False, doc="serving partner, empty if none"),
        ),
        "conflicts": (
            Column("month", "month"),
            Column("account_id", "id"),
            Column("type", "enum", allowed=CONFLICT_TYPES),
            Column("resolution", "text"),
            Column("winner", "id", required=False, doc="a partner_id, direct, digital, or empty if a competitor won"),
        ),
    }


SCHEMA: dict[str, tuple[Column, ...]] = _schema(Scenario().tier_names)


@dataclass(frozen=True, eq=False)
class PRMExport:
    """A PRM export: one pandas DataFrame per table, months as ``YYYY-MM`` strings.

    Columns are as in :data:`SCHEMA`: ids, months and vocabularies are ``object`` columns of
    ``str`` (an empty string where a value is optional and absent), counts ``int64``, money
    ``float64``, flags ``bool``.

    Attributes:
        partners, tiers, deals, payouts: the required tables.
        accounts, conflicts: the optional tables, ``None`` when absent.
        first_month, last_month: the history's first and last month (``YYYY-MM``).
        tier_names: the programme's tiers, lowest first.
        vendor: the vendor's name (the manifest's, or the scenario's for a simulated export).
        currency: always ``USD``.
    """

    partners: pd.DataFrame
    tiers: pd.DataFrame
    deals: pd.DataFrame
    payouts: pd.DataFrame
    first_month: str
    last_month: str
    tier_names: tuple[str, ...] = field(default_factory=lambda: tuple(Scenario().tier_names))
    accounts: pd.DataFrame | None = None
    conflicts: pd.DataFrame | None = None
    vendor: str = ""
    currency: str = "USD"

    @property
    def n_months(self) -> int:
        """Months from ``first_month`` to ``last_month``, both included."""
        return _month_index(self.last_month) - _month_index(self.first_month) + 1

    def months(self) -> list[str]:
        """Every month of the history, ``YYYY-MM``."""
        first = pd.Period(self.first_month, "M")
        return [str(first + i) for i in range(self.n_months)]

    def table(self, name: str) -> pd.DataFrame | None:
        """The table called ``name`` (``None`` for an absent optional table)."""
        if name not in TABLES:
            raise KeyError(f"no table {name!r}; the tables are {', '.join(TABLES)}")
        return getattr(self, name)

    def manifest(self) -> dict[str, Any]:
        """The ``export.yaml`` manifest of this export."""
        return {"vendor": self.vendor, "currency": self.currency, "first_month": self.first_month,
                "last_month": self.last_month, "tiers": list(self.tier_names)}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PRMExport):
            return NotImplemented
        if self.manifest() != other.manifest():
            return False
        for name in TABLES:
            a, b = self.table(name), other.table(name)
            if (a is None) != (b is None):
                return False
            if a is not None and not (list(a.columns) == list(b.columns) and a.dtypes.equals(b.dtypes)
                                      and a.reset_index(drop=True).equals(b.reset_index(drop=True))):
                return False
        return True

    __hash__ = None  # type: ignore[assignment]


def _month_index(month: str) -> int:
    y, m = month.split("-")
    return int(y) * 12 + int(m) - 1


def _month_label(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def normalise(name: str, df: pd.DataFrame, tier_names: Iterable[str] = ()) -> pd.DataFrame:
    """``df`` with the columns of table ``name`` in order and in their canonical dtypes (see :class:`PRMExport`)."""
    cols = _schema(tier_names)[name]
    out = {}
    for col in cols:
        s = df[col.name]
        if col.kind == "int":
            out[col.name] = s.astype(np.int64).to_numpy()
        elif col.kind == "money":
            out[col.name] = s.astype(np.float64).to_numpy()
        elif col.kind == "bool":
            out[col.name] = s.astype(bool).to_numpy()
        else:
            out[col.name] = np.array(["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
                                      for v in s.tolist()], dtype=object)
    return pd.DataFrame(out, columns=[c.name for c in cols])


# --------------------------------------------------------------------------- a simulated run's export
def _pid(ids: Iterable[int]) -> list[str]:
    return [f"P{int(i)}" if int(i) >= 0 else "" for i in ids]


def export_run(result: Any, *, start: str = "2024-01") -> PRMExport:
    """The PRM export of a simulated run's reported months, month 1 being ``start`` (``YYYY-MM``).

    ``result`` is a :class:`sim.RunResult` of ``sim.run(..., record_deals=True)``.  Partners are those
    in the programme in some reported month (their join month may precede ``start``); tiers come from
    the partner panel (the tier held at the end of each month, one row per change); deals from the
    deal log (value rounded to cents); payouts from the monthly payouts by lever (rounded to cents;
    rows that round to zero left out); accounts from the customers at the end; conflicts from the
    conflict log.  Partner ids are ``P<n>``, accounts ``A<n>``, territories ``T<n>``, deals ``D<n>``.
    """
    if getattr(result, "deals", None) is None:
        raise ValueError("export_run needs the run's deal log: run it with sim.run(..., record_deals=True)")
    try:
        first = _month_index(str(pd.Period(start, "M")))
    except (ValueError, TypeError):
        raise PRMError("start", [("start", start, "a month YYYY-MM, e.g. 2024-01")]) from None
    sc = result.scenario
    tiers = tuple(sc.tier_names)
    n_months = int(sc.time.months)

    def month(m: Iterable[int]) -> list[str]:
        return [_month_label(first + int(x) - 1) for x in m]

    panel = result.partners.sort_values(["partner_id", "month"], kind="stable")
    ids = panel["partner_id"].to_numpy()
    firsts = panel.drop_duplicates("partner_id", keep="first").set_index("partner_id")
    lasts = panel.drop_duplicates("partner_id", keep="last").set_index("partner_id")
    exited = lasts["lifecycle"].astype(str) == "exited"
    cov = result.coverage
    terr = cov.groupby("partner_id")["territory"].apply(lambda s: ";".join(f"T{t}" for t in sorted(set(s))))
    seg = cov.groupby("partner_id", observed=True)["segment"].apply(
        lambda s: ";".join(x for x in SEGMENTS if x in set(s.astype(str))))
    pids = firsts.index.to_numpy()
    partners = pd.DataFrame({
        "partner_id": _pid(pids),
        "type": firsts["type"].astype(str).to_numpy(),
        "territories": terr.reindex(pids).fillna("").to_numpy(),
        "segments": seg.reindex(pids).fillna("").to_numpy(),
        "joined": month(firsts["month"].to_numpy() - firsts["tenure"].to_numpy()),
        "exited": np.where(exited, month(lasts["month"]), ""),
        "exit_reason": np.where(exited, lasts["exit_reason"].astype(str), ""),
        "certifications": lasts["certifications"].to_numpy(),
    })
    tier = panel["tier"].cat.codes.to_numpy()
    change = np.ones(len(panel), dtype=bool)
    change[1:] = (ids[1:] != ids[:-1]) | (tier[1:] != tier[:-1])
    ch = panel[change]
    tier_rows = pd.DataFrame({"partner_id": _pid(ch["partner_id"]), "month": month(ch["month"]),
                              "tier": ch["tier"].astype(str).to_numpy()})

    d = result.deals
    value = np.round(d["value"].to_numpy(dtype=float), 2)
    deals = pd.DataFrame({
        "deal_id": [f"D{i + 1}" for i in range(len(d))],
        "month": month(d["month"]),
        "account_id": [f"A{a}" for a in d["account"]],
        "territory": [f"T{t}" for t in d["territory"]],
        "segment": d["segment"].astype(str).to_numpy(),
        "channel": d["channel"].astype(str).to_numpy(),
        "partner_id": _pid(d["partner_id"]),
        "value": np.maximum(value, 0.01),
        "registered": d["registered"].to_numpy(dtype=bool),
        "outcome": np.where(d["won"].to_numpy(dtype=bool), "won", "lost"),
    })
    p = result.payouts
    amount = np.round(p["amount"].to_numpy(dtype=float), 2)
    keep = amount > 0
    payouts = pd.DataFrame({"month": month(p["month"][keep]), "partner_id": _pid(p["partner_id"][keep]),
                            "lever": p["lever"][keep].astype(str).to_numpy(), "amount": amount[keep]})

    a = result.accounts
    status = a["state"].astype(str).replace({"unaware": "prospect", "in_market": "prospect"})
    accounts = pd.DataFrame({
        "account_id": [f"A{i}" for i in a["account"]],
        "territory": [f"T{t}" for t in a["territory"]],
        "segment": a["segment"].astype(str).to_numpy(),
        "value": np.round(a["value"].to_numpy(dtype=float), 2),
        "status": status.to_numpy(),
        "partner_id": _pid(a["partner_id"]),
    })
    c = result.conflicts
    winner = c["winner"].astype(str).replace({"competitor": ""}) if len(c) else pd.Series([], dtype=object)
    conflicts = pd.DataFrame({
        "month": month(c["month"]),
        "account_id": [f"A{int(x)}" for x in c["account"]],
        "type": c["type"].astype(str).to_numpy() if len(c) else [],
        "resolution": c["resolution"].astype(str).to_numpy() if len(c) else [],
        "winner": winner.to_numpy(),
    })
    frames = {"partners": partners, "tiers": tier_rows, "deals": deals, "payouts": payouts,
              "accounts": accounts, "conflicts": conflicts}
    return PRMExport(
        **{k: normalise(k, v, tiers) for k, v in frames.items()},
        first_month=_month_label(first),
        last_month=_month_label(first + n_months - 1),
        tier_names=tiers,
        vendor=str(sc.name),
    )


# --------------------------------------------------------------------------- writing
def _csv_text(df: pd.DataFrame) -> str:
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == bool:
            out[c] = np.where(out[c], "true", "false")
    return out.to_csv(index=False, lineterminator="\n")


def write_tables(export: PRMExport, folder: str | os.PathLike[str], *, format: str = "csv",  # noqa: A002
                 manifest: bool = True) -> None:
    """Write the export's tables (and its manifest, unless ``manifest`` is False) into the existing ``folder``.

    Not atomic by itself: :func:`write_export` and ``channelsim data export`` write into a staging folder.
    Without the manifest a reader takes the history's months from the deals and the baseline's tiers.
    """
    import yaml

    if format not in ("csv", "parquet"):
        raise ValueError(f"format must be 'csv' or 'parquet', not {format!r}")
    folder = Path(folder)
    for name in TABLES:
        df = export.table(name)
        if df is None:
            continue
        if format == "csv":
            (folder / f"{name}.csv").write_text(_csv_text(df), encoding="utf-8")
        else:
            df.to_parquet(folder / f"{name}.parquet", index=False)
    if manifest:
        (folder / MANIFEST).write_text(yaml.safe_dump(export.manifest(), sort_keys=False), encoding="utf-8")


def write_export(export: PRMExport, path: str | os.PathLike[str], *, format: str = "csv",  # noqa: A002
                 overwrite: bool = False, manifest: bool = True) -> Path:
    """Write ``export`` to the folder ``path`` atomically: into a temporary sibling folder, then renamed.

    Args:
        export: the export.
        path: the folder to create (it must not exist, or be empty, unless ``overwrite``).
        format: ``csv`` or ``parquet``.
        overwrite: replace an existing folder.
        manifest: also write ``export.yaml``.

    Returns:
        The folder written.  On any error nothing is left behind and an existing folder is unchanged.
    """
    target = Path(os.path.abspath(path))
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"{target} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise FileExistsError(f"{target} exists and is not empty (pass overwrite=True to replace it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    old = None
    try:
        write_tables(export, tmp, format=format, manifest=manifest)
        os.chmod(tmp, 0o755)
        if target.exists():
            old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.old-"))
            os.replace(target, old / "export")
        os.replace(tmp, target)
    except BaseException:
        if old is not None and not target.exists():
            os.replace(old / "export", target)
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target


# --------------------------------------------------------------------------- reading and checking
_MONTH = r"[0-9]{4}-(0[1-9]|1[0-2])"
_MAX_ID_CHARS = 200
_MAX_COUNT = 10**9
_MANIFEST_KEYS = ("vendor", "currency", "first_month", "last_month", "tiers")


class _Problems:
    """The problems found so far: the first :data:`MAX_PROBLEMS` in full, a count of the rest."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Any, str]] = []
        self.more = 0

    def add(self, where: str, value: Any, allowed: str) -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append((where, value, allowed))
        else:
            self.more += 1

    def rows(self, file: str, column: str, bad: np.ndarray, values: Any, allowed: str | Any) -> None:
        """One problem per row where ``bad`` (``allowed`` a text, or a function of the row's position)."""
        idx = np.flatnonzero(np.asarray(bad, dtype=bool))
        room = max(0, MAX_PROBLEMS - len(self.items))
        vals = list(values) if not isinstance(values, np.ndarray) else values
        for i in idx[:room]:
            text = allowed(int(i)) if callable(allowed) else allowed
            self.items.append((f"{file}, row {int(i) + 2}, column '{column}'", vals[i], text))
        self.more += max(0, idx.size - room)

    def __bool__(self) -> bool:
        return bool(self.items) or self.more > 0

    def check(self, source: Path) -> None:
        if self:
            raise PRMError(str(source), self.items, self.more)


def _allowed_text(col: Column) -> str:
    if col.kind == "id":
        what = (f"an identifier (text of at most {_MAX_ID_CHARS} characters, no commas, semicolons or control "
                "characters)")
    elif col.kind == "month":
        what = "a month YYYY-MM, e.g. 2024-03"
    elif col.kind == "enum":
        what = "one of: " + ", ".join(col.allowed or ())
    elif col.kind == "list":
        what = ("one or more of " + ", ".join(col.allowed) if col.allowed else "one or more identifiers") + \
            " separated by ';'"
    elif col.kind == "int":
        what = f"a whole number from 0 to {_MAX_COUNT:,}"
    elif col.kind == "money":
        low = "greater than 0" if col.positive else "from 0"
        what = (f"an amount in USD, a plain number {low} up to {MAX_AMOUNT:.0e} (no currency sign or thousands "
                "separator)")
    elif col.kind == "bool":
        what = "true or false"
    else:
        what = f"text of at most {_MAX_ID_CHARS} characters without control characters"
    return what if col.required else what + ", or empty"


def _text_of(series: pd.Series) -> pd.Series:
    """A Parquet column as the text a CSV file would hold (missing values empty)."""
    if pd.api.types.is_bool_dtype(series):
        return series.map({True: "true", False: "false"}).fillna("").astype(object)
    if pd.api.types.is_datetime64_any_dtype(series):
        return series.dt.strftime("%Y-%m").fillna("").astype(object)
    if isinstance(series.dtype, pd.PeriodDtype):
        return series.astype(str).replace("NaT", "").astype(object)

    def one(v: Any) -> str:
        if v is None or v is pd.NaT or v is pd.NA:
            return ""
        if isinstance(v, bool | np.bool_):
            return "true" if v else "false"
        if isinstance(v, float | np.floating):  # a whole number as one (ids stored as floats: 12.0 is '12')
            if math.isnan(v):
                return ""
            return str(int(v)) if math.isfinite(v) and v == int(v) and abs(v) < 2**53 else repr(float(v))
        if isinstance(v, bytes):
            return v.decode("utf-8", errors="replace")
        return str(v)

    return pd.Series([one(v) for v in series.tolist()], index=series.index, dtype=object)


def _read_csv(path: Path, file: str, probs: _Problems) -> pd.DataFrame | None:
    import csv
    import io

    raw = path.read_bytes()
    if not raw.strip():
        probs.add(file, _NO_VALUE, "the file is empty; allowed: a header row naming the columns, then one row "
                                   "per record")
        return None
    if b"\x00" in raw[:65536]:
        probs.add(file, _NO_VALUE, "the file holds binary data (NUL bytes), not CSV text; allowed: comma-separated "
                                   "UTF-8 text")
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        probs.add(f"{file}, line {line}", raw[err.start:err.start + 1], "UTF-8 text (save the file as 'CSV UTF-8')")
        return None
    try:
        header = next(csv.reader(io.StringIO(text.split("\n", 1)[0])), [])
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False, engine="c")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, csv.Error) as err:
        probs.add(file, _NO_VALUE, f"not readable as CSV ({str(err).strip().splitlines()[-1][:200]}); allowed: "
                                   "comma-separated values with one header row, every row with as many fields")
        return None
    df.columns = [c.strip() for c in header] if len(header) == len(df.columns) else df.columns
    return df


def _read_parquet(path: Path, file: str, probs: _Problems) -> pd.DataFrame | None:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
        names = list(table.schema.names)
        if len(set(names)) != len(names):
            df = pd.DataFrame(columns=names)  # the duplicate is reported with the header
        else:
            df = table.to_pandas()
    except Exception as err:  # noqa: BLE001 - pyarrow raises many kinds on a damaged file
        probs.add(file, _NO_VALUE, f"not a readable Parquet file ({type(err).__name__}: {str(err)[:160]})")
        return None
    df.columns = [str(c).strip() for c in df.columns]
    if len(set(df.columns)) == len(df.columns):
        for c in df.columns:
            df[c] = _text_of(df[c])
    return df.reset_index(drop=True)


def _read_table(folder: Path, name: str, probs: _Problems) -> tuple[str, pd.DataFrame] | None:
    """The table ``name`` of ``folder`` as text columns (``None`` if absent or unreadable)."""
    cols = SCHEMA[name]
    found = [folder / f"{name}.{ext}" for ext in ("csv", "parquet")
             if (folder / f"{name}.{ext}").exists() or (folder / f"{name}.{ext}").is_symlink()]
    if len(found) == 2:
        probs.add(f"{name}.csv and {name}.parquet", _NO_VALUE, "one file per table, not both")
        return None
    if not found:
        if name in REQUIRED_TABLES:
            probs.add(f"{name}.csv", _NO_VALUE, f"missing: a required table ({name}.csv or {name}.parquet with "
                                               f"the columns {', '.join(c.name for c in cols)})")
        return None
    path = found[0]
    file = path.name
    try:
        if not path.is_file():
            probs.add(file, _NO_VALUE, "not a regular file; allowed: a CSV or Parquet file")
            return None
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            probs.add(file, _NO_VALUE, f"larger than {MAX_FILE_BYTES:,} bytes ({size:,}); allowed: a smaller export")
            return None
        df = _read_csv(path, file, probs) if path.suffix == ".csv" else _read_parquet(path, file, probs)
    except OSError as err:
        probs.add(file, _NO_VALUE, f"cannot be read ({err.strerror or err})")
        return None
    if df is None:
        return None
    header = list(df.columns)
    dup = sorted({c for c in header if header.count(c) > 1})
    for c in dup:
        probs.add(f"{file}, row 1", c, "each column once (this one is named twice)")
    missing = [c.name for c in cols if c.name not in header]
    for c in missing:
        hint = ""
        if len(header) == 1 and any(sep in header[0] for sep in (";", "\t", "|")):
            sep = next(sep for sep in (";", "\t", "|") if sep in header[0])
            hint = f" (the header looks separated by {sep!r}: columns must be separated by commas)"
        probs.add(f"{file}, row 1, column '{c}'", _NO_VALUE,
                  f"missing{hint}; the table's columns are {', '.join(x.name for x in cols)} (others are ignored)")
    if dup or missing:
        return None
    return file, df[[c.name for c in cols]].astype(object)


def _check_column(file: str, col: Column, s: pd.Series, probs: _Problems) -> pd.Series:
    """Check one text column; return it parsed (ids and months stripped text, numbers, flags)."""
    s = s.astype(str).str.strip()
    v = s.to_numpy(dtype=object)
    empty = (s == "").to_numpy()
    allowed = _allowed_text(col)
    if col.required:
        probs.rows(file, col.name, empty, v, f"a value is required: {allowed}")
    given = ~empty
    control = s.str.contains(r"[\x00-\x1f\x7f]", regex=True).to_numpy()
    if col.kind in ("id", "text"):
        bad = given & (control | (s.str.len() > _MAX_ID_CHARS).to_numpy())
        if col.kind == "id":
            bad |= given & s.str.contains(r"[,;]", regex=True).to_numpy()
        probs.rows(file, col.name, bad, v, allowed)
        return s
    if col.kind == "month":
        probs.rows(file, col.name, given & ~s.str.fullmatch(_MONTH).to_numpy(dtype=bool), v, allowed)
        return s
    if col.kind == "enum":
        probs.rows(file, col.name, given & ~s.isin(col.allowed or ()).to_numpy(), v, allowed)
        return s
    if col.kind == "list":
        items = s.str.split(";")
        if col.allowed:
            ok = items.map(lambda xs: all(x.strip() in col.allowed for x in xs))
        else:
            ok = items.map(lambda xs: all(x.strip() and "," not in x and len(x) <= _MAX_ID_CHARS for x in xs))
        probs.rows(file, col.name, given & (~ok.to_numpy(dtype=bool) | control), v, allowed)
        return items.map(lambda xs: ";".join(x.strip() for x in xs)).where(given, "")
    if col.kind == "int":
        ok = s.str.fullmatch(r"[0-9]{1,10}(\.0*)?").to_numpy(dtype=bool).copy()
        num = pd.to_numeric(s.where(ok, "0"), errors="coerce").fillna(0)
        ok &= (num <= _MAX_COUNT).to_numpy()
        probs.rows(file, col.name, given & ~ok, v, allowed)
        return num.where(ok, 0).astype(np.int64)
    if col.kind == "money":
        num = pd.to_numeric(s.where(s.str.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"), "x"),
                            errors="coerce").astype(float)
        a = num.to_numpy()
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(a) & (a > 0 if col.positive else a >= 0) & (a <= MAX_AMOUNT)
        probs.rows(file, col.name, given & ~ok, v, allowed)
        return pd.Series(np.where(ok, a, 0.0), index=s.index)
    if col.kind == "bool":
        low = s.str.lower()
        probs.rows(file, col.name, given & ~low.isin(("true", "false")).to_numpy(), v, allowed)
        return low == "true"
    raise AssertionError(col.kind)  # pragma: no cover


def _read_manifest(folder: Path, probs: _Problems) -> dict[str, Any]:
    import yaml

    path = folder / MANIFEST
    if not (path.exists() or path.is_symlink()):
        return {}
    try:
        if not path.is_file() or path.stat().st_size > 2**20:
            probs.add(MANIFEST, _NO_VALUE, "a regular YAML file of at most 1 MB")
            return {}
        data = yaml.safe_load(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        probs.add(MANIFEST, _NO_VALUE, f"not readable as UTF-8 YAML ({type(err).__name__}); allowed: a mapping "
                                       f"with the keys {', '.join(_MANIFEST_KEYS)}")
        return {}
    if data is None:
        return {}
    if not isinstance(data, dict):
        probs.add(MANIFEST, _NO_VALUE, f"a mapping with the keys {', '.join(_MANIFEST_KEYS)}")
        return {}
    from sim.errors import did_you_mean

    out: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{MANIFEST}, key '{key}'"
        if key not in _MANIFEST_KEYS:
            probs.add(where, _NO_VALUE, f"unknown key{did_you_mean(str(key), _MANIFEST_KEYS)}; allowed keys: "
                                        f"{', '.join(_MANIFEST_KEYS)}")
        elif key == "currency" and value != "USD":
            probs.add(where, value, "USD (money in a PRM export is in US dollars)")
        elif key in ("first_month", "last_month") and not (isinstance(value, str) and re.fullmatch(_MONTH, value)):
            probs.add(where, value, "a month YYYY-MM in quotes, e.g. '2024-01'")
        elif key == "vendor" and not isinstance(value, str):
            probs.add(where, value, "the vendor's name (text)")
        elif key == "tiers" and not (isinstance(value, list) and value and all(
                isinstance(t, str) and t.strip() and not re.search(r"[,;\x00-\x1f]", t) for t in value)
                and len(set(value)) == len(value)):
            probs.add(where, value, "a list of distinct tier names, lowest tier first")
        else:
            out[key] = value
    if "first_month" in out and "last_month" in out and out["first_month"] > out["last_month"]:
        probs.add(f"{MANIFEST}, key 'last_month'", out["last_month"], f"a month at or after first_month "
                                                                       f"({out['first_month']})")
        out.pop("last_month")
    return out


def read_export(path: str | os.PathLike[str], *, tier_names: Iterable[str] | None = None) -> PRMExport:
    """Read and check the PRM export in the folder ``path``.

    Args:
        path: the folder holding the tables (``NAME.csv`` or ``NAME.parquet``) and optionally ``export.yaml``.
        tier_names: the programme's tier names, lowest first; by default the manifest's ``tiers``,
            else the baseline's (registered, silver, gold, platinum).

    Returns:
        The export, in the canonical dtypes of :class:`PRMExport` (months ``YYYY-MM`` strings).

    Raises:
        PRMError: anything that makes the export unusable; the message lists up to :data:`MAX_PROBLEMS`
            problems, each naming the file, the row (as a spreadsheet counts it: the header is row 1),
            the column, the value and what is allowed.
    """
    folder = Path(path)
    probs = _Problems()
    try:
        if not folder.exists():
            raise PRMError(str(folder), [("folder", _NO_VALUE, "does not exist; allowed: a folder holding "
                                          "partners, tiers, deals and payouts tables (.csv or .parquet)")])
        if not folder.is_dir():
            raise PRMError(str(folder), [("folder", _NO_VALUE, "is a file, not a folder; allowed: a folder holding "
                                          "partners, tiers, deals and payouts tables (.csv or .parquet)")])
        manifest = _read_manifest(folder, probs)
        tiers = tuple(tier_names) if tier_names is not None else tuple(manifest.get("tiers") or Scenario().tier_names)
        schema = _schema(tiers)
        raw = {name: _read_table(folder, name, probs) for name in TABLES}
    except OSError as err:
        raise PRMError(str(folder), [("folder", _NO_VALUE, f"cannot be read ({err.strerror or err})")]) from None
    probs.check(folder)
    files: dict[str, str] = {}
    frames: dict[str, pd.DataFrame] = {}
    for name, got in raw.items():
        if got is None:
            continue
        file, df = got
        files[name] = file
        frames[name] = pd.DataFrame({c.name: _check_column(file, c, df[c.name], probs) for c in schema[name]})
    probs.check(folder)
    first, last = _history(manifest, frames, probs)
    probs.check(folder)
    _check_links(frames, files, first, last, probs)
    probs.check(folder)
    tables = {name: normalise(name, df, tiers) for name, df in frames.items()}
    return PRMExport(
        partners=tables["partners"], tiers=tables["tiers"], deals=tables["deals"], payouts=tables["payouts"],
        accounts=tables.get("accounts"), conflicts=tables.get("conflicts"),
        first_month=first, last_month=last, tier_names=tiers,
        vendor=str(manifest.get("vendor", "")), currency="USD",
    )


def _history(manifest: dict[str, Any], frames: dict[str, pd.DataFrame], probs: _Problems) -> tuple[str, str]:
    """First and last month: the manifest's, else the span of the deals' months (else of any table's)."""
    seen = frames["deals"]["month"]
    if not len(seen):
        seen = pd.concat([frames["payouts"]["month"], frames["tiers"]["month"]])
    first = manifest.get("first_month", seen.min() if len(seen) else None)
    last = manifest.get("last_month", seen.max() if len(seen) else None)
    if first is None or last is None:
        probs.add(MANIFEST, _NO_VALUE, "the history's months are unknown: give first_month and last_month in "
                                       "export.yaml, or at least one deal")
        return "", ""
    if first > last:
        probs.add(f"{MANIFEST}, key 'first_month'", first, f"a month at or before the last month ({last})")
    return str(first), str(last)


def _check_links(frames: dict[str, pd.DataFrame], files: dict[str, str], first: str, last: str,
                 probs: _Problems) -> None:
    """Uniqueness, referential integrity and the rules between columns and tables."""
    within = f"a month from {first} to {last} (the history's months)"
    p, t, d, pay = frames["partners"], frames["tiers"], frames["deals"], frames["payouts"]
    fp, ft, fd, fpay = files["partners"], files["tiers"], files["deals"], files["payouts"]

    def unique(name: str, col: str) -> None:
        df, file = frames[name], files[name]
        dup = df[col].duplicated(keep="first").to_numpy()
        firsts = {v: i for i, v in reversed(list(enumerate(df[col].tolist())))}
        probs.rows(file, col, dup, df[col].to_numpy(),
                   lambda i: f"unique: already in row {firsts[df[col].iat[i]] + 2}")

    unique("partners", "partner_id")
    unique("deals", "deal_id")
    if "accounts" in frames:
        unique("accounts", "account_id")
    # Partners: exit reason exactly with an exit; months in order.
    exited, reason = p["exited"].to_numpy(dtype=object), p["exit_reason"].to_numpy(dtype=object)
    probs.rows(fp, "exit_reason", (exited == "") & (reason != ""), reason,
               "empty while the partner has not exited (exited is empty)")
    probs.rows(fp, "exit_reason", (exited != "") & (reason == ""), reason,
               "a reason when exited is given: " + ", ".join(EXIT_REASONS))
    joined = p["joined"].to_numpy(dtype=object)
    probs.rows(fp, "joined", joined > last, joined, f"a month at or before the history's last month ({last})")
    probs.rows(fp, "exited", (exited != "") & ((exited < first) | (exited > last)), exited, within + ", or empty")
    probs.rows(fp, "exited", (exited != "") & (exited < joined), exited, "a month at or after joined")
    ids = p["partner_id"]
    join_of = dict(zip(ids, joined, strict=True))
    exit_of = dict(zip(ids, exited, strict=True))
    known = set(ids)

    def months_in(file: str, df: pd.DataFrame) -> None:
        m = df["month"].to_numpy(dtype=object)
        probs.rows(file, "month", (m < first) | (m > last), m, within)

    def partner_known(file: str, df: pd.DataFrame, col: str = "partner_id", extra: tuple[str, ...] = (),
                      optional: bool = False) -> None:
        v = df[col].to_numpy(dtype=object)
        bad = (v != "") & ~df[col].isin(known | set(extra)).to_numpy()
        what = f"a partner_id of {fp}" + (" or " + ", ".join(extra) if extra else "")
        probs.rows(file, col, bad, v, what + (", or empty" if optional else ""))

    # Tiers.
    partner_known(ft, t)
    months_in(ft, t)
    key = t["partner_id"] + "\x1f" + t["month"]
    probs.rows(ft, "month", key.duplicated().to_numpy(), t["month"].to_numpy(),
               "one tier row per partner and month (this partner has another row for this month)")
    tj = t["partner_id"].map(join_of).fillna("").to_numpy(dtype=object)
    tm = t["month"].to_numpy(dtype=object)
    probs.rows(ft, "month", (tj != "") & (tm < tj), tm, lambda i: f"a month at or after the partner's joined ({tj[i]})")
    te = t["partner_id"].map(exit_of).fillna("").to_numpy(dtype=object)
    probs.rows(ft, "month", (te != "") & (tm > te), tm, lambda i: f"a month at or before the partner's exit ({te[i]})")
    # Deals.
    months_in(fd, d)
    ch, dp = d["channel"].to_numpy(dtype=object), d["partner_id"].to_numpy(dtype=object)
    probs.rows(fd, "partner_id", (ch == "partner") & (dp == ""), dp, "a partner_id of partners (channel is partner)")
    probs.rows(fd, "partner_id", (ch != "partner") & (dp != ""), dp,
               lambda i: f"empty (channel is {ch[i]}: only partner deals name a partner)")
    partner_known(fd, d)
    dm = d["month"].to_numpy(dtype=object)
    dj = d["partner_id"].map(join_of).fillna("").to_numpy(dtype=object)
    probs.rows(fd, "month", (dj != "") & (dm < dj), dm, lambda i: f"a month at or after the partner's joined ({dj[i]})")
    de = d["partner_id"].map(exit_of).fillna("").to_numpy(dtype=object)
    probs.rows(fd, "month", (de != "") & (dm > de), dm, lambda i: f"a month at or before the partner's exit ({de[i]})")
    # Payouts.
    months_in(fpay, pay)
    partner_known(fpay, pay)
    # Accounts: the deals' accounts, with the same territory and segment.
    if "accounts" in frames:
        a, fa = frames["accounts"], files["accounts"]
        partner_known(fa, a, optional=True)
        acc = a.set_index("account_id")
        probs.rows(fd, "account_id", ~d["account_id"].isin(acc.index).to_numpy(), d["account_id"].to_numpy(),
                   f"an account_id of {fa}")
        for col in ("territory", "segment"):
            theirs = d["account_id"].map(acc[col].to_dict()).to_numpy(dtype=object)
            mine = d[col].to_numpy(dtype=object)
            probs.rows(fd, col, pd.notna(theirs) & (theirs != mine), mine,
                       lambda i, theirs=theirs, col=col: f"the account's {col} in {fa} ({theirs[i]})")
    if "conflicts" in frames:
        c, fc = frames["conflicts"], files["conflicts"]
        months_in(fc, c)
        partner_known(fc, c, "winner", ("direct", "digital"), optional=True)
        if "accounts" in frames:
            probs.rows(fc, "account_id", ~c["account_id"].isin(frames["accounts"]["account_id"]).to_numpy(),
                       c["account_id"].to_numpy(), f"an account_id of {files['accounts']}")


# --------------------------------------------------------------------------- what an export supports
def summarise(export: PRMExport) -> dict[str, Any]:
    """What a checked export holds and which calibration moments it supports (``channelsim data check``).

    Returns a JSON-safe dict: ``months`` (first, last, count), ``partners`` (total, in the programme at
    the end, exited, joined during the history), ``tiers`` (each tier's partners at the end and rows),
    ``deals`` (per channel: won, won value, lost, win rate), ``payouts`` (per lever: rows, amount),
    ``optional`` (table -> rows, or None when absent) and ``moments`` (one entry per calibration
    moment: ``supported`` yes / partly / no, and ``basis``, what it rests on or what is missing).
    """
    p, t, d, pay = export.partners, export.tiers, export.deals, export.payouts
    first, last = export.first_month, export.last_month
    exited = p["exited"] != ""
    joined_during = p["joined"] >= first
    # Each partner's tier at the end: its last tier row (partners without one hold the lowest tier).
    end_tier = t.sort_values(["partner_id", "month"], kind="stable").drop_duplicates("partner_id", keep="last")
    end_tier = end_tier.set_index("partner_id")["tier"].reindex(p["partner_id"]).fillna(export.tier_names[0])
    in_end = end_tier[~exited.to_numpy()]
    tiers = {name: {"partners_at_end": int((in_end == name).sum()), "rows": int((t["tier"] == name).sum())}
             for name in export.tier_names}
    deals: dict[str, dict[str, Any]] = {}
    for ch in CHANNELS:
        x = d[d["channel"] == ch]
        won = x["outcome"] == "won"
        n_won, n_lost = int(won.sum()), int((~won).sum())
        deals[ch] = {"won": n_won, "won_value": float(x["value"][won].sum()), "lost": n_lost,
                     "win_rate": n_won / (n_won + n_lost) if n_won + n_lost else None}
    payouts = {lever: {"rows": int((pay["lever"] == lever).sum()),
                       "amount": float(pay["amount"][pay["lever"] == lever].sum())}
               for lever in LEVERS if (pay["lever"] == lever).any()}
    optional = {name: (None if export.table(name) is None else len(export.table(name))) for name in OPTIONAL_TABLES}
    won_p = d[(d["channel"] == "partner") & (d["outcome"] == "won")]
    n_months = export.n_months
    months_with_deals = int(d["month"].nunique())
    moments: dict[str, dict[str, str]] = {}

    def moment(name: str, supported: str, basis: str) -> None:
        moments[name] = {"supported": supported, "basis": basis}

    if len(d[d["outcome"] == "won"]) and len(t):
        moment("revenue by tier and channel over time", "yes" if months_with_deals >= 12 else "partly",
               f"won deals in {months_with_deals} of {n_months} months, tiers from the tier history")
    else:
        moment("revenue by tier and channel over time", "no", "needs won deals and a tier history")
    if int(exited.sum()):
        rate = 12 * int(exited.sum()) / max(1, _partner_months(p, first, last))
        moment("partner exits", "yes", f"{int(exited.sum())} exits with reasons "
               f"({rate:.1%} of partners a year)")
    else:
        moment("partner exits", "no", "no partner exited during the history")
    changes = int((t["month"] > first).sum())
    moment("tier migrations", "yes" if changes else "no",
           f"{changes} tier changes after {first}" if changes else "no tier change after the first month")
    n_sellers = int(won_p["partner_id"].nunique())
    if n_sellers >= 10:
        rev = won_p.groupby("partner_id")["value"].sum().sort_values(ascending=False)
        top = rev.head(max(1, len(rev) // 10)).sum() / rev.sum()
        moment("revenue concentration", "yes", f"{n_sellers} partners with won deals; the top 10 % of them "
               f"hold {top:.0%} of partner revenue")
    else:
        moment("revenue concentration", "no", f"needs won partner deals by 10 or more partners ({n_sellers})")
    if "mdf" in payouts:
        moment("MDF utilisation", "partly", f"MDF claims ({payouts['mdf']['rows']} payouts); the funds accrued "
               "and expired are not in the layout, so utilisation is inferred with the scenario's accrual rule")
    else:
        moment("MDF utilisation", "no", "no mdf payouts")
    lost = int((d["outcome"] == "lost").sum())
    moment("win rates by channel", "yes" if lost else "no",
           f"{lost} lost deals against {len(d) - lost} won" if lost else "no lost deals")
    c = export.conflicts
    if c is not None and len(c):
        kinds = ", ".join(f"{int((c['type'] == k).sum())} {k}" for k in CONFLICT_TYPES)
        moment("channel conflicts", "yes", f"{len(c)} conflicts ({kinds})")
    else:
        moment("channel conflicts", "no", "no conflicts table" if c is None else "the conflicts table is empty")
    return {
        "vendor": export.vendor,
        "months": {"first": first, "last": last, "count": n_months},
        "partners": {"total": len(p), "at_end": int((~exited).sum()), "exited": int(exited.sum()),
                     "joined_during": int(joined_during.sum())},
        "tiers": tiers,
        "deals": deals,
        "payouts": payouts,
        "optional": optional,
        "moments": moments,
    }


def _partner_months(p: pd.DataFrame, first: str, last: str) -> int:
    """Months partners spent in the programme during the history."""
    a = np.array([_month_index(max(j, first)) for j in p["joined"]])
    b = np.array([_month_index(e if e else last) for e in p["exited"]])
    return int(np.maximum(b - a + 1, 0).sum())


__all__ = ["LEVERS", "MAX_PROBLEMS", "OPTIONAL_TABLES", "PRMError", "PRMExport", "REQUIRED_TABLES", "SCHEMA",
           "TABLES", "export_run", "normalise", "read_export", "summarise", "write_export", "write_tables"]
