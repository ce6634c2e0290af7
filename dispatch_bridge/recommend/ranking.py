"""Rank responders for one incident: pure (no clock, no I/O), answers in tens of microseconds at 10,000 units.

Per response tier:

* ``cit_officer``: patrol units with a crew member CIT-certified today. None -> ``no_cit_available`` and the
  nearest available patrol units instead.
* ``mobile_crisis``: mobile crisis teams whose service area contains the call and who are on shift, in service and
  have room. None -> the reason (``team_busy`` / ``team_out_of_service`` / ``team_out_of_hours`` /
  ``team_out_of_area`` / ``no_team_configured``, the one closest to success) and CIT officers instead (Austin's
  rule).
* ``co_response``: the best CIT officer and the best team (mobile crisis or co-responder) first, then the other
  officers and teams; a missing side is recorded as above.
* ``ems_with_cit``: CIT officers, plus ``ems_by_cad``: EMS is dispatched by the CAD's own rules, not by us.
* ``police_only``: the nearest available patrol units; a unit with a CIT member is preferred over one without when
  it is at most ``police_only_cit_preference_seconds`` farther (CIT helps, speed matters more here).
* ``none``: no candidates, ``no_response_needed``.

Order within a tier: availability class (settings ``availability_order``), then ETA in buckets of
``eta_bucket_seconds``, then fresh before stale locations, then beat/district affinity, then exact ETA, then unit
id (deterministic ties). Units without a location come after located ones of their class, found through their
beat / district. Calls without coordinates are ranked by class and beat/district affinity
(``no_incident_location``). An empty answer always carries ``nobody_available``.

The search walks the roster's per-class grids ring by ring from the call and stops as soon as no unvisited cell
can hold a unit in a better ETA bucket than the worst one kept: it never scans every unit.
"""

from __future__ import annotations

import datetime as dt
import math
from bisect import insort
from collections.abc import Iterable
from typing import NamedTuple

from dispatch_bridge import domain
from dispatch_bridge.contracts.incident import Incident
from dispatch_bridge.recommend.config import RankingSettings
from dispatch_bridge.recommend.explain import describe_team, describe_unit
from dispatch_bridge.recommend.travel import StraightLineEstimator, TravelTimeEstimator, haversine_m
from dispatch_bridge.roster.grid import EARTH_RADIUS_M, SpatialGrid
from dispatch_bridge.roster.status import CLASS_NAMES, ENROUTE, TEAM_KINDS
from dispatch_bridge.roster.table import Roster, UnitEntry

# Fallback codes (stable: dashboards and the CAD's display key on them).
NO_INCIDENT_LOCATION = "no_incident_location"
NO_CIT_AVAILABLE = "no_cit_available"
NOBODY_AVAILABLE = "nobody_available"
TEAM_BUSY = "team_busy"
TEAM_OUT_OF_SERVICE = "team_out_of_service"
TEAM_OUT_OF_HOURS = "team_out_of_hours"
TEAM_OUT_OF_AREA = "team_out_of_area"
NO_TEAM_CONFIGURED = "no_team_configured"
EMS_BY_CAD = "ems_by_cad"
NO_RESPONSE_NEEDED = "no_response_needed"
UNKNOWN_TIER = "unknown_tier"

# Below this many units a grid is scanned outright: cheaper than walking empty rings to find the few there are.
_SCAN_BELOW = 48
_NO_ETA_BUCKET = 1 << 40
_M_PER_DEG_LAT = math.pi * EARTH_RADIUS_M / 180.0
_RAD = math.pi / 180.0  # as in travel.haversine_m, which _scan inlines
_CLASS_INDEX = {name: index for index, name in enumerate(CLASS_NAMES)}


class _Hit(NamedTuple):
    """A candidate with its sort key first (the unit id makes keys unique, so entries are never compared)."""

    avail: int  # position in settings.availability_order
    bucket: int
    stale: bool
    affinity: int  # 0 same beat, 1 same district, 2 neither
    eta: float
    unit_id: str
    entry: UnitEntry
    distance_m: float | None
    members: tuple[str, ...]  # filled lazily for located units (only the proposed ones need it)


