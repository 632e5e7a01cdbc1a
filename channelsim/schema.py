"""The reference of every scenario field (dotted path, default, unit, allowed values, description).

Generated from the pydantic schema of :class:`sim.Scenario` and the baseline's
values; ``channelsim schema --out docs/SCENARIOS.md`` writes it as Markdown.

:func:`unbounded_fields` lists the numeric fields whose schema declares no finite
upper bound (``channelsim schema --unbounded`` prints them): every numeric field
should have one, chosen from what the model can run in memory and time.
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

import sim


@dataclass(frozen=True)
class FieldRow:
    """One leaf field of the scenario.

    Attributes:
        path: dotted path, as ``--set`` and ``with_overrides`` take it.
        default: the baseline value.
        unit: the unit.
        allowed: the range or the allowed values.
        description: what the field means.
    """

    path: str
    default: Any
    unit: str
    allowed: str
    description: str


def _unit(info: FieldInfo) -> str:
    extra = info.json_schema_extra
    return str(extra.get("unit", "")) if isinstance(extra, dict) else ""


def _allowed(info: FieldInfo) -> str:
    parts = []
    for m in info.metadata:
        for cls, attr, op in ((at.Ge, "ge", ">="), (at.Gt, "gt", ">"), (at.Le, "le", "<="), (at.Lt, "lt", "<")):
            if isinstance(m, cls):
                parts.append(f"{op} {_show(getattr(m, attr))}")
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


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"{value:g}" if abs(value) < 1e6 else f"{value:,.0f}".replace(",", "_")
    if isinstance(value, list | dict):
        return yaml.safe_dump(value, default_flow_style=True, width=1_000).strip()
    return str(value)


def scenario_fields(scenario: sim.Scenario | None = None) -> list[FieldRow]:
    """Every leaf field of the scenario, in schema order, with the values of ``scenario`` (the baseline).

    Sections are walked recursively; mappings of sections (``partners.types``,
    ``market.preference``) and the tier list are expanded item by item, tiers by
    name, matching the paths ``--set`` accepts (``tiering.tiers.gold.discount``).
    """
    sc = scenario if scenario is not None else sim.Scenario()
    rows: list[FieldRow] = []
    _walk(sc, "", "", "", rows)
    return rows


def _walk(model: BaseModel, prefix: str, parent_unit: str, parent_desc: str, rows: list[FieldRow]) -> None:
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        path = f"{prefix}{name}"
        unit = _unit(info)
        desc = info.description or ""
        if parent_desc:
            desc = f"{parent_desc}: {desc}"
            if unit in ("", "-") and parent_unit not in ("", "-"):
                unit = parent_unit
        if isinstance(value, BaseModel):
            _walk(value, path + ".", unit, desc if _is_leafy(value) else "", rows)
        elif isinstance(value, dict) and value and all(isinstance(v, BaseModel) for v in value.values()):
            for key, item in value.items():
                _walk(item, f"{path}.{key}.", unit, f"{desc} ({key})", rows)
        elif isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
            for i, item in enumerate(value):
                key = getattr(item, "name", i)
                _walk(item, f"{path}.{key}.", unit, "", rows)
        elif isinstance(value, dict):
            for key, item in value.items():
                rows.append(FieldRow(f"{path}.{key}", item, unit, _allowed_of_items(info), f"{desc} ({key})"))
        else:
            rows.append(FieldRow(path, value, unit, _allowed(info), desc))


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


def unbounded_fields(model: type[BaseModel] = sim.Scenario, prefix: str = "") -> list[str]:
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


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(scenario: sim.Scenario | None = None) -> str:
    """The Markdown reference of every scenario field, one table per top-level section."""
    rows = scenario_fields(scenario)
    out = [
        "# Scenario fields",
        "",
        "<!-- Generated by `channelsim schema --out docs/SCENARIOS.md` from the schema in sim/scenario.py; "
        "do not edit by hand. -->",
        "",
        "Every field of a scenario, with its baseline default, unit, allowed values and meaning. A scenario file",
        "(`scenarios/*.yaml`) sets any of these by nesting the dotted path as YAML mappings, and may",
        "`extends:` another file to override only what changes (mappings are merged, lists replaced).",
        "On the command line, `--set path=value` overrides one field, for example",
        "`channelsim run baseline --set incentives.rebate.scale=2 --set conflict.protections=[rules_of_engagement]`.",
        "Tiers are addressed by name (`tiering.tiers.gold.discount`) or position (`tiering.tiers.2.discount`);",
        "in a file, `tiering.tiers` is a list that replaces the baseline's as a whole.",
        "",
        "Rates are per month unless the unit says otherwise; money is in US dollars.",
        "",
        "**Bounds.** Every value is checked where it comes in (a file, `--set`, an experiment file, the what-if",
        "page) and `validate` accepts exactly what `run` accepts: types are strict (`true` is not a number, `\"2\"`",
        "not an integer; `1e3` is a number), numbers are finite (`.inf` and `.nan` are refused) and integers fit",
        "64 bits. Every numeric field has an upper bound (the *allowed* column), chosen from what the model can",
        "run in memory and time; `channelsim schema --unbounded` lists the fields that still lack one.",
    ]
    section = None
    for r in rows:
        top = r.path.split(".")[0]
        group = top if "." in r.path else "(top level)"
        if group != section:
            section = group
            desc = sim.Scenario.model_fields[top].description if "." in r.path else "name and description"
            out += ["", f"## {group}", "", f"{desc}.", "", "| field | default | unit | allowed | description |",
                    "|---|---|---|---|---|"]
        out.append(f"| `{_cell(r.path)}` | `{_cell(_show(r.default))}` | {_cell(r.unit)} | {_cell(r.allowed)} | "
                   f"{_cell(r.description)} |")
    return "\n".join(out) + "\n"


__all__ = ["FieldRow", "markdown", "scenario_fields", "unbounded_fields"]
