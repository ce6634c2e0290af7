"""Bad input, on purpose: every record is processed or dead-lettered with a clear reason; never a crash,
never a stuck partition, never a reason that echoes the input.

One mutator, driven by a ``random.Random``, makes hostile records: random and mutated JSON, wrong types, huge
strings, deep nesting, invalid UTF-8, missing keys, unknown schema versions, oversized values, odd keys and
headers, tombstones. Hypothesis hands it a seeded ``Random`` (failures replay and shrink); the real-broker run
uses a fixed seed. Every string the mutator invents carries ``MARK``, so the tests can prove that no reason
ever echoes input. Most of the volume goes straight through the codec and the processor in-process; one run
pushes a few hundred records through the running service and the real broker.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import random
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from dispatch_bridge.bus.codec import InvalidEvent, decode_incident
from dispatch_bridge.bus.producer import Outgoing
from dispatch_bridge.service import Service
from tests.harness import T0, TopicReader, eventually, incident_event, json_paths, running, settings_for
from tests.proc import committed_offsets, consumer_record

MAX_BYTES = 262_144  # above the 100 000-character string limit, so both limits are reachable
OFFSETS = itertools.count()
MARK = "PHIMARK"
DEEP = "__deep__"
CRISIS = ["SHE SAYS SHE WANTS TO KILL HERSELF, HAS PILLS, HEARING VOICES"]
KINDS = ("valid", "delete", "retype", "huge_string", "deep", "bad_utf8", "schema_version", "random_bytes",
         "truncated", "oversized", "not_object", "key", "headers", "tombstone", "int_edges")
INT_EDGES = (0, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**30)


@dataclass
class Hostile:
    kind: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] = field(default_factory=list)
    incident_id: str = ""


def _marked(rng: random.Random) -> str:
    alphabet = "abcXYZ 019-\u00e9\u4e2d\U0001f600\"\\\n\t"
    return MARK + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))


def _json_value(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randint(0, 8 if depth < 3 else 5)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.choice([0, -1, 2**63, -(2**70), 7])
    if choice == 3:
        return rng.choice([0.5, -1e308, 1e-300, 3.0])
    if choice in (4, 5):
        return _marked(rng)
    if choice in (6, 7):
        return [_json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {_marked(rng): _json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def _set(root: Any, path: tuple[Any, ...], value: Any) -> None:
    node = root
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def _delete(root: Any, path: tuple[Any, ...]) -> None:
    node = root
    for part in path[:-1]:
        node = node[part]
    del node[path[-1]]


def hostile(rng: random.Random, n: int, max_bytes: int, kind: str | None = None) -> Hostile:
    """Record ``n`` of a hostile stream: a valid event, or one of many ways to be wrong."""
    kind = kind or rng.choice(KINDS)
    # Fixed width: the record's length must not depend on n, or hypothesis, replaying a case under a later n,
    # would see its random draws change (rng.randint(0, len(value) - 1)) and call the strategy flaky.
    incident_id = f"FZ-{n:07d}"
    crisis = rng.random() < 0.5
    event = incident_event(incident_id, narrative=CRISIS if crisis else ["CALLER REPORTS " + _marked(rng)],
                           nature_code="EDP" if crisis else "BURG", at=T0 + dt.timedelta(seconds=n),
                           caller_party=rng.choice(["first", "third"]),
                           flags=[_marked(rng)] if rng.random() < 0.3 else [])
    event["incident"]["location"]["address"] = f"{rng.randint(1, 9999)} {_marked(rng)} AVE"
    key: bytes | None = incident_id.encode()
    headers: list[tuple[str, bytes | None]] = []
    paths = json_paths(event)
    if kind == "delete":
        for _ in range(rng.randint(1, 3)):
            if paths := json_paths(event):
                _delete(event, rng.choice(paths))
    elif kind == "retype":
        for _ in range(rng.randint(1, 3)):
            if paths := json_paths(event):
                _set(event, rng.choice(paths), _json_value(rng))
    elif kind == "huge_string":
        path = rng.choice([p for p in paths if isinstance(_get(event, p), str)])
        _set(event, path, _marked(rng) + "x" * rng.randint(100_001, 150_000))
    elif kind == "deep":
        _set(event, rng.choice(paths), DEEP)  # spliced in as text below: json.dumps cannot nest this deep
    elif kind == "int_edges":
        # Integers JSON allows and Python keeps exactly, but a 64-bit column or a C long does not.
        for path in (("incident", "revision"), ("incident", "priority")):
            if rng.random() < 0.7:
                _set(event, path, rng.choice(INT_EDGES))
    elif kind == "schema_version":
        event["schema_version"] = rng.choice([0, 2, 99, -1, "1", "v1", 1.5, None, [1], {"major": 1}])
    elif kind == "key":
        key = rng.choice([None, b"", b"\xff\xfe" + MARK.encode(), b"FZ-other", (_marked(rng)).encode()])
    elif kind == "headers":
        headers = [(_marked(rng) if rng.random() < 0.5 else rng.choice(["ce_id", "", "content-type", "x" * 300]),
                    rng.choice([None, b"", b"\xff\x00\xfe", _marked(rng).encode(), b"v" * 5000]))
                   for _ in range(rng.randint(1, 30))]
    value: bytes | None = json.dumps(event, ensure_ascii=rng.random() < 0.5).encode()
    if kind == "deep":
        # Beyond any parser's nesting limit (about 200 levels): shallower nesting inside a field the contract
        # ignores (location: {"a": {"a": ...}}) is a valid event, and tests/test_structs_equivalence.py covers it.
        depth = rng.randint(250, 20_000)
        opener, closer = rng.choice([(b"[", b"]"), (b'{"a":', b"}")])
        value = value.replace(json.dumps(DEEP).encode(),
                              opener * depth + json.dumps(_marked(rng)).encode() + closer * depth)
    if kind == "bad_utf8":
        cut = rng.randint(1, len(value) - 1)
        value = value[:cut] + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]) + value[cut:]
    elif kind == "random_bytes":
        value = rng.randbytes(rng.randint(0, 300))
    elif kind == "truncated":
        value = value[: rng.randint(0, len(value) - 1)]
    elif kind == "oversized":
        value = value + b" " * (max_bytes - len(value) + rng.randint(1, 3 * max_bytes))
    elif kind == "not_object":
        value = json.dumps(rng.choice([[event], 1, "x", None, True, [], MARK])).encode()
    elif kind == "tombstone":
        value = None
    return Hostile(kind, key, value, headers, incident_id)


def _get(root: Any, path: tuple[Any, ...]) -> Any:
    node = root
    for part in path:
        node = node[part]
    return node


# -- the oracle ------------------------------------------------------------------------------------------

CODES = {"empty_value", "oversized", "invalid_json", "invalid_utf8", "not_an_object", "unsupported_schema_version",
         "schema_violation", "key_mismatch"}
# What each kind must become (None: processed). Kinds absent here may go either way.
MUST = {
    "valid": {None}, "key": {None, "key_mismatch"}, "headers": {None}, "tombstone": {"empty_value"},
    "oversized": {"oversized"}, "bad_utf8": {"invalid_utf8"}, "truncated": {"invalid_json", "invalid_utf8"},
    "not_object": {"not_an_object"}, "schema_version": {"unsupported_schema_version"},
    "huge_string": {"schema_violation"},
    "deep": {"invalid_json", "schema_violation", "unsupported_schema_version"},
    "random_bytes": {"invalid_json", "invalid_utf8", "not_an_object"},
}


def verdict(record: Hostile, max_bytes: int) -> InvalidEvent | None:
    """What the contract says should become of the record: the invalid reason, or None to process it."""
    try:
        event = decode_incident(record.value, max_bytes)
    except InvalidEvent as invalid:
        return invalid
    if record.key is not None and record.key != event.incident.id.encode():
        return InvalidEvent("key_mismatch", "record key is not the incident id")
    return None


def assert_clear_reason(invalid: InvalidEvent) -> None:
    assert invalid.code in CODES
    # The published dead-letter contract (deploy/asyncapi.yaml) caps dlq_error_reason at 200 characters.
    assert invalid.reason and len(invalid.reason) <= 200, len(invalid.reason)
    assert MARK not in invalid.reason, f"the reason echoes input: {invalid.reason!r}"
    invalid.reason.encode("utf-8")  # a header value: must encode


# -- the codec: the bulk of the volume, no I/O ----------------------------------------------------------

@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(rng=st.randoms(use_true_random=False), n=st.integers(0, 10**6), kind=st.sampled_from(KINDS))
def test_codec_accepts_or_rejects_every_record_with_a_clear_reason(rng, n, kind):
    record = hostile(rng, n, MAX_BYTES, kind)
    outcome = verdict(record, MAX_BYTES)  # anything but InvalidEvent escaping here is a crash
    if outcome is not None:
        assert_clear_reason(outcome)
    allowed = MUST.get(kind)
    if allowed is not None:
        assert (outcome.code if outcome else None) in allowed, (kind, outcome and outcome.reason)


def test_a_reason_listing_many_long_field_paths_stays_within_the_documented_200_characters():
    event = incident_event("INC-LONG")
    bad_unit = {"unit_id": "U", "dispatched_at": 1, "enroute_at": 2, "on_scene_at": 3, "cleared_at": 4}
    event["incident"]["units"] = [{"unit_id": "U"}] * 100_000 + [bad_unit] * 2
    with pytest.raises(InvalidEvent) as caught:
        decode_incident(json.dumps(event).encode(), 1 << 24)
    assert caught.value.code == "schema_violation"
    assert_clear_reason(caught.value)
    assert caught.value.reason.startswith("incident.units.100000.dispatched_at: datetime_type")


# -- the processor: real triage, ranking and producer, records built in-process ------------------------

@pytest.fixture
async def processor_under_fuzz(broker, unique, tmp_path):
    settings = settings_for(broker, unique, tmp_path, kafka={"max_message_bytes": MAX_BYTES},
                            processing={"dlq_max_consecutive": 10**9})
    # Started as in production (store, premise index, producer, consumers), but fed by hand: handle() is
    # called directly, so no record waits for the group join.
    service = Service(settings)
    await service.start()
    delivered: list[Outgoing] = []
    real_enqueue = service.producer.enqueue

    async def recording_enqueue(batch):  # the real producer, watched
        delivered.extend(batch)
        return await real_enqueue(batch)

    service.producer.enqueue = recording_enqueue  # type: ignore[method-assign]
    yield service, delivered
    await service.stop()


def _outcomes(service: Service) -> float:
    return sum(sample.value for metric in service.metrics.events_processed.collect()
               for sample in metric.samples if sample.name.endswith("_total"))


async def _fully(handling):
    """The offsets a batch handled, once everything it caused is written (output and outcome rows)."""
    handled = await handling
    if handled.durable is not None:
        await handled.durable
    return handled.offsets


# No shrinking: the data come from a seeded Random (a failure prints the seed), and every shrink step of a
# stuck batch would wait out the timeout again.
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(rng=st.randoms(use_true_random=False), kind=st.sampled_from(KINDS))
async def test_processor_handles_every_record_and_moves_on(processor_under_fuzz, rng, kind):
    service, delivered = processor_under_fuzz
    topics = service.settings.topics
    tp = TopicPartition(topics.incidents, 0)
    offset = next(OFFSETS)
    record = hostile(rng, offset, MAX_BYTES, kind)
    expected = verdict(record, MAX_BYTES)
    before, delivered[:] = _outcomes(service), []
    handled = _fully(service.processor.handle({tp: [consumer_record(
        topics.incidents, offset, record.key, record.value, record.headers)]}))
    try:
        done = await asyncio.wait_for(handled, timeout=5)
    except TimeoutError:
        pytest.fail(f"the partition is stuck on a {kind!r} record (verdict: {expected and expected.code}); "
                    f"store retries: {service.metrics.store_retries._value.get()}, "
                    f"produce retries: {service.metrics.produce_retries._value.get()}")
    assert done == {tp: offset + 1}, "the partition moves on past every record"
    assert _outcomes(service) == before + 1, "exactly one outcome per record"
    dead = [o for o in delivered if o.topic == topics.deadletter]
    if expected is None:
        assert not dead
        assert all(o.topic == topics.recommendations and o.key == record.incident_id.encode() for o in delivered)
        return
    assert len(dead) == 1 and len(delivered) == 1
    headers = dead[0].headers
    assert headers[: len(record.headers)] == record.headers, "original headers kept, in order"
    extra = dict(headers[len(record.headers):])
    assert extra["dlq_error_class"] == expected.code.encode()
    assert extra["dlq_original_offset"] == str(offset).encode()
    reason = extra["dlq_error_reason"].decode()
    assert reason and MARK not in reason and len(reason) <= 200
    assert dead[0].key == record.key
    if expected.code == "oversized":
        assert dead[0].value is None and extra["dlq_value_omitted"] == str(len(record.value)).encode()
    else:
        assert dead[0].value == record.value, "original bytes untouched"


async def test_oversized_beyond_what_the_producer_can_write_is_dead_lettered_not_stuck(processor_under_fuzz):
    """A value larger than the producer's own request limit (limit + 64 KiB): its dead letter must still go."""
    service, delivered = processor_under_fuzz
    topics = service.settings.topics
    tp = TopicPartition(topics.incidents, 0)
    offset = next(OFFSETS)
    value = b'{"schema_version": 1, "pad": "' + b"x" * (MAX_BYTES * 2 + 70_000) + b'"}'
    done = await asyncio.wait_for(_fully(service.processor.handle(
        {tp: [consumer_record(topics.incidents, offset, b"K", value)]})), timeout=10)
    assert done == {tp: offset + 1}
    assert [dict(o.headers)["dlq_error_class"] for o in delivered] == [b"oversized"]
    assert service.metrics.produce_retries._value.get() == 0


