"""The fields of a scenario as data: dotted path, default, unit, allowed values, description, basis, source.

Read from the pydantic schema of :class:`sim.scenario.Scenario` (no I/O).  The command line
renders them as ``docs/SCENARIOS.md`` (``channelsim schema``); the assumption screening
(``experiments.screening``) takes its factors from them.  :func:`unbounded_fields` lists
numeric fields without a finite upper bound (every numeric field should have one).
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass
from typing import Any

import annotated_types as at
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from .scenario import Scenario


@dataclass(frozen=True)
class FieldRow:
    """One leaf field of the scenario.

    Attributes:
        path: dotted path, as ``--set`` and ``with_overrides`` take it.
        default: the baseline value.
        unit: the unit.
        allowed: the range or the allowed values.
        description: what the field means.
        basis: where the default comes from: published, calibrated, assumption, lever or design.
        source: the publication, the calibration target or the reasoning behind the default.
    """

    path: str
    default: Any
    unit: str
    allowed: str
    description: str
    basis: str = ""
    source: str = ""
    lower: float | None = None  # the smallest allowed value (ge or gt), when numeric
    upper: float | None = None  # the largest allowed value (le or lt), when numeric


def _bounds(metadata: Any) -> tuple[float | None, float | None]:
    lo = hi = None
    for m in metadata:
        if isinstance(m, at.Ge | at.Gt):
            lo = float(getattr(m, "ge", getattr(m, "gt", None)))
        if isinstance(m, at.Le | at.Lt):
            hi = float(getattr(m, "le", getattr(m, "lt", None)))
    return lo, hi


def _extra(info: FieldInfo, key: str) -> str:
    extra = info.json_schema_extra
    return str(extra.get(key, "")) if isinstance(extra, dict) else ""


def _unit(info: FieldInfo) -> str:
    extra = info.json_schema_extra
    return str(extra.get("unit", "")) if isinstance(extra, dict) else ""


def _allowed(info: FieldInfo) -> str:
    parts = []
    for m in info.metadata:
        for cls, attr, op in ((at.Ge, "ge", ">="), (at.Gt, "gt", ">"), (at.Le, "le", "<="), (at.Lt, "lt", "<")):
            if isinstance(m, cls):
                parts.append(f"{op} {show_value(getattr(m, attr))}")
    tp = info.annotation
    args = typing.get_args(tp)
    lits = _literals(tp)
    if lits:
        kind = "list of" if typing.get_origin(tp) is list else "one of"
        parts.append(f"{kind} {', '.join(lits)}")
    elif tp is bool:
        parts.append("true, false")
    elif type(None) in args:
        parts.append("or null (none)")
    return "; ".join(parts)


def _literals(tp: Any) -> list[str]:
    if typing.get_origin(tp) is typing.Literal:
        return [str(a) for a in typing.get_args(tp)]
    for a in typing.get_args(tp):
        found = _literals(a)
        if found:
            return found
    return []


def show_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"{value:g}" if abs(value) < 1e6 else f"{value:,.0f}".replace(",", "_")
    if isinstance(value, list | dict):
        return yaml.safe_dump(value, default_flow_style=True, width=1_000).strip()
    return str(value)


def scenario_fields(scenario: Scenario | None = None) -> list[FieldRow]:
    """Every leaf field of the scenario, in schema order, with the values of ``scenario`` (the baseline).

    Sections are walked recursively; mappings of sections (``partners.types``,
    ``market.preference``) and the tier list are expanded item by item, tiers by
    name, matching the paths ``--set`` accepts (``tiering.tiers.gold.discount``).
    """
    sc = scenario if scenario is not None else Scenario()
    rows: list[FieldRow] = []
    _walk(sc, "", "", "", rows)
    return rows


def _walk(
    model: BaseModel,
    prefix: str,
    parent_unit: str,
    parent_desc: str,
    rows: list[FieldRow],
    parent_basis: tuple[str, str] = ("", ""),
) -> None:
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        path = f"{prefix}{name}"
        unit = _unit(info)
        desc = info.description or ""
        # A field without a source of its own (the fields of a partner type, a tier, a prospect
        # source) carries the basis and source of the mapping or list it belongs to.
        basis = (_extra(info, "basis"), _extra(info, "source"))
        if not basis[1] and parent_basis[1]:
            basis = parent_basis
        if parent_desc:
            desc = f"{parent_desc}: {desc}"
            if unit in ("", "-") and parent_unit not in ("", "-"):
                unit = parent_unit
        if isinstance(value, BaseModel):
            _walk(value, path + ".", unit, desc if _is_leafy(value) else "", rows, basis)
        elif isinstance(value, dict) and value and all(isinstance(v, BaseModel) for v in value.values()):
            for key, item in value.items():
                _walk(item, f"{path}.{key}.", unit, f"{desc} ({key})", rows, basis)
        elif isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
            for i, item in enumerate(value):
                key = getattr(item, "name", i)
                _walk(item, f"{path}.{key}.", unit, "", rows, basis)
        elif isinstance(value, dict):
            args = typing.get_args(info.annotation)
            bounds = _bounds(getattr(args[-1], "__metadata__", ())) if args else (None, None)
            for key, item in value.items():
                rows.append(
                    FieldRow(f"{path}.{key}", item, unit, _allowed_of_items(info), f"{desc} ({key})", *basis, *bounds)
                )
        else:
            rows.append(FieldRow(path, value, unit, _allowed(info), desc, *basis, *_bounds(info.metadata)))


def field_comment(info: FieldInfo) -> str:
    """What a field means, with its unit and allowed values: ``"horizon reported in KPIs [months; >= 1; <= 600]"``.

    The comment ``channelsim show`` writes above each field of a resolved scenario.
    """
    unit = _unit(info)
    tail = "; ".join(x for x in (unit if unit not in ("", "-") else "", _allowed(info)) if x)
    return " ".join((info.description or "").split()) + (f" [{tail}]" if tail else "")


_NUMBER = (int, float)


def _numeric(tp: Any) -> bool:
    """Whether an annotation is a number (``int``, ``float``, ``float | None``; never ``bool``)."""
    if tp in _NUMBER:
        return True
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return typing.get_origin(tp) in (typing.Union, type(int | None)) and bool(args) and all(a in _NUMBER for a in args)


def _has_upper_bound(info: FieldInfo) -> bool:
    """Whether a field declares a finite ``le`` or ``lt``."""
    for m in info.metadata:
        bound = m.le if isinstance(m, at.Le) else m.lt if isinstance(m, at.Lt) else None
        if isinstance(bound, int | float) and math.isfinite(bound):
            return True
    return False


def _model_of(tp: Any) -> type[BaseModel] | None:
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def unbounded_fields(model: type[BaseModel] = Scenario, prefix: str = "") -> list[str]:
    """Dotted paths of the numeric fields of ``model`` (recursively) without a finite upper bound (``le``/``lt``).

    Items of a list or mapping of sections are written ``*`` (``tiering.tiers.*.discount``); a mapping of
    numbers (``partners.recruitment.weights``) counts as one field, unbounded unless its values are
    ``Annotated`` with a bound.
    """
    out: list[str] = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        tp = info.annotation
        sub = _model_of(tp)
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if sub is not None:
            out += unbounded_fields(sub, path + ".")
        elif origin in (list, dict) and args and _model_of(args[-1]) is not None:
            out += unbounded_fields(args[-1], path + ".*.")
        elif origin in (list, dict) and args and _numeric(_strip(args[-1])):
            if not any(isinstance(m, at.Le | at.Lt) for m in getattr(args[-1], "__metadata__", ())):
                out.append(path)
        elif _numeric(tp) and not _has_upper_bound(info):
            out.append(path)
    return out


def _strip(tp: Any) -> Any:
    """``Annotated[X, ...]`` -> ``X``."""
    return typing.get_args(tp)[0] if hasattr(tp, "__metadata__") else tp


def _is_leafy(model: BaseModel) -> bool:
    """A small value-type section (a value per segment / channel) whose fields need the parent's description."""
    return type(model).__name__ in ("SegmentMap", "ChannelPreference")


