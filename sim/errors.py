"""Errors a user can act on: each names the source, the field, the value and what is allowed."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import ValidationError

#: Largest magnitude of an integer value: what a signed 64-bit integer holds (the model and result files use int64).
MAX_INT = 2**63 - 1


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
        lines = [f"{_clip(str(source), MAX_SOURCE_CHARS)}: invalid {self.what}"]
        for field, value, allowed in problems[:MAX_PROBLEMS]:
            lines.append(f"  - field '{_clip(str(field), MAX_FIELD_CHARS)}': value {_show(value)} -> "
                         f"{_clip(str(allowed), MAX_ALLOWED_CHARS)}")
        if len(problems) > MAX_PROBLEMS:
            lines.append(f"  - ... and {len(problems) - MAX_PROBLEMS} more problem(s)")
        super().__init__("\n".join(lines))


class ScenarioError(InputError):
    """A scenario (file, override or object) that cannot be used."""

    what = "scenario"


#: An error lists at most this many problems (then says how many more there are).
MAX_PROBLEMS = 10
#: Longest value quoted in an error (longer ones are cut, ending in "...").
MAX_VALUE_CHARS = 60
MAX_FIELD_CHARS = 100
MAX_SOURCE_CHARS = 300
MAX_ALLOWED_CHARS = 600


class Described:
    """A value an error describes instead of quoting (``(not shown)``, ``<a list>``)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


#: The value of an unknown key, or of a file that is no scenario: an error does not quote it.
HIDDEN = Described("(not shown)")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show(value: Any) -> str:
    if isinstance(value, str | bytes) and len(value) > 4 * MAX_VALUE_CHARS:
        value = value[: 4 * MAX_VALUE_CHARS]  # repr of a huge text would cost its length
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - e.g. an integer too long to print
        text = f"<{type(value).__name__}>"
    return _clip(text, MAX_VALUE_CHARS)


_MISSING = object()


def did_you_mean(word: str, choices: Iterable[str], *, path: str = "", paths: Iterable[str] = ()) -> str:
    """``" (did you mean 'X'?)"`` for a misspelt key, or ``""`` when nothing is close.

    Args:
        word: the unknown key.
        choices: the keys allowed where it was given (compared without regard to case).
        path: the whole dotted path given (``tiers.gold.discount``): a field whose path ends with it
            (``tiering.tiers.gold.discount``) is suggested first, then a close key, then a close path.
        paths: every dotted path of the scenario (see :func:`dotted_paths`).
    """
    paths = list(paths)
    ends = [p for p in paths if path and p.endswith("." + path)]
    lower = {str(c).lower(): str(c) for c in choices}
    close = difflib.get_close_matches(str(word).lower(), list(lower), n=1, cutoff=0.6)
    if ends:
        return f" (did you mean '{ends[0]}'?)"
    if close:
        return f" (did you mean '{lower[close[0]]}'?)"
    close = difflib.get_close_matches(path, paths, n=1, cutoff=0.8) if path else []
    return f" (did you mean '{close[0]}'?)" if close else ""


def dotted_paths(data: Any, prefix: str = "") -> Iterator[str]:
    """Every dotted path in nested ``data`` (sections and fields; list items by ``name``, else by position)."""
    if isinstance(data, dict):
        items = [(str(k), v) for k, v in data.items()]
    elif isinstance(data, list):
        items = [(str(v["name"]) if isinstance(v, dict) and "name" in v else str(i), v) for i, v in enumerate(data)]
    else:
        return
    for key, value in items:
        path = f"{prefix}.{key}" if prefix else key
        yield path
        yield from dotted_paths(value, path)


def percent_hint(value: Any, upper: Any) -> str:
    """``" (did you mean 0.60? ...)"`` for a value such as 60 given for a field allowed up to 1."""
    if isinstance(value, bool) or not isinstance(value, int | float) or upper != 1 or not 1 < value <= 100:
        return ""
    share = value / 100
    shown = f"{share:.2f}" if round(share, 2) == share else f"{share:g}"
    return f" (did you mean {shown}? a share is a number from 0 to 1, not a percentage)"


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
        if e.get("type") in ("less_than_equal", "less_than"):
            ctx = e.get("ctx") or {}
            msg += percent_hint(value, ctx.get("le", ctx.get("lt")))
        if e.get("type") == "extra_forbidden":
            value = HIDDEN  # the key is the mistake; its value may be anything, from any file
        problems.append((field, "<missing>" if value is _MISSING else value, msg))
    return ScenarioError(source, problems)


def _leaves(value: Any, path: str, depth: int = 0) -> Iterator[tuple[str, Any]]:
    if depth > 100:  # defensive: validated data is shallow
        return
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{path}.{k}" if path else str(k), depth + 1)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{path}.{i}" if path else str(i), depth + 1)
    else:
        yield path, value


class _LongInt(int):
    """An integer an error shows by its length (its digits could be thousands)."""

    def __repr__(self) -> str:
        return f"<an integer of about {int(abs(int(self)).bit_length() * 0.30103) + 1} digits>"


def number_problems(data: Any, prefix: str = "") -> list[tuple[str, Any, str]]:
    """``(field, value, allowed)`` for each non-finite float and each integer beyond 64 bits in nested ``data``.

    A scenario's numbers must be finite and fit the model's 64-bit arrays whatever
    their declared bounds; pydantic lets ``inf`` through a float field and any integer
    through an ``int`` field without an upper bound.
    """
    problems: list[tuple[str, Any, str]] = []
    for path, value in _leaves(data, prefix):
        if isinstance(value, bool):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            problems.append((path or "(value)", value, "a finite number (not inf or nan)"))
        elif isinstance(value, int) and abs(value) > MAX_INT:
            problems.append((path or "(value)", _LongInt(value), f"an integer within +-{MAX_INT} (64 bits)"))
    return problems
