"""The SQL both backends share: schema migrations, upserts, reads and purges, written once.

Statements use PostgreSQL's numbered parameters (``$1``); the SQLite backend rewrites them to SQLite's own
numbered form (``?1``) once per statement. Upserts use ``INSERT .. ON CONFLICT .. DO UPDATE`` with ``excluded``,
which both engines support. Merges are written as CASE expressions because the engines disagree on scalar
MIN/MAX with NULLs (SQLite ``min(a, NULL)`` is NULL, PostgreSQL ``LEAST`` skips NULLs). Every merge is
idempotent and order-independent (min, max, newest revision wins), so a redelivered or reordered Kafka batch
leaves the same rows. Only timestamp and float column types differ per dialect ({ts}, {real}, {now}).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

UTC = dt.timezone.utc


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    ts_type: str
    real_type: str
    now: str
    # Rewrites a shared statement for the driver (numbered parameters).
    rewrite: Callable[[str], str]
    encode_ts: Callable[[dt.datetime | None], Any]
    decode_ts: Callable[[Any], dt.datetime | None]
    # Truncates a timestamp column to its UTC hour (for counting calls per hour in SQL).
    hour_bucket: str

    def ddl(self, template: str) -> str:
        return template.format(ts=self.ts_type, real=self.real_type, now=self.now)


def _require_aware(value: dt.datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("outcome store times must carry a time zone")


def utc_hour(value: dt.datetime) -> dt.datetime:
    """The UTC hour an instant falls in (roster snapshots are kept per hour)."""
    _require_aware(value)
    return value.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _sqlite_encode(value: dt.datetime | None) -> str | None:
    # Fixed-width UTC ISO text sorts like the instant it names, so text comparisons are time comparisons.
    if value is None:
        return None
    if type(value.tzinfo) is dt.timezone:
        return _utc_text_cached(value)
    _require_aware(value)
    return _utc_text(value)


def _utc_text(value: dt.datetime) -> str:
    # isoformat is several times cheaper than strftime, and pads years below 1000 (strftime's %Y does not).
    return value.astimezone(UTC).isoformat(timespec="microseconds")[:26] + "Z"


# A CAD snapshot repeats its units' times in every revision, and each is encoded again per outcome row: the
# conversion costs microseconds, a cache hit a fraction of one. Only fixed offsets (what the CAD's times decode
# to) are cached: they compare as instants, while two times of one ZoneInfo zone that differ only in ``fold``
# compare equal though an hour apart.
_utc_text_cached = lru_cache(maxsize=8192)(_utc_text)


def _sqlite_decode(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if len(value) == 13:  # an hour bucket, "YYYY-MM-DDTHH"
        return dt.datetime.strptime(value, "%Y-%m-%dT%H").replace(tzinfo=UTC)
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _pg_encode(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None:
        _require_aware(value)
    return value


def _pg_decode(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


_DOLLAR = re.compile(r"\$(\d+)")

SQLITE = Dialect(
    name="sqlite",
    ts_type="TEXT",
    real_type="REAL",
    now="CURRENT_TIMESTAMP",
    rewrite=lambda sql: _DOLLAR.sub(r"?\1", sql),
    encode_ts=_sqlite_encode,
    decode_ts=_sqlite_decode,
    hour_bucket="substr({col}, 1, 13)",
)

POSTGRESQL = Dialect(
    name="postgresql",
    ts_type="TIMESTAMPTZ",
    real_type="DOUBLE PRECISION",
    now="now()",
    rewrite=lambda sql: sql,
    encode_ts=_pg_encode,
    decode_ts=_pg_decode,
    # The session time zone is pinned to UTC when connecting.
    hour_bucket="date_trunc('hour', {col})",
)


# ---------------------------------------------------------------------------------------------------------------
# Migrations: append only. A deployed version is never edited; a change is a new entry.

@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at {ts} NOT NULL DEFAULT {now}
)"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "incidents, units, recommendations, feedback, roster hours",
        (
            # One row per incident, merged over its revisions. No narrative, caller or address columns.
            """CREATE TABLE incidents (
                incident_id TEXT PRIMARY KEY,
                agency TEXT NOT NULL,
                first_seen_at {ts} NOT NULL,
                last_event_at {ts} NOT NULL,
                min_revision BIGINT NOT NULL,
                initial_nature TEXT NOT NULL,
                intake_crisis SMALLINT NOT NULL,
                revision BIGINT NOT NULL,
                final_nature TEXT NOT NULL,
                final_apco TEXT,
                district TEXT,
                beat TEXT,
                location_key TEXT,
                disposition TEXT NOT NULL,
                closed SMALLINT NOT NULL,
                ended_crisis SMALLINT NOT NULL,
                flagged_at {ts},
                flag_revision BIGINT,
                flag_tier TEXT,
                flag_score {real},
                flag_ruleset TEXT
            )""",
            "CREATE INDEX incidents_first_seen ON incidents (first_seen_at)",
            "CREATE INDEX incidents_last_event ON incidents (last_event_at)",
            """CREATE TABLE incident_units (
                incident_id TEXT NOT NULL,
                unit_id TEXT NOT NULL,
                revision BIGINT NOT NULL,
                first_listed_at {ts} NOT NULL,
                dispatched_at {ts},
                enroute_at {ts},
                on_scene_at {ts},
                cleared_at {ts},
                cit SMALLINT NOT NULL,
                team SMALLINT NOT NULL,
                PRIMARY KEY (incident_id, unit_id)
            )""",
            """CREATE TABLE recommendations (
                incident_id TEXT NOT NULL,
                revision BIGINT NOT NULL,
                ruleset_version TEXT NOT NULL,
                response TEXT NOT NULL,
                candidates TEXT NOT NULL,
                fallbacks TEXT NOT NULL,
                produced_at {ts} NOT NULL,
                occurred_at {ts},
                PRIMARY KEY (incident_id, revision, ruleset_version)
            )""",
            """CREATE TABLE feedback (
                incident_id TEXT NOT NULL,
                source TEXT NOT NULL,
                reason_code TEXT NOT NULL,
                at {ts} NOT NULL,
                note TEXT,
                PRIMARY KEY (incident_id, source, reason_code)
            )""",
            "CREATE INDEX feedback_at ON feedback (at)",
            """CREATE TABLE roster_hours (
                hour {ts} NOT NULL,
                district TEXT NOT NULL,
                on_duty_cit INTEGER NOT NULL,
                available_cit INTEGER NOT NULL,
                PRIMARY KEY (hour, district)
            )""",
        ),
    ),
    Migration(
        2,
        "premise history of crisis calls by block or beat",
        (
            """CREATE TABLE crisis_premises (
                incident_id TEXT PRIMARY KEY,
                location_key TEXT NOT NULL,
                revision BIGINT NOT NULL,
                occurred_at {ts} NOT NULL
            )""",
            # premise_history() is one range scan on this index per crisis candidate.
            "CREATE INDEX crisis_premises_lookup ON crisis_premises (location_key, occurred_at)",
        ),
    ),
    Migration(
        3,
        "re-rankings of a revision, one row each",
        (
            # A re-ranking (a roster change: same revision, new choice) shares its revision's key in
            # `recommendations`, whose insert kept the first and dropped the rest. Its own table, keyed by the
            # CloudEvents id (one per re-ranking, the same when re-sent): additive, so instances of the release
            # before go on writing `recommendations` unchanged while a rolling update replaces them.
            """CREATE TABLE recommendation_reranks (
                incident_id TEXT NOT NULL,
                event_id TEXT NOT NULL,
                revision BIGINT NOT NULL,
                ruleset_version TEXT NOT NULL,
                response TEXT NOT NULL,
                candidates TEXT NOT NULL,
                fallbacks TEXT NOT NULL,
                produced_at {ts} NOT NULL,
                occurred_at {ts},
                PRIMARY KEY (incident_id, event_id)
            )""",
        ),
    ),
)

SCHEMA_VERSION = MIGRATIONS[-1].version

# ---------------------------------------------------------------------------------------------------------------
# Writes


def _newest(col: str, table: str) -> str:
    return f"{col} = CASE WHEN excluded.revision >= {table}.revision THEN excluded.{col} ELSE {table}.{col} END"


def _oldest(col: str) -> str:
    return (
        f"{col} = CASE WHEN excluded.min_revision < incidents.min_revision "
        f"THEN excluded.{col} ELSE incidents.{col} END"
    )


def _earliest_flag(col: str) -> str:
    return (
        f"{col} = CASE WHEN excluded.flagged_at IS NOT NULL AND (incidents.flagged_at IS NULL "
        f"OR excluded.flagged_at < incidents.flagged_at) THEN excluded.{col} ELSE incidents.{col} END"
    )


UPSERT_INCIDENT = f"""
INSERT INTO incidents (incident_id, agency, first_seen_at, last_event_at, min_revision, initial_nature,
    intake_crisis, revision, final_nature, final_apco, district, beat, location_key, disposition, closed,
    ended_crisis, flagged_at, flag_revision, flag_tier, flag_score, flag_ruleset)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