class _Query:
    """Everything about the call and the settings that every unit evaluation needs, computed once."""

    __slots__ = (
        "incident", "roster", "settings", "travel", "lat", "lon", "beat", "district", "priority", "assigned",
        "day", "now", "now_ts", "stale_s", "bucket_s", "max_m", "classes", "lower_is_urgent",
    )

    def __init__(
        self, incident: Incident, roster: Roster, now: dt.datetime, settings: RankingSettings,
        travel: TravelTimeEstimator,
    ) -> None:
        location = incident.location
        self.incident = incident
        self.roster = roster
        self.settings = settings
        self.travel = travel
        self.lat = location.lat if location is not None and location.lon is not None else None
        self.lon = location.lon if self.lat is not None and location is not None else None
        self.beat = location.beat if location is not None else None
        self.district = location.district if location is not None else None
        self.priority = incident.priority
        # Units already on this call are not proposed again.
        self.assigned = frozenset(u.unit_id for u in incident.units if u.cleared_at is None)
        self.day = roster.local_day(now)
        self.now = now
        self.now_ts = now.timestamp()
        self.stale_s = roster.settings.stale_location_seconds
        self.bucket_s = float(settings.eta_bucket_seconds)
        self.max_m = settings.max_search_km * 1000.0
        self.classes = tuple(_CLASS_INDEX[name] for name in settings.availability_order)
        self.lower_is_urgent = settings.priority_lower_is_urgent

    def affinity(self, beat: str | None, district: str | None) -> int:
        if beat is not None and beat == self.beat:
            return 0
        if district is not None and district == self.district:
            return 1
        return 2

    def divertable(self, entry: UnitEntry) -> bool:
        """En route / dispatched to a call less urgent than this one (unknown priorities: no)."""
        mine, theirs = self.priority, entry.status.assignment_priority if entry.status is not None else None
        if mine is None or theirs is None:
            return False
        return theirs > mine if self.lower_is_urgent else theirs < mine


def rank(
    assessment: domain.Assessment,
    incident: Incident,
    roster: Roster,
    now: dt.datetime,
    settings: RankingSettings,
    travel: TravelTimeEstimator | None = None,
) -> domain.Ranking:
    """Ranked candidates for ``assessment.response`` and the fallbacks taken; never empty without a reason."""
    tier = assessment.response
    if tier == domain.NO_RESPONSE:
        return domain.Ranking((), (NO_RESPONSE_NEEDED,))
    if travel is None:
        travel = StraightLineEstimator(settings.road_factor, settings.speed_kmh)
    q = _Query(incident, roster, now, settings, travel)
    k = settings.max_candidates
    fallbacks: list[str] = []
    if q.lat is None:
        fallbacks.append(NO_INCIDENT_LOCATION)
    if tier == domain.MOBILE_CRISIS:
        candidates = _teams(q, k, ("mobile_crisis",), fallbacks)
        if not candidates:
            candidates = _cit_officers(q, k, fallbacks)
    elif tier == domain.CO_RESPONSE:
        officers = _cit_officers(q, k, fallbacks)
        teams = _teams(q, k, tuple(TEAM_KINDS), fallbacks)
        candidates = (officers[:1] + teams[:1] + officers[1:] + teams[1:])[:k]
    elif tier == domain.POLICE_ONLY:
        candidates = _patrol(q, k, cit_required=False, cit_preference=settings.police_only_cit_preference_seconds)
    else:
        if tier == domain.EMS_WITH_CIT:
            fallbacks.append(EMS_BY_CAD)
        elif tier != domain.CIT_OFFICER:
            fallbacks.append(UNKNOWN_TIER)  # a ruleset newer than this code: a CIT officer is the safe answer
        candidates = _cit_officers(q, k, fallbacks)
    if not candidates:
        fallbacks.append(NOBODY_AVAILABLE)
    elif tier == domain.EMS_WITH_CIT:
        first = candidates[0]
        candidates[0] = domain.Candidate(
            first.unit_id, first.kind, first.why + "; EMS is dispatched by the CAD", first.eta_seconds,
            first.distance_m, first.cit_members,
        )
    return domain.Ranking(tuple(candidates), tuple(fallbacks))


def _cit_officers(q: _Query, k: int, fallbacks: list[str]) -> list[domain.Candidate]:
    candidates = _patrol(q, k, cit_required=True, cit_preference=0)
    if candidates:
        return candidates
    fallbacks.append(NO_CIT_AVAILABLE)
    return _patrol(q, k, cit_required=False, cit_preference=0)


