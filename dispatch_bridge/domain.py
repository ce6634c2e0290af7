"""Plain data passed between the pure core (triage, ranking) and the edges.

Frozen slotted dataclasses rather than pydantic models: they are built for every event on the hot path, and
orjson serialises them natively. The wire shapes with validation live in ``dispatch_bridge.contracts``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Response tiers, as on the wire (contracts.recommendation.ResponseTier).
CIT_OFFICER = "cit_officer"
MOBILE_CRISIS = "mobile_crisis"
CO_RESPONSE = "co_response"
EMS_WITH_CIT = "ems_with_cit"
POLICE_ONLY = "police_only"
NO_RESPONSE = "none"


@dataclass(frozen=True, slots=True)
class Reason:
    """One rule that fired: its id, a line a dispatcher understands, and what it matched."""

    rule: str
    because: str
    evidence: str | None = None


@dataclass(frozen=True, slots=True)
class Assessment:
    """The triage verdict on one incident revision."""

    crisis: bool
    score: float
    response: str
    ruleset_version: str
    ruleset_sha256: str
    safety_flags: tuple[str, ...] = ()
    reasons: tuple[Reason, ...] = ()


@dataclass(frozen=True, slots=True)
class Candidate:
    """One ranked responder, with the plain-words reason it is ranked there."""

    unit_id: str
    kind: str
    why: str
    eta_seconds: int | None = None
    distance_m: int | None = None
    cit_members: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Ranking:
    """Ranked candidates and the fallbacks taken to get them (never empty without a reason)."""

    candidates: tuple[Candidate, ...] = ()
    fallbacks: tuple[str, ...] = field(default_factory=tuple)