def _allowed_of_items(info: FieldInfo) -> str:
    args = typing.get_args(info.annotation)
    return "a number per key" if args else ""



__all__ = ["FieldRow", "field_comment", "scenario_fields", "show_value", "unbounded_fields"]


PARAMETERS_BEGIN = "<!-- parameters: generated from the schema by `python -m sim.fields`; do not edit by hand -->"
PARAMETERS_END = "<!-- end of parameters -->"


def parameter_tables(scenario: Scenario | None = None) -> str:
    """The parameter tables of docs/MODEL.md (section 3.4): every field with default, unit, basis and source."""
    out: list[str] = [PARAMETERS_BEGIN, ""]
    section = None
    for row in scenario_fields(scenario):
        if "." not in row.path:  # name and description: free text
            continue
        top = row.path.split(".")[0]
        if top != section:
            section = top
            out += ["", f"**`{top}`**", "", "| Parameter | Default | Unit | Basis | Source or reasoning |",
                    "|---|---|---|---|---|"]
        value = show_value(row.default).replace("_", ",") if isinstance(row.default, int | float) else (
            f"`{show_value(row.default)}`")
        source = " ".join(str(row.source).split()).replace("|", "/")
        out.append(f"| `{row.path}` | {value} | {row.unit} | {row.basis} | {source} |")
    out += ["", PARAMETERS_END]
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover - documentation generator
    import sys
    from pathlib import Path

    doc = Path(__file__).resolve().parents[1] / "docs" / "MODEL.md"
    text = doc.read_text()
    i, j = text.index(PARAMETERS_BEGIN), text.index(PARAMETERS_END) + len(PARAMETERS_END)
    doc.write_text(text[:i] + parameter_tables() + text[j:])
    sys.stdout.write(f"wrote {doc}\n")
