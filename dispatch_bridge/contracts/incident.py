"""Incident event (``cad.incidents``, key = incident id): one CAD snapshot of a call for service."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from dispatch_bridge.contracts.base import WireModel

INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1

EventType = Literal["incident.created", "incident.updated", "incident.closed"]
CallerParty = Literal["first", "second", "third", "officer", "unknown"]


class NarrativeEntry(WireModel):
    at: AwareDatetime | None = None
    text: str


class Location(WireModel):
    address: str | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    beat: str | None = None
    district: str | None = None


class AssignedUnit(WireModel):
    unit_id: str = Field(min_length=1)
    dispatched_at: AwareDatetime | None = None
    enroute_at: AwareDatetime | None = None
    on_scene_at: AwareDatetime | None = None
    cleared_at: AwareDatetime | None = None


class Incident(WireModel):
    id: str = Field(min_length=1, max_length=200)
    # Bounded to what every store and client can hold (a signed 64-bit integer).
    revision: int = Field(ge=0, le=INT64_MAX)
    nature_code: str
    nature_text: str = ""
    # The agency's mapping of its local code to the APCO common incident type, when the CAD knows it.
    apco_type: str | None = None
    priority: int | None = Field(default=None, ge=-INT32_MAX, le=INT32_MAX)
    determinant: str | None = None
    caller_party: CallerParty | None = None
    narrative: list[NarrativeEntry] = Field(default_factory=list)
    location: Location | None = None
    flags: list[str] = Field(default_factory=list)
    units: list[AssignedUnit] = Field(default_factory=list)
    disposition: list[str] = Field(default_factory=list)


class IncidentEvent(WireModel):
    schema_version: Literal[1]
    event_id: str = Field(min_length=1, max_length=200)
    event_type: EventType
    occurred_at: AwareDatetime
    agency: str
    incident: Incident
