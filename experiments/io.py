"""Scenario files and atomic writes: the file I/O that :mod:`sim` leaves out.

A scenario file is YAML whose keys are the fields of :class:`sim.Scenario`.
A file may name another with ``extends:``; the base is read first and the
extending file's values are deep-merged over it (mappings are merged key by
key, lists and scalars are replaced).  Chains are allowed, cycles are errors.

Every problem, whether broken YAML, a missing ``extends`` target, an unknown
key, a wrong type or an out-of-range value, raises
:class:`sim.errors.ScenarioError`, whose message names the file, the field
(dotted path), the value and what is allowed.

What is read is bounded (see :mod:`experiments.limits`): a scenario is a regular
``.yaml``/``.yml`` file of at most 1 MB, found by name in the scenario folder or
by path (``extends: /etc/passwd`` looks for ``/etc/passwd.yaml`` and
``/etc/passwd.yml`` and reads neither the file itself nor anything else); an
``extends`` chain has at most :data:`MAX_EXTENDS` files; YAML is parsed with
limits on depth, size and alias expansion; values are type-checked strictly
(``true`` is not a number, ``"2"`` not an integer) and must be finite numbers
within 64 bits.  An error quotes a short, truncated value at most, never the
value of an unknown key, and of a file reached through ``extends`` (or an
experiment's ``base``) that is not a scenario it quotes nothing.

The atomic write helpers (:func:`atomic_write_bytes`, :func:`atomic_write_text`,
:func:`write_parquet_atomic`) write to a temporary file in the target's folder,
fsync it and ``os.replace`` it into place, so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import importlib.util
import math
import os
import stat
import tempfile
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from sim import Scenario
from sim.errors import HIDDEN, Described, ScenarioError, did_you_mean, dotted_paths, from_validation_error
from sim.fields import field_comment
from sim.scenario import merge_named

from .limits import MAX_FILE_BYTES, load_yaml, number_problems


def shipped_scenarios_dir() -> Path:
    """The folder of the shipped scenario files, where bare names (``baseline``) are looked up.

    In a checkout it is the repository's top-level ``scenarios/`` folder (the source of the
    files); in an installed wheel, where they are the package data of ``experiments.scenarios``
    (see ``pyproject.toml``), the folder the import system finds that package in.
    """
    root = Path(__file__).resolve().parent.parent
    checkout = root / "scenarios"
    if checkout.is_dir() and (root / "pyproject.toml").is_file():
        return checkout
    spec = importlib.util.find_spec("experiments.scenarios")  # a namespace package: the folder of the files
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    return Path(folders[0]) if folders else checkout


#: The folder of the shipped scenario files (:func:`shipped_scenarios_dir`).
SCENARIOS_DIR = shipped_scenarios_dir()

#: Top-level key written by :func:`dump_scenario` for run metadata; ignored on load.
RUN_KEY = "run"

_SUFFIXES = (".yaml", ".yml")

#: Most files in one ``extends`` chain (the file itself included).
MAX_EXTENDS = 16


# ---------------------------------------------------------------------------
# Loading


PathLike = str | os.PathLike[str]


def load_scenario(path_or_name: PathLike, *, scenarios_dir: PathLike | None = None,
                  referenced: bool = False) -> Scenario:
    """Read a scenario file (following ``extends:``) and validate it.

    Args:
        path_or_name: a path to a ``.yaml``/``.yml`` file (the suffix may be left out), or a
            bare scenario name looked up in the ``scenarios/`` folder (``baseline`` ->
            ``scenarios/baseline.yaml``; ``validation/bass`` also works).
        scenarios_dir: where bare names are looked up (the repository's
            ``scenarios/`` folder by default).
        referenced: the file is named by another one (an experiment's ``base``), so it is
            treated as an ``extends`` target: refused without quoting it when it is no scenario.

    Returns:
        The validated, frozen scenario.  When the file sets no ``name``, the
        file's stem is used.

    Raises:
        ScenarioError: naming the file, the field, the value and what is allowed,
            for any problem in the file or in the files it extends.
    """
    sdir = Path(scenarios_dir) if scenarios_dir is not None else SCENARIOS_DIR
    path = resolve_scenario_path(path_or_name, scenarios_dir=sdir)
    data, origin = _load_chain(path, sdir, stack=(), referenced=referenced)
    if "name" not in data:
        data["name"] = path.stem
    scenario = validate_scenario(data, path, origin)
    if scenario.data.path:
        scenario = _resolve_data(scenario, _origin_of("data.path", origin) or path)
    return scenario


def _resolve_data(scenario: Scenario, path: Path) -> Scenario:
    """``data.path`` made absolute (relative to the file ``path`` that sets it) once it is known to be a folder."""
    raw = scenario.data.path
    folder = Path(raw).expanduser()
    if not folder.is_absolute():
        folder = path.resolve().parent / folder
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is not a folder"
        raise ScenarioError(str(path), [("data.path", raw, f"{folder} {what}; allowed: a folder holding a PRM "
                                         "export (docs/DATA.md), relative to this scenario file")])
    return scenario.model_copy(update={"data": scenario.data.model_copy(update={"path": str(folder)})})


def validate_scenario(data: dict[str, Any], path: PathLike, origin: dict[str, Path] | None = None) -> Scenario:
    """Validate scenario data read from a file: strict types, finite numbers within 64 bits.

    Args:
        data: the merged data of the file and its ``extends`` chain.
        path: the file (named in errors).
        origin: the file that set each dotted key (for errors in a chain).

    Raises:
        ScenarioError: naming the file, the field, the value and what is allowed.
    """
    path = Path(path)
    try:
        scenario = Scenario.model_validate(data, strict=True)
    except ValidationError as err:
        raise _validation_error(path, err, origin or {}, data) from None
    problems = number_problems(scenario.model_dump(mode="python"))
    if problems:
        raise ScenarioError(str(path), problems)
    return scenario


def resolve_scenario_path(path_or_name: PathLike, *, scenarios_dir: PathLike | None = None) -> Path:
    """The scenario file (``.yaml`` or ``.yml``) a path or bare scenario name refers to.

    Raises:
        ScenarioError: when no scenario file is found; the message lists where it was looked for
            and the scenario names available.
    """
    sdir = Path(scenarios_dir) if scenarios_dir is not None else SCENARIOS_DIR
    raw = os.fspath(path_or_name)
    found, candidates = _first_file(raw, Path.cwd(), sdir)
    if found is not None:
        return found
    looked = _looked(candidates)
    available = available_scenarios(sdir)
    hint = did_you_mean(Path(raw).stem, available)
    raise ScenarioError(raw, [(
        "(file)", raw,
        f"an existing scenario file (.yaml or .yml) or a scenario name{hint}; looked for {looked}; "
        f"scenario names: {', '.join(available) or '(none)'}",
    )])


def available_scenarios(scenarios_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """Names of the scenario files under ``scenarios_dir`` (``validation/bass`` for sub-folders)."""
    sdir = Path(scenarios_dir) if scenarios_dir is not None else SCENARIOS_DIR
    if not sdir.is_dir():
        return []
    out = []
    for p in sorted(sdir.rglob("*")):
        if p.suffix in _SUFFIXES and p.is_file():
            out.append(p.relative_to(sdir).with_suffix("").as_posix())
    return out


def read_text_limited(path: Path, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of a regular file of at most ``max_bytes`` bytes.

    Raises:
        OSError: the file cannot be read (or is not a regular file: a folder, a device, a pipe).
        ValueError: the file is larger than ``max_bytes``, or not UTF-8 (:class:`UnicodeDecodeError`).
    """
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise OSError(0, "a folder, not a file" if stat.S_ISDIR(st.st_mode) else "not a regular file")
    if st.st_size > max_bytes:
        raise ValueError(f"larger than {max_bytes:,} bytes ({st.st_size:,})")
    with open(path, "rb") as fh:
        raw = fh.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise ValueError(f"larger than {max_bytes:,} bytes")
    return raw.decode("utf-8")


def read_yaml_mapping(path: Path, *, referenced: bool = False) -> dict[str, Any]:
    """The top-level mapping of one YAML file (no ``extends`` processing).

    Args:
        path: the file.
        referenced: the file was named by another file (``extends``, an experiment's ``base``):
            an error then quotes none of its content.

    Raises:
        ScenarioError: for an unreadable, non-UTF-8 or too large file, broken YAML or YAML beyond
            the limits (with line and column), or a top level that is not a mapping.
    """
    try:
        text = read_text_limited(path)
    except OSError as err:
        raise ScenarioError(str(path), [("(file)", str(path), f"a readable file ({err.strerror or err})")]) from None
    except UnicodeDecodeError as err:
        raise ScenarioError(str(path), [("(file)", str(path), f"UTF-8 text ({err.reason})")]) from None
    except ValueError as err:
        raise ScenarioError(str(path), [("(file)", str(path), f"a scenario file of at most {MAX_FILE_BYTES:,} "
                                                              f"bytes ({err})")]) from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as err:
        field, shown, allowed = _yaml_problem(err, text)
        raise ScenarioError(str(path), [(field, HIDDEN if referenced else shown, allowed)]) from None
    if not isinstance(data, dict):
        shown = Described("<empty file>" if data is None else f"<{_kind(data)}>")
        raise ScenarioError(str(path), [("(top level)", shown, "a mapping of scenario fields (key: value lines)")])
    bad = [k for k in data if not isinstance(k, str)]
    if bad:
        raise ScenarioError(str(path), [(str(k)[:40], HIDDEN, "keys must be field names (text)") for k in bad])
    return data


def _kind(value: Any) -> str:
    """What a YAML value is, in words (an error names it instead of quoting it)."""
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    return f"a {type(value).__name__}"


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any], _path: str = "") -> dict[str, Any]:
    """``override`` merged over ``base``: mappings merged recursively, lists and scalars replaced.

    A mapping over a list of named items (``tiering.tiers``) changes the items it names
    (:func:`sim.scenario.merge_named`).  Neither argument is modified.

    Raises:
        ValueError: for a mapping over a list that names an item the list does not have.
    """
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        where = f"{_path}.{key}" if _path else str(key)
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value, where)
        elif isinstance(value, Mapping) and _named_list(out.get(key)):
            out[key] = merge_named(out[key], copy.deepcopy(dict(value)), where)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _named_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) and "name" in v for v in value)


