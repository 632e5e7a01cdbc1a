"""The scenario: one frozen, validated configuration for a run.

Every field has a default, a unit and a one-line description (see
``docs/SCENARIOS.md``, generated from this schema by ``channelsim schema``).
Unknown keys are rejected.  The model receives a :class:`Scenario` object,
never a path or a raw dict; reading files lives in :mod:`experiments.io`, outside
the kernel.

Rates are per month unless the name says otherwise; money is in US dollars.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SEGMENTS: tuple[str, ...] = ("small", "mid", "enterprise")
CHANNELS: tuple[str, ...] = ("partner", "direct", "digital")
PARTNER_TYPES: tuple[str, ...] = ("distributor", "var", "si", "msp", "referral")
CAPABILITIES: tuple[str, ...] = (
    "strategic_fit",
    "sales",
    "marketing",
    "technical",
    "service",
    "financial",
)
PROTECTIONS: tuple[str, ...] = (
    "rules_of_engagement",
    "territory_exclusivity",
    "deal_registration",
)


def F(default: Any, unit: str, description: str, **constraints: Any) -> Any:
    """A field with a default, a unit and a description (shorthand)."""
    return Field(default, description=description, json_schema_extra={"unit": unit}, **constraints)


class Section(BaseModel):
    """Base of every scenario section: frozen, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _per_segment(small: float, mid: float, enterprise: float) -> dict[str, float]:
    return {"small": small, "mid": mid, "enterprise": enterprise}


class SegmentMap(Section):
    """A value for each customer segment."""

    small: float = F(0.0, "-", "value for small accounts", ge=0)
    mid: float = F(0.0, "-", "value for mid-market accounts", ge=0)
    enterprise: float = F(0.0, "-", "value for enterprise accounts", ge=0)

    def as_array(self) -> list[float]:
        return [self.small, self.mid, self.enterprise]


class ChannelPreference(Section):
    """Shares of accounts preferring each channel, within one segment (sum to 1)."""

    partner: float = F(0.6, "share", "accounts preferring to buy through a partner", ge=0, le=1)
    direct: float = F(0.15, "share", "accounts preferring the vendor's own sales team", ge=0, le=1)
    digital: float = F(0.25, "share", "accounts preferring the vendor's digital channel", ge=0, le=1)

    @model_validator(mode="after")
    def _sums_to_one(self) -> ChannelPreference:
        total = self.partner + self.direct + self.digital
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"partner + direct + digital must sum to 1, got {total:.4f}")
        return self


class TimeConfig(Section):
    months: int = F(36, "months", "horizon reported in KPIs, after the warm-up", ge=1, le=600)
    warmup_months: int = F(
        24,
        "months",
        "months simulated before KPIs are reported (tiers, MDF funds and improvement plans settle)",
        ge=0,
        le=240,
    )


