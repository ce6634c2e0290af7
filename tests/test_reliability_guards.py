"""Guards: output that cannot be written, a run of invalid events, and state that must stay bounded."""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import time
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import pytest

from aiohttp.test_utils import TestClient, TestServer
from aiokafka import TopicPartition
from aiokafka.errors import KafkaTimeoutError

from dispatch_bridge.api.app import build_app
from dispatch_bridge.bus.producer import DeliveryAborted, Outgoing, OutputProducer, Sending
from dispatch_bridge.service import Service
from tests.harness import T0, TopicReader, eventually, incident_event, produce, running, settings_for
from tests.proc import committed_offsets, consumer_record, create_topics

CRISIS = ["NEIGHBOUR REPORTS MAN IN CRISIS, SAYS HE WANTS TO DIE, HEARING VOICES"]


def _refused(batch) -> Sending:
    """What enqueueing returns for records the broker never acknowledges."""
    refused: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    refused.set_exception(KafkaTimeoutError())
    return Sending(list(batch), [refused] * len(batch))


class RefusedUntilGivenUp:
    """Installed as a service's ``producer.enqueue``: every send is refused until each durable part in
    ``given_up`` is done, then sends go through. Keeps each send's keys, with ``tag()`` at that moment."""

    def __init__(self, service: Service, tag: Any = lambda: None) -> None:
        self._real = service.producer.enqueue
        self._tag = tag
        self.given_up: list[asyncio.Future[None]] = []
        self.refused = 0
        self.sends: list[tuple[set[bytes | None], Any]] = []
        service.producer.enqueue = self  # type: ignore[method-assign]

    async def __call__(self, batch):
        self.sends.append(({item.key for item in batch}, self._tag()))
        if not self.given_up or not all(task.done() for task in self.given_up):
            self.refused += 1
            return _refused(batch)
        return await self._real(batch)


async def _started_with_enqueue(settings: Any, enqueue: Any) -> Service:
    """A started service whose producer's ``enqueue(batch)`` is ``enqueue(call number, batch, real enqueue)``."""
    service = Service(settings)
    await service.start()
    real_enqueue = service.producer.enqueue
    calls = 0

    async def counted(batch):
        nonlocal calls
        calls += 1
        return await enqueue(calls, batch, real_enqueue)

    service.producer.enqueue = counted  # type: ignore[method-assign]
    return service


async def _handle_in_turn(service: Service, batches: list[list[tuple[str, dict]]], handled: list) -> None:
    """Hand each batch of (key, event) to the processor in turn, as one partition at consecutive offsets,
    appending what each returns to ``handled`` as it goes (a patched producer may be watching it)."""
    topic = service.settings.topics.incidents
    offset = 0
    for records in batches:
        batch = []
        for key, event in records:
            batch.append(consumer_record(topic, offset, key.encode(), orjson.dumps(event)))
            offset += 1
        handled.append(await service.processor.handle({TopicPartition(topic, 0): batch}))


async def test_producer_retries_undeliverable_output_with_capped_exponential_backoff(broker, unique):
    # An invalid topic name: the broker refuses every produce, as it would for a missing ACL or topic.
    kafka = settings_for(broker, unique, Path("."), kafka={"request_timeout_ms": 1000}).kafka
    attempts: list[float] = []
    producer = OutputProducer(kafka, on_retry=lambda: attempts.append(time.monotonic()))
    await producer.start()
    abort = asyncio.Event()
    try:
        delivery = asyncio.create_task(producer.deliver(
            [Outgoing(f"no such topic {unique}!", b"k", b"{}", [])], abort=abort, max_backoff=1.6))
        await asyncio.sleep(9)
        assert not delivery.done(), "undeliverable output is retried until shutdown, never dropped"
        abort.set()
        with pytest.raises(DeliveryAborted):
            await delivery
    finally:
        await producer.stop(timeout=5)
    # Each attempt waits the 1 s request timeout, then 0.1, 0.2, 0.4, 0.8, 1.6, 1.6 ... seconds of backoff.
    gaps = [b - a for a, b in zip(attempts, attempts[1:], strict=False)]
    assert len(attempts) >= 4, attempts
    assert gaps[0] < 1.5 and gaps[-1] > 2.2, gaps
    assert all(later >= earlier - 0.2 for earlier, later in zip(gaps, gaps[1:], strict=False)), gaps


