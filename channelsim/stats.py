"""Replication statistics, as the command line uses them: see :mod:`experiments.stats`."""

from experiments.stats import (
    LEVEL,
    Interval,
    diff_ci,
    mean_ci,
    monthly_band,
    monthly_diff_band,
    replication_headlines,
    summarise,
)

__all__ = ["LEVEL", "Interval", "diff_ci", "mean_ci", "monthly_band", "monthly_diff_band", "replication_headlines",
           "summarise"]
