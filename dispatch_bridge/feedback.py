"""Why a recommendation was not followed: from the ``cit.feedback`` topic and from the HTTP API.

Both paths validate with the outcome store's rules (configurable reason codes) and write a ``Feedback`` row.
A topic record that is not valid feedback goes to the dead-letter topic with the reason, like any bad input.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from aiokafka import TopicPartition

from dispatch_bridge.bus.codec import InvalidEvent
from dispatch_bridge.bus.consumer import Batch
from dispatch_bridge.bus.deadletter import dead_letter
from dispatch_bridge.bus.producer import Outgoing
from dispatch_bridge.outcomes import Feedback, validate_feedback

if TYPE_CHECKING:
    from dispatch_bridge.service import Service

log = structlog.get_logger(__name__)


class FeedbackHandler:
    def __init__(self, service: Service) -> None:
        self._service = service

    def from_api(self, incident_id: str, payload: Any) -> Feedback:
        """Raises ValueError with a message safe to return to the caller (it never echoes the input)."""
        if not isinstance(payload, dict):
            raise ValueError("feedback must be a JSON object")
        settings = self._service.settings.store
        return validate_feedback({**payload, "incident_id": incident_id}, settings.feedback_reason_codes,
                                 source="api", now=self._service.clock())

    async def record(self, feedback: Feedback) -> None:
        recorder = self._service.recorder
        assert recorder is not None, "the outcome store is not open"
        await recorder.write([feedback], self._service.processor.abort)

    async def handle(self, batch: Batch) -> dict[TopicPartition, int]:
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
        if rows and service.recorder is not None:
            await service.recorder.write(rows, service.processor.abort)
        return done


def _record_time(timestamp_ms: int) -> dt.datetime:
    """The broker timestamp, used when a feedback record carries no ``at`` of its own."""
    return dt.datetime.fromtimestamp(timestamp_ms / 1000, dt.UTC)
