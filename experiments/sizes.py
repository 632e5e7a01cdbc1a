"""Market sizes for quick looks: the notebooks' scenario sizes, in one place.

A :class:`Size` is a set of scenario overrides (market, partners, direct sellers, horizon) and a
number of replications.  :data:`SMALL` runs a scenario in a fraction of the baseline's market
(a notebook cell in seconds); :data:`TINY` is the size the test suite runs the notebooks at::

    from experiments.sizes import notebook_size
    from experiments.io import load_scenario

    SIZE = notebook_size()                      # SMALL, or TINY when CHANNELSIM_NB_SMALL=1
    baseline = SIZE.apply(load_scenario("baseline"))
    runs = replicate(baseline, SIZE.replications)

From the command line, the same overrides are ``--set`` options:
``channelsim run baseline $(python -m experiments.sizes)`` prints and uses them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import sim

#: The environment variable that selects :data:`TINY` for :func:`notebook_size` (set by tests/test_notebooks.py).
ENV = "CHANNELSIM_NB_SMALL"


@dataclass(frozen=True)
class Size:
    """Scenario sizes for quick looks.

    Attributes:
        name: ``small`` or ``tiny``.
        overrides: dotted scenario path -> value (market, partners, direct sellers, months).
        replications: replications that give usable intervals at this size.
    """

    name: str
    overrides: Mapping[str, Any] = field(repr=False)
    replications: int

    def apply(self, scenario: sim.Scenario | None = None) -> sim.Scenario:
        """``scenario`` (the baseline when None) at this size: its programme, this market and horizon."""
        return (scenario if scenario is not None else sim.Scenario()).with_overrides(
            dict(self.overrides), source=f"experiments.sizes.{self.name.upper()}")

    def set_options(self) -> list[str]:
        """The overrides as ``--set PATH=VALUE`` options for the command line."""
        out = []
        for path, value in self.overrides.items():
            out += ["--set", f"{path}={value}"]
        return out


#: 20,000 accounts in 10 territories, 200 initial partners, 12 warm-up and 24 reported months, 4 replications.
SMALL = Size("small", MappingProxyType({
    "market.n_accounts": 20_000,
    "market.n_territories": 10,
    "partners.n_initial": 200,
    "partners.recruitment.sources.events.rate": 4.6,
    "partners.recruitment.sources.directories.rate": 4.6,
    "direct.sellers": 80,
    "time.warmup_months": 12,
    "time.months": 24,
}), replications=4)

#: 3,000 accounts in 5 territories, 40 initial partners, 6 warm-up and 12 reported months, 2 replications.
TINY = Size("tiny", MappingProxyType({
    "market.n_accounts": 3_000,
    "market.n_territories": 5,
    "partners.n_initial": 40,
    "partners.recruitment.sources.events.rate": 0.9,
    "partners.recruitment.sources.directories.rate": 0.9,
    "direct.sellers": 12,
    "time.warmup_months": 6,
    "time.months": 12,
}), replications=2)

SIZES = {s.name: s for s in (SMALL, TINY)}


def notebook_size(environ: Mapping[str, str] | None = None) -> Size:
    """The size the notebooks run at: :data:`TINY` when ``CHANNELSIM_NB_SMALL=1``, else :data:`SMALL`."""
    env = os.environ if environ is None else environ
    return TINY if env.get(ENV) == "1" else SMALL


def small(scenario: sim.Scenario | str | None = None, size: str | Size | None = None) -> sim.Scenario:
    """A scenario at a quick-look size.

    Args:
        scenario: a :class:`sim.Scenario`, a scenario name or file (:func:`experiments.io.load_scenario`),
            or None for the baseline.
        size: ``small``, ``tiny``, a :class:`Size`, or None for :func:`notebook_size`.

    Raises:
        ValueError: an unknown size name.
    """
    if isinstance(size, str):
        if size not in SIZES:
            raise ValueError(f"size {size!r}: allowed: {', '.join(SIZES)}")
        size = SIZES[size]
    chosen = size if size is not None else notebook_size()
    if isinstance(scenario, str):
        from .io import load_scenario

        scenario = load_scenario(scenario)
    return chosen.apply(scenario)


def main(argv: list[str] | None = None) -> int:
    """Print a size's ``--set`` options (``python -m experiments.sizes [small|tiny]``)."""
    args = sys.argv[1:] if argv is None else argv
    name = args[0] if args else "small"
    if name not in SIZES or len(args) > 1:
        print(f"usage: python -m experiments.sizes [{'|'.join(SIZES)}]", file=sys.stderr)
        return 2
    print(" ".join(SIZES[name].set_options()))
    return 0


if __name__ == "__main__":  # pragma: no cover - the command line
    raise SystemExit(main())


__all__ = ["ENV", "SIZES", "SMALL", "TINY", "Size", "main", "notebook_size", "small"]