# -- the real thing: a few hundred hostile records through the running service and the broker ----------

async def test_hostile_stream_through_the_broker_is_answered_or_dead_lettered_and_fully_committed(
        broker, unique, tmp_path):
    count = 300
    settings = settings_for(broker, unique, tmp_path, kafka={"max_message_bytes": MAX_BYTES},
                            processing={"dlq_max_consecutive": 10**9})
    rng = random.Random(20261127)
    records = [hostile(rng, n, MAX_BYTES) for n in range(count)]
    expected = {n: verdict(r, MAX_BYTES) for n, r in enumerate(records)}
    async with (running(settings) as service,
                TopicReader(broker, settings.topics.deadletter) as dlq,
                TopicReader(broker, settings.topics.recommendations) as out):
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, linger_ms=5,
                                    max_request_size=MAX_BYTES * 8)
        await producer.start()
        try:
            sent = [await producer.send(settings.topics.incidents, r.value, key=r.key, headers=r.headers)
                    for r in records]
            offsets = [(await f).offset for f in sent]
        finally:
            await producer.stop()
        assert offsets == list(range(count))
        tp = TopicPartition(settings.topics.incidents, 0)

        async def committed() -> int | None:
            return (await committed_offsets(broker.bootstrap_servers, settings.kafka.group_id,
                                            settings.topics.incidents, 1))[0]

        try:
            async with asyncio.timeout(30):
                while await committed() != count:
                    await asyncio.sleep(0.2)
        except TimeoutError:
            pytest.fail(f"the partition is stuck at offset {await committed()} of {count}: store retries "
                        f"{service.metrics.store_retries._value.get()}, produce retries "
                        f"{service.metrics.produce_retries._value.get()}, halted: {service.incidents.halted_reason}")
        invalid = {n for n, v in expected.items() if v is not None}
        await eventually(lambda: len(dlq.records) == len(invalid), timeout=10)
        by_offset = {int(dict(r.headers)["dlq_original_offset"]): dict(r.headers) for r in dlq.records}
        assert set(by_offset) == invalid
        for n, headers in by_offset.items():
            assert headers["dlq_error_class"] == expected[n].code.encode(), n
            assert MARK.encode() not in headers["dlq_error_reason"]
        assert _outcomes(service) == count
        answered = {r.key for r in out.records}
        assert answered <= {records[n].incident_id.encode() for n in range(count) if n not in invalid}
        assert answered, "some of the valid crisis calls are answered"
        assert service.ready()[0], "bad data alone never fails readiness below the guard's limit"
        assert tp in service.owned_partitions()
