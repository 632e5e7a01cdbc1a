"""Errors a user can act on: each names the source, the field, the value and what is allowed."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


class InputError(ValueError):
    """Input a user must correct: names the source, and for each problem the field, the value and what is allowed.

    Attributes:
        source: the file or the origin of the value (``--set``, ``overrides``).
        problems: one ``(field, value, allowed)`` triple per problem found.
    """

    what = "input"

    def __init__(self, source: str, problems: list[tuple[str, Any, str]]):
        self.source = source
        self.problems = problems
        lines = [f"{source}: invalid {self.what}"]
        for field, value, allowed in problems:
            lines.append(f"  - field '{field}': value {_show(value)} -> {allowed}")
        super().__init__("\n".join(lines))


class ScenarioError(InputError):
    """A scenario (file, override or object) that cannot be used."""

    what = "scenario"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_MISSING = object()


def from_validation_error(source: str, err: ValidationError, prefix: str = "") -> ScenarioError:
    """Turn pydantic's error into a :class:`ScenarioError` with one line per problem."""
    problems: list[tuple[str, Any, str]] = []
    for e in err.errors(include_url=False):
        loc = [str(p) for p in e.get("loc", ()) if not str(p).startswith("function-")]
        field = ".".join(([prefix] if prefix else []) + loc) or "(top level)"
        msg = e.get("msg", "invalid")
        if e.get("type") == "extra_forbidden":
            msg = "unknown key (not a field of this section; see docs/SCENARIOS.md)"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        value = e.get("input", _MISSING)
        problems.append((field, "<missing>" if value is _MISSING else value, msg))
    return ScenarioError(source, problems)
