"""Month 0 from a PRM export: the :class:`sim.InitialState` of a programme's own partners and accounts.

::

    from experiments.initial import with_data
    scenario, state = with_data(load_scenario("my_programme.yaml"))   # data: exports/2026-11
    result = sim.run(scenario, seed, initial=state)

:func:`initial_state` converts an export (:class:`experiments.prm.PRMExport`, or any object with the
same tables as pandas DataFrames) at one month: ``as_of="end"`` is the state after the export's last
month (a forward what-if), ``as_of="start"`` the state before its first month (a calibration that
simulates the history).  :func:`with_data` reads the scenario's ``data.path``, builds the state and
derives the scenario's sizes (``market.n_accounts``, ``market.n_territories``, ``partners.n_initial``)
and warm-up (``data.warmup_months``) from it.  The rules, month by month, are in ``docs/MODEL.md``
("Initial state from data").
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from sim.customers import CHURNED, COMPETITOR, CUSTOMER, DIGITAL_CH, DIRECT_CH, PARTNER_CH, UNAWARE
from sim.errors import Described, InputError, ScenarioError
from sim.initial import UNKNOWN, InitialState
from sim.partners import ACTIVE, ONBOARDING
from sim.scenario import PARTNER_TYPES, SEGMENTS, Scenario

from . import prm
from .prm import PRMError

AS_OF = ("start", "end")
_STATUS = {"prospect": UNAWARE, "customer": CUSTOMER, "competitor": COMPETITOR, "churned": CHURNED}
_CHANNEL = {"partner": PARTNER_CH, "direct": DIRECT_CH, "digital": DIGITAL_CH}


class DataError(PRMError):
    """An export that does not fit the scenario: names the file, the row, the column, the value and what is allowed."""


def _month(text: str) -> int:
    y, m = str(text).split("-")
    return int(y) * 12 + int(m) - 1


def _natural(key: str) -> tuple:
    """Sort key putting T2 before T10 (digit runs compared as numbers)."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", key) if p)


def _file(folder: str | os.PathLike[str] | None, table: str) -> str:
    if folder is None:
        return f"{table} table"
    for ext in ("csv", "parquet"):
        if (Path(folder) / f"{table}.{ext}").exists():
            return str(Path(folder) / f"{table}.{ext}")
    return str(Path(folder) / table)


def _split(text: Any) -> list[str]:
    return [p.strip() for p in str(text or "").split(";") if p.strip()]


def territory_ids(export: Any) -> tuple[str, ...]:
    """Every territory id the export names (partners, deals, accounts), in natural sorted order (T2 before T10)."""
    ids: set[str] = set()
    for text in export.partners["territories"].tolist():
        ids.update(_split(text))
    ids.update(str(t) for t in export.deals["territory"].tolist() if str(t))
    if getattr(export, "accounts", None) is not None:
        ids.update(str(t) for t in export.accounts["territory"].tolist() if str(t))
    return tuple(sorted(ids, key=_natural))


