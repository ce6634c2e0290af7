"""A store outage holds back outcome rows, nothing else: re-rankings keep going out to dispatch, the consume loop
keeps polling, and the rows land when the store returns (real broker; real SQLite held locked by another writer,
real PostgreSQL with a table locked by another session)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from dispatch_bridge.metrics import Metrics
from dispatch_bridge.outcomes import RosterSnapshot, StoreSettings, open_store
from dispatch_bridge.recording import SideRows, StoreRecorder
from dispatch_bridge.roster import Roster
from dispatch_bridge.roster.config import RosterSettings
from tests.harness import CENTRE, T0, TopicReader, eventually, incident_event, produce, running, settings_for, \
    unit_status
from tests.pg import pg_server, pg_url  # noqa: F401

CRISIS = ["CALLER SAYS HER SON IS SUICIDAL AND HEARING VOICES, OFF HIS MEDS"]
CIT_VALID = dt.date(2030, 1, 1)
WINDOW = (T0 - dt.timedelta(days=1), T0 + dt.timedelta(days=1))


@contextlib.contextmanager
def store_held_by_another_writer(tmp_path: Path) -> Iterator[None]:
    """The service's SQLite store locked by another writer: each write attempt waits out the busy timeout and
    fails, as when the store is away."""
    lock = sqlite3.connect(tmp_path / "outcomes.db", isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        lock.rollback()
        lock.close()


def _cit_unit(unit_id: str, status: str, minute: int, north: float) -> dict:
    return unit_status(unit_id, status=status, cit_until=CIT_VALID, crew_id=f"{unit_id}-ofc", lat=CENTRE[0] + north,
                       at=T0 + dt.timedelta(minutes=minute))


async def _first_choices(service) -> list[str]:
    outcomes = await service.store.crisis_outcomes(*WINDOW)
    return [rec.candidates[0].unit_id for outcome in outcomes for rec in outcome.recommendations]


async def test_re_rankings_go_out_while_the_store_is_away_and_their_rows_land_after(broker, unique, tmp_path):
    settings = settings_for(broker, unique, tmp_path)
    async with running(settings) as service, TopicReader(broker, settings.topics.recommendations) as out:
        await produce(broker, settings.topics.units, [("P-PLAIN", unit_status("P-PLAIN")),
                                                      ("P-FAR", _cit_unit("P-FAR", "dispatched", 0, 0.02)),
                                                      ("P-NEAR", _cit_unit("P-NEAR", "dispatched", 0, 0.005))])
        await eventually(lambda: len(service.roster.units) == 3)
        await produce(broker, settings.topics.incidents, [("INC-W", incident_event("INC-W", narrative=CRISIS))])
        await out.wait_for(lambda r: r.key == b"INC-W")
        async with asyncio.timeout(20):
            while await _first_choices(service) != ["P-PLAIN"]:
                await asyncio.sleep(0.05)

        # The store goes away.
        with store_held_by_another_writer(tmp_path):
            retries = service.metrics.store_retries._value.get()
            await produce(broker, settings.topics.units, [("P-FAR", _cit_unit("P-FAR", "available", 5, 0.02))])
            await eventually(lambda: len(out.for_incident("INC-W")) == 2, timeout=20)
            await eventually(lambda: service.metrics.store_retries._value.get() > retries, timeout=20)
            # The first re-ranking's rows cannot be written; the next roster change is re-ranked all the same.
            await produce(broker, settings.topics.units, [("P-NEAR", _cit_unit("P-NEAR", "available", 6, 0.005))])
            await eventually(lambda: len(out.for_incident("INC-W")) == 3, timeout=20)
            assert [r["candidates"][0]["unit_id"] for r in out.for_incident("INC-W")] == ["P-PLAIN", "P-FAR",
                                                                                           "P-NEAR"]
            assert service.ready()[0], "readiness is the broker's and the consumer's, not the store's"
        async with asyncio.timeout(30):
            while await _first_choices(service) != ["P-PLAIN", "P-FAR", "P-NEAR"]:
                await asyncio.sleep(0.1)


async def test_side_rows_keep_the_newest_when_full_and_are_written_at_stop(tmp_path):
    settings = StoreSettings(url=f"sqlite:///{tmp_path / 'o.db'}")
    store = await open_store(settings)
    metrics = Metrics()
    side = SideRows(StoreRecorder(store, Roster(RosterSettings()), metrics, settings), metrics, limit=3)
    try:
        hours = [T0 + dt.timedelta(hours=n) for n in range(5)]
        side.add([RosterSnapshot(hour, {"D1": (n, n)}) for n, hour in enumerate(hours)])
        assert len(side) == 3 and metrics.store_rows_dropped._value.get() == 2
        stop = asyncio.Event()
        stop.set()  # stopping: what is queued is still written, then it returns
        await asyncio.wait_for(side.run(stop, asyncio.Event()), timeout=10)
        assert len(side) == 0
        kept = await store.roster_hours(hours[0], hours[-1] + dt.timedelta(hours=1))
        assert [(hour, on) for hour, _, on, _ in kept] == [(hours[2], 2), (hours[3], 3), (hours[4], 4)]
    finally:
        await store.close()


async def test_a_database_that_accepts_and_never_answers_fails_the_attempt_instead_of_hanging(monkeypatch):
    from dispatch_bridge.outcomes import backends

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # reads the startup message, never answers

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setattr(backends, "CONNECT_TIMEOUT_SECONDS", 0.5)
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(backends.PostgresBackend.connect(f"postgresql://postgres@127.0.0.1:{port}/x", 1),
                                   timeout=20)
        assert asyncio.get_running_loop().time() - started < 10
    finally:
        server.close()


async def test_while_the_store_is_away_calls_are_still_recommended_then_fetching_is_held_and_nothing_is_lost(
        broker, unique, tmp_path, monkeypatch):
    from dispatch_bridge.bus import consumer as consumer_module

    monkeypatch.setattr(consumer_module, "HOLD_AFTER_SECONDS", 0.5)
    # Small batches: the usual back-pressure bound (two batches' worth, 10 records) is reached within a few calls;
    # the outage buffer lets 15 records' output out before fetching is held.
    settings = settings_for(broker, unique, tmp_path, kafka={"max_batch_records": 5},
                            processing={"outage_buffer_records": 15})
    calls = [f"INC-{n}" for n in range(30)]
    async with running(settings) as service, TopicReader(broker, settings.topics.recommendations) as out:
        await produce(broker, settings.topics.units, [("P-1", unit_status("P-1"))])
        await eventually(lambda: len(service.roster.units) == 1)
        with store_held_by_another_writer(tmp_path):
            await produce(broker, settings.topics.incidents, [(i, incident_event(i, narrative=CRISIS)) for i in calls])
            await eventually(lambda: service.incidents.held, timeout=30)
            # Dispatch got recommendations beyond the usual bound (the store's outage buffer), not all of them.
            published = len({r.key for r in out.records})
            assert 10 < published < len(calls)
            assert service.incidents.buffering
            held = service.metrics.consumption_held.labels(settings.kafka.group_id)
            await eventually(lambda: held._value.get() == 1)  # what DispatchBridgeHeldForOutcomeStore reads
            assert service.metrics.unwritten_records.labels(settings.kafka.group_id)._value.get() >= 15
            # Held, not hung: the loop polls on (group membership, /livez) while the rows wait.
            before = service.incidents.last_iteration
            await asyncio.sleep(1.0)
            assert service.incidents.last_iteration > before + 0.5
            assert service.live()[0]
            # Nothing committed past rows not written (every call came after the lock).
            assert not any(service.incidents._committed.values()) and not any(service.incidents._pending.values())
        await eventually(lambda: len({r.key for r in out.records}) == len(calls), timeout=60)
        await eventually(lambda: not service.incidents.held and not service.incidents.buffering, timeout=30)
        await eventually(lambda: held._value.get() == 0)
        # Every call once: the batch handed back was read again, not handled twice, and not skipped.
        assert sorted(r.key.decode() for r in out.records) == sorted(calls)
        async with asyncio.timeout(30):
            while len(await service.store.crisis_outcomes(*WINDOW)) != len(calls):
                await asyncio.sleep(0.1)


async def test_a_postgresql_write_that_hangs_fails_the_attempt_and_the_retry_lands(pg_url, monkeypatch):  # noqa: F811
    from dispatch_bridge.outcomes import backends

    monkeypatch.setattr(backends, "WRITE_TIMEOUT_SECONDS", 0.5)
    store = await open_store(StoreSettings(url=pg_url))
    blocker = await asyncpg.connect(pg_url)
    row = [RosterSnapshot(T0, {"D1": (2, 1)})]
    try:
        # Another session holds the table (a stuck migration, a lock queue behind a long transaction).
        lock = blocker.transaction()
        await lock.start()
        await blocker.execute("LOCK TABLE roster_hours IN ACCESS EXCLUSIVE MODE")
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(store.write(row), timeout=20)
        assert asyncio.get_running_loop().time() - started < 10
        await lock.rollback()
        await store.write(row)  # the retry, once the table is free
        assert await store.roster_hours(T0, T0 + dt.timedelta(hours=1)) == [(T0, "D1", 2, 1)]
    finally:
        await blocker.close()
        await store.close()


async def test_feedback_waits_for_the_store_without_hanging_the_api_or_its_consumer(broker, unique, tmp_path,
                                                                                    monkeypatch):
    from aiohttp.test_utils import TestClient, TestServer

    from dispatch_bridge import feedback as feedback_module
    from dispatch_bridge.api.app import build_app
    from dispatch_bridge.bus import consumer as consumer_module

    monkeypatch.setattr(consumer_module, "HOLD_AFTER_SECONDS", 0.5)
    monkeypatch.setattr(feedback_module, "API_WRITE_SECONDS", 1.0)
    settings = settings_for(broker, unique, tmp_path, api={"token": "t"}, kafka={"max_batch_records": 2})
    calls = [f"INC-{n}" for n in range(12)]
    async with running(settings) as service:
        client = TestClient(TestServer(build_app(service)))
        await client.start_server()
        with store_held_by_another_writer(tmp_path):
            started = asyncio.get_running_loop().time()
            async with asyncio.timeout(15):  # answered, not held while the store is away
                refused = await client.post("/v1/incidents/INC-0/feedback", headers={"Authorization": "Bearer t"},
                                            json={"reason_code": "team_unavailable"})
            assert refused.status == 503 and "try again" in (await refused.json())["error"]
            assert asyncio.get_running_loop().time() - started < 8
            await produce(broker, settings.topics.feedback, [
                (i, {"incident_id": i, "reason_code": "caller_declined", "at": T0.isoformat()}) for i in calls])
            await eventually(lambda: service.feedback_consumer.held, timeout=30)
            before = service.feedback_consumer.last_iteration
            await asyncio.sleep(1.0)
            assert service.feedback_consumer.last_iteration > before + 0.5  # polling on, not hung
        await client.close()
        await eventually(lambda: not service.feedback_consumer.held and service.feedback_consumer._pending == {},
                         timeout=60)
        rows = await service.store._backend.fetch(  # type: ignore[attr-defined]
            "SELECT incident_id FROM feedback WHERE source = 'topic'")
        assert sorted(r[0] for r in rows) == sorted(calls)


async def test_live_calls_one_per_fetch_keep_flowing_through_a_store_outage(broker, unique, tmp_path, monkeypatch):
    """Live traffic is one call per fetch: the batch-count bound (16) is what fills first. Once buffering, it
    stays on until the store has caught up: each later call is not made to wait out the hold delay again."""
    from dispatch_bridge.bus import consumer as consumer_module

    monkeypatch.setattr(consumer_module, "HOLD_AFTER_SECONDS", 0.3)
    settings = settings_for(broker, unique, tmp_path)
    calls = [f"INC-{n}" for n in range(24)]
    async with running(settings) as service, TopicReader(broker, settings.topics.recommendations) as out:
        await produce(broker, settings.topics.units, [("P-1", unit_status("P-1"))])
        await eventually(lambda: len(service.roster.units) == 1)
        with store_held_by_another_writer(tmp_path):
            for call in calls:
                await produce(broker, settings.topics.incidents, [(call, incident_event(call, narrative=CRISIS))])
                await eventually(lambda c=call: c.encode() in {r.key for r in out.records}, timeout=20)
            assert service.incidents.buffering and not service.incidents.held
        await eventually(lambda: not service.incidents.buffering and service.incidents._pending == {}, timeout=60)
        assert sorted(r.key.decode() for r in out.records) == sorted(calls)
