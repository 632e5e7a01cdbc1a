"""What an optimisation keeps for later: the estimation (``estimation.json``) and the recommendation as a scenario.

``estimation.json`` holds everything a solve needs from an estimation round, so that
``channelsim optimise ... --curves DIR`` re-solves under new constraints without a
single estimation simulation: the concave curves the LP got (with each replication's
scenario curves for robust mode and each tier's partner count), the cells' override
mappings (path, reference rate, current value), the centre the curves were estimated
around (as overrides of the base scenario), the spend levels, replications, seed and
fit, the base replications' tier revenues (for the revenue-proportional comparison),
the S-shape report, and a fingerprint of the scenario they were estimated for.  The
per-level table stays in ``response_curves.parquet``; the JSON records its SHA-256.

The fingerprint (:func:`scenario_hash`) is the SHA-256 of the validated scenario after
``--set``/``--months``, every field except ``name`` and ``description`` (which do not
change a simulation), as canonical JSON.  :func:`check_stored` refuses curves estimated
for another scenario, another horizon or other cells.

:func:`recommended_yaml` writes the optimised programme as a scenario file that
``extends:`` the base scenario file and sets only what differs from it (the ``--set``
values and the rates of the recommended programme; a list such as ``tiering.tiers`` is
written whole, because ``extends`` replaces lists).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

import sim

from .lp import Curve
from .response import CellSpec, ResponseData, cell_spec

ESTIMATION_FILE = "estimation.json"
POINTS_FILE = "response_curves.parquet"
#: the first round's points, kept when the stored curves are a later round's (the simple rules are built from them)
RULES_POINTS_FILE = "response_curves_round0.parquet"
FORMAT = "channelsim.optimise.estimation/1"
#: The largest ``estimation.json`` read back.
MAX_ESTIMATION_BYTES = 64 * 1024 * 1024
_UNHASHED = ("name", "description")


class CurvesError(ValueError):
    """Stored curves that cannot be read, or that were estimated for something else (one paragraph)."""


def scenario_hash(scenario: sim.Scenario) -> str:
    """SHA-256 (hex) of every field of ``scenario`` except its name and description."""
    data = {k: v for k, v in scenario.to_dict().items() if k not in _UNHASHED}
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(data, Mapping):
        for k, v in data.items():
            out.update(_flat(v, f"{prefix}{k}."))
    elif isinstance(data, list) and data and all(isinstance(x, Mapping) and "name" in x for x in data):
        for x in data:
            out.update(_flat(x, f"{prefix}{x['name']}."))
    else:
        out[prefix[:-1]] = data
    return out


def scenario_differences(a: Mapping[str, Any], b: Mapping[str, Any], limit: int = 5) -> list[str]:
    """``path: A vs B`` for the first ``limit`` dotted paths on which two scenario dicts differ."""
    fa, fb = _flat({k: v for k, v in a.items() if k not in _UNHASHED}), _flat(
        {k: v for k, v in b.items() if k not in _UNHASHED})
    keys = [k for k in dict.fromkeys([*fa, *fb]) if fa.get(k, "<absent>") != fb.get(k, "<absent>")]

    def short(v: Any) -> str:
        t = repr(v)
        return t if len(t) <= 40 else t[:37] + "..."

    out = [f"{k}: {short(fa.get(k, '<absent>'))} then, {short(fb.get(k, '<absent>'))} now" for k in keys[:limit]]
    if len(keys) > limit:
        out.append(f"and {len(keys) - limit} more")
    return out


# ---------------------------------------------------------------------------------------------- the estimation


def _floats(xs: Sequence[float] | None) -> list[float] | None:
    return None if xs is None else [float(x) for x in xs]


def estimation_record(response: ResponseData, base: sim.Scenario, *, replications: int, seed: int, fit: str,
                      round_: int, original_spends: Mapping[str, float], points_sha256: str,
                      version: str = "", radius: float | None = None) -> dict[str, Any]:
    """Everything a later solve needs from ``response`` (estimated around a centre derived from ``base``).

    Raises:
        ValueError: the centre differs from ``base`` elsewhere than in the cells' own fields.
    """
    from experiments.io import json_safe

    centre = {s.path: s.current_value for s in response.specs}
    if scenario_hash(base.with_overrides(centre)) != scenario_hash(response.scenario):
        raise ValueError("the estimation's centre differs from the base scenario outside the cells' fields")
    base_rows = response.base.replace({np.nan: None}).to_dict(orient="records")
    return {
        "format": FORMAT,
        "channelsim": version,
        "scenario_hash": scenario_hash(base),
        "scenario_name": base.name,
        "scenario": base.to_dict(),
        "months": int(base.time.months),
        "cells": [f"{s.tier}:{s.lever}" for s in response.specs],
        "levels": [float(m) for m in response.multipliers],
        "replications": int(replications),
        "seed": int(seed),
        "fit": fit,
        "round": int(round_),
        "radius": None if radius is None or not np.isfinite(radius) else float(radius),
        "centre": centre,
        "specs": [{"tier": s.tier, "lever": s.lever, "path": s.path, "reference": s.reference,
                   "current_value": s.current_value, "upper": s.upper} for s in response.specs],
        "curves": [{"tier": c.tier, "lever": c.lever, "spend": _floats(c.spend), "value": _floats(c.value),
                    "current": float(c.current), "revenue": _floats(c.revenue),
                    "scenario_values": None if c.scenario_values is None else [_floats(v) for v in c.scenario_values],
                    "partners": None if c.partners is None else float(c.partners),
                    "rates": None if c.rates is None else _floats(c.rates)} for c in response.curves],
        "original_spends": {k: float(v) for k, v in original_spends.items()},
        "partners": {k: float(v) for k, v in response.partners.items()},
        "base": base_rows,
        "shapes": response.shapes.replace({np.nan: None}).to_dict(orient="records"),
        "points_file": POINTS_FILE,
        "points_sha256": points_sha256,
        "estimation_runs": int(response.n_runs),
        "estimation_seconds": float(response.seconds),
        "estimation": response.diagnostics.get("design", "cells"),
        "diagnostics": json_safe(response.diagnostics),
    }


def sha256_file(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class StoredEstimation:
    """Curves read back from a folder: the record as written and the :class:`ResponseData` rebuilt from it."""

    folder: Path
    record: dict[str, Any]
    response: ResponseData
    #: the first round's estimation (around the current programme), stored when ``response`` is a later round's:
    #: what the simple rules are built from
    rules: ResponseData | None = None

    @property
    def cells(self) -> list[tuple[str, str]]:
        """The ``(tier, lever)`` cells the curves are for, in their stored order."""
        return [(s.tier, s.lever) for s in self.response.specs]

    @property
    def original_spends(self) -> dict[str, float]:
        """Each cell's spend in the programme the first estimation started from (USD per year)."""
        return dict(self.record["original_spends"])


