"""Play a shift forward: calls arrive, a plain dispatcher sends the nearest free units, units drive, clear, patrol.

The simulated dispatcher knows nothing about CIT training (that is the gap dispatch-bridge fills), so what it
sends is only the backdrop against which the bridge's recommendations are judged. Everything is derived from
one ``random.Random`` and integer second offsets, so the same seed gives byte-identical events.

Unit movement is consistent by construction: each unit's life is a sequence of busy spells (a call, a meal
break, out of service at shift start) separated by free gaps; during a gap a patrol car reports its position
every ten minutes while drifting back to its beat, and the next call starts from the last reported position.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from dispatch_bridge.contracts import (
    AssignedUnit,
    Incident,
    IncidentEvent,
    Location,
    NarrativeEntry,
    UnitLocation,
    UnitStatus,
)
from dispatch_bridge.demo import city
from dispatch_bridge.demo.fleet import UnitPlan, in_service
from dispatch_bridge.demo.scenarios import CallScript, Change, Scenario

Point = tuple[float, float]
SHIFT_SECONDS = 8 * 3600
# Free patrol cars report their position this often: under the roster's 5-minute staleness bound.
AVL_INTERVAL_S = 240
_MEAL_S = 1800
# Seconds from call entry to dispatch, by priority: a dispatcher's queue, not a law of nature.
_QUEUE_S = {1: (20, 60), 2: (45, 180), 3: (90, 600), 4: (180, 1200)}
_ROAD_FACTOR = 1.3
_STATUS_TEXT = {
    "available": "10-8",
    "dispatched": "DISP",
    "enroute": "ENRT",
    "on_scene": "10-97",
    "out_of_service": "10-7M",
    "off_duty": "OFF",
}


@dataclass(frozen=True, slots=True)
class CallFacts:
    """Ground truth about one generated call, for tests and for judging the bridge's output."""

    incident_id: str
    scenario: str
    behavioral: bool
    weapon: bool
    disguised: bool
    first_nature_code: str
    final_nature_code: str
    revisions: int
    duplicates: int = 0
    out_of_order: int = 0


@dataclass(slots=True)
class _Unit:
    plan: UnitPlan
    free_at: int
    loc: Point
    # (offset, status, location, the call it is committed to and that call's priority)
    events: list[tuple[int, str, Point, tuple[str, int] | None]] = field(default_factory=list)


@dataclass(slots=True)
class _Snapshot:
    nature_code: str
    nature_text: str
    apco_type: str | None
    priority: int
    determinant: str | None
    narrative: list[tuple[int, str]]
    flags: list[str]
    units: dict[str, dict[str, int | None]]
    disposition: list[str] = field(default_factory=list)


# An edit gets the snapshot and the moment it happens (narrative lines are stamped with it).
Edit = Callable[[_Snapshot, int], None]


