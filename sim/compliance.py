"""Claims, over-claiming and audits (guide part 7): deterrence.

MDF claims and rebates are claims partners file.  Each month a partner with a
claim decides whether to over-claim.  Its log-odds of doing so are

    gain_sensitivity x G - honesty,   G = (1 - q) - q x penalty,

where ``q`` is its perceived audit rate and ``G`` the expected net gain of a
dollar over-claimed (kept if not audited, lost and fined ``penalty`` times if
caught): the Becker (1968) / Allingham-Sandmo (1972) calculus with a
heterogeneous honesty trait.  A claim is audited with probability
``audit_rate``; an audited over-claim is caught, paid at its true amount and
fined.  The partner then updates ``q`` toward what it saw (audited or not), so
an uncaught success lowers its perceived risk and raises its propensity, and
more audits raise ``q`` and deter (Anwar & Loughran 2011).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .model import ChannelModel


@dataclass
class Claims:
    """One lever's claims this month, per partner (USD)."""

    payable: np.ndarray  # what the vendor is asked to pay after audit: overstated if not caught, fine withheld
    fine: np.ndarray  # fine withheld from the payment of a caught over-claim
    overstated: np.ndarray  # over-claimed amount in ``payable`` (over-claims not caught)


def overclaim_probability(model: ChannelModel) -> np.ndarray:
    """Each partner's probability of over-claiming a claim this month."""
    cc = model.config.partners.compliance
    t = model.partners
    q = t.perceived_audit
    gain = (1.0 - q) - q * cc.penalty
    return 1.0 / (1.0 + np.exp(-(cc.gain_sensitivity * gain - t.honesty)))


def audited_claims(model: ChannelModel, lever: str, requested: np.ndarray) -> Claims:
    """File the month's claims for ``lever``: over-claims, audits, catches and fines; update beliefs."""
    cc = model.config.partners.compliance
    t = model.partners
    rng = model.streams["claims"]
    claim = requested > 0
    n_claim = int(claim.sum())
    over = claim & (rng.random(t.n) < overclaim_probability(model))
    audited = claim & (rng.random(t.n) < cc.audit_rate)
    caught = over & audited
    overstated = requested * cc.inflation
    fine = np.where(caught, np.minimum(cc.penalty * overstated, requested), 0.0)
    payable = np.where(over & ~caught, requested + overstated, requested - fine)
    led = model.ledger
    led.claims += n_claim
    led.claims_compliant += int((claim & ~over).sum())
    led.claims_caught += int(caught.sum())
    led.audits += int(audited.sum())
    led.claims_value += float(requested[claim].sum())
    col = model.month % 12
    t.claims_hist[:, col] += claim
    t.caught_hist[:, col] += caught
    t.claimed_month |= claim
    t.audited_month |= audited
    t.overclaimed_month |= over
    model._caught_now |= caught
    return Claims(payable=payable, fine=fine, overstated=np.where(over & ~caught, overstated, 0.0))


def learn(model: ChannelModel) -> None:
    """Month end: partners that filed claims update their perceived audit rate toward what they saw."""
    cc = model.config.partners.compliance
    t = model.partners
    seen = t.claimed_month
    t.perceived_audit = np.where(
        seen, t.perceived_audit + cc.risk_learning * (t.audited_month - t.perceived_audit), t.perceived_audit
    )
