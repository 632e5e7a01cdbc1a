"""Overrides of nested scenario fields by path (``a.b.c`` or ``a__b__c``).

Lists of named items (the tiers) are addressed by name or by position:
``tiering.tiers.gold.discount`` and ``tiering.tiers.2.discount`` are the same field.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from .errors import ScenarioError, from_validation_error, number_problems

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
                raise ScenarioError(source, [(path, value, f"no field '{key}' at {where}; allowed: {allowed}")])
            if last:
                node[key] = value
                return
            node = node[key]
        elif isinstance(node, list):
            idx = _list_index(node, key)
            if idx is None:
                names = [str(x.get("name")) for x in node if isinstance(x, dict) and "name" in x]
                allowed = f"an index 0..{len(node) - 1}" + (f" or a name: {', '.join(names)}" if names else "")
                raise ScenarioError(
                    source, [(path, value, f"no item '{key}' in {'.'.join(walked)}; allowed: {allowed}")]
                )
            if last:
                node[idx] = value
                return
            node = node[idx]
        else:
            raise ScenarioError(source, [(path, value, f"'{'.'.join(walked)}' is a value, not a section")])
        walked.append(key)


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
