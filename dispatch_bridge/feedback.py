"""Why a recommendation was not followed: from the ``cit.feedback`` topic and from the HTTP API.

Both paths validate with the outcome store's rules (configurable reason codes) and write a ``Feedback`` row.
A topic record that is not valid feedback goes to the dead-letter topic with the reason, like any bad input.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from aiokafka import TopicPartition

from dispatch_bridge.bus.codec import InvalidEvent
from dispatch_bridge.bus.consumer import Batch, Handled
from dispatch_bridge.bus.deadletter import dead_letter
from dispatch_bridge.bus.producer import Outgoing
from dispatch_bridge.outcomes import Feedback, validate_feedback

if TYPE_CHECKING:
    from dispatch_bridge.service import Service

log = structlog.get_logger(__name__)
# An API caller is answered 503 (try again) rather than held while the outcome store is away.
API_WRITE_SECONDS = 10.0


class StoreUnavailableError(RuntimeError):
    """The feedback could not be written in time: the outcome store is away."""


class FeedbackHandler:
    def __init__(self, service: Service) -> None:
        self._service = service
        self._last_write: asyncio.Future[None] | None = None

    def from_api(self, incident_id: str, payload: Any) -> Feedback:
        """Raises ValueError with a message safe to return to the caller (it never echoes the input)."""
        if not isinstance(payload, dict):
            raise ValueError("feedback must be a JSON object")
        settings = self._service.settings.store
        return validate_feedback({**payload, "incident_id": incident_id}, settings.feedback_reason_codes,
                                 source="api", now=self._service.clock())

    async def record(self, feedback: Feedback) -> None:
        """Write one API feedback; StoreUnavailableError when the store does not take it within the bound."""
        recorder = self._service.recorder
        assert recorder is not None, "the outcome store is not open"
        try:
            await asyncio.wait_for(recorder.write([feedback], self._service.processor.abort), API_WRITE_SECONDS)
        except TimeoutError:
            # The write may still land when the store returns; a retry is idempotent (one row per key).
            raise StoreUnavailableError("the outcome store is unavailable; try again") from None

    async def handle(self, batch: Batch) -> Handled:
        service = self._service
        codes = service.settings.store.feedback_reason_codes
        rows: list[Feedback] = []
        dead: list[Outgoing] = []
        done: dict[TopicPartition, int] = {}
        for tp, records in batch.items():
            for record in records:
                try:
                    payload = orjson.loads(record.value) if record.value is not None else None
                    rows.append(validate_feedback(payload, codes, source="topic", now=_record_time(record.timestamp)))
                except ValueError as exc:  # JSONDecodeError is a ValueError; messages never echo the input
                    reason = "invalid JSON" if isinstance(exc, orjson.JSONDecodeError) else str(exc)
                    invalid = InvalidEvent("invalid_feedback", reason[:200])
                    dead.append(dead_letter(record, invalid, service.settings.topics.deadletter,
                                            service.feedback_consumer.group_id))
                    service.metrics.dead_letters.labels("invalid_feedback").inc()
                    log.warning("feedback_invalid", partition=record.partition, offset=record.offset)
                done[tp] = records[-1].offset + 1
        if dead:
            await service.producer.deliver(dead, abort=service.processor.abort)
        if not rows or service.recorder is None:
            return Handled(done)
        # Written in the background, after the batch before (the consumer commits in order once it is done): a
        # store outage then holds this consumer's fetching, not its loop (see GroupConsumer._hold).
        recorder, abort, before = service.recorder, service.processor.abort, self._last_write

        async def write() -> None:
            if before is not None:
                await before
            await recorder.write(rows, abort)

        self._last_write = asyncio.ensure_future(write())
        return Handled(done, durable=self._last_write)


def _record_time(timestamp_ms: int) -> dt.datetime:
    """The broker timestamp, used when a feedback record carries no ``at`` of its own."""
    return dt.datetime.fromtimestamp(timestamp_ms / 1000, dt.UTC)
