"""Unit status (``cad.units``, compacted, key = unit id): where a unit is, what it is doing, who is aboard."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import AwareDatetime, Field

from dispatch_bridge.contracts.base import WireModel

UnitKind = Literal["patrol", "mobile_crisis", "co_responder", "ems"]
UnitStatusCode = Literal["available", "dispatched", "enroute", "on_scene", "out_of_service", "off_duty"]


class UnitLocation(WireModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    at: AwareDatetime | None = None


class CrewMember(WireModel):
    id: str = Field(min_length=1)
    cit_certified_until: dt.date | None = None


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
    # Teams only: weekly service hours and service area (see the roster module for their shape).
    service_hours: dict[str, Any] | None = None
    service_area: dict[str, Any] | None = None
    capacity: int | None = Field(default=None, ge=0)
