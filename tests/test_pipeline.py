"""The decision core, as plain functions over plain data: no broker, no clock."""

from __future__ import annotations

import datetime as dt

import orjson

from dispatch_bridge.contracts import Recommendation, structs
from dispatch_bridge.domain import Assessment, Candidate, Ranking, Reason
from dispatch_bridge.pipeline import (
    NOT_CRISIS,
    RECOMMENDED,
    UNCHANGED,
    IncidentBook,
    OpenIncident,
    decide,
    recommendation_record,
)
from dispatch_bridge.processor import worth_recording
from tests.harness import T0, incident_event

SHA = "a" * 64
CRISIS = Assessment(True, 0.9, "cit_officer", "v1", SHA, ("weapon_unknown",),
                    (Reason("edp-type", "Call type is EDP", "nature=EDP"),))
CALM = Assessment(False, 0.0, "none", "v1", SHA)
RANKED = Ranking((Candidate("P-1", "patrol", "CIT: Ofc 1, available", 180, 1200, ("1",)),), ())


def ev(incident_id="INC-1", revision=1, minutes=0, **fields) -> structs.IncidentEvent:
    """An event as the processor holds one (the hot-path decoder's Struct)."""
    raw = incident_event(incident_id, revision, at=T0 + dt.timedelta(minutes=minutes), **fields)
    return structs.decode_incident_event(orjson.dumps(raw))


def entry(event, assessment, published=None) -> OpenIncident:
    return OpenIncident(event, 0, assessment, published)


def test_stale_and_duplicate_revisions_are_recognised():
    book = IncidentBook(max_open=10)
    book.remember(entry(ev(revision=3), CALM))
    assert book.is_stale(ev(revision=3)) and book.is_stale(ev(revision=2))
    assert not book.is_stale(ev(revision=4))
    assert not book.is_stale(ev("INC-2", revision=1))


def test_book_is_bounded_and_evicts_least_recently_updated_first():
    book = IncidentBook(max_open=3)
    for i in range(5):
        book.remember(entry(ev(f"INC-{i}"), CALM))
    assert len(book) == 3
    assert book.get("INC-0") is None and book.get("INC-4") is not None


def test_idle_eviction_runs_on_event_time_not_the_wall_clock():
    book = IncidentBook(max_open=10)
    book.remember(entry(ev("OLD", minutes=0), CALM))
    book.remember(entry(ev("NEW", minutes=60 * 30), CALM))  # 30 hours of event time later
    assert book.evict_idle(dt.timedelta(hours=24)) == 1
    assert book.get("OLD") is None and book.get("NEW") is not None
    # Years-old events replayed today are not evicted merely for being old.
    assert book.evict_idle(dt.timedelta(hours=24)) == 0


def test_forget_partitions_drops_only_their_incidents():
    book = IncidentBook(max_open=10)
    book.remember(OpenIncident(ev("A"), 0, CALM))
    book.remember(OpenIncident(ev("B"), 1, CALM))
    assert book.forget_partitions({1}) == 1
    assert book.get("A") is not None and book.get("B") is None


def test_a_closed_incident_s_older_snapshots_stay_stale_and_a_newer_one_reopens_it():
    book = IncidentBook(max_open=10)
    book.remember(entry(ev(revision=1), CRISIS))
    book.close(ev(revision=3, event_type="incident.closed"), partition=0)
    assert book.get("INC-1") is None and len(book) == 0
    assert book.is_stale(ev(revision=2)) and book.is_stale(ev(revision=3))  # late, out of order
    assert not book.is_stale(ev(revision=4))  # the CAD reopened the call
    book.remember(entry(ev(revision=4), CRISIS))
    book.forget("INC-1")  # as if never seen: nothing of the close is left either
    assert not book.is_stale(ev(revision=2))


def test_closed_incidents_are_remembered_within_bounds():
    book = IncidentBook(max_open=16)  # closed: a quarter of it, 4
    for i in range(5):
        book.close(ev(f"C-{i}", revision=2, minutes=i), partition=i % 2)
    assert not book.is_stale(ev("C-0")) and book.is_stale(ev("C-1")) and book.is_stale(ev("C-4"))
    assert book.forget_partitions({1}) == 0  # no open incident went, but C-1 and C-3's closes did
    assert not book.is_stale(ev("C-1")) and book.is_stale(ev("C-2"))
    book.remember(entry(ev("NEW", minutes=60 * 30), CALM))  # 30 hours of event time later
    book.evict_idle(dt.timedelta(hours=24))
    assert not book.is_stale(ev("C-2")) and not book.is_stale(ev("C-4"))


