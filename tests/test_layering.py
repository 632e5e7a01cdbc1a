"""Dependencies point one way: ``sim`` <- ``experiments`` <- ``optimise`` <- ``channelsim`` (STYLE.md, principle 1).

Two checks: every module of the lower packages is imported in a fresh interpreter and
must not pull in ``channelsim`` or ``matplotlib.pyplot`` (nor, for ``sim``, the
``experiments`` or ``optimise`` packages); and a static scan of every ``import``
statement, which also sees imports inside functions that the first check never runs.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LOWER = ("sim", "experiments", "optimise")
#: Top-level packages each lower package must not import (matplotlib.pyplot: plots live in channelsim.plots).
FORBIDDEN = {
    "sim": ("channelsim", "experiments", "optimise", "matplotlib.pyplot"),
    "experiments": ("channelsim", "optimise", "matplotlib.pyplot"),
    "optimise": ("channelsim", "matplotlib.pyplot"),
}

PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(sys.modules)))
"""


def modules(package: str) -> list[str]:
    """Every module of ``package`` (its ``__init__`` as the package name), from the files on disk."""
    out = []
    for path in sorted((REPO / package).rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


def _loaded(module: str) -> list[str]:
    res = subprocess.run([sys.executable, "-c", PROBE, module], capture_output=True, text=True, cwd=REPO,
                         timeout=120)
    assert res.returncode == 0, f"import {module} failed:\n{res.stderr[-2000:]}"
    return json.loads(res.stdout.strip().splitlines()[-1])


def _hits(loaded: list[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(m for m in loaded for f in forbidden if m == f or m.startswith(f + "."))


def test_every_lower_module_imports_cleanly_in_a_fresh_interpreter():
    todo = [(pkg, mod) for pkg in LOWER for mod in modules(pkg)]
    assert len(todo) > 20  # the scan found the packages
    with ThreadPoolExecutor(max_workers=2) as pool:  # two subprocesses at a time
        loaded = list(pool.map(lambda pm: _loaded(pm[1]), todo))
    bad = {mod: _hits(mods, FORBIDDEN[pkg]) for (pkg, mod), mods in zip(todo, loaded, strict=True)}
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, f"modules that import what they must not (module: forbidden modules loaded): {bad}"


def _imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every absolute import in a file, at any depth (relative imports stay inside)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]  # from matplotlib import pyplot
    return out


@pytest.mark.parametrize("package", LOWER)
def test_no_import_statement_points_up(package):
    bad = []
    for path in sorted((REPO / package).rglob("*.py")):
        for line, mod in _imports(path):
            if _hits([mod], FORBIDDEN[package]):
                bad.append(f"{path.relative_to(REPO)}:{line}: {mod}")
    assert not bad, "\n".join(bad)


def test_the_probe_sees_what_an_import_loads():
    """``channelsim.report`` loads channelsim (the probe is not blind) and no pyplot (plots build Figures)."""
    loaded = _loaded("channelsim.report")
    assert _hits(loaded, ("channelsim",)) and not _hits(loaded, ("matplotlib.pyplot",))
