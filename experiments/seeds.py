"""Each run's random stream: a ``SeedSequence`` rebuilt from plain integers on any worker.

The key is ``(experiment seed, design point, replication)``.  With *common random
numbers* (``streams: common``, the default) the design point is left out of the
key, so replication ``r`` sees the same stream at every design point and
differences between points are not drowned by sampling noise.  With
``streams: independent`` every run has its own stream.

No state is shared: a worker needs only the integers returned by :func:`run_key`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

import sim

Streams = Literal["common", "independent"]


def run_key(seed: int, point: int, replication: int, streams: Streams = "common") -> tuple[int, tuple[int, ...]]:
    """``(entropy, spawn_key)`` of one run, as plain integers (cheap to send to a worker)."""
    if streams == "common":
        return int(seed), (int(replication),)
    if streams == "independent":
        return int(seed), (int(point), int(replication))
    raise ValueError(f"streams must be 'common' or 'independent', got {streams!r}")


def run_seed_sequence(seed: int, point: int, replication: int, streams: Streams = "common") -> np.random.SeedSequence:
    """The ``SeedSequence`` that drives run (point, replication)."""
    entropy, key = run_key(seed, point, replication, streams)
    return sim.seed_sequence(entropy, *key)


def from_key(entropy: int, key: tuple[int, ...] | list[int]) -> np.random.SeedSequence:
    """Rebuild a run's ``SeedSequence`` from :func:`run_key`'s integers."""
    return sim.seed_sequence(int(entropy), *(int(k) for k in key))


__all__ = ["Streams", "from_key", "run_key", "run_seed_sequence"]
