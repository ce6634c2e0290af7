"""Several revisions of one incident in one consumed batch: only the newest is ranked and published.

The processor's synchronous half (``IncidentProcessor.process``) with the real triage, ranking and outcome
rows; what reaches the wire is the batch's output list. Live traffic (one revision per batch) must be exactly
as before, and nothing may be lost when the newest revision in a batch is unusable.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
from aiokafka import ConsumerRecord, TopicPartition

from dispatch_bridge.outcomes import IncidentSeen, open_store
from dispatch_bridge.recording import StoreRecorder
from dispatch_bridge.service import Service
from dispatch_bridge.settings import Settings
from tests.harness import T0, incident_event, unit_status

NOW = T0 + dt.timedelta(minutes=2)
TP = TopicPartition("cad.incidents", 0)


def _record(offset: int, value: bytes, key: bytes = b"INC-1") -> ConsumerRecord:
    return ConsumerRecord(topic=TP.topic, partition=TP.partition, offset=offset, timestamp=0, timestamp_type=0,
                          key=key, value=value, checksum=None, serialized_key_size=len(key),
                          serialized_value_size=len(value), headers=[])


def _batch(*values: bytes | tuple[bytes, bytes], first_offset: int = 0) -> dict[TopicPartition, list[Any]]:
    records = []
    for n, value in enumerate(values):
        key, body = value if isinstance(value, tuple) else (b"INC-1", value)
        records.append(_record(first_offset + n, body, key))
    return {TP: records}


def _revision(revision: int, incident_id: str = "INC-1", **fields: Any) -> bytes:
    fields.setdefault("nature_code", "EDP")
    return orjson.dumps(incident_event(incident_id, revision, event_type="incident.updated", **fields))


def _service(**processing: Any) -> Service:
    service = Service(Settings(processing=processing), clock=lambda: NOW)
    for unit, lat in (("P-1", 41.880), ("P-2", 41.890)):
        service.roster.apply_unit_record(unit.encode(), orjson.dumps(
            unit_status(unit, lat=lat, cit_until=dt.date(2027, 1, 1))))
    return service


@asynccontextmanager
async def _recording(tmp_path: Any) -> AsyncIterator[tuple[Service, Any]]:
    """A service whose processor writes its outcome rows to a real SQLite store."""
    service = _service()
    settings = Settings(store={"url": f"sqlite:///{tmp_path}/outcomes.db"})
    store = await open_store(settings.store)
    try:
        service.processor.attach_outcomes(StoreRecorder(store, service.roster, service.metrics, settings.store),
                                          None)
        yield service, store
    finally:
        await store.close()


def _recommendations(result: Any) -> list[dict[str, Any]]:
    return [orjson.loads(out.value) for out in result.outgoing if out.topic == "cit.recommendations"]


def _outcomes(service: Service) -> Counter[str]:
    return Counter({sample.labels["outcome"]: int(sample.value)
                    for metric in service.metrics.events_processed.collect() for sample in metric.samples
                    if sample.name.endswith("_total") and sample.value})


def test_only_the_newest_revision_in_a_batch_is_ranked_and_published():
    service = _service()
    result, done, halted = service.processor.process(_batch(_revision(1), _revision(2), _revision(3)), NOW)
    assert halted is None and done == {TP: 3}
    (published,) = _recommendations(result)
    assert published["incident_revision"] == 3
    assert published["candidates"], "the newest revision is ranked like any other"
    assert _outcomes(service) == {"superseded": 2, "recommended": 1}
    remembered = service.processor.book.get("INC-1")
    assert remembered is not None and remembered.event.incident.revision == 3
    assert remembered.recommendation is not None and remembered.recommendation["incident_revision"] == 3
    # The next batch compares with what was published: nothing changed, nothing is sent.
    again, _, _ = service.processor.process(_batch(_revision(4), first_offset=3), NOW)
    assert _recommendations(again) == []
    assert _outcomes(service)["unchanged"] == 1


def test_without_coalescing_every_revision_is_decided_on_its_own():
    service = _service(coalesce_revisions=False)
    result, _, _ = service.processor.process(
        _batch(_revision(1), _revision(2, nature_code="WEAPON", nature_text="MAN WITH A GUN")), NOW)
    assert [r["incident_revision"] for r in _recommendations(result)] == [1, 2]
    assert "superseded" not in _outcomes(service)


def test_one_revision_per_batch_publishes_exactly_as_before():
    """Live traffic: the same three revisions, each in its own batch, give the same output either way."""
    outputs = []
    for coalesce in (True, False):
        service = _service(coalesce_revisions=coalesce)
        sent = []
        for n, value in enumerate((_revision(1), _revision(2, nature_code="WEAPON", nature_text="MAN WITH A GUN"),
                                   _revision(3))):
            result, _, _ = service.processor.process(_batch(value, first_offset=n), NOW)
            sent += [(out.key, out.value, out.headers) for out in result.outgoing]
        outputs.append(sent)
    assert outputs[0] == outputs[1]
    assert len(outputs[0]) == 3  # crisis, then police-only for the weapon, then back


def test_when_the_newest_revision_is_unusable_the_newest_usable_one_is_published():
    service = _service()
    result, done, _ = service.processor.process(
        _batch(_revision(1), _revision(2), b"{not json", _revision(1)), NOW)
    assert done == {TP: 4}
    (published,) = _recommendations(result)
    assert published["incident_revision"] == 2  # not lost behind the dead letter or the stale resend
    assert [out.topic for out in result.outgoing].count("cit.deadletter") == 1
    assert _outcomes(service) == {"superseded": 1, "recommended": 1, "dead_letter": 1, "stale": 1}


def test_incidents_are_coalesced_each_on_its_own_and_published_in_the_order_of_their_newest_revision():
    service = _service()
    result, _, _ = service.processor.process(_batch(
        (b"INC-A", _revision(1, "INC-A")), (b"INC-B", _revision(1, "INC-B")), (b"INC-A", _revision(2, "INC-A")),
        (b"INC-C", _revision(1, "INC-C", nature_code="THEFT"))), NOW)
    assert [(r["incident_id"], r["incident_revision"]) for r in _recommendations(result)] == [
        ("INC-B", 1), ("INC-A", 2)]
    assert _outcomes(service) == {"superseded": 1, "recommended": 2, "not_crisis": 1}


def test_a_crisis_that_ends_within_the_batch_takes_its_recommendation_back_once():
    """Published earlier; in the next batch it stops being a crisis and then closes: one retraction."""
    service = _service()
    service.processor.process(_batch(_revision(1)), NOW)
    calm = {"nature_code": "THEFT", "nature_text": "BIKE STOLEN"}
    result, _, _ = service.processor.process(_batch(
        _revision(2, **calm),
        orjson.dumps(incident_event("INC-1", 3, event_type="incident.closed", **calm)), first_offset=1), NOW)
    (published,) = _recommendations(result)
    assert (published["incident_revision"], published["crisis"]) == (3, False)
    assert published["fallbacks"] == ["no_longer_crisis"]
    assert service.processor.book.get("INC-1") is None  # closed: forgotten


@pytest.mark.asyncio
async def test_every_revision_still_gets_its_outcome_row(tmp_path):
    """Coalescing spares ranking, not the record: a unit assigned in a superseded revision is still written."""
    async with _recording(tmp_path) as (service, store):
        assigned = [{"unit_id": "P-1", "dispatched_at": (T0 + dt.timedelta(seconds=2)).isoformat()}]
        on_scene = [{**assigned[0], "on_scene_at": (T0 + dt.timedelta(seconds=3)).isoformat()}]
        result, _, _ = service.processor.process(
            _batch(_revision(1), _revision(2, units=assigned), _revision(3, units=on_scene)), NOW)
        seen = [row for row in result.rows if isinstance(row, IncidentSeen)]
        assert [row.event.incident.revision for row in seen] == [1, 2, 3]
        assert seen[1].cit_units == frozenset({"P-1"})
        assert len(result.rows) == len(seen) + 1  # and the one published recommendation


@pytest.mark.asyncio
async def test_outcome_rows_waiting_for_the_store_hold_no_narrative(tmp_path):
    """A batch's rows wait for its acknowledgements and the store (through an outage, up to the outage buffer):
    they hold each revision as the incident book does, without its narrative, which no column reads."""
    async with _recording(tmp_path) as (service, store):
        said = ["caller says brother is suicidal, off his meds", "RP waiting out front"]
        result, _, _ = service.processor.process(_batch(_revision(1, nature_code="WELFARE", narrative=said)), NOW)
        (seen,) = [row for row in result.rows if isinstance(row, IncidentSeen)]
        assert seen.assessment is not None and seen.assessment.crisis  # from the narrative: it was read
        assert any("suicid" in (reason.evidence or "") for reason in seen.assessment.reasons)
        assert seen.event.incident.narrative == []
        assert seen.event.incident.id == "INC-1" and seen.event.incident.revision == 1
        await store.write(result.rows)
        rows = await store._backend.fetch(  # type: ignore[attr-defined]
            "SELECT incident_id, intake_crisis FROM incidents")
        assert [tuple(row) for row in rows] == [("INC-1", 1)]


def test_a_call_that_stops_being_a_crisis_within_the_batch_is_never_recommended():
    """Never published before: a crisis revision followed in the same batch by a calm one (or a calm close)
    publishes nothing, as deciding each on its own would have ended (a recommendation, then its retraction)."""
    for last in ("incident.updated", "incident.closed"):
        service = _service()
        calm = orjson.dumps(incident_event("INC-1", 2, event_type=last, nature_code="THEFT",
                                           nature_text="BIKE STOLEN"))
        result, _, _ = service.processor.process(_batch(_revision(1), calm), NOW)
        assert _recommendations(result) == [], last
        ending = "closed" if last == "incident.closed" else "not_crisis"
        assert _outcomes(service) == {"superseded": 1, ending: 1}
        remembered = service.processor.book.get("INC-1")
        assert remembered is None if last == "incident.closed" else remembered.published is None


def test_a_ranking_failure_at_the_end_of_the_batch_dead_letters_that_record_and_spares_the_rest():
    service = _service()
    rank = service.processor._ranker

    def ranker(assessment: Any, event: Any, now: dt.datetime) -> Any:
        if event.incident.id == "INC-BOOM":
            raise ZeroDivisionError("a bug in a ranking rule")
        return rank(assessment, event, now)

    service.processor._ranker = ranker
    result, done, halted = service.processor.process(_batch(
        (b"INC-BOOM", _revision(1, "INC-BOOM")), (b"INC-OK", _revision(1, "INC-OK"))), NOW)
    assert halted is None and done == {TP: 2}
    assert [r["incident_id"] for r in _recommendations(result)] == ["INC-OK"]
    (dead,) = [out for out in result.outgoing if out.topic == "cit.deadletter"]
    headers = dict(dead.headers)
    assert (headers["dlq_error_class"], headers["dlq_error_reason"]) == (b"processing_error", b"ZeroDivisionError")
    assert headers["dlq_original_offset"] == b"0"
    assert _outcomes(service) == {"dead_letter": 1, "recommended": 1}


@pytest.mark.parametrize("coalesce", [True, False])
def test_ranking_failures_trip_the_dead_letter_guard_and_a_replayed_dead_letter_is_not_stale(coalesce):
    """A ranker that fails every call is a bad deploy: after the guard's run of failures consumption halts.
    Each failed revision is left as if never applied, so replaying its dead letter after the fix decides it."""
    service = _service(dlq_max_consecutive=3, coalesce_revisions=coalesce)
    rank = service.processor._ranker
    broken = True

    def ranker(assessment: Any, event: Any, now: dt.datetime) -> Any:
        if broken:
            raise ZeroDivisionError("a bug in a ranking rule")
        return rank(assessment, event, now)

    service.processor._ranker = ranker
    ids = [f"INC-{n}" for n in range(4)]
    batch = _batch(*[(i.encode(), _revision(1, i)) for i in ids])
    result, done, halted = service.processor.process(batch, NOW)
    assert halted is not None and "failed" in halted
    assert done == {TP: 4}  # every record is dead-lettered: nothing is left unhandled
    assert [out.topic for out in result.outgoing] == ["cit.deadletter"] * 4
    assert all(service.processor.book.get(i) is None for i in ids)
    broken = False
    service.processor.consecutive_invalid = 0  # what a restart after the fix starts from
    replayed, _, halted = service.processor.process(batch, NOW)
    assert halted is None
    assert sorted(r["incident_id"] for r in _recommendations(replayed)) == ids
