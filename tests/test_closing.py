"""A crisis call that closes needs no responder: its close is never ranked, and nothing is published for it.

The processor's synchronous half with the real triage, ranking and outcome rows. (A call that stops being a
crisis and closes takes its recommendation back once: tests/test_coalescing.py.)
"""

from __future__ import annotations

import datetime as dt

import orjson

from tests.harness import incident_event, unit_status
from tests.test_coalescing import NOW, TP, _batch, _outcomes, _recommendations, _service

CRISIS = ["SUBJ TALKING ABOUT KILLING HIMSELF"]


def _snapshot(revision: int, event_type: str = "incident.updated", incident_id: str = "INC-1") -> bytes:
    return orjson.dumps(incident_event(incident_id, revision, event_type=event_type, narrative=CRISIS))


def test_a_close_seen_first_publishes_nothing() -> None:
    service = _service()
    result, done, _ = service.processor.process(_batch(_snapshot(4, "incident.closed")), NOW)
    assert done == {TP: 1} and _recommendations(result) == []
    assert _outcomes(service) == {"closed": 1}


def test_a_call_created_and_closed_within_one_batch_publishes_nothing() -> None:
    """A backlog after an outage: the call is over by the time the bridge reads it."""
    service = _service()
    result, _, _ = service.processor.process(_batch(
        _snapshot(1, "incident.created"), _snapshot(2), _snapshot(3, "incident.closed"),
        (b"INC-2", _snapshot(1, "incident.created", "INC-2"))), NOW)
    assert [(r["incident_id"], r["incident_revision"]) for r in _recommendations(result)] == [("INC-2", 1)]
    assert _outcomes(service) == {"superseded": 2, "closed": 1, "recommended": 1}


def test_closing_a_published_crisis_call_proposes_no_new_unit() -> None:
    service = _service()
    first, _, _ = service.processor.process(_batch(_snapshot(1, "incident.created")), NOW)
    (published,) = _recommendations(first)
    top = published["candidates"][0]["unit_id"]
    # The first choice went busy: a still-open call would get a new recommendation; a closed one must not.
    service.roster.apply_unit_record(top.encode(), orjson.dumps(unit_status(
        top, status="dispatched", cit_until=dt.date(2027, 1, 1), at=NOW)))
    closing, _, _ = service.processor.process(_batch(_snapshot(2, "incident.closed"), first_offset=1), NOW)
    assert closing.outgoing == []
    assert service.processor.book.get("INC-1") is None