# ---- patrol units -----------------------------------------------------------------------------------------


def _patrol(q: _Query, k: int, *, cit_required: bool, cit_preference: int) -> list[domain.Candidate]:
    roster = q.roster
    grids = roster.grids_cit if cit_required else roster.grids_all
    unlocated = roster.unlocated_cit if cit_required else roster.unlocated_all
    hits: list[_Hit] = []
    for position, cls in enumerate(q.classes):
        need = k - len(hits)
        if need <= 0:
            break
        if cls == ENROUTE and q.priority is None:
            continue  # nothing to compare a unit's current call with
        if q.lat is not None:
            if cit_preference and not cit_required:
                found = _preferring_cit(q, grids[cls], roster.grids_cit[cls], position, cls, need, cit_preference)
            else:
                found = _ring_search(q, grids[cls], position, cls, need, cit_required, cit_preference)
            if len(found) < need:
                found += _by_affinity(q, unlocated[cls], position, cls, need - len(found), cit_required,
                                      only_unlocated=True)
        else:
            found = _by_affinity(q, grids[cls].members, position, cls, need, cit_required, only_unlocated=False,
                                 extra=unlocated[cls])
        hits.extend(found)
    return [_unit_candidate(q, hit) for hit in hits]


def _preferring_cit(
    q: _Query, grid: SpatialGrid[UnitEntry], cit_grid: SpatialGrid[UnitEntry], position: int, cls: int, need: int,
    cit_preference: int,
) -> list[_Hit]:
    """The best ``need`` units of a class when a CIT unit may be up to ``cit_preference`` seconds farther.

    One search with that allowance on the whole grid would have to widen its stopping bound by it for every
    unit, though only CIT units get it: with four patrol cars to every CIT car, that scans several times the
    units. Instead the whole grid is searched with the plain bound (each CIT unit still keyed with its
    allowance) and the CIT grid with the widened one. Every unit of the true answer is in one of the two: a
    unit without CIT gets no allowance, so the plain bound holds for it, and a CIT unit is in the CIT grid.
    """
    plain = _ring_search(q, grid, position, cls, need, False, cit_preference, stop_preference=0)
    cit = _ring_search(q, cit_grid, position, cls, need, True, cit_preference)
    merged = {hit.unit_id: hit for hit in plain}
    merged.update((hit.unit_id, hit) for hit in cit)  # the same unit gets the same key in both searches
    return sorted(merged.values())[:need]


