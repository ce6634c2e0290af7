"""Model configuration shared by every wire contract."""

from pydantic import BaseModel, ConfigDict


class WireModel(BaseModel):
    """Strict types (a string is not a number), unknown fields ignored (CADs send more than we read)."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True, str_max_length=100_000)


def known_time_zone(value: str) -> str:
    """A pydantic validator body for IANA zone names (the agency's zone; tzdata ships with the package)."""
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value
