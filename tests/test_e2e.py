"""End to end against the real broker: CAD events in on Kafka, CIT recommendations out."""

from __future__ import annotations

import asyncio
import datetime as dt

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.harness import (
    CENTRE,
    T0,
    TopicReader,
    eventually,
    incident_event,
    produce,
    running,
    settings_for,
    unit_status,
)

CIT_VALID = dt.date(2030, 1, 1)
CRISIS = ["RP STATES BROTHER IS SUICIDAL, OFF HIS MEDS, HEARING VOICES"]


async def _roster(broker, settings):
    """Two units: a CIT officer 1 km away and a non-CIT unit next door; plus a far CIT unit."""
    await produce(broker, settings.topics.units, [
        ("P-NEAR", unit_status("P-NEAR", lat=CENTRE[0] + 0.001, lon=CENTRE[1])),
        ("P-CIT", unit_status("P-CIT", lat=CENTRE[0] + 0.009, lon=CENTRE[1], cit_until=CIT_VALID, crew_id="4411")),
        ("P-FAR", unit_status("P-FAR", lat=CENTRE[0] + 0.2, lon=CENTRE[1], cit_until=CIT_VALID, crew_id="7001",
                              beat="B99", district="D9")),
    ])


async def test_crisis_call_recommends_nearby_cit_unit_and_burglary_gets_nothing(broker, unique, tmp_path):
    settings = settings_for(broker, unique, tmp_path)
    async with running(settings) as service, TopicReader(broker, settings.topics.recommendations) as out:
        await _roster(broker, settings)
        await eventually(lambda: len(service.roster.units) == 3)
        await produce(broker, settings.topics.incidents, [
            ("INC-BURG", incident_event("INC-BURG", nature_code="BURG", nature_text="BURGLARY",
                                        narrative=["RP STATES REAR DOOR PRIED OPEN, TV MISSING"])),
            ("INC-1", incident_event("INC-1", narrative=CRISIS)),
        ])
        record = await out.wait_for(lambda r: r.key == b"INC-1")
        rec = orjson.loads(record.value)
        assert rec["crisis"] is True
        assert rec["response"] in ("cit_officer", "co_response", "mobile_crisis")
        assert rec["candidates"][0]["unit_id"] == "P-CIT"
        assert rec["candidates"][0]["cit_members"] == ["4411"]
        assert rec["incident_revision"] == 1 and rec["source_event_id"] == "INC-1-r1-incident.created"
        assert rec["ruleset_version"] and len(rec["ruleset_sha256"]) == 64
        assert rec["reasons"] and all({"rule", "because", "evidence"} <= set(r) for r in rec["reasons"])
        headers = dict(record.headers)
        assert headers["ce_type"] == b"org.dispatch-bridge.recommendation.v1"
        assert headers["ce_id"] and headers["ce_source"] and headers["ce_time"]
        # The burglary was produced first on the same partition, so it was processed first: no output for it.
        assert out.for_incident("INC-BURG") == []
        assert service.processor.book.get("INC-BURG") is not None


async def test_revisions_weapon_changes_response_and_stale_or_duplicate_changes_nothing(broker, unique, tmp_path):
    settings = settings_for(broker, unique, tmp_path)
    async with running(settings) as service, TopicReader(broker, settings.topics.recommendations) as out:
        await _roster(broker, settings)
        await eventually(lambda: len(service.roster.units) == 3)
        first = incident_event("INC-2", 1, narrative=CRISIS)
        armed = incident_event("INC-2", 2, narrative=[*CRISIS, "NOW HAS A KNIFE, THREATENING FAMILY"],
                               event_type="incident.updated")
        await produce(broker, settings.topics.incidents, [("INC-2", first)])
        rec1 = orjson.loads((await out.wait_for(lambda r: r.key == b"INC-2")).value)
        await produce(broker, settings.topics.incidents, [
            ("INC-2", armed),
            ("INC-2", armed),          # duplicate revision
            ("INC-2", first),          # older revision, out of order
            ("INC-SENTINEL", incident_event("INC-SENTINEL", narrative=CRISIS)),
        ])
        await out.wait_for(lambda r: r.key == b"INC-SENTINEL")
        recs = out.for_incident("INC-2")
        assert [r["incident_revision"] for r in recs] == [1, 2]
        rec2 = recs[1]
        assert "weapon" in rec2["safety_flags"]
        assert (rec2["response"], rec2["safety_flags"]) != (rec1["response"], rec1["safety_flags"])
        assert rec2["response"] != "mobile_crisis"
        assert service.processor.book.get("INC-2").event.incident.revision == 2


