"""Premise history in memory: prior crisis calls per block / beat, answered without a database round trip.

The triage of a call with any behavioral signal asks "how many crisis calls at this place lately?". Asking
the database per call put a round trip inside the consumer loop; this index answers from memory instead. It
is filled from the store at start (the window before now), kept current from the incidents this instance
sees, and refreshed from the store on a cadence so that calls seen by other instances count too.
Windows run on event time, as in the store: only calls strictly before the asking call's ``occurred_at``, within
``premise_window_days``, never the call itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from dispatch_bridge.contracts import Incident, Location
from dispatch_bridge.outcomes.config import StoreSettings
from dispatch_bridge.outcomes.location import location_key
from dispatch_bridge.outcomes.records import PremiseHistory

_SECONDS_PER_DAY = 86_400.0


class CrisisEnding:
    """Whether a CAD record says the call ended as a crisis (final nature code, APCO type or disposition)."""

    def __init__(self, settings: StoreSettings) -> None:
        self._codes = frozenset(code.upper() for code in settings.crisis_nature_codes)
        self._dispositions = frozenset(code.upper() for code in settings.crisis_dispositions)

    def __call__(self, incident: Incident) -> bool:
        return (
            incident.nature_code.upper() in self._codes
            or (incident.apco_type is not None and incident.apco_type.upper() in self._codes)
            or any(code.upper() in self._dispositions for code in incident.disposition)
        )


# Times are held as integer microseconds since the epoch: exact (as datetimes compare), 32 bytes instead of 48.
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)
# The calls at one place: (call, time) for a single call, as most places have; {call: time} for more.
Calls = tuple[int, int] | dict[int, int]


def _micros(at: dt.datetime) -> int:
    return (at - _EPOCH) // _MICROSECOND


def _datetime(micros: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=micros)


class PremiseIndex:
    """Every crisis call of the window, by place: one entry per call (a busy center holds tens of thousands).

    Compact because it is the one piece of the bridge's state that grows with the window rather than with the
    open calls: places and calls are held as their 64-bit string hashes (randomised per process, and the index
    lives in one process; a false match is far less likely than a hardware fault), times as integer microseconds,
    and a place with a single call as a pair instead of a dict: 214 bytes per call, against 420 as strings, dicts
    and datetimes (tracemalloc, 23,700 calls each at a place of its own, as in the million-event replay).
    """

    def __init__(self, settings: StoreSettings) -> None:
        self._settings = settings
        self._window = dt.timedelta(days=settings.premise_window_days) // _MICROSECOND
        self._half_life = settings.premise_half_life_days * _SECONDS_PER_DAY
        self._ended_crisis = CrisisEnding(settings)
        # hash(location key) -> the calls there, each hash(incident id) with the earliest time it was a crisis there
        self._calls: dict[int, Calls] = {}

    def __len__(self) -> int:
        return sum(1 if type(calls) is tuple else len(calls) for calls in self._calls.values())

    def key(self, location: Location | None) -> str | None:
        return location_key(location, self._settings.location_granularity)

    def observe(self, incident: Incident, occurred_at: dt.datetime, crisis: bool) -> None:
        """Count an incident revision the way the store does: flagged as crisis, or ended as one."""
        if not (crisis or self._ended_crisis(incident)):
            return
        key = self.key(incident.location)
        if key is not None:
            self.add(key, incident.id, occurred_at)

    def add(self, key: str, incident_id: str, occurred_at: dt.datetime) -> None:
        place, call, at = hash(key), hash(incident_id), _micros(occurred_at)
        calls = self._calls.get(place)
        if calls is None:
            self._calls[place] = (call, at)
        elif type(calls) is tuple:
            if calls[0] != call:
                self._calls[place] = {calls[0]: calls[1], call: at}
            elif at < calls[1]:
                self._calls[place] = (call, at)
        else:
            known = calls.get(call)
            if known is None or at < known:
                calls[call] = at

    def load(self, rows: Iterable[tuple[str, str, dt.datetime]]) -> None:
        """Merge (incident id, location key, occurred_at) rows read from the store."""
        for incident_id, key, occurred_at in rows:
            self.add(key, incident_id, occurred_at)

    def _others(self, key: str | None, at: dt.datetime, incident_id: str) -> list[int] | None:
        """The times of the calls at the place within the window before ``at``, but the asking call's; None when
        the place has no calls at all (or no key)."""
        calls = self._calls.get(hash(key)) if key is not None else None
        if calls is None:
            return None
        until = _micros(at)
        since, own = until - self._window, hash(incident_id)
        pairs = (calls,) if type(calls) is tuple else calls.items()
        return [t for call, t in pairs if call != own and since <= t < until]

    def crisis_calls(self, location: Location | None, at: dt.datetime, incident_id: str) -> int | None:
        """``lookup(...).crisis_calls`` without the rest: what triage reads, once per call with a behavioral
        signal (a busy address holds hundreds of calls; the decay weights cost a power each). None: disabled."""
        if not self._settings.premise_enabled:
            return None
        found = self._others(self.key(location), at, incident_id)
        return 0 if found is None else len(found)

    def lookup(self, location: Location | None, at: dt.datetime, incident_id: str) -> PremiseHistory | None:
        if not self._settings.premise_enabled:
            return None
        key = self.key(location)
        granularity = "beat" if key is None or key.startswith("beat:") else "block"
        window_days = self._settings.premise_window_days
        found = self._others(key, at, incident_id)
        if found is None:
            return PremiseHistory(0, window_days, 0.0, None, granularity)
        times = [_datetime(t) for t in found]
        weighted = sum(0.5 ** ((at - t).total_seconds() / self._half_life) for t in times)
        return PremiseHistory(len(times), window_days, round(weighted, 4), max(times, default=None), granularity)

    def prune(self, before: dt.datetime) -> int:
        """Forget calls older than ``before`` (event time); they can no longer fall in any window."""
        cut = _micros(before)
        dropped = 0
        for place in list(self._calls):
            calls = self._calls[place]
            if type(calls) is tuple:
                if calls[1] < cut:
                    del self._calls[place]
                    dropped += 1
                continue
            kept = {call: t for call, t in calls.items() if t >= cut}
            dropped += len(calls) - len(kept)
            if not kept:
                del self._calls[place]
            elif len(kept) == 1:
                self._calls[place] = next(iter(kept.items()))
            elif len(kept) < len(calls):
                self._calls[place] = kept
        return dropped
