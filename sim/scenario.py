"""The scenario: one frozen, validated configuration for a run.

Every field has a default, a unit, a one-line description, a *basis* and a
*source* (see ``docs/SCENARIOS.md``, generated from this schema by
``channelsim schema``).  The basis says where the default comes from:

* ``published``: a figure from the literature or a vendor's published
  programme, named in the source;
* ``calibrated``: chosen so that the baseline meets a published figure (the
  source names it; ``benchmarks/calibrate.py`` checks it);
* ``assumption``: a modelling choice with the reasoning in the source (a
  candidate for sensitivity screening, ``experiments/assumption_screening.yaml``);
* ``lever``: a what-if lever (1 = today's programme);
* ``design``: the size and shape of the experiment (scale, horizon).

Unknown keys are rejected.  The model receives a :class:`Scenario` object,
never a path or a raw dict; reading files lives in :mod:`experiments.io`,
outside the kernel.  Rates are per month unless the name says otherwise;
money is in US dollars at list price.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

import annotated_types as at
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
SOURCES: tuple[str, ...] = ("events", "directories", "referrals")
BASES: tuple[str, ...] = ("published", "calibrated", "assumption", "lever", "design")

# Upper bounds shared by many fields: large enough for any sensible what-if, small
# enough that the model runs in bounded time and memory.
USD_MAX = 1e9  # any amount of money per unit (deal, month, partner)
MULT_MAX = 100.0  # what-if multipliers
LOGIT_MAX = 100.0  # weights on a logit scale


def F(
    default: Any,
    unit: str,
    description: str,
    *,
    basis: str = "assumption",
    source: str = "",
    **constraints: Any,
) -> Any:
    """A field with a default, a unit, a description, its basis and its source (shorthand)."""
    if basis not in BASES:  # pragma: no cover - a programming error in this module
        raise ValueError(f"basis must be one of {BASES}, got {basis!r}")
    extra = {"unit": unit, "basis": basis, "source": source}
    return Field(default, description=description, json_schema_extra=extra, **constraints)


def S(default: Any, description: str) -> Any:
    """A nested section (its fields carry their own basis and source)."""
    return Field(default, description=description, json_schema_extra={"unit": "-", "basis": "", "source": ""})


class Section(BaseModel):
    """Base of every scenario section: frozen, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)


class SegmentMap(Section):
    """A value for each customer segment."""

    small: float = F(0.0, "-", "value for small accounts", basis="design", ge=0, le=USD_MAX)
    mid: float = F(0.0, "-", "value for mid-market accounts", basis="design", ge=0, le=USD_MAX)
    enterprise: float = F(0.0, "-", "value for enterprise accounts", basis="design", ge=0, le=USD_MAX)

    def as_array(self) -> list[float]:
        return [self.small, self.mid, self.enterprise]


class ChannelPreference(Section):
    """Shares of accounts preferring each channel, within one segment (sum to 1)."""

    partner: float = F(0.6, "share", "accounts preferring to buy through a partner", basis="design", ge=0, le=1)
    direct: float = F(0.15, "share", "accounts preferring the vendor's own sales team", basis="design", ge=0, le=1)
    digital: float = F(0.25, "share", "accounts preferring the vendor's digital channel", basis="design", ge=0, le=1)

    @model_validator(mode="after")
    def _sums_to_one(self) -> ChannelPreference:
        total = self.partner + self.direct + self.digital
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"partner + direct + digital must sum to 1, got {total:.4f}")
        return self


class TimeConfig(Section):
    months: int = F(36, "months", "horizon reported in KPIs, after the warm-up", basis="design",
                    source="Model brief: default horizon of 36 months.", ge=1, le=600)
    warmup_months: int = F(
        60,
        "months",
        "months simulated before KPIs are reported (tiers, effort, the customer base and the partner population "
        "settle)",
        basis="design",
        source="Long enough for the baseline to reach its steady state: the KPIs calibration uses have no trend over "
        "the reported months (tests/test_steady_state.py).",
        ge=0,
        le=240,
    )


class MarketConfig(Section):
    n_accounts: int = F(50_000, "accounts", "customer accounts in the addressable market", basis="design",
                        source="Model brief: default scale.", ge=100, le=20_000_000)
    n_territories: int = F(20, "territories", "sales territories the market is divided into", basis="design",
                           source="About 25 partners a territory at the default scale, so partners overlap.",
                           ge=1, le=5_000)
    segment_shares: SegmentMap = F(
        SegmentMap(small=0.70, mid=0.25, enterprise=0.05), "share", "share of accounts in each segment (sums to 1)",
        basis="assumption", source="Illustrative B2B account pyramid: many small accounts, few enterprises.",
    )
    deal_size: SegmentMap = F(
        SegmentMap(small=6_000, mid=40_000, enterprise=250_000),
        "USD",
        "median first-year deal value in each segment at list price (lognormal)",
        basis="assumption",
        source="Illustrative; most small deals fall below the $10k deal-registration minimum (Cisco OIP), most mid "
        "and enterprise deals above it.",
    )
    deal_size_sigma: float = F(0.6, "log-USD", "dispersion (sigma of log) of deal values within a segment",
                               source="Moderate within-segment dispersion.", ge=0, le=3)
    preference: dict[str, ChannelPreference] = F(
        {
            "small": ChannelPreference(partner=0.50, direct=0.05, digital=0.45),
            "mid": ChannelPreference(partner=0.65, direct=0.20, digital=0.15),
            "enterprise": ChannelPreference(partner=0.55, direct=0.42, digital=0.03),
        },
        "share",
        "preferred channel mix by segment",
        basis="calibrated",
        source="With direct and digital capacity, sets the partner share of revenue (target 56-73 %, Channelnomics "
        "2025 / Canalys). Small accounts lean to self-service, enterprises to the vendor's own sellers.",
    )
    bass_p: float = F(0.03, "per year", "Bass coefficient of innovation", basis="published",
                      source="Sultan, Farley & Lehmann (1990), meta-analysis of 213 diffusion studies: mean p = 0.03.",
                      ge=0, le=1)
    bass_q: float = F(0.38, "per year", "Bass coefficient of imitation", basis="published",
                      source="Sultan, Farley & Lehmann (1990): mean q = 0.38.", ge=0, le=5)
    account_turnover: float = F(
        0.08,
        "per year",
        "share of accounts that close each year and are replaced by a new, unaware business",
        basis="published",
        source="US Census Bureau, Business Dynamics Statistics: establishment exit rates of about 8 % a year in the "
        "2010s. With it the market has a steady state (Bass diffusion of the entrants).",
        ge=0,
        le=1,
    )
    initial_adoption: float | Literal["steady_state"] = F(
        "steady_state",
        "share",
        "share of accounts that have adopted the category at month 0; steady_state = the Bass steady state with "
        "account turnover",
        basis="design",
        source="The steady state solves (p + qF)(1 - F) = turnover x F, so the baseline starts where it stays.",
    )
    initial_vendor_share: float = F(
        0.68, "share", "share of initial adopters who are the vendor's customers", basis="calibrated",
        source="Set to the vendor's steady-state market share in the baseline, so the horizon has no trend.",
        ge=0, le=1,
    )
    contract_lockin: int = F(
        0, "months", "months after an account chose a competing vendor (or left the vendor) during which no lead or "
        "prospecting can bring it back into market",
        source="0: none. A customer that has just bought is under contract (annual contracts, market.renewal_interval);"
        " leads reach it when its contract comes up. Re-entry (reentry_rate) is not affected.",
        ge=0, le=120,
    )
    competitor_effort: float = F(
        1.0, "seller-months per month per $1M", "selling effort competing vendors' channels give a cell, per million "
        "USD of its accounts' first-year value; the vendor's partners' effort in a cell against it is their share of "
        "voice (conflict.contest_effort, renewal_effort)",
        basis="calibrated",
        source="With conflict.contest_effort, sets the vendor's market share (about 2/3 of the accounts buying the "
        "category) and the elasticity of partner revenue to partner effort (0.2-0.5); at 1.0 the partners' effort "
        "in the average cell is about 70 % of competitors'.",
        gt=0, le=1e4,
    )
    patience_months: int = F(
        3, "months", "months an in-market account waits for a vendor channel before buying elsewhere",
        source="An unserved account buys elsewhere within a quarter.", ge=1, le=24,
    )
    competitor_strength: float = F(
        6.0, "odds", "attractiveness of the best competing vendor in a contest (0 = none)", basis="calibrated",
        source="Competing vendors together slightly stronger than an average channel of this vendor; sets market "
        "share and win rate.", ge=0, le=LOGIT_MAX,
    )
    competitor_capability: float = F(0.55, "score 0-1", "capability of the best competing vendor's channel",
                                     source="An average channel partner (type means 0.35-0.6).", ge=0, le=1)
    competitor_response: float = F(
        1.0, "logit per logit", "how strongly competing vendors answer the vendor's share gains (0 = not at all)",
        source="Competitors answer share losses with prices and programmes of their own; a market share that grows "
        "by one unit of log-odds above the reference adds this much to their contest utility. Without it a "
        "programme's advantages compound until the vendor owns the market.", ge=0, le=LOGIT_MAX,
    )
    reference_share: float = F(
        0.45, "share", "market share around which competitors neither gain nor give ground",
        source="A leading vendor with somewhat under half of the market (assumption).", gt=0, lt=1,
    )
    competitor_price: float = F(
        0.875, "share of list", "price of the best competing offer, relative to this vendor's list price",
        source="A competitor's partner with a 25 % front-end discount that passes half of it on (the pass-through "
        "default) sells at 0.875 of list.", gt=0, le=10,
    )
    competitor_preference: float = F(
        0.5, "share", "share of the preferred-channel bonus the competing vendor gets (it sells through every channel)",
        source="Competitors reach customers through partners, direct and online too, so they match the customer's "
        "preferred channel about half the time.", ge=0, le=1,
    )
    price_index: float = F(1.0, "multiplier", "this vendor's list prices relative to today's (all channels; deal "
                           "values, thresholds and deal sizes are at today's prices)",
                           basis="lever", source="What-if lever; 1 = today's price list.", gt=0, le=MULT_MAX)
    price_sensitivity: float = F(
        9.0,
        "logit per log-price",
        "weight of log price in the customer's contest between offers",
        basis="calibrated",
        source="Chosen so that the elasticity of the vendor's unit sales to the price customers see is within "
        "-1.5 to -3 (Bijmolt, van Heerde & Pieters 2005: mean -2.62 over 1,851 estimates; Tellis 1988: -1.76); "
        "measured by benchmarks/elasticities.py.",
        ge=0,
        le=LOGIT_MAX,
    )
    renewal_interval: int = F(12, "months", "contract length; renewals fall due on each anniversary",
                              source="Annual contracts.", ge=1, le=60)
    renewal_value_share: float = F(0.6, "share", "renewal value as a share of the first-year deal",
                                   source="Renewals carry no one-off hardware or set-up.", ge=0, le=5)
    renewal_base: float = F(0.88, "probability", "renewal probability of an account at the renewal pivot",
                            source="Gives 12-month customer retention of roughly 80-88 %.", ge=0, le=1)
    renewal_slope: float = F(4.0, "logit per unit", "how strongly satisfaction moves renewal (logit slope)",
                             source="0.1 more satisfaction adds 0.4 to the renewal log-odds.", ge=0, le=LOGIT_MAX)
    renewal_effort: float = F(
        2.0, "logit per log", "rise of a partner customer's renewal log-odds per unit of log share of voice of "
        "the vendor's partners in its cell (S7)",
        basis="calibrated",
        source="Partners' effort keeps customers as well as winning them; with conflict.contest_effort it sets the "
        "elasticity of partner revenue to partner effort within 0.2-0.5 (Albers, Mantrala & Sridhar 2010).",
        ge=0, le=LOGIT_MAX,
    )
    renewal_pivot: float = F(0.7, "score 0-1", "customer satisfaction at which renewal probability is renewal_base",
                             source="A satisfied but not delighted customer.", ge=0, le=1)
    reentry_rate: float = F(
        0.01, "per month", "monthly hazard that a competitor's or churned account comes back into market",
        source="An account reconsiders its vendor about once in eight years.", ge=0, le=1,
    )
    competitor_prospecting: float = F(
        0.01, "per month", "monthly chance that competing vendors' channels pull a vendor customer back into market",
        basis="calibrated",
        source="The counterpart of the vendor's partners' own prospecting (partners.sourcing_rate); with it the "
        "vendor's market share has a steady state (set to about 45 %, an assumption for a leading vendor).",
        ge=0, le=1,
    )
    service_floor: float = F(0.3, "score 0-1", "service level a partner with no service capability gives",
                             source="Customers get a basic level of service from any partner.", ge=0, le=1)
    service_slope: float = F(0.6, "score per unit", "rise of a partner's service level per unit of service capability",
                             source="The best partners (capability near 1) serve at about 0.9.", ge=0, le=1)
    satisfaction_drift: float = F(0.1, "per month", "share of the gap to the service level a customer's satisfaction "
                                  "closes each month", source="Satisfaction follows service over about a year.",
                                  ge=0, le=1)
    satisfaction_noise: float = F(0.05, "score", "spread of a new customer's satisfaction around the service level",
                                  source="Small idiosyncratic variation.", ge=0, le=1)
    cogs_share: float = F(
        0.22, "share", "cost of goods as a share of list revenue", basis="published",
        source="Cisco's product gross margin is about 65 % of net revenue (10-K, fiscal 2024), and its revenue is net "
        "of channel discounts and rebates; the model books revenue at list, and net revenue is about 0.63 of list in "
        "the baseline (partner deals 0.53, direct 0.9), so cost of goods is 0.35 x 0.63 = 0.22 of list.",
        ge=0, le=1)
    discount_rate_annual: float = F(0.10, "per year", "discount rate for customer lifetime value",
                                    source="A conventional discount rate.", ge=0, le=1)

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

    def steady_state_adoption(self) -> float:
        """Adopted share F at which Bass entry balances account turnover: (p + qF)(1 - F) = turnover x F."""
        p, q, d = self.bass_p, self.bass_q, self.account_turnover
        if d <= 0:
            return 1.0
        if q == 0:
            return p / (p + d)
        # q F^2 + (p + d - q) F - p = 0, the root in [0, 1].
        b = p + d - q
        return float((-b + (b * b + 4.0 * q * p) ** 0.5) / (2.0 * q))

    @property
    def adoption_at_start(self) -> float:
        ia = self.initial_adoption
        return self.steady_state_adoption() if ia == "steady_state" else float(ia)


