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

#: Incentive levers a payout may name (``sim/policies/levers.py``).
LEVERS: tuple[str, ...] = ("discount", "spiff", "rebate", "mdf", "training", "recognition", "relationship",
                           "improvement", "collaboration")
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
    """A PRM export that cannot be used: names the file, the row, the column, the value and what is allowed."""

    what = "PRM export"


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


def write_tables(export: PRMExport, folder: str | os.PathLike[str], *, format: str = "csv") -> None:  # noqa: A002
    """Write the export's tables and manifest into the existing folder ``folder`` (see :func:`write_export`)."""
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
    (folder / MANIFEST).write_text(yaml.safe_dump(export.manifest(), sort_keys=False), encoding="utf-8")


def write_export(export: PRMExport, path: str | os.PathLike[str], *, format: str = "csv",  # noqa: A002
                 overwrite: bool = False) -> Path:
    """Write ``export`` to the folder ``path`` atomically: into a temporary sibling folder, then renamed.

    Args:
        export: the export.
        path: the folder to create (it must not exist, or be empty, unless ``overwrite``).
        format: ``csv`` or ``parquet``.
        overwrite: replace an existing folder.

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
        write_tables(export, tmp, format=format)
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


__all__ = ["LEVERS", "MAX_PROBLEMS", "OPTIONAL_TABLES", "PRMError", "PRMExport", "REQUIRED_TABLES", "SCHEMA",
           "TABLES", "export_run", "normalise", "write_export", "write_tables"]
