"""Replaceable policies: incentive levers, tiering, conflict resolution.

A :class:`Policies` bundle is what the model consults; pass your own to
``ChannelModel(policies=...)`` or ``sim.run(..., policies=...)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .conflict import (
    FALLBACKS,
    PROTECTIONS,
    DealRegistration,
    Fallback,
    Mediation,
    PriceContest,
    Protection,
    RulesOfEngagement,
    Settlement,
    TerritoryExclusivity,
    default_fallback,
    default_protections,
)
from .intervention import InterventionLever, default_risk, risk_signals
from .levers import (
    CollaborationLever,
    DealBatch,
    DiscountLever,
    ImprovementLever,
    Lever,
    LeverEvent,
    MDFLever,
    RebateLever,
    RecognitionLever,
    RelationshipLever,
    SpiffLever,
    TrainingLever,
    default_levers,
)
from .tiering import SpecialityTiering, ThresholdTiering, TieringPolicy, specialisation_eligible


def default_tiering(scenario) -> TieringPolicy:
    """The scenario's tiering policy: revenue tiers, plus specialisations when they are enabled."""
    if scenario.tiering.specialisation.enabled:
        return SpecialityTiering(scenario)
    return ThresholdTiering(scenario)


@dataclass
class Policies:
    """The policy objects of one run. ``None`` fields are built from the scenario."""

    levers: list[Lever] | None = None
    tiering: TieringPolicy | None = None
    protections: list[Protection] | None = None
    fallback: Fallback | None = None

    def resolved(self, scenario) -> Policies:
        return Policies(
            levers=self.levers if self.levers is not None else default_levers(scenario),
            tiering=self.tiering if self.tiering is not None else default_tiering(scenario),
            protections=self.protections if self.protections is not None else default_protections(scenario),
            fallback=self.fallback if self.fallback is not None else default_fallback(scenario),
        )


__all__ = [
    "CollaborationLever",
    "FALLBACKS",
    "PROTECTIONS",
    "DealBatch",
    "DealRegistration",
    "DiscountLever",
    "Fallback",
    "ImprovementLever",
    "InterventionLever",
    "Lever",
    "LeverEvent",
    "MDFLever",
    "Mediation",
    "Policies",
    "PriceContest",
    "Protection",
    "RebateLever",
    "RecognitionLever",
    "RelationshipLever",
    "RulesOfEngagement",
    "Settlement",
    "SpecialityTiering",
    "SpiffLever",
    "TerritoryExclusivity",
    "ThresholdTiering",
    "TieringPolicy",
    "TrainingLever",
    "default_levers",
    "default_risk",
    "default_tiering",
    "risk_signals",
    "specialisation_eligible",
]