def _candidates(raw: Path, folder: Path) -> list[Path]:
    """The scenario files ``raw`` may name: itself if it ends in ``.yaml``/``.yml``, else with either suffix."""
    base = raw if raw.is_absolute() else folder / raw
    if base.suffix in _SUFFIXES:
        return [base]
    return [base.with_name(base.name + s) for s in _SUFFIXES]


def _dedupe(paths: list[Path]) -> list[Path]:
    seen: list[Path] = []
    for p in paths:
        if p not in seen:
            seen.append(p)
    return seen


def _yaml_problem(err: yaml.YAMLError, text: str) -> tuple[str, Any, str]:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    context = getattr(err, "context", None)
    if mark is None:
        return ("(yaml)", "<unparsable>", f"valid YAML ({problem})")
    line, col = mark.line + 1, mark.column + 1
    lines = text.splitlines()
    shown = lines[mark.line].strip()[:40] if 0 <= mark.line < len(lines) else "<end of file>"
    what = f"{context}, {problem}" if context else problem
    allowed = f"valid YAML; parser error at line {line}, column {col}: {what}"
    return (f"(yaml, line {line}, column {col})", shown, allowed)


def _load_chain(path: Path, sdir: Path, stack: tuple[Path, ...],
                referenced: bool = False) -> tuple[dict[str, Any], dict[str, Path]]:
    """The merged data of ``path`` and its ``extends`` chain, with the file that set each dotted key."""
    if path in stack:
        chain = " -> ".join(p.name for p in (*stack, path))
        raise ScenarioError(str(stack[-1]), [("extends", path.name, f"no cycles in the extends chain ({chain})")])
    if len(stack) >= MAX_EXTENDS:
        raise ScenarioError(str(stack[-1]), [("extends", path.name, f"an extends chain of at most {MAX_EXTENDS} "
                                                                    f"files (from {stack[0]})")])
    referenced = referenced or bool(stack)
    try:
        data = read_yaml_mapping(path, referenced=referenced)
    except ScenarioError as err:
        if not stack:
            raise
        raise ScenarioError(f"{err.source} (named by {stack[-1]})", err.problems) from None
    if referenced:
        _looks_like_a_scenario(path, data, stack)
    data.pop(RUN_KEY, None)
    target = data.pop("extends", None)
    if target is None:
        base: dict[str, Any] = {}
        origin: dict[str, Path] = {}
    else:
        base_path = _resolve_extends(path, target, sdir)
        base, origin = _load_chain(base_path, sdir, (*stack, path))
    for key in _dotted_keys(data):
        origin[key] = path
    try:
        return deep_merge(base, data), origin
    except ValueError as err:
        raise ScenarioError(str(path), [("tiering.tiers", HIDDEN, str(err))]) from None


