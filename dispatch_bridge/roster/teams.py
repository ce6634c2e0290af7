"""Mobile crisis and co-responder teams: service hours, service area and capacity, from the teams file or the
team's own unit events.

Teams file (``DISPATCH_BRIDGE_TEAMS_FILE``, YAML)::

    teams:
      - unit_id: MCT-1
        kind: mobile_crisis            # or co_responder
        capacity: 2                    # calls it can take at once (optional; default 1)
        service_hours:
          time_zone: America/Denver
          weekly: {mon: ["07:00-19:00"], fri: ["07:00-19:00", "22:00-06:00"], daily: ["09:00-17:00"]}
          holidays: [2026-12-25]
          exceptions: [{date: 2026-12-31, hours: ["07:00-02:00"]}]
        service_area:
          districts: ["D1", "D2"]      # and/or
          geojson: {type: Polygon, coordinates: [[[-104.99, 39.74], ...]]}

A team without ``service_hours`` is always in service; one without ``service_area`` serves everywhere. When a
team is in the file, the file wins over ``service_hours`` / ``service_area`` / ``capacity`` on its unit events:
operators use the file to correct what a CAD sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dispatch_bridge.contracts.unit import ServiceArea, ServiceHours
from dispatch_bridge.roster.area import AreaFormatError, CompiledArea
from dispatch_bridge.roster.schedule import ServiceSchedule

TeamKind = Literal["mobile_crisis", "co_responder"]


class TeamsFileError(ValueError):
    """The teams file cannot be used; the previous team configuration stays in force."""


class TeamEntry(BaseModel):
    # Lax (not wire-strict): YAML gives dates as dates and numbers as numbers.
    model_config = ConfigDict(extra="forbid", frozen=True)

    unit_id: str = Field(min_length=1)
    kind: TeamKind = "mobile_crisis"
    name: str | None = None
    capacity: int = Field(default=1, ge=0)
    service_hours: ServiceHours | None = None
    service_area: ServiceArea | None = None


class TeamsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    teams: list[TeamEntry] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TeamConfig:
    """A team's compiled configuration (schedule None = always in service, area None = everywhere)."""

    unit_id: str
    kind: str
    capacity: int
    schedule: ServiceSchedule | None
    area: CompiledArea | None
    source: str  # "teams_file" or "unit_event"


def compile_team(
    unit_id: str,
    kind: str,
    capacity: int | None,
    hours: ServiceHours | None,
    area: ServiceArea | None,
    source: str,
) -> TeamConfig:
    return TeamConfig(
        unit_id=unit_id,
        kind=kind,
        capacity=1 if capacity is None else capacity,
        schedule=ServiceSchedule(hours) if hours is not None else None,
        area=CompiledArea(area) if area is not None else None,
        source=source,
    )


def load_teams_file(path: Path) -> dict[str, TeamConfig]:
    """Parse and compile the whole file, or raise ``TeamsFileError`` (so a bad edit never half-applies)."""
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        parsed = TeamsFile.model_validate(raw if raw is not None else {})
        teams = {
            entry.unit_id: compile_team(
                entry.unit_id, entry.kind, entry.capacity, entry.service_hours, entry.service_area, "teams_file"
            )
            for entry in parsed.teams
        }
    except (OSError, yaml.YAMLError, ValidationError, AreaFormatError) as exc:
        raise TeamsFileError(f"teams file {path.name}: {type(exc).__name__}: {exc}") from exc
    if len(teams) != len(parsed.teams):
        raise TeamsFileError(f"teams file {path.name}: a unit_id appears twice")
    return teams
