"""The outcome store: one interface, one SQL layer, two backends chosen by the URL.

The consumer hands a batch of records to ``write`` and commits its Kafka offsets only after ``write`` returns,
so a batch is one transaction and every statement is an idempotent upsert: a redelivered batch changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import orjson

from dispatch_bridge.contracts import Location
from dispatch_bridge.outcomes import sql
from dispatch_bridge.outcomes.backends import (
    Backend,
    PostgresBackend,
    SqliteBackend,
    Transaction,
)
from dispatch_bridge.outcomes.config import StoreSettings
from dispatch_bridge.outcomes.fold import fold_incidents, fold_premises, fold_units
from dispatch_bridge.outcomes.location import location_key
from dispatch_bridge.outcomes.premise import CrisisEnding
from dispatch_bridge.outcomes.records import (
    RERANK_TRIGGER,
    CandidateRef,
    Feedback,
    IncidentSeen,
    OutcomeRecord,
    PremiseHistory,
    RecommendationPublished,
    RosterSnapshot,
)
from dispatch_bridge.outcomes.views import (
    IncidentOutcome,
    PublishedRecommendation,
    UnitOutcome,
)

_SECONDS_PER_DAY = 86_400.0
# Any constant works: it only has to be the same for every instance sharing the database.
_MIGRATION_LOCK_KEY = 7_240_701_015


def _key_of(row: tuple[Any, ...]) -> tuple[Any, Any]:
    return (row[0], row[1])


class SchemaTooNewError(RuntimeError):
    """The database was migrated by a newer release; this one must not write to it."""


@runtime_checkable
class OutcomeStore(Protocol):
    settings: StoreSettings

    @property
    def backend_name(self) -> str: ...

    async def write(self, batch: Sequence[OutcomeRecord]) -> None: ...

    async def premise_history(
        self, location: Location | None, at: dt.datetime, *, incident_id: str | None = None
    ) -> PremiseHistory | None: ...

    async def recent_premises(self, since: dt.datetime) -> list[tuple[str, str, dt.datetime]]: ...

    async def purge(self, now: dt.datetime) -> dict[str, int]: ...

    async def schema_version(self) -> int: ...

    async def calls_per_hour(self, start: dt.datetime, end: dt.datetime) -> list[tuple[str | None, dt.datetime, int]]: ...

    async def crisis_outcomes(self, start: dt.datetime, end: dt.datetime) -> list[IncidentOutcome]: ...

    async def roster_hours(self, start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, str, int, int]]: ...

    async def close(self) -> None: ...


async def open_store(settings: StoreSettings) -> OutcomeStore:
    """Connect to the configured backend and bring its schema up to date (safe with several instances)."""
    backend: Backend
    if settings.backend == "sqlite":
        backend = await SqliteBackend.connect(settings.url)
    else:
        backend = await PostgresBackend.connect(settings.url, settings.pool_max_size)
    store = SqlOutcomeStore(backend, settings)
    try:
        await migrate(backend)
    except BaseException:
        await backend.close()
        raise
    return store


async def migrate(backend: Backend, target: int = sql.SCHEMA_VERSION) -> list[int]:
    """Apply the missing migrations up to ``target`` in one transaction; returns the versions applied."""
    dialect = backend.dialect
    async with backend.transaction() as tx:
        if dialect is sql.POSTGRESQL:
            # Two instances starting together: the second waits here, then finds nothing left to do.
            await tx.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK_KEY)
        await tx.execute(dialect.ddl(sql.MIGRATIONS_TABLE))
        applied = {row[0] for row in await tx.fetch("SELECT version FROM schema_migrations")}
        newest = max(applied, default=0)
        if newest > sql.SCHEMA_VERSION:
            raise SchemaTooNewError(
                f"outcome store schema is at version {newest}, this release knows up to {sql.SCHEMA_VERSION}"
            )
        done = []
        for migration in sql.MIGRATIONS:
            if migration.version in applied or migration.version > target:
                continue
            for statement in migration.statements:
                await tx.execute(dialect.ddl(statement))
            await tx.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", migration.version, migration.name
            )
            done.append(migration.version)
    return done


class SqlOutcomeStore:
    """OutcomeStore over either backend; all SQL comes from ``outcomes.sql``."""

    def __init__(self, backend: Backend, settings: StoreSettings) -> None:
        self._backend = backend
        self.settings = settings
        self._ts = backend.dialect.encode_ts
        self._from_ts = backend.dialect.decode_ts
        # Precomputed once: the per-record work below is set lookups, no rebuilding of config.
        self._ended_crisis = CrisisEnding(settings)
        self._disposition_reasons = {code.upper(): reason for code, reason in settings.disposition_reasons.items()}
        self._retention = dt.timedelta(days=settings.retention_days)
        self._window = dt.timedelta(days=settings.premise_window_days)
        self._calls_per_hour_sql = sql.CALLS_PER_HOUR.format(bucket=backend.dialect.hour_bucket.format(col="first_seen_at"))

    @property
    def backend_name(self) -> str:
        return self._backend.dialect.name

    # -- writes ------------------------------------------------------------------------------------------------

    async def write(self, batch: Sequence[OutcomeRecord]) -> None:
        """Store a batch in one transaction. Idempotent: writing the same batch twice leaves the same rows."""
        incidents: list[tuple[Any, ...]] = []
        units: list[tuple[Any, ...]] = []
        premises: list[tuple[Any, ...]] = []
        recommendations: list[tuple[Any, ...]] = []
        reranks: list[tuple[Any, ...]] = []
        feedback: list[tuple[Any, ...]] = []
        roster: list[tuple[Any, ...]] = []
        for record in batch:
            if isinstance(record, IncidentSeen):
                self._incident_rows(record, incidents, units, premises, feedback)
            elif isinstance(record, RecommendationPublished):
                if record.trigger == RERANK_TRIGGER:
                    reranks.append((record.incident_id, record.event_id, *self._recommendation_row(record)[1:]))
                else:
                    recommendations.append(self._recommendation_row(record))
            elif isinstance(record, Feedback):
                feedback.append(self._feedback_row(record))
            elif isinstance(record, RosterSnapshot):
                hour = self._ts(sql.utc_hour(record.hour))
                roster.extend((hour, district, on, avail) for district, (on, avail) in record.per_district.items())
            else:
                raise TypeError(f"not an outcome record: {type(record).__name__}")
        # Rows in key order: instances writing overlapping keys (roster hours, a rebalanced partition) then take
        # row locks in the same order and cannot deadlock. The sorts are stable, so revisions keep their order.
        for rows in (incidents, units, premises, recommendations, reranks, feedback, roster):
            rows.sort(key=_key_of)
        await self._backend.write_batch([
            # A key's revisions in the batch folded first (outcomes.fold): the same rows, fewer upserts.
            (sql.UPSERT_INCIDENT, fold_incidents(incidents)), (sql.UPSERT_UNIT, fold_units(units)),
            (sql.UPSERT_PREMISE, fold_premises(premises)),
            (sql.INSERT_RECOMMENDATION, recommendations), (sql.INSERT_RERANK, reranks),
            (sql.UPSERT_FEEDBACK, feedback), (sql.UPSERT_ROSTER_HOUR, roster),
        ])

    def _incident_rows(
        self,
        record: IncidentSeen,
        incidents: list[tuple[Any, ...]],
        units: list[tuple[Any, ...]],
        premises: list[tuple[Any, ...]],
        feedback: list[tuple[Any, ...]],
    ) -> None:
        event = record.event
        incident = event.incident
        at = self._ts(event.occurred_at)
        assessment = record.assessment
        crisis = assessment is not None and assessment.crisis
        location = incident.location
        key = location_key(location, self.settings.location_granularity)
        codes = [code.upper() for code in incident.disposition]
        ended_crisis = self._ended_crisis(incident)
        incidents.append((
            incident.id,
            event.agency,
            at,
            at,
            incident.revision,
            incident.nature_code,
            int(crisis),
            incident.revision,
            incident.nature_code,
            incident.apco_type,
            location.district if location else None,
            location.beat if location else None,
            key,
            orjson.dumps(incident.disposition).decode(),
            int(event.event_type == "incident.closed"),
            int(ended_crisis),
            at if crisis else None,
            incident.revision if crisis else None,
            assessment.response if crisis else None,
            assessment.score if crisis else None,
            assessment.ruleset_version if crisis else None,
        ))
        ts = self._ts
        for unit in incident.units:
            units.append((
                incident.id,
                unit.unit_id,
                incident.revision,
                at,
                ts(unit.dispatched_at),
                ts(unit.enroute_at),
                ts(unit.on_scene_at),
                ts(unit.cleared_at),
                int(unit.unit_id in record.cit_units),
                int(unit.unit_id in record.team_units),
            ))
        if (crisis or ended_crisis) and key is not None:
            premises.append((incident.id, key, incident.revision, at))
        if self._disposition_reasons:
            # An override reason the CAD carries as a disposition code or an incident flag.
            for code in (*codes, *(flag.upper() for flag in incident.flags)):
                reason = self._disposition_reasons.get(code)
                if reason is not None:
                    feedback.append((incident.id, "cad", reason, at, None))

    def _recommendation_row(self, record: RecommendationPublished) -> tuple[Any, ...]:
        return (
            record.incident_id,
            record.revision,
            record.ruleset_version,
            record.response,
            orjson.dumps([(c.unit_id, c.kind, c.cit) for c in record.candidates]).decode(),
            orjson.dumps(record.fallbacks).decode(),
            self._ts(record.produced_at),
            self._ts(record.occurred_at),
        )

    def _feedback_row(self, record: Feedback) -> tuple[Any, ...]:
        note = record.note if self.settings.store_feedback_notes else None
        return (record.incident_id, record.source, record.reason_code, self._ts(record.at), note)

    # -- premise history ---------------------------------------------------------------------------------------

    async def recent_premises(self, since: dt.datetime) -> list[tuple[str, str, dt.datetime]]:
        """(incident id, location key, occurred_at) of crisis calls since ``since``: fills a PremiseIndex."""
        rows = await self._backend.fetch(sql.RECENT_PREMISES, self._ts(since))
        return [(row[0], row[1], self._from_ts(row[2])) for row in rows]

    async def premise_history(
        self, location: Location | None, at: dt.datetime, *, incident_id: str | None = None
    ) -> PremiseHistory | None:
        """Crisis calls at the same block/beat in the window before event time ``at`` (None when disabled).

        Only calls strictly before ``at`` count, and never ``incident_id`` itself, so re-evaluating a later
        revision of the same call does not count the call as its own history.
        """
        settings = self.settings
        if not settings.premise_enabled:
            return None
        key = location_key(location, settings.location_granularity)
        granularity = "beat" if key is None or key.startswith("beat:") else "block"
        if key is None:
            return PremiseHistory(0, settings.premise_window_days, 0.0, None, granularity)
        rows = await self._backend.fetch(
            sql.PREMISE_LOOKUP, key, self._ts(at - self._window), self._ts(at), incident_id or ""
        )
        times = [self._from_ts(row[0]) for row in rows]
        half_life = settings.premise_half_life_days * _SECONDS_PER_DAY
        weighted = sum(0.5 ** ((at - t).total_seconds() / half_life) for t in times)  # type: ignore[operator]
        return PremiseHistory(
            crisis_calls=len(times),
            window_days=settings.premise_window_days,
            weighted=round(weighted, 4),
            last_at=max(times) if times else None,  # type: ignore[type-var]
            granularity=granularity,
        )

    # -- retention ---------------------------------------------------------------------------------------------

    async def purge(self, now: dt.datetime) -> dict[str, int]:
        """Delete everything whose event time is older than ``retention_days`` before ``now``; rows per table."""
        cutoff = self._ts(now - self._retention)
        deleted: dict[str, int] = {}
        async with self._backend.transaction() as tx:
            for table, statement in sql.PURGES:
                deleted[table] = await tx.execute(statement, cutoff)
        return deleted

    # -- reads for the report ----------------------------------------------------------------------------------

    async def schema_version(self) -> int:
        rows = await self._backend.fetch("SELECT MAX(version) FROM schema_migrations")
        return int(rows[0][0] or 0)

    async def calls_per_hour(self, start: dt.datetime, end: dt.datetime) -> list[tuple[str | None, dt.datetime, int]]:
        """All calls first seen in [start, end), counted per district and UTC hour."""
        rows = await self._backend.fetch(self._calls_per_hour_sql, self._ts(start), self._ts(end))
        return [(row[0], self._from_ts(row[1]), int(row[2])) for row in rows]  # type: ignore[misc]

    async def roster_hours(self, start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, str, int, int]]:
        rows = await self._backend.fetch(sql.ROSTER_HOURS, self._ts(start), self._ts(end))
        return [(self._from_ts(r[0]), r[1], int(r[2]), int(r[3])) for r in rows]  # type: ignore[misc]

    async def crisis_outcomes(self, start: dt.datetime, end: dt.datetime) -> list[IncidentOutcome]:
        """Incidents first seen in [start, end) that were flagged or ended as a crisis, with everything joined."""
        args = (self._ts(start), self._ts(end))
        fetch = self._backend.fetch
        decode = self._from_ts
        units: dict[str, list[UnitOutcome]] = defaultdict(list)
        for r in await fetch(sql.CRISIS_UNITS, *args):
            units[r[0]].append(UnitOutcome(r[1], decode(r[2]), decode(r[3]), decode(r[4]), decode(r[5]),
                                           bool(r[6]), bool(r[7])))
        recs: dict[str, list[PublishedRecommendation]] = defaultdict(list)
        for r in await fetch(sql.CRISIS_RECOMMENDATIONS, *args):
            candidates = tuple(CandidateRef(u, k, bool(c)) for u, k, c in orjson.loads(r[4]))
            recs[r[0]].append(PublishedRecommendation(int(r[1]), r[2], r[3], candidates,
                                                      tuple(orjson.loads(r[5])), decode(r[6])))  # type: ignore[arg-type]
        feedback: dict[str, list[Feedback]] = defaultdict(list)
        for r in await fetch(sql.CRISIS_FEEDBACK, *args):
            feedback[r[0]].append(Feedback(r[0], r[2], r[1], decode(r[3]), r[4]))  # type: ignore[arg-type]
        outcomes = []
        for r in await fetch(sql.CRISIS_INCIDENTS, *args):
            incident_id = r[0]
            outcomes.append(IncidentOutcome(
                incident_id=incident_id,
                agency=r[1],
                first_seen_at=decode(r[2]),  # type: ignore[arg-type]
                district=r[3],
                beat=r[4],
                initial_nature=r[5],
                final_nature=r[6],
                intake_crisis=bool(r[7]),
                flagged_at=decode(r[8]),
                flag_tier=r[9],
                flag_score=r[10],
                ended_crisis=bool(r[11]),
                closed=bool(r[12]),
                disposition=tuple(orjson.loads(r[13])),
                units=tuple(sorted(units.get(incident_id, ()), key=lambda u: u.unit_id)),
                recommendations=tuple(sorted(recs.get(incident_id, ()), key=lambda p: (p.revision, p.produced_at))),
                feedback=tuple(sorted(feedback.get(incident_id, ()), key=lambda f: (f.at, f.reason_code))),
            ))
        outcomes.sort(key=lambda o: (o.first_seen_at, o.incident_id))
        return outcomes

    async def close(self) -> None:
        await self._backend.close()


__all__ = ["OutcomeStore", "SchemaTooNewError", "SqlOutcomeStore", "Transaction", "migrate", "open_store"]