def test_decide_publishes_first_crisis_then_only_on_material_change():
    calls = []

    def rank():
        calls.append(1)
        return RANKED

    assert decide(ev(), CALM, None, rank, 3).outcome == NOT_CRISIS
    assert calls == []  # ranking runs only for crisis incidents
    first = decide(ev(), CRISIS, None, rank, 3)
    assert first.outcome == RECOMMENDED
    again = decide(ev(revision=2), CRISIS, entry(ev(), CRISIS, first.signature), rank, 3)
    assert again.outcome == UNCHANGED
    moved = Ranking((Candidate("P-2", "patrol", "CIT: Ofc 2"),), ())
    assert decide(ev(revision=3), CRISIS, entry(ev(), CRISIS, first.signature), lambda: moved, 3).outcome \
        == RECOMMENDED
    # A published crisis that stops being one is retracted once, with a reason.
    retraction = decide(ev(revision=4), CALM, entry(ev(), CRISIS, first.signature), rank, 3)
    assert retraction.outcome == RECOMMENDED and retraction.ranking.fallbacks == ("no_longer_crisis",)


def test_recommendation_record_is_a_valid_wire_recommendation():
    event = ev()
    record = recommendation_record(event, CRISIS, RANKED, T0 + dt.timedelta(seconds=1), event.event_id)
    rec = Recommendation.model_validate_json(orjson.dumps(record))
    assert rec.incident_id == "INC-1" and rec.incident_revision == 1
    assert rec.candidates[0].unit_id == "P-1" and rec.candidates[0].cit_members == ["1"]
    assert rec.reasons[0].rule == "edp-type" and rec.safety_flags == ["weapon_unknown"]
    assert rec.response == "cit_officer" and rec.ruleset_sha256 == SHA


def test_reasons_and_candidates_go_on_the_wire_with_every_field_they_have():
    # The record writes them as plain dicts (faster to encode): it must write what the dataclasses hold,
    # byte for byte, so that a field added to either one cannot be silently left off the wire.
    event = ev()
    record = recommendation_record(event, CRISIS, RANKED, T0, event.event_id)
    assert orjson.dumps(record["reasons"]) == orjson.dumps(list(CRISIS.reasons))
    assert orjson.dumps(record["candidates"]) == orjson.dumps(list(RANKED.candidates))


def test_only_revisions_the_evaluation_reads_are_recorded():
    first = ev(nature_code="THEFT")
    assert worth_recording(first, CALM, None)
    previous = entry(first, CALM)
    assert not worth_recording(ev(revision=2, nature_code="THEFT", narrative=["more detail"]), CALM, previous)
    assert worth_recording(ev(revision=2, nature_code="EDP"), CALM, previous)
    assert worth_recording(ev(revision=2, nature_code="THEFT", event_type="incident.closed"), CALM, previous)
    assert worth_recording(ev(revision=2, nature_code="THEFT", disposition=["RPT"]), CALM, previous)
    assert worth_recording(ev(revision=2, nature_code="THEFT"), CRISIS, previous)


def test_a_crisis_revision_is_recorded_when_anything_the_store_keeps_changes():
    narrative = ["hearing voices"]
    previous = entry(ev(narrative=narrative, units=[{"unit_id": "P-1"}]), CRISIS)
    same = {"narrative": narrative, "units": [{"unit_id": "P-1"}]}
    assert not worth_recording(ev(revision=2, **same), CRISIS, previous)
    assert not worth_recording(ev(revision=2, **{**same, "narrative": [*narrative, "pacing"]}), CRISIS, previous)
    for change in (
        {"units": [{"unit_id": "P-1", "on_scene_at": "2026-11-20T14:09:00Z"}]},
        {"units": [{"unit_id": "P-1"}, {"unit_id": "MCT-1"}]},
        {"units": []},
        {"disposition": ["TRANSPORT"]},
        {"nature_code": "SUICIDE"},
        {"apco_type": "SUICIDE"},
        {"flags": ["CIT_DECLINED"]},
        {"lat": 41.9},
        {"event_type": "incident.closed"},
    ):
        assert worth_recording(ev(revision=2, **{**same, **change}), CRISIS, previous), change
    moved_agency = structs.decode_incident_event(
        orjson.dumps({**incident_event("INC-1", 2, **same), "agency": "OTHER-PD"}))
    assert worth_recording(moved_agency, CRISIS, previous)
    retiered = Assessment(True, 0.9, "mobile_crisis", "v1", SHA)
    assert worth_recording(ev(revision=2, **same), retiered, previous)
    assert worth_recording(ev(revision=2, **same), CALM, previous)  # no longer a crisis