def _looks_like_a_scenario(path: Path, data: dict[str, Any], stack: tuple[Path, ...]) -> None:
    """Refuse, quoting none of it, a file named by another whose top level has no scenario field."""
    known = set(Scenario.model_fields) | {"extends", RUN_KEY}
    if data and not known & set(data):
        by = f" (named by {stack[-1]})" if stack else ""
        raise ScenarioError(str(path) + by, [(
            "(top level)", HIDDEN, f"a scenario file; none of its {len(data)} top-level key(s) is a scenario field "
                                   "(see docs/SCENARIOS.md)",
        )])


def _first_file(target: str, base: Path, sdir: Path) -> tuple[Path | None, list[Path]]:
    """The first scenario file for ``target`` (relative to ``base``, then in ``sdir``) and every place looked.

    Only regular files ending in ``.yaml``/``.yml`` count, after following symbolic links.
    """
    if "\x00" in target or len(target) > 4096:
        return None, []
    candidates = _candidates(Path(target), base)
    if not Path(target).is_absolute():
        candidates += _candidates(Path(target), sdir)
    for c in candidates:
        try:
            if not c.is_file():
                continue
            real = c.resolve()
        except (OSError, RuntimeError):  # a name too long, a symlink loop
            continue
        if real.suffix in _SUFFIXES and real.is_file():
            return real, candidates
    return None, candidates


