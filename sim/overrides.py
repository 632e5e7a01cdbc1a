"""Overrides of nested scenario fields by path (``a.b.c`` or ``a__b__c``).

Lists of named items (the tiers) are addressed by name or by position:
``tiering.tiers.gold.discount`` and ``tiering.tiers.2.discount`` are the same field.
A mapping set on the list (``tiering.tiers={gold: {discount: 0.3}}``) or on one item
(``tiering.tiers.gold={discount: 0.3}``) changes only the fields it gives.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from .errors import ScenarioError, did_you_mean, dotted_paths, from_validation_error, number_problems
from .scenario import merge_named

if TYPE_CHECKING:
    from .scenario import Scenario


def split_path(path: str) -> list[str]:
    """``"a.b__c"`` -> ``["a", "b", "c"]``."""
    return [p for p in path.replace("__", ".").split(".") if p != ""]


def set_path(data: dict[str, Any], path: str, value: Any, *, source: str = "overrides") -> None:
    """Set ``value`` at ``path`` inside the nested dict ``data`` (in place).

    The path must already exist in ``data`` (which holds every field, defaults
    included), so a typo is an error naming the path and the keys allowed there.
    """
    parts = split_path(path)
    if not parts:
        raise ScenarioError(source, [(path, value, "empty path")])
    node: Any = data
    walked: list[str] = []
    for i, key in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, dict):
            if key not in node:
                allowed = ", ".join(sorted(map(str, node))) or "(none)"
                where = ".".join(walked) or "the top level"
                hint = did_you_mean(key, node, path=".".join(parts), paths=dotted_paths(data))
                raise ScenarioError(source, [(path, value, f"no field '{key}' at {where}{hint}; allowed: {allowed}")])
            if last:
                if isinstance(value, Mapping) and _named(node[key]):  # tiers by name: change the tiers named
                    try:
                        node[key] = merge_named(node[key], value, path)
                    except ValueError as err:
                        raise ScenarioError(source, [(path, value, str(err))]) from None
                else:
                    node[key] = value
                return
            node = node[key]
        elif isinstance(node, list):
            idx = _list_index(node, key)
            if idx is None:
                names = [str(x.get("name")) for x in node if isinstance(x, dict) and "name" in x]
                allowed = f"an index 0..{len(node) - 1}" + (f" or a name: {', '.join(names)}" if names else "")
                hint = did_you_mean(key, names)
                raise ScenarioError(
                    source, [(path, value, f"no item '{key}' in {'.'.join(walked)}{hint}; allowed: {allowed}")]
                )
            if last:
                if isinstance(value, Mapping) and isinstance(node[idx], dict):  # one tier: change the fields given
                    if value.get("name", node[idx].get("name")) != node[idx].get("name"):
                        raise ScenarioError(source, [(path, value, "the tier's fields to change (a tier keeps its "
                                                                   "name here; to rename tiers, set the whole list)")])
                    node[idx] = {**node[idx], **value}
                else:
                    node[idx] = value
                return
            node = node[idx]
        else:
            raise ScenarioError(source, [(path, value, f"'{'.'.join(walked)}' is a value, not a section")])
        walked.append(key)


def _named(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and "name" in v for v in value)


def _list_index(items: list[Any], key: str) -> int | None:
    if key.lstrip("-").isdigit():
        i = int(key)
        return i if -len(items) <= i < len(items) else None
    for i, item in enumerate(items):
        if isinstance(item, dict) and item.get("name") == key:
            return i
    return None


def apply_overrides(scenario: Scenario, overrides: dict[str, Any], *, source: str = "overrides",
                    strict: bool = False) -> Scenario:
    """A new, re-validated scenario with each ``path: value`` of ``overrides`` applied.

    Args:
        scenario: the scenario to start from.
        overrides: dotted path -> value.
        source: where the overrides come from (named in errors).
        strict: check types strictly, as for input from users (``true`` is no number, ``"2"``
            no integer); Python callers get pydantic's usual conversions by default.

    Raises:
        ScenarioError: for a path that does not exist, a value not allowed, a non-finite
            number or an integer beyond 64 bits.
    """
    if not overrides:
        return scenario
    data = copy.deepcopy(scenario.model_dump(mode="python"))
    for path, value in overrides.items():
        set_path(data, path, value, source=source)
    try:
        result = type(scenario).model_validate(data, strict=strict)
    except ValidationError as err:
        raise from_validation_error(source, err) from None
    problems = number_problems(result.model_dump(mode="python"))
    if problems:
        raise ScenarioError(source, problems)
    return result
