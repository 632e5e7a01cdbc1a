"""channelsim's simulation kernel: a Mesa model of a vendor's channel partner ecosystem.

The public API::

    from sim import Scenario, run, ChannelModel
    result = run(Scenario(), seed=1)      # the baseline
    result.kpis, result.partners, result.conflicts

``sim`` does no I/O: scenario files are read by :mod:`experiments.io`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .errors import ScenarioError
from .initial import InitialState
from .model import ChannelModel
from .partners import PartnerAgent
from .policies import Policies
from .rng import make_rng, seed_sequence
from .run import RunResult, WarmStart, headline, run, warm_up
from .scenario import Scenario

try:
    __version__ = version("channelsim")
except PackageNotFoundError:  # pragma: no cover - running from a checkout without install
    __version__ = "0+unknown"

__all__ = [
    "ChannelModel",
    "InitialState",
    "PartnerAgent",
    "Policies",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "__version__",
    "headline",
    "make_rng",
    "run",
    "seed_sequence",
    "warm_up",
    "WarmStart",
]
