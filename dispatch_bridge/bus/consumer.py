"""The consumer-group loop: fetch a batch, hand it over, commit what the handler says is safely written.

Rules it keeps (aiokafka's docs, arroyo, quix-streams):
- manual commits only, of offsets the handler returned, i.e. whose output the broker has acknowledged;
- commits on a cadence, not per record; and on revoke, after the in-flight batch finished, for the revoked
  partitions; and explicitly before ``stop()``, because the revoke listener is not called there;
- never a lock across ``getmany``;
- a batch may finish becoming durable in the background (its outcome rows being written) while the next one
  is processed: its offsets join the commit only once that completes, in order; a batch is handled only while
  fewer than two full batches' worth of records (``max_batch_records`` each) and ``MAX_IN_FLIGHT`` batches are
  still becoming durable ahead of it; output still unacknowledged when its partitions are revoked is given
  up, uncommitted, so that no late re-send lands behind the next owner's output;
- the loop keeps iterating (heartbeats, /livez) even when consumption is halted by the dead-letter guard, and
  while the store is away: a batch that waits longer than ``HOLD_AFTER_SECONDS`` for the back-pressure bound
  first raises the bound to ``outage_buffer_records`` (output keeps going out, rows and commits wait), then, once
  that is full, is handed back (its partitions sought to its first offsets) and fetching is paused until the
  store catches up, so the member keeps polling (no ``max_poll_interval`` expiry, no rebalance) and /livez
  stays true.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import structlog
from aiokafka import (
    AIOKafkaConsumer,
    ConsumerRebalanceListener,
    ConsumerRecord,
    TopicPartition,
)
from aiokafka.errors import CommitFailedError, KafkaError

from dispatch_bridge.bus.kafka_config import connection_kwargs
from dispatch_bridge.bus.producer import DeliveryAborted
from dispatch_bridge.metrics import Metrics
from dispatch_bridge.settings import KafkaSettings

log = structlog.get_logger(__name__)

Batch = dict[TopicPartition, list[ConsumerRecord]]
Offsets = dict[TopicPartition, int]
# Back-pressure: batches whose durable part may still be running while the next one is processed. Bounded by
# records (two full batches: a backlog never runs far ahead of the store) and by count. Live traffic comes in
# batches of a few records each, whose acknowledgement and rows take longer than the next fetch: a bound of two
# batches there made each new call wait on the rows of the call before last (measured: +2 ms at p50, 500/s).
MAX_IN_FLIGHT = 16
# While buffering through a store outage (see outage_buffer_records), batches are bounded by count too: fewer
# than the producer's re-send log holds (bus.producer._RESEND_LOG), so ordering checks stay exact.
MAX_IN_FLIGHT_BUFFERING = 2048
# Longer than a healthy store ever takes (a 1,000-row batch: tens of ms), far shorter than max_poll_interval_ms.
HOLD_AFTER_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Handled:
    """What a handler did with a batch: per partition the next offset (``last handled + 1``), committable once
    ``durable`` (if any) has completed; a ``durable`` that fails means those offsets are never committed."""

    offsets: Offsets
    durable: asyncio.Future[Any] | None = None
    # Per partition the batch's first offset (set by the consumer): where to read again if it is given up.
    starts: Offsets = field(default_factory=dict)
    # Records in the batch (set by the consumer): the back-pressure bound counts them.
    records: int = 0


# The handler processes a batch and returns the offsets it handled, as a plain dict (all of it already safely
# written) or as ``Handled`` with a pending durable part. It raises ConsumptionHalted to stop consuming.
BatchHandler = Callable[[Batch], Awaitable["Offsets | Handled"]]
PartitionsCallback = Callable[[set[TopicPartition]], None]


class ConsumptionHalted(Exception):
    """Stop consuming but keep the process up (e.g. the dead-letter guard tripped). Carries safe offsets."""

    def __init__(self, reason: str, offsets: dict[TopicPartition, int],
                 durable: asyncio.Future[Any] | None = None) -> None:
        super().__init__(reason)
        self.offsets = offsets
        # The halted batch's output still becoming durable: its offsets are committed once it is.
        self.durable = durable


class GroupConsumer:
    def __init__(
        self,
        topics: list[str],
        kafka: KafkaSettings,
        handler: BatchHandler,
        metrics: Metrics,
        on_assigned: PartitionsCallback | None = None,
        on_revoked: PartitionsCallback | None = None,
        on_abandon: Callable[[], None] | None = None,
        drain_seconds: float = 20.0,
        group_id: str | None = None,
        outage_buffer_records: int = 0,
    ) -> None:
        self._topics = topics
        self.group_id = group_id or kafka.group_id
        self._kafka = kafka
        self._handler = handler
        self._metrics = metrics
        self._on_assigned = on_assigned
        self._on_revoked = on_revoked
        # Makes the durable parts still running give up (see _abandon_unwritten); None: they are waited for.
        self._on_abandon = on_abandon
        self._drain_seconds = drain_seconds
        self._consumer: AIOKafkaConsumer | None = None
        self._pending: dict[TopicPartition, int] = {}
        self._in_flight: deque[Handled] = deque()
        self._in_flight_records = 0  # the sum of their records, kept as they come and go
        self._max_in_flight_records = 2 * kafka.max_batch_records
        # While the store is away (a batch waited HOLD_AFTER_SECONDS), batches go on being handled, their output
        # published and their rows held, until this many records are in flight; then fetching is held.
        self._outage_buffer_records = outage_buffer_records
        self.buffering = False
        # The last offset this member committed per partition: a broker that comes back without it lost its state.
        self._committed: dict[TopicPartition, int] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        # Partitions revoked while the batch in hand was being handled.
        self._revoked_meanwhile: set[TopicPartition] = set()
        self._last_commit = 0.0
        # Fetching paused because the store is behind (see _hold); resumed once it caught up.
        self.held = False
        self.halted_reason: str | None = None
        # Set while the broker is away: offsets from before an outage must not reach a broker that came back
        # without its log (see recover_after_outage); they wait, pending, until recovery has checked them.
        self.hold_commits = False
        self.started = False
        self.last_iteration = time.time()
        self._held_gauge = metrics.consumption_held.labels(self.group_id)
        self._unwritten_gauge = metrics.unwritten_records.labels(self.group_id)

    @property
    def assignment(self) -> set[TopicPartition]:
        return set(self._consumer.assignment()) if self._consumer is not None else set()

    async def run(self, stop: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(
            **connection_kwargs(self._kafka),
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset=self._kafka.auto_offset_reset,
            fetch_max_wait_ms=self._kafka.fetch_max_wait_ms,
            session_timeout_ms=self._kafka.session_timeout_ms,
            heartbeat_interval_ms=self._kafka.heartbeat_interval_ms,
            max_poll_interval_ms=self._kafka.max_poll_interval_ms,
            max_partition_fetch_bytes=self._kafka.max_message_bytes + 65_536,
            fetch_max_bytes=max(52_428_800, self._kafka.max_message_bytes * 4),
        )
        self._consumer = consumer
        consumer.subscribe(self._topics, listener=_Listener(self))
        await consumer.start()
        self.started = True
        try:
            await self._loop(consumer, stop)
        finally:
            await self._close(consumer)

    async def _close(self, consumer: AIOKafkaConsumer) -> None:
        """Commit what is safely written, then leave the group: peers rebalance at once.

        Each step is bounded by the drain time: against a hung broker both would wait out the request timeout
        and shutdown would overrun its bound. Skipping them is safe: uncommitted records are redelivered, and a
        member that did not say goodbye is dropped when its session times out.

        The consumer is stopped even when the wait for the durable parts is cancelled (shutdown gave up on
        output the broker never acknowledged): a consumer left running would keep heartbeating, and hold its
        partitions, for as long as the process lives.
        """
        try:
            await self._settle(self._drain_seconds)
            try:
                await asyncio.wait_for(self._commit(force=True), self._drain_seconds)
            except TimeoutError:
                log.warning("final_commit_timeout", partitions=len(self._pending))
        finally:
            try:
                await asyncio.wait_for(consumer.stop(), self._drain_seconds)
            except TimeoutError:
                log.warning("leave_group_timeout")
            self._consumer = None

    async def _loop(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        interval = self._kafka.commit_interval_ms / 1000
        while not stop.is_set():
            self._tick()
            if self.held and not self._behind():
                self.held = False
                if self.halted_reason is None:
                    consumer.resume(*consumer.assignment())
                log.info("consumption_resumed")
            batch = await consumer.getmany(timeout_ms=self._kafka.poll_timeout_ms,
                                           max_records=self._kafka.max_batch_records)
            if batch and self.halted_reason is None:
                await self._handle(batch)
            self._collect()
            self._raise_if_broken()
            if self._pending and time.monotonic() - self._last_commit >= interval:
                await self._commit()

    async def _handle(self, batch: Batch) -> None:
        self._idle.clear()
        self._revoked_meanwhile = set()
        try:
            give_up_at = time.monotonic() + HOLD_AFTER_SECONDS
            while self._behind():  # back-pressure: never run far ahead of the store
                head = self._in_flight[0].durable
                if head is not None and not head.done():
                    wait = give_up_at - time.monotonic()
                    if wait <= 0:
                        if self._start_buffering():
                            continue  # the store is away: room for more output before holding
                        self._hold(batch)
                        return
                    await asyncio.wait({head}, timeout=wait)
                    continue
                waiting = len(self._in_flight)
                self._collect()
                self._raise_if_broken()
                if len(self._in_flight) == waiting:
                    break  # the head failed (shutdown): it stays, and nothing after it is committed
            if self._revoked_meanwhile:
                # A rebalance took partitions while this batch waited: their records are the next owner's now
                # (handling them would publish behind its output); they were never committed, so it reads them.
                batch = {tp: records for tp, records in batch.items() if tp not in self._revoked_meanwhile}
                if not batch:
                    return
            for tp, records in batch.items():
                self._metrics.events_consumed.labels(tp.topic).inc(len(records))
            try:
                done = await self._handler(batch)
            except ConsumptionHalted as halt:
                done = Handled(halt.offsets, halt.durable)
                self.halted_reason = str(halt)
                assert self._consumer is not None
                self._consumer.pause(*self._consumer.assignment())
                log.error("consumption_halted", reason=self.halted_reason)
            starts = {tp: records[0].offset for tp, records in batch.items() if records}
            count = sum(map(len, batch.values()))
            self._in_flight_records += count
            self._in_flight.append(replace(done, starts=starts, records=count) if isinstance(done, Handled)
                                   else Handled(done, starts=starts, records=count))
            self._collect()
        finally:
            self._idle.set()

    def _hold(self, batch: Batch) -> None:
        """The store is away: hand the batch back unhandled (read again from its first offsets) and pause
        fetching, so that the loop goes on polling while the batches ahead wait for their rows to be written."""
        assert self._consumer is not None
        assigned = self.assignment
        for tp, records in batch.items():
            if records and tp in assigned and tp not in self._revoked_meanwhile:
                self._consumer.seek(tp, records[0].offset)
        self._consumer.pause(*assigned)
        if not self.held:
            self.held = True
            log.warning("consumption_held", reason="outcome store behind", batches_waiting=len(self._in_flight))

    def _start_buffering(self) -> bool:
        """Enter the outage bound (see ``outage_buffer_records``); False when there is none or it is full."""
        if self.buffering or self._outage_buffer_records <= self._max_in_flight_records:
            return False
        self.buffering = True
        log.warning("store_outage_buffering", batches_waiting=len(self._in_flight),
                    up_to_records=self._outage_buffer_records)
        return True

    def _behind(self) -> bool:
        """Whether the batches still becoming durable are as many as the back-pressure bound allows."""
        if not self._in_flight:
            return False
        if self.buffering:
            return self._at_least(MAX_IN_FLIGHT_BUFFERING, self._outage_buffer_records)
        return self._at_least(MAX_IN_FLIGHT, self._max_in_flight_records)

    def _at_least(self, batches: int, records: int) -> bool:
        """Whether the batches in flight reach either bound: this many batches, or this many records."""
        return len(self._in_flight) >= batches or self._in_flight_records >= records

    def _collect(self) -> None:
        """Move the offsets of batches that became durable, in order, into the commit; stop at one still running.

        A failed durable part (shutdown while the store was away) blocks everything after it: nothing past an
        unwritten batch is committed, and its records are redelivered to whoever owns the partitions next.
        """
        assigned = self.assignment
        while self._in_flight:
            head = self._in_flight[0]
            durable = head.durable
            if durable is not None and (not durable.done() or durable.cancelled() or durable.exception() is not None):
                break
            self._in_flight.popleft()
            self._in_flight_records -= head.records
            for tp, offset in head.offsets.items():
                if tp in assigned:  # a partition revoked meanwhile belongs to someone else now
                    self._pending[tp] = offset
        if self.buffering and not self._at_least(MAX_IN_FLIGHT, self._max_in_flight_records):
            # The store caught up: back to the usual bound (not before: with one call per fetch the batch count
            # is what fills, and leaving at the first completion would make every next call wait again).
            self.buffering = False
            log.info("store_outage_buffer_drained")

    def _raise_if_broken(self) -> None:
        """A durable part that failed other than by shutdown (DeliveryAborted, cancelled) is a bug: raise it, so
        the service stops and says so, instead of consuming on with nothing ever committed again."""
        head = self._in_flight[0].durable if self._in_flight else None
        if head is None or not head.done() or head.cancelled():
            return
        error = head.exception()
        if error is not None and not isinstance(error, DeliveryAborted):
            raise error

    async def _settle(self, timeout: float) -> None:
        """Wait (bounded) for the durable parts still running, then collect what completed."""
        running = [h.durable for h in self._in_flight if h.durable is not None and not h.durable.done()]
        if running:
            await asyncio.wait(running, timeout=timeout)
        self._collect()

    def _tick(self) -> None:
        self.last_iteration = time.time()
        self._metrics.last_poll.set(self.last_iteration)
        self._held_gauge.set(self.held)
        self._unwritten_gauge.set(self._in_flight_records)

    async def _commit(self, only: Iterable[TopicPartition] | None = None, force: bool = False) -> None:
        if self._consumer is None or not self._pending or self.hold_commits:
            return
        wanted = set(only) if only is not None else set(self._pending)
        offsets = {tp: off for tp, off in self._pending.items() if tp in wanted}
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # The group rebalanced or the broker is away: the records will be redelivered and reprocessed,
            # which is harmless (deterministic output ids). Keep them pending unless they were revoked.
            self._metrics.commit_failures.inc()
            log.warning("commit_failed", error=type(exc).__name__, partitions=len(offsets), final=force)
            return
        for tp, off in offsets.items():
            self._committed[tp] = off
            if self._pending.get(tp) == off:
                del self._pending[tp]
        self._last_commit = time.monotonic()

    async def recover_after_outage(self) -> bool:
        """After the broker was unreachable: find partitions whose log the broker lost, and start them over.

        A broker that lost its state (Tansu keeps nothing across a restart; a cluster restored empty) no longer
        has the offsets this member committed, and our in-memory fetch position points into a new log that
        restarts at zero: reading on from it would silently skip records. Evidence of a lost log, per partition:
        the offset we committed is gone or went back; or, when we had not committed yet, the log now ends before
        our position. Such partitions are sought to the beginning (at least once: redelivery is harmless) and
        their pending offsets dropped. A broker that was only hung still has both, and nothing changes.
        Returns False when the broker could not answer yet (topics not there again): the caller asks again.
        """
        consumer = self._consumer
        if consumer is None:
            return True
        lost: list[TopicPartition] = []
        try:
            for tp in consumer.assignment():
                committed = await asyncio.wait_for(consumer.committed(tp), timeout=5)
                known = self._committed.get(tp)
                if known is not None:
                    if committed is None or committed < known:
                        lost.append(tp)
                    continue
                if committed is not None:
                    continue
                position = await asyncio.wait_for(consumer.position(tp), timeout=5)
                end = (await asyncio.wait_for(consumer.end_offsets([tp]), timeout=5))[tp]
                if end < position:
                    lost.append(tp)
        except (TimeoutError, KafkaError):
            return False
        for tp in lost:
            self._pending.pop(tp, None)
            self._committed.pop(tp, None)
            for handled in self._in_flight:  # old-log offsets still waiting on their outcome rows
                handled.offsets.pop(tp, None)
        if lost:
            await consumer.seek_to_beginning(*lost)
            log.warning("partitions_started_over", partitions=len(lost), reason="the broker lost the log")
        return True

    async def revoked(self, revoked: set[TopicPartition]) -> None:
        self._metrics.rebalances.labels("revoked").inc()
        self._revoked_meanwhile |= revoked  # read by a batch waiting for back-pressure (see _handle)
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=self._drain_seconds)
        except TimeoutError:
            log.warning("revoke_while_batch_in_flight")
        await self._settle(self._drain_seconds)
        await self._abandon_unwritten(revoked)
        await self._commit(only=revoked)
        for tp in revoked:
            self._pending.pop(tp, None)
        if self._on_revoked is not None:
            self._on_revoked(revoked)

    async def _abandon_unwritten(self, revoked: set[TopicPartition]) -> None:
        """Output still unacknowledged when partitions go: give it up, uncommitted, instead of retrying it on.

        Its input is redelivered to the partitions' next owner, which publishes it and whatever comes after. A
        copy re-sent from here later could land behind that newer output, and a CAD shows the last
        recommendation it read. (Records the Kafka client already holds may still arrive within its own delivery
        timeout: at least once, without transactions to fence them.) A batch given up may hold partitions this
        member keeps: what was written before it is committed, the rest read again from the batch's first offset,
        and what was learned of those partitions forgotten (their revisions come again).
        """
        stuck = [h.durable for h in self._in_flight if h.durable is not None and not h.durable.done()]
        if not revoked or not stuck or self._on_abandon is None:
            return
        self._on_abandon()
        await asyncio.wait(stuck, timeout=self._drain_seconds)  # each gives up at its next retry wait
        owned = self.assignment - revoked
        read_again: Offsets = {}
        for handled in self._in_flight:  # in order: the first batch holding a partition has its first offset
            for tp, start in handled.starts.items():
                if tp in owned:
                    read_again.setdefault(tp, start)
        self._in_flight.clear()
        self._in_flight_records = 0
        log.warning("output_abandoned_on_revoke", batches=len(stuck), partitions_read_again=len(read_again))
        if not read_again or self._consumer is None:
            return
        await self._commit(only=read_again)  # what was written before the batches given up
        for tp in read_again:
            self._pending.pop(tp, None)
        if self._on_revoked is not None:
            self._on_revoked(set(read_again))  # forget what was learned of them: the revisions come again
        for tp, start in read_again.items():
            self._consumer.seek(tp, start)

    def assigned(self, assigned: set[TopicPartition]) -> None:
        self._metrics.rebalances.labels("assigned").inc()
        if self.halted_reason is not None and self._consumer is not None:
            self._consumer.pause(*assigned)
        if self._on_assigned is not None:
            self._on_assigned(assigned)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: GroupConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._owner.revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._owner.assigned(set(assigned))
