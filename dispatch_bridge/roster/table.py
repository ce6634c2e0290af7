"""The roster: every unit the CAD reports, its crew's CIT certification, and the teams' service rules.

One instance per process, fed by the ``cad.units`` table reader (``apply_unit`` / ``remove_unit``), the
personnel file and the optional ``cit.personnel`` topic, and the teams file. Everything here is in-memory and
synchronous: the asyncio shell calls it from the event loop, ranking reads it in the same loop.

Indexes kept up to date on every update (O(1) per AVL update, no scans):

* per availability class, a spatial grid of all located patrol units and one of those with a CIT-certified
  member (``grids_all`` / ``grids_cit``), plus the unlocated ones beside each grid;
* patrol units by beat and by district, for calls without coordinates;
* officers to the units they are aboard, so a certification change touches only those units.

Certification is a window of local dates per crew member (see ``personnel`` for which source wins); whether it
covers *today* is checked at query time, so expiries need no timer.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from dispatch_bridge.contracts.incident import Incident
from dispatch_bridge.contracts.structs import decode_unit_status
from dispatch_bridge.contracts.unit import UnitStatus
from dispatch_bridge.roster.config import RosterSettings
from dispatch_bridge.roster.grid import SpatialGrid
from dispatch_bridge.roster.personnel import NO_END, NO_START, PersonnelRecord, parse_personnel_record
from dispatch_bridge.roster.personnel import load_personnel_file as read_personnel_file
from dispatch_bridge.roster.status import (
    AVAILABLE,
    CLASS_NAMES,
    NOT_AVAILABLE,
    ON_SCENE_AVAILABLE,
    OUT_OF_SERVICE,
    TEAM_KINDS,
    availability_class,
    team_has_room,
)
from dispatch_bridge.roster.teams import TeamConfig, compile_team
from dispatch_bridge.roster.teams import load_teams_file as read_teams_file
from dispatch_bridge.roster.views import coverage_view, roster_view

Certification = tuple[str, int, int, str]  # officer id, first day, last day (local date ordinals), source


class UnitEntry:
    """One unit's latest status plus what the indexes and ranking need, derived once per update."""

    __slots__ = (
        "unit_id", "status", "kind", "avail", "lat", "lon", "fix_ts", "certs", "cit_first", "cit_last",
        "indexed", "cell", "in_cit_grid", "beat", "district", "cit_free", "team_free",
    )

    def __init__(self, unit_id: str) -> None:
        self.unit_id = unit_id
        self.status: UnitStatus | None = None
        self.kind = ""
        self.avail = NOT_AVAILABLE
        self.lat: float | None = None
        self.lon: float | None = None
        self.fix_ts = 0.0
        self.certs: tuple[Certification, ...] = ()
        # Union bounds of the crew's windows: a quick "nobody aboard can be certified today" reject.
        self.cit_first = NO_END
        self.cit_last = NO_START
        self.indexed = NOT_AVAILABLE  # the class whose grid (or unlocated dict) holds the entry now
        self.cell: int | None = None  # its grid key there, None when unlocated
        self.in_cit_grid = False
        self.beat: str | None = None
        self.district: str | None = None
        self.cit_free = False
        self.team_free = False

    def cit_members(self, day: int) -> tuple[str, ...]:
        """Crew members certified on local date ordinal ``day``."""
        if not (self.cit_first <= day <= self.cit_last):
            return ()
        return tuple(officer for officer, first, last, _ in self.certs if first <= day <= last)

    def has_cit(self, day: int) -> bool:
        if not (self.cit_first <= day <= self.cit_last):
            return False
        for _, first, last, _ in self.certs:
            if first <= day <= last:
                return True
        return False


@dataclass(frozen=True, slots=True)
class RosterChange:
    """What an update changed that matters for re-ranking (shared instances: no allocation per update)."""

    applied: bool
    cit_capacity_gained: bool = False
    cit_capacity_lost: bool = False
    team_capacity_gained: bool = False
    team_capacity_lost: bool = False

    @property
    def capacity_gained(self) -> bool:
        return self.cit_capacity_gained or self.team_capacity_gained

    def __or__(self, other: RosterChange) -> RosterChange:
        return _change(
            self.applied or other.applied,
            self.cit_capacity_gained or other.cit_capacity_gained,
            self.cit_capacity_lost or other.cit_capacity_lost,
            self.team_capacity_gained or other.team_capacity_gained,
            self.team_capacity_lost or other.team_capacity_lost,
        )