def initial_state(export: Any, scenario: Scenario, as_of: str = "end", *,
                  source: str | os.PathLike[str] | None = None) -> InitialState:
    """The partners and accounts of month 0 from a PRM export.

    Args:
        export: a :class:`experiments.prm.PRMExport` (months ``YYYY-MM`` strings, ids strings).
        scenario: the scenario the state is for (tier names, partner types, onboarding months).
        as_of: ``end``: month 0 is the month after the export's last (partners not exited; tiers,
            certifications and accounts at the end); ``start``: month 0 is the export's first month
            (partners who joined before it and had not left; tiers held in it; accounts with a
            deal in the history are prospects, the others keep their end status).
        source: the export's folder, named in errors.

    Raises:
        DataError: a tier name not among the scenario's, a partner type the scenario does not have,
            a customer served by a partner not in the programme, or more certifications than the
            scenario's slots; naming the file, the row, the column and the value.
    """
    if as_of not in AS_OF:
        raise ScenarioError(scenario.name, [("data.as_of", as_of, "one of start, end")])
    problems: dict[str, list[tuple[str, Any, str]]] = {}

    def bad(table: str, row: int, column: str, value: Any, allowed: str) -> None:
        # Rows as a spreadsheet counts them (the header is row 1), as experiments.prm.read_export does.
        problems.setdefault(_file(source, table), []).append((f"row {row + 2}, column {column}", value, allowed))

    first, last = _month(export.first_month), _month(export.last_month)
    ref = last + 1 if as_of == "end" else first  # the export's month that is the model's month 0
    terr = territory_ids(export)
    terr_index = {t: i for i, t in enumerate(terr)}
    k = len(terr)

    # ---- partners in the programme at month 0
    pt = export.partners.reset_index(drop=True)
    joined = np.array([_month(j) for j in pt["joined"].tolist()], dtype=np.int64)
    exited = np.array([_month(e) if str(e) else np.iinfo(np.int64).max for e in pt["exited"].tolist()])
    present = np.flatnonzero((joined < ref) & (exited >= ref))
    pids = [str(pt["partner_id"].iat[i]) for i in present]
    pindex = {p: i for i, p in enumerate(pids)}
    sc_types = scenario.partners.types
    types = list(sc_types)
    ptype = np.zeros(len(present), dtype=np.int8)
    covers = np.zeros((len(present), k, 3), dtype=bool)
    for j, row in enumerate(present):
        name = str(pt["type"].iat[row])
        if name not in sc_types:
            bad("partners", row, "type", name, f"a partner type of the scenario's partners.types: {', '.join(types)}")
        else:
            ptype[j] = PARTNER_TYPES.index(name)
        ts = [terr_index[t] for t in _split(pt["territories"].iat[row])]
        ss = [SEGMENTS.index(s) for s in _split(pt["segments"].iat[row]) if s in SEGMENTS]
        if ts and ss:
            covers[j][np.ix_(ts, ss)] = True
    joined_rel = joined[present] - ref
    onboarding = scenario.partners.lifecycle.onboarding_months
    lifecycle = np.where(-joined_rel < onboarding, ONBOARDING, ACTIVE).astype(np.int8)

    # ---- tiers held at month 0 (the last change at or before it; none: the lowest tier)
    names = scenario.tier_names
    tier = np.zeros(len(present), dtype=np.int8)
    tr = export.tiers.reset_index(drop=True)
    order = np.argsort([_month(m) for m in tr["month"].tolist()], kind="stable")
    for row in order.tolist():
        name, pid, m = str(tr["tier"].iat[row]), str(tr["partner_id"].iat[row]), _month(tr["month"].iat[row])
        if name not in names:
            bad("tiers", row, "tier", name, f"a tier of the scenario: {', '.join(names)}")
            continue
        if pid in pindex and m <= ref:  # a row holds from its month on: month 0's own row counts
            tier[pindex[pid]] = names.index(name)

    # ---- certifications (known at the end only) and last won deal
    cap = scenario.incentives.training.max_certifications
    certs = np.full(len(present), UNKNOWN, dtype=np.int64)
    if as_of == "end":
        for j, row in enumerate(present):
            c = int(pt["certifications"].iat[row])
            if c > cap:
                bad("partners", row, "certifications", c, f"at most the scenario's incentives.training."
                    f"max_certifications {cap} (raise it to hold every certification)")
            certs[j] = min(c, cap)
    dl = export.deals.reset_index(drop=True)
    dmonth = np.array([_month(m) for m in dl["month"].tolist()], dtype=np.int64)
    before = dmonth < ref
    won = (dl["outcome"].to_numpy() == "won") & before
    last_deal = np.where(joined[present] >= first, joined_rel - 1, UNKNOWN).astype(np.int64)
    for pid, m in zip(dl["partner_id"][won].tolist(), dmonth[won].tolist(), strict=True):
        j = pindex.get(str(pid))
        if j is not None:
            last_deal[j] = m - ref if last_deal[j] == UNKNOWN else max(last_deal[j], m - ref)

    # ---- accounts
    acc = getattr(export, "accounts", None)
    latest: dict[str, int] = {}  # an account's latest deal before month 0 (row in deals)
    latest_won: dict[str, int] = {}
    for row in np.argsort(dmonth, kind="stable").tolist():
        if before[row]:
            a = str(dl["account_id"].iat[row])
            latest[a] = row
            if won[row]:
                latest_won[a] = row
    dealt = {str(a) for a in dl["account_id"].tolist()}
    if acc is not None:
        table = acc.reset_index(drop=True)
        aids = [str(a) for a in table["account_id"].tolist()]
        a_terr = [str(t) for t in table["territory"].tolist()]
        a_seg = [str(s) for s in table["segment"].tolist()]
        a_val = table["value"].to_numpy(dtype=float)
        a_status = [str(s) for s in table["status"].tolist()]
        a_partner = [str(p) for p in table["partner_id"].tolist()]
        a_rows = list(range(len(table)))
    else:
        aids = sorted(dealt, key=_natural)
        last_rows = {}
        for row in np.argsort(dmonth, kind="stable").tolist():
            last_rows[str(dl["account_id"].iat[row])] = row
        rows = [last_rows[a] for a in aids]
        a_terr = [str(dl["territory"].iat[r]) for r in rows]
        a_seg = [str(dl["segment"].iat[r]) for r in rows]
        a_val = dl["value"].to_numpy(dtype=float)[rows] if rows else np.zeros(0)
        a_status = ["customer" if dl["outcome"].iat[r] == "won" else "competitor" for r in rows]
        a_partner = [str(dl["partner_id"].iat[r]) if dl["outcome"].iat[r] == "won" else "" for r in rows]
        a_rows = rows
    n = len(aids)
    median = np.array(scenario.market.deal_size.as_array())
    segment = np.array([SEGMENTS.index(s) for s in a_seg], dtype=np.int8)
    value = np.where(np.isfinite(a_val) & (a_val > 0), a_val, median[segment] if n else a_val)
    state = np.zeros(n, dtype=np.int8)
    channel = np.full(n, -1, dtype=np.int8)
    partner = np.full(n, -1, dtype=np.int32)
    since = np.full(n, UNKNOWN, dtype=np.int64)
    table_name = "accounts" if acc is not None else "deals"
    for i, a in enumerate(aids):
        status = a_status[i]
        if as_of == "start" and a in dealt:
            status = "prospect"  # its first decision in the history is after month 0
        state[i] = _STATUS[status]
        if a in latest and status != "prospect":
            since[i] = dmonth[latest[a]] - ref
        if status != "customer":
            continue
        p = a_partner[i]
        w = latest_won.get(a)
        if p and p in pindex:
            channel[i], partner[i] = PARTNER_CH, pindex[p]
        elif p and acc is not None and as_of == "end":
            bad(table_name, a_rows[i], "partner_id", p, "a partner in the programme at the end of the history "
                "(in partners, not exited), or empty")
        elif w is not None and str(dl["channel"].iat[w]) in ("direct", "digital"):
            channel[i] = _CHANNEL[str(dl["channel"].iat[w])]
        else:
            channel[i] = DIRECT_CH  # its partner left (or it was never a partner's): the vendor serves it
    revenue = mdf_paid = None
    if as_of == "end":  # the histories before a calibration's first month are not in the export
        revenue = _revenue_history(dl, dmonth, won, pindex, ref, len(pids))
        mdf_paid = _mdf_paid(export, scenario, pindex, ref, len(pids))
    if problems:
        first_file = next(iter(problems))
        raise DataError(first_file, [p for ps in problems.values() for p in ps])
    return InitialState(
        ptype=ptype, covers=covers, tier=tier, joined=joined_rel, certifications=certs, lifecycle=lifecycle,
        last_deal=last_deal, territory=np.array([terr_index[t] for t in a_terr], dtype=np.int32),
        segment=segment, value=value, state=state, channel=channel, partner=partner, since=since,
        revenue=revenue, mdf_paid=mdf_paid,
        territory_ids=terr, partner_ids=tuple(pids), account_ids=tuple(aids),
        as_of=export.last_month if as_of == "end" else export.first_month,
    )


