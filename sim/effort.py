"""Effort allocation (guide part 2): how a partner splits its sellers' time between vendors.

A partner sells this vendor's line and ``other_lines`` comparable lines of
other vendors.  It estimates the line's gross margin per seller-month of
effort, ``A`` (its smoothed gross margin over its smoothed effort, learned
from what the line paid), and compares it with what a seller-month earns on
its other lines, ``A_o`` (``outside_margin``).  Its target share of effort is
an attraction (share-of-wallet) model:

    m* = min + (max - min) x sigma( g x ln(A / A_o) - ln(other_lines) + w_s x (s - pivot) ),

with ``g = 1 / (1 - b)``, where ``b`` is the sales-response elasticity the
partner acts on (``response_elasticity``): with a power response of elasticity
``b`` the profit-maximising effort rises with margin per unit of effort to the
power ``1 / (1 - b)``.  Mindshare then closes a share ``speed`` of the gap to
the target each month.  Seller cost does not enter: a seller costs the same
whichever line it sells (it enters the line's profit, S12).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .model import ChannelModel


def margin_per_effort(model: ChannelModel) -> np.ndarray:
    """Each partner's estimate of the line's gross margin per seller-month (USD)."""
    t = model.partners
    return t.gm_ema / np.maximum(t.effort_ema, 1e-9)


def target_mindshare(model: ChannelModel) -> np.ndarray:
    """The share of effort each partner aims at (before partial adjustment)."""
    ms = model.config.partners.mindshare
    ss = model.config.partners.satisfaction
    t = model.partners
    ratio = np.maximum(margin_per_effort(model), 1e-6) / np.maximum(t.outside_margin, 1e-6)
    g = 1.0 / (1.0 - ms.response_elasticity)
    x = g * np.log(ratio) - np.log(ms.other_lines) + ms.satisfaction_weight * (t.satisfaction - ss.pivot)
    return ms.minimum + (ms.maximum - ms.minimum) / (1.0 + np.exp(-np.clip(x, -50.0, 50.0)))


def allocate(model: ChannelModel) -> None:
    """Move each selling partner's mindshare part of the way toward its target."""
    ms = model.config.partners.mindshare
    t = model.partners
    new = t.mindshare + ms.speed * (target_mindshare(model) - t.mindshare)
    t.mindshare = np.where(t.selling, np.clip(new, ms.minimum, ms.maximum), t.mindshare)
    t.effort = model.partner_effort()
