"""What a CAD feed does after the fact: a snapshot older than an incident's close that arrives after it, and a
location that arrives (or is corrected) after the call was first triaged.

The processor's synchronous half with the real triage, ranking and outcome rows: the late snapshot must be
stale (nothing published, nothing recorded, the call not reopened), while a revision newer than the close (the
CAD reopened the call) is a call again; a new place gets its own premise history.
"""

from __future__ import annotations

from typing import Any

import orjson

from dispatch_bridge.triage import TriageContext
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


def test_premise_history_is_looked_up_again_when_the_place_changes() -> None:
    """A call first reported without a location (or at a wrong address) gets its place's history once the CAD
    geocodes (or corrects) it: the lookup is kept per incident and place, not for the incident's first revision."""
    looked_up: list[str | None] = []

    def premise(event: Any) -> TriageContext:
        location = event.incident.location
        looked_up.append(location.address if location is not None else None)
        calls = 3 if location is not None and location.address == "100 N Fictional St" else 0
        return TriageContext(premise_crisis_calls=calls, premise_window_days=60)

    service = _service()
    service.processor.attach_outcomes(None, premise)  # type: ignore[arg-type]

    def revision(number: int, **fields: Any) -> bytes:
        return orjson.dumps(incident_event("INC-1", number, event_type="incident.updated", nature_code="WELFARE",
                                           narrative=["son acting strange"], **fields))

    def rules() -> set[str]:
        entry = service.processor.book.get("INC-1")
        assert entry is not None
        return {reason.rule for reason in entry.assessment.reasons}

    service.processor.process(_batch(revision(1, location=None)), NOW)
    assert "premise-crisis-history" not in rules()
    service.processor.process(_batch(revision(2), first_offset=1), NOW)  # geocoded: 100 N Fictional St
    assert "premise-crisis-history" in rules()
    service.processor.process(_batch(revision(3), first_offset=2), NOW)  # the same place: no new lookup
    assert looked_up == [None, "100 N Fictional St"]