def _revenue_history(dl: Any, dmonth: np.ndarray, won: np.ndarray, pindex: dict[str, int], ref: int,
                     n: int) -> np.ndarray:
    """Each partner's won deals' value in the 24 months before month 0, the last month first."""
    revenue = np.zeros((n, 24))
    values = dl["value"].to_numpy(dtype=float)
    for row in np.flatnonzero(won & (dmonth >= ref - 24)).tolist():
        j = pindex.get(str(dl["partner_id"].iat[row]))
        if j is not None:
            revenue[j, ref - 1 - int(dmonth[row])] += values[row]
    return revenue


def _mdf_paid(export: Any, scenario: Scenario, pindex: dict[str, int], ref: int, n: int) -> np.ndarray:
    """MDF paid to each partner in the ``incentives.mdf.expiry_months`` months before month 0."""
    e = scenario.incentives.mdf.expiry_months
    paid = np.zeros(n)
    po = export.payouts
    sel = po["lever"].to_numpy() == "mdf"
    for pid, month, amount in zip(po["partner_id"][sel].tolist(), po["month"][sel].tolist(),
                                  po["amount"][sel].tolist(), strict=True):
        j = pindex.get(str(pid))
        if j is not None and ref - e <= _month(month) < ref:
            paid[j] += float(amount)
    return paid


