"""The roster fed from real topics: unit snapshots and personnel records on the embedded broker, read by the
service's ``TableReader`` (every partition, from the beginning, no group) and feeds into a ``Roster``."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from dispatch_bridge.bus.table import TableReader
from dispatch_bridge.feeds import record_feed, unit_feed
from dispatch_bridge.metrics import Metrics
from dispatch_bridge.roster import Roster
from dispatch_bridge.roster.config import RosterSettings
from dispatch_bridge.roster.synthetic import unit_status
from dispatch_bridge.settings import KafkaSettings

pytestmark = pytest.mark.broker

T0 = dt.datetime(2026, 11, 27, 18, 0, tzinfo=dt.UTC)
GOOD = dt.date(2027, 6, 1)


def snapshot(unit_id: str, seconds: int, **kw) -> bytes:
    return unit_status(unit_id, at=T0 + dt.timedelta(seconds=seconds), lat=41.88, lon=-87.63, **kw).model_dump_json(
        exclude_none=True).encode()


async def until(condition, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


async def test_roster_follows_unit_and_personnel_topics(broker, unique):
    units_topic, personnel_topic = f"cad.units-{unique}", f"cit.personnel-{unique}"
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    await admin.start()
    await admin.create_topics([NewTopic(units_topic, num_partitions=3, replication_factor=1),
                               NewTopic(personnel_topic, num_partitions=2, replication_factor=1)])
    await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    await producer.start()
    try:
        # History the reader must replay from the beginning: an out-of-order older snapshot, a tombstone.
        await producer.send_and_wait(units_topic, snapshot("U1", 10, crew=[("4411", GOOD)], status_text="10-8"),
                                     key=b"U1")
        await producer.send_and_wait(units_topic, snapshot("U1", 5, status="off_duty"), key=b"U1")
        await producer.send_and_wait(units_topic, snapshot("U2", 10, status="on_scene", crew=[("5120", None)]),
                                     key=b"U2")
        await producer.send_and_wait(units_topic, snapshot("U3", 10), key=b"U3")
        await producer.send_and_wait(units_topic, None, key=b"U3")
        await producer.send_and_wait(units_topic, b'{"not": "a unit"}', key=b"U4")
        record = {"schema_version": 1, "officer_id": "5120", "cit_certified_on": "2024-01-01",
                  "cit_expires_on": "2027-01-01", "last_refresher_on": "2025-06-01"}
        await producer.send_and_wait(personnel_topic, orjson.dumps(record), key=b"5120")

        roster = Roster(RosterSettings(time_zone="America/Chicago"))
        metrics = Metrics()
        gains: list[str] = []
        batches = 0
        # The service's own feeds: every record decoded, the newest snapshot per unit applied, bad ones counted.
        on_unit = unit_feed(roster, metrics.invalid_table_records.labels("units"), lambda: gains.append("units"))
        on_personnel = record_feed("personnel", roster.apply_personnel_record,
                                   metrics.invalid_table_records.labels("personnel"),
                                   lambda: gains.append("personnel"))

        def on_batch() -> None:
            nonlocal batches
            batches += 1

        kafka = KafkaSettings(bootstrap_servers=broker.bootstrap_servers, fetch_max_wait_ms=20, poll_timeout_ms=50)
        stop = asyncio.Event()
        readers = [TableReader(units_topic, kafka, on_unit, on_batch),
                   TableReader(personnel_topic, kafka, on_personnel)]
        tasks = [asyncio.create_task(reader.run(stop)) for reader in readers]
        try:
            day = roster.local_day(T0)
            await until(lambda: readers[0].records_read >= 6 and readers[1].records_read >= 1)
            assert set(roster.units) == {"U1", "U2"}
            assert roster.units["U1"].status.status == "available"  # the older off_duty snapshot was ignored
            assert roster.units["U1"].status.status_text == "10-8"
            assert metrics.registry.get_sample_value("dispatch_bridge_invalid_table_records_total",
                                                     {"table": "units"}) == 1  # U4's record
            assert roster.units["U2"].cit_members(day) == ("5120",)  # certified by the personnel topic
            assert roster.view(T0)[1]["crew"][0]["last_refresher_on"] == "2025-06-01"
            assert batches >= 1

            # Live: U2 clears, which is CIT capacity gained: the service would re-rank.
            seen = len(gains)
            await producer.send_and_wait(units_topic, snapshot("U2", 60, crew=[("5120", None)]), key=b"U2")
            await until(lambda: roster.units["U2"].status.status == "available")
            assert gains[seen:] == ["units"]
            assert roster.coverage(T0)["overall"]["cit_available"] == 2

            # Live: the certification is revoked on the topic (no dates), then the record is deleted.
            await producer.send_and_wait(personnel_topic, b'{"officer_id": "5120"}', key=b"5120")
            await until(lambda: roster.units["U2"].cit_members(day) == ())
            await producer.send_and_wait(personnel_topic, None, key=b"5120")
            await until(lambda: roster.personnel_record("5120") is None)
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=15)
    finally:
        await producer.stop()


async def test_a_table_is_fetched_in_bulk(broker, unique):
    """``table_fetch_max_wait_ms`` / ``table_fetch_min_bytes``: a table's fetch waits for its minimum size or its
    wait, so a lone update to an idle table arrives with the fetch already waiting, not at the next 20 ms poll of
    the incident consumer's ``fetch_max_wait_ms`` (an idle table does not poll the broker every 20 ms). Only a lower
    bound is asserted: a slow host makes the update later, never earlier."""
    topic = f"cad.units-{unique}"
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    roster = Roster(RosterSettings(time_zone="America/Chicago"))
    kafka = KafkaSettings(bootstrap_servers=broker.bootstrap_servers, fetch_max_wait_ms=20, poll_timeout_ms=50,
                          table_fetch_max_wait_ms=1500, table_fetch_min_bytes=10_000_000)
    reader = TableReader(topic, kafka, unit_feed(roster, Metrics().invalid_table_records.labels("units"), lambda: None))
    stop = asyncio.Event()
    task = asyncio.create_task(reader.run(stop))
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    await producer.start()
    try:
        await asyncio.wait_for(reader.started.wait(), timeout=20)
        await asyncio.sleep(0.3)  # the reader's first fetch of the empty table is waiting at the broker
        sent = time.monotonic()
        await producer.send_and_wait(topic, snapshot("U1", 10), key=b"U1")
        await until(lambda: "U1" in roster.units)
        assert time.monotonic() - sent >= 0.5
    finally:
        await producer.stop()
        stop.set()
        await asyncio.wait_for(task, timeout=15)