async def test_output_that_cannot_be_written_is_never_committed_past(broker, unique, tmp_path):
    # Short timeouts so that failed produces come round quickly (Tansu completes a join in about half the
    # session timeout, and the join must fit in the request timeout).
    kafka = {"create_topics": False, "request_timeout_ms": 2500, "session_timeout_ms": 1500,
             "heartbeat_interval_ms": 300}
    broken = settings_for(broker, unique, tmp_path, kafka=kafka, processing={"shutdown_drain_seconds": 2.0},
                          topics={"recommendations": f"cit recommendations {unique}!"})
    await create_topics(broker.bootstrap_servers, broken, skip=(broken.topics.recommendations,))
    group, incidents = broken.kafka.group_id, broken.topics.incidents
    ids = [f"INC-P{i}" for i in range(3)]
    async with running(broken) as service:
        await produce(broker, incidents, [(i, incident_event(i, narrative=CRISIS)) for i in ids])
        # Three records, each refused: one retry round must not cost one request timeout per record.
        started = time.monotonic()
        await eventually(lambda: service.metrics.produce_retries._value.get() >= 3, timeout=30)
        assert time.monotonic() - started < 3 * 2.5 + 1.5 + 4, "retry rounds must not wait per record"
        assert service.incidents._pending == {}
        assert (await committed_offsets(broker.bootstrap_servers, group, incidents, 1))[0] is None
        assert service.live()[0], "a stuck output is not a dead process"
    # Stopped with the output still unwritten: still nothing committed.
    assert (await committed_offsets(broker.bootstrap_servers, group, incidents, 1))[0] is None

    # The fix deployed (a topic that can be written): the same group picks the records up again.
    fixed = settings_for(broker, unique, tmp_path, kafka=kafka)
    async with running(fixed) as service, TopicReader(broker, fixed.topics.recommendations) as out:
        await eventually(lambda: {r.key.decode() for r in out.records} == set(ids), timeout=30)
        await eventually(lambda: service.incidents._pending == {}, timeout=10)
    assert (await committed_offsets(broker.bootstrap_servers, group, incidents, 1))[0] == len(ids)


async def test_a_retried_batch_is_followed_again_by_the_batches_sent_behind_it(broker, unique, tmp_path):
    """Batches are enqueued before the previous one is acknowledged. When the earlier one must re-send, the
    incident's newest recommendation must still be the last in the log, and nothing is committed early. The
    later batch's own enqueue may pause half-way (a metadata wait) while the earlier one re-sends and finishes:
    it must still notice."""
    settings = settings_for(broker, unique, tmp_path)
    topics = settings.topics

    async def first_send_refused_then_a_pause(call, batch, real_enqueue):
        if call == 1:
            return _refused(batch)
        if call == 2:
            head = await real_enqueue(batch[:1])
            await eventually(lambda: handled and handled[0].durable.done(), timeout=10)
            rest = await real_enqueue(batch[1:])
            return Sending(head.batch + rest.batch, head.futures + rest.futures)
        return await real_enqueue(batch)

    service = await _started_with_enqueue(settings, first_send_refused_then_a_pause)
    handled: list = []
    try:
        async with TopicReader(broker, topics.recommendations) as out:
            batches = [
                [("INC-ORDER", incident_event("INC-ORDER", 1, narrative=CRISIS))],
                [("INC-ORDER", incident_event("INC-ORDER", 2, narrative=[*CRISIS, "HE HAS A KNIFE"])),
                 ("INC-OTHER", incident_event("INC-OTHER", 1, narrative=CRISIS))],
            ]
            await _handle_in_turn(service, batches, handled)
            await handled[1].durable
            assert handled[0].durable.done() and handled[0].durable.exception() is None
            await eventually(lambda: sum(r.key == b"INC-ORDER" for r in out.records) >= 3)
            revisions = [orjson.loads(r.value)["incident_revision"] for r in out.records if r.key == b"INC-ORDER"]
            # Sent, re-sent by the first batch, and sent again by the second, behind it.
            assert revisions == [2, 1, 2], revisions
            assert service.metrics.produce_retries._value.get() == 1
    finally:
        await service.stop()


