"""Dead letters: the original key, value and headers untouched, plus provenance headers.

Header names (a contract for whoever reprocesses the topic): ``dlq_original_topic``,
``dlq_original_partition``, ``dlq_original_offset``, ``dlq_original_timestamp``, ``dlq_consumer_group``,
``dlq_error_class`` (a short code such as ``schema_violation``) and ``dlq_error_reason`` (field paths and error
types only: it never echoes caller data).
"""

from __future__ import annotations

from aiokafka import ConsumerRecord

from dispatch_bridge.bus.codec import InvalidEvent
from dispatch_bridge.bus.producer import Outgoing


def dead_letter(record: ConsumerRecord, error: InvalidEvent, topic: str, group_id: str) -> Outgoing:
    headers = list(record.headers or ())
    headers += [
        ("dlq_original_topic", record.topic.encode()),
        ("dlq_original_partition", str(record.partition).encode()),
        ("dlq_original_offset", str(record.offset).encode()),
        ("dlq_original_timestamp", str(record.timestamp).encode()),
        ("dlq_consumer_group", group_id.encode()),
        ("dlq_error_class", error.code.encode()),
        ("dlq_error_reason", error.reason.encode()),
    ]
    return Outgoing(topic=topic, key=record.key, value=record.value, headers=headers)