class MarketConfig(Section):
    n_accounts: int = F(50_000, "accounts", "customer accounts in the addressable market", ge=100, le=20_000_000)
    n_territories: int = F(20, "territories", "sales territories the market is divided into", ge=1, le=5_000)
    segment_shares: SegmentMap = F(
        SegmentMap(small=0.70, mid=0.25, enterprise=0.05), "share", "share of accounts in each segment (sums to 1)"
    )
    deal_size: SegmentMap = F(
        SegmentMap(small=6_000, mid=40_000, enterprise=250_000),
        "USD",
        "median first-year deal value in each segment (lognormal)",
    )
    deal_size_sigma: float = F(0.6, "log-USD", "dispersion (sigma of log) of deal values within a segment", ge=0, le=3)
    preference: dict[str, ChannelPreference] = F(
        {
            "small": ChannelPreference(partner=0.50, direct=0.05, digital=0.45),
            "mid": ChannelPreference(partner=0.65, direct=0.20, digital=0.15),
            "enterprise": ChannelPreference(partner=0.55, direct=0.42, digital=0.03),
        },
        "share",
        "preferred channel mix by segment",
    )
    bass_p: float = F(0.03, "per year", "Bass coefficient of innovation (Sultan, Farley & Lehmann 1990)", ge=0, le=1)
    bass_q: float = F(0.38, "per year", "Bass coefficient of imitation (Sultan, Farley & Lehmann 1990)", ge=0, le=5)
    initial_adoption: float = F(
        0.10, "share", "share of accounts that have adopted the category before month 0", ge=0, le=1
    )
    initial_vendor_share: float = F(
        0.30, "share", "share of initial adopters who are the vendor's customers", ge=0, le=1
    )
    patience_months: int = F(
        3, "months", "months an in-market account waits for a vendor channel before buying elsewhere", ge=1, le=24
    )
    competitor_strength: float = F(
        1.2, "odds", "attractiveness of the best competing vendor in a contest (0 = none)", ge=0
    )
    renewal_interval: int = F(12, "months", "contract length; renewals fall due on each anniversary", ge=1, le=60)
    renewal_value_share: float = F(0.6, "share", "renewal value as a share of the first-year deal", ge=0, le=5)
    renewal_base: float = F(0.88, "probability", "renewal probability of an account at satisfaction 0.7", ge=0, le=1)
    renewal_slope: float = F(4.0, "logit per unit", "how strongly satisfaction moves renewal (logit slope)", ge=0)
    reentry_rate: float = F(
        0.01, "per month", "monthly hazard that a competitor's or churned account comes back into market", ge=0, le=1
    )
    cogs_share: float = F(0.35, "share", "cost of goods as a share of list revenue", ge=0, le=1)
    discount_rate_annual: float = F(0.10, "per year", "discount rate for customer lifetime value", ge=0, le=1)

    @model_validator(mode="after")
    def _check(self) -> MarketConfig:
        total = sum(self.segment_shares.as_array())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"segment_shares must sum to 1, got {total:.4f}")
        missing = set(SEGMENTS) - set(self.preference)
        extra = set(self.preference) - set(SEGMENTS)
        if missing or extra:
            raise ValueError(f"preference needs exactly the segments {list(SEGMENTS)}")
        return self


class PartnerTypeConfig(Section):
    share: float = F(0.2, "share", "share of partners of this type", ge=0, le=1)
    sellers_median: float = F(3.0, "sellers", "median number of sellers (lognormal)", gt=0)
    sellers_sigma: float = F(1.0, "log", "dispersion of sellers across partners of this type", ge=0, le=3)
    opps_per_seller: float = F(1.0, "opportunities per month", "opportunities one seller can work a month", gt=0)
    territories: int = F(1, "territories", "territories a partner of this type covers", ge=1)
    segments: list[Literal["small", "mid", "enterprise"]] = F(["small", "mid"], "-", "segments the type sells to")
    service_margin: float = F(0.15, "share", "partner's own margin on services it attaches to a deal", ge=0, le=2)
    capability_mean: float = F(0.5, "score 0-1", "mean capability on the evaluation dimensions", ge=0, le=1)


def _default_types() -> dict[str, PartnerTypeConfig]:
    return {
        "distributor": PartnerTypeConfig(
            share=0.04,
            sellers_median=12,
            sellers_sigma=0.9,
            opps_per_seller=2.0,
            territories=6,
            segments=["small", "mid"],
            service_margin=0.05,
            capability_mean=0.55,
        ),
        "var": PartnerTypeConfig(
            share=0.40,
            sellers_median=1.5,
            sellers_sigma=1.5,
            opps_per_seller=1.0,
            territories=1,
            segments=["small", "mid"],
            service_margin=0.15,
            capability_mean=0.45,
        ),
        "si": PartnerTypeConfig(
            share=0.14,
            sellers_median=3.0,
            sellers_sigma=1.3,
            opps_per_seller=0.6,
            territories=3,
            segments=["mid", "enterprise"],
            service_margin=0.35,
            capability_mean=0.6,
        ),
        "msp": PartnerTypeConfig(
            share=0.20,
            sellers_median=1.5,
            sellers_sigma=1.3,
            opps_per_seller=0.8,
            territories=1,
            segments=["small", "mid"],
            service_margin=0.30,
            capability_mean=0.5,
        ),
        "referral": PartnerTypeConfig(
            share=0.22,
            sellers_median=1.0,
            sellers_sigma=1.0,
            opps_per_seller=0.5,
            territories=1,
            segments=["small", "mid", "enterprise"],
            service_margin=0.0,
            capability_mean=0.35,
        ),
    }