async def test_a_retry_re_sends_only_the_later_batches_that_share_an_incident_with_it(broker, unique, tmp_path):
    """A batch re-sends its output only when a record of the same incident was re-sent after it was enqueued:
    with many batches in flight, one retry must not make every batch behind it send everything twice."""
    settings = settings_for(broker, unique, tmp_path)
    topics = settings.topics

    async def first_send_refused(call, batch, real_enqueue):
        return _refused(batch) if call == 1 else await real_enqueue(batch)

    service = await _started_with_enqueue(settings, first_send_refused)
    try:
        async with TopicReader(broker, topics.recommendations) as out:
            batches = [
                [("INC-RETRIED", incident_event("INC-RETRIED", 1, narrative=CRISIS))],
                [("INC-ELSE", incident_event("INC-ELSE", 1, narrative=CRISIS))],
                [("INC-RETRIED", incident_event("INC-RETRIED", 2, narrative=[*CRISIS, "HE HAS A KNIFE"]))],
            ]
            handled: list = []
            await _handle_in_turn(service, batches, handled)
            await handled[2].durable
            await eventually(lambda: sum(r.key == b"INC-RETRIED" for r in out.records) >= 3)
            await asyncio.sleep(0.5)
            keys = [r.key for r in out.records]
            assert keys.count(b"INC-ELSE") == 1, keys  # another incident: not re-sent
            revisions = [orjson.loads(r.value)["incident_revision"] for r in out.records if r.key == b"INC-RETRIED"]
            assert revisions == [2, 1, 2], revisions  # the same incident: sent again behind the retry
    finally:
        await service.stop()


async def test_output_still_unacknowledged_when_its_partition_is_revoked_is_given_up_not_retried_on(
        broker, unique, tmp_path):
    """A rebalance takes the partition while its output is still being retried: that output must stop, or a
    copy re-sent later could land behind what the partition's next owner publishes. It stays uncommitted, so the
    owner after the rebalance publishes it, and the service runs on."""
    kafka = {"request_timeout_ms": 2500, "session_timeout_ms": 1500, "heartbeat_interval_ms": 300,
             "commit_interval_ms": 100}
    settings = settings_for(broker, unique, tmp_path, kafka=kafka, processing={"shutdown_drain_seconds": 2.0})
    (tmp_path / "peer").mkdir()
    peer_settings = settings_for(broker, unique, tmp_path / "peer", kafka=kafka,
                                 processing={"shutdown_drain_seconds": 2.0})
    topics = settings.topics
    async with running(settings) as service, TopicReader(broker, topics.recommendations) as out:
        sends = RefusedUntilGivenUp(service)  # the broker never acknowledges the first batch's output
        await eventually(lambda: service.owned_partitions(), timeout=30)
        await produce(broker, topics.incidents, [("INC-HANDOVER", incident_event("INC-HANDOVER", narrative=CRISIS))])
        await eventually(lambda: sends.refused >= 3, timeout=30)  # stuck: retried with backoff
        (stuck,) = [h.durable for h in service.incidents._in_flight]
        assert not stuck.done()
        sends.given_up.append(stuck)
        async with running(peer_settings) as peer:
            await eventually(lambda: stuck.done(), timeout=30)
            assert isinstance(stuck.exception(), DeliveryAborted)
            given_up_at = sends.refused
            # Whoever owns the partition now publishes the call (its offset was never committed) ...
            await out.wait_for(lambda r: r.key == b"INC-HANDOVER", timeout=30)
            await eventually(lambda: service.owned_partitions() or peer.owned_partitions(), timeout=30)
            await asyncio.sleep(1.0)
            # ... and the old attempt never sent again: the re-send with backoff stopped at the revoke.
            assert sends.refused == given_up_at
            assert service.failed is None and service.live()[0]
            assert all(h.durable is not stuck for h in service.incidents._in_flight)
        await eventually(lambda: service.incidents._pending == {}, timeout=10)
    assert (await committed_offsets(broker.bootstrap_servers, settings.kafka.group_id, topics.incidents, 1))[0] == 1