ON CONFLICT (incident_id) DO UPDATE SET
    first_seen_at = CASE WHEN excluded.first_seen_at < incidents.first_seen_at
        THEN excluded.first_seen_at ELSE incidents.first_seen_at END,
    last_event_at = CASE WHEN excluded.last_event_at > incidents.last_event_at
        THEN excluded.last_event_at ELSE incidents.last_event_at END,
    {_oldest("initial_nature")},
    {_oldest("intake_crisis")},
    min_revision = CASE WHEN excluded.min_revision < incidents.min_revision
        THEN excluded.min_revision ELSE incidents.min_revision END,
    {", ".join(_newest(c, "incidents") for c in (
        "agency", "final_nature", "final_apco", "district", "beat", "location_key", "disposition", "closed",
        "ended_crisis"))},
    revision = CASE WHEN excluded.revision > incidents.revision THEN excluded.revision ELSE incidents.revision END,
    {", ".join(_earliest_flag(c) for c in ("flag_revision", "flag_tier", "flag_score", "flag_ruleset"))},
    {_earliest_flag("flagged_at")}
"""


def _unit_time(col: str) -> str:
    # A time once reported is kept when a later snapshot omits it; a newer snapshot's value wins over an older one.
    return (
        f"{col} = CASE WHEN excluded.revision >= incident_units.revision "
        f"THEN COALESCE(excluded.{col}, incident_units.{col}) ELSE COALESCE(incident_units.{col}, excluded.{col}) END"
    )


UPSERT_UNIT = f"""
INSERT INTO incident_units (incident_id, unit_id, revision, first_listed_at, dispatched_at, enroute_at,
    on_scene_at, cleared_at, cit, team)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (incident_id, unit_id) DO UPDATE SET
    {", ".join(_unit_time(c) for c in ("dispatched_at", "enroute_at", "on_scene_at", "cleared_at"))},
    first_listed_at = CASE WHEN excluded.first_listed_at < incident_units.first_listed_at
        THEN excluded.first_listed_at ELSE incident_units.first_listed_at END,
    cit = CASE WHEN excluded.cit > incident_units.cit THEN excluded.cit ELSE incident_units.cit END,
    team = CASE WHEN excluded.team > incident_units.team THEN excluded.team ELSE incident_units.team END,
    revision = CASE WHEN excluded.revision > incident_units.revision
        THEN excluded.revision ELSE incident_units.revision END
