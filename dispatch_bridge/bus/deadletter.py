"""Dead letters: the original key, value and headers untouched, plus provenance headers.

Header names (a contract for whoever reprocesses the topic): ``dlq_original_topic``,
``dlq_original_partition``, ``dlq_original_offset``, ``dlq_original_timestamp``, ``dlq_consumer_group``,
``dlq_error_class`` (a short code such as ``schema_violation``) and ``dlq_error_reason`` (field paths and error
types only: it never echoes caller data).

One exception: a record rejected as ``oversized`` is dead-lettered without its value, and
``dlq_value_omitted`` holds the value's size in bytes. The producer cannot write a record over its own size
limit, and that output would be retried forever, stalling the partition behind it. The original stays on
the source topic at the offset the headers give.
"""

from __future__ import annotations

from aiokafka import ConsumerRecord

from dispatch_bridge.bus.codec import InvalidEvent
from dispatch_bridge.bus.producer import Outgoing

OVERSIZED = "oversized"


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
    value = record.value
    if error.code == OVERSIZED and value is not None:
        headers.append(("dlq_value_omitted", str(len(value)).encode()))
        value = None
    return Outgoing(topic=topic, key=record.key, value=value, headers=headers)