async def test_live_batches_of_a_few_records_do_not_wait_on_the_output_of_the_batch_before_last(
        broker, unique, tmp_path):
    """Back-pressure counts records (two full batches' worth), not batches: a live call, one record per fetch,
    is handled and its output enqueued at once even while the output of the calls before it is still waiting
    for the broker (here: never acknowledged), instead of waiting behind the batch before last (+2 ms at p50)."""
    settings = settings_for(broker, unique, tmp_path, processing={"shutdown_drain_seconds": 1.0})
    topics = settings.topics
    async with running(settings) as service:
        consumer = service.incidents
        sends = RefusedUntilGivenUp(service)
        await eventually(lambda: service.owned_partitions(), timeout=30)
        for n in (1, 2, 3, 4):
            await produce(broker, topics.incidents, [(f"INC-L{n}", incident_event(f"INC-L{n}", narrative=CRISIS))])
            await eventually(lambda n=n: len(consumer._in_flight) == n, timeout=30)
        assert consumer._idle.is_set(), "no batch is waiting for room"
        first_sends = list(dict.fromkeys(key for keys, _ in sends.sends for key in keys))  # (retries repeat)
        assert first_sends == [f"INC-L{n}".encode() for n in (1, 2, 3, 4)]
        assert not any(h.durable.done() for h in consumer._in_flight)
        assert service.incidents._pending == {}, "nothing is committed past unacknowledged output"
        sends.given_up.extend(h.durable for h in consumer._in_flight)


async def test_a_batch_waiting_behind_stuck_output_when_its_partition_is_revoked_is_left_to_the_next_owner(
        broker, unique, tmp_path):
    """Two batches' output is stuck, a third waits for room (back-pressure) when a rebalance takes the
    partition: once the stuck output is given up, the waiting batch must not be handled by this member, or its
    recommendation could land behind the next owner's output. It is read again by whoever owns it next.
    (One record per batch: the bound, two full batches' worth of records, is then two batches.)"""
    kafka = {"request_timeout_ms": 2500, "session_timeout_ms": 1500, "heartbeat_interval_ms": 300,
             "commit_interval_ms": 100, "max_batch_records": 1}
    settings = settings_for(broker, unique, tmp_path, kafka=kafka, processing={"shutdown_drain_seconds": 1.0})
    (tmp_path / "peer").mkdir()
    peer_settings = settings_for(broker, unique, tmp_path / "peer", kafka=kafka,
                                 processing={"shutdown_drain_seconds": 1.0})
    topics = settings.topics
    async with running(settings) as service, TopicReader(broker, topics.recommendations) as out:
        consumer = service.incidents
        assigned = consumer.assigned
        generation = 0  # assignments of the incident consumer (the rebalance metric also counts feedback's)

        def counted(partitions):
            nonlocal generation
            generation += 1
            assigned(partitions)

        consumer.assigned = counted  # type: ignore[method-assign]
        sends = RefusedUntilGivenUp(service, tag=lambda: generation)
        given_up = sends.given_up
        await eventually(lambda: service.owned_partitions(), timeout=30)
        for n in (1, 2):
            await produce(broker, topics.incidents, [(f"INC-Q{n}", incident_event(f"INC-Q{n}", narrative=CRISIS))])
            await eventually(lambda n=n: len(consumer._in_flight) == n, timeout=30)
        given_up.extend(h.durable for h in consumer._in_flight)
        await produce(broker, topics.incidents, [("INC-Q3", incident_event("INC-Q3", narrative=CRISIS))])
        await eventually(lambda: not consumer._idle.is_set(), timeout=30)  # waiting for room behind the two
        await asyncio.sleep(0.5)
        assert len(consumer._in_flight) == 2 and not any(task.done() for task in given_up)
        before_rebalance = generation
        async with running(peer_settings) as peer:
            await eventually(lambda: all(task.done() for task in given_up), timeout=30)
            assert all(isinstance(task.exception(), DeliveryAborted) for task in given_up)
            for n in (1, 2, 3):
                await out.wait_for(lambda r, n=n: r.key == f"INC-Q{n}".encode(), timeout=30)
            assert service.failed is None and peer.failed is None
        # The waiting batch was never sent from here before this member was assigned partitions again.
        early = [keys for keys, gen in sends.sends if b"INC-Q3" in keys and gen == before_rebalance]
        assert early == [], early