"""

UPSERT_PREMISE = """
INSERT INTO crisis_premises (incident_id, location_key, revision, occurred_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT (incident_id) DO UPDATE SET
    location_key = CASE WHEN excluded.revision >= crisis_premises.revision
        THEN excluded.location_key ELSE crisis_premises.location_key END,
    revision = CASE WHEN excluded.revision > crisis_premises.revision
        THEN excluded.revision ELSE crisis_premises.revision END,
    occurred_at = CASE WHEN excluded.occurred_at < crisis_premises.occurred_at
        THEN excluded.occurred_at ELSE crisis_premises.occurred_at END
"""

INSERT_RECOMMENDATION = """
INSERT INTO recommendations (incident_id, revision, ruleset_version, response, candidates, fallbacks,
    produced_at, occurred_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (incident_id, revision, ruleset_version) DO NOTHING
"""

INSERT_RERANK = """
INSERT INTO recommendation_reranks (incident_id, event_id, revision, ruleset_version, response, candidates,
    fallbacks, produced_at, occurred_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (incident_id, event_id) DO NOTHING
"""

UPSERT_FEEDBACK = """
INSERT INTO feedback (incident_id, source, reason_code, at, note)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (incident_id, source, reason_code) DO UPDATE SET
    note = CASE WHEN excluded.at < feedback.at THEN excluded.note ELSE feedback.note END,
    at = CASE WHEN excluded.at < feedback.at THEN excluded.at ELSE feedback.at END
"""

UPSERT_ROSTER_HOUR = """
INSERT INTO roster_hours (hour, district, on_duty_cit, available_cit)
VALUES ($1, $2, $3, $4)
ON CONFLICT (hour, district) DO UPDATE SET
    on_duty_cit = CASE WHEN excluded.on_duty_cit < roster_hours.on_duty_cit
        THEN excluded.on_duty_cit ELSE roster_hours.on_duty_cit END,
    available_cit = CASE WHEN excluded.available_cit < roster_hours.available_cit
        THEN excluded.available_cit ELSE roster_hours.available_cit END
"""

# ---------------------------------------------------------------------------------------------------------------
# Reads

RECENT_PREMISES = """
SELECT incident_id, location_key, occurred_at FROM crisis_premises WHERE occurred_at >= $1
"""

PREMISE_LOOKUP = """
SELECT occurred_at FROM crisis_premises
WHERE location_key = $1 AND occurred_at >= $2 AND occurred_at < $3 AND incident_id <> $4
"""

CALLS_PER_HOUR = """
SELECT district, {bucket} AS hour, COUNT(*) FROM incidents
WHERE first_seen_at >= $1 AND first_seen_at < $2
GROUP BY district, {bucket}
"""

# Crisis incidents: flagged by the bridge at some revision, or ended as a crisis per the CAD.
_CRISIS_WHERE = "i.first_seen_at >= $1 AND i.first_seen_at < $2 AND (i.flagged_at IS NOT NULL OR i.ended_crisis = 1)"

CRISIS_INCIDENTS = f"""
SELECT i.incident_id, i.agency, i.first_seen_at, i.district, i.beat, i.initial_nature, i.final_nature,
    i.intake_crisis, i.flagged_at, i.flag_tier, i.flag_score, i.ended_crisis, i.closed, i.disposition
FROM incidents i WHERE {_CRISIS_WHERE}
"""

CRISIS_UNITS = f"""
SELECT u.incident_id, u.unit_id, u.dispatched_at, u.enroute_at, u.on_scene_at, u.cleared_at, u.cit, u.team
FROM incident_units u JOIN incidents i ON i.incident_id = u.incident_id WHERE {_CRISIS_WHERE}
"""

CRISIS_RECOMMENDATIONS = f"""
SELECT r.incident_id, r.revision, r.ruleset_version, r.response, r.candidates, r.fallbacks, r.produced_at
FROM recommendations r JOIN incidents i ON i.incident_id = r.incident_id WHERE {_CRISIS_WHERE}
UNION ALL
SELECT r.incident_id, r.revision, r.ruleset_version, r.response, r.candidates, r.fallbacks, r.produced_at
FROM recommendation_reranks r JOIN incidents i ON i.incident_id = r.incident_id WHERE {_CRISIS_WHERE}
"""

CRISIS_FEEDBACK = f"""
SELECT f.incident_id, f.source, f.reason_code, f.at, f.note
FROM feedback f JOIN incidents i ON i.incident_id = f.incident_id WHERE {_CRISIS_WHERE}
"""

ROSTER_HOURS = """
SELECT hour, district, on_duty_cit, available_cit FROM roster_hours WHERE hour >= $1 AND hour < $2
"""

# ---------------------------------------------------------------------------------------------------------------
# Purge: children before parents; everything keyed on event time except roster hours (their own hour).

_EXPIRED_INCIDENTS = "SELECT incident_id FROM incidents WHERE last_event_at < $1"

PURGES: tuple[tuple[str, str], ...] = (
    ("incident_units", f"DELETE FROM incident_units WHERE incident_id IN ({_EXPIRED_INCIDENTS})"),
    (
        "recommendations",
        "DELETE FROM recommendations WHERE COALESCE(occurred_at, produced_at) < $1 "
        f"OR incident_id IN ({_EXPIRED_INCIDENTS})",
    ),
    (
        "recommendation_reranks",
        "DELETE FROM recommendation_reranks WHERE COALESCE(occurred_at, produced_at) < $1 "
        f"OR incident_id IN ({_EXPIRED_INCIDENTS})",
    ),
    ("feedback", f"DELETE FROM feedback WHERE at < $1 OR incident_id IN ({_EXPIRED_INCIDENTS})"),
    ("crisis_premises", "DELETE FROM crisis_premises WHERE occurred_at < $1"),
    ("incidents", "DELETE FROM incidents WHERE last_event_at < $1"),
    ("roster_hours", "DELETE FROM roster_hours WHERE hour < $1"),
)
