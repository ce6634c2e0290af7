"""Recommendation (``cit.recommendations``, key = incident id): what the bridge advises dispatch to send."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from dispatch_bridge.contracts.base import WireModel
from dispatch_bridge.contracts.unit import UnitKind

# Why this recommendation was published: a newer incident revision, or the roster changed under an open
# crisis call (a CIT unit came free, a team came on shift) and the best responder changed.
Trigger = Literal["incident_update", "roster_change"]
ResponseTier = Literal["cit_officer", "mobile_crisis", "co_response", "ems_with_cit", "police_only", "none"]


class Reason(WireModel):
    rule: str
    because: str
    evidence: str | None = None


class Candidate(WireModel):
    unit_id: str
    kind: UnitKind
    eta_seconds: int | None = None
    distance_m: int | None = None
    cit_members: list[str] = Field(default_factory=list)
    why: str


class Recommendation(WireModel):
    schema_version: Literal[1] = 1
    incident_id: str
    incident_revision: int
    ruleset_version: str
    ruleset_sha256: str
    crisis: bool
    score: float = Field(ge=0, le=1)
    response: ResponseTier
    safety_flags: list[str] = Field(default_factory=list)
    reasons: list[Reason] = Field(default_factory=list)
    candidates: list[Candidate] = Field(default_factory=list)
    fallbacks: list[str] = Field(default_factory=list)
    trigger: Trigger = "incident_update"
    agency: str | None = None
    occurred_at: AwareDatetime | None = None
    produced_at: AwareDatetime
    source_event_id: str