async def test_a_partition_kept_through_a_revoke_that_gives_up_its_output_is_read_again_not_skipped(
        broker, unique, tmp_path):
    """A batch given up at a revoke may also hold records of a partition this member keeps: they were never
    committed and must not be skipped, so that partition is read again from its committed offset. (aiokafka
    revokes every partition at a rebalance; the listener is called here directly with one of two.)"""
    settings = settings_for(broker, unique, tmp_path, kafka={"topic_partitions": 2, "commit_interval_ms": 100},
                            processing={"shutdown_drain_seconds": 1.0})
    topics = settings.topics
    async with running(settings) as service, TopicReader(broker, topics.recommendations) as out:
        sends = RefusedUntilGivenUp(service)
        await eventually(lambda: len(service.owned_partitions()) == 2, timeout=30)
        await produce(broker, topics.incidents, [("INC-KEPT", incident_event("INC-KEPT", narrative=CRISIS))])
        await eventually(lambda: service.metrics.produce_retries._value.get() >= 2, timeout=30)
        (handled,) = service.incidents._in_flight
        (kept,) = handled.offsets
        sends.given_up.append(handled.durable)
        await service.incidents.revoked({TopicPartition(topics.incidents, 1 - kept.partition)})
        assert isinstance(handled.durable.exception(), DeliveryAborted)
        # Read again from offset 0 and published this time: nothing of the kept partition was skipped.
        await out.wait_for(lambda r: r.key == b"INC-KEPT", timeout=30)
        await eventually(lambda: service.incidents._pending == {}, timeout=10)
        assert service.processor.book.get("INC-KEPT") is not None
    committed = await committed_offsets(broker.bootstrap_servers, settings.kafka.group_id, topics.incidents, 2)
    assert committed[kept.partition] == 1


async def test_a_batch_that_fails_for_a_reason_other_than_shutdown_stops_the_service_loudly(
        broker, unique, tmp_path):
    # Output and rows are written in the background; a failure there that is not shutdown is a bug. Consuming
    # on would never commit again (nothing is committed past an unwritten batch): the service must say so.
    settings = settings_for(broker, unique, tmp_path)
    async with running(settings) as service:
        recorder = service.recorder

        class BrokenSink:  # the incident rows only: the rest of the service writes as usual
            seen, published = recorder.seen, recorder.published

            async def write(self, rows, abort):
                raise RuntimeError("a bug in the outcome store")

        service.processor.attach_outcomes(BrokenSink(), recorder.premise)
        await produce(broker, settings.topics.incidents, [("INC-BUG", incident_event("INC-BUG", narrative=CRISIS))])
        await eventually(lambda: service.failed is not None, timeout=30)
        assert service.failed.startswith("incidents") and "RuntimeError" in service.failed, service.failed
        assert not service.live()[0]
    assert (await committed_offsets(broker.bootstrap_servers, settings.kafka.group_id,
                                    settings.topics.incidents, 1))[0] is None


async def test_a_run_of_invalid_events_beyond_the_limit_halts_consumption_and_fails_readiness(
        broker, unique, tmp_path):
    limit = 5
    settings = settings_for(broker, unique, tmp_path, processing={"dlq_max_consecutive": limit})
    incidents = settings.topics.incidents
    bad = [("BAD", b'{"schema_version": 1, "event_id": ')]
    records = (bad * 2 + [("INC-OK", incident_event("INC-OK", narrative=CRISIS))]  # offsets 0-2: resets the run
               + bad * 7                                                            # offsets 3-9
               + [("INC-NEVER", incident_event("INC-NEVER", narrative=CRISIS))])    # offset 10
    halted_at = 3 + limit  # the sixth invalid event in a row
    async with (running(settings) as service,
                TopicReader(broker, settings.topics.deadletter) as dlq,
                TopicReader(broker, settings.topics.recommendations) as out):
        client = TestClient(TestServer(build_app(service)))
        await client.start_server()
        try:
            await produce(broker, incidents, records)
            await eventually(lambda: service.incidents.halted_reason is not None, timeout=30)
            await eventually(lambda: len(dlq.records) == 2 + limit, timeout=10)
            async with client.get("/readyz") as response:
                assert response.status == 503
                body = await response.json()
            assert body["checks"]["consuming"] is False and "consecutive invalid" in body["halted"]
            async with client.get("/livez") as response:
                assert response.status == 200, "a halted consumer is alive: restarting it would not help"
            await eventually(lambda: service.incidents._pending == {}, timeout=10)
            await asyncio.sleep(1.0)  # several commit intervals and polls: nothing moves on
            committed = await committed_offsets(broker.bootstrap_servers, settings.kafka.group_id, incidents, 1)
            assert committed[0] == halted_at, "the halted record and what follows stay uncommitted"
            assert [r.offset for r in dlq.records] == list(range(2 + limit))
            assert [int(dict(r.headers)["dlq_original_offset"]) for r in dlq.records] == [0, 1, 3, 4, 5, 6, 7]
            assert {r.key for r in out.records} == {b"INC-OK"}, "nothing after the halt is processed"
            assert service.metrics.dlq_guard_tripped._value.get() == 1
        finally:
            await client.close()