class PartnerTypeConfig(Section):
    share: float = F(0.2, "share", "share of partners of this type", ge=0, le=1)
    sellers_median: float = F(3.0, "sellers", "median number of sellers (lognormal)", gt=0, le=1e5)
    sellers_sigma: float = F(1.0, "log", "dispersion of sellers across partners of this type", ge=0, le=3)
    opps_per_seller: float = F(1.0, "opportunities per seller-month", "opportunities a seller-month of effort can "
                               "work (the scale of the coverage curve)", gt=0, le=1e4)
    territories: int = F(1, "territories", "territories a partner of this type covers", ge=1, le=5_000)
    segments: list[Literal["small", "mid", "enterprise"]] = F(["small", "mid"], "-", "segments the type sells to")
    service_margin: float = F(0.15, "share of list", "partner's own gross margin on services it attaches to a deal",
                              ge=0, le=5)
    capability_mean: float = F(0.5, "score 0-1", "mean capability on the evaluation dimensions", ge=0, le=1)
    outside_margin: float = F(
        3_000.0, "USD per seller-month", "gross margin a seller-month earns on the partner's other vendor lines",
        basis="calibrated",
        source="Per type, so that the median established partner of the type earns on the vendor's line 1.5 times "
        "the profit its effort would earn on its other lines (an assumption: a leading vendor's line pays "
        "somewhat better than the others), which with recruitment sets the partner population near 500.",
        gt=0, le=USD_MAX,
    )


_TYPE_SOURCE = (
    "Illustrative profiles of the guide's part 1 channel types: distributors few, large and wide-reaching with thin "
    "service margins; system integrators and MSPs attach large services margins; referral agents small, no services "
    "margin, least capable. Shares and the seller dispersion give the revenue concentration (top 20 % of partners "
    ">= 80 %). outside_margin is calibrated per type so that each type gives the vendor about a third of its "
    "effort (partners.mindshare.other_lines = 2)."
)


def _default_types() -> dict[str, PartnerTypeConfig]:
    return {
        "distributor": PartnerTypeConfig(
            share=0.04, sellers_median=12, sellers_sigma=0.9, opps_per_seller=12.0, territories=6,
            segments=["small", "mid"], service_margin=0.05, capability_mean=0.55, outside_margin=4_400.0,
        ),
        "var": PartnerTypeConfig(
            share=0.40, sellers_median=1.5, sellers_sigma=0.8, opps_per_seller=6.0, territories=1,
            segments=["small", "mid"], service_margin=0.15, capability_mean=0.45, outside_margin=1_000.0,
        ),
        "si": PartnerTypeConfig(
            share=0.14, sellers_median=3.0, sellers_sigma=1.3, opps_per_seller=3.6, territories=3,
            segments=["mid", "enterprise"], service_margin=0.35, capability_mean=0.6, outside_margin=16_000.0,
        ),
        "msp": PartnerTypeConfig(
            share=0.20, sellers_median=1.5, sellers_sigma=1.3, opps_per_seller=4.8, territories=1,
            segments=["small", "mid"], service_margin=0.30, capability_mean=0.5, outside_margin=1_350.0,
        ),
        "referral": PartnerTypeConfig(
            share=0.22, sellers_median=1.0, sellers_sigma=1.0, opps_per_seller=3.0, territories=1,
            segments=["small", "mid", "enterprise"], service_margin=0.0, capability_mean=0.42, outside_margin=100.0,
        ),
    }


