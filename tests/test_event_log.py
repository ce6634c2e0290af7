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


class _Counting:
    """The real logger, counting the INFO lines the processor asks for (whether or not they are written)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.info_calls = 0

    def is_enabled_for(self, level: int) -> bool:
        return bool(self.inner.is_enabled_for(level))

    def info(self, event: str, **fields: Any) -> None:
        self.info_calls += 1
        self.inner.info(event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self.inner.warning(event, **fields)


def _run(monkeypatch: pytest.MonkeyPatch, level: int,
         **processing: Any) -> tuple[list[dict[str, Any]], Service, _Counting]:
    out = io.StringIO()
    logger = _Counting(structlog.wrap_logger(
        structlog.PrintLogger(out), wrapper_class=structlog.make_filtering_bound_logger(level),
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()]))
    monkeypatch.setattr(processor_module, "log", logger)
    service = Service(Settings(processing=processing), clock=lambda: NOW)
    service.roster.apply_unit_record(b"P-1", orjson.dumps(unit_status("P-1", cit_until=dt.date(2027, 1, 1))))
    first, _, _ = service.processor.process(_batch(incident_event("CRI-0", 2, narrative=CRISIS),
                                                   incident_event("RET-0", 2, narrative=CRISIS)), NOW)
    assert len(first.outgoing) == 2, "CRI-0 and RET-0 have a recommendation out"
    batch = _batch(
        incident_event("ORD-1", 1, nature_code="PARKING"),
        incident_event("ORD-1", 3, nature_code="PARKING", event_type="incident.updated"),
        incident_event("CRI-1", 2, narrative=CRISIS),
        incident_event("CRI-1", 1, narrative=CRISIS),  # stale, of a crisis call not yet published
        incident_event("ORD-1", 2, nature_code="PARKING", event_type="incident.updated"),  # stale: 3 was read
        incident_event("CRI-0", 1, narrative=CRISIS),  # stale, of a crisis call with a recommendation out
        # No longer a crisis, but its recommendation is out: its revisions stay flagged.
        incident_event("RET-0", 3, nature_code="PARKING", event_type="incident.updated"),
        incident_event("RET-0", 1, narrative=CRISIS),
        incident_event("ORD-1", 4, nature_code="PARKING", event_type="incident.closed"),
        b"not json",
    )
    _, done, halted = service.processor.process(batch, NOW)
    assert halted is None and done == {TP: 10}
    return [orjson.loads(line) for line in out.getvalue().splitlines()], service, logger


def _outcomes(lines: list[dict[str, Any]]) -> list[tuple[str | None, str]]:
    return [(line.get("incident_id"), line["outcome"]) for line in lines if line["event"] == "event"]


def test_every_event_logs_one_line_each(monkeypatch: pytest.MonkeyPatch) -> None:
    lines, _, logger = _run(monkeypatch, logging.INFO)
    # In record order, but a crisis call's revision is decided (and logged) at the end of its batch.
    assert _outcomes(lines) == [("CRI-0", "recommended"), ("RET-0", "recommended"),
                                ("ORD-1", "not_crisis"), ("ORD-1", "not_crisis"), ("CRI-1", "stale"),
                                ("ORD-1", "stale"), ("CRI-0", "stale"), ("RET-0", "stale"), ("ORD-1", "closed"),
                                (None, "dead_letter"), ("CRI-1", "recommended"), ("RET-0", "recommended")]
    assert logger.info_calls == 11  # every line but the dead letter's warning


def test_flagged_only_logs_crisis_calls_and_dead_letters(monkeypatch: pytest.MonkeyPatch) -> None:
    lines, service, _ = _run(monkeypatch, logging.INFO, log_every_event=False)
    # Flagged: CRI-1's stale copy (a crisis, its recommendation not out yet), CRI-0's (a crisis with one out),
    # RET-0's (no longer a crisis, but its recommendation is out, and RET-0 r3 withdrew it).
    assert _outcomes(lines) == [("CRI-0", "recommended"), ("RET-0", "recommended"),
                                ("CRI-1", "stale"), ("CRI-0", "stale"), ("RET-0", "stale"),
                                (None, "dead_letter"), ("CRI-1", "recommended"), ("RET-0", "recommended")]
    retracted = service.processor.book.get("RET-0")
    assert retracted is not None and not retracted.assessment.crisis and retracted.published is not None
    # The ordinary call's revisions are still counted, only not logged.
    counted = {sample.labels["outcome"]: sample.value for metric in service.metrics.events_processed.collect()
               for sample in metric.samples if sample.name.endswith("_total") and sample.value}
    assert counted == {"not_crisis": 2, "stale": 4, "closed": 1, "recommended": 4, "dead_letter": 1}


def test_below_info_no_event_line_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    lines, _, logger = _run(monkeypatch, logging.WARNING)
    assert [(line["level"], line["outcome"]) for line in lines] == [("warning", "dead_letter")]
    assert logger.info_calls == 0  # not built and dropped: not asked for at all
