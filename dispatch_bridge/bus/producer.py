"""The one producer: sends a batch without awaiting each record, then waits until every record is acknowledged.

Output that cannot be written is retried with capped exponential backoff, forever (or until shutdown), and the
caller commits input offsets only after ``deliver`` (or ``confirm``) returns: nothing is ever committed past
unwritten output.

``deliver`` is ``enqueue`` then ``confirm``. The incident handler calls them apart: it enqueues a batch's output
(so it leaves in input order) and confirms it in the background while the next batch is processed, the way
arroyo and quix-streams commit only what the producer has acknowledged without waiting on each round trip.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from dispatch_bridge.bus.kafka_config import connection_kwargs
from dispatch_bridge.settings import KafkaSettings

log = structlog.get_logger(__name__)

Headers = list[tuple[str, bytes]]
# Re-sends remembered for ``resent_since``: far more than the batches ever in flight at once.
_RESEND_LOG = 4096


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers


@dataclass(frozen=True, slots=True)
class Sending:
    """Records handed to the producer, with one acknowledgement future each (None: not enqueued).

    Output order per incident matters (a CAD shows the newest recommendation it read). While a batch waits for
    its acknowledgements the next ones may already be enqueued; if a record is re-sent after a batch started to
    enqueue and that batch holds a record of the same topic and key (``OutputProducer.resent_since``), the
    batch re-sends all of its own afterwards (``confirm(resend=True)``), so the last copy of every record in the
    log is still in input order. Copies are harmless: output ids are deterministic. Batches of other incidents
    are left alone: a retry does not set off re-sends down the whole pipeline.
    """

    batch: list[Outgoing]
    futures: list[asyncio.Future[object] | None]


class DeliveryAborted(Exception):
    """Shutdown arrived while output was still unacknowledged: the caller must not commit."""


class OutputProducer:
    def __init__(self, kafka: KafkaSettings, on_retry: Callable[[], None] | None = None) -> None:
        self._kafka = kafka
        self._on_retry = on_retry
        self._producer: AIOKafkaProducer | None = None
        # Records enqueued a second (or later) time, by any caller; a batch marks it before it enqueues (see
        # Sending). The log keeps, per re-send, the count before it and the (topic, key) pairs it carried.
        self.resent = 0
        self._resends: deque[tuple[int, frozenset[tuple[str, bytes | None]]]] = deque(maxlen=_RESEND_LOG)

    @property
    def client(self) -> AIOKafkaProducer:
        assert self._producer is not None, "producer not started"
        return self._producer

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(
            **connection_kwargs(self._kafka),
            acks="all" if self._kafka.acks == "all" else int(self._kafka.acks),
            enable_idempotence=self._kafka.enable_idempotence,
            linger_ms=self._kafka.linger_ms,
            max_request_size=self._kafka.max_message_bytes + 65_536,  # a dead letter adds headers
            max_batch_size=256 * 1024,
        )
        await self._producer.start()

    async def stop(self, timeout: float | None = None) -> None:
        """Flush and close, within ``timeout`` seconds when given.

        A hung broker answers nothing, so an unbounded flush waits out the request timeout for every batch in
        flight, and shutdown overruns its bound. Giving up is safe: output still unacknowledged was never
        committed past, so its input is redelivered to whoever owns the partition next.
        """
        if self._producer is None:
            return
        producer, self._producer = self._producer, None
        try:
            await asyncio.wait_for(producer.stop(), timeout)  # stop() flushes first
        except TimeoutError:
            log.warning("producer_stop_timeout", timeout_seconds=timeout)

    async def deliver(self, batch: Sequence[Outgoing], abort: asyncio.Event | None = None,
                      max_backoff: float = 5.0) -> None:
        """Return once every record is acknowledged; raise DeliveryAborted if ``abort`` is set first."""
        await self.confirm(await self.enqueue(batch), abort, max_backoff=max_backoff)

    async def enqueue(self, batch: Sequence[Outgoing]) -> Sending:
        """Hand every record to the producer (order per partition is kept); the acknowledgements come later."""
        producer = self.client
        futures: list[asyncio.Future[object] | None] = []
        for item in batch:
            try:
                futures.append(await producer.send(item.topic, item.value, key=item.key, headers=item.headers))
            except KafkaError as exc:
                # An enqueue failure costs a whole request timeout (waiting for metadata): trying the rest of
                # the batch now would cost one per record before the first retry. Leave them to the retry.
                log.warning("produce_enqueue_failed", topic=item.topic, error=type(exc).__name__,
                            not_tried=len(batch) - len(futures) - 1)
                futures += [None] * (len(batch) - len(futures))
                break
        return Sending(list(batch), futures)

    def resent_since(self, mark: int, batch: Sequence[Outgoing]) -> bool:
        """Whether a record of the same topic and key as one in ``batch`` was re-sent since ``resent`` read
        ``mark`` (when the re-sends since then are no longer all in the log: True, to be safe)."""
        if self.resent == mark:
            return False
        resends = self._resends
        if not resends or resends[0][0] > mark:
            return True
        keys = {(item.topic, item.key) for item in batch}
        return any(before >= mark and not keys.isdisjoint(pairs) for before, pairs in resends)

    def _count_resend(self, items: Sequence[Outgoing]) -> None:
        self._resends.append((self.resent, frozenset((item.topic, item.key) for item in items)))
        self.resent += len(items)

    async def confirm(self, sending: Sending, abort: asyncio.Event | None = None, max_backoff: float = 5.0,
                      resend: bool = False) -> None:
        """Return once every record of ``sending`` is acknowledged, re-sending the failed ones with backoff;
        raise DeliveryAborted if ``abort`` is set first. ``resend`` sends every record once more after the
        first acknowledgements (see ``Sending``)."""
        failed = await self._failures(sending)
        if resend:  # written or not, each goes once more so that it follows the re-sent output
            if abort is not None and abort.is_set():
                raise DeliveryAborted(f"{len(sending.batch)} records not re-sent at shutdown")
            self._count_resend(sending.batch)
            failed = await self._failures(await self.enqueue(sending.batch))
        backoff = 0.1
        while failed:
            if self._on_retry is not None:
                self._on_retry()
            log.warning("produce_retry", records=len(failed), backoff_seconds=round(backoff, 2))
            if abort is not None:
                try:
                    await asyncio.wait_for(abort.wait(), timeout=backoff)
                except TimeoutError:
                    pass
                else:
                    raise DeliveryAborted(f"{len(failed)} records not acknowledged at shutdown")
            else:
                await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max_backoff)
            self._count_resend(failed)
            failed = await self._failures(await self.enqueue(failed))

    @staticmethod
    async def _failures(sending: Sending) -> list[Outgoing]:
        """Await the acknowledgements of one send; the records that were not written."""
        results = await asyncio.gather(*(f for f in sending.futures if f is not None), return_exceptions=True)
        failed: list[Outgoing] = []
        result_iter = iter(results)
        for item, future in zip(sending.batch, sending.futures, strict=True):
            if future is None:
                failed.append(item)
                continue
            result = next(result_iter)
            if isinstance(result, BaseException):
                log.warning("produce_failed", topic=item.topic, error=type(result).__name__)
                failed.append(item)
        return failed