class MindshareConfig(Section):
    """Effort allocation: the share of its sellers' time a partner gives this vendor (share of wallet)."""

    initial: float = F(
        0.5, "share", "mean initial share of a partner's selling effort given to the vendor",
        source="Near the baseline's mean mindshare, so partners start near where they settle.",
        ge=0, le=1,
    )
    initial_spread: float = F(0.1, "share", "spread of initial mindshare across partners",
                              source="Partners differ in their starting commitment.", ge=0, le=1)
    minimum: float = F(0.05, "share", "lower bound of mindshare",
                       source="A signed partner keeps the vendor's line on its card.", ge=0, le=1)
    maximum: float = F(0.9, "share", "upper bound of mindshare",
                       source="Partners do not sell one vendor exclusively.", ge=0, le=1)
    speed: float = F(0.1, "per month", "share of the gap to the target mindshare closed each month",
                     source="Sellers are re-assigned over months, not at once: half-life of about 6.6 months.",
                     ge=0, le=1)
    other_lines: float = F(
        2.0, "lines", "comparable vendor lines the partner sells besides this one (weight of the outside option)",
        source="A typical partner sells a few major vendors' lines; with two others it gives a line that pays as "
        "well as each of them a third of its effort.", gt=0, le=1e4,
    )
    response_elasticity: float = F(
        0.34,
        "elasticity",
        "elasticity of a line's sales to selling effort that partners act on; sets how strongly effort follows "
        "margin: exponent 1/(1 - elasticity) in the share-of-wallet rule",
        basis="published",
        source="Albers, Mantrala & Sridhar (2010), meta-analysis of personal-selling elasticities: mean 0.34. With "
        "a power response of elasticity b, profit-maximising effort rises with margin per unit effort to the "
        "power 1/(1 - b).",
        ge=0,
        lt=1,
    )
    learning_rate: float = F(
        0.15, "per month", "weight of the latest month in a partner's estimate of its margin per unit of effort",
        source="Partners judge a line on roughly the last half-year.", gt=0, le=1,
    )
    satisfaction_weight: float = F(
        1.0, "logit per unit", "pull of partner satisfaction (around the satisfaction pivot) on the target mindshare",
        source="Brief: low satisfaction lowers mindshare; 0.1 of satisfaction moves the log-odds of effort by 0.1.",
        ge=0, le=LOGIT_MAX,
    )
    outside_spread: float = F(
        0.3, "log", "spread (sigma of log) of the outside option's margin across partners of a type",
        source="Partners' other lines differ; about +-30 %.", ge=0, le=3,
    )

    @model_validator(mode="after")
    def _bounds(self) -> MindshareConfig:
        if not self.minimum <= self.maximum:
            raise ValueError(f"minimum ({self.minimum}) must not exceed maximum ({self.maximum})")
        return self


class EconomicsConfig(Section):
    """The partner's P&L on the vendor's line (guide parts 2, 4, 7)."""

    pass_through: float = F(
        0.5,
        "share",
        "share of its front-end discount a partner passes on to the customer as a lower price",
        source="Trade-deal pass-through estimates in retailing range widely around one half (Besanko, Dube & Gupta "
        "2005; Nijs et al. 2010); no B2B estimate is published.",
        ge=0,
        le=1,
    )
    effort_cost_share: float = F(
        0.5,
        "share",
        "cost of a seller-month (salary, commission, overhead) as a share of the gross margin it earns on the "
        "partner's other lines",
        source="Selling costs (sellers' pay and commission, pre-sales, marketing) take about half of an IT solution "
        "provider's gross margin; delivery, overhead and profit the rest.",
        ge=0,
        lt=1,
    )
    certification_cost: float = F(
        3_000.0, "USD", "partner's own cost of earning one certification (exam fees, training time)",
        source="Vendor exams cost a few hundred dollars each; a certification of a practice needs several staff and "
        "days of their time; illustrative.", ge=0, le=USD_MAX,
    )
    prior_months: float = F(
        36.0, "months", "weight of a partner's prior (the line pays like its other lines) in months of results",
        source="Deals are lumpy (a small partner wins a few a year), so a partner trusts its own results only after "
        "a few years: its estimates are the running mean of prior and results until the learning rates take "
        "over.", ge=0, le=600,
    )
    profit_learning_rate: float = F(
        0.04, "per month", "weight of the latest month in the partner's smoothed line profit and outside profit",
        source="Partners judge whether a line pays on about two years of results (a small partner's deals are "
        "lumpy).",
        gt=0, le=1,
    )
    steering: float = F(
        2.0,
        "logit per log-ratio",
        "how strongly a partner steers a customer to the vendor's product rather than a competing vendor's it also "
        "sells, per unit log-ratio of what the two pay it per revenue dollar (services included on both sides)",
        source="Advisors recommend the product that pays them more (Inderst & Ottaviani 2012, J. Finance; Anagol, Cole "
        "& Sarkar 2017, REStat, an audit study of commission-driven advice); no estimate of the size exists for IT "
        "channels. A line that pays a third less than the competitor's (log-ratio -0.4) halves the odds (e^-0.8) of "
        "the customer taking it, in a new deal and at renewal.",
        ge=0,
        le=LOGIT_MAX,
    )
    competitor_margin: float = F(
        0.25,
        "share of revenue",
        "what a competing vendor's programme pays a partner per revenue dollar, before services (front-end margin "
        "kept plus back-end rebates)",
        source="A 25 % front-end discount of which half is passed on (market.competitor_price), 12.5 %, plus a "
        "back-end rebate of 12.5 %, within the 7-16 % of Cisco's programme: between this vendor's partner mean "
        "(0.18) and revenue-weighted mean (0.29) in the baseline, so competing programmes pay about as well.",
        ge=0,
        le=1,
    )
    trend_fast: float = F(0.3, "per month", "weight of the latest month in the fast average of gross margin",
                          source="About a quarter.", gt=0, le=1)
    trend_slow: float = F(0.05, "per month", "weight of the latest month in the slow average of gross margin",
                          source="About two years.", gt=0, le=1)


class SatisfactionConfig(Section):
    initial: float = F(0.6, "score 0-1", "mean initial partner satisfaction",
                       source="At the pivot, where neither effort nor exit is pulled.", ge=0, le=1)
    initial_spread: float = F(0.1, "score", "spread of initial satisfaction", source="Partners differ.", ge=0, le=1)
    speed: float = F(0.2, "per month", "share of the gap to the target closed each month",
                     source="Half-life of about three months.", ge=0, le=1)
    pivot: float = F(0.6, "score 0-1", "satisfaction at which neither effort nor exit is pulled",
                     source="A partner that is neither a promoter nor a detractor.", ge=0, le=1)
    base: float = F(0.5, "score", "target satisfaction with nothing else",
                    basis="calibrated", source="Baseline satisfaction settles near the pivot.", ge=0, le=1)
    profit_weight: float = F(
        0.3, "score", "weight of profitability: the line's profit against what the effort earns elsewhere "
        "(0 at no profit, half at parity, all at twice)",
        source="Profitability is the largest single driver of partner satisfaction.", ge=0, le=1,
    )
    profit_cap: float = F(2.0, "ratio", "profit ratio at which the profitability term saturates",
                          source="Beyond twice the outside option more profit adds no satisfaction.", gt=0, le=100)
    trend_weight: float = F(0.1, "score", "weight of the trend of the line's gross margin (fast against slow "
                            "average, -1 to 1)", source="A line that is growing pleases; one that shrinks worries.",
                            ge=0, le=1)
    support_weight: float = F(0.12, "score", "weight of the support level of the tier", ge=0, le=1,
                              source="Support matters, less than profit.")
    recognition_weight: float = F(0.08, "score", "weight of recognition received", ge=0, le=1,
                                  source="Recognition is a modest, non-financial driver.")
    communication_weight: float = F(0.08, "score", "weight of communication and relationship programme",
                                    ge=0, le=1, source="As recognition.")
    plan_support: float = F(0.2, "score", "extra support level a partner on an improvement plan receives",
                            source="A plan adds dedicated attention.", ge=0, le=1)
    conflict_loss_penalty: float = F(
        0.3, "score per unit share", "drop in target per unit share of pursuits lost to other partners in conflicts",
        source="Losing to a peer hurts.", ge=0, le=10,
    )
    direct_loss_penalty: float = F(
        0.8, "score per unit share",
        "drop per unit share of pursuits lost to the vendor's own sales or digital channel",
        source="Brief: losing to the vendor's own team hurts more than losing to another partner.", ge=0, le=10,
    )
    promoter_threshold: float = F(
        0.75, "score", "satisfaction at or above which a partner is an NPS promoter",
        source="Maps satisfaction onto NPS classes (promoters score 9-10 of 10).", ge=0, le=1,
    )
    detractor_threshold: float = F(0.55, "score", "satisfaction below which a partner is an NPS detractor",
                                   source="As above (detractors score 0-6 of 10).", ge=0, le=1)


