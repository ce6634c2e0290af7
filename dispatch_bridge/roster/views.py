"""JSON-ready read views of the roster: ``GET /v1/roster`` and ``GET /v1/coverage`` (and the coverage gauges).

Both walk every unit (O(units), a few ms at 10,000): they serve HTTP and metric scrapes, never the event path.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from dispatch_bridge.roster.personnel import NO_END, NO_START

if TYPE_CHECKING:
    from dispatch_bridge.roster.table import Roster, UnitEntry

UNASSIGNED_DISTRICT = "unassigned"
_CERT_COUNTING_KINDS = frozenset({"patrol", "co_responder"})  # sworn crews; mobile crisis teams are clinicians


def _iso_day(ordinal: int) -> str | None:
    if ordinal in (NO_START, NO_END):
        return None
    return dt.date.fromordinal(ordinal).isoformat()


def crew_view(roster: Roster, entry: UnitEntry, day: int) -> list[dict[str, Any]]:
    status = entry.status
    assert status is not None
    warn = roster.settings.expiry_warning_days
    certs = {officer: (first, last, source) for officer, first, last, source in entry.certs}
    crew = []
    for member in status.crew:
        first, last, source = certs.get(member.id, (NO_END, NO_START, None))
        certified = first <= day <= last
        record = roster.personnel_record(member.id)
        crew.append({
            "id": member.id,
            "cit_certified": certified,
            "cit_certified_on": _iso_day(first) if first <= last else None,
            "cit_expires_on": _iso_day(last) if first <= last else None,
            "cit_expiring_soon": certified and last != NO_END and last - day <= warn,
            "last_refresher_on": record.last_refresher_on.isoformat()
            if record is not None and record.last_refresher_on else None,
            "cit_source": source,
        })
    return crew


def team_view(roster: Roster, unit_id: str, now: dt.datetime) -> dict[str, Any] | None:
    state = roster.team_state(unit_id, now)
    if state is None:
        return None
    team, status = state.team, state.entry.status if state.entry is not None else None
    return {
        "on_shift": state.on_shift,
        "in_service": state.on_shift and state.in_service,
        "has_room": state.has_room,
        "status_reported": status is not None,
        "next_shift_change": state.shift_until.isoformat() if state.shift_until is not None else None,
        "capacity": team.capacity,
        "active_assignments": status.active_assignments if status is not None else None,
        "service_area": team.area.describe() if team.area is not None else None,
        "config_source": team.source,
    }


def roster_view(roster: Roster, now: dt.datetime) -> list[dict[str, Any]]:
    """Every unit, sorted by id, plus teams declared in the teams file that the CAD has not reported yet."""
    day = roster.local_day(now)
    now_ts = now.timestamp()
    stale_after = roster.settings.stale_location_seconds
    rows = []
    for unit_id in sorted(roster.units.keys() | roster.teams.keys()):
        entry = roster.units.get(unit_id)
        if entry is None or entry.status is None:
            team = roster.teams[unit_id]
            rows.append({"unit_id": unit_id, "kind": team.kind, "status": None, "status_text": None,
                         "team": team_view(roster, unit_id, now)})
            continue
        status = entry.status
        location = None
        if status.location is not None:
            age = max(0.0, now_ts - entry.fix_ts)
            location = {"lat": status.location.lat, "lon": status.location.lon, "age_seconds": round(age, 1),
                        "stale": age > stale_after}
        rows.append({
            "unit_id": unit_id,
            "kind": status.kind,
            "status": status.status,
            "status_text": status.status_text,
            "available_on_scene": bool(status.available_on_scene),
            "assignment_priority": status.assignment_priority,
            "beat": status.beat,
            "district": status.district,
            "updated_at": status.updated_at.isoformat(),
            "location": location,
            "crew": crew_view(roster, entry, day),
            "cit_on_board": entry.has_cit(day),
            "team": team_view(roster, unit_id, now),
        })
    return rows


def coverage_view(roster: Roster, now: dt.datetime) -> dict[str, Any]:
    """CIT-certified officers on duty and available now, per district and overall, against the minimum.

    An officer counts once (the first unit listing them wins, if the CAD has them on two). On duty = any status
    but off_duty; available = the unit is available or available on scene. ``below_minimum`` compares officers
    on duty with ``coverage_min_per_district`` (Chicago's ask is per watch, i.e. on duty); ``available_below_minimum``
    is the same test on available officers. Units without a district count under "unassigned".
    """
    day = roster.local_day(now)
    warn = roster.settings.expiry_warning_days
    minimum = roster.settings.coverage_min_per_district
    on_duty: dict[str, set[str]] = {d: set() for d in roster.settings.coverage_districts}
    available: dict[str, set[str]] = {d: set() for d in roster.settings.coverage_districts}
    expiring: dict[str, set[str]] = {d: set() for d in roster.settings.coverage_districts}
    counted: set[str] = set()
    for entry in roster.units.values():
        status = entry.status
        if status is None or status.kind not in _CERT_COUNTING_KINDS:
            continue
        district = status.district or UNASSIGNED_DISTRICT
        on_duty.setdefault(district, set())
        available.setdefault(district, set())
        expiring.setdefault(district, set())
        if status.status == "off_duty" or not entry.has_cit(day):
            continue
        free = status.status == "available" or (status.status == "on_scene" and bool(status.available_on_scene))
        for officer, first, last, _ in entry.certs:
            if not first <= day <= last or officer in counted:
                continue
            counted.add(officer)
            on_duty[district].add(officer)
            if free:
                available[district].add(officer)
            if last != NO_END and last - day <= warn:
                expiring[district].add(officer)
    districts = [
        {
            "district": district,
            "cit_on_duty": len(on_duty[district]),
            "cit_available": len(available[district]),
            "cit_expiring_soon": len(expiring[district]),
            "minimum": minimum,
            "below_minimum": len(on_duty[district]) < minimum,
            "available_below_minimum": len(available[district]) < minimum,
        }
        for district in sorted(on_duty)
    ]
    real = [d for d in districts if d["district"] != UNASSIGNED_DISTRICT]
    return {
        "at": now.isoformat(),
        "minimum_per_district": minimum,
        "overall": {
            "cit_on_duty": sum(d["cit_on_duty"] for d in districts),
            "cit_available": sum(d["cit_available"] for d in districts),
            "cit_expiring_soon": sum(d["cit_expiring_soon"] for d in districts),
            "districts": len(real),
            "districts_below_minimum": sum(1 for d in real if d["below_minimum"]),
            "below_minimum": any(d["below_minimum"] for d in real),
        },
        "districts": districts,
    }