def _response(rec: Mapping[str, Any], points: pd.DataFrame, points_name: str) -> ResponseData:
    """The :class:`ResponseData` a stored record and its points table describe (raises on inconsistency)."""
    base = sim.Scenario.model_validate(rec["scenario"])
    centre = base.with_overrides(dict(rec["centre"]))
    specs = tuple(CellSpec(tier=s["tier"], lever=s["lever"], path=s["path"], reference=float(s["reference"]),
                           current_value=float(s["current_value"]),
                           upper=None if s["upper"] is None else float(s["upper"])) for s in rec["specs"])
    curves = tuple(Curve(
        tier=c["tier"], lever=c["lever"], spend=tuple(c["spend"]), value=tuple(c["value"]),
        current=float(c["current"]), revenue=None if c["revenue"] is None else tuple(c["revenue"]),
        scenario_values=None if c["scenario_values"] is None else tuple(tuple(v) for v in c["scenario_values"]),
        partners=c["partners"], rates=None if c.get("rates") is None else tuple(c["rates"]))
        for c in rec["curves"])
    for s in specs:  # the specs must be what the centre implies
        again = cell_spec(centre, s.tier, s.lever)
        if again != s:
            raise ValueError(f"cell {s.cell} does not match the stored centre")
    if [c.cell for c in curves] != [s.cell for s in specs]:
        raise ValueError("curves and cells differ")
    for c in curves:
        c.check(need_revenue=True)
    rd = ResponseData(
        scenario=centre, specs=specs, multipliers=tuple(float(m) for m in rec["levels"]), runs=pd.DataFrame(),
        points=points, shapes=pd.DataFrame(rec["shapes"]), curves=curves, base=pd.DataFrame(rec["base"]),
        partners={k: float(v) for k, v in rec["partners"].items()}, seconds=float(rec["estimation_seconds"]),
        n_runs=int(rec["estimation_runs"]),
        diagnostics=_diagnostics(rec.get("diagnostics") or {}),
    )
    if set(points["cell"]) != {s.cell for s in specs}:
        raise ValueError(f"{points_name} has other cells")
    return rd


