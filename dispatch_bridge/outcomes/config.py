"""Settings for the outcome store and the coordinator report (``DISPATCH_BRIDGE_STORE__*``).

Everything that an agency decides (how coarse location history is, which codes mean "this ended as a crisis",
which override reasons exist, when shifts start) lives here rather than in code, because it differs per CAD.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dispatch_bridge.contracts.base import known_time_zone

DEFAULT_REASON_CODES = (
    "team_unavailable",
    "caller_declined",
    "safety_concern",
    "dispatcher_judgment",
    "other",
)


class StoreSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # sqlite:///path/file.db (embedded default) or postgresql://user@host:port/db (production, several instances).
    url: str = "sqlite:///dispatch-bridge.db"
    retention_days: int = Field(default=730, ge=1)
    # How often the service runs purge(); the store itself never reads the clock.
    purge_interval_hours: float = Field(default=24.0, gt=0)
    # PostgreSQL connection pool size (one instance writes one batch at a time; reports read beside it).
    pool_max_size: int = Field(default=4, ge=1)

    # Location history is kept only this coarse: "block" = street with the house number rounded down to the
    # hundred (the level police open data publishes), "beat" = the patrol beat. Never the full address.
    location_granularity: Literal["block", "beat"] = "block"

    # Premise history: prior crisis calls at the same block/beat become a triage fact.
    premise_enabled: bool = True
    premise_window_days: int = Field(default=60, ge=1)
    # Older calls weigh less: a call half_life days ago counts 0.5 in PremiseHistory.weighted.
    premise_half_life_days: float = Field(default=30.0, gt=0)

    # Override reasons accepted from the API, the cit.feedback topic and CAD dispositions.
    feedback_reason_codes: tuple[str, ...] = DEFAULT_REASON_CODES
    # CAD disposition codes or incident flags that carry an override reason (agency specific), e.g.
    # {"MCT-UNAV": "team_unavailable"}. Matched case-insensitively.
    disposition_reasons: dict[str, str] = Field(default_factory=dict)
    # Free-text feedback notes can carry caller details, so they are dropped unless the agency opts in.
    store_feedback_notes: bool = False

    # "Ended as a crisis": final nature code (or APCO type) or a disposition code in these sets.
    crisis_nature_codes: tuple[str, ...] = ("EDP", "MENTAL", "SUICIDE", "SUICTHRT", "CRISIS", "5150")
    crisis_dispositions: tuple[str, ...] = ("MENTAL_HEALTH", "CRISIS", "EDP", "5150", "MH_TRANSPORT")

    # Recommendation fallbacks that mean "an eligible call missed its team", by cause. A fallback counts when
    # its code contains one of the fragments (the ranking module names them, e.g. team_out_of_hours).
    fallback_categories: dict[str, tuple[str, ...]] = Field(
        default_factory=lambda: {
            "hours": ("out_of_hours", "outside_hours", "closed"),
            "area": ("out_of_area", "outside_area", "outside_service_area"),
            "availability": ("team_unavailable", "no_team", "team_busy", "at_capacity", "team_full"),
        }
    )

    # Reporting: shifts are read in the agency's local time; the key is the shift name, the value its start hour.
    timezone: str = "UTC"
    shift_starts: dict[str, int] = Field(default_factory=lambda: {"day": 7, "evening": 15, "night": 23})

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("store url must start with sqlite:/// or postgresql://")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_time_zone(value)

    @field_validator("feedback_reason_codes")
    @classmethod
    def _codes_present(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one feedback reason code is required")
        return tuple(code.strip().lower() for code in value)

    @model_validator(mode="after")
    def _consistent(self) -> StoreSettings:
        unknown = set(self.disposition_reasons.values()) - set(self.feedback_reason_codes)
        if unknown:
            raise ValueError(f"disposition_reasons map to unknown reason codes: {sorted(unknown)}")
        if not self.shift_starts or any(not 0 <= hour <= 23 for hour in self.shift_starts.values()):
            raise ValueError("shift_starts needs at least one shift, each starting at an hour 0..23")
        if len(set(self.shift_starts.values())) != len(self.shift_starts):
            raise ValueError("two shifts start at the same hour")
        return self

    @property
    def backend(self) -> Literal["sqlite", "postgresql"]:
        return "sqlite" if self.url.startswith("sqlite:") else "postgresql"
