"""Budget allocation across partner tiers and incentive levers (see ``docs/OPTIMISE.md``).

Three pieces: :mod:`optimise.response` (estimate concave response curves by simulation with common
random numbers), :mod:`optimise.lp` (a pure builder from data to a PuLP problem) and
:mod:`optimise.solve` (HiGHS, a frozen :class:`~optimise.solve.Allocation`). :mod:`optimise.loop`
validates in closed loop; :mod:`optimise.simulate` is the one place simulations are run.
"""

from .lp import AllocationProblem, Curve, Robust, build
from .solve import Allocation, InfeasibleAllocation, solve

__all__ = ["Allocation", "AllocationProblem", "Curve", "InfeasibleAllocation", "Robust", "build", "solve"]