def read_estimation(folder: str | Path) -> StoredEstimation:
    """Read ``estimation.json`` and ``response_curves.parquet`` from ``folder`` (the ``--out`` of an earlier run).

    Raises:
        CurvesError: a file is missing, unreadable, of another format or inconsistent with the other.
    """
    from experiments.io import read_text_limited

    folder = Path(folder)
    where = f"--curves {folder}"
    path = folder / ESTIMATION_FILE
    if not folder.is_dir():
        raise CurvesError(f"{where}: not a folder; give the --out folder of an earlier `channelsim optimise` run")
    try:
        rec = json.loads(read_text_limited(path, MAX_ESTIMATION_BYTES))
    except FileNotFoundError:
        raise CurvesError(f"{where}: there is no {ESTIMATION_FILE} in it; give the --out folder of an earlier "
                          "`channelsim optimise` run (runs before stored curves existed must be estimated again)"
                          ) from None
    except (OSError, ValueError) as err:  # unreadable, too large, not UTF-8, not JSON
        raise CurvesError(f"{where}: {ESTIMATION_FILE} cannot be read ({err}); estimate again without --curves"
                          ) from None
    if not isinstance(rec, dict) or rec.get("format") != FORMAT:
        got = rec.get("format") if isinstance(rec, dict) else type(rec).__name__
        raise CurvesError(f"{where}: {ESTIMATION_FILE} is not a channelsim estimation of format {FORMAT!r} "
                          f"(format {str(got)[:60]!r}); estimate again without --curves")
    points_path = folder / str(rec.get("points_file", POINTS_FILE))
    try:
        digest = sha256_file(points_path)
        points = pd.read_parquet(points_path)
    except (OSError, ValueError) as err:
        raise CurvesError(f"{where}: {points_path.name} cannot be read ({err}); estimate again without --curves"
                          ) from None
    if digest != rec.get("points_sha256"):
        raise CurvesError(f"{where}: {points_path.name} is not the file {ESTIMATION_FILE} was written with (its "
                          "SHA-256 differs); estimate again without --curves")
    try:
        rd = _response(rec, points, points_path.name)
        rules = None
        if rec.get("rules") is not None:  # the first round's estimation (a later round's curves are in rd)
            sub = rec["rules"]
            rules_path = folder / str(sub.get("points_file", RULES_POINTS_FILE))
            try:
                rules_digest = sha256_file(rules_path)
                rules_points = pd.read_parquet(rules_path)
            except (OSError, ValueError) as err:
                raise ValueError(f"{rules_path.name} cannot be read ({err})") from None
            if rules_digest != sub.get("points_sha256"):
                raise ValueError(f"{rules_path.name} is not the file {ESTIMATION_FILE} was written with")
            rules = _response(sub, rules_points, rules_path.name)
    except (KeyError, TypeError, ValueError, sim.ScenarioError) as err:
        text = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        raise CurvesError(f"{where}: {ESTIMATION_FILE} is damaged or inconsistent ({text}); estimate again "
                          "without --curves") from None
    return StoredEstimation(folder=folder, record=rec, response=rd, rules=rules)


def _diagnostics(d: dict) -> dict:
    """The stored diagnostics as :func:`optimise.joint.estimate_joint` returns them (NaN back from None)."""
    out = dict(d)
    for k in ("lof_f", "lof_p", "r2_between"):
        if k in out and out[k] is None:
            out[k] = float("nan")
    out["interactions"] = [{**it, "cells": tuple(it["cells"])} for it in out.get("interactions", [])]
    return out