async def test_unchanged_revision_publishes_nothing_new(broker, unique, tmp_path):
    settings = settings_for(broker, unique, tmp_path)
    async with running(settings) as service, TopicReader(broker, settings.topics.recommendations) as out:
        await _roster(broker, settings)
        await eventually(lambda: len(service.roster.units) == 3)
        await produce(broker, settings.topics.incidents, [("INC-3", incident_event("INC-3", 1, narrative=CRISIS))])
        await out.wait_for(lambda r: r.key == b"INC-3")
        await produce(broker, settings.topics.incidents, [
            # A new revision that changes nothing material (priority only): no new recommendation.
            ("INC-3", incident_event("INC-3", 2, narrative=CRISIS, priority=2, event_type="incident.updated")),
            ("INC-SENTINEL", incident_event("INC-SENTINEL", narrative=CRISIS)),
        ])
        await out.wait_for(lambda r: r.key == b"INC-SENTINEL")
        assert [r["incident_revision"] for r in out.for_incident("INC-3")] == [1]
        assert service.processor.book.get("INC-3").event.incident.revision == 2


async def test_garbage_goes_to_dead_letter_with_provenance_and_next_event_is_processed(broker, unique, tmp_path):
    settings = settings_for(broker, unique, tmp_path)
    async with (running(settings) as service,
                TopicReader(broker, settings.topics.recommendations) as out,
                TopicReader(broker, settings.topics.deadletter) as dlq):
        bad_schema = incident_event("INC-BAD", narrative=["SECRET NARRATIVE 555-0100"])
        bad_schema["incident"]["revision"] = "two"
        await produce(broker, settings.topics.incidents, [
            ("INC-X", b"\xff\xfe\x00garbage"),
            ("INC-Y", b'{"schema_version": 1, "event_id": '),
            ("INC-BAD", bad_schema),
            ("INC-V2", {**incident_event("INC-V2"), "schema_version": 2}),
            ("INC-OK", incident_event("INC-OK", narrative=CRISIS)),
        ])
        await out.wait_for(lambda r: r.key == b"INC-OK")
        await eventually(lambda: len(dlq.records) == 4)
        by_key = {r.key: r for r in dlq.records}
        garbage = by_key[b"INC-X"]
        assert garbage.value == b"\xff\xfe\x00garbage"  # original bytes untouched
        headers = dict(garbage.headers)
        assert headers["dlq_original_topic"] == settings.topics.incidents.encode()
        assert headers["dlq_original_partition"] == b"0"
        assert headers["dlq_original_offset"] == b"0"
        assert headers["dlq_error_class"] == b"invalid_utf8"
        assert dict(by_key[b"INC-Y"].headers)["dlq_error_class"] == b"invalid_json"
        schema = dict(by_key[b"INC-BAD"].headers)
        assert schema["dlq_error_class"] == b"schema_violation"
        assert b"incident.revision" in schema["dlq_error_reason"]
        assert b"SECRET" not in schema["dlq_error_reason"] and b"555" not in schema["dlq_error_reason"]
        assert dict(by_key[b"INC-V2"].headers)["dlq_error_class"] == b"unsupported_schema_version"
        assert service.ready()[0]


async def test_offset_is_committed_only_after_output_is_acknowledged(broker, unique, tmp_path):
    settings = settings_for(broker, unique, tmp_path)
    tp = TopicPartition(settings.topics.incidents, 0)
    async with running(settings) as service, TopicReader(broker, settings.topics.recommendations) as out:
        gate = asyncio.Event()
        real_confirm = service.producer.confirm
        entered = asyncio.Event()

        async def gated_confirm(sending, abort=None, **kw):
            entered.set()
            await gate.wait()  # the broker "has not acknowledged yet"
            return await real_confirm(sending, abort=abort, **kw)

        service.producer.confirm = gated_confirm  # type: ignore[method-assign]
        await produce(broker, settings.topics.incidents, [("INC-4", incident_event("INC-4", narrative=CRISIS))])
        await asyncio.wait_for(entered.wait(), 30)
        await asyncio.sleep(0.5)  # several commit intervals pass while output is pending
        assert await _committed(broker, settings, tp) is None
        gate.set()
        await out.wait_for(lambda r: r.key == b"INC-4")
        await eventually(lambda: service.incidents._pending == {}, timeout=10)
    assert await _committed(broker, settings, tp) == 1


async def test_restart_resumes_from_committed_offsets_and_loses_nothing(broker, unique, tmp_path):
    settings = settings_for(broker, unique, tmp_path)
    ids = [f"INC-R{i:03d}" for i in range(40)]
    async with TopicReader(broker, settings.topics.recommendations) as out:
        async with running(settings) as service:
            await produce(broker, settings.topics.incidents,
                          [(i, incident_event(i, narrative=CRISIS)) for i in ids[:20]])
            await eventually(lambda: len({r.key for r in out.records}) >= 20)
            first_run = service.processor.book
        # Events published while the bridge is down are picked up by the next instance of the group.
        await produce(broker, settings.topics.incidents, [(i, incident_event(i, narrative=CRISIS)) for i in ids[20:]])
        async with running(settings):
            await eventually(lambda: len({r.key for r in out.records}) >= 40, timeout=40)
        keys = [r.key.decode() for r in out.records]
        assert sorted(set(keys)) == ids
        # Committed before stopping: the second instance did not reprocess the first twenty.
        assert all(keys.count(i) == 1 for i in ids)
        assert len(first_run) == 20


async def _committed(broker, settings, tp):
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap_servers, group_id=settings.kafka.group_id,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        return await consumer.committed(tp)
    finally:
        await consumer.stop()
