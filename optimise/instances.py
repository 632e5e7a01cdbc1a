"""Random allocation instances for testing and benchmarking the LP (no I/O, seeded by the caller)."""

from __future__ import annotations

import numpy as np

from .lp import Curve

TIERS = ("registered", "silver", "gold", "platinum", "diamond")
LEVERS = ("rebate", "mdf", "training", "discount", "spiff")


def random_concave_curves(rng: np.random.Generator, n_tiers: int, n_levers: int, n_seg: int, *,
                          k: int = 0) -> tuple[Curve, ...]:
    """Random concave response curves: ``n_tiers`` x ``n_levers`` cells of ``n_seg`` segments.

    Used to test the LP against an independent solver and to benchmark it; with ``k`` > 0 each
    cell also gets ``k`` perturbed concave scenario curves (for robust mode).
    """
    curves = []
    for t in TIERS[:n_tiers]:
        for lv in LEVERS[:n_levers]:
            widths = rng.uniform(0.5, 5.0, n_seg)
            s = np.concatenate([[rng.uniform(0, 2)], widths]).cumsum()
            slopes = np.sort(rng.uniform(0.0, 3.0, n_seg))[::-1]
            v0 = rng.uniform(-5, 5)
            v = np.concatenate([[v0], v0 + np.cumsum(slopes * widths)])
            rslopes = np.sort(rng.uniform(0.0, 6.0, n_seg))[::-1]
            rv = np.concatenate([[0.0], np.cumsum(rslopes * widths)])
            scen = None
            if k:
                scen = []
                for _ in range(k):
                    sl = np.sort(np.maximum(slopes + rng.normal(0, 0.5, n_seg), 0))[::-1]
                    scen.append(tuple(np.concatenate([[v0], v0 + np.cumsum(sl * widths)])))
                scen = tuple(scen)
            cur = float(rng.uniform(s[0], s[-1]))
            curves.append(Curve(t, lv, tuple(s), tuple(v), current=cur, revenue=tuple(rv), scenario_values=scen,
                                partners=float(rng.integers(5, 200))))
    return tuple(curves)
