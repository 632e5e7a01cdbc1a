"""Limits on what users give channelsim: YAML with bounded size, depth and alias expansion, and plain numbers.

Every scenario file, experiment file and ``--set`` value is read by :func:`load_yaml`,
PyYAML's safe loader with these limits added:

* the text is at most :data:`MAX_FILE_BYTES` (a ``--set`` value :data:`MAX_VALUE_CHARS`);
* collections nest at most :data:`MAX_DEPTH` levels, counted after aliases are expanded;
* a document expands to at most :data:`MAX_NODES` values once every alias is followed
  (a "billion laughs" of nested aliases is refused before anything is built), and an
  alias may not refer to the collection that contains it;
* an integer has at most :data:`MAX_INT_DIGITS` digits (it fits a 64-bit integer, which
  is what the model and the result files store) and a float is finite (``.inf``,
  ``.nan`` and ``1e999`` are refused where they are written);
* ``1e3`` is a number, as in YAML 1.2 (PyYAML, following YAML 1.1, reads it as text).

A limit that is hit raises :class:`LimitError`, a :class:`yaml.YAMLError` with the
line and column where it was hit, so callers report it like any other YAML error.

:func:`sim.errors.number_problems` (re-exported here) is the check on values once they are
validated: it finds the non-finite floats and the integers beyond 64 bits in nested
data, whatever way they came in (e.g. the text ``"inf"``, which pydantic's lax mode
turns into a float).
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sim.errors import MAX_INT, number_problems

#: Largest scenario or experiment file read (bytes).
MAX_FILE_BYTES = 1_000_000
#: Longest ``--set`` value (characters).
MAX_VALUE_CHARS = 10_000
#: Deepest nesting of collections in one document (after aliases are expanded).
MAX_DEPTH = 32
#: Most values (scalars and collections) in one document once every alias is expanded.
MAX_NODES = 100_000
#: Most digits of an integer (a signed 64-bit integer has at most 19).
MAX_INT_DIGITS = 19

#: Most design points of an experiment (rows of ``design.parquet``).
MAX_POINTS = 100_000
#: Most runs of an experiment (design points x replications; one file each).
MAX_RUNS = 1_000_000
#: Most factors of an experiment (the assumption screening has about 190; the schema about 400 numeric fields).
MAX_FACTORS = 512
#: Most levels one factor lists (or spreads a range over).
MAX_LEVELS = 10_000

_YAML12_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")


class LimitError(yaml.MarkedYAMLError):
    """A YAML document beyond one of the limits of this module (with the line and column)."""


class LimitedLoader(yaml.SafeLoader):
    """PyYAML's ``SafeLoader`` with the limits of this module (see the module docstring)."""

    max_depth = MAX_DEPTH
    max_nodes = MAX_NODES

    def __init__(self, stream: Any):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        self._depth += 1
        try:
            if self._depth > self.max_depth:
                raise LimitError(None, None, f"nesting deeper than {self.max_depth} levels",
                                 self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_node(self) -> Node | None:
        node = super().get_single_node()
        if node is not None:
            _check_expansion(node, self.max_depth, self.max_nodes)
        return node

    def construct_yaml_int(self, node: ScalarNode) -> int:
        text = str(node.value).replace("_", "").lstrip("+-")
        if len(text) > 70:  # int() of thousands of digits is slow (and refused); the exact bound is below
            raise LimitError(None, None, f"an integer with more than {MAX_INT_DIGITS} digits", node.start_mark)
        try:
            value = super().construct_yaml_int(node)
        except (ValueError, IndexError) as err:  # an explicit !!int tag on something else
            raise LimitError(None, None, f"an integer ({err})", node.start_mark) from None
        if abs(value) > MAX_INT:
            raise LimitError(None, None, f"an integer beyond +-{MAX_INT} (64 bits)", node.start_mark)
        return value

    def construct_yaml_float(self, node: ScalarNode) -> float:
        if len(str(node.value)) > 100:
            raise LimitError(None, None, "a number written with more than 100 characters", node.start_mark)
        try:
            value = super().construct_yaml_float(node)
        except (ValueError, IndexError, OverflowError) as err:  # an explicit !!float tag on something else
            raise LimitError(None, None, f"a number ({err})", node.start_mark) from None
        if not math.isfinite(value):
            raise LimitError(None, None, f"a finite number (got {node.value!r})", node.start_mark)
        return value


LimitedLoader.add_constructor("tag:yaml.org,2002:int", LimitedLoader.construct_yaml_int)
LimitedLoader.add_constructor("tag:yaml.org,2002:float", LimitedLoader.construct_yaml_float)
LimitedLoader.add_implicit_resolver("tag:yaml.org,2002:float", _YAML12_FLOAT, list("-+0123456789"))


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_expansion(root: Node, max_depth: int, max_nodes: int) -> None:
    """Refuse a node graph that expands beyond ``max_nodes`` values or ``max_depth`` levels, or has a cycle.

    Aliases make the composed document a graph whose nodes may be shared; each node's
    expanded size and depth are computed once (iteratively, so no recursion limit is
    involved), which takes time in the size of the text, not of the expansion.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0) if kids else 0
            on_path.discard(key)
            if size[key] > max_nodes:
                raise LimitError(None, None, f"more than {max_nodes} values once its aliases are expanded",
                                 node.start_mark)
            if depth[key] > max_depth:
                raise LimitError(None, None, f"nesting deeper than {max_depth} levels once its aliases are expanded",
                                 node.start_mark)
            continue
        if key in size:
            continue
        on_path.add(key)
        stack.append((node, True))
        for kid in _children(node):
            if id(kid) in on_path:
                raise LimitError(None, None, "an alias that refers to a collection containing it (a cycle)",
                                 kid.start_mark)
            if id(kid) not in size:
                stack.append((kid, False))


def load_yaml(text: str, *, max_chars: int = MAX_FILE_BYTES) -> Any:
    """Parse one YAML document within the limits of this module.

    Args:
        text: the YAML text.
        max_chars: the longest text accepted.

    Raises:
        yaml.YAMLError: for broken YAML, and :class:`LimitError` (a subclass) for a limit hit.
    """
    if len(text) > max_chars:
        raise LimitError(None, None, f"a text of at most {max_chars:,} characters (got {len(text):,})", None)
    try:
        return yaml.load(text, Loader=LimitedLoader)  # LimitedLoader is a SafeLoader
    except yaml.YAMLError:
        raise
    except (ValueError, TypeError, IndexError, OverflowError, RecursionError) as err:
        # PyYAML's constructors let a few errors through for explicit tags (!!timestamp 2001-13-45, ...)
        raise LimitError(None, None, f"a value YAML can read ({type(err).__name__}: {str(err)[:80]})", None) \
            from None


__all__ = [
    "MAX_DEPTH", "MAX_FACTORS", "MAX_FILE_BYTES", "MAX_INT", "MAX_INT_DIGITS", "MAX_LEVELS", "MAX_NODES",
    "MAX_POINTS", "MAX_RUNS", "MAX_VALUE_CHARS", "LimitError", "LimitedLoader", "load_yaml", "number_problems",
]
