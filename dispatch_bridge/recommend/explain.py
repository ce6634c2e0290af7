"""The plain-words ``why`` of each candidate: "CIT: Ofc 4411, available, 1.2 km, ~3 min, same beat".

Only unit, officer and roster facts go in here: never anything from the call's narrative or address.
"""

from __future__ import annotations

import datetime as dt

from dispatch_bridge.roster.table import TeamState, UnitEntry

_CLASS_WORDS = {0: "available", 1: "available on scene", 2: "en route to a lower-priority call"}
_AFFINITY_WORDS = {0: "same beat", 1: "same district"}
_TEAM_WORDS = {"mobile_crisis": "Mobile crisis team", "co_responder": "Co-responder team"}


def distance_words(metres: float) -> str:
    return f"{round(metres / 10) * 10:.0f} m" if metres < 1000 else f"{metres / 1000:.1f} km"


def eta_words(seconds: float) -> str:
    return f"~{max(1, round(seconds / 60))} min"


def age_words(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _crew_words(members: tuple[str, ...]) -> str:
    return "CIT: " + ", ".join(f"Ofc {m}" for m in members) if members else "No CIT officer aboard"


def _travel_words(
    parts: list[str], distance_m: float | None, eta_s: float | None, stale: bool, age_s: float | None,
    no_call_location: bool,
) -> None:
    if distance_m is not None and eta_s is not None:
        parts.append(distance_words(distance_m))
        parts.append(eta_words(eta_s))
        if stale and age_s is not None:
            parts.append(f"location {age_words(age_s)} old, ETA uncertain")
    elif no_call_location:
        parts.append("call has no coordinates, ranked by beat/district")
    else:
        parts.append("no unit location, ETA unknown")


def describe_unit(
    entry: UnitEntry, members: tuple[str, ...], avail: int, distance_m: float | None, eta_s: float | None,
    affinity: int, stale: bool, age_s: float | None, no_call_location: bool,
) -> str:
    parts = [_crew_words(members)]
    words = _CLASS_WORDS[avail]
    status = entry.status
    if avail == 2 and status is not None and status.assignment_priority is not None:
        words += f" (P{status.assignment_priority})"
    parts.append(words)
    _travel_words(parts, distance_m, eta_s, stale, age_s, no_call_location)
    if affinity in _AFFINITY_WORDS:
        parts.append(_AFFINITY_WORDS[affinity])
    return ", ".join(parts)


def describe_team(
    state: TeamState, members: tuple[str, ...], distance_m: float | None, eta_s: float | None, affinity: int,
    stale: bool, age_s: float | None, now: dt.datetime,
) -> str:
    team = state.team
    parts = [_TEAM_WORDS.get(team.kind, "Team")]
    if members:
        parts.append(_crew_words(members))
    if state.entry is None:
        parts.append("status not reported by CAD")
    else:
        parts.append("available" if state.entry.avail in (0, 1) else "has room for another call")
    until = state.shift_until
    if until is not None and team.schedule is not None and until - now <= dt.timedelta(hours=24):
        parts.append(f"on shift until {until.astimezone(team.schedule.tz):%H:%M}")
    if distance_m is not None and eta_s is not None:
        _travel_words(parts, distance_m, eta_s, stale, age_s, False)
    parts.append("serves this area" if team.area is not None else "serves everywhere")
    if affinity in _AFFINITY_WORDS:
        parts.append(_AFFINITY_WORDS[affinity])
    return ", ".join(parts)
