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


class PremiseIndex:
    def __init__(self, settings: StoreSettings) -> None:
        self._settings = settings
        self._window = dt.timedelta(days=settings.premise_window_days)
        self._half_life = settings.premise_half_life_days * _SECONDS_PER_DAY
        self._ended_crisis = CrisisEnding(settings)
        # location key -> incident id -> earliest event time it was a crisis there
        self._calls: dict[str, dict[str, dt.datetime]] = {}

    def __len__(self) -> int:
        return sum(len(calls) for calls in self._calls.values())

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
        calls = self._calls.setdefault(key, {})
        known = calls.get(incident_id)
        if known is None or occurred_at < known:
            calls[incident_id] = occurred_at

    def load(self, rows: Iterable[tuple[str, str, dt.datetime]]) -> None:
        """Merge (incident id, location key, occurred_at) rows read from the store."""
        for incident_id, key, occurred_at in rows:
            self.add(key, incident_id, occurred_at)

    def crisis_calls(self, location: Location | None, at: dt.datetime, incident_id: str) -> int | None:
        """``lookup(...).crisis_calls`` without the rest: what triage reads, once per call with a behavioral
        signal (a busy address holds hundreds of calls; the decay weights cost a power each). None: disabled."""
        if not self._settings.premise_enabled:
            return None
        key = self.key(location)
        calls = self._calls.get(key) if key is not None else None
        if not calls:
            return 0
        since = at - self._window
        count = 0
        for t in calls.values():
            if since <= t < at:
                count += 1
        own = calls.get(incident_id)
        if own is not None and since <= own < at:
            count -= 1
        return count

    def lookup(self, location: Location | None, at: dt.datetime, incident_id: str) -> PremiseHistory | None:
        if not self._settings.premise_enabled:
            return None
        key = self.key(location)
        granularity = "beat" if key is None or key.startswith("beat:") else "block"
        calls = self._calls.get(key) if key is not None else None
        window_days = self._settings.premise_window_days
        if not calls:
            return PremiseHistory(0, window_days, 0.0, None, granularity)
        since = at - self._window
        times = [t for other, t in calls.items() if other != incident_id and since <= t < at]
        weighted = sum(0.5 ** ((at - t).total_seconds() / self._half_life) for t in times)
        return PremiseHistory(len(times), window_days, round(weighted, 4), max(times, default=None), granularity)

    def prune(self, before: dt.datetime) -> int:
        """Forget calls older than ``before`` (event time); they can no longer fall in any window."""
        dropped = 0
        for key in list(self._calls):
            calls = self._calls[key]
            for incident_id in [i for i, t in calls.items() if t < before]:
                del calls[incident_id]
                dropped += 1
            if not calls:
                del self._calls[key]
        return dropped