class MindshareConfig(Section):
    initial: float = F(
        0.35, "share", "mean initial share of a partner's selling effort given to the vendor", ge=0, le=1
    )
    minimum: float = F(0.05, "share", "lower bound of mindshare", ge=0, le=1)
    maximum: float = F(0.9, "share", "upper bound of mindshare", ge=0, le=1)
    speed: float = F(0.08, "per month", "share of the gap to the target mindshare closed each month", ge=0, le=1)
    sensitivity: float = F(3.0, "logit per unit", "response of target mindshare to the vendor's relative return", ge=0)
    outside_return: float = F(0.35, "share of revenue", "return per revenue dollar offered by competing vendors", gt=0)
    outside_win_rate: float = F(
        0.35, "probability", "win rate a partner expects when selling for competing vendors", gt=0, le=1
    )
    satisfaction_weight: float = F(0.5, "per unit", "pull of partner satisfaction (around 0.6) on mindshare", ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> MindshareConfig:
        if not self.minimum <= self.maximum:
            raise ValueError(f"minimum ({self.minimum}) must not exceed maximum ({self.maximum})")
        return self


class SatisfactionConfig(Section):
    initial: float = F(0.65, "score 0-1", "mean initial partner satisfaction", ge=0, le=1)
    speed: float = F(0.2, "per month", "share of the gap to the target closed each month", ge=0, le=1)
    base: float = F(0.48, "score", "target satisfaction with nothing else", ge=0, le=1)
    profit_weight: float = F(0.25, "score", "weight of profitability (vendor-derived partner profit)", ge=0)
    support_weight: float = F(0.12, "score", "weight of the support level of the tier", ge=0)
    recognition_weight: float = F(0.08, "score", "weight of recognition received", ge=0)
    communication_weight: float = F(0.08, "score", "weight of communication and relationship programme", ge=0)
    conflict_loss_penalty: float = F(
        0.3,
        "score per unit share",
        "drop in target per unit share of pursuits lost to other partners in conflicts",
        ge=0,
    )
    direct_loss_penalty: float = F(
        0.8,
        "score per unit share",
        "drop per unit share of pursuits lost to the vendor's own sales or digital channel",
        ge=0,
    )
    promoter_threshold: float = F(
        0.75, "score", "satisfaction at or above which a partner is an NPS promoter", ge=0, le=1
    )
    detractor_threshold: float = F(0.55, "score", "satisfaction below which a partner is an NPS detractor", ge=0, le=1)


class LifecycleConfig(Section):
    exit_hazard: float = F(
        1 / 240,
        "per month",
        "base exit hazard at satisfaction 0.6 (with plan exits: mean relationship of about 8 years)",
        ge=0,
        le=1,
    )
    exit_satisfaction_slope: float = F(
        6.0, "log per unit", "rise of the exit log-hazard per unit of satisfaction below 0.6", ge=0
    )
    customers_follow_exit: float = F(
        0.3, "probability", "chance a customer leaves with its exiting partner", ge=0, le=1
    )
    onboarding_months: int = F(6, "months", "ramp-up: capacity rises linearly over these months", ge=0, le=36)
    onboarding_cost: float = F(5_000, "USD", "vendor cost of onboarding one partner (booked as training)", ge=0)


class RecruitmentConfig(Section):
    arrival_rate: float = F(15.0, "prospects per month", "prospective partners applying each month", ge=0)
    prequal_min: float = F(
        0.30, "score 0-1", "minimum on every evaluation dimension to pass pre-qualification", ge=0, le=1
    )
    weights: dict[str, float] = F(
        {"strategic_fit": 0.25, "sales": 0.2, "marketing": 0.1, "technical": 0.2, "service": 0.15, "financial": 0.1},
        "weight",
        "weights of the evaluation dimensions in the partner score",
    )
    accept_score: float = F(0.45, "score 0-1", "weighted evaluation score needed to sign a partner", ge=0, le=1)
    max_partners: int = F(100_000, "partners", "recruitment stops at this many active partners", ge=1)

    @model_validator(mode="after")
    def _weights(self) -> RecruitmentConfig:
        unknown = set(self.weights) - set(CAPABILITIES)
        if unknown:
            raise ValueError(f"unknown evaluation dimension(s) {sorted(unknown)}; allowed: {list(CAPABILITIES)}")
        if sum(self.weights.values()) <= 0:
            raise ValueError("weights must not all be zero")
        return self


class ImprovementConfig(Section):
    enabled: bool = F(True, "-", "put under-performers on an improvement plan instead of ignoring them")
    threshold: float = F(
        0.07,
        "share",
        "TTM revenue below this share of the median of active partners of the same type triggers a plan",
        ge=0,
        le=1,
    )
    months: int = F(6, "months", "length of an improvement plan", ge=1, le=36)
    support_cost: float = F(1_500, "USD per month", "vendor cost of supporting one partner on a plan", ge=0)
    capability_boost: float = F(0.01, "score per month", "capability gained each month on a plan", ge=0, le=1)
    exit_if_not_recovered: bool = F(True, "-", "terminate partners that have not recovered at the end of the plan")


class ComplianceConfig(Section):
    propensity_mean: float = F(0.92, "probability", "mean share of a partner's claims that are compliant", ge=0, le=1)
    propensity_spread: float = F(0.06, "probability", "spread of compliance propensity across partners", ge=0, le=0.5)
    inflation: float = F(0.25, "share", "overstatement of a non-compliant claim", ge=0, le=5)
    audit_rate: float = F(0.3, "probability", "chance an audit catches a non-compliant claim", ge=0, le=1)
    audit_satisfaction_penalty: float = F(0.02, "score", "satisfaction drop of a partner caught", ge=0, le=1)


class PartnersConfig(Section):
    n_initial: int = F(500, "partners", "partners in the programme at month 0", ge=0, le=1_000_000)
    types: dict[str, PartnerTypeConfig] = F(_default_types(), "-", "partner types and their typical profile")
    capability_spread: float = F(0.15, "score", "spread of each capability around the type mean", ge=0, le=0.5)
    sourcing_rate: float = F(
        0.15,
        "leads per opportunity of capacity",
        "leads a partner finds each month per opportunity it can work for the vendor (partner-originated demand)",
        ge=0,
    )
    mindshare: MindshareConfig = F(MindshareConfig(), "-", "how partners divide effort between vendors")
    satisfaction: SatisfactionConfig = F(SatisfactionConfig(), "-", "how partner satisfaction is formed")
    lifecycle: LifecycleConfig = F(LifecycleConfig(), "-", "onboarding and exit")
    recruitment: RecruitmentConfig = F(
        RecruitmentConfig(), "-", "arrival, pre-qualification and evaluation of prospects"
    )
    improvement: ImprovementConfig = F(ImprovementConfig(), "-", "improvement plans for under-performers")
    compliance: ComplianceConfig = F(ComplianceConfig(), "-", "claims, non-compliance and audits")

    @model_validator(mode="after")
    def _check(self) -> PartnersConfig:
        unknown = set(self.types) - set(PARTNER_TYPES)
        if unknown:
            raise ValueError(f"unknown partner type(s) {sorted(unknown)}; allowed: {list(PARTNER_TYPES)}")
        total = sum(t.share for t in self.types.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"shares of partner types must sum to 1, got {total:.4f}")
        return self


class DirectConfig(Section):
    sellers: float = F(60, "sellers", "vendor's direct sellers", ge=0)
    opps_per_seller: float = F(4.0, "opportunities per month", "opportunities one direct seller works a month", ge=0)
    territory_coverage: float = F(0.5, "share", "share of territories where direct sales is present", ge=0, le=1)
    segments: list[Literal["small", "mid", "enterprise"]] = F(
        ["mid", "enterprise"], "-", "segments direct sales pursues"
    )
    capability: float = F(0.7, "score 0-1", "direct sellers' capability in a contest", ge=0, le=1)
    service: float = F(0.7, "score 0-1", "service level customers get from direct sales", ge=0, le=1)
    cost_per_seller: float = F(
        15_000,
        "USD per month",
        "loaded cost of a direct seller (for acquisition cost; an operating expense, outside gross profit)",
        ge=0,
    )


class DigitalConfig(Section):
    enabled: bool = F(True, "-", "the vendor sells through its digital channel (web store, marketplace)")
    reach: SegmentMap = F(
        SegmentMap(small=0.45, mid=0.12, enterprise=0.0),
        "probability",
        "chance the digital channel reaches an in-market account that does not prefer it",
    )
    capability: float = F(0.5, "score 0-1", "digital channel's strength in a contest", ge=0, le=1)
    service: float = F(0.6, "score 0-1", "service level customers get from the digital channel", ge=0, le=1)
    price_advantage: float = F(0.05, "share", "price advantage of the digital channel in a contest", ge=0, le=1)
    monthly_cost: float = F(
        60_000,
        "USD per month",
        "cost of running the digital channel (for acquisition cost; an operating expense)",
        ge=0,
    )


class DealRegistrationConfig(Section):
    min_deal_size: float = F(10_000, "USD", "smallest deal that can be registered (Cisco OIP: $10k)", ge=0)
    extra_discount: float = F(
        0.14, "share", "extra discount on a registered deal (Cisco OIP: up to 14 points)", ge=0, le=1
    )
    validity_months: int = F(6, "months", "registration lifetime (Cisco OIP: 6 months)", ge=1)
    protects_against_direct: bool = F(True, "-", "the vendor's own sales team honours registrations")
    registration_rate: float = F(0.8, "probability", "chance an eligible partner registers its deal", ge=0, le=1)


class RulesOfEngagementConfig(Section):
    direct_min_deal_size: float = F(
        60_000, "USD", "deals of at least this size go to direct sales, smaller ones to partners", ge=0
    )


class ConflictConfig(Section):
    protections: list[Literal["rules_of_engagement", "territory_exclusivity", "deal_registration"]] = F(
        ["rules_of_engagement", "deal_registration"], "-", "protection rules applied in order before any contest"
    )
    prevention: float = F(
        0.6,
        "probability",
        "chance that a pursuit a protection rule excludes never starts (the rule is known in advance)",
        ge=0,
        le=1,
    )
    fallback: Literal["price_contest", "mediation"] = F(
        "price_contest", "-", "how conflicts left after the protections are settled"
    )
    deal_registration: DealRegistrationConfig = F(DealRegistrationConfig(), "-", "deal registration rules")
    rules_of_engagement: RulesOfEngagementConfig = F(RulesOfEngagementConfig(), "-", "account-size rules of engagement")
    erosion_per_rival: float = F(0.07, "share", "price cut per additional rival in a price contest", ge=0, le=1)
    max_erosion: float = F(0.25, "share", "largest price cut in a price contest", ge=0, le=1)
    mediation_cost: float = F(1_200, "USD", "vendor management time to mediate one conflict", ge=0)
    mediation_delay_loss: float = F(0.10, "probability", "chance a mediated deal is lost during the delay", ge=0, le=1)
    management_cost: float = F(150, "USD", "vendor time spent on any detected conflict", ge=0)
    customer_satisfaction_hit: float = F(
        0.05, "score", "customer satisfaction lost when channels fight over the account", ge=0, le=1
    )
    contest_capability: float = F(3.0, "logit per unit", "weight of capability in a contest", ge=0)
    contest_price: float = F(8.0, "logit per unit", "weight of price advantage in a contest", ge=0)
    contest_preference: float = F(1.0, "logit", "bonus of the customer's preferred channel", ge=0)
    contest_mindshare: float = F(
        2.0,
        "logit per unit",
        "weight of a partner's mindshare (its selling effort for the vendor, around the initial mean) in a contest",
        ge=0,
    )
    contest_relationship: float = F(
        1.0, "logit per unit", "weight of the relationship (partner satisfaction) in a contest", ge=0
    )

    @model_validator(mode="after")
    def _unique(self) -> ConflictConfig:
        if len(set(self.protections)) != len(self.protections):
            raise ValueError(f"protections must not repeat, got {self.protections}")
        return self


class TierConfig(Section):
    name: str = F("registered", "-", "tier name")
    min_ttm_revenue: float = F(0.0, "USD", "trailing-twelve-month revenue needed", ge=0)
    min_certifications: int = F(0, "certifications", "active certifications needed", ge=0)
    min_customer_satisfaction: float = F(
        0.0, "score 0-1", "mean satisfaction of the partner's customers needed", ge=0, le=1
    )
    min_compliance: float = F(0.0, "share", "share of compliant claims needed", ge=0, le=1)
    discount: float = F(0.10, "share", "front-end discount off list price", ge=0, le=1)
    rebate_rate: float = F(0.00, "share", "back-end rebate on the partner's revenue", ge=0, le=1)
    mdf_accrual_rate: float = F(0.00, "share", "market development funds accrued per revenue dollar", ge=0, le=1)
    spiff_eligible: bool = F(False, "-", "partner earns SPIFFs on new-customer deals")
    deal_registration: bool = F(False, "-", "partner may register deals")
    leads_per_month: float = F(0.0, "leads", "vendor-generated leads shared with each partner of the tier", ge=0)
    support_level: float = F(0.3, "score 0-1", "partner support the tier receives", ge=0, le=1)
    training_budget: float = F(0.0, "USD per month", "funded training per partner", ge=0)
    joint_selling: bool = F(False, "-", "the vendor's sellers sell jointly with partners of this tier")


def _default_tiers() -> list[TierConfig]:
    return [
        TierConfig(
            name="registered",
            discount=0.10,
            rebate_rate=0.0,
            mdf_accrual_rate=0.0,
            spiff_eligible=False,
            deal_registration=True,
            support_level=0.3,
            training_budget=100,
        ),
        TierConfig(
            name="silver",
            min_ttm_revenue=60_000,
            min_certifications=1,
            min_customer_satisfaction=0.55,
            min_compliance=0.75,
            discount=0.14,
            rebate_rate=0.01,
            mdf_accrual_rate=0.01,
            spiff_eligible=True,
            deal_registration=True,
            leads_per_month=0.5,
            support_level=0.45,
            training_budget=300,
        ),
        TierConfig(
            name="gold",
            min_ttm_revenue=300_000,
            min_certifications=2,
            min_customer_satisfaction=0.6,
            min_compliance=0.85,
            discount=0.18,
            rebate_rate=0.02,
            mdf_accrual_rate=0.02,
            spiff_eligible=True,
            deal_registration=True,
            leads_per_month=1.0,
            support_level=0.6,
            training_budget=600,
            joint_selling=True,
        ),
        TierConfig(
            name="platinum",
            min_ttm_revenue=600_000,
            min_certifications=3,
            min_customer_satisfaction=0.65,
            min_compliance=0.9,
            discount=0.22,
            rebate_rate=0.03,
            mdf_accrual_rate=0.03,
            spiff_eligible=True,
            deal_registration=True,
            leads_per_month=2.0,
            support_level=0.8,
            training_budget=1_000,
            joint_selling=True,
        ),
    ]


class TieringConfig(Section):
    tiers: list[TierConfig] = F(_default_tiers(), "-", "tiers from lowest to highest, with requirements and benefits")
    review_every_months: int = F(6, "months", "months between tier reviews", ge=1, le=60)
    grace_reviews: int = F(1, "reviews", "reviews a partner may fall short before it is demoted", ge=0, le=10)

    @model_validator(mode="after")
    def _ordered(self) -> TieringConfig:
        if not self.tiers:
            raise ValueError("at least one tier is needed")
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError(f"tier names must be unique, got {names}")
        if any(not n.isidentifier() for n in names):
            raise ValueError(f"tier names must be identifiers (letters, digits, _), got {names}")
        revs = [t.min_ttm_revenue for t in self.tiers]
        if revs != sorted(revs):
            raise ValueError(f"tiers must be ordered by min_ttm_revenue, lowest first, got {revs}")
        return self


class RebateConfig(Section):
    growth_target: float = F(0.15, "share", "year-on-year TTM growth that triggers the accelerator", ge=0)
    accelerator: float = F(1.5, "multiplier", "rebate multiplier when growth meets the target", ge=1)
    scale: float = F(1.0, "multiplier", "multiplier on every tier's rebate rate (what-if lever)", ge=0)


class MDFConfig(Section):
    scale: float = F(1.0, "multiplier", "multiplier on every tier's MDF accrual rate", ge=0)
    claim_rate: float = F(
        0.013, "per month", "base share of the available fund a partner claims each month", ge=0, le=1
    )
    claim_marketing_slope: float = F(0.035, "per unit", "extra claim rate per unit of marketing capability", ge=0, le=1)
    expiry_months: int = F(12, "months", "accrued funds not claimed within this many months expire", ge=1, le=60)
    leads_per_1000: float = F(1.0, "leads per $1000", "leads generated by $1000 of MDF at small spend", ge=0)
    diminishing: float = F(0.7, "elasticity", "exponent of MDF spend in the lead response (1 = linear)", gt=0, le=1)


class SpiffConfig(Section):
    amount: float = F(500.0, "USD", "SPIFF paid per new-customer deal to eligible partners", ge=0)
    share_of_deal: float = F(0.0, "share", "additional SPIFF as a share of deal value", ge=0, le=1)


class TrainingConfig(Section):
    scale: float = F(1.0, "multiplier", "multiplier on every tier's training budget", ge=0)
    effect: float = F(0.10, "score", "largest capability gain from one month of funded training", ge=0, le=1)
    saturation: float = F(1_500.0, "USD", "training spend at which 63 % of the largest gain is reached", gt=0)
    lag_months: int = F(3, "months", "months before training shows in capability", ge=0, le=24)
    certification_cost: float = F(2_000.0, "USD", "cumulative training spend that earns one certification", gt=0)
    certification_months: int = F(24, "months", "months a certification stays valid unless renewed", ge=1)
    max_certifications: int = F(5, "certifications", "most certifications a partner can hold", ge=1, le=20)
    decay: float = F(0.004, "score per month", "capability lost each month (training offsets it)", ge=0, le=0.1)


class RecognitionConfig(Section):
    top_share: float = F(0.05, "share", "share of active partners recognised at each tier review", ge=0, le=1)
    cost_per_award: float = F(2_000.0, "USD", "cost of recognising one partner", ge=0)
    satisfaction_boost: float = F(1.0, "score", "recognition signal given to a recognised partner (decays)", ge=0, le=1)
    decay: float = F(0.1, "per month", "monthly decay of the recognition signal", ge=0, le=1)


class RelationshipConfig(Section):
    communication: float = F(0.5, "score 0-1", "intensity of communication (QBRs, portal, newsletters)", ge=0, le=1)
    cost_per_partner: float = F(
        50.0, "USD per month", "cost of the relationship programme per active partner at intensity 1", ge=0
    )
    joint_selling: float = F(
        0.0,
        "logit",
        "contest bonus when the vendor sells jointly with a partner in a tier that offers joint selling",
        ge=0,
    )


class IncentivesConfig(Section):
    budget: float | None = F(
        None, "USD per year", "incentive budget (all levers, discounts included); none = unlimited", ge=0
    )
    rebate: RebateConfig = F(RebateConfig(), "-", "back-end rebate lever")
    mdf: MDFConfig = F(MDFConfig(), "-", "market development funds lever")
    spiff: SpiffConfig = F(SpiffConfig(), "-", "sales bonus (SPIFF) lever")
    training: TrainingConfig = F(TrainingConfig(), "-", "funded training and certifications lever")
    recognition: RecognitionConfig = F(RecognitionConfig(), "-", "non-financial recognition lever")
    discount_scale: float = F(1.0, "multiplier", "multiplier on every tier's front-end discount", ge=0)


class Scenario(Section):
    """A complete, validated configuration of one what-if."""

    name: str = F("baseline", "-", "short name of the scenario")
    description: str = F("", "-", "what the scenario asks")
    time: TimeConfig = F(TimeConfig(), "-", "horizon and warm-up")
    market: MarketConfig = F(MarketConfig(), "-", "customers, segments and demand")
    partners: PartnersConfig = F(PartnersConfig(), "-", "the partner population and its behaviour")
    direct: DirectConfig = F(DirectConfig(), "-", "the vendor's direct sales team")
    digital: DigitalConfig = F(DigitalConfig(), "-", "the vendor's digital channel")
    conflict: ConflictConfig = F(ConflictConfig(), "-", "channel conflict rules and costs")
    tiering: TieringConfig = F(TieringConfig(), "-", "partner tiers, requirements and benefits")
    incentives: IncentivesConfig = F(IncentivesConfig(), "-", "incentive levers and budget")
    relationship: RelationshipConfig = F(RelationshipConfig(), "-", "relationship programme")

    @property
    def tier_names(self) -> list[str]:
        return [t.name for t in self.tiering.tiers]

    def to_dict(self) -> dict[str, Any]:
        """Every field, defaults included, as plain Python values."""
        return self.model_dump(mode="json")

    def with_overrides(self, overrides: dict[str, Any], *, source: str = "overrides") -> Scenario:
        """A new scenario with dotted (``a.b.c``) or dunder (``a__b__c``) paths replaced.

        Raises :class:`sim.errors.ScenarioError` naming the path when it does not exist
        or the value is not allowed.
        """
        from .overrides import apply_overrides

        return apply_overrides(self, overrides, source=source)