def _looked(candidates: list[Path]) -> str:
    """Where a scenario was looked for, marking the names that exist but are no scenario file."""
    out = []
    for c in _dedupe(candidates):
        try:
            refused = c.exists() or c.is_symlink()
        except OSError:
            refused = False
        out.append(f"{c} (exists, but is no regular .yaml/.yml file once links are followed)" if refused else str(c))
    return ", ".join(out) or "nowhere (not a file name)"


def _resolve_extends(path: Path, target: Any, sdir: Path) -> Path:
    if not isinstance(target, str) or not target.strip():
        raise ScenarioError(str(path), [("extends", target, "the name or relative path of another scenario file")])
    found, candidates = _first_file(target, path.parent, sdir)
    if found is not None:
        return found
    looked = _looked(candidates)
    raise ScenarioError(str(path), [(
        "extends", target,
        f"an existing scenario file (.yaml or .yml); looked for {looked}; "
        f"scenario names: {', '.join(available_scenarios(sdir)) or '(none)'}",
    )])


def _dotted_keys(data: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in data.items():
        path = f"{prefix}{key}"
        yield path
        if isinstance(value, Mapping):
            yield from _dotted_keys(value, path + ".")


def _tier_by_name(field: str, data: Mapping[str, Any] | None) -> str:
    """``tiering.tiers.2.discont`` as ``tiering.tiers.gold.discont``: a tier named as the file names it."""
    parts = field.split(".")
    if data is None or parts[:2] != ["tiering", "tiers"] or len(parts) < 3 or not parts[2].isdigit():
        return field
    i = int(parts[2])
    tiers = (data.get("tiering") or {}).get("tiers") if isinstance(data.get("tiering"), Mapping) else None
    names: list[Any] = []
    if isinstance(tiers, list):
        names = [t.get("name") if isinstance(t, Mapping) else None for t in tiers]
    elif isinstance(tiers, Mapping):  # tiers by name, merged over the default tiers (their order)
        names = list(Scenario().tier_names)
    if i < len(names) and isinstance(names[i], str) and names[i]:
        parts[2] = names[i]
    return ".".join(parts)


def _validation_error(path: Path, err: ValidationError, origin: dict[str, Path],
                      data: Mapping[str, Any] | None = None) -> ScenarioError:
    """A ScenarioError naming the file that set each bad value, with allowed keys for unknown ones."""
    base = from_validation_error(str(path), err)
    problems: list[tuple[str, Any, str]] = []
    sources: list[Path] = []
    for (field, value, allowed), e in zip(base.problems, err.errors(include_url=False), strict=True):
        field = _tier_by_name(field, data)
        loc = [p for p in e.get("loc", ()) if not str(p).startswith("function-")]
        if e.get("type") == "extra_forbidden":
            keys = _fields_at(loc[:-1])
            hint = did_you_mean(str(loc[-1]), keys, path=".".join(map(str, loc)), paths=_scenario_paths())
            if keys:
                allowed = f"unknown key{hint}; allowed here: {', '.join(keys)}"
            elif hint:
                allowed = f"{allowed}{hint}"
        sources.append(_origin_of(field, origin) or path)
        problems.append((field, value, allowed))
    uniq = _dedupe(sources)
    if len(uniq) > 1:
        problems = [(f, v, f"{a} (set in {src})") for (f, v, a), src in zip(problems, sources, strict=True)]
    source = str(uniq[0]) if len(uniq) == 1 else str(path)
    if source != str(path):
        source = f"{source} (extended by {path})"
    return ScenarioError(source, problems)


@functools.cache
def _scenario_paths() -> tuple[str, ...]:
    return tuple(dotted_paths(Scenario().model_dump(mode="python")))


def _origin_of(field: str, origin: dict[str, Path]) -> Path | None:
    parts = field.split(".")
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in origin:
            return origin[key]
    return None


def _fields_at(loc: list[Any]) -> list[str]:
    """Field names of the scenario section at ``loc`` (empty when it is not a section)."""
    model: Any = Scenario
    for part in loc:
        model = _unwrap(model)
        if isinstance(model, type) and issubclass(model, BaseModel):
            info = model.model_fields.get(str(part))
            if info is None:
                return []
            model = info.annotation
        else:
            origin = typing.get_origin(model)
            args = typing.get_args(model)
            if origin in (dict, list) and args:
                model = args[-1]
            else:
                return []
    model = _unwrap(model)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _unwrap(tp: Any) -> Any:
    """``X | None`` -> ``X``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


# ---------------------------------------------------------------------------
# Writing


def scenario_yaml(scenario: Scenario, extra: Mapping[str, Any] | None = None) -> str:
    """The resolved scenario (every field, defaults included) as YAML text.

    ``extra`` (seed, package version, ...) goes under the top-level ``run:`` key,
    which :func:`load_scenario` ignores, so the file can be run again as it is.
    """
    data = scenario.to_dict()
    data.pop("extends", None)
    if extra:
        data[RUN_KEY] = _plain(dict(extra))
    header = "# Resolved scenario: every field, defaults included. Written by channelsim.\n"
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)


def commented_scenario_yaml(scenario: Scenario, header: Sequence[str] = ()) -> str:
    """The resolved scenario as YAML, every field with a comment: its meaning, unit and allowed values.

    What ``channelsim show`` prints; loading the text gives ``scenario`` back
    (``scenarios/baseline.commented.yaml`` is the baseline's).

    Args:
        scenario: the scenario to write.
        header: comment lines to start with (without the ``#``).
    """
    lines = [f"# {h}".rstrip() for h in header]
    _emit_section(scenario, "", lines)
    return "\n".join(lines) + "\n"


def _emit_section(model: BaseModel, pad: str, lines: list[str], dash: str | None = None) -> None:
    """Append the fields of ``model`` at indentation ``pad``; ``dash`` starts the first line of a list item."""
    for i, (name, info) in enumerate(type(model).model_fields.items()):
        value = getattr(model, name)
        comment = field_comment(info)
        lead = dash if dash is not None and i == 0 else pad
        if isinstance(value, BaseModel):
            lines.append(f"{lead}{name}:" + (f"  # {comment}" if comment else ""))
            _emit_section(value, pad + "  ", lines)
        elif isinstance(value, dict) and value and all(isinstance(v, BaseModel) for v in value.values()):
            lines.append(f"{lead}{name}:" + (f"  # {comment}" if comment else ""))
            for key, item in value.items():
                lines.append(f"{pad}  {_yaml_key(key)}:")
                _emit_section(item, pad + "    ", lines)
        elif isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
            lines.append(f"{lead}{name}:" + (f"  # {comment}" if comment else ""))
            for item in value:
                _emit_section(item, pad + "    ", lines, dash=pad + "  - ")
        else:
            if comment:
                lines.append(f"{lead[:-2] if lead.endswith('- ') else lead}# {comment}")
            lines.append(f"{lead}{name}: {_yaml_value(value)}")


def _yaml_value(value: Any) -> str:
    """A value as one line of YAML (collections in flow style)."""
    text = yaml.safe_dump(_plain(value), default_flow_style=True, width=10**9, sort_keys=False, allow_unicode=True)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _yaml_key(key: Any) -> str:
    return yaml.safe_dump({key: 0}, default_flow_style=True).strip()[1:-4]


def dump_scenario(scenario: Scenario, path: str | os.PathLike[str], extra: Mapping[str, Any] | None = None) -> Path:
    """Write the resolved scenario YAML plus ``extra`` (under ``run:``) atomically.

    Args:
        scenario: the scenario to write.
        path: the target file.
        extra: run metadata such as seed, replications and package version.

    Returns:
        The path written.
    """
    return atomic_write_text(path, scenario_yaml(scenario, extra))


def json_safe(value: Any) -> Any:
    """``value`` as JSON can hold it: mappings with string keys, lists, plain numbers; NaN and infinities as None.

    For ``json.dumps(..., allow_nan=False)`` of results that carry numpy scalars and missing values.
    """
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and callable(value.item):
        return json_safe(value.item())
    return value


def _plain(value: Any) -> Any:
    """Numpy scalars and other oddities as plain YAML-safe values."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


@functools.cache
def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _temp_beside(path: Path) -> Iterator[Path]:
    """A temporary file path in ``path``'s folder, removed unless it was moved into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates 0600; give the file ordinary permissions
    try:
        yield tmp_path
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Flush a folder's entries to disk (best effort; a no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: temporary file in the same folder, fsync, ``os.replace``.

    Args:
        path: the target file (its folder is created if needed).
        data: the bytes to write.

    Returns:
        The path written.
    """
    target = Path(path)
    with _temp_beside(target) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    fsync_dir(target.parent)
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write_bytes`).

    Args:
        path: the target file.
        text: the text to write.
        encoding: the text encoding.

    Returns:
        The path written.
    """
    return atomic_write_bytes(path, text.encode(encoding))


def write_parquet_atomic(df: Any, path: str | os.PathLike[str]) -> Path:
    """Write a pandas DataFrame to Parquet atomically (without its index).

    Args:
        df: the DataFrame.
        path: the target ``.parquet`` file.

    Returns:
        The path written.
    """
    target = Path(path)
    with _temp_beside(target) as tmp:
        df.to_parquet(tmp, index=False)
        _fsync_file(tmp)
        os.replace(tmp, target)
    fsync_dir(target.parent)
    return target


__all__ = [
    "MAX_EXTENDS", "RUN_KEY", "SCENARIOS_DIR", "atomic_write_bytes", "atomic_write_text", "available_scenarios",
    "commented_scenario_yaml", "deep_merge", "dump_scenario", "fsync_dir", "load_scenario", "read_text_limited",
    "read_yaml_mapping", "resolve_scenario_path", "shipped_scenarios_dir", "scenario_yaml", "validate_scenario",
    "write_parquet_atomic",
]