class LifecycleConfig(Section):
    exit_hazard: float = F(
        0.0005,
        "per month",
        "hazard that a partner leaves by its own choice, at the satisfaction pivot and with the line covering its "
        "costs",
        basis="calibrated",
        source="With the other exit causes, gives about 12 % of partners leaving a year (a mean relationship of "
        "about 8 years).",
        ge=0,
        le=1,
    )
    exit_satisfaction_slope: float = F(
        6.0, "log per unit", "rise of the own-choice exit log-hazard per unit of satisfaction below the pivot",
        source="0.1 less satisfaction multiplies the hazard by e^0.6 = 1.8.", ge=0, le=LOGIT_MAX,
    )
    exit_profit_floor: float = F(
        0.15, "ratio", "profit ratio below which the line is being dropped (it pays less than this share of what the "
        "effort earns on the partner's other lines; 0: it makes a loss)",
        source="A partner keeps a line that pays less than its others (it has moved effort away already) as long as "
        "it covers its costs.", ge=0, le=10,
    )
    exit_drop_hazard: float = F(
        0.012,
        "per month",
        "hazard that a partner drops a line that only covers its costs (profit ratio 0); it applies in proportion "
        "to how far the profit ratio falls below exit_profit_floor (in full at 0 and below)",
        basis="calibrated",
        source="With exit_hazard and inactive_exit_hazard, gives about 12 % of partners leaving a year; a line that "
        "only covers its costs is then dropped at 14 % a year on top of the other causes.",
        ge=0,
        le=1,
    )
    inactive_months: int = F(12, "months", "months without a deal after which a partner counts as inactive",
                             source="Programmes count a partner that has not transacted in a year as inactive.",
                             ge=1, le=600)
    inactive_exit_hazard: float = F(
        0.004, "per month", "extra hazard that an inactive partner (no deal for inactive_months) leaves",
        basis="calibrated",
        source="Programmes keep many dormant partners on their books; with the other exit causes, gives about 12 % "
        "of partners leaving a year.", ge=0, le=1,
    )
    other_exit_hazard: float = F(
        0.002, "per month", "hazard of leaving for other reasons (closure, acquisition) at average financial health",
        source="About 2.4 % a year of partners close or are acquired, below the 8 % exit rate of all US "
        "establishments (established IT partners are older and larger).", ge=0, le=1,
    )
    other_exit_financial_slope: float = F(
        2.0, "log per unit", "fall of the other-reason log-hazard per unit of financial capability above 0.5",
        source="Part 1 evaluates finances because weak partners fail more often.", ge=0, le=LOGIT_MAX,
    )
    customers_follow_exit: float = F(
        0.3, "probability", "chance a customer leaves with its exiting partner",
        source="Most customers stay with the vendor when their partner leaves.", ge=0, le=1,
    )
    onboarding_months: int = F(6, "months", "ramp-up: capacity rises linearly over these months",
                               source="A half-year ramp to full productivity.", ge=0, le=36)
    onboarding_cost: float = F(5_000, "USD", "vendor cost of onboarding one partner (booked as training)",
                               source="Illustrative.", ge=0, le=USD_MAX)
    initial_tenure_min: int = F(12, "months", "shortest tenure of the partners in the programme at month 0",
                                basis="design", source="Established partners.", ge=0, le=600)
    initial_tenure_max: int = F(120, "months", "tenure of the partners at month 0 is below this (drawn in [min, max))",
                                basis="design", source="Spread over ten years.", ge=1, le=600)

    @model_validator(mode="after")
    def _tenure(self) -> LifecycleConfig:
        if self.initial_tenure_max <= self.initial_tenure_min:
            raise ValueError("initial_tenure_max must exceed initial_tenure_min")
        return self


class SourceConfig(Section):
    """One source of prospective partners."""

    rate: float = F(5.0, "prospects per month", "prospects from this source at a programme that pays like the "
                    "partners' other lines", ge=0, le=1e5)
    cost_per_prospect: float = F(1_000.0, "USD", "vendor cost of a prospect from this source", ge=0, le=USD_MAX)
    quality: float = F(0.0, "score", "shift of prospects' capabilities against the type mean", ge=-1, le=1)


_SOURCES_SOURCE = (
    "Illustrative: events bring many, costly prospects of average quality; directories cheap ones, weaker; "
    "referrals by satisfied partners the best (referred candidates are better screened, as in hiring: Burks et al. "
    "2015)."
)


def _default_sources() -> dict[str, SourceConfig]:
    return {
        "events": SourceConfig(rate=11.5, cost_per_prospect=2_500.0, quality=0.0),
        "directories": SourceConfig(rate=11.5, cost_per_prospect=300.0, quality=-0.05),
    }


class ReferralConfig(Section):
    rate_per_promoter: float = F(
        0.01, "prospects per promoter-month", "prospects each promoter partner refers a month",
        source="About one referral a promoter in eight years.", ge=0, le=100,
    )
    cost_per_prospect: float = F(1_000.0, "USD", "referral bonus paid per referred prospect",
                                 source="Illustrative referral bonus.", ge=0, le=USD_MAX)
    quality: float = F(0.05, "score", "shift of referred prospects' capabilities against the type mean",
                       source=_SOURCES_SOURCE, ge=-1, le=1)