def fit_scenario(scenario: Scenario, state: InitialState) -> Scenario:
    """``scenario`` with the sizes the state gives and the data's warm-up (``data.warmup_months``)."""
    changes: dict[str, Any] = {**state.sizes(), "time.warmup_months": scenario.data.warmup_months}
    current = {p: _get(scenario, p) for p in changes}
    if current == changes:
        return scenario
    return scenario.with_overrides(changes, source=f"data {scenario.data.path}")


def _get(scenario: Scenario, path: str) -> Any:
    obj: Any = scenario
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def read_data(path: str | os.PathLike[str], tier_names: tuple[str, ...] | list[str] | None = None) -> Any:
    """The export in folder ``path``, its tiers checked against ``tier_names`` (:func:`experiments.prm.read_export`)."""
    return prm.read_export(path, tier_names=tier_names)


def with_data(scenario: Scenario, export: Any = None, *,
              source: str | os.PathLike[str] | None = None) -> tuple[Scenario, InitialState | None]:
    """The scenario fitted to its data folder and the initial state built from it (``None`` without ``data.path``).

    Args:
        scenario: a scenario whose ``data.path`` names an export folder (absolute, as
            :func:`experiments.io.load_scenario` resolves it), or none.
        export: the export already read (tests), instead of reading ``data.path``.
        source: the scenario file, named in errors (the scenario's name by default).

    Returns:
        ``(scenario, state)``: the scenario with ``market.n_accounts``, ``market.n_territories``,
        ``partners.n_initial`` from the state and ``time.warmup_months = data.warmup_months``.

    Raises:
        ScenarioError: naming the scenario, the field ``data.path`` and its value, and then each
            problem of the export (file, row, column, value, what is allowed), when the folder is
            missing, is no valid export (:func:`experiments.prm.read_export`) or does not fit the
            scenario (:func:`initial_state`).
    """
    path = scenario.data.path
    if not path and export is None:
        return scenario, None
    where = str(source) if source is not None else f"scenario {scenario.name!r}"
    try:
        if export is None:
            if not Path(path).is_dir():
                raise ScenarioError(where, [("data.path", path, "a folder holding a PRM export (docs/DATA.md)")])
            export = read_data(path, scenario.tier_names)
        state = initial_state(export, scenario, scenario.data.as_of, source=path)
        if path and not Path(path).is_absolute():  # as the resolved scenario records it (e.g. after --set)
            scenario = scenario.with_overrides({"data.path": str(Path(path).resolve())}, source="data.path")
        return fit_scenario(scenario, state), state
    except ScenarioError:
        raise
    except InputError as err:  # the export's own problems, under the scenario field that names it
        head = ("data.path", path, f"a PRM export this scenario can start from (docs/DATA.md); {err.source} has "
                f"{len(err.problems)} problem(s), listed below; `channelsim data check {path}` checks it")
        blank = getattr(prm, "_NO_VALUE", None)  # read_export's "no single value to quote"
        problems = [(f, Described("(none)") if v is blank else v, a) for f, v, a in err.problems]
        raise ScenarioError(where, [head, *problems]) from None



__all__ = ["AS_OF", "DataError", "fit_scenario", "initial_state", "read_data", "territory_ids", "with_data"]
