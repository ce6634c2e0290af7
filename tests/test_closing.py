"""A crisis call that closes needs no responder: its close is never ranked, and nothing is published for it.
And a re-ranking on a roster change is a message of its own.

The processor's synchronous half with the real triage, ranking and outcome rows. (A call that stops being a
crisis and closes takes its recommendation back once: tests/test_coalescing.py.)
"""

from __future__ import annotations

import datetime as dt

import orjson

from dispatch_bridge.service import Service
from dispatch_bridge.settings import Settings
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


def test_each_re_ranking_has_its_own_cloudevents_id() -> None:
    """The top goes P-1 -> P-2 -> P-1 -> P-2 at the same revision as units come and go: every re-ranking is a new
    message (a consumer deduplicating on the id would otherwise drop the return of an earlier top)."""
    ticks = iter(range(1000))
    service = Service(Settings(), clock=lambda: NOW + dt.timedelta(seconds=next(ticks)))
    for unit, lat in (("P-1", 41.880), ("P-2", 41.890)):
        service.roster.apply_unit_record(unit.encode(), orjson.dumps(
            unit_status(unit, lat=lat, cit_until=dt.date(2027, 1, 1))))
    first, _, _ = service.processor.process(_batch(_snapshot(1, "incident.created")), NOW)
    assert _recommendations(first)[0]["candidates"][0]["unit_id"] == "P-1"
    ids, tops = [], []
    for n, status in enumerate(("dispatched", "available", "dispatched"), start=1):
        service.roster.apply_unit_record(b"P-1", orjson.dumps(unit_status(
            "P-1", lat=41.880, status=status, cit_until=dt.date(2027, 1, 1), at=NOW + dt.timedelta(minutes=n))))
        result = service.processor.rerank(lambda entry: True)
        (out,) = result.outgoing
        ids.append(dict(out.headers)["ce_id"])
        tops.append(orjson.loads(out.value)["candidates"][0]["unit_id"])
    assert tops == ["P-2", "P-1", "P-2"]
    assert len(set(ids)) == 3


def test_a_mobile_crisis_team_already_on_the_call_is_said_so_once() -> None:
    """The tier asks for a mobile crisis team and the CAD already sent one: not "team busy" with officers
    instead, and no re-ranking after it."""
    service = _service()
    service.roster.apply_unit_record(b"MCT-1", orjson.dumps(
        unit_status("MCT-1", kind="mobile_crisis", status="available", lat=41.885)))

    def revision(number: int, units: list[dict[str, str]]) -> bytes:
        return orjson.dumps(incident_event(
            "INC-1", number, event_type="incident.updated", nature_code="EDP", caller_party="third",
            narrative=["caller says brother is suicidal, off his meds"], units=units))

    first, _, _ = service.processor.process(_batch(revision(1, [])), NOW)
    (before,) = _recommendations(first)
    assert before["response"] == "mobile_crisis" and before["candidates"][0]["unit_id"] == "MCT-1"
    service.roster.apply_unit_record(b"MCT-1", orjson.dumps(unit_status(
        "MCT-1", kind="mobile_crisis", status="enroute", lat=41.885, at=NOW)))
    sent = [{"unit_id": "MCT-1", "dispatched_at": NOW.isoformat()}]
    second, _, _ = service.processor.process(_batch(revision(2, sent), first_offset=1), NOW)
    (after,) = _recommendations(second)
    assert (after["candidates"], after["fallbacks"]) == ([], ["crisis_team_assigned"])
    # Units come free: nothing more is proposed for a call its team is on.
    service.roster.apply_unit_record(b"P-3", orjson.dumps(
        unit_status("P-3", lat=41.8801, cit_until=dt.date(2027, 1, 1), at=NOW)))
    assert service.processor.rerank(service._needs_cit).outgoing == []


def test_one_incident_a_re_ranking_fails_on_is_skipped_and_the_others_are_re_ranked() -> None:
    service = Service(Settings(), clock=lambda: NOW + dt.timedelta(minutes=5))
    first, _, _ = service.processor.process(_batch((b"INC-1", _snapshot(1, "incident.created", "INC-1")),
                                                   (b"INC-2", _snapshot(1, "incident.created", "INC-2"))), NOW)
    assert len(_recommendations(first)) == 2  # no unit to propose yet
    service.roster.apply_unit_record(b"P-1", orjson.dumps(unit_status(
        "P-1", cit_until=dt.date(2027, 1, 1), at=NOW + dt.timedelta(minutes=1))))

    def needs_cit(entry) -> bool:
        if entry.event.incident.id == "INC-1":
            raise RuntimeError("a bug met on one incident")
        return True

    result = service.processor.rerank(needs_cit)  # does not raise: the service would stop
    assert [orjson.loads(o.value)["incident_id"] for o in result.outgoing] == ["INC-2"]
    assert service.metrics.rerank_failures._value.get() == 1
