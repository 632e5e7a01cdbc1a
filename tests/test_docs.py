"""The documentation agrees with the code: every default quoted in docs/MODEL.md's parameter tables."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

import sim

ROOT = Path(__file__).resolve().parents[1]


def _defaults(obj: BaseModel, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for name in type(obj).model_fields:
        value = getattr(obj, name)
        path = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            out.update(_defaults(value, path + "."))
        else:
            out[path] = value
    return out


def _number(text: str) -> float | None:
    text = text.strip().replace(",", "").replace("$", "").replace("`", "").split("≈")[0].strip()
    m = re.fullmatch(r"(-?[\d.]+)\s*/\s*([\d.]+)", text)
    if m:
        return float(m.group(1)) / float(m.group(2))
    try:
        return float(text)
    except ValueError:
        return None


def test_numeric_defaults_quoted_in_model_md_match_the_schema():
    doc = (ROOT / "docs" / "MODEL.md").read_text()
    rows = re.findall(r"^\| `([a-z_.0-9]+)` \| ([^|]+) \|", doc, re.M)
    defaults = _defaults(sim.Scenario())
    checked = 0
    for path, quoted in rows:
        if path not in defaults or isinstance(defaults[path], bool):
            continue
        q = _number(quoted)
        if q is None or not isinstance(defaults[path], int | float):
            continue
        assert abs(q - float(defaults[path])) <= 1e-9 * max(1.0, abs(float(defaults[path]))), (path, quoted)
        checked += 1
    assert checked > 80  # the tables quote most numeric defaults


def test_scenarios_md_lists_every_field():
    text = (ROOT / "docs" / "SCENARIOS.md").read_text()
    for path in _defaults(sim.Scenario()):
        if not path.startswith(("partners.types", "tiering.tiers", "market.preference")):
            assert f"`{path}`" in text or f"`{path}." in text, path  # mappings are listed key by key


def test_model_md_parameter_tables_are_generated_from_the_schema():
    from sim.fields import PARAMETERS_BEGIN, PARAMETERS_END, parameter_tables

    doc = (ROOT / "docs" / "MODEL.md").read_text()
    block = doc[doc.index(PARAMETERS_BEGIN) : doc.index(PARAMETERS_END) + len(PARAMETERS_END)]
    assert block == parameter_tables(), "regenerate: python -m sim.fields"
