"""Back-pressure in the consumer loop: how far batches may run ahead of their durable part (output acknowledged,
outcome rows written). The bound is two full batches' worth of records (``max_batch_records`` each) or
``MAX_IN_FLIGHT`` batches; a batch waits, before it is handled, until the batches ahead are under both.

The loop's ``_handle`` is driven directly with batches whose durable parts the test completes by hand (no broker:
what is under test is the waiting, which a broker would only make slower to observe).
"""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition

from dispatch_bridge.bus import consumer as consumer_module
from dispatch_bridge.bus.consumer import GroupConsumer, Handled
from dispatch_bridge.metrics import Metrics
from dispatch_bridge.settings import KafkaSettings
from tests.proc import consumer_record

TP = TopicPartition("cad.incidents", 0)


class _Durable:
    """A handler whose every batch stays not-yet-durable until the test completes it."""

    def __init__(self) -> None:
        self.parts: list[asyncio.Future[None]] = []
        self.handled: list[int] = []

    async def __call__(self, batch):
        (records,) = batch.values()
        part: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.parts.append(part)
        self.handled.append(len(records))
        return Handled({TP: records[-1].offset + 1}, part)


def _consumer(max_batch_records: int) -> tuple[GroupConsumer, _Durable]:
    handler = _Durable()
    kafka = KafkaSettings(max_batch_records=max_batch_records)
    return GroupConsumer(["cad.incidents"], kafka, handler, Metrics()), handler


def _batch(first: int, size: int):
    return {TP: [consumer_record(TP.topic, first + n, b"K", b"{}") for n in range(size)]}


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_batch_waits_until_the_records_ahead_are_under_two_full_batches():
    consumer, handler = _consumer(max_batch_records=4)
    # 1 + 4 = 5 records ahead, under 8: the third batch is handled at once, leaving 9 in flight.
    for first, size in ((0, 1), (1, 4), (5, 4)):
        await consumer._handle(_batch(first, size))
    assert handler.handled == [1, 4, 4]
    waiting = asyncio.create_task(consumer._handle(_batch(9, 1)))
    await _settle()
    assert handler.handled == [1, 4, 4], "9 records ahead: the fourth batch waits"
    # The small batch at the head completes: 8 records are still ahead, which is not under the bound.
    handler.parts[0].set_result(None)
    await _settle()
    assert not waiting.done() and handler.handled == [1, 4, 4]
    handler.parts[1].set_result(None)
    await asyncio.wait_for(waiting, 5)
    assert handler.handled == [1, 4, 4, 1]


async def test_small_batches_run_ahead_up_to_the_batch_count_bound():
    consumer, handler = _consumer(max_batch_records=1000)
    for n in range(consumer_module.MAX_IN_FLIGHT):
        await consumer._handle(_batch(n, 1))
    assert len(handler.handled) == consumer_module.MAX_IN_FLIGHT, "live batches do not wait on each other"
    waiting = asyncio.create_task(consumer._handle(_batch(100, 1)))
    await _settle()
    assert len(handler.handled) == consumer_module.MAX_IN_FLIGHT, "the batch count bound holds"
    handler.parts[0].set_result(None)
    await asyncio.wait_for(waiting, 5)
    assert len(handler.handled) == consumer_module.MAX_IN_FLIGHT + 1
