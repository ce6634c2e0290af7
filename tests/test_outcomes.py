"""Pure parts of the outcomes package: feedback validation, location coarsening, settings, record helpers."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from dispatch_bridge.contracts import Location, Recommendation
from dispatch_bridge.domain import Assessment, Candidate, Ranking
from dispatch_bridge.outcomes import (
    CandidateRef,
    Feedback,
    RecommendationPublished,
    StoreSettings,
    validate_feedback,
)
from dispatch_bridge.outcomes.location import block_of, location_key
from dispatch_bridge.outcomes.report import ShiftClock
from dispatch_bridge.settings import Settings

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


# -- feedback --------------------------------------------------------------------------------------------------


def test_valid_feedback_becomes_a_record() -> None:
    record = validate_feedback({"incident_id": " I-7 ", "reason_code": "Caller_Declined",
                                "at": "2026-05-01T12:05:00Z", "note": "  "})
    assert record == Feedback("I-7", "caller_declined", "api", dt.datetime(2026, 5, 1, 12, 5, tzinfo=UTC), None)


def test_edge_supplies_source_and_time() -> None:
    record = validate_feedback({"incident_id": "I-7", "reason_code": "other", "source": "api"},
                               source="topic", now=NOW)
    assert (record.source, record.at) == ("topic", NOW)


def test_configured_reason_codes_replace_the_defaults() -> None:
    codes = StoreSettings(feedback_reason_codes=("no_bed", "OTHER")).feedback_reason_codes
    assert codes == ("no_bed", "other")
    assert validate_feedback({"incident_id": "I", "reason_code": "no_bed", "at": NOW}, codes).reason_code == "no_bed"
    with pytest.raises(ValueError, match="expected one of: no_bed, other"):
        validate_feedback({"incident_id": "I", "reason_code": "safety_concern", "at": NOW}, codes)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "must be a JSON object"),
        ({"reason_code": "other", "at": "2026-05-01T12:00:00Z"}, "incident_id must be"),
        ({"incident_id": "", "reason_code": "other"}, "incident_id must be"),
        ({"incident_id": "x" * 201, "reason_code": "other"}, "incident_id must be"),
        ({"incident_id": "I"}, "reason_code is required"),
        ({"incident_id": "I", "reason_code": "bored"}, "unknown reason_code; expected one of: team_unavailable"),
        ({"incident_id": "I", "reason_code": "other", "source": "radio"}, "source must be one of: api, cad, topic"),
        ({"incident_id": "I", "reason_code": "other", "note": 5}, "note must be a string"),
        ({"incident_id": "I", "reason_code": "other", "note": "n" * 501}, "at most 500"),
        ({"incident_id": "I", "reason_code": "other"}, "at is required"),
        ({"incident_id": "I", "reason_code": "other", "at": "yesterday"}, "ISO 8601"),
        ({"incident_id": "I", "reason_code": "other", "at": "2026-05-01T12:00:00"}, "time zone"),
        ({"incident_id": "I", "reason_code": "other", "at": 1714564800}, "ISO 8601"),
        ({"incident_id": "I", "reason_code": "other", "at": NOW, "caller": "x"}, r"1 unknown feedback field\(s\)"),
    ],
)
def test_invalid_feedback_is_rejected_clearly(payload: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_feedback(payload)  # type: ignore[arg-type]


def test_error_messages_do_not_echo_submitted_text() -> None:
    with pytest.raises(ValueError) as caught:
        validate_feedback({"incident_id": "I", "reason_code": "Jane Roe is bipolar", "at": NOW})
    assert "Jane" not in str(caught.value)


# -- location --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "block"),
    [
        ("1234 N Main St Apt 5", "1200 BLOCK N MAIN ST"),
        ("1234 n main st, Seattle WA", "1200 BLOCK N MAIN ST"),
        ("56 Elm Street #3", "0 BLOCK ELM STREET"),
        ("12-14B Oak Ave Unit 2", "0 BLOCK OAK AVE"),
        ("1200 block of Pine St", "1200 BLOCK PINE ST"),
        ("3rd Ave / Pine St", "3RD AVE / PINE ST"),
        ("MAIN ST & 1ST AVE", "MAIN ST & 1ST AVE"),
        ("   ", None),
        ("Apt 4", None),
        ("1234", None),
    ],
)
def test_block_of_keeps_only_the_hundred_block(address: str, block: str | None) -> None:
    assert block_of(address) == block


def test_location_key_by_granularity() -> None:
    here = Location(address="1234 N Main St", beat="k3", district="D1")
    assert location_key(here, "block") == "block:1200 BLOCK N MAIN ST"
    assert location_key(here, "beat") == "beat:K3"
    assert location_key(Location(beat="k3"), "block") == "beat:K3"  # no address: fall back to the beat
    assert location_key(Location(district="D1"), "block") is None
    assert location_key(None, "block") is None


# -- settings --------------------------------------------------------------------------------------------------


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPATCH_BRIDGE_STORE__URL", "postgresql://postgres@db:5432/bridge")
    monkeypatch.setenv("DISPATCH_BRIDGE_STORE__LOCATION_GRANULARITY", "beat")
    monkeypatch.setenv("DISPATCH_BRIDGE_STORE__PREMISE_WINDOW_DAYS", "90")
    monkeypatch.setenv("DISPATCH_BRIDGE_STORE__FEEDBACK_REASON_CODES", '["no_bed", "other"]')
    monkeypatch.setenv("DISPATCH_BRIDGE_STORE__DISPOSITION_REASONS", '{"NB": "no_bed"}')
    store = Settings().store
    assert store.backend == "postgresql"
    assert (store.location_granularity, store.premise_window_days) == ("beat", 90)
    assert store.feedback_reason_codes == ("no_bed", "other")
    assert store.disposition_reasons == {"NB": "no_bed"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"url": "mysql://x"}, "sqlite:/// or postgresql://"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"feedback_reason_codes": ()}, "at least one"),
        ({"disposition_reasons": {"X": "nope"}}, "unknown reason codes"),
        ({"shift_starts": {"a": 7, "b": 7}}, "same hour"),
        ({"shift_starts": {"a": 24}}, "0..23"),
        ({"retention_days": 0}, "greater than or equal"),
    ],
)
def test_bad_settings_are_rejected(overrides: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        StoreSettings(**overrides)


def test_shift_clock_wraps_past_midnight() -> None:
    clock = ShiftClock("UTC", {"day": 7, "evening": 15, "night": 23})
    hours = {h: clock.shift_of(dt.datetime(2026, 5, 1, h, tzinfo=UTC)) for h in (0, 6, 7, 14, 15, 22, 23)}
    assert hours == {0: "night", 6: "night", 7: "day", 14: "day", 15: "evening", 22: "evening", 23: "night"}
    assert clock.names == ("day", "evening", "night")


# -- records ---------------------------------------------------------------------------------------------------


def test_recommendation_records_from_wire_and_domain_shapes() -> None:
    wire = Recommendation.model_validate({
        "incident_id": "I1", "incident_revision": 3, "ruleset_version": "r9", "ruleset_sha256": "s",
        "crisis": True, "score": 0.8, "response": "cit_officer", "produced_at": NOW, "source_event_id": "e",
        "occurred_at": NOW,
        "candidates": [{"unit_id": "U1", "kind": "patrol", "cit_members": ["O1"], "why": "closest CIT"},
                       {"unit_id": "U2", "kind": "patrol", "why": "closest"}],
        "fallbacks": ["team_out_of_hours"],
    })
    record = RecommendationPublished.from_recommendation(wire)
    assert record == RecommendationPublished(
        "I1", 3, "r9", "cit_officer", (CandidateRef("U1", "patrol", True), CandidateRef("U2", "patrol", False)),
        ("team_out_of_hours",), NOW, NOW)
    assessment = Assessment(True, 0.8, "cit_officer", "r9", "s")
    ranking = Ranking((Candidate("U1", "patrol", "closest CIT", cit_members=("O1",)),), ("team_out_of_hours",))
    assert RecommendationPublished.from_ranking("I1", 3, assessment, ranking, NOW, NOW).candidates == (
        CandidateRef("U1", "patrol", True),)