_CHANGES = {
    (a, b, c, d, e): RosterChange(a, b, c, d, e)
    for a in (False, True) for b in (False, True) for c in (False, True) for d in (False, True)
    for e in (False, True)
}


def _change(applied: bool, cit_gain: bool, cit_loss: bool, team_gain: bool, team_loss: bool) -> RosterChange:
    return _CHANGES[(applied, cit_gain, cit_loss, team_gain, team_loss)]


IGNORED = _change(False, False, False, False, False)
APPLIED = _change(True, False, False, False, False)


@dataclass(frozen=True, slots=True)
class TeamState:
    """A team at one instant: on shift per its hours, what the CAD says, and whether it can take a call."""

    team: TeamConfig
    entry: UnitEntry | None  # None: declared in the teams file, never reported by the CAD
    on_shift: bool
    shift_until: dt.datetime | None  # end of the current shift / start of the next one; None: no schedule
    in_service: bool  # reported and not off duty / out of service (unreported: assumed in service)
    has_room: bool  # can take another call now (unreported: assumed yes)


def needs_rerank(change: RosterChange) -> bool:
    """True when open crisis incidents still lacking a CIT responder should be ranked again.

    Only gains qualify: a CIT unit became free (available / available on scene), someone aboard a free unit became
    certified, or a team became free. AVL movement alone never does (2,000/s would mean re-ranking everything
    all the time); the next incident update re-ranks with fresh positions anyway. Team shifts starting are time
    events, not roster events: see ``Roster.next_schedule_change``.
    """
    return change.cit_capacity_gained or change.team_capacity_gained


class _Snapshot(Protocol):
    unit_id: str
    updated_at: dt.datetime


Snapshot = TypeVar("Snapshot", bound=_Snapshot)
Tag = TypeVar("Tag")


def newest_per_unit(snapshots: Iterable[tuple[Snapshot, Tag]]) -> Iterable[tuple[Snapshot, Tag]]:
    """Of a batch of unit snapshots in order (each a tuple led by the snapshot, e.g. with its record), the one
    that ``Roster.apply_unit`` leaves in place for each unit: the latest ``updated_at``, the later one of a tie.

    Applying only these leaves the roster exactly as applying every one in order does: each of the others is
    either overwritten by a newer one or ignored as older, and what the roster derives from a snapshot (grid cell,
    crew index, certifications, team settings) depends on the unit's final snapshot alone. Draining a backlog, a
    batch holds about nine AVL pings per unit: they cost one apply per unit instead of one each.
    """
    newest: dict[str, tuple[Snapshot, Tag]] = {}
    for item in snapshots:
        status = item[0]
        kept = newest.get(status.unit_id)
        if kept is None or status.updated_at >= kept[0].updated_at:
            newest[status.unit_id] = item
    return newest.values()


