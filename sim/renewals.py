"""Customers after the sale (guide parts 1, 3, 6): satisfaction, renewals and churn.

Every customer's satisfaction drifts toward the service level of the channel
(and partner) serving it.  On each anniversary the contract falls due and
renews with probability ``sigma(logit(renewal_base) + renewal_slope x (s -
renewal_pivot) + renewal_effort x care + steer)``, ``care`` the share of voice of the
vendor's partners in the account's cell (``ChannelModel.voice``, S7: partners' effort keeps
customers as well as winning them) and ``steer`` its steering (``ChannelModel.steering``: it
recommends the vendor whose line pays it more); a renewal is booked through the same channel and partner
at ``renewal_value_share`` of the first-year value, a non-renewal churns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .customers import CHURNED

if TYPE_CHECKING:
    from .model import ChannelModel


def renewal_probability(
    model: ChannelModel, satisfaction: np.ndarray, care: np.ndarray | float = 0.0, steer: np.ndarray | float = 0.0
) -> np.ndarray:
    """Chance a contract renews: satisfaction around the pivot, the serving partner's account care and steering."""
    mk = model.config.market
    b = mk.renewal_base
    base = np.log(b / (1.0 - b)) if 0 < b < 1 else (50.0 if b >= 1 else -50.0)
    x = base + mk.renewal_slope * (satisfaction - mk.renewal_pivot) + mk.renewal_effort * care + steer
    return 1.0 / (1.0 + np.exp(-x))


def step(model: ChannelModel) -> None:
    """Drift customer satisfaction, then renew or churn the contracts that fall due."""
    from .kernels import drift_and_due

    mk = model.config.market
    cu = model.customers
    m = model.month
    # One pass over the accounts (sim.kernels.drift_and_due): customers' satisfaction drifts toward their
    # service level, and the contracts whose age is a positive multiple of the renewal interval fall due.
    due = drift_and_due(cu.state, cu.channel, cu.partner, cu.since, cu.satisfaction, model.service_table(),
                        int(model.partners.n), float(mk.satisfaction_drift), int(m), int(mk.renewal_interval))
    led = model.ledger
    led.renewals_due = int(due.size)
    model.renew_window[m % 12] = (0, due.size)
    if due.size == 0:
        return
    # A partner that gives the line more effort than its pursuits need spends it on its accounts too.
    voice = getattr(model, "voice", None)
    care = np.zeros(due.size)
    steer = np.zeros(due.size)
    served = cu.partner[due]
    ok = served >= 0
    if voice is not None:
        care[ok] = voice[model.account_cell[due[ok]]]
    # The serving partner also recommends renewing or moving to a competing vendor's product it sells.
    steer[ok] = model.steering()[served[ok]]
    p = renewal_probability(model, cu.satisfaction[due], care, steer)
    renew = model.streams["renewals"].random(due.size) < p
    keep = due[renew]
    drop = due[~renew]
    led.renewals_done = int(keep.size)
    model.renew_window[m % 12, 0] = keep.size
    led.churned += int(drop.size)
    cu.state[drop] = CHURNED
    cu.since[drop] = m
    cu.partner[drop] = -1
    cu.channel[drop] = -1
    model.book(cu.channel[keep], cu.partner[keep], cu.value[keep] * mk.renewal_value_share, new=False,
               segment=cu.segment[keep])
