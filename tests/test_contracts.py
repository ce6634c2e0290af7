"""The wire contracts: committed schemas match the code, and readers accept what the contract says."""

from __future__ import annotations

import orjson
import pytest
from pydantic import ValidationError

from dispatch_bridge.contracts import IncidentEvent, Recommendation, UnitStatus
from dispatch_bridge.contracts.schemas import MODELS, SCHEMA_DIR, render
from tests.harness import incident_event, unit_status


@pytest.mark.parametrize("name", sorted(MODELS))
def test_committed_schema_matches_models(name):
    committed = (SCHEMA_DIR / name).read_text(encoding="utf-8")
    assert committed == render(MODELS[name]), f"{name} drifted: run `make schemas` and commit"


def test_unknown_fields_are_tolerated():
    event = incident_event("INC-1")
    event["cad_vendor_extra"] = {"anything": [1, 2]}
    event["incident"]["ani_ali"] = "ignored"
    parsed = IncidentEvent.model_validate_json(orjson.dumps(event))
    assert parsed.incident.id == "INC-1"


@pytest.mark.parametrize("mutate", [
    lambda e: e["incident"].pop("id"),
    lambda e: e["incident"].update(revision="3"),
    lambda e: e.update(event_type="incident.deleted"),
    lambda e: e.update(occurred_at="yesterday"),
    lambda e: e.update(occurred_at="2026-11-20T14:00:00"),  # RFC 3339 needs an offset
    lambda e: e["incident"].update(caller_party="neighbour"),
    lambda e: e["incident"]["location"].update(lat=123.0),
    lambda e: e.update(schema_version=2),
])
def test_wrong_types_and_missing_fields_are_rejected(mutate):
    event = incident_event("INC-1")
    mutate(event)
    with pytest.raises(ValidationError):
        IncidentEvent.model_validate_json(orjson.dumps(event))


def test_unit_status_round_trip():
    unit = UnitStatus.model_validate_json(orjson.dumps(unit_status("P-1")))
    assert UnitStatus.model_validate_json(unit.model_dump_json()) == unit


def test_recommendation_schema_names_are_the_contract():
    fields = set(Recommendation.model_fields)
    assert {"schema_version", "incident_id", "incident_revision", "ruleset_version", "crisis", "score",
            "response", "safety_flags", "reasons", "candidates", "fallbacks", "produced_at",
            "source_event_id"} <= fields