class Roster:
    """The in-memory unit table. Not thread-safe; use it from one event loop."""

    def __init__(self, settings: RosterSettings) -> None:
        self.settings = settings
        self.tz = zoneinfo.ZoneInfo(settings.time_zone)
        self.units: dict[str, UnitEntry] = {}
        self._removed: dict[str, dt.datetime] = {}
        self.grids_all: tuple[SpatialGrid[UnitEntry], ...] = tuple(
            SpatialGrid(settings.grid_cell_degrees) for _ in CLASS_NAMES
        )
        self.grids_cit: tuple[SpatialGrid[UnitEntry], ...] = tuple(
            SpatialGrid(settings.grid_cell_degrees) for _ in CLASS_NAMES
        )
        # Patrol units in a proposable class but without a location, per class (all / CIT).
        self.unlocated_all: tuple[dict[str, UnitEntry], ...] = tuple({} for _ in CLASS_NAMES)
        self.unlocated_cit: tuple[dict[str, UnitEntry], ...] = tuple({} for _ in CLASS_NAMES)
        self.by_beat: dict[str, dict[str, UnitEntry]] = {}
        self.by_district: dict[str, dict[str, UnitEntry]] = {}
        self._officer_units: dict[str, set[str]] = {}
        self._personnel_file: dict[str, PersonnelRecord] = {}
        self._personnel_topic: dict[str, PersonnelRecord] = {}
        self._teams_file: dict[str, TeamConfig] = {}
        self._teams_event: dict[str, TeamConfig] = {}
        self.teams: dict[str, TeamConfig] = {}
        self._file_stamps: dict[Path, tuple[int, int]] = {}
        # The newest CAD timestamp seen: the "today" for change detection when an update carries no time.
        self._clock_hint: dt.datetime | None = None

    # ---- time helpers -------------------------------------------------------------------------------------

    def local_day(self, now: dt.datetime) -> int:
        """The agency's local calendar date at ``now``, as an ordinal (what certification windows use)."""
        return now.astimezone(self.tz).toordinal()

    # ---- unit feed ----------------------------------------------------------------------------------------

    def apply_unit(self, status: UnitStatus) -> RosterChange:
        """Apply one ``cad.units`` snapshot; an older ``updated_at`` than the one stored is ignored."""
        unit_id = status.unit_id
        entry = self.units.get(unit_id)
        if entry is None:
            removed_at = self._removed.get(unit_id)
            if removed_at is not None and status.updated_at <= removed_at:
                return IGNORED
            entry = self.units[unit_id] = UnitEntry(unit_id)
            previous = None
        else:
            previous = entry.status
            assert previous is not None
            if status.updated_at < previous.updated_at:
                return IGNORED
        if self._clock_hint is None or status.updated_at > self._clock_hint:
            self._clock_hint = status.updated_at

        was_cit_free, was_team_free = entry.cit_free, entry.team_free
        entry.status = status
        entry.kind = status.kind
        entry.avail = availability_class(status)
        location = status.location
        if location is None:
            entry.lat = entry.lon = None
            entry.fix_ts = 0.0  # no fix: nothing reads it, and the entry is then its last snapshot's alone
        else:
            entry.lat, entry.lon = location.lat, location.lon
            entry.fix_ts = (location.at or status.updated_at).timestamp()
        if previous is None or previous.crew != status.crew:
            self._set_crew(entry, previous)
        self._reindex(entry)
        self._set_affinity(entry, status.beat, status.district)
        if status.kind in TEAM_KINDS:
            self._update_team_config(entry, previous)
        elif unit_id in self._teams_event:  # the CAD re-typed a team as a plain unit
            del self._teams_event[unit_id]
            self._merge_teams()
        return self._classify(entry, was_cit_free, was_team_free, self.local_day(status.updated_at))

    def apply_unit_record(self, key: bytes | None, value: bytes | None) -> RosterChange:
        """One raw ``cad.units`` record: a JSON ``UnitStatus``, or a tombstone (null value, key = unit id).

        Raises ``pydantic.ValidationError`` for a record that is not a valid v1 unit status (the caller counts /
        dead-letters it; the roster is unchanged).
        """
        if value is None:
            return self.remove_unit(key.decode("utf-8", "replace")) if key else IGNORED
        return self.apply_unit(decode_unit_status(value))

    def remove_unit(self, unit_id: str) -> RosterChange:
        """Tombstone (null value on the compacted topic): forget the unit; older snapshots stay ignored."""
        entry = self.units.pop(unit_id, None)
        if entry is None:
            return IGNORED
        assert entry.status is not None
        self._removed[unit_id] = entry.status.updated_at
        self._unindex(entry)
        self._set_affinity(entry, None, None)
        # Every crew member is indexed (_set_crew), certified or not: a later certification record for one of
        # them must not find this unit.
        for member in entry.status.crew:
            units = self._officer_units.get(member.id)
            if units is not None:
                units.discard(unit_id)
                if not units:
                    del self._officer_units[member.id]
        if unit_id in self._teams_event:
            del self._teams_event[unit_id]
            self._merge_teams()
        return _change(True, False, entry.cit_free, False, entry.team_free)

    def _set_crew(self, entry: UnitEntry, previous: UnitStatus | None) -> None:
        assert entry.status is not None
        unit_id = entry.unit_id
        if previous is not None:
            for member in previous.crew:
                units = self._officer_units.get(member.id)
                if units is not None:
                    units.discard(unit_id)
                    if not units:
                        del self._officer_units[member.id]
        for member in entry.status.crew:
            self._officer_units.setdefault(member.id, set()).add(unit_id)
        self._set_certs(entry)

    def _set_certs(self, entry: UnitEntry) -> None:
        assert entry.status is not None
        certs: list[Certification] = []
        refresher = self.settings.refresher_interval_days
        for member in entry.status.crew:
            record = self._personnel_topic.get(member.id) or self._personnel_file.get(member.id)
            if record is not None:
                first, last = record.window(refresher)
                certs.append((member.id, first, last, "personnel"))
            elif member.cit_certified_until is not None:
                certs.append((member.id, NO_START, member.cit_certified_until.toordinal(), "unit_event"))
        valid = [c for c in certs if c[1] <= c[2]]
        entry.certs = tuple(certs)
        entry.cit_first = min((c[1] for c in valid), default=NO_END)
        entry.cit_last = max((c[2] for c in valid), default=NO_START)

    def _reindex(self, entry: UnitEntry) -> None:
        """Move the entry between grids / cells only when its class, cell or CIT-ness changed."""
        in_cit = entry.cit_first <= entry.cit_last
        avail = entry.avail if entry.kind == "patrol" else NOT_AVAILABLE
        if avail == NOT_AVAILABLE:
            self._unindex(entry)
            return
        key = self.grids_all[avail].key_of(entry.lat, entry.lon) if entry.lat is not None else None
        if entry.indexed == avail and entry.cell == key and entry.in_cit_grid == in_cit:
            return  # same class, same cell: the dicts already hold this entry
        self._unindex(entry)
        unit_id = entry.unit_id
        if key is None:
            self.unlocated_all[avail][unit_id] = entry
            if in_cit:
                self.unlocated_cit[avail][unit_id] = entry
        else:
            self.grids_all[avail].put(key, unit_id, entry)
            if in_cit:
                self.grids_cit[avail].put(key, unit_id, entry)
        entry.indexed, entry.cell, entry.in_cit_grid = avail, key, in_cit

    def _unindex(self, entry: UnitEntry) -> None:
        avail = entry.indexed
        if avail == NOT_AVAILABLE:
            return
        unit_id = entry.unit_id
        if entry.cell is None:
            self.unlocated_all[avail].pop(unit_id, None)
            self.unlocated_cit[avail].pop(unit_id, None)
        else:
            self.grids_all[avail].remove(entry.cell, unit_id)
            if entry.in_cit_grid:
                self.grids_cit[avail].remove(entry.cell, unit_id)
        entry.indexed, entry.cell, entry.in_cit_grid = NOT_AVAILABLE, None, False

    def _set_affinity(self, entry: UnitEntry, beat: str | None, district: str | None) -> None:
        if entry.kind != "patrol":
            beat = district = None
        if beat != entry.beat:
            _move(self.by_beat, entry, entry.beat, beat)
            entry.beat = beat
        if district != entry.district:
            _move(self.by_district, entry, entry.district, district)
            entry.district = district

    def _classify(self, entry: UnitEntry, was_cit_free: bool, was_team_free: bool, day: int) -> RosterChange:
        status = entry.status
        assert status is not None
        cit_free = entry.kind == "patrol" and entry.avail in (AVAILABLE, ON_SCENE_AVAILABLE) and entry.has_cit(day)
        team = self.teams.get(entry.unit_id)
        capacity = team.capacity if team is not None else None
        team_free = entry.kind in TEAM_KINDS and team_has_room(status, capacity)
        entry.cit_free, entry.team_free = cit_free, team_free
        return _change(
            True,
            cit_free and not was_cit_free,
            was_cit_free and not cit_free,
            team_free and not was_team_free,
            was_team_free and not team_free,
        )

    # ---- personnel ----------------------------------------------------------------------------------------

    def apply_personnel(self, record: PersonnelRecord) -> RosterChange:
        """A ``cit.personnel`` topic record (replaces the file's record for the same officer)."""
        self._personnel_topic[record.officer_id] = record
        return self._recertify((record.officer_id,))

    def apply_personnel_record(self, key: bytes | None, value: bytes | None) -> RosterChange:
        """One raw ``cit.personnel`` record (see ``parse_personnel_record``), or a tombstone (null value).

        Raises ``PersonnelFormatError`` for a record it cannot read (the roster is unchanged).
        """
        if value is None:
            return self.remove_personnel(key) if key else IGNORED
        return self.apply_personnel(parse_personnel_record(key, value))

    def remove_personnel(self, officer_id: str | bytes) -> RosterChange:
        """A ``cit.personnel`` tombstone: the file record (or the unit events' value) applies again."""
        if isinstance(officer_id, bytes):
            officer_id = officer_id.decode("utf-8", "replace").strip()
        if self._personnel_topic.pop(officer_id, None) is None:
            return IGNORED
        return self._recertify((officer_id,))

    def load_personnel_file(self, path: Path) -> RosterChange:
        """Replace the file-sourced records with ``path`` (CSV or YAML); raises on a bad file, changing nothing."""
        records = read_personnel_file(path)
        previous = self._personnel_file
        self._personnel_file = {record.officer_id: record for record in records}
        self._file_stamps[path] = _stamp(path)
        current = self._personnel_file
        changed = {o for o in previous.keys() | current.keys() if previous.get(o) != current.get(o)}
        return self._recertify(changed)

    def personnel_record(self, officer_id: str) -> PersonnelRecord | None:
        return self._personnel_topic.get(officer_id) or self._personnel_file.get(officer_id)

    def personnel_records(self) -> list[PersonnelRecord]:
        """Every certification record in force (topic records replace the file's), for the coordinator report."""
        return list({**self._personnel_file, **self._personnel_topic}.values())

    def _recertify(self, officers: Iterable[str]) -> RosterChange:
        day = self.local_day(self._clock_hint) if self._clock_hint is not None else None
        result = APPLIED
        for officer in officers:
            for unit_id in tuple(self._officer_units.get(officer, ())):
                entry = self.units[unit_id]
                self._set_certs(entry)
                self._reindex(entry)
                if day is not None:
                    result = result | self._classify(entry, entry.cit_free, entry.team_free, day)
                elif entry.cit_first <= entry.cit_last and entry.avail in (AVAILABLE, ON_SCENE_AVAILABLE):
                    result = result | _change(True, True, False, False, False)
        return result

    # ---- teams --------------------------------------------------------------------------------------------

    def load_teams_file(self, path: Path) -> RosterChange:
        """Replace the file-declared teams with ``path``; raises ``TeamsFileError`` on a bad file, changing nothing.

        Reports a team capacity gain whenever the file changed anything, so the service re-ranks (cheap, rare).
        """
        teams = read_teams_file(path)
        self._file_stamps[path] = _stamp(path)
        self._teams_file = teams
        self._merge_teams()
        return _change(True, False, False, True, True)

    def _update_team_config(self, entry: UnitEntry, previous: UnitStatus | None) -> None:
        status = entry.status
        assert status is not None
        if (
            previous is not None
            and entry.unit_id in self._teams_event
            and previous.service_hours == status.service_hours
            and previous.service_area == status.service_area
            and previous.capacity == status.capacity
            and previous.kind == status.kind
        ):
            return
        self._teams_event[entry.unit_id] = compile_team(
            entry.unit_id, status.kind, status.capacity, status.service_hours, status.service_area, "unit_event"
        )
        self._merge_teams()

    def _merge_teams(self) -> None:
        self.teams = {**self._teams_event, **self._teams_file}

    def next_schedule_change(self, now: dt.datetime) -> dt.datetime | None:
        """The earliest instant after ``now`` at which some team goes on or off shift (None: no scheduled team).

        The service sleeps until then and re-ranks open crisis incidents still lacking a CIT responder.
        """
        soonest: dt.datetime | None = None
        for team in self.teams.values():
            if team.schedule is not None:
                until = team.schedule.next_change(now)
                if soonest is None or until < soonest:
                    soonest = until
        return soonest

    def teams_changed_since(self, previous: dt.datetime, now: dt.datetime) -> bool:
        """True when some team went on or off shift in (previous, now]."""
        return any(
            team.schedule is not None and team.schedule.next_change(previous) <= now for team in self.teams.values()
        )

    def team_state(self, unit_id: str, now: dt.datetime) -> TeamState | None:
        team = self.teams.get(unit_id)
        if team is None:
            return None
        if team.schedule is None:
            on_shift, until = True, None
        else:
            state = team.schedule.state(now)
            on_shift, until = state.on_shift, state.until
        entry = self.units.get(unit_id)
        status = entry.status if entry is not None else None
        if status is None:
            # Never reported: proposable (propose_unreported_teams). Deleted by the CAD (a tombstone): out of
            # service until it reports again, not "never reported".
            removed = unit_id in self._removed
            return TeamState(team, None, on_shift, until, not removed, not removed)
        return TeamState(team, entry, on_shift, until, status.status not in OUT_OF_SERVICE,
                         team_has_room(status, team.capacity))

    # ---- files ------------------------------------------------------------------------------------------

    def refresh_files(self, personnel_file: Path | None, teams_file: Path | None) -> RosterChange:
        """Reload whichever file changed (mtime or size) since it was last read; call it every few seconds.

        A bad file raises (``PersonnelFormatError`` / ``TeamsFileError``, after the other file was still
        refreshed) once per edit, not on every call, and its previous contents stay in force. A missing file
        raises ``OSError`` on every call (it was configured, so that is worth hearing about).
        """
        result = IGNORED
        failure: Exception | None = None
        for path, load in ((personnel_file, self.load_personnel_file), (teams_file, self.load_teams_file)):
            if path is None:
                continue
            stamp = _stamp(path)
            if self._file_stamps.get(path) == stamp:
                continue
            self._file_stamps[path] = stamp  # even if it fails: retry when the file changes again
            try:
                result = result | load(path)
            except ValueError as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
        return result

    # ---- views ------------------------------------------------------------------------------------------

    def view(self, now: dt.datetime) -> list[dict[str, Any]]:
        """JSON-ready rows for ``GET /v1/roster`` (see ``views.roster_view``)."""
        return roster_view(self, now)

    def coverage(self, now: dt.datetime) -> dict[str, Any]:
        """JSON-ready ``GET /v1/coverage`` body and the coverage gauges' numbers (see ``views.coverage_view``)."""
        return coverage_view(self, now)

    # ---- incidents -----------------------------------------------------------------------------------------

    def has_cit_responder(self, incident: Incident, now: dt.datetime) -> bool:
        """Whether a unit with a crew member certified today is assigned to the incident and not cleared."""
        day = self.local_day(now)
        return any(entry is not None and entry.has_cit(day) for entry in map(self.units.get, _on_call(incident)))

    def has_team_responder(self, incident: Incident, kinds: tuple[str, ...]) -> bool:
        """Whether a team of one of ``kinds`` (by its unit events, or the teams file) is assigned to the incident
        and not cleared."""
        for unit_id in _on_call(incident):
            entry, team = self.units.get(unit_id), self.teams.get(unit_id)
            if (entry.kind if entry is not None else team.kind if team is not None else None) in kinds:
                return True
        return False


def _on_call(incident: Incident) -> Iterator[str]:
    """The units assigned to the incident and not cleared from it."""
    return (assigned.unit_id for assigned in incident.units if assigned.cleared_at is None)


def _move(index: dict[str, dict[str, UnitEntry]], entry: UnitEntry, old: str | None, new: str | None) -> None:
    if old is not None:
        bucket = index.get(old)
        if bucket is not None:
            bucket.pop(entry.unit_id, None)
            if not bucket:
                del index[old]
    if new is not None:
        index.setdefault(new, {})[entry.unit_id] = entry


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return (stat.st_mtime_ns, stat.st_size)