class Simulation:
    def __init__(self, rng: random.Random, seed: int, start: dt.datetime, plans: list[UnitPlan], agency: str) -> None:
        self.rng = rng
        self.seed = seed
        self.start = start
        self.agency = agency
        self.premises = city.premises(rng)
        self.units = {p.unit_id: _Unit(p, 0, p.home) for p in plans}
        # (offset, kind rank, sequence, topic kind, event): units sort before incidents at the same second so
        # that the roster already shows a dispatch when the incident update naming it arrives.
        self._timeline: list[tuple[int, int, int, str, Any]] = []
        self.facts: dict[str, CallFacts] = {}

    # --- time and place ---------------------------------------------------------------------------------------

    def at(self, offset: int) -> dt.datetime:
        return self.start + dt.timedelta(seconds=offset)

    def _pings(self, unit: _Unit, until: int) -> list[tuple[int, Point]]:
        """AVL reports of a free patrol car between ``unit.free_at`` and ``until``, drifting back to its beat."""
        if unit.plan.kind != "patrol":
            return []
        out: list[tuple[int, Point]] = []
        loc = unit.loc
        t = unit.free_at + AVL_INTERVAL_S
        k = 0
        while t <= until - 60:
            k += 1
            # A per-gap generator keeps the path identical whether asked while choosing a unit or when emitting.
            step = random.Random(f"{self.seed}/{unit.plan.unit_id}/{unit.free_at}/{k}")
            home = unit.plan.home
            loc = city.jitter(step, loc[0] + 0.6 * (home[0] - loc[0]), loc[1] + 0.6 * (home[1] - loc[1]), 250)
            out.append((t, (round(loc[0], 6), round(loc[1], 6))))
            t += AVL_INTERVAL_S
        return out

    def _location_at(self, unit: _Unit, t: int) -> Point:
        pings = self._pings(unit, t)
        return pings[-1][1] if pings else unit.loc

    def _close_gap(self, unit: _Unit, until: int) -> Point:
        pings = self._pings(unit, until)
        for t, loc in pings:
            unit.events.append((t, "available", loc, None))
        return pings[-1][1] if pings else unit.loc

    def _free(self, unit: _Unit, t: int) -> bool:
        return unit.free_at + 30 <= t

    # --- roster set-up and breaks -----------------------------------------------------------------------------

    def initial_roster(self, out_of_service: int) -> list[UnitStatus]:
        patrol = [u for u in self.units.values() if u.plan.kind == "patrol"]
        down = {u.plan.unit_id for u in self.rng.sample(patrol, out_of_service)}
        roster = []
        for unit in self.units.values():
            status = "available"
            if unit.plan.unit_id in down:
                status = "out_of_service"
                unit.free_at = self.rng.randint(1800, 5400)
                unit.events.append((unit.free_at, "available", unit.loc, None))
            elif unit.plan.service_hours is not None and not self._team_on(unit, 0):
                status = "off_duty"
            text = "OOS" if status == "out_of_service" else None
            roster.append(self._unit_status(unit.plan, 0, status, unit.loc, text))
        return roster

    def meal_break(self, t: int) -> None:
        patrol = [u for u in self.units.values() if u.plan.kind == "patrol" and self._free(u, t)]
        if not patrol:
            return
        unit = self.rng.choice(patrol)
        loc = self._close_gap(unit, t)
        unit.events.append((t, "out_of_service", loc, None))
        unit.free_at, unit.loc = t + _MEAL_S, loc
        unit.events.append((unit.free_at, "available", loc, None))

    def _team_on(self, unit: _Unit, t: int, district: str | None = None) -> bool:
        return in_service(unit.plan.service_hours, unit.plan.service_area, self.at(t), district)

    # --- one call -----------------------------------------------------------------------------------------------

    def _place(self, script: CallScript) -> tuple[city.Place, tuple[str, ...]]:
        if script.place == "premise":
            named = [p for p in self.premises if p.name in script.premise_hint]
            premise = named[0] if named else self.rng.choice(self.premises)
            return premise.place, premise.flags
        if script.place == "intersection":
            return city.intersection(self.rng), ()
        return city.random_place(self.rng), ()

    def _pick(self, pool: list[_Unit], t: int, target: Point, n: int) -> list[_Unit]:
        ranked = sorted(pool, key=lambda u: (city.distance_m(self._location_at(u, t), target), u.plan.unit_id))
        return ranked[:n]

    def _drive(self, unit: _Unit, td: int, target: Point, speed_ms: float, job: tuple[str, int]) -> tuple[int, int]:
        """Send a unit at ``td``: returns (enroute_at, on_scene_at) and records its status changes."""
        origin = self._close_gap(unit, td)
        unit.events.append((td, "dispatched", origin, job))
        te = td + self.rng.randint(10, 45)
        unit.events.append((te, "enroute", origin, job))
        travel = max(60, int(city.distance_m(origin, target) * _ROAD_FACTOR / speed_ms))
        if travel > 180:
            mid = (round((origin[0] + target[0]) / 2, 6), round((origin[1] + target[1]) / 2, 6))
            unit.events.append((te + travel // 2, "enroute", mid, job))
        ta = te + travel
        unit.events.append((ta, "on_scene", target, job))
        return te, ta

    def call(self, number: int, t0: int, scenario: Scenario) -> None:
        rng = self.rng
        script = scenario(rng)
        place, premise_flags = self._place(script)
        target = (place.lat, place.lon)
        incident_id = f"INC-{number:04d}"
        edits: list[tuple[int, Edit]] = []

        # Dispatch: the nearest free patrol cars; if none is free, the call waits in the queue.
        td = t0 + rng.randint(*_QUEUE_S.get(script.priority, (60, 600)))
        patrol = [u for u in self.units.values() if u.plan.kind == "patrol"]
        while not (free := [u for u in patrol if self._free(u, td)]):
            td = min(u.free_at for u in patrol) + 30 + rng.randint(0, 60)
        sent = self._pick(free, td, target, script.units)
        speed = 16.7 if script.priority == 1 else 11.1
        times: dict[str, dict[str, int | None]] = {}
        for i, unit in enumerate(sent):
            tdi = td + i * rng.randint(0, 20)
            te, ta = self._drive(unit, tdi, target, speed, (incident_id, script.priority))
            times[unit.plan.unit_id] = {"dispatched_at": tdi, "enroute_at": te, "on_scene_at": ta, "cleared_at": None}
        first_on_scene = min(int(v["on_scene_at"] or 0) for v in times.values())
        scene_s = rng.randint(*script.scene_minutes) * 60
        close = first_on_scene + scene_s

        # A crisis team joins when the officers ask for one and a team is free, working and covers the district.
        if script.team and rng.random() < 0.7:
            tt = first_on_scene + rng.randint(180, 600)
            teams = [
                u
                for u in self.units.values()
                if u.plan.kind != "patrol" and self._free(u, tt) and self._team_on(u, tt, place.district)
            ]
            if teams and tt < close - 300:
                team = self._pick(teams, tt, target, 1)[0]
                te, ta = self._drive(team, tt, target, 11.1, (incident_id, script.priority))
                close = max(close, ta + rng.randint(20, 50) * 60)
                times[team.plan.unit_id] = {
                    "dispatched_at": tt, "enroute_at": te, "on_scene_at": ta, "cleared_at": None,
                }  # fmt: skip
                label = "MOBILE CRISIS" if team.plan.kind == "mobile_crisis" else "CO-RESPONDER"
                edits.append((tt, _say(f"UNITS REQ {label}, {team.plan.unit_id} ASSIGNED")))

        # Units clear: the primary at close, others earlier once the scene is under control.
        primary = sent[0].plan.unit_id
        for unit_id, unit_times in times.items():
            on_scene = int(unit_times["on_scene_at"] or 0)
            cleared = close if unit_id == primary else max(on_scene + 300, close - rng.randint(0, 1200))
            cleared = min(cleared, close)
            unit_times["cleared_at"] = cleared = max(cleared, on_scene + 60)
            close = max(close, cleared)
            unit = self.units[unit_id]
            after = "available"
            if unit.plan.service_hours is not None and not self._team_on(unit, cleared):
                after = "off_duty"
            unit.events.append((cleared, after, target, None))
            unit.free_at, unit.loc = cleared, target

        # The call's life as timed edits; edits at the same second become one revision.
        for unit_id, unit_times in times.items():
            for key in ("dispatched_at", "enroute_at", "on_scene_at", "cleared_at"):
                edits.append((int(unit_times[key] or 0), _unit_time(unit_id, key, int(unit_times[key] or 0))))
        anchors = {"created": t0, "dispatched": td, "on_scene": first_on_scene}
        for change in script.changes:
            when = min(anchors[change.after] + change.delay_s, close - 60)
            edits.append((max(when, t0 + 1), _apply(change)))
        edits.append((close, _close(script.disposition)))

        first = _Snapshot(
            nature_code=script.nature_code,
            nature_text=script.nature_text,
            apco_type=script.apco_type,
            priority=script.priority,
            determinant=script.determinant,
            narrative=[(t0 - 15 * (len(script.narrative) - 1 - i), text) for i, text in enumerate(script.narrative)],
            flags=list(dict.fromkeys(script.flags + premise_flags)),
            units={},
        )
        location = Location(
            address=place.address, lat=place.lat, lon=place.lon, beat=place.beat, district=place.district
        )
        revisions = self._emit_incident(incident_id, t0, first, location, script.caller_party, edits)
        self.facts[incident_id] = CallFacts(
            incident_id=incident_id,
            scenario=script.scenario,
            behavioral=script.behavioral,
            weapon=script.weapon,
            disguised=script.disguised,
            first_nature_code=script.nature_code,
            final_nature_code=first.nature_code,
            revisions=revisions,
        )

    def _emit_incident(
        self,
        incident_id: str,
        t0: int,
        snap: _Snapshot,
        location: Location,
        caller_party: str,
        edits: list[tuple[int, Edit]],
    ) -> int:
        moments = [t0, *sorted({t for t, _ in edits if t > t0})]
        by_time: dict[int, list[Edit]] = {}
        for t, edit in edits:
            by_time.setdefault(max(t, t0), []).append(edit)
        for revision, t in enumerate(moments, start=1):
            for edit in by_time.get(t, ()):
                edit(snap, t)
            event_type = "incident.created" if revision == 1 else "incident.updated"
            if revision == len(moments):
                event_type = "incident.closed"
            incident = Incident(
                id=incident_id,
                revision=revision,
                nature_code=snap.nature_code,
                nature_text=snap.nature_text,
                apco_type=snap.apco_type,
                priority=snap.priority,
                determinant=snap.determinant,
                caller_party=caller_party,  # type: ignore[arg-type]
                narrative=[NarrativeEntry(at=self.at(at), text=text) for at, text in snap.narrative],
                location=location,
                flags=list(snap.flags),
                units=[
                    AssignedUnit(unit_id=unit_id, **{k: self.at(v) for k, v in times.items() if v is not None})
                    for unit_id, times in snap.units.items()
                ],
                disposition=list(snap.disposition),
            )
            event = IncidentEvent(
                schema_version=1,
                event_id=f"{self.agency}-{incident_id}-r{revision}",
                event_type=event_type,
                occurred_at=self.at(t),
                agency=self.agency,
                incident=incident,
            )
            self._timeline.append((t, 1, len(self._timeline), "incidents", event))
        return len(moments)

    # --- finishing ------------------------------------------------------------------------------------------

    def finish(self, shift_end: int) -> None:
        """Close every unit's last gap, add team on/off-duty changes, and turn unit histories into events.

        Free units keep reporting until the last call of the watch has closed, not just to the watch's end.
        """
        last_call = max((t for t, _, _, kind, _ in self._timeline if kind == "incidents"), default=0)
        for unit in self.units.values():
            self._close_gap(unit, max(shift_end, last_call))
            if unit.plan.service_hours is not None:
                self._team_boundaries(unit, shift_end)
            for t, status, loc, job in sorted(unit.events, key=lambda e: e[0]):
                event = self._unit_status(unit.plan, t, status, loc, job=job)
                self._timeline.append((t, 0, len(self._timeline), "units", event))

    def _team_boundaries(self, unit: _Unit, shift_end: int) -> None:
        busy: list[tuple[int, int]] = []
        spell_start: int | None = None
        history = sorted(unit.events, key=lambda e: e[0])
        for t, status, _, _ in history:
            if status == "dispatched":
                spell_start = t
            elif status in ("available", "off_duty") and spell_start is not None:
                busy.append((spell_start, t))
                spell_start = None
        on = self._team_on(unit, 0)
        for t in range(60, shift_end, 60):
            now_on = self._team_on(unit, t)
            if now_on != on and not any(a <= t <= b for a, b in busy):
                where = next((loc for at, _, loc, _ in reversed(history) if at < t), unit.plan.home)
                unit.events.append((t, "available" if now_on else "off_duty", where, None))
            on = now_on

    def _unit_status(
        self,
        plan: UnitPlan,
        t: int,
        status: str,
        loc: Point,
        text: str | None = None,
        job: tuple[str, int] | None = None,
    ) -> UnitStatus:
        at = self.at(t)
        return UnitStatus(
            schema_version=1,
            unit_id=plan.unit_id,
            kind=plan.kind,  # type: ignore[arg-type]
            status=status,  # type: ignore[arg-type]
            status_text=text or _STATUS_TEXT[status],
            location=UnitLocation(lat=loc[0], lon=loc[1], at=at),
            crew=list(plan.crew),
            beat=plan.beat,
            district=plan.district,
            updated_at=at,
            service_hours=plan.service_hours,
            service_area=plan.service_area,
            capacity=plan.capacity,
            assignment_id=job[0] if job else None,
            assignment_priority=job[1] if job else None,
        )

    def redeliveries(self, calls: int) -> None:
        """Add what real CAD feeds do: exact redeliveries, snapshot resends, and a revision that arrives late."""
        rng = self.rng
        per_call: dict[str, list[int]] = {}
        for index, (_, _, _, kind, event) in enumerate(self._timeline):
            if kind == "incidents":
                per_call.setdefault(event.incident.id, []).append(index)
        eligible = sorted(i for i, idx in per_call.items() if len(idx) >= 4)
        chosen = rng.sample(eligible, max(2, calls // 40) + 2 * max(2, calls // 50))
        n_dup = max(2, calls // 40)
        n_resend = max(2, calls // 50)
        for position, incident_id in enumerate(chosen):
            indices = per_call[incident_id]
            facts = self.facts[incident_id]
            if position < n_dup + n_resend:
                t, rank, _, kind, event = self._timeline[rng.choice(indices[1:-1])]
                later = t + rng.randint(2, 20)
                if position >= n_dup:
                    event = event.model_copy(
                        update={"event_id": f"{event.event_id}-resend", "occurred_at": self.at(later)}
                    )
                self._timeline.append((later, rank, len(self._timeline), kind, event))
                self.facts[incident_id] = replace(facts, duplicates=facts.duplicates + 1)
            else:
                # Revision i shows up just after revision i+1: a late snapshot the bridge must ignore.
                i = rng.randrange(1, len(indices) - 2)
                t_next = self._timeline[indices[i + 1]][0]
                _, rank, seq, kind, event = self._timeline[indices[i]]
                self._timeline[indices[i]] = (t_next + rng.randint(1, 5), rank, seq, kind, event)
                self.facts[incident_id] = replace(facts, out_of_order=facts.out_of_order + 1)

    def timeline(self) -> list[tuple[float, str, IncidentEvent | UnitStatus]]:
        ordered = sorted(self._timeline, key=lambda e: (e[0], e[1], e[2]))
        return [(float(t), kind, event) for t, _, _, kind, event in ordered]


def _say(text: str) -> Edit:
    def edit(snap: _Snapshot, t: int) -> None:
        snap.narrative.append((t, text))

    return edit


def _unit_time(unit_id: str, key: str, t: int) -> Edit:
    def edit(snap: _Snapshot, _t: int) -> None:
        snap.units.setdefault(
            unit_id, {"dispatched_at": None, "enroute_at": None, "on_scene_at": None, "cleared_at": None}
        )[key] = t

    return edit


def _apply(change: Change) -> Edit:
    def edit(snap: _Snapshot, t: int) -> None:
        for text in change.narrative:
            snap.narrative.append((t, text))
        if change.nature is not None:
            snap.nature_code, snap.nature_text, snap.apco_type = change.nature
        if change.priority is not None:
            snap.priority = change.priority
        if change.determinant is not None:
            snap.determinant = change.determinant
        for flag in change.flags:
            if flag not in snap.flags:
                snap.flags.append(flag)

    return edit


def _close(disposition: tuple[str, ...]) -> Edit:
    def edit(snap: _Snapshot, t: int) -> None:
        snap.narrative.append((t, "ALL UNITS CLR"))
        snap.disposition = list(disposition)

    return edit
