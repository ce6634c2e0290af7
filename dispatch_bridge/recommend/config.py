"""Settings for candidate ranking (``DISPATCH_BRIDGE_RANKING__*``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

AvailabilityClass = Literal["available", "on_scene_available", "enroute_lower_priority"]


class RankingSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_candidates: int = Field(default=5, ge=1)
    # Straight-line distance times this factor approximates road distance.
    road_factor: float = Field(default=1.3, ge=1.0)
    speed_kmh: float = Field(default=40.0, gt=0)
    # Which units may be proposed, best class first. A class left out is never proposed (e.g. drop
    # "enroute_lower_priority" where policy forbids diverting units).
    availability_order: tuple[AvailabilityClass, ...] = (
        "available",
        "on_scene_available",
        "enroute_lower_priority",
    )
    # CAD priority scale: True when 1 is the most urgent (the usual P1..P5).
    priority_lower_is_urgent: bool = True
    # ETAs within the same bucket count as equal, so beat/district affinity decides between units about as close;
    # exact ETA then breaks the tie.
    eta_bucket_seconds: int = Field(default=60, ge=1)
    # Units farther than this (straight line) are never proposed.
    max_search_km: float = Field(default=80.0, gt=0)
    # police_only: a unit with a CIT member is preferred over a closer one without, by up to this many seconds.
    police_only_cit_preference_seconds: int = Field(default=120, ge=0)
    # A team declared in the teams file whose unit the CAD never reported: propose it (in its hours and area) with
    # "status not reported", or leave it out.
    propose_unreported_teams: bool = True
