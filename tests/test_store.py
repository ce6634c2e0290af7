"""The outcome store on both real backends: migrations, idempotent batches, merges, purge, premise history,
privacy, and the time a 1,000-record batch takes."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import sqlite3

import asyncpg
import pytest

from dispatch_bridge.contracts import IncidentEvent, Location
from dispatch_bridge.domain import Assessment
from dispatch_bridge.outcomes import (
    CandidateRef,
    Feedback,
    IncidentSeen,
    RecommendationPublished,
    RosterSnapshot,
    SchemaTooNewError,
    StoreSettings,
    open_store,
)
from dispatch_bridge.outcomes import sql
from dispatch_bridge.outcomes.backends import PostgresBackend, SqliteBackend
from dispatch_bridge.outcomes.store import OutcomeStore, migrate
from tests.pg import pg_server, pg_url, store_url  # noqa: F401

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
CRISIS = Assessment(crisis=True, score=0.8, response="cit_officer", ruleset_version="r1", ruleset_sha256="x")
CALM = Assessment(crisis=False, score=0.0, response="none", ruleset_version="r1", ruleset_sha256="x")
ADDRESS = "1234 N Main St Apt 5"


def event(incident_id: str, revision: int, when: dt.datetime, nature: str = "EDP", *, address: str = ADDRESS,
          beat: str = "B1", units: tuple[dict, ...] = (), disposition: tuple[str, ...] = (),
          flags: tuple[str, ...] = ()) -> IncidentEvent:
    return IncidentEvent.model_validate({
        "schema_version": 1, "event_id": f"{incident_id}/{revision}", "event_type": "incident.updated",
        "occurred_at": when, "agency": "CITY",
        "incident": {"id": incident_id, "revision": revision, "nature_code": nature, "nature_text": "PSYCH",
                     "caller_party": "third",
                     "narrative": [{"text": "caller Jane Roe at 555-0100 says brother hearing voices"}],
                     "location": {"address": address, "beat": beat, "district": "D1", "lat": 47.6, "lon": -122.3},
                     "units": list(units), "disposition": list(disposition), "flags": list(flags)},
    })


async def opened(url: str, **overrides: object) -> OutcomeStore:
    return await open_store(StoreSettings(url=url, **overrides))  # type: ignore[arg-type]


async def dump(store: OutcomeStore) -> dict[str, list[tuple]]:
    """Every row of every table, in a stable order, as plain tuples."""
    backend = store._backend  # type: ignore[attr-defined]
    tables = {}
    for table in ("incidents", "incident_units", "recommendations", "recommendation_reranks", "feedback",
                  "roster_hours", "crisis_premises"):
        rows = await backend.fetch(f"SELECT * FROM {table}")
        tables[table] = sorted(tuple(row) for row in rows)
    return tables


# -- migrations ------------------------------------------------------------------------------------------------


async def test_migrations_run_once_and_record_versions(store_url: str) -> None:
    store = await opened(store_url)
    try:
        assert await store.schema_version() == sql.SCHEMA_VERSION == 3
        rows = await store._backend.fetch("SELECT version, name FROM schema_migrations ORDER BY version")  # type: ignore[attr-defined]
        assert [(r[0], r[1]) for r in rows] == [(m.version, m.name) for m in sql.MIGRATIONS]
        # Running again (a second instance starting) applies nothing.
        assert await migrate(store._backend) == []  # type: ignore[attr-defined]
    finally:
        await store.close()
    reopened = await opened(store_url)
    try:
        assert await reopened.schema_version() == 3
    finally:
        await reopened.close()


async def _raw_backend(url: str):
    if url.startswith("sqlite"):
        return await SqliteBackend.connect(url)
    return await PostgresBackend.connect(url, 2)


async def test_upgrade_from_version_1_keeps_data(store_url: str) -> None:
    backend = await _raw_backend(store_url)
    try:
        assert await migrate(backend, target=1) == [1]
        async with backend.transaction() as tx:
            await tx.execute("INSERT INTO roster_hours VALUES ($1, $2, $3, $4)", backend.dialect.encode_ts(T0), "D9", 4, 3)
    finally:
        await backend.close()
    store = await opened(store_url)  # open_store brings it to the newest version
    try:
        assert await store.schema_version() == sql.SCHEMA_VERSION
        assert await store.roster_hours(T0, T0 + dt.timedelta(hours=1)) == [(T0, "D9", 4, 3)]
        history = await store.premise_history(Location(address=ADDRESS), T0)
        assert history is not None and history.crisis_calls == 0  # the v2 table exists and answers
    finally:
        await store.close()


# The release before migration 3, as its instances write while a rolling update replaces them.
V2_INSERT_RECOMMENDATION = """
INSERT INTO recommendations (incident_id, revision, ruleset_version, response, candidates, fallbacks,
    produced_at, occurred_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (incident_id, revision, ruleset_version) DO NOTHING
"""


async def test_re_rankings_are_all_kept_and_the_release_before_writes_on_during_the_upgrade(store_url: str) -> None:
    backend = await _raw_backend(store_url)
    try:
        assert await migrate(backend, target=2) == [1, 2]
    finally:
        await backend.close()
    store = await opened(store_url)
    try:
        assert await store.schema_version() == 3
        ts = store._backend.dialect.encode_ts  # type: ignore[attr-defined]
        async with store._backend.transaction() as tx:  # type: ignore[attr-defined]
            # An instance of the release before, still running, writes a revision's recommendation.
            await tx.executemany(V2_INSERT_RECOMMENDATION, [
                ("I1", 2, "r1", "cit_officer", '[["U1","patrol",true]]', "[]", ts(T0), ts(T0))])
        when = T0 + dt.timedelta(minutes=1)

        def rerank(unit: str, minutes: int, event_id: str) -> RecommendationPublished:
            return RecommendationPublished("I1", 2, "r1", "cit_officer", (CandidateRef(unit, "patrol", True),), (),
                                           when + dt.timedelta(minutes=minutes), T0, "roster_change", event_id)

        await store.write([
            IncidentSeen(event("I1", 2, T0, units=({"unit_id": "U7"},)), CRISIS),
            # The same revision's recommendation from this release (redelivered): still one row.
            RecommendationPublished("I1", 2, "r1", "cit_officer", (CandidateRef("U1", "patrol", True),), (), T0, T0,
                                    event_id="ce-rev-2"),
            # Two re-rankings of revision 2 (U1 went busy, U5 was proposed; then U7): each is kept.
            rerank("U5", 0, "ce-rerank-a"),
            rerank("U7", 1, "ce-rerank-b"),
        ])
        await store.write([rerank("U7", 1, "ce-rerank-b")])  # a re-sent re-ranking is not a new row
        [outcome] = await store.crisis_outcomes(T0, T0 + dt.timedelta(days=1))
        assert [rec.candidates[0].unit_id for rec in outcome.recommendations] == ["U1", "U5", "U7"]
        # Dispatch sent U7, the last re-ranking's first choice: the advice was followed.
        assert outcome.followed is True
        # Retention covers the re-rankings too.
        deleted = await store.purge(T0 + dt.timedelta(days=StoreSettings().retention_days + 1))
        assert deleted["recommendation_reranks"] == 2 and deleted["recommendations"] == 1
    finally:
        await store.close()


async def test_refuses_a_schema_from_a_newer_release(store_url: str) -> None:
    store = await opened(store_url)
    try:
        async with store._backend.transaction() as tx:  # type: ignore[attr-defined]
            await tx.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 99, "future")
    finally:
        await store.close()
    with pytest.raises(SchemaTooNewError, match="version 99"):
        await opened(store_url)


# -- writes ----------------------------------------------------------------------------------------------------


def batch() -> list:
    return [
        IncidentSeen(event("I1", 1, T0, "WELFARE"), CALM),
        IncidentSeen(event("I1", 2, T0 + dt.timedelta(minutes=5), "EDP",
                           units=({"unit_id": "U1", "dispatched_at": T0 + dt.timedelta(minutes=5)},)),
                     CRISIS, frozenset({"U1"})),
        IncidentSeen(event("I1", 3, T0 + dt.timedelta(minutes=9), "EDP",
                           units=({"unit_id": "U1", "on_scene_at": T0 + dt.timedelta(minutes=9)},
                                  {"unit_id": "U2"}), disposition=("MCT-UNAV",)), CRISIS, frozenset({"U1"})),
        RecommendationPublished("I1", 2, "r1", "cit_officer", (CandidateRef("U1", "patrol", True),),
                                ("team_out_of_hours",), T0 + dt.timedelta(minutes=5, seconds=1)),
        Feedback("I1", "dispatcher_judgment", "api", T0 + dt.timedelta(minutes=20), note="caller Jane Roe asked"),
        RosterSnapshot(T0 + dt.timedelta(minutes=30), {"D1": (3, 2), "D2": (1, 1)}),
    ]


async def test_redelivery_and_reordering_leave_the_same_rows(store_url: str) -> None:
    store = await opened(store_url, disposition_reasons={"MCT-UNAV": "team_unavailable"})
    try:
        await store.write(batch())
        first = await dump(store)
        await store.write(batch())  # redelivered
        await store.write(batch()[::-1])  # and out of order
        assert await dump(store) == first
        assert len(first["incidents"]) == 1 and len(first["incident_units"]) == 2
        assert len(first["recommendations"]) == 1 and len(first["feedback"]) == 2  # api + cad reason
        assert len(first["roster_hours"]) == 2 and len(first["crisis_premises"]) == 1
    finally:
        await store.close()


async def test_merge_keeps_initial_and_final_facts(store_url: str) -> None:
    store = await opened(store_url, disposition_reasons={"MCT-UNAV": "team_unavailable"})
    try:
        # Newest revision first: an older snapshot arriving late must not overwrite newer facts.
        await store.write(batch()[::-1])
        [outcome] = await store.crisis_outcomes(T0, T0 + dt.timedelta(days=1))
        assert outcome.initial_nature == "WELFARE" and outcome.final_nature == "EDP"
        assert outcome.first_seen_at == T0
        assert outcome.intake_crisis is False
        assert outcome.flagged_at == T0 + dt.timedelta(minutes=5) and outcome.flag_tier == "cit_officer"
        assert outcome.disposition == ("MCT-UNAV",) and outcome.ended_crisis
        u1, u2 = outcome.units
        # U1's dispatch time (rev 2) survives rev 3 omitting it; its on-scene time comes from rev 3.
        assert (u1.unit_id, u1.dispatched_at, u1.on_scene_at, u1.cit) == (
            "U1", T0 + dt.timedelta(minutes=5), T0 + dt.timedelta(minutes=9), True)
        assert (u2.unit_id, u2.cit, u2.on_scene_at) == ("U2", False, None)
        assert outcome.cit_recommended and outcome.cit_dispatched and outcome.cit_on_scene
        assert outcome.followed is True
        assert [(f.source, f.reason_code) for f in outcome.feedback] == [
            ("cad", "team_unavailable"), ("api", "dispatcher_judgment")]
        assert outcome.recommendations[0].fallbacks == ("team_out_of_hours",)
    finally:
        await store.close()


def shuffled_revisions(incidents: int = 60, revisions: int = 6) -> list:
    """Every revision of many incidents in one shuffled batch: rows of one key land in different chunks of a
    multi-row statement and in every order."""
    rng = random.Random(7)
    records: list = []
    for n in range(incidents):
        for rev in range(revisions):
            when = T0 + dt.timedelta(minutes=n + rev)
            units = tuple({"unit_id": f"U{(n + k) % 9}", "dispatched_at": when if rev % 2 else None,
                           "on_scene_at": when if rev == revisions - 1 else None} for k in range(rev % 3))
            records.append(IncidentSeen(
                event(f"M{n}", rev, when, ("WELFARE", "EDP", "SUICIDAL")[(n + rev) % 3], units=units,
                      address=f"{n % 7} Main St", disposition=("MCT-UNAV",) if rev == revisions - 1 else ()),
                CRISIS if (n + rev) % 4 == 0 else CALM, frozenset({"U1", "U4"})))
        records.append(RosterSnapshot(T0 + dt.timedelta(minutes=n), {"D1": (n % 5, n % 3)}))
    rng.shuffle(records)
    return records


async def test_one_big_batch_merges_exactly_as_record_by_record(store_url: str) -> None:
    store = await opened(store_url, disposition_reasons={"MCT-UNAV": "team_unavailable"})
    try:
        records = shuffled_revisions()
        await store.write(records)
        together = await dump(store)
        async with store._backend.transaction() as tx:  # type: ignore[attr-defined]
            for table in together:
                await tx.execute(f"DELETE FROM {table}")
        for record in records:
            await store.write([record])
        assert await dump(store) == together
        assert len(together["incidents"]) == 60 and len(together["incident_units"]) > 100
        assert len(together["crisis_premises"]) > 30 and len(together["feedback"]) == 60
    finally:
        await store.close()


def cad_revisions(rng: random.Random, incidents: int = 40) -> list:
    """Calls as a CAD sends them: each unit's times, once reported, repeated in the later snapshots, but now and
    then one left out or corrected, a late snapshot delivered out of order, a flag that comes and goes."""
    per_call: list[list] = []
    for n in range(incidents):
        units = [f"U{k}" for k in rng.sample(range(12), rng.randint(0, 3))]
        times = {(u, col): T0 + dt.timedelta(minutes=n + rng.randint(0, 30))
                 for u in units for col in ("dispatched_at", "enroute_at", "on_scene_at", "cleared_at")}
        reported = {key: rng.randint(0, 5) for key in times}  # the revision from which a time is reported
        calls = []
        for rev in range(rng.randint(1, 6)):
            listed = []
            for u in units[:rev]:
                unit: dict = {"unit_id": u}
                for col in ("dispatched_at", "enroute_at", "on_scene_at", "cleared_at"):
                    roll = rng.random()
                    if rev >= reported[(u, col)] and roll > 0.15:
                        unit[col] = times[(u, col)] + (dt.timedelta(seconds=30) if roll > 0.9 else dt.timedelta())
                listed.append(unit)
            when = T0 + dt.timedelta(minutes=n, seconds=rng.choice((rev * 40, rev * 40, 0)))
            calls.append(IncidentSeen(
                event(f"C{n}", rev, when, rng.choice(("WELFARE", "EDP", "SUICIDAL")), units=tuple(listed),
                      beat=rng.choice(("B1", "B2")), address=f"{n % 5} Main St",
                      disposition=("MCT-UNAV",) if rng.random() < 0.2 else ()),
                rng.choice((CRISIS, CALM, None)), frozenset(u for u in units if rng.random() < 0.5),
                frozenset(u for u in units if rng.random() < 0.2)))
        if len(calls) > 2 and rng.random() < 0.3:  # a late snapshot
            calls.insert(rng.randrange(len(calls) - 1), calls.pop())
        per_call.append(calls)
    # Calls interleaved, each call's snapshots in their (mostly ascending) order.
    records: list = []
    while per_call:
        calls = rng.choice(per_call)
        records.append(calls.pop(0))
        if not calls:
            per_call.remove(calls)
    return records


async def test_rows_folded_per_key_leave_what_record_by_record_leaves_over_any_stored_row(store_url: str) -> None:
    store = await opened(store_url, disposition_reasons={"MCT-UNAV": "team_unavailable"})
    try:
        for seed in range(6):
            rng = random.Random(seed)
            records = cad_revisions(rng)
            # Some of the records already stored (earlier batches, a redelivery), the rest in one batch.
            picks = [rng.random() < 0.3 for _ in records]
            stored = [r for r, pick in zip(records, picks) if pick]
            rest = [r for r, pick in zip(records, picks) if not pick]
            results = []
            for together in (True, False):
                async with store._backend.transaction() as tx:  # type: ignore[attr-defined]
                    for table in ("incidents", "incident_units", "crisis_premises", "feedback"):
                        await tx.execute(f"DELETE FROM {table}")
                for record in stored:
                    await store.write([record])
                if together:
                    await store.write(rest)
                else:
                    for record in rest:
                        await store.write([record])
                results.append(await dump(store))
            assert results[0] == results[1], f"seed {seed}"
            assert len(results[0]["incidents"]) == 40 and results[0]["incident_units"]
    finally:
        await store.close()


async def test_a_calls_revisions_in_one_batch_are_written_as_one_row_per_key(store_url: str) -> None:
    store = await opened(store_url)
    handed: list[tuple[str, int]] = []
    backend = store._backend  # type: ignore[attr-defined]
    write_batch = backend.write_batch

    async def recording(statements):  # type: ignore[no-untyped-def]
        handed.extend((statement.split()[2], len(rows)) for statement, rows in statements if rows)
        await write_batch(statements)

    backend.write_batch = recording
    try:
        dispatched = T0 + dt.timedelta(minutes=2)
        on_scene = T0 + dt.timedelta(minutes=9)
        await store.write([
            IncidentSeen(event("I1", rev, T0 + dt.timedelta(minutes=rev),
                               units=({"unit_id": "U1", "dispatched_at": dispatched if rev >= 2 else None,
                                       "on_scene_at": on_scene if rev >= 4 else None}, {"unit_id": "U2"})),
                         CRISIS if rev >= 3 else CALM, frozenset({"U1"}) if rev == 5 else frozenset())
            for rev in range(1, 7)
        ])
        assert handed == [("incidents", 1), ("incident_units", 2), ("crisis_premises", 1)]
        [outcome] = await store.crisis_outcomes(T0, T0 + dt.timedelta(days=1))
        assert outcome.flagged_at == T0 + dt.timedelta(minutes=3) and outcome.first_seen_at == T0 + dt.timedelta(minutes=1)
        u1, u2 = outcome.units
        assert (u1.dispatched_at, u1.on_scene_at, u1.cit) == (dispatched, on_scene, True)
        assert (u2.dispatched_at, u2.cit) == (None, False)
    finally:
        await store.close()


async def test_roster_hour_keeps_the_lowest_count(store_url: str) -> None:
    store = await opened(store_url)
    try:
        await store.write([RosterSnapshot(T0.replace(minute=10), {"D1": (3, 1)})])
        await store.write([RosterSnapshot(T0.replace(minute=40), {"D1": (1, 2)})])
        assert await store.roster_hours(T0, T0 + dt.timedelta(hours=1)) == [(T0, "D1", 1, 1)]
    finally:
        await store.close()


async def test_a_failing_batch_writes_nothing(store_url: str) -> None:
    store = await opened(store_url)
    try:
        naive = RosterSnapshot(dt.datetime(2026, 5, 1, 12), {"D1": (1, 1)})
        with pytest.raises(ValueError, match="time zone"):
            await store.write([IncidentSeen(event("I9", 0, T0), CRISIS), naive])
        assert (await dump(store))["incidents"] == []
        # A database error inside the transaction rolls the whole batch back as well.
        bad = RecommendationPublished("I9", 0, "r1", "cit_officer", (), (), T0)
        object.__setattr__(bad, "response", None)  # violates NOT NULL on both engines
        with pytest.raises((sqlite3.IntegrityError, asyncpg.NotNullViolationError)):
            await store.write([IncidentSeen(event("I9", 0, T0), CRISIS), bad])
        assert (await dump(store))["incidents"] == []
        await store.write([IncidentSeen(event("I9", 0, T0), CRISIS)])  # and the store still works
        assert len((await dump(store))["incidents"]) == 1
    finally:
        await store.close()


async def test_a_transaction_cancelled_at_any_point_is_rolled_back_and_the_store_goes_on(store_url: str) -> None:
    """Shutdown cancels writes wherever they are: after a statement ran, or while BEGIN itself is on its way to
    the database's thread. Either way nothing of it stays, and the next transaction starts cleanly (a
    connection left inside a transaction would refuse every later BEGIN)."""
    backend = await _raw_backend(store_url)
    insert = "INSERT INTO roster_hours VALUES ($1, $2, $3, $4)"
    ts = backend.dialect.encode_ts(T0)
    try:
        await migrate(backend)
        ran = asyncio.Event()

        async def cancelled_write() -> None:
            async with backend.transaction() as tx:
                await tx.execute(insert, ts, "D8", 1, 1)
                ran.set()
                await asyncio.sleep(3600)

        for wait_for_insert in (True, False):
            ran.clear()
            task = asyncio.create_task(cancelled_write())
            if wait_for_insert:
                await ran.wait()
            else:
                await asyncio.sleep(0)  # the task is waiting for BEGIN
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await backend.fetch("SELECT district FROM roster_hours") == []
        await backend.write_batch([(insert, [(ts, "D7", 2, 2)]), (insert, [])])
        assert [tuple(row) for row in await backend.fetch("SELECT district FROM roster_hours")] == [("D7",)]
    finally:
        await backend.close()


async def test_no_narrative_caller_or_address_is_stored(store_url: str) -> None:
    store = await opened(store_url)
    try:
        await store.write(batch())
        text = repr(await dump(store))
        for secret in ("Jane", "555-0100", "voices", "1234", "Apt", "47.6", "PSYCH", "third"):
            assert secret not in text, secret
        assert "block:1200 BLOCK N MAIN ST" in text
    finally:
        await store.close()


async def test_notes_are_kept_only_when_the_agency_opts_in(store_url: str) -> None:
    store = await opened(store_url, store_feedback_notes=True)
    try:
        await store.write([Feedback("I1", "other", "api", T0, note="radio failure")])
        assert (await dump(store))["feedback"][0][-1] == "radio failure"
    finally:
        await store.close()


async def test_purge_deletes_only_rows_past_retention(store_url: str) -> None:
    store = await opened(store_url, retention_days=30)
    try:
        old, recent = T0 - dt.timedelta(days=40), T0 - dt.timedelta(days=10)
        await store.write([
            IncidentSeen(event("OLD", 0, old, units=({"unit_id": "U1"},)), CRISIS),
            RecommendationPublished("OLD", 0, "r1", "cit_officer", (), (), old, old),
            RecommendationPublished("OLD", 0, "r1", "cit_officer", (), (), old, old, "roster_change", "ce-old"),
            Feedback("OLD", "other", "api", old),
            RosterSnapshot(old, {"D1": (1, 1)}),
            IncidentSeen(event("NEW", 0, recent, units=({"unit_id": "U1"},)), CRISIS),
            RecommendationPublished("NEW", 0, "r1", "cit_officer", (), (), recent, recent),
            RecommendationPublished("NEW", 0, "r1", "cit_officer", (), (), recent, recent, "roster_change", "ce-new"),
            Feedback("NEW", "other", "api", recent),
            RosterSnapshot(recent, {"D1": (1, 1)}),
        ])
        deleted = await store.purge(T0)
        assert deleted == {"incident_units": 1, "recommendations": 1, "recommendation_reranks": 1, "feedback": 1,
                           "crisis_premises": 1, "incidents": 1, "roster_hours": 1}
        left = await dump(store)
        assert [r[0] for r in left["incidents"]] == ["NEW"]
        assert all(len(rows) == 1 for rows in left.values())
        assert await store.purge(T0) == dict.fromkeys(deleted, 0)
    finally:
        await store.close()


# -- premise history -------------------------------------------------------------------------------------------


async def test_premise_history_window_decay_and_self_exclusion(store_url: str) -> None:
    store = await opened(store_url, premise_window_days=60, premise_half_life_days=30)
    now = T0
    try:
        await store.write([
            IncidentSeen(event("P1", 0, now - dt.timedelta(days=30), address="1210 N Main St"), CRISIS),
            IncidentSeen(event("P2", 0, now - dt.timedelta(days=59), address="1299 N MAIN ST #2"), CRISIS),
            IncidentSeen(event("P3", 0, now - dt.timedelta(days=61), address="1234 N Main St"), CRISIS),  # too old
            IncidentSeen(event("P4", 0, now - dt.timedelta(days=1), address="1300 N Main St"), CRISIS),  # next block
            IncidentSeen(event("P5", 0, now - dt.timedelta(days=2), "NOISE", address="1234 N Main St"), CALM),  # no crisis
            # Not flagged, but the CAD closed it as a crisis call: it counts.
            IncidentSeen(event("P6", 0, now - dt.timedelta(days=3), "DISTURB", address="1250 N Main St",
                               disposition=("CRISIS",)), CALM),
            IncidentSeen(event("SELF", 0, now - dt.timedelta(minutes=10)), CRISIS),
            IncidentSeen(event("LATER", 0, now + dt.timedelta(days=1)), CRISIS),  # after the event time
        ])
        here = Location(address=ADDRESS, beat="B1")
        history = await store.premise_history(here, now, incident_id="SELF")
        assert history is not None
        assert (history.crisis_calls, history.window_days, history.granularity) == (3, 60, "block")
        expected = 0.5 ** 1 + 0.5 ** (59 / 30) + 0.5 ** (3 / 30)
        assert history.weighted == pytest.approx(expected, abs=1e-3)
        assert history.last_at == now - dt.timedelta(days=3)
        assert history.describe() == "3 crisis calls at this block in the last 60 days"
        # Without the exclusion the call itself (flagged ten minutes ago) would count.
        assert (await store.premise_history(here, now)).crisis_calls == 4  # type: ignore[union-attr]
        # Replaying last year's calls behaves as it did live: the window runs on event time.
        past = await store.premise_history(here, now - dt.timedelta(days=31), incident_id="SELF")
        assert past is not None and past.crisis_calls == 2  # P2 (28 days before) and P3 (30 days before)
        unknown = await store.premise_history(None, now)
        assert unknown is not None and unknown.crisis_calls == 0
    finally:
        await store.close()


async def test_premise_history_by_beat_and_when_disabled(store_url: str) -> None:
    store = await opened(store_url, location_granularity="beat")
    try:
        await store.write([
            IncidentSeen(event("Q1", 0, T0 - dt.timedelta(days=5), address="9 Oak Ave", beat="b7"), CRISIS),
            IncidentSeen(event("Q2", 0, T0 - dt.timedelta(days=6), beat="B8"), CRISIS),
        ])
        history = await store.premise_history(Location(address=ADDRESS, beat="B7"), T0)
        assert history is not None and (history.crisis_calls, history.granularity) == (1, "beat")
        assert "block" not in repr(await dump(store))
    finally:
        await store.close()
    disabled = await opened(store_url, premise_enabled=False)
    try:
        assert await disabled.premise_history(Location(beat="B7"), T0) is None
    finally:
        await disabled.close()


async def test_premise_lookup_uses_the_index(store_url: str) -> None:
    store = await opened(store_url)
    try:
        backend = store._backend  # type: ignore[attr-defined]
        args = ("block:1200 BLOCK N MAIN ST", backend.dialect.encode_ts(T0), backend.dialect.encode_ts(T0), "")
        if store.backend_name == "sqlite":
            plan = await backend.fetch("EXPLAIN QUERY PLAN " + sql.PREMISE_LOOKUP, *args)
            assert "crisis_premises_lookup" in repr(plan)
        else:
            async with backend.transaction() as tx:
                await tx.execute("SET LOCAL enable_seqscan = off")  # an empty table would otherwise be scanned
                plan = await tx.fetch("EXPLAIN " + sql.PREMISE_LOOKUP, *args)
            assert "crisis_premises_lookup" in repr(plan)
    finally:
        await store.close()


# -- speed -----------------------------------------------------------------------------------------------------


def thousand(offset: int) -> list:
    """1,000 records as the consumer sends them: mostly incident revisions, some recommendations."""
    records: list = []
    for i in range(800):
        when = T0 + dt.timedelta(seconds=offset + i)
        units = ({"unit_id": f"U{i % 50}", "dispatched_at": when},) if i % 2 else ()
        records.append(IncidentSeen(event(f"S{offset}-{i}", 0, when, units=units,
                                          address=f"{i} Main St"), CRISIS if i % 10 == 0 else CALM))
    for i in range(200):
        records.append(RecommendationPublished(f"S{offset}-{i}", 0, "r1", "cit_officer",
                                               (CandidateRef("U1", "patrol", True),), (), T0))
    return records


async def test_batches_of_1000_records_land_whole(store_url: str) -> None:
    # How long a batch takes is measured in bench/ (breakdown: the store write per row), never asserted here.
    store = await opened(store_url)
    try:
        for round_ in range(4):
            await store.write(thousand(round_ * 10_000))
        rows = await dump(store)
        assert len(rows["incidents"]) == 3200 and len(rows["recommendations"]) == 800
        # Every call ends as EDP, a crisis nature: each has a premise row, flagged or not.
        assert len(rows["incident_units"]) == 1600 and len(rows["crisis_premises"]) == 3200
    finally:
        await store.close()
