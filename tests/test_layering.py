"""Dependencies point one way: ``sim`` <- ``experiments`` <- ``optimise`` <- ``channelsim`` (STYLE.md, principle 1).

Two checks: every module of the lower packages is imported in a clean interpreter and
must not pull in ``channelsim`` or ``matplotlib.pyplot`` (nor, for ``sim``, the
``experiments`` or ``optimise`` packages); and a static scan of every ``import``
statement, which also sees imports inside functions that the first check never runs.

The first check forks one child per module from a single interpreter that has loaded only
third-party libraries (numpy, pandas, scipy, Mesa, PuLP, ...) and none of the forbidden
modules, which is asserted: what a child loads on top is what a fresh interpreter would load
that can matter here, at a fraction of the time of one interpreter per module (about 2 s each).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
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

#: Third-party libraries the forking probe loads before it forks (none of them is forbidden anywhere).
PRELOAD = ("numpy", "pandas", "scipy.stats", "mesa", "pulp", "yaml", "pydantic", "pyarrow")

FORK_PROBE = """
import importlib, json, os, sys, traceback
for lib in json.loads(sys.argv[1]):
    importlib.import_module(lib)
print(json.dumps({"base": sorted(sys.modules)}), flush=True)
for mod in json.loads(sys.argv[2]):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            importlib.import_module(mod)
            out = {"module": mod, "loaded": sorted(sys.modules)}
        except BaseException:
            out = {"module": mod, "error": traceback.format_exc()[-2000:]}
        with os.fdopen(w, "w") as f:
            f.write(json.dumps(out))
        os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        data = f.read()
    os.waitpid(pid, 0)
    print(data, flush=True)
"""


def modules(package: str) -> list[str]:
    """Every module of ``package`` (its ``__init__`` as the package name), from the files on disk."""
    out = []
    for path in sorted((REPO / package).rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


def _loaded(module: str) -> list[str]:
    """Modules loaded by importing ``module`` in a fresh interpreter."""
    res = subprocess.run([sys.executable, "-c", PROBE, module], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert res.returncode == 0, f"import {module} failed:\n{res.stderr[-2000:]}"
    return json.loads(res.stdout.strip().splitlines()[-1])


def _loaded_forked(mods: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """(modules of the preloaded parent, {module: modules loaded by importing it in a forked child})."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    res = subprocess.run(
        [sys.executable, "-c", FORK_PROBE, json.dumps(PRELOAD), json.dumps(mods)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
        env=env,
    )
    assert res.returncode == 0, f"the import probe failed:\n{res.stderr[-2000:]}"
    lines = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    base, out = lines[0]["base"], {}
    for rec in lines[1:]:
        assert "error" not in rec, f"import {rec['module']} failed:\n{rec['error']}"
        out[rec["module"]] = rec["loaded"]
    return base, out


def _hits(loaded: list[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(m for m in loaded for f in forbidden if m == f or m.startswith(f + "."))


def test_every_lower_module_imports_cleanly_in_a_clean_interpreter():
    todo = [(pkg, mod) for pkg in LOWER for mod in modules(pkg)]
    assert len(todo) > 20  # the scan found the packages
    base, loaded = _loaded_forked([mod for _, mod in todo])
    everything = tuple(f for pkg in LOWER for f in FORBIDDEN[pkg])
    assert not _hits(base, everything), f"the preloaded libraries load forbidden modules: {_hits(base, everything)}"
    assert sorted(loaded) == sorted(mod for _, mod in todo)  # every child reported
    bad = {mod: _hits(loaded[mod], FORBIDDEN[pkg]) for pkg, mod in todo}
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
    # The forking probe is not blind either, and each child starts from the parent, not from its elder sibling.
    _, forked = _loaded_forked(["matplotlib.pyplot", "channelsim.report"])
    assert _hits(forked["matplotlib.pyplot"], ("matplotlib.pyplot",))
    assert _hits(forked["channelsim.report"], ("channelsim",))
    assert not _hits(forked["channelsim.report"], ("matplotlib.pyplot",))
