"""Settings for candidate ranking (``DISPATCH_BRIDGE_RANKING__*``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RankingSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_candidates: int = Field(default=5, ge=1)
    # Straight-line distance times this factor approximates road distance.
    road_factor: float = Field(default=1.3, ge=1.0)
    speed_kmh: float = Field(default=40.0, gt=0)
