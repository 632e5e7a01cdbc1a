"""Random streams: one ``numpy.random.Generator`` per run, derived from a SeedSequence.

A run's generator is keyed by ``(seed, *key)``; experiments key it by
``(experiment seed, design point, replication)`` so that any worker can rebuild
it with no shared state.  Nothing in the package draws from global randomness.
"""

from __future__ import annotations

import numpy as np


def seed_sequence(seed: int, *key: int) -> np.random.SeedSequence:
    """The SeedSequence for ``seed`` and an optional integer key path."""
    if seed < 0 or any(k < 0 for k in key):
        raise ValueError(f"seed and key must be non-negative integers, got seed={seed}, key={key}")
    return np.random.SeedSequence(entropy=int(seed), spawn_key=tuple(int(k) for k in key))


def make_rng(seed: int | np.random.Generator | np.random.SeedSequence | None, *key: int) -> np.random.Generator:
    """A Generator from a seed (plus key), a SeedSequence, or an existing Generator (returned as is)."""
    if isinstance(seed, np.random.Generator):
        if key:
            raise ValueError("a key cannot be applied to an existing Generator")
        return seed
    if isinstance(seed, np.random.SeedSequence):
        return np.random.Generator(np.random.PCG64(seed))
    if seed is None:
        raise ValueError("a seed is required: runs are reproducible by construction")
    return np.random.Generator(np.random.PCG64(seed_sequence(int(seed), *key)))