def check_stored(stored: StoredEstimation, scenario: sim.Scenario, *, cells: Sequence[tuple[str, str]] | None = None,
                 levels: Sequence[float] | None = None, replications: int | None = None,
                 fit: str | None = None) -> None:
    """Refuse stored curves that were estimated for another scenario, horizon, cells or estimation settings.

    Args:
        stored: what :func:`read_estimation` read.
        scenario: the validated scenario of this run (after ``--set``/``--months``).
        cells: the cells asked for (None: whatever was stored).
        levels: the spend levels asked for (None: whatever was stored).
        replications: the replications per level asked for (None: whatever was stored).
        fit: the curve fit asked for (None: whatever was stored).

    Raises:
        CurvesError: naming what differs, its stored and its current value.
    """
    rec = stored.record
    where = f"--curves {stored.folder}"
    if int(rec["months"]) != int(scenario.time.months):
        raise CurvesError(
            f"{where}: the stored curves were estimated over {rec['months']} reported months (time.months) and this "
            f"run simulates {scenario.time.months}; curves per year depend on the horizon: pass --months "
            f"{rec['months']} (or the same --set), or estimate again without --curves")
    if rec["scenario_hash"] != scenario_hash(scenario):
        diffs = scenario_differences(rec["scenario"], scenario.to_dict())
        raise CurvesError(
            f"{where}: the stored curves were estimated for a different scenario ({rec.get('scenario_name')!r}, "
            f"fingerprint {rec['scenario_hash'][:12]}) than this one ({scenario.name!r}, fingerprint "
            f"{scenario_hash(scenario)[:12]}): {'; '.join(diffs) or 'fields differ'}; pass the scenario and the "
            "--set/--months of the run that wrote them, or estimate again without --curves")
    have = [f"{t}:{lv}" for t, lv in stored.cells]
    if cells is not None:
        want = [f"{t}:{lv}" for t, lv in cells]
        if set(want) != set(have):
            missing = [c for c in want if c not in have]
            extra = [c for c in have if c not in want]
            parts = ([f"not estimated: {', '.join(missing)}"] if missing else []) + (
                [f"estimated but not asked for: {', '.join(extra)}"] if extra else [])
            raise CurvesError(f"{where}: the stored curves are for the cells {', '.join(have)} and --cells asks for "
                              f"{', '.join(want)} ({'; '.join(parts)}); leave --cells out to use the stored cells, "
                              "or estimate again without --curves")
    for option, asked, kept in (("--levels", None if levels is None else [float(x) for x in levels], rec["levels"]),
                                ("--replications", replications, rec["replications"]), ("--fit", fit, rec["fit"])):
        if asked is not None and asked != kept:
            raise CurvesError(f"{where}: the stored curves were estimated with {option} {_show(kept)} and this run "
                              f"asks for {_show(asked)}; leave {option} out to use the stored curves, or estimate "
                              "again without --curves")


def _show(v: Any) -> str:
    if isinstance(v, list):
        return ",".join(f"{x:g}" for x in v)
    return str(v)


# ---------------------------------------------------------------------------------------------- the recommendation


def _diff(base: Any, new: Any) -> Any:
    """The part of ``new`` that differs from ``base``: mappings key by key, anything else whole."""
    if isinstance(base, Mapping) and isinstance(new, Mapping):
        out = {}
        for k, v in new.items():
            if k not in base:
                out[k] = v
            elif base[k] != v:
                out[k] = _diff(base[k], v)
        return out
    return new


def recommended_yaml(base_file: Path, base: sim.Scenario, optimised: sim.Scenario, *, name: str, description: str,
                     extends: str | None = None, run: Mapping[str, Any] | None = None) -> str:
    """The optimised programme as a scenario file extending ``base_file``.

    Args:
        base_file: the scenario file the run started from.
        base: that file as loaded (before ``--set``/``--months``).
        optimised: the scenario validation simulated.
        name: the new scenario's name.
        description: its description.
        extends: what to write after ``extends:`` (default: the file's name when it lies in the
            repository's scenario folder, its absolute path otherwise).
        run: metadata written under ``run:`` (ignored when the file is loaded).
    """
    from experiments.io import RUN_KEY, SCENARIOS_DIR

    if extends is None:
        f = base_file.resolve()
        extends = f.stem if f.parent == SCENARIOS_DIR.resolve() else str(f)
    changes = _diff(base.to_dict(), optimised.to_dict())
    for k in _UNHASHED:
        changes.pop(k, None)
    data: dict[str, Any] = {"extends": extends, "name": name, "description": description, **changes}
    if run:
        data[RUN_KEY] = dict(run)
    header = ("# The programme recommended by `channelsim optimise`: the base scenario it extends, with the\n"
              "# --set values of the run and the rates of the optimised allocation. Run it with\n"
              "#   channelsim run THIS_FILE\n")
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)


__all__ = ["ESTIMATION_FILE", "FORMAT", "POINTS_FILE", "CurvesError", "StoredEstimation", "check_stored",
           "estimation_record", "read_estimation", "recommended_yaml", "scenario_differences", "scenario_hash",
           "sha256_file"]
