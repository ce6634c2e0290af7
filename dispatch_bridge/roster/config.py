"""Settings for the roster: certification currency, stale locations, coverage (``DISPATCH_BRIDGE_ROSTER__*``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dispatch_bridge.contracts.base import known_time_zone


class RosterSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Certifications expiring within this many days are flagged.
    expiry_warning_days: int = Field(default=30, ge=0)
    # A location older than this lowers confidence in the ETA and says so.
    stale_location_seconds: float = Field(default=300.0, gt=0)
    # Chicago's task force: at least two CIT-certified officers per district per watch.
    coverage_min_per_district: int = Field(default=2, ge=0)
    # Districts always listed in coverage, even with nobody on duty (a district at zero is the one to alert on).
    coverage_districts: tuple[str, ...] = ()
    # The agency's time zone: certification dates ("certified until 2026-03-31") are local calendar dates, valid
    # through the end of that day here.
    time_zone: str = "UTC"
    # Optional refresher policy: a certification lapses this many days after the last refresher (or the
    # certification date when there was none), even if the record's expiry is later. None = records' expiry only.
    refresher_interval_days: int | None = Field(default=None, ge=1)
    # Grid cell size for the spatial index of units, in degrees of latitude/longitude (0.01 deg ~ 1.1 km).
    grid_cell_degrees: float = Field(default=0.01, gt=0.0005, le=1.0)

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_time_zone(value)
