"""Early intervention (guide parts 5 and 6): spend on the partners most at risk of leaving, before they leave.

Each month, when ``partners.intervention.enabled``, the :class:`InterventionLever` scores the active
partners with a risk function of what the vendor can observe, picks the top ones (a share of the
active partners, or a number; fewer when the intervention's budget cannot pay for them all) and asks
``cost_per_partner`` for each.  What the budget grants a partner buys one action
(``partners.intervention.action``):

* ``mdf``: a vendor-funded campaign for the partner, which brings leads as MDF campaigns do
  (``incentives.mdf.leads_per_1000`` and ``diminishing``);
* ``support``: a month of improvement-plan support: capability (``partners.improvement.capability_boost``,
  as :class:`~sim.policies.levers.ImprovementLever`) and the plan's extra support level in the partner's
  satisfaction (``partners.satisfaction.plan_support``), fading at ``contact_decay``;
* ``contact``: a relationship contact: communication at ``contact_intensity`` in the partner's
  satisfaction (weighted as the relationship programme's, ``satisfaction.communication_weight``),
  fading at ``contact_decay``.

The risk function is any callable ``risk(model) -> np.ndarray`` with one score in [0, 1] per partner
slot (``model.partners.n``); only active partners' scores are used.  The default,
:func:`default_risk`, is a rule on observable state.  ``targeting="random"`` draws as many active
partners at random instead, at the same cost: the control against which the rule's targeting is
measured (``experiments/intervention.py``).

Random numbers come from the generator of the lever event (the model's ``levers`` stream of the
month), drawn after the MDF lever's; a disabled intervention draws nothing and asks for nothing, so a
run without it is bit-identical to a run of the programme before the lever existed.  The lever reads
its configuration from ``model.config`` (not the scenario it was built with), so a lever with a custom
risk function, passed in ``sim.Policies(levers=...)``, stays off during a warm-up on a scenario that
does not enable it and acts from the month the what-if takes effect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

import numpy as np

from ..partners import CAP
from .levers import Lever

if TYPE_CHECKING:
    from ..model import ChannelModel

Risk = Callable[["ChannelModel"], np.ndarray]

#: Weights of the default rule's signals (they sum to 1).
RULE_WEIGHTS: dict[str, float] = {
    "idle": 0.35,  # months since the last deal, against partners.lifecycle.inactive_months
    "loss": 0.30,  # the line pays less than the partner's other lines (profit ratio below 1)
    "falling": 0.10,  # gross margin falling (fast against slow average)
    "satisfaction": 0.15,  # satisfaction below the pivot
    "conflicts": 0.10,  # share of pursuits lost in conflicts (to partners and to the vendor's channels)
}


def risk_signals(model: ChannelModel) -> dict[str, np.ndarray]:
    """The default rule's signals, each in [0, 1] per partner slot (higher: more at risk).

    * ``idle``: months since the partner's last deal over ``partners.lifecycle.inactive_months``;
    * ``loss``: ``1 - profit ratio`` (the partner's smoothed line profit against what its effort earns on
      its other lines, as the partner panel reports it);
    * ``falling``: minus the trend of its gross margin on the line (fast against slow average);
    * ``satisfaction``: how far its satisfaction is below the pivot, as a share of the pivot;
    * ``conflicts``: its smoothed share of pursuits lost in conflicts.
    """
    from ..economics import trend

    p = model.config.partners
    t = model.partners
    pivot = p.satisfaction.pivot
    return {
        "idle": np.clip((model.month - t.last_deal) / p.lifecycle.inactive_months, 0.0, 1.0),
        "loss": np.clip(1.0 - t.profit_ratio(), 0.0, 1.0),
        "falling": np.clip(-trend(model), 0.0, 1.0),
        "satisfaction": np.clip((pivot - t.satisfaction) / pivot, 0.0, 1.0) if pivot > 0 else np.zeros(t.n),
        "conflicts": np.clip(t.loss_partner_ema + t.loss_vendor_ema, 0.0, 1.0),
    }


def default_risk(model: ChannelModel) -> np.ndarray:
    """The default risk rule: the weighted mean (:data:`RULE_WEIGHTS`) of :func:`risk_signals`; 0 if not active."""
    signals = risk_signals(model)
    score = sum(w * signals[name] for name, w in RULE_WEIGHTS.items())
    return np.where(model.partners.active, score, 0.0)


class InterventionLever(Lever):
    """Early intervention: each month, spend on the active partners most at risk of leaving.

    Args:
        scenario: the scenario (the lever reads ``partners.intervention`` from ``model.config``).
        risk: ``risk(model) -> np.ndarray``, one score in [0, 1] per partner slot; ``None``: :func:`default_risk`.
        targeting: ``"risk"`` (the top-risk partners) or ``"random"`` (as many active partners drawn at random);
            ``None``: ``partners.intervention.targeting`` of the model's scenario.
    """

    name = "intervention"
    phase = "month"

    def __init__(self, scenario, risk: Risk | None = None, targeting: Literal["risk", "random"] | None = None):
        super().__init__(scenario)
        if targeting not in (None, "risk", "random"):
            raise ValueError(f"targeting must be 'risk' or 'random', got {targeting!r}")
        self.risk = risk
        self.targeting = targeting

    def __repr__(self) -> str:
        risk = "default_risk" if self.risk is None else getattr(self.risk, "__name__", type(self.risk).__name__)
        return f"InterventionLever(risk={risk}, targeting={self.targeting!r})"

    def n_targets(self, model: ChannelModel) -> int:
        """Partners targeted this month: the share (or number) asked, within the month's budget."""
        cfg = model.config.partners.intervention
        active = int(model.partners.active.sum())
        k = cfg.partners_per_month if cfg.partners_per_month is not None else int(round(cfg.share * active))
        if cfg.budget is not None and cfg.cost_per_partner > 0:
            k = min(k, int(np.floor(cfg.budget / 12.0 / cfg.cost_per_partner * (1.0 + 1e-12))))
        return max(0, min(k, active))

    def scores(self, model: ChannelModel) -> np.ndarray:
        """The risk score of every partner slot (checked: shape, finite, within [0, 1])."""
        n = model.partners.n
        fn = self.risk if self.risk is not None else default_risk
        score = np.asarray(fn(model), dtype=float)
        if score.shape != (n,):
            raise ValueError(f"the intervention's risk function must return one score per partner slot, shape "
                             f"({n},); got shape {score.shape}")
        if not np.all(np.isfinite(score)) or score.min(initial=0.0) < 0 or score.max(initial=0.0) > 1:
            raise ValueError("the intervention's risk function must return finite scores in [0, 1]")
        return score

    def request(self, model, event):
        cfg = model.config.partners.intervention
        t = model.partners
        chosen = np.zeros(t.n, dtype=bool)
        event.extra["intervention_targets"] = chosen
        if not cfg.enabled:
            return np.zeros(t.n)
        k = self.n_targets(model)
        if k > 0:
            active = np.flatnonzero(t.active)
            targeting = self.targeting or cfg.targeting
            if targeting == "random":
                chosen[event.rng.choice(active, size=k, replace=False)] = True
            else:
                score = self.scores(model)[active]
                chosen[active[np.argsort(-score, kind="stable")[:k]]] = True
        return np.where(chosen, cfg.cost_per_partner, 0.0)

    def apply(self, model, event, paid):
        cfg = model.config.partners.intervention
        if not cfg.enabled or cfg.cost_per_partner <= 0:
            return
        paid = np.asarray(paid, dtype=float)
        share = np.clip(paid / cfg.cost_per_partner, 0.0, 1.0)
        got = share > 0
        if not got.any():
            return
        t = model.partners
        t.interventions[got] += 1
        p = model.config.partners
        if cfg.action == "support":
            # A month of an improvement plan's support (as ImprovementLever), and its support level.
            boost = p.improvement.capability_boost * share
            for c in ("sales", "marketing", "service"):
                t.cap[:, CAP[c]] = np.clip(t.cap[:, CAP[c]] + boost, 0.02, 0.98)
            t.cap0[:, CAP["marketing"]] = np.clip(t.cap0[:, CAP["marketing"]] + boost, 0.02, 0.98)
            t.extra_support = np.maximum(t.extra_support, p.satisfaction.plan_support * share)
        elif cfg.action == "contact":
            t.extra_communication = np.maximum(t.extra_communication, cfg.contact_intensity * share)
        else:  # mdf: a campaign for the partner, turned into leads as MDF campaigns are
            from ..demand import poisson

            mdf = model.config.incentives.mdf
            lam = np.where(got, mdf.leads_per_1000 * (np.maximum(paid, 0.0) / 1000.0) ** mdf.diminishing, 0.0)
            leads = poisson(event.rng, lam)
            before = event.extra.get("mdf_leads")
            event.extra["mdf_leads"] = leads if before is None else np.asarray(before) + leads


__all__ = ["RULE_WEIGHTS", "InterventionLever", "Risk", "default_risk", "risk_signals"]
