"""Unit status (``cad.units``, compacted, key = unit id): where a unit is, what it is doing, who is aboard."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from pydantic import AwareDatetime, Field, field_validator, model_validator

from dispatch_bridge.contracts.base import WireModel, known_time_zone

UnitKind = Literal["patrol", "mobile_crisis", "co_responder", "ems"]
# Kinds that are teams (service hours, service area, capacity) rather than patrol or EMS units.
TEAM_KINDS: frozenset[str] = frozenset({"mobile_crisis", "co_responder"})
UnitStatusCode = Literal["available", "dispatched", "enroute", "on_scene", "out_of_service", "off_duty"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun", "daily"]

# "07:00-19:00"; an end at or before the start runs past midnight into the next day ("22:00-06:00").
_SHIFT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


def _check_shifts(shifts: list[str]) -> list[str]:
    for shift in shifts:
        match = _SHIFT.match(shift)
        if match is None or (match.group(3) == "24" and match.group(4) != "00"):
            raise ValueError(f"shift {shift!r} is not HH:MM-HH:MM")
    return shifts


class UnitLocation(WireModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    # When the fix was taken; without it the unit event's updated_at is taken as the fix time.
    at: AwareDatetime | None = None


class CrewMember(WireModel):
    id: str = Field(min_length=1)
    cit_certified_until: dt.date | None = None


class ServiceException(WireModel):
    """One local date whose shifts replace the weekly ones (``hours: []`` = closed that day)."""

    date: dt.date
    hours: list[str] = Field(default_factory=list)

    @field_validator("hours")
    @classmethod
    def _valid_shifts(cls, value: list[str]) -> list[str]:
        return _check_shifts(value)


class ServiceHours(WireModel):
    """Weekly service hours in one IANA time zone, with dated exceptions.

    ``weekly`` maps ``mon`` .. ``sun`` (or ``daily``, for every day without its own entry) to shifts
    ``"HH:MM-HH:MM"`` in local wall-clock time. A shift whose end is at or before its start runs past midnight and
    belongs to the day it starts on: ``fri: ["22:00-06:00"]`` covers Friday night into Saturday morning.
    ``holidays`` close a whole local date; ``exceptions`` replace one date's shifts. Both apply to the shifts that
    *start* on that date (a Friday-night shift still ends on a Saturday holiday).
    """

    time_zone: str = Field(min_length=1)
    weekly: dict[Weekday, list[str]] = Field(default_factory=dict)
    holidays: list[dt.date] = Field(default_factory=list)
    exceptions: list[ServiceException] = Field(default_factory=list)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_time_zone(value)

    @field_validator("weekly")
    @classmethod
    def _valid_shifts(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for shifts in value.values():
            _check_shifts(shifts)
        return value


class ServiceArea(WireModel):
    """Where a team serves: a list of districts, a GeoJSON geometry (Polygon / MultiPolygon, or a Feature or
    FeatureCollection of them; coordinates are ``[lon, lat]``), or both (a call inside either is in the area)."""

    districts: list[str] = Field(default_factory=list)
    geojson: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> ServiceArea:
        if not self.districts and self.geojson is None:
            raise ValueError("service_area needs districts or geojson")
        return self


class UnitStatus(WireModel):
    schema_version: Literal[1]
    unit_id: str = Field(min_length=1, max_length=200)
    kind: UnitKind
    status: UnitStatusCode
    # The CAD's own status code, kept verbatim beside the normalised one.
    status_text: str | None = None
    location: UnitLocation | None = None
    crew: list[CrewMember] = Field(default_factory=list)
    beat: str | None = None
    district: str | None = None
    updated_at: AwareDatetime
    # Teams only: weekly service hours and service area (a teams file entry for the same unit wins over these).
    service_hours: ServiceHours | None = None
    service_area: ServiceArea | None = None
    capacity: int | None = Field(default=None, ge=0)
    # "Available on scene" (PulsePoint AOS, a 10-8 given at the scene): status stays on_scene, unit can be sent.
    available_on_scene: bool | None = None
    # The call the unit is committed to while dispatched / en route / on scene, and that call's priority (same
    # scale as Incident.priority): a unit en route to a less urgent call can be diverted.
    assignment_id: str | None = None
    assignment_priority: int | None = None
    # Teams with capacity > 1: how many calls the team is handling now (busy when it reaches capacity).
    active_assignments: int | None = Field(default=None, ge=0)
