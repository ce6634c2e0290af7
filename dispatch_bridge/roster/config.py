"""Settings for the roster: certification currency, stale locations, coverage (``DISPATCH_BRIDGE_ROSTER__*``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RosterSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Certifications expiring within this many days are flagged.
    expiry_warning_days: int = Field(default=30, ge=0)
    # A location older than this lowers confidence in the ETA and says so.
    stale_location_seconds: float = Field(default=300.0, gt=0)
    # Chicago's task force: at least two CIT-certified officers per district per watch.
    coverage_min_per_district: int = Field(default=2, ge=0)