class RecruitmentConfig(Section):
    sources: dict[str, SourceConfig] = F(
        _default_sources(), "-", "sources of prospects other than referrals (events, directories)",
        basis="calibrated", source=_SOURCES_SOURCE + " Total rate calibrated so that recruits replace exits.",
    )
    referrals: ReferralConfig = S(ReferralConfig(), "prospects referred by promoter partners")
    attractiveness_elasticity: float = F(
        1.0, "elasticity", "elasticity of the arrival rate to what partners in the programme earn (their mean "
        "profit ratio against their other lines)",
        source="Prospects hear what partners earn; proportional response.", ge=0, le=10,
    )
    prequal_min: float = F(
        0.30, "score 0-1", "minimum on every evaluation dimension to pass pre-qualification",
        source="A floor on every part 1 dimension.", ge=0, le=1,
    )
    weights: dict[str, Annotated[float, at.Ge(0), at.Le(1e6)]] = F(
        {"strategic_fit": 0.25, "sales": 0.2, "marketing": 0.1, "technical": 0.2, "service": 0.15, "financial": 0.1},
        "weight",
        "weights of the evaluation dimensions in the partner score",
        source="Illustrative weighting of the guide's part 1 evaluation dimensions.",
    )
    accept_score: float = F(0.55, "score 0-1", "weighted evaluation score needed to sign a partner",
                            source="Signs roughly the better half of pre-qualified prospects.", ge=0, le=1)
    max_partners: int = F(100_000, "partners", "recruitment stops at this many active partners", basis="design",
                          source="A technical cap, not binding at default scales.", ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _weights(self) -> RecruitmentConfig:
        unknown = set(self.weights) - set(CAPABILITIES)
        if unknown:
            raise ValueError(f"unknown evaluation dimension(s) {sorted(unknown)}; allowed: {list(CAPABILITIES)}")
        if sum(self.weights.values()) <= 0:
            raise ValueError("weights must not all be zero")
        unknown = set(self.sources) - {"events", "directories"}
        if unknown:
            raise ValueError(f"unknown source(s) {sorted(unknown)}; allowed: events, directories (referrals has its "
                             "own section)")
        return self


class ImprovementConfig(Section):
    enabled: bool = F(True, "-", "put under-performers on an improvement plan instead of ignoring them",
                      basis="lever", source="Part 3 practice on in the baseline.")
    threshold: float = F(
        0.001,
        "share",
        "TTM revenue below this share of the median of active partners of the same type triggers a plan",
        basis="calibrated",
        source="Flags the clear under-performers; with exit_if_not_recovered, terminations are about a fifth of all "
        "exits (an assumption: vendors prune some partners, most leave by choice).",
        ge=0,
        le=1,
    )
    months: int = F(12, "months", "length of an improvement plan", basis="calibrated",
                    source="A year, long enough for a small partner's lumpy deals to show; with min_tenure and "
                    "threshold, terminations are about a fifth of all exits.", ge=1, le=36)
    min_tenure: int = F(60, "months", "tenure before a partner can be put on a plan", basis="calibrated",
                        source="New partners get five years to build a practice before they are judged (with "
                        "months, sets the termination share of exits).", ge=0, le=600)
    support_cost: float = F(1_500, "USD per month", "vendor cost of supporting one partner on a plan",
                            source="Illustrative.", ge=0, le=USD_MAX)
    capability_boost: float = F(0.01, "score per month", "capability gained each month on a plan",
                                source="A modest lift.", ge=0, le=1)
    exit_if_not_recovered: bool = F(True, "-", "terminate partners that have not recovered at the end of the plan",
                                    basis="lever", source="The programme terminates partners that fail a plan.")


class CollaborationConfig(Section):
    """Partner collaboration (guide part 7): referral hand-offs and co-selling, with a revenue split.

    The mechanism is :mod:`sim.collaboration`. Off by default: in the baseline partners on the same
    account compete.
    """

    enabled: bool = F(False, "-", "the vendor's collaboration programme: finders hand opportunities to partners "
                      "that deliver, SIs co-sell enterprise deals with MSPs", basis="lever",
                      source="What-if lever (scenarios/collaboration_programme.yaml).")
    team_rate: float = F(
        0.35, "probability", "chance that a complementary pair on an account teams up when the programme pays no "
        "incentive (matchmaking only)", basis="assumption",
        source="Partner-to-partner collaboration is common but far from universal; about a third of eligible pairs "
        "is an assumption to vary.", ge=0, le=1)
    funded_team_rate: float = F(
        0.6, "probability", "the same chance when the programme pays the collaboration incentive",
        basis="assumption", source="An incentive on joint deals makes teaming the default; an assumption.",
        ge=0, le=1)
    incentive_share: float = F(
        0.02, "share of deal value", "collaboration incentive the vendor pays on each collaborative deal won "
        "(split between the two partners as the revenue is)", basis="lever",
        source="A couple of points, of the order of a deal-registration extra discount.", ge=0, le=0.5)
    referral_share: float = F(
        0.1, "share of deal value", "the finder's share of a referred deal's value (its referral fee)",
        basis="assumption", source="Referral fees of 5-20 % of the first-year deal are typical of partner "
        "referral programmes; 10 % is mid-range.", ge=0, le=0.9)
    co_sell_share: float = F(
        0.25, "share of deal value", "the MSP's share of a co-sold enterprise deal (its managed-service part)",
        basis="assumption", source="A managed service attached to a project is a minority of the first-year "
        "value; an assumption.", ge=0, le=0.9)
    co_sell_bonus: float = F(
        0.4, "logit", "contest utility the combined SI + MSP offer adds on a co-sold enterprise account",
        basis="assumption", source="The combined offer covers build and run; 0.4 is the utility of about 0.13 "
        "more capability at contest_capability 3, an assumption to vary.", ge=0, le=5)


class InterventionConfig(Section):
    """Early intervention (guide parts 5 and 6): each month the vendor spends on the partners most at risk of leaving.

    The policy object is :class:`sim.policies.intervention.InterventionLever`; its effect sizes reuse the
    parameters of the programmes whose mechanism it shares (improvement plans, the relationship programme,
    MDF campaigns), so only the targeting, the budget and the contact's intensity and memory are its own.
    """

    enabled: bool = F(False, "-", "score partners each month and spend on the ones most at risk of leaving",
                      basis="lever", source="Off in the baseline: today's programme does not intervene early.")
    action: Literal["mdf", "support", "contact"] = F(
        "mdf", "-", "what a targeted partner receives: mdf = a vendor-funded campaign for it (leads, as MDF "
        "campaigns at incentives.mdf.leads_per_1000 and diminishing); support = a month of improvement-plan "
        "support (capability partners.improvement.capability_boost, support level "
        "partners.satisfaction.plan_support); contact = a relationship contact (communication at "
        "contact_intensity in its satisfaction, fading at contact_decay)",
        basis="lever",
        source="mdf by default: the baseline's exits are mostly partners whose line has stopped paying and that "
        "have not won a deal for a year or more; only new deals move their exit hazard, and a campaign is the "
        "lever that brings deals (docs/MODEL.md, Early intervention: support and contact were measured and move "
        "exits less).",
    )
    targeting: Literal["risk", "random"] = F(
        "risk", "-", "risk: the partners with the highest risk score; random: as many active partners drawn at "
        "random (the same cost; the control of the experiment)", basis="lever",
        source="Risk targeting is the policy; random targeting at equal cost is its control.",
    )
    share: float = F(
        0.1, "share", "share of active partners targeted each month (rounded; partners_per_month, when given, "
        "takes its place)", basis="lever",
        source="Assumption: about the share of partners that are dormant and losing money on the line at any time "
        "in the baseline (a tenth of the active partners; docs/MODEL.md, Early intervention).", ge=0, le=1,
    )
    partners_per_month: int | None = F(
        None, "partners", "partners targeted each month; none = share of the active partners", basis="lever",
        source="None: the share decides.", ge=0, le=1_000_000,
    )
    cost_per_partner: float = F(
        500.0, "USD per partner-month", "what the vendor spends on each targeted partner in a month (the campaign, "
        "the support or the contact)",
        source="Assumption: a small co-funded campaign or a few hours of a channel manager's time; a third of an "
        "improvement plan's monthly support (partners.improvement.support_cost).", ge=0, le=USD_MAX,
    )
    budget: float | None = F(
        None, "USD per year", "cap on intervention spend (a twelfth of it a month, not carried over); none = "
        "partners targeted x cost_per_partner; the spend also counts against incentives.budget",
        basis="lever", source="None: the number of partners targeted sets the spend.", ge=0, le=1e13,
    )
    contact_intensity: float = F(
        1.0, "score 0-1", "communication intensity a contact gives the partner (in its satisfaction, like "
        "relationship.communication, weighted by satisfaction.communication_weight)",
        source="Assumption: a personal contact is the most intense communication (1), against the programme's 0.5.",
        ge=0, le=1,
    )
    contact_decay: float = F(
        0.2, "per month", "monthly fading of a contact's (and a month of support's) extra communication and "
        "support level",
        source="Assumption: the partner remembers a contact for a quarter or two (half-life about 3 months).",
        ge=0, le=1,
    )

    @model_validator(mode="after")
    def _check(self) -> InterventionConfig:
        if self.enabled and self.cost_per_partner <= 0:
            raise ValueError("cost_per_partner must be positive when the intervention is enabled (it sets how "
                             "much each targeted partner receives)")
        if self.enabled and self.partners_per_month is None and self.share <= 0:
            raise ValueError("an enabled intervention targets nobody: set share above 0 or partners_per_month")
        return self


class ComplianceConfig(Section):
    """Claims (MDF, rebates), over-claiming and audits: deterrence (part 7)."""

    honesty_mean: float = F(
        3.05, "logit", "mean honesty: the log-odds against over-claiming when over-claiming neither gains nor costs",
        basis="calibrated",
        source="Gives about 10 % of claims over-claimed and leakage of 5-10 % of claims' value at the default audit "
        "rate (industry estimates: 5-10 % of incentives abused, about 10 % over-claimed).",
        ge=-LOGIT_MAX, le=LOGIT_MAX,
    )
    honesty_spread: float = F(1.0, "logit", "spread of honesty across partners",
                              source="Most partners are honest; a few are not.", ge=0, le=LOGIT_MAX)
    gain_sensitivity: float = F(
        3.0,
        "logit per unit",
        "response of the log-odds of over-claiming to the expected net gain of a dollar over-claimed",
        source="Deterrence (Becker 1968; Allingham & Sandmo 1972): over-claiming falls as the chance of being caught "
        "and the penalty rise; chosen so that doubling the audit rate cuts over-claiming by a third to a half, the "
        "moderate response to the certainty of punishment the deterrence literature finds (Nagin 2013).",
        ge=0,
        le=LOGIT_MAX,
    )
    penalty: float = F(1.0, "multiple", "fine on a caught over-claim, as a multiple of the amount over-claimed "
                       "(withheld from the payment)",
                       source="Clawback plus a fine of the same size; illustrative programme terms.", ge=0, le=100)
    inflation: float = F(1.0, "share", "overstatement of an over-claimed claim",
                         source="Over-claims are often largely fictitious (claims for activity not run).",
                         ge=0, le=10)
    audit_rate: float = F(0.3, "probability", "chance a claim is audited (an audited over-claim is caught)",
                          basis="lever", source="Today's programme audits about a third of claims; what-if lever.",
                          ge=0, le=1)
    risk_learning: float = F(
        0.2, "per claim month", "weight of the latest claim in a partner's estimate of the audit rate",
        source="Bayesian learning of the risk of sanction: being audited raises the perceived risk, getting away "
        "with it lowers it (Anwar & Loughran 2011).", gt=0, le=1,
    )
    audit_cost: float = F(150.0, "USD", "vendor cost of auditing one claim (an operating expense)",
                          source="A couple of hours of a claims analyst; illustrative.", ge=0, le=USD_MAX)
    audit_satisfaction_penalty: float = F(0.02, "score", "satisfaction drop of a partner caught",
                                          source="Being caught sours the relationship a little.", ge=0, le=1)


class LearningConfig(Section):
    conflict_losses: float = F(0.2, "per month", "weight of the latest month in the smoothed conflict losses",
                               source="About half a year of memory: recent fights are remembered.", gt=0, le=1)


class PartnersConfig(Section):
    n_initial: int = F(500, "partners", "partners in the programme at month 0", basis="design",
                       source="Model brief: default scale.", ge=0, le=1_000_000)
    types: dict[str, PartnerTypeConfig] = F(_default_types(), "-", "partner types and their typical profile",
                                            basis="assumption", source=_TYPE_SOURCE)
    sellers_scale: float = F(1.0, "multiplier", "multiplier on every partner's sellers (e.g. a co-funded "
                             "seller programme)", basis="lever", source="What-if lever; 1 = partners as they are.",
                             gt=0, le=MULT_MAX)
    capability_spread: float = F(0.15, "score", "spread of each capability around the type mean",
                                 source="Enough spread that pre-qualification and evaluation reject some prospects.",
                                 ge=0, le=0.5)
    sourcing_rate: float = F(
        0.02,
        "leads per opportunity of capacity",
        "leads a partner finds each month per opportunity it can work for the vendor (partner-originated demand)",
        basis="calibrated",
        source="About one lead of its own for every 50 opportunities a partner can work: partners' own prospecting "
        "brings about as many accounts into market as Bass entry and re-entry together (calibrated: with it, about "
        "60 % of partner revenue is partner-originated).",
        ge=0,
        le=100,
    )
    mindshare: MindshareConfig = S(MindshareConfig(), "how partners divide effort between vendors")
    economics: EconomicsConfig = S(EconomicsConfig(), "the partner's profit and loss on the vendor's line")
    satisfaction: SatisfactionConfig = S(SatisfactionConfig(), "how partner satisfaction is formed")
    lifecycle: LifecycleConfig = S(LifecycleConfig(), "onboarding and exit")
    recruitment: RecruitmentConfig = S(RecruitmentConfig(), "sources, pre-qualification and evaluation of prospects")
    improvement: ImprovementConfig = S(ImprovementConfig(), "improvement plans for under-performers")
    collaboration: CollaborationConfig = S(CollaborationConfig(), "referral hand-offs and co-selling between "
                                           "partners")
    intervention: InterventionConfig = S(InterventionConfig(), "early intervention: spend on the partners most at "
                                         "risk of leaving")
    compliance: ComplianceConfig = S(ComplianceConfig(), "claims, over-claiming, audits and deterrence")
    learning: LearningConfig = S(LearningConfig(), "how partners smooth what they observe")

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
    sellers: float = F(225, "sellers", "vendor's direct sellers", basis="calibrated",
                       source="With opps_per_seller, sets the partner share of revenue (56-73 %).", ge=0, le=1e6)
    opps_per_seller: float = F(4.0, "opportunities per month", "opportunities one direct seller works a month",
                               source="A direct seller works about one opportunity a week.", ge=0, le=1e4)
    prospecting: float = F(
        0.0, "leads per seller-month", "competitors' customers a direct seller brings into market each month",
        source="Direct sales' own pipeline in its territories and segments (the vendor's marketing, its sellers' "
        "outbound prospecting). 0 in the calibrated baseline: direct sales works inbound requests and the accounts "
        "in market, most of which partners' leads brought in (see sees_partner_leads and docs/MODEL.md, Known "
        "limitations). Structural assumption, screened.",
        ge=0, le=1e4,
    )
    sees_partner_leads: bool = F(
        True, "-", "direct sales' outbound pursuit reaches accounts that a partner's lead brought into market",
        source="True in the calibrated baseline. False: direct sales learns of a partner's lead only when its own "
        "prospecting lands on the same account (then set prospecting > 0). Structural assumption, screened.",
    )
    territory_coverage: float = F(0.5, "share", "share of territories where direct sales is present",
                                  basis="lever", source="Direct sales is present in half of the territories.",
                                  ge=0, le=1)
    segments: list[Literal["small", "mid", "enterprise"]] = F(
        ["mid", "enterprise"], "-", "segments direct sales pursues", basis="lever",
        source="Direct sales does not pursue small accounts.",
    )
    capability: float = F(0.7, "score 0-1", "direct sellers' capability in a contest",
                          source="The vendor's own sellers are stronger than the average partner.", ge=0, le=1)
    service: float = F(0.7, "score 0-1", "service level customers get from direct sales", source="As capability.",
                       ge=0, le=1)
    discount: float = F(0.10, "share of list", "discount direct sales gives the customer off list price",
                        source="Direct sellers discount less than partners pass on.", ge=0, le=1)
    cost_per_seller: float = F(
        15_000,
        "USD per month",
        "loaded cost of a direct seller (an operating expense, outside gross profit)",
        source="About $180k a year loaded; illustrative.",
        ge=0,
        le=USD_MAX,
    )


class DigitalConfig(Section):
    enabled: bool = F(True, "-", "the vendor sells through its digital channel (web store, marketplace)",
                      basis="lever", source="Part 8 in the baseline.")
    reach: SegmentMap = F(
        SegmentMap(small=0.45, mid=0.12, enterprise=0.0),
        "probability",
        "chance the digital channel reaches an in-market account that does not prefer it",
        basis="calibrated", source="Sets the channel mix (partner share of revenue 56-73 %).",
    )
    capability: float = F(0.5, "score 0-1", "digital channel's strength in a contest",
                          source="As an average partner.", ge=0, le=1)
    service: float = F(0.6, "score 0-1", "service level customers get from the digital channel",
                       source="Self-service, a little below direct sales.", ge=0, le=1)
    price_advantage: float = F(0.12, "share of list", "discount the digital channel gives off list price",
                               source="Online prices a little below what partners charge.", ge=0, le=1)
    monthly_cost: float = F(
        60_000,
        "USD per month",
        "cost of running the digital channel (an operating expense, outside gross profit)",
        source="Illustrative.",
        ge=0,
        le=USD_MAX,
    )


class DealRegistrationConfig(Section):
    min_deal_size: float = F(10_000, "USD", "smallest deal that can be registered", basis="published",
                             source="Cisco OIP: deals of $10k or more.", ge=0, le=USD_MAX)
    extra_discount: float = F(0.14, "share", "extra discount on a registered deal", basis="published",
                              source="Cisco OIP: up to 14 points.", ge=0, le=1)
    validity_months: int = F(6, "months", "registration lifetime (not used: deals close within the month)",
                             basis="published", source="Cisco OIP: 6 months.", ge=1, le=120)
    protects_against_direct: bool = F(True, "-", "the vendor's own sales team honours registrations", basis="lever",
                                      source="The baseline programme.")
    registration_rate: float = F(0.8, "probability", "chance an eligible partner registers its deal",
                                 source="Most eligible deals are registered.", ge=0, le=1)


class RulesOfEngagementConfig(Section):
    direct_min_deal_size: float = F(
        27_000, "USD", "deals of at least this size go to direct sales, smaller ones to partners", basis="calibrated",
        source="Direct sales owns most enterprise deals; sets the partner share of revenue.", ge=0, le=USD_MAX,
    )


class CapabilityWeights(Section):
    """Weights of the capabilities in a partner's contest capability (they are normalised to sum to 1)."""

    sales: float = F(0.5, "weight", "weight of sales capability", source="Selling skill decides most deals.",
                     ge=0, le=1)
    technical: float = F(0.3, "weight", "weight of technical capability",
                         source="Technical fit of the proposal.", ge=0, le=1)
    strategic_fit: float = F(0.2, "weight", "weight of strategic fit", source="Fit with the customer's needs.",
                             ge=0, le=1)

    @model_validator(mode="after")
    def _positive(self) -> CapabilityWeights:
        if self.sales + self.technical + self.strategic_fit <= 0:
            raise ValueError("capability weights must not all be zero")
        return self


class ConflictConfig(Section):
    protections: list[Literal["rules_of_engagement", "territory_exclusivity", "deal_registration"]] = F(
        ["rules_of_engagement", "deal_registration"], "-", "protection rules applied in order before any contest",
        basis="lever", source="The baseline programme: account-size rules, then deal registration.",
    )
    prevention: float = F(
        0.6,
        "probability",
        "chance that a pursuit a protection rule excludes never starts (the rule is known in advance)",
        source="Published rules keep most excluded pursuits from starting.",
        ge=0,
        le=1,
    )
    fallback: Literal["price_contest", "mediation"] = F(
        "price_contest", "-", "how conflicts left after the protections are settled", basis="lever",
        source="With no rule, channels compete on price.",
    )
    deal_registration: DealRegistrationConfig = S(DealRegistrationConfig(), "deal registration rules")
    rules_of_engagement: RulesOfEngagementConfig = S(RulesOfEngagementConfig(), "account-size rules of engagement")
    erosion_per_rival: float = F(0.07, "share", "price cut per additional rival in a price contest",
                                 source="Each extra rival in a price fight cuts 7 % off the price.", ge=0, le=1)
    max_erosion: float = F(0.25, "share", "largest price cut in a price contest", source="Bounded price war.",
                           ge=0, le=1)
    contest_noise: float = F(1.0, "Gumbel scale", "noise of the price contest between the vendor's channels",
                             source="A multinomial logit on contest utility.", ge=0, le=LOGIT_MAX)
    mediation_noise: float = F(0.25, "Gumbel scale", "noise of a mediated decision (merit mostly decides)",
                               source="Mediation looks at merit: a quarter of the price contest's noise.",
                               ge=0, le=LOGIT_MAX)
    mediation_cost: float = F(1_200, "USD", "vendor management time to mediate one conflict",
                              source="A few hours of channel-manager and sales-leader time.", ge=0, le=USD_MAX)
    mediation_delay_loss: float = F(0.10, "probability", "chance a mediated deal is lost during the delay",
                                    source="Delay costs some deals.", ge=0, le=1)
    management_cost: float = F(150, "USD", "vendor time spent on any detected conflict",
                               source="Detection and administration.", ge=0, le=USD_MAX)
    customer_satisfaction_hit: float = F(
        0.05, "score", "customer satisfaction lost when channels fight over the account",
        source="Customers notice the fight.", ge=0, le=1,
    )
    contest_capability: float = F(3.0, "logit per unit", "weight of capability in a contest",
                                  source="A capability 0.1 higher adds 0.3 to the log-odds.", ge=0, le=LOGIT_MAX)
    capability_weights: CapabilityWeights = S(CapabilityWeights(), "what makes a partner's contest capability")
    contest_preference: float = F(1.0, "logit", "bonus of the customer's preferred channel",
                                  source="The preferred channel has e = 2.7 times the odds.", ge=0, le=LOGIT_MAX)
    contest_effort: float = F(
        1.75,
        "logit per log",
        "contest bonus of partners' share of voice in the opportunity's cell against competing vendors: "
        "contest_effort x ln(partners' effort in the cell / competitors' effort, market.competitor_effort)",
        basis="calibrated",
        source="Selling effort raises the chance to win against competitors (attraction models of share of voice). "
        "Chosen so that the elasticity of partner revenue "
        "to partner selling effort is within 0.2-0.5 (Albers, Mantrala & Sridhar 2010: mean 0.34); measured by "
        "benchmarks/elasticities.py.",
        ge=0,
        le=LOGIT_MAX,
    )
    contest_relationship: float = F(
        1.0, "logit per unit", "weight of the relationship (partner satisfaction around relationship_pivot)",
        source="A satisfied partner sells the vendor with conviction.", ge=0, le=LOGIT_MAX,
    )
    relationship_pivot: float = F(0.5, "score 0-1", "partner satisfaction at which the relationship term is 0",
                                  source="Mid-scale.", ge=0, le=1)

    @model_validator(mode="after")
    def _unique(self) -> ConflictConfig:
        if len(set(self.protections)) != len(self.protections):
            raise ValueError(f"protections must not repeat, got {self.protections}")
        return self


class TierConfig(Section):
    name: str = F("registered", "-", "tier name", basis="design")
    min_ttm_revenue: float = F(0.0, "USD", "trailing-twelve-month revenue needed", ge=0, le=USD_MAX)
    min_certifications: int = F(0, "certifications", "active certifications needed", ge=0, le=20)
    min_customer_satisfaction: float = F(
        0.0, "score 0-1", "mean satisfaction of the partner's customers needed", ge=0, le=1
    )
    min_compliance: float = F(0.0, "share", "share of claims not caught over-claiming needed", ge=0, le=1)
    discount: float = F(0.20, "share", "front-end discount off list price", ge=0, le=1)
    rebate_rate: float = F(0.00, "share", "back-end rebate on the partner's revenue", ge=0, le=1)
    mdf_accrual_rate: float = F(0.00, "share", "market development funds accrued per revenue dollar", ge=0, le=1)
    spiff_eligible: bool = F(False, "-", "partner earns SPIFFs on new-customer deals")
    deal_registration: bool = F(False, "-", "partner may register deals")
    leads_per_month: float = F(0.0, "leads", "vendor-generated leads shared with each partner of the tier", ge=0,
                               le=1e4)
    support_level: float = F(0.3, "score 0-1", "partner support the tier receives", ge=0, le=1)
    training_budget: float = F(0.0, "USD per month", "funded training per partner", ge=0, le=USD_MAX)
    joint_selling: bool = F(False, "-", "the vendor's sellers sell jointly with partners of this tier")
    programme_fee: float = F(0.0, "USD per year", "fee the partner pays to be in the tier", ge=0, le=USD_MAX)


_TIER_SOURCE = (
    "Four tiers with benefits rising by tier (part 7). Front-end discounts within the published 20-40 % and back-end "
    "rebates within about 7-16 % for the tiers that earn them (Cisco's programme, research notes of issue 11); "
    "revenue thresholds calibrated so that the top tier holds 5-15 % of partners (ZINFI); certification, "
    "satisfaction and compliance requirements, leads, support, training and fees are assumptions."
)


def _default_tiers() -> list[TierConfig]:
    return [
        TierConfig(
            name="registered", discount=0.20, rebate_rate=0.0, mdf_accrual_rate=0.0, spiff_eligible=False,
            deal_registration=True, support_level=0.3, training_budget=100, programme_fee=0,
        ),
        TierConfig(
            name="silver", min_ttm_revenue=60_000, min_certifications=1, min_customer_satisfaction=0.55,
            min_compliance=0.75, discount=0.24, rebate_rate=0.05, mdf_accrual_rate=0.015, spiff_eligible=True,
            deal_registration=True, leads_per_month=0.5, support_level=0.45, training_budget=300, programme_fee=500,
        ),
        TierConfig(
            name="gold", min_ttm_revenue=300_000, min_certifications=2, min_customer_satisfaction=0.6,
            min_compliance=0.85, discount=0.28, rebate_rate=0.08, mdf_accrual_rate=0.025, spiff_eligible=True,
            deal_registration=True, leads_per_month=1.0, support_level=0.6, training_budget=600, joint_selling=True,
            programme_fee=1_500,
        ),
        TierConfig(
            name="platinum", min_ttm_revenue=2_500_000, min_certifications=3, min_customer_satisfaction=0.65,
            min_compliance=0.9, discount=0.32, rebate_rate=0.11, mdf_accrual_rate=0.035, spiff_eligible=True,
            deal_registration=True, leads_per_month=2.0, support_level=0.8, training_budget=1_000, joint_selling=True,
            programme_fee=3_000,
        ),
    ]


def merge_named(items: list[Any], updates: Mapping[str, Any], where: str = "tiering.tiers") -> list[Any]:
    """``items`` (a list of named items: the tiers) with the fields in ``updates`` (name -> fields) changed.

    This is how a file or ``--set`` edits tiers one by one: ``tiering: {tiers: {gold: {discount: 0.3}}}``
    changes the gold tier's discount and keeps every other field and tier of the list it is merged over.
    Items are dicts or sections (sections are dumped to dicts); items not named are returned as they are.

    Raises:
        ValueError: for a name not in ``items``, fields that are not a mapping, or a ``name`` that differs
            from its key (to add, remove or rename tiers, give the whole list).
    """
    out = [item.model_dump(mode="python") if isinstance(item, BaseModel) else item for item in items]
    names = [item.get("name") if isinstance(item, Mapping) else None for item in out]
    for key, fields in updates.items():
        if key not in names:
            raise ValueError(f"no tier {key!r} in {where} (tiers: {', '.join(map(str, names))}); to add or remove "
                             "tiers, give the whole list")
        if not isinstance(fields, Mapping):
            raise ValueError(f"{where}.{key} must be a mapping of the tier's fields to change, got "
                             f"{type(fields).__name__}")
        if fields.get("name", key) != key:
            raise ValueError(f"{where}.{key}.name: a tier keeps its name here; to rename tiers, give the whole list")
        i = names.index(key)
        out[i] = {**out[i], **fields}
    return out


class SpecialisationConfig(Section):
    """Specialisations (guide part 7, "tiering by speciality and market"): designations by segment.

    Alongside its revenue tier, a partner that sells to a segment, holds enough certifications and
    has proven delivery there (active customers in the segment) holds the segment's
    specialisation, reviewed with the tiers. A specialisation earns an extra front-end discount on
    deals in that segment and a designation that buyers in it see (a contest bonus). Partners
    weigh the extra discount when they decide to pay for certifications. Off by default: the
    baseline programme has revenue tiers only.
    """

    enabled: bool = F(False, "-", "award specialisations by segment alongside the revenue tiers (the speciality "
                      "tiering policy)", basis="lever", source="What-if lever (scenarios/speciality_tiering.yaml).")
    min_certifications: int = F(
        2, "certifications", "active certifications a partner needs for any specialisation", basis="assumption",
        source="Vendor programmes tie a specialisation to certified staff in the area (Cisco specializations, "
        "Microsoft Solutions Partner designations, AWS competencies); two is the requirement of the gold tier.",
        ge=0, le=20)
    min_customers: SegmentMap = F(
        SegmentMap(small=15, mid=6, enterprise=2), "customers",
        "active customers in the segment a partner needs (proof of delivery, the programmes' customer references)",
        basis="assumption",
        source="Programmes ask for a handful of referenceable customers in the area; fewer where deals are large.")
    extra_discount: SegmentMap = F(
        SegmentMap(small=0.01, mid=0.02, enterprise=0.03), "share of deal value",
        "extra front-end discount on deals in a segment where the partner is specialised",
        basis="assumption",
        source="Specialisation benefits in published programme guides are a few points of extra discount; "
        "larger where the vendor wants capacity (enterprise).")
    contest_bonus: float = F(
        0.3, "logit", "contest utility a specialisation adds on opportunities in its segment (the designation "
        "buyers see)", basis="assumption",
        source="A designation signals competence the buyer cannot observe directly; 0.3 is the utility of 0.1 "
        "more capability at the default contest_capability weight of 3, a modest signal.", ge=0, le=5)

    @model_validator(mode="after")
    def _discounts_are_shares(self) -> SpecialisationConfig:
        bad = {k: v for k, v in zip(("small", "mid", "enterprise"), self.extra_discount.as_array(), strict=True)
               if v > 0.5}
        if bad:
            raise ValueError(f"extra_discount must be a share of deal value of at most 0.5, got {bad}")
        return self


class TieringConfig(Section):
    tiers: list[TierConfig] = F(_default_tiers(), "-", "tiers from lowest to highest, with requirements and benefits; "
                                "in a file, a list replaces the tiers as a whole, a mapping keyed by tier name "
                                "(gold: {discount: 0.3}) changes those tiers' fields only",
                                basis="assumption", source=_TIER_SOURCE)
    review_every_months: int = F(6, "months", "months between tier reviews", basis="lever",
                                 source="Semi-annual reviews.", ge=1, le=60)
    grace_reviews: int = F(1, "reviews", "reviews a partner may fall short before it is demoted", basis="lever",
                           source="One review of grace before demotion.", ge=0, le=10)
    specialisation: SpecialisationConfig = S(SpecialisationConfig(), "specialisations by segment alongside the tiers")

    @model_validator(mode="before")
    @classmethod
    def _tiers_by_name(cls, data: Any) -> Any:
        """``tiers`` given as a mapping keyed by tier name changes those of the default tiers."""
        if isinstance(data, Mapping) and isinstance(data.get("tiers"), Mapping):
            data = {**data, "tiers": merge_named(_default_tiers(), data["tiers"])}
        return data

    @model_validator(mode="after")
    def _ordered(self) -> TieringConfig:
        if not self.tiers:
            raise ValueError("at least one tier is needed")
        if len(self.tiers) > 20:
            raise ValueError(f"at most 20 tiers, got {len(self.tiers)}")
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
    growth_target: float = F(0.15, "share", "year-on-year TTM growth that triggers the accelerator",
                             source="15 % growth earns the accelerator.", ge=0, le=100)
    accelerator: float = F(1.5, "multiplier", "rebate multiplier when growth meets the target",
                           source="Illustrative accelerator.", ge=1, le=MULT_MAX)
    scale: float = F(1.0, "multiplier", "multiplier on every tier's rebate rate", basis="lever",
                     source="What-if lever.", ge=0, le=MULT_MAX)


class MDFConfig(Section):
    scale: float = F(1.0, "multiplier", "multiplier on every tier's MDF accrual rate", basis="lever",
                     source="What-if lever.", ge=0, le=MULT_MAX)
    claim_rate: float = F(
        0.023, "per month", "base share of the available fund a partner claims each month", basis="calibrated",
        source="40-60 % of MDF goes unclaimed (ZINFI survey 2016).", ge=0, le=1,
    )
    claim_marketing_slope: float = F(0.035, "per unit", "extra claim rate per unit of marketing capability",
                                     basis="calibrated", source="As claim_rate; utilisation rises with marketing "
                                     "capability (model brief).", ge=0, le=1)
    expiry_months: int = F(12, "months", "accrued funds not claimed within this many months expire",
                           source="Use it or lose it within a year.", ge=1, le=60)
    leads_per_1000: float = F(
        13.5, "leads per $1000", "leads a campaign of $1000 generates (at the scale where the response bends)",
        basis="calibrated",
        source="With diminishing, sets the elasticity of partner revenue to MDF within 0.05-0.25 (Sethuraman, Tellis "
        "& Briesch 2011: advertising elasticity 0.12 short-term, 0.24 long-term; Henningsen et al. 2011: 0.09).",
        ge=0,
        le=1e4,
    )
    diminishing: float = F(0.6, "elasticity", "exponent of MDF spend in a partner's lead response (1 = linear)",
                           source="Diminishing returns to marketing spend: response curves of advertising are "
                           "concave (Sethuraman, Tellis & Briesch 2011).", gt=0, le=1)
    utilisation_prior: float = F(0.5, "share", "MDF utilisation partners expect before any has been claimed",
                                 source="Mid-range of the published 40-60 % utilisation.", ge=0, le=1)


class SpiffConfig(Section):
    amount: float = F(500.0, "USD", "SPIFF paid per new-customer deal to eligible partners", basis="lever",
                      source="Illustrative.", ge=0, le=USD_MAX)
    share_of_deal: float = F(0.0, "share", "additional SPIFF as a share of deal value", basis="lever",
                             source="Baseline: flat SPIFF only.", ge=0, le=1)


class TrainingConfig(Section):
    scale: float = F(1.0, "multiplier", "multiplier on every tier's training budget", basis="lever",
                     source="What-if lever.", ge=0, le=MULT_MAX)
    uptake_base: float = F(0.5, "share", "share of the funded budget a partner with no mindshare takes up",
                           source="Even disengaged partners take half of what is offered.", ge=0, le=1)
    uptake_mindshare: float = F(0.5, "share per unit", "extra uptake per unit of mindshare",
                                source="Engaged partners take it all.", ge=0, le=1)
    effect: float = F(0.03, "score", "largest share of the gap to full capability one month of funded training closes",
                      source="With decay, the top tier's training lifts capability by about 0.15 over the partner's "
                      "own level in the steady state, the entry tier's by about 0.02.", ge=0, le=1)
    saturation: float = F(1_500.0, "USD", "training spend at which 63 % of the largest gain is reached",
                          source="Diminishing returns to training spend.", gt=0, le=USD_MAX)
    lag_months: int = F(3, "months", "months before training shows in capability",
                        source="Training shows in the field after a quarter.", ge=0, le=24)
    certification_cost: float = F(2_000.0, "USD", "cumulative funded training that earns one certification",
                                  source="Illustrative.", gt=0, le=USD_MAX)
    certification_months: int = F(24, "months", "months a certification stays valid unless renewed",
                                  source="Two-year validity, as common vendor certifications.", ge=1, le=600)
    max_certifications: int = F(5, "certifications", "most certifications a partner can hold",
                                source="A handful of practice certifications.", ge=1, le=20)
    decay: float = F(0.02, "per month", "share of the gap to the partner's own capability lost each month without "
                     "training", source="Trained skills fade with a half-life of about three years.", ge=0, le=1)


class RecognitionConfig(Section):
    top_share: float = F(0.05, "share", "share of active partners recognised at each tier review", basis="lever",
                         source="The top 5 % are recognised.", ge=0, le=1)
    cost_per_award: float = F(2_000.0, "USD", "cost of recognising one partner", source="Illustrative.",
                              ge=0, le=USD_MAX)
    satisfaction_boost: float = F(1.0, "score", "recognition signal given to a recognised partner (decays)",
                                  source="A full recognition signal.", ge=0, le=1)
    decay: float = F(0.1, "per month", "monthly decay of the recognition signal",
                     source="Recognition fades over about ten months.", ge=0, le=1)


class RelationshipConfig(Section):
    communication: float = F(0.5, "score 0-1", "intensity of communication (QBRs, portal, newsletters)",
                             basis="lever", source="A moderate programme.", ge=0, le=1)
    cost_per_partner: float = F(
        50.0, "USD per month", "cost of the relationship programme per active partner at intensity 1",
        source="Illustrative.", ge=0, le=USD_MAX,
    )
    joint_selling: float = F(
        0.0,
        "logit",
        "contest bonus when the vendor sells jointly with a partner in a tier that offers joint selling",
        basis="lever",
        source="Baseline: no joint selling.",
        ge=0,
        le=LOGIT_MAX,
    )


class IncentivesConfig(Section):
    budget: float | None = F(
        None, "USD per year", "incentive budget (all levers, discounts included); none = unlimited", basis="lever",
        source="Baseline: no cap.", ge=0, le=1e13,
    )
    rebate: RebateConfig = S(RebateConfig(), "back-end rebate lever")
    mdf: MDFConfig = S(MDFConfig(), "market development funds lever")
    spiff: SpiffConfig = S(SpiffConfig(), "sales bonus (SPIFF) lever")
    training: TrainingConfig = S(TrainingConfig(), "funded training and certifications lever")
    recognition: RecognitionConfig = S(RecognitionConfig(), "non-financial recognition lever")
    discount_scale: float = F(1.0, "multiplier", "multiplier on every tier's front-end discount", basis="lever",
                              source="What-if lever.", ge=0, le=MULT_MAX)
    payout_learning: float = F(
        0.3, "per month", "weight of the latest month in partners' estimate of the share of promises the budget pays",
        source="Partners notice a budget cut within a quarter.", gt=0, le=1,
    )


class DataConfig(Section):
    """A programme's own PRM export as the state of month 0 (``docs/MODEL.md``, "Initial state from data").

    The model never reads the folder: :func:`experiments.initial.with_data` builds a
    :class:`sim.InitialState` from it once and the runner passes it to every replication.
    """

    path: str | None = F(
        None, "-", "folder of a PRM export (docs/DATA.md) whose partners, tiers, territories and accounts are month "
        "0's instead of drawn; relative to the scenario file; in a file `data: DIR` is short for `data: {path: DIR}`; "
        "none = drawn. With a folder, market.n_accounts, market.n_territories and partners.n_initial come from it",
        basis="design", source="Calibrate to your own programme: start from a PRM export.", max_length=4096,
    )
    as_of: Literal["start", "end"] = F(
        "end", "-", "where in the export the run starts: end = from the state at the end of its last month (a "
        "forward what-if from today's programme), start = from the state before its first month, which is then "
        "the first simulated month (a calibration that simulates the history)", basis="design",
        source="A what-if starts from today; a calibration replays the history from its beginning.",
    )
    warmup_months: int = F(
        0, "months", "months simulated from the export's state before the reported months; with a folder it "
        "replaces time.warmup_months (0: the first reported month is the export's month)", basis="design",
        source="The export is the state to start from; a warm-up would move it before the first reported month.",
        ge=0, le=240,
    )


class Scenario(Section):
    """A complete, validated configuration of one what-if."""

    name: str = F("baseline", "-", "short name of the scenario", basis="design", source="Free text.",
                  max_length=200)
    description: str = F("", "-", "what the scenario asks", basis="design", source="Free text.", max_length=10_000)
    time: TimeConfig = S(TimeConfig(), "horizon and warm-up")
    market: MarketConfig = S(MarketConfig(), "customers, segments, prices and demand")
    partners: PartnersConfig = S(PartnersConfig(), "the partner population and its behaviour")
    direct: DirectConfig = S(DirectConfig(), "the vendor's direct sales team")
    digital: DigitalConfig = S(DigitalConfig(), "the vendor's digital channel")
    conflict: ConflictConfig = S(ConflictConfig(), "channel conflict rules and costs")
    tiering: TieringConfig = S(TieringConfig(), "partner tiers, requirements and benefits")
    incentives: IncentivesConfig = S(IncentivesConfig(), "incentive levers and budget")
    relationship: RelationshipConfig = S(RelationshipConfig(), "relationship programme")
    data: DataConfig = S(DataConfig(), "a PRM export as the initial state (partners, tiers, territories, accounts)")

    @model_validator(mode="before")
    @classmethod
    def _data_folder(cls, data: Any) -> Any:
        """``data: DIR`` is short for ``data: {path: DIR}``."""
        if isinstance(data, Mapping) and isinstance(data.get("data"), str):
            data = {**data, "data": {"path": data["data"]}}
        return data

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

    def scaled(self, share: float) -> Scenario:
        """The same programme in a market ``share`` times the size.

        Accounts, territories, initial partners, direct sellers and the prospects each
        recruitment source brings are multiplied by ``share``; rates, prices and behaviour
        are kept, so a smaller market keeps the baseline's shares and elasticities (it is
        noisier). Used by the notebooks, the tests and the assumption screening.
        """
        if not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1], got {share!r}")
        changes: dict[str, Any] = {
            "market.n_accounts": max(100, int(self.market.n_accounts * share)),
            "market.n_territories": max(1, int(round(self.market.n_territories * share))),
            "partners.n_initial": max(1, int(self.partners.n_initial * share)),
            "direct.sellers": round(self.direct.sellers * share, 6),
        }
        for name, src in self.partners.recruitment.sources.items():
            changes[f"partners.recruitment.sources.{name}.rate"] = round(src.rate * share, 6)
        return self.with_overrides(changes, source=f"scaled({share})")