async def test_open_incidents_are_bounded_closed_ones_forgotten_and_idle_ones_evicted(broker, unique, tmp_path):
    settings = settings_for(broker, unique, tmp_path, processing={"max_open_incidents": 100})
    incidents = settings.topics.incidents
    open_calls = [(f"BURG-{i:03d}", incident_event(f"BURG-{i:03d}", nature_code="BURG", narrative=["ALARM"],
                                                   at=T0 + dt.timedelta(seconds=i))) for i in range(250)]
    crisis = [(f"CR-{i}", incident_event(f"CR-{i}", narrative=CRISIS, at=T0 + dt.timedelta(minutes=10)))
              for i in range(10)]
    closes = [(f"CR-{i}", incident_event(f"CR-{i}", 2, narrative=CRISIS, event_type="incident.closed",
                                         at=T0 + dt.timedelta(minutes=20))) for i in range(10)]
    async with running(settings) as service, TopicReader(broker, settings.topics.recommendations) as out:
        await produce(broker, incidents, open_calls + crisis + closes
                      + [("SENTINEL", incident_event("SENTINEL", narrative=CRISIS, at=T0 + dt.timedelta(hours=1)))])
        await out.wait_for(lambda r: r.key == b"SENTINEL")
        book = service.processor.book
        assert len(book) <= 100
        assert all(book.get(f"CR-{i}") is None for i in range(10)), "closed incidents are dropped at once"
        assert book.get("BURG-000") is None and book.get("BURG-249") is not None, "the oldest go first"
        # A day and more of event time later (a CAD that never sent the closes): the idle ones go too.
        late = T0 + dt.timedelta(hours=settings.processing.incident_idle_hours + 2)
        await produce(broker, incidents, [("LATE", incident_event("LATE", nature_code="BURG", at=late))])
        await eventually(lambda: [e.event.incident.id for e in book] == ["LATE"], timeout=15)
        assert service.metrics.open_incidents._value.get() <= 100


async def test_memory_stays_flat_over_a_long_replay(broker, unique, tmp_path):
    settings = settings_for(broker, unique, tmp_path, processing={"max_open_incidents": 200})
    service = Service(settings)
    await service.producer.start()
    processor, topic = service.processor, settings.topics.incidents
    tp = TopicPartition(topic, 0)
    offset = 0

    async def replay(n: int) -> None:
        nonlocal offset
        for _ in range(n // 200):
            batch = []
            for _ in range(200):
                # Mostly ordinary calls, one in ten a crisis (so output is written too), each a new incident.
                incident_id = f"L-{offset}"
                kind = {"narrative": CRISIS} if offset % 10 == 0 else {"nature_code": "TRAF", "narrative": ["FENDER"]}
                event = incident_event(incident_id, at=T0 + dt.timedelta(seconds=offset), **kind)
                batch.append(consumer_record(topic, offset, incident_id.encode(), orjson.dumps(event)))
                offset += 1
            done = await processor.handle({tp: batch})
            if done.durable is not None:
                await done.durable  # the outcome rows, written behind the output
            assert done.offsets == {tp: offset}

    try:
        await replay(2000)  # warm-up: caches, metric children, the book filled to its bound
        gc.collect()
        tracemalloc.start()
        await replay(4000)
        gc.collect()
        middle = tracemalloc.get_traced_memory()[0]
        await replay(4000)
        gc.collect()
        end = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    finally:
        await service.producer.stop()
    assert len(processor.book) == 200
    growth = end - middle
    assert growth < 512 * 1024, f"memory grew by {growth / 1024:.0f} KiB over 4000 more events"