def _ring_search(
    q: _Query, grid: SpatialGrid[UnitEntry], position: int, cls: int, need: int, cit_required: bool,
    cit_preference: int, stop_preference: int | None = None,
) -> list[_Hit]:
    """The best ``need`` units of ``grid``, searched ring by ring from the call. ``stop_preference`` is the
    largest allowance any unvisited unit could get (the stopping bound); by default ``cit_preference``."""
    if stop_preference is None:
        stop_preference = cit_preference
    total = len(grid)
    if total == 0:
        return []
    lat, lon = q.lat, q.lon
    assert lat is not None and lon is not None
    best: list[_Hit] = []
    if total < _SCAN_BELOW:
        _scan(q, (grid.members,), position, cls, need, cit_required, cit_preference, best)
        return best
    row, col = grid.cell_of(lat, lon)
    bucket_s, travel, max_m = q.bucket_s, q.travel, q.max_m
    seen = 0
    d = 0
    while True:
        cells = list(grid.ring(row, col, d))
        seen += sum(map(len, cells))
        _scan(q, cells, position, cls, need, cit_required, cit_preference, best)
        if seen >= total:
            break
        beyond = grid.beyond_ring_m(lat, d)
        if beyond > max_m:
            break
        if len(best) == need:
            # Anything outside the searched rings is at least `beyond` away: if even that cannot reach the worst
            # kept ETA bucket, no unvisited unit can displace it.
            floor_bucket = int((travel.lower_bound_seconds(beyond) - stop_preference) // bucket_s)
            if best[-1].bucket < floor_bucket:
                break
        d += 1
    return best


def _scan(
    q: _Query, cells: Iterable[dict[str, UnitEntry]], position: int, cls: int, need: int, cit_required: bool,
    cit_preference: int, best: list[_Hit],
) -> None:
    """Offer every unit of ``cells`` to ``best`` (sorted, at most ``need`` long).

    The innermost loop of ranking, so it is written for CPython: everything it reads per unit is bound to a
    local once per call, the distance is the haversine of ``travel.haversine_m`` inlined with the call's own
    latitude terms computed once (same expression, same floating-point result), and a unit is rejected on the
    cheapest test that can reject it (latitude difference alone, then the ETA bucket) before a hit is built.
    """
    lat, lon = q.lat, q.lon
    assert lat is not None and lon is not None
    assigned, incident_id, day = q.assigned, q.incident.id, q.day
    seconds, lower_bound = q.travel.seconds, q.travel.lower_bound_seconds
    bucket_s, max_m, now_ts, stale_s = q.bucket_s, q.max_m, q.now_ts, q.stale_s
    lat_rad, cos_lat = lat * _RAD, math.cos(lat * _RAD)
    sin, cos, asin, sqrt = math.sin, math.cos, math.asin, math.sqrt
    enroute = cls == ENROUTE
    full = len(best) == need
    worst = best[-1].bucket if full else 0
    for cell in cells:
        for entry in cell.values():
            unit_id = entry.unit_id
            if unit_id in assigned:
                continue
            status = entry.status
            assert status is not None
            if status.assignment_id is not None and status.assignment_id == incident_id:
                continue
            if enroute and not q.divertable(entry):
                continue
            has_cit = entry.has_cit(day)
            if cit_required and not has_cit:
                continue
            bonus = cit_preference if has_cit else 0
            elat, elon = entry.lat, entry.lon
            assert elat is not None and elon is not None
            # Latitude difference alone is a true lower bound on the great-circle distance: reject without
            # the haversine.
            if full and int((lower_bound(abs(elat - lat) * _M_PER_DEG_LAT) - bonus) // bucket_s) > worst:
                continue
            p1 = elat * _RAD
            a = sin((lat_rad - p1) * 0.5) ** 2 + cos(p1) * cos_lat * sin((lon - elon) * _RAD * 0.5) ** 2
            straight = 2.0 * EARTH_RADIUS_M * asin(min(1.0, sqrt(a)))
            if straight > max_m:
                continue
            ranked_eta = seconds(elat, elon, lat, lon, straight) - bonus
            bucket = int(ranked_eta // bucket_s)
            if full and bucket > worst:
                continue  # cheap reject before building the hit
            hit = _Hit(position, bucket, now_ts - entry.fix_ts > stale_s, q.affinity(entry.beat, entry.district),
                       ranked_eta, unit_id, entry, straight, ())
            if not full:
                insort(best, hit)
                full = len(best) == need
            elif hit < best[-1]:
                best.pop()
                insort(best, hit)
            else:
                continue
            if full:
                worst = best[-1].bucket


def _by_affinity(
    q: _Query, pool: dict[str, UnitEntry], position: int, cls: int, need: int, cit_required: bool, *,
    only_unlocated: bool, extra: dict[str, UnitEntry] | None = None,
) -> list[_Hit]:
    """Units of class ``cls`` in the call's beat, then district (no distance: no ETA). ``pool`` holds the units
    of that class to draw from; without a beat or district on the call every unit in it is a candidate."""
    roster = q.roster
    sources: list[dict[str, UnitEntry]] = []
    if q.beat is not None and q.beat in roster.by_beat:
        sources.append(roster.by_beat[q.beat])
    if q.district is not None and q.district in roster.by_district:
        sources.append(roster.by_district[q.district])
    if not sources and q.beat is None and q.district is None:
        # Neither coordinates nor beat/district on the call: rare, so a scan of this class is acceptable.
        sources = [pool] if extra is None else [pool, extra]
    hits: dict[str, _Hit] = {}
    for source in sources:
        for unit_id, entry in source.items():
            if unit_id in hits or entry.indexed != cls or unit_id in q.assigned:
                continue
            if only_unlocated and entry.cell is not None:
                continue
            status = entry.status
            assert status is not None
            if status.assignment_id is not None and status.assignment_id == q.incident.id:
                continue
            if cls == ENROUTE and not q.divertable(entry):
                continue
            members = entry.cit_members(q.day)
            if cit_required and not members:
                continue
            hits[unit_id] = _Hit(position, _NO_ETA_BUCKET, False, q.affinity(entry.beat, entry.district), 0.0,
                                 unit_id, entry, None, members)
    return sorted(hits.values())[:need]


def _unit_candidate(q: _Query, hit: _Hit) -> domain.Candidate:
    entry = hit.entry
    located = hit.distance_m is not None
    eta = None
    if located:
        assert entry.lat is not None and entry.lon is not None and q.lat is not None and q.lon is not None
        eta = q.travel.seconds(entry.lat, entry.lon, q.lat, q.lon, hit.distance_m or 0.0)
    members = hit.members or entry.cit_members(q.day)  # built only for the units actually proposed
    why = describe_unit(
        entry, members, q.classes[hit.avail], hit.distance_m, eta, hit.affinity, hit.stale,
        q.now_ts - entry.fix_ts if located else None, q.lat is None,
    )
    return domain.Candidate(
        unit_id=entry.unit_id,
        kind=entry.kind,
        why=why,
        eta_seconds=round(eta) if eta is not None else None,
        distance_m=round(hit.distance_m) if hit.distance_m is not None else None,
        cit_members=members,
    )


# ---- teams ----------------------------------------------------------------------------------------------


def _teams(q: _Query, k: int, kinds: tuple[str, ...], fallbacks: list[str]) -> list[domain.Candidate]:
    """Teams of ``kinds`` that can take the call now; when none can, the closest-to-success reason is recorded."""
    roster = q.roster
    propose_unreported = q.settings.propose_unreported_teams
    reasons = {TEAM_BUSY: 0, TEAM_OUT_OF_SERVICE: 0, TEAM_OUT_OF_HOURS: 0, TEAM_OUT_OF_AREA: 0}
    hits = []
    for unit_id, team in roster.teams.items():
        if team.kind not in kinds:
            continue
        if team.area is not None and not team.area.contains(q.lat, q.lon, q.district):
            reasons[TEAM_OUT_OF_AREA] += 1
            continue
        state = roster.team_state(unit_id, q.now)
        assert state is not None
        if not state.on_shift:
            reasons[TEAM_OUT_OF_HOURS] += 1
            continue
        if not state.in_service or (state.entry is None and not propose_unreported):
            reasons[TEAM_OUT_OF_SERVICE] += 1
            continue
        if not state.has_room or unit_id in q.assigned:
            reasons[TEAM_BUSY] += 1
            continue
        entry = state.entry
        straight = eta = None
        stale = False
        if entry is not None and entry.lat is not None and entry.lon is not None and q.lat is not None \
                and q.lon is not None:
            straight = haversine_m(entry.lat, entry.lon, q.lat, q.lon)
            eta = q.travel.seconds(entry.lat, entry.lon, q.lat, q.lon, straight)
            stale = q.now_ts - entry.fix_ts > q.stale_s
        beat = entry.status.beat if entry is not None and entry.status is not None else None
        district = entry.status.district if entry is not None and entry.status is not None else None
        bucket = int(eta // q.bucket_s) if eta is not None else _NO_ETA_BUCKET
        hits.append((bucket, stale, q.affinity(beat, district), eta or 0.0, unit_id, state, straight, eta))
    if not hits:
        if not any(team.kind in kinds for team in roster.teams.values()):
            fallbacks.append(NO_TEAM_CONFIGURED)
        else:
            fallbacks.append(next(code for code, count in reasons.items() if count))
        return []
    hits.sort(key=lambda h: h[:5])
    candidates = []
    for _, stale, affinity, _, unit_id, state, straight, eta in hits[:k]:
        entry = state.entry
        age = q.now_ts - entry.fix_ts if entry is not None and straight is not None else None
        members = entry.cit_members(q.day) if entry is not None else ()
        candidates.append(domain.Candidate(
            unit_id=unit_id,
            kind=state.team.kind,
            why=describe_team(state, members, straight, eta, affinity, stale, age, q.now),
            eta_seconds=round(eta) if eta is not None else None,
            distance_m=round(straight) if straight is not None else None,
            cit_members=members,
        ))
    return candidates
