"""A CAD feed delivers out of order: a snapshot older than an incident's close that arrives after it.

The processor's synchronous half with the real triage, ranking and outcome rows: the late snapshot must be
stale (nothing published, nothing recorded, the call not reopened), while a revision newer than the close (the
CAD reopened the call) is a call again.
"""

from __future__ import annotations

import orjson

from tests.harness import incident_event
from tests.test_coalescing import NOW, TP, _batch, _outcomes, _recommendations, _service


def _snapshot(revision: int, event_type: str = "incident.updated") -> bytes:
    return orjson.dumps(incident_event("INC-1", revision, event_type=event_type,
                                       narrative=["SUBJ TALKING ABOUT KILLING HIMSELF"]))


def test_a_snapshot_older_than_the_close_arriving_after_it_is_stale() -> None:
    service = _service()
    processor = service.processor
    first, _, _ = processor.process(_batch(_snapshot(1, "incident.created")), NOW)
    assert len(_recommendations(first)) == 1
    processor.process(_batch(_snapshot(3, "incident.closed"), first_offset=1), NOW)
    late, done, halted = processor.process(_batch(_snapshot(2), first_offset=2), NOW)
    assert halted is None and done == {TP: 3}
    assert late.outgoing == [] and late.rows == []  # no recommendation for a closed call, no outcome row
    assert processor.book.get("INC-1") is None  # not reopened: never re-ranked on a roster change
    assert _outcomes(service)["stale"] == 1


def test_a_revision_newer_than_the_close_reopens_the_call() -> None:
    service = _service()
    processor = service.processor
    processor.process(_batch(_snapshot(1, "incident.created")), NOW)
    processor.process(_batch(_snapshot(2, "incident.closed"), first_offset=1), NOW)
    reopened, _, _ = processor.process(_batch(_snapshot(3), first_offset=2), NOW)
    (published,) = _recommendations(reopened)
    assert published["incident_revision"] == 3
    assert processor.book.get("INC-1") is not None
