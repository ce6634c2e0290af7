"""Glue between the consumer and the outcome store: builds outcome rows and writes them without losing any.

Rows are built on the hot path (cheap references, no copies); a batch is written in one transaction and
retried with backoff while the store is away, because the batch's offsets are committed only afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections import deque
from collections.abc import Sequence

import structlog

from dispatch_bridge.bus.producer import DeliveryAborted
from dispatch_bridge.contracts.structs import IncidentEvent
from dispatch_bridge.contracts.unit import TEAM_KINDS
from dispatch_bridge.domain import Assessment, Ranking
from dispatch_bridge.metrics import Metrics
from dispatch_bridge.outcomes import (
    IncidentSeen,
    OutcomeStore,
    PremiseIndex,
    RecommendationPublished,
    StoreSettings,
)
from dispatch_bridge.roster import Roster
from dispatch_bridge.triage import TriageContext

log = structlog.get_logger(__name__)

# Consecutive failures of a whole batch before it is tried row by row.
ISOLATE_AFTER_FAILURES = 3
# Looked up, nothing found: remembered so that later revisions of the incident do not ask again.
NO_HISTORY = TriageContext()
# Rows tied to no offset held while the store is away (a re-ranking's few rows, one coverage row per district
# and hour): days of them at a busy centre. Past it the oldest go, counted as dropped.
SIDE_ROWS_LIMIT = 10_000


class StoreRecorder:
    def __init__(self, store: OutcomeStore, roster: Roster, metrics: Metrics, settings: StoreSettings) -> None:
        self.store = store
        self._roster = roster
        self._metrics = metrics
        self._settings = settings
        self.premises = PremiseIndex(settings)

    def seen(self, event: IncidentEvent, assessment: Assessment, now: dt.datetime) -> object:
        self.premises.observe(event.incident, event.occurred_at, assessment.crisis)
        units = event.incident.units
        if not units:
            return IncidentSeen(event, assessment)
        day = self._roster.local_day(event.occurred_at)
        cit: list[str] = []
        teams: list[str] = []
        for assigned in units:
            entry = self._roster.units.get(assigned.unit_id)
            if entry is None:
                continue
            if entry.has_cit(day):
                cit.append(assigned.unit_id)
            if entry.kind in TEAM_KINDS:
                teams.append(assigned.unit_id)
        return IncidentSeen(event, assessment, frozenset(cit), frozenset(teams))

    def published(self, event: IncidentEvent, assessment: Assessment, ranking: Ranking,
                  produced_at: dt.datetime, trigger: str, event_id: str) -> object:
        return RecommendationPublished.from_ranking(
            event.incident.id, event.incident.revision, assessment, ranking, produced_at, event.occurred_at,
            trigger, event_id)

    async def write(self, rows: Sequence[object], abort: asyncio.Event, max_backoff: float = 5.0) -> None:
        """Write the batch in one transaction; retried while the store is away, never committed past.

        A batch that keeps failing is tried row by row: rows the store refuses on their own (bad data it
        cannot hold) are dropped and counted, so one odd record cannot stall a partition of 911 traffic;
        if every row fails alone, the store itself is down and the batch is retried as a whole.
        """
        backoff = 0.1
        failures = 0
        while True:
            try:
                await self.store.write(rows)  # type: ignore[arg-type]
                return
            except Exception as exc:  # noqa: BLE001 - any store failure is retried; nothing is committed past it
                failures += 1
                self._metrics.store_retries.inc()
                log.warning("store_write_retry", error_class=type(exc).__name__, rows=len(rows))
            if failures >= ISOLATE_AFTER_FAILURES and await self._write_row_by_row(rows):
                return
            try:
                await asyncio.wait_for(abort.wait(), timeout=backoff)
            except TimeoutError:
                backoff = min(backoff * 2, max_backoff)
            else:
                raise DeliveryAborted(f"{len(rows)} outcome rows not written at shutdown")

    async def _write_row_by_row(self, rows: Sequence[object]) -> bool:
        """True when at least one row was written (the store is up); refused rows are dropped and counted."""
        refused: list[object] = []
        for row in rows:
            try:
                await self.store.write([row])  # type: ignore[list-item]
            except Exception:  # noqa: BLE001 - classified by whether any row goes through
                refused.append(row)
        if len(refused) == len(rows):
            return False
        if refused:
            self._metrics.store_rows_dropped.inc(len(refused))
            log.error("store_rows_dropped", rows=len(refused), kinds=sorted({type(r).__name__ for r in refused}))
        return True

    def premise(self, event: IncidentEvent) -> TriageContext | None:
        """Prior crisis calls at the incident's block / beat, from memory (no round trip on the hot path)."""
        calls = self.premises.crisis_calls(event.incident.location, event.occurred_at, event.incident.id)
        if calls is None:
            return None
        if calls == 0:
            return NO_HISTORY
        return TriageContext(premise_crisis_calls=calls, premise_window_days=self._settings.premise_window_days)

    async def refresh_premises(self, since: dt.datetime) -> None:
        """Merge crisis calls recorded since ``since`` (by every instance) and forget those out of any window."""
        if not self._settings.premise_enabled:
            return
        try:
            rows = await self.store.recent_premises(since)
        except Exception as exc:  # noqa: BLE001 - advisory: the index keeps what it has and tries again
            log.warning("premise_refresh_failed", error_class=type(exc).__name__)
            return
        self.premises.load(rows)


class SideRows:
    """Outcome rows that no Kafka offset waits for (re-rankings on a roster change, hourly CIT coverage), written
    by their own task: a store outage then holds back only these rows, never the loops that produce them (broker
    health, readiness, eviction, re-ranking itself). Written in the order given, retried while the store is away.
    """

    def __init__(self, recorder: StoreRecorder, metrics: Metrics, limit: int = SIDE_ROWS_LIMIT) -> None:
        self._recorder = recorder
        self._metrics = metrics
        self._limit = limit
        self._rows: deque[object] = deque()
        self._added = asyncio.Event()

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, rows: Sequence[object]) -> None:
        self._rows.extend(rows)
        over = len(self._rows) - self._limit
        if over > 0:
            for _ in range(over):
                self._rows.popleft()
            self._metrics.store_rows_dropped.inc(over)
            log.error("store_rows_dropped", rows=over, reason="side_rows_full")
        self._added.set()

    async def run(self, stop: asyncio.Event, abort: asyncio.Event) -> None:
        """Write what is added until ``stop``, then what is left (until ``abort``, the end of the drain)."""
        while self._rows or not stop.is_set():
            if not self._rows:
                self._added.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._added.wait(), timeout=0.25)
                continue
            batch = list(self._rows)
            self._rows.clear()  # rows added while it is written are the next batch
            await self._recorder.write(batch, abort)
