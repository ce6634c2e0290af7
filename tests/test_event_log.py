"""The canonical per-event log line: which revisions write it, and that nothing is built below INFO.

The processor's synchronous half with the real triage and ranking; the module's logger is replaced by a
recorder of the lines it is asked to write (level filtering is structlog's job, asked through the same
``is_enabled_for`` the processor calls).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import orjson
import pytest
from aiokafka import ConsumerRecord, TopicPartition

from dispatch_bridge import processor as processor_module
from dispatch_bridge.service import Service
from dispatch_bridge.settings import Settings
from tests.harness import T0, incident_event, unit_status

NOW = T0 + dt.timedelta(minutes=2)
TP = TopicPartition("cad.incidents", 0)


class _Lines:
    def __init__(self, level: int) -> None:
        self.level = level
        self.lines: list[dict[str, Any]] = []

    def is_enabled_for(self, level: int) -> bool:
        return level >= self.level

    def info(self, event: str, **fields: Any) -> None:
        self.lines.append({"event": event, "level": "info", **fields})

    def warning(self, event: str, **fields: Any) -> None:
        self.lines.append({"event": event, "level": "warning", **fields})


def _batch(*events: dict[str, Any] | bytes) -> dict[TopicPartition, list[ConsumerRecord]]:
    """Records in order; raw bytes stand for a record that is not an incident event at all."""
    records = []
    for offset, event in enumerate(events):
        key, value = (b"?", event) if isinstance(event, bytes) else (event["incident"]["id"].encode(),
                                                                     orjson.dumps(event))
        records.append(ConsumerRecord(topic=TP.topic, partition=TP.partition, offset=offset, timestamp=0,
                                      timestamp_type=0, key=key, value=value, checksum=None,
                                      serialized_key_size=len(key), serialized_value_size=len(value), headers=[]))
    return {TP: records}


def _run(monkeypatch: pytest.MonkeyPatch, level: int, **processing: Any) -> tuple[_Lines, Service]:
    lines = _Lines(level)
    monkeypatch.setattr(processor_module, "log", lines)
    service = Service(Settings(processing=processing), clock=lambda: NOW)
    service.roster.apply_unit_record(b"P-1", orjson.dumps(unit_status("P-1", cit_until=dt.date(2027, 1, 1))))
    batch = _batch(
        incident_event("ORD-1", 1, nature_code="PARKING"),
        incident_event("ORD-1", 3, nature_code="PARKING", event_type="incident.updated"),
        incident_event("CRI-1", 1, narrative=["SUBJ TALKING ABOUT KILLING HIMSELF"]),
        incident_event("ORD-1", 2, nature_code="PARKING", event_type="incident.updated"),  # stale: 3 was read
        incident_event("ORD-1", 4, nature_code="PARKING", event_type="incident.closed"),
        b"not json",
    )
    result, done, halted = service.processor.process(batch, NOW)
    assert halted is None and done == {TP: 6}
    return lines, service


def _outcomes(lines: _Lines) -> list[tuple[str | None, str]]:
    return [(line.get("incident_id"), line["outcome"]) for line in lines.lines if line["event"] == "event"]


def test_every_event_logs_one_line_each(monkeypatch: pytest.MonkeyPatch) -> None:
    lines, _ = _run(monkeypatch, logging.INFO)
    # In record order, but a crisis call's revision is decided (and logged) at the end of its batch.
    assert _outcomes(lines) == [("ORD-1", "not_crisis"), ("ORD-1", "not_crisis"), ("ORD-1", "stale"),
                                ("ORD-1", "closed"), (None, "dead_letter"), ("CRI-1", "recommended")]


def test_flagged_only_logs_crisis_calls_and_dead_letters(monkeypatch: pytest.MonkeyPatch) -> None:
    lines, service = _run(monkeypatch, logging.INFO, log_every_event=False)
    assert _outcomes(lines) == [(None, "dead_letter"), ("CRI-1", "recommended")]
    # The ordinary call's revisions are still counted, only not logged.
    counted = {sample.labels["outcome"]: sample.value for metric in service.metrics.events_processed.collect()
               for sample in metric.samples if sample.name.endswith("_total") and sample.value}
    assert counted == {"not_crisis": 2, "stale": 1, "closed": 1, "recommended": 1, "dead_letter": 1}


def test_below_info_no_event_line_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    lines, _ = _run(monkeypatch, logging.WARNING)
    # The processor does not even ask for the INFO lines; the dead letter's warning is still written.
    assert _outcomes(lines) == [(None, "dead_letter")]
    assert lines.lines[0]["level"] == "warning"
