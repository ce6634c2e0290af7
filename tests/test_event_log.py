"""The canonical per-event log line: which revisions write it, and that nothing is built below INFO.

The processor's synchronous half with the real triage and ranking, logging through a real structlog filtering
logger (the kind ``configure_logging`` installs) that renders JSON into a buffer instead of stderr.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from typing import Any

import orjson
import pytest
import structlog
from aiokafka import ConsumerRecord, TopicPartition

from dispatch_bridge import processor as processor_module
from dispatch_bridge.service import Service
from dispatch_bridge.settings import Settings
from tests.harness import T0, incident_event, unit_status

NOW = T0 + dt.timedelta(minutes=2)
TP = TopicPartition("cad.incidents", 0)
CRISIS = ["SUBJ TALKING ABOUT KILLING HIMSELF"]


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


def _run(monkeypatch: pytest.MonkeyPatch, level: int, **processing: Any) -> tuple[list[dict[str, Any]], Service]:
    out = io.StringIO()
    logger = structlog.wrap_logger(
        structlog.PrintLogger(out), wrapper_class=structlog.make_filtering_bound_logger(level),
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()])
    monkeypatch.setattr(processor_module, "log", logger)
    service = Service(Settings(processing=processing), clock=lambda: NOW)
    service.roster.apply_unit_record(b"P-1", orjson.dumps(unit_status("P-1", cit_until=dt.date(2027, 1, 1))))
    first, _, _ = service.processor.process(_batch(incident_event("CRI-0", 2, narrative=CRISIS)), NOW)
    assert first.outgoing, "CRI-0 has a recommendation out"
    batch = _batch(
        incident_event("ORD-1", 1, nature_code="PARKING"),
        incident_event("ORD-1", 3, nature_code="PARKING", event_type="incident.updated"),
        incident_event("CRI-1", 1, narrative=CRISIS),
        incident_event("ORD-1", 2, nature_code="PARKING", event_type="incident.updated"),  # stale: 3 was read
        incident_event("CRI-0", 1, narrative=CRISIS),  # stale, of a call with a recommendation out
        incident_event("ORD-1", 4, nature_code="PARKING", event_type="incident.closed"),
        b"not json",
    )
    _, done, halted = service.processor.process(batch, NOW)
    assert halted is None and done == {TP: 7}
    return [orjson.loads(line) for line in out.getvalue().splitlines()], service


def _outcomes(lines: list[dict[str, Any]]) -> list[tuple[str | None, str]]:
    return [(line.get("incident_id"), line["outcome"]) for line in lines if line["event"] == "event"]


def test_every_event_logs_one_line_each(monkeypatch: pytest.MonkeyPatch) -> None:
    lines, _ = _run(monkeypatch, logging.INFO)
    # In record order, but a crisis call's revision is decided (and logged) at the end of its batch.
    assert _outcomes(lines) == [("CRI-0", "recommended"),
                                ("ORD-1", "not_crisis"), ("ORD-1", "not_crisis"), ("ORD-1", "stale"),
                                ("CRI-0", "stale"), ("ORD-1", "closed"), (None, "dead_letter"),
                                ("CRI-1", "recommended")]


def test_flagged_only_logs_crisis_calls_and_dead_letters(monkeypatch: pytest.MonkeyPatch) -> None:
    lines, service = _run(monkeypatch, logging.INFO, log_every_event=False)
    assert _outcomes(lines) == [("CRI-0", "recommended"), ("CRI-0", "stale"), (None, "dead_letter"),
                                ("CRI-1", "recommended")]
    # The ordinary call's revisions are still counted, only not logged.
    counted = {sample.labels["outcome"]: sample.value for metric in service.metrics.events_processed.collect()
               for sample in metric.samples if sample.name.endswith("_total") and sample.value}
    assert counted == {"not_crisis": 2, "stale": 2, "closed": 1, "recommended": 2, "dead_letter": 1}


def test_below_info_only_the_dead_letter_is_written(monkeypatch: pytest.MonkeyPatch) -> None:
    lines, _ = _run(monkeypatch, logging.WARNING)
    assert [(line["level"], line["outcome"]) for line in lines] == [("warning", "dead_letter")]
