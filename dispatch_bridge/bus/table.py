"""Materialise a compacted topic as a table in every instance: read all partitions, no consumer group.

The roster must be whole in every instance (ranking needs every unit), so ``cad.units`` is not shared
through the group like incidents are: each instance assigns itself every partition and reads from the start.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from dispatch_bridge.bus.kafka_config import connection_kwargs
from dispatch_bridge.settings import KafkaSettings

log = structlog.get_logger(__name__)

# One partition's records of one fetch, in offset order.
BatchHandler = Callable[[Sequence[ConsumerRecord]], None]


class TableReader:
    """Feeds every record of ``topic`` to ``on_records``, a partition's fetched batch at a time, from the
    beginning, forever.

    ``on_records`` runs on the event loop and must be quick and must not raise for bad data (it owns its own
    error handling); it gets whole batches so that a table can coalesce a key's updates within one.
    ``on_batch_done`` runs after each fetch.
    """

    def __init__(
        self,
        topic: str,
        kafka: KafkaSettings,
        on_records: BatchHandler,
        on_batch_done: Callable[[], None] | None = None,
    ) -> None:
        self.topic = topic
        self._kafka = kafka
        self._on_records = on_records
        self._on_batch_done = on_batch_done
        self._consumer: AIOKafkaConsumer | None = None
        self.records_read = 0
        self.started = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Read until ``stop`` is set; reconnects by itself after broker errors."""
        while not stop.is_set():
            try:
                await self._read_until(stop)
            except KafkaError as exc:  # transient: the broker is away; try again
                log.warning("table_reader_error", topic=self.topic, error=type(exc).__name__)
                await _sleep_or_stop(stop, 1.0)
            finally:
                await self._close()

    async def _read_until(self, stop: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(
            **connection_kwargs(self._kafka),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # In bulk (see KafkaSettings.table_fetch_max_wait_ms): a table is never on a call's critical path.
            fetch_max_wait_ms=self._kafka.table_fetch_max_wait_ms,
            fetch_min_bytes=self._kafka.table_fetch_min_bytes,
        )
        self._consumer = consumer
        await consumer.start()
        partitions = await _wait_for_partitions(consumer, self.topic, stop)
        if not partitions:
            return
        consumer.assign([TopicPartition(self.topic, p) for p in sorted(partitions)])
        await consumer.seek_to_beginning()
        self.started.set()
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=self._kafka.poll_timeout_ms, max_records=5000)
            for records in batches.values():
                self._on_records(records)
                self.records_read += len(records)
            if batches and self._on_batch_done is not None:
                self._on_batch_done()

    async def _close(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            try:
                await consumer.stop()
            except KafkaError:
                pass


async def _wait_for_partitions(consumer: AIOKafkaConsumer, topic: str, stop: asyncio.Event) -> set[int]:
    """The topic's partitions; waits for the topic to exist (it may be created after we start)."""
    while not stop.is_set():
        partitions = consumer.partitions_for_topic(topic)
        if partitions:
            return set(partitions)
        await consumer.topics()  # refreshes metadata
        partitions = consumer.partitions_for_topic(topic)
        if partitions:
            return set(partitions)
        await _sleep_or_stop(stop, 0.5)
    return set()


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass
