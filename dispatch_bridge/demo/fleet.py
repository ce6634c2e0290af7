"""The demo city's units at the start of a shift: patrol cars with their crews, mobile crisis teams, a co-responder.

Team service hours and area are the wire shapes ``contracts.unit.ServiceHours`` / ``ServiceArea`` (documented
there and in ``roster.teams``): ``{"time_zone": "America/Chicago", "weekly": {"mon": ["08:00-22:00"], ...},
"holidays": ["2026-12-25"]}`` and ``{"districts": ["D1", "D2"]}``. The demo's teams work day shifts only (no
shift past midnight), which is all ``in_service`` below needs to understand.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from dispatch_bridge.contracts import CrewMember
from dispatch_bridge.contracts.unit import ServiceArea, ServiceHours
from dispatch_bridge.demo import city

TIMEZONE = "America/Chicago"
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOLIDAYS = [dt.date(2026, 7, 4), dt.date(2026, 12, 25), dt.date(2027, 1, 1)]

# CIT-certified patrol units per district: uneven on purpose, so that a busy shift runs out of CIT officers in D4.
_CIT_UNITS_PER_DISTRICT = {"D1": 3, "D2": 2, "D3": 2, "D4": 1}


@dataclass(frozen=True, slots=True)
class UnitPlan:
    """What stays fixed about a unit for the whole shift."""

    unit_id: str
    kind: str
    district: str
    beat: str
    home: tuple[float, float]
    crew: tuple[CrewMember, ...]
    service_hours: ServiceHours | None = None
    service_area: ServiceArea | None = None
    capacity: int | None = None

    def cit_valid_on(self, day: dt.date) -> bool:
        return any(m.cit_certified_until is not None and m.cit_certified_until >= day for m in self.crew)


def _hours(weekday: str | None, weekend: str | None) -> ServiceHours:
    weekly = {day: [weekend if day in ("sat", "sun") else weekday] for day in _DAYS}
    return ServiceHours(
        time_zone=TIMEZONE,
        weekly={day: shifts for day, shifts in weekly.items() if shifts[0] is not None},  # type: ignore[misc]
        holidays=HOLIDAYS,
    )


def in_service(hours: ServiceHours | None, area: ServiceArea | None, when: dt.datetime, district: str | None) -> bool:
    """True when a team works at this moment and covers this district (None means always / everywhere).

    ``district=None`` asks about the hours only.
    """
    if area is not None and district is not None and district not in area.districts:
        return False
    if hours is None:
        return True
    local = when.astimezone(ZoneInfo(hours.time_zone))
    if local.date() in hours.holidays:
        return False
    clock = local.strftime("%H:%M")
    shifts = hours.weekly.get(_DAYS[local.weekday()], hours.weekly.get("daily", []))  # type: ignore[call-overload]
    return any(shift[:5] <= clock < shift[6:] for shift in shifts)


def build_fleet(rng: random.Random, day: dt.date) -> list[UnitPlan]:
    """About 40 patrol cars (3 per beat plus a district car), 2 mobile crisis teams and 1 co-responder unit.

    Exactly a fifth of the patrol cars carry an officer whose CIT certification is current on ``day`` (two of
    those expire within the month); three more carry an officer whose certification has lapsed.
    """
    badges = iter(rng.sample(range(2100, 9899), 120))
    plans: list[UnitPlan] = []
    patrol: list[tuple[str, str, str]] = []
    for district, beat in city.all_beats():
        for car in range(1, 4):
            patrol.append((f"P-{beat}{car}", district, beat))
    for district in city.DISTRICTS:
        patrol.append((f"P-{district[1]}90", district, f"{district[1]}2"))

    cit_ids: set[str] = set()
    for district, count in _CIT_UNITS_PER_DISTRICT.items():
        in_district = [u for u, d, _ in patrol if d == district]
        cit_ids.update(rng.sample(in_district, count))
    expiring = set(rng.sample(sorted(cit_ids), 2))
    lapsed = set(rng.sample(sorted({u for u, _, _ in patrol} - cit_ids), 3))

    for unit_id, district, beat in patrol:
        size = 2 if rng.random() < 0.4 else 1
        crew = [CrewMember(id=str(next(badges))) for _ in range(size)]
        if unit_id in cit_ids:
            days = rng.randint(5, 25) if unit_id in expiring else rng.randint(120, 900)
            crew[0] = CrewMember(id=crew[0].id, cit_certified_until=day + dt.timedelta(days=days))
        elif unit_id in lapsed:
            crew[-1] = CrewMember(id=crew[-1].id, cit_certified_until=day - dt.timedelta(days=rng.randint(10, 400)))
        lat, lon = city.jitter(rng, *city.beat_centre(district, beat), 700)
        home = (round(lat, 6), round(lon, 6))  # AVL precision, about 10 cm
        plans.append(UnitPlan(unit_id, "patrol", district, beat, home, tuple(crew)))

    clinic_north = city.clamp(city.CENTRE_LAT + 0.012, city.CENTRE_LON + 0.004)
    clinic_south = city.clamp(city.CENTRE_LAT - 0.015, city.CENTRE_LON - 0.008)
    plans.append(
        UnitPlan(
            "MCT-1", "mobile_crisis", "D1", "12", clinic_north,
            (CrewMember(id="C-301"), CrewMember(id="C-302")),
            _hours("08:00-22:00", "10:00-18:00"), ServiceArea(districts=["D1", "D2"]),
            1,
        )
    )  # fmt: skip
    plans.append(
        UnitPlan(
            "MCT-2", "mobile_crisis", "D3", "31", clinic_south,
            (CrewMember(id="C-311"), CrewMember(id="C-312")),
            _hours("12:00-24:00", "12:00-24:00"), ServiceArea(districts=["D3", "D4"]),
            1,
        )
    )  # fmt: skip
    plans.append(
        UnitPlan(
            "CR-1", "co_responder", "D2", "21", city.clamp(city.CENTRE_LAT + 0.006, city.CENTRE_LON - 0.01),
            (
                CrewMember(id=str(next(badges)), cit_certified_until=day + dt.timedelta(days=640)),
                CrewMember(id="C-420"),
            ),
            _hours("10:00-20:00", None), ServiceArea(districts=list(city.DISTRICTS)),
            1,
        )
    )  # fmt: skip
    return plans


def personnel_csv(plans: list[UnitPlan]) -> str:
    """Training-records export for sworn officers (clinicians are not in it); blank dates = never certified.

    Columns are those ``roster.personnel`` reads. The course is taken to run three years before it expires.
    """
    rows = ["officer_id,unit_id,district,cit_certified_on,cit_expires_on"]
    for plan in plans:
        for member in plan.crew:
            if not member.id.isdigit():
                continue
            until = member.cit_certified_until
            since = (until - dt.timedelta(days=3 * 365)).isoformat() if until else ""
            rows.append(f"{member.id},{plan.unit_id},{plan.district},{since},{until.isoformat() if until else ''}")
    return "\n".join(rows) + "\n"


def teams_document(plans: list[UnitPlan]) -> dict[str, Any]:
    """The teams file as data (the ``roster.teams`` YAML shape): hours, area and capacity of every team unit."""
    return {
        "teams": [
            {
                "unit_id": p.unit_id,
                "kind": p.kind,
                "capacity": p.capacity,
                "service_hours": p.service_hours.model_dump(exclude_defaults=True),  # YAML dates stay dates
                "service_area": p.service_area.model_dump(mode="json", exclude_defaults=True)
                if p.service_area
                else None,
            }
            for p in plans
            if p.service_hours is not None
        ]
    }
