"""The published contracts, deploy/openapi.yaml and deploy/asyncapi.yaml: each is valid against its specification
and checked against the code so neither can drift.

OpenAPI: every route the app registers is documented and every documented route exists; the real app, driven
with a real SQLite outcome store, answers every documented operation, and each answer's status is documented and
its body validates against the documented schema.

AsyncAPI: topic names are the Settings defaults; the payload schemas are the committed JSON Schema files; the
CloudEvents and dead-letter headers and the dead-letter error classes are the ones the code writes; records the
real processor produces validate against the document.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import ConsumerRecord, TopicPartition
from hypothesis import given, settings
from hypothesis import strategies as st
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate as validate_openapi
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from dispatch_bridge.api.app import build_app
from dispatch_bridge.api.auth import OPEN_PATHS
from dispatch_bridge.bus import cloudevents
from dispatch_bridge.bus.codec import InvalidEvent
from dispatch_bridge.bus.deadletter import dead_letter
from dispatch_bridge.contracts.schemas import MODELS, SCHEMA_DIR
from dispatch_bridge.outcomes import open_store, validate_feedback
from dispatch_bridge.recording import StoreRecorder
from dispatch_bridge.roster.personnel import PersonnelFormatError, parse_personnel_record
from dispatch_bridge.service import Service
from dispatch_bridge.settings import Settings, TopicSettings
from tests.harness import T0, incident_event, unit_status
from tests.test_deploy_helpers import DEPLOY, ROOT

OPENAPI = DEPLOY / "openapi.yaml"
ASYNCAPI = DEPLOY / "asyncapi.yaml"
ASYNCAPI_SCHEMA = DEPLOY / "schemas" / "asyncapi-3.0.0.json"
TOKEN = "contract-test-token"
NOW = T0 + dt.timedelta(minutes=2)


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# ================================================== OpenAPI ==================================================


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return load(OPENAPI)


def operations(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method.upper(), path): op for path, item in spec["paths"].items()
            for method, op in item.items() if method in {"get", "post", "put", "patch", "delete"}}


def app_routes(app: web.Application) -> set[tuple[str, str]]:
    # aiohttp adds HEAD beside every GET; it is implied by GET and not documented separately.
    return {(route.method, route.resource.canonical) for route in app.router.routes() if route.method != "HEAD"}


def test_openapi_document_is_valid_openapi_31(openapi):
    assert openapi["openapi"].startswith("3.1")
    validate_openapi(openapi)


@pytest.mark.parametrize("mutate", [
    lambda d: d["paths"]["/v1/reports/summary"]["get"]["parameters"][0].update({"in": "body"}),  # Swagger 2 habit
    lambda d: d["paths"]["/v1/incidents/{incident_id}"]["get"].update(parameters=[]),  # path parameter undeclared
    lambda d: d["components"]["securitySchemes"]["bearerAuth"].update(type="token"),
])
def test_openapi_validator_is_live_it_rejects_broken_documents(openapi, mutate):
    broken = copy.deepcopy(openapi)
    mutate(broken)
    with pytest.raises(OpenAPIValidationError):
        validate_openapi(broken)


def test_every_route_is_documented_and_every_documented_route_exists(openapi):
    app = build_app(Service(Settings()))  # constructs without network I/O
    assert app_routes(app) == set(operations(openapi))


def test_security_matches_the_auth_middleware(openapi):
    assert openapi["security"] == [{"bearerAuth": []}]
    assert openapi["components"]["securitySchemes"]["bearerAuth"] == {
        **openapi["components"]["securitySchemes"]["bearerAuth"], "type": "http", "scheme": "bearer"}
    for (method, path), op in operations(openapi).items():
        if path in OPEN_PATHS:
            assert op["security"] == [], f"{path} is open in the code"
            assert "401" not in op["responses"]
        elif path == "/metrics":
            assert op["security"] == [{}, {"bearerAuth": []}], "open unless DISPATCH_BRIDGE_API__PROTECT_METRICS"
        else:
            assert "security" not in op, f"{method} {path} must inherit bearer auth"
            assert op["responses"]["401"] == {"$ref": "#/components/responses/Unauthorized"}


def _response_schema(spec: dict[str, Any], method: str, path: str, status: int) -> dict[str, Any] | None:
    responses = operations(spec)[(method, path)]["responses"]
    assert str(status) in responses, f"{method} {path} answered {status}, which is not documented"
    response = responses[str(status)]
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    content = response.get("content", {})
    if "application/json" not in content:
        return None
    return {**content["application/json"]["schema"], "components": spec["components"]}


@pytest.fixture
async def live_api(tmp_path):
    """The real app over HTTP: a token, a real SQLite outcome store, one unit, one processed crisis incident."""
    settings = Settings(api={"token": TOKEN}, roster={"coverage_districts": ["D1", "D2"]},
                        store={"url": f"sqlite:///{tmp_path}/outcomes.db"})
    service = Service(settings, clock=lambda: NOW)
    service.store = await open_store(settings.store)
    service.recorder = StoreRecorder(service.store, service.roster, service.metrics, settings.store)
    service.roster.apply_unit_record(b"P-1", orjson.dumps(unit_status("P-1", cit_until=dt.date(2027, 1, 1))))
    record = _record("cad.incidents", b"INC-1", orjson.dumps(incident_event("INC-1", nature_code="EDP")))
    result, _, halted = service.processor.process({TopicPartition("cad.incidents", 3): [record]}, NOW)
    assert halted is None
    client = TestClient(TestServer(build_app(service)))
    await client.start_server()
    try:
        yield client, service, result
    finally:
        await client.close()
        await service.store.close()


CALLS = [
    # (method, path as requested, documented path, body, token?, expected status)
    ("GET", "/livez", "/livez", None, False, 200),
    ("GET", "/readyz", "/readyz", None, False, 503),  # not started
    ("GET", "/metrics", "/metrics", None, False, 200),
    ("GET", "/v1/incidents/INC-1", "/v1/incidents/{incident_id}", None, True, 200),
    ("GET", "/v1/incidents/NOPE", "/v1/incidents/{incident_id}", None, True, 404),
    ("POST", "/v1/incidents/INC-1/feedback", "/v1/incidents/{incident_id}/feedback",
     {"reason_code": "caller_declined", "at": "2026-11-20T14:05:00+00:00"}, True, 201),
    ("POST", "/v1/incidents/INC-1/feedback", "/v1/incidents/{incident_id}/feedback",
     {"reason_code": "not-a-reason"}, True, 400),
    ("GET", "/v1/roster", "/v1/roster", None, True, 200),
    ("GET", "/v1/coverage", "/v1/coverage", None, True, 200),
    ("GET", "/v1/rules", "/v1/rules", None, True, 200),
    ("POST", "/v1/rules/reload", "/v1/rules/reload", None, True, 200),
    ("GET", "/v1/reports/summary?from=2026-11-20&to=2026-11-20", "/v1/reports/summary", None, True, 200),
    ("GET", "/v1/reports/summary?from=2026-11-20", "/v1/reports/summary", None, True, 400),
]


async def test_every_documented_operation_answers_as_documented(openapi, live_api):
    client, _, _ = live_api
    exercised: set[tuple[str, str]] = set()
    for method, url, path, body, with_token, expected in CALLS:
        headers = {"Authorization": f"Bearer {TOKEN}"} if with_token else {}
        response = await client.request(method, url, json=body, headers=headers)
        assert response.status == expected, f"{method} {url}: {response.status} {await response.text()}"
        schema = _response_schema(openapi, method, path, response.status)
        if schema is None:
            assert response.content_type == "text/plain"
            assert "dispatch_bridge_ready" in await response.text()
        else:
            assert response.content_type == "application/json"
            OAS31Validator(schema).validate(await response.json())
        exercised.add((method, path))
    assert exercised == set(operations(openapi)), "add a call for every documented operation"


async def test_every_protected_operation_refuses_a_missing_or_wrong_token_as_documented(openapi, live_api):
    client, _, _ = live_api
    header = openapi["components"]["responses"]["Unauthorized"]["headers"]["WWW-Authenticate"]["schema"]["const"]
    for method, url, path, body, with_token, _ in CALLS:
        if not with_token:
            continue
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            response = await client.request(method, url, json=body, headers=headers)
            assert response.status == 401
            _response_schema(openapi, method, path, 401)
            assert response.headers["WWW-Authenticate"] == header


def test_feedback_request_schema_agrees_with_the_validator(openapi):
    schema = {**openapi["components"]["schemas"]["FeedbackRequest"], "components": openapi["components"]}
    good = {"reason_code": "safety_concern", "note": "short", "at": "2026-11-20T14:00:00+00:00"}
    OAS31Validator(schema).validate(good)
    validate_feedback({**good, "incident_id": "INC-1"})
    unknown = {**good, "priority": 1}
    assert not OAS31Validator(schema).is_valid(unknown)
    with pytest.raises(ValueError):
        validate_feedback({**unknown, "incident_id": "INC-1"})


# ================================================== AsyncAPI =================================================


@pytest.fixture(scope="module")
def asyncapi() -> dict[str, Any]:
    return load(ASYNCAPI)


@pytest.fixture(scope="module")
def asyncapi_validator() -> jsonschema.Draft7Validator:
    schema = json.loads(ASYNCAPI_SCHEMA.read_text(encoding="utf-8"))
    assert schema["$id"] == "http://asyncapi.com/definitions/3.0.0/asyncapi.json"
    return jsonschema.Draft7Validator(schema)


def components_schema(asyncapi: dict[str, Any], name: str) -> dict[str, Any]:
    return asyncapi["components"]["schemas"][name]


def channel_message(asyncapi: dict[str, Any], channel: str) -> dict[str, Any]:
    (ref,) = [m["$ref"] for m in asyncapi["channels"][channel]["messages"].values()]
    return asyncapi["components"]["messages"][ref.rsplit("/", 1)[1]]


def test_asyncapi_document_is_valid_against_the_asyncapi_3_schema(asyncapi, asyncapi_validator):
    errors = [f"{list(e.path)}: {e.message[:200]}" for e in asyncapi_validator.iter_errors(asyncapi)]
    assert errors == []
    assert asyncapi["asyncapi"] == "3.0.0"


@pytest.mark.parametrize("mutate", [
    lambda d: d["channels"]["incidents"].update(address=5),
    lambda d: d["operations"]["consumeIncidents"].update(action="consume"),  # 3.0 has send / receive only
    lambda d: d["channels"]["units"]["bindings"]["kafka"].update(partitions=0),
    lambda d: d.update(channels={**d["channels"], "x": {"adress": "typo"}}),
])
def test_asyncapi_validation_is_live_it_rejects_broken_documents(asyncapi, asyncapi_validator, mutate):
    broken = copy.deepcopy(asyncapi)
    mutate(broken)
    assert list(asyncapi_validator.iter_errors(broken))


def test_vendored_asyncapi_schema_carries_its_licence_notice():
    notice = (DEPLOY / "schemas" / "README.md").read_text(encoding="utf-8")
    assert "@asyncapi/specs" in notice and "Apache-2.0" in notice


def test_channels_are_the_settings_topics_with_matching_bindings(asyncapi):
    defaults = TopicSettings()
    channels = asyncapi["channels"]
    assert {c["address"] for c in channels.values()} == set(defaults.model_dump().values())
    for name, channel in channels.items():
        assert channel["address"] == getattr(defaults, name), f"channel {name} must be the {name} topic"
        assert channel["bindings"]["kafka"]["topic"] == channel["address"]
    compacted = {c["address"] for c in channels.values()
                 if "compact" in c["bindings"]["kafka"].get("topicConfiguration", {}).get("cleanup.policy", [])}
    assert compacted == {defaults.units, defaults.personnel}


def test_operations_say_which_side_the_bridge_is_on(asyncapi):
    settings = Settings()
    actions = {(op["channel"]["$ref"].rsplit("/", 1)[1], op["action"]) for op in asyncapi["operations"].values()}
    assert actions == {("incidents", "receive"), ("units", "receive"), ("personnel", "receive"),
                       ("feedback", "receive"), ("recommendations", "send"), ("deadletter", "send"),
                       ("team_recommendations", "send"), ("team_recommendations", "receive")}
    groups = {op["channel"]["$ref"].rsplit("/", 1)[1]: op["bindings"]["kafka"]["groupId"]["const"]
              for op in asyncapi["operations"].values() if "bindings" in op}
    assert groups == {"incidents": settings.kafka.group_id, "feedback": f"{settings.kafka.group_id}.feedback"}


def test_payloads_are_the_committed_json_schema_files(asyncapi):
    referenced: dict[str, Path] = {}
    for name, message in asyncapi["components"]["messages"].items():
        ref = message.get("payload", {}).get("$ref", "")
        if not ref.startswith("#"):
            if ref:
                referenced[name] = (ASYNCAPI.parent / ref).resolve()
    assert {p.parent for p in referenced.values()} == {SCHEMA_DIR.resolve()}
    assert {p.name for p in referenced.values()} == set(MODELS)
    assert referenced["IncidentEvent"].name == "incident-event.v1.json"
    assert referenced["UnitStatus"].name == "unit-status.v1.json"
    assert referenced["Recommendation"].name == "recommendation.v1.json"
    for path in referenced.values():
        assert path.is_file()
        jsonschema.Draft202012Validator.check_schema(json.loads(path.read_text(encoding="utf-8")))


def _record(topic: str, key: bytes | None, value: bytes | None, headers: list | None = None) -> ConsumerRecord:
    return ConsumerRecord(topic=topic, partition=3, offset=42, timestamp=1_763_647_200_000, timestamp_type=0,
                          key=key, value=value, checksum=None, serialized_key_size=len(key or b""),
                          serialized_value_size=len(value or b""), headers=headers or [])


def _headers(pairs: list[tuple[str, bytes]]) -> dict[str, str]:
    return {name: value.decode() for name, value in pairs}


def _message_schema(asyncapi: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        schema = components_schema(asyncapi, schema["$ref"].rsplit("/", 1)[1])
    return schema


async def test_a_recommendation_the_processor_produces_matches_the_document(asyncapi):
    service = Service(Settings(), clock=lambda: NOW)
    service.roster.apply_unit_record(b"P-1", orjson.dumps(unit_status("P-1", cit_until=dt.date(2027, 1, 1))))
    record = _record("cad.incidents", b"INC-7", orjson.dumps(incident_event("INC-7", nature_code="EDP")))
    result, _, halted = service.processor.process({TopicPartition("cad.incidents", 3): [record]}, NOW)
    assert halted is None
    (out,) = result.outgoing
    message = channel_message(asyncapi, "recommendations")
    assert out.topic == asyncapi["channels"]["recommendations"]["address"]
    assert out.key == b"INC-7"
    payload_schema = json.loads((ASYNCAPI.parent / message["payload"]["$ref"]).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(payload_schema).validate(orjson.loads(out.value))
    headers = _headers(out.headers)
    header_schema = _message_schema(asyncapi, message["headers"])
    jsonschema.Draft202012Validator(header_schema, format_checker=jsonschema.FormatChecker()).validate(headers)
    assert set(headers) <= set(header_schema["properties"]), "a header the document does not describe"
    assert headers["ce_type"] == cloudevents.RECOMMENDATION_TYPE
    assert header_schema["properties"]["ce_type"]["enum"] == [cloudevents.RECOMMENDATION_TYPE,
                                                              cloudevents.TEAM_RECOMMENDATION_TYPE]
    # Deterministic from the input: the same record and ruleset give the same ce_id.
    sha = service.rules.current.sha256
    assert headers["ce_id"] == cloudevents.event_id("cad.incidents", 3, 42, sha)


def test_dead_letter_headers_match_the_document(asyncapi):
    original = [("traceparent", b"00-abc-def-01")]
    record = _record("cad.incidents", b"INC-9", b"\xff\xfe", original)
    out = dead_letter(record, InvalidEvent("invalid_utf8", "record value is not valid UTF-8"),
                      "cit.deadletter", "dispatch-bridge")
    message = channel_message(asyncapi, "deadletter")
    assert out.topic == asyncapi["channels"]["deadletter"]["address"]
    assert (out.key, out.value) == (record.key, record.value)  # untouched
    assert out.headers[: len(original)] == original  # the original headers first, untouched
    added = _headers(out.headers[len(original):])
    schema = _message_schema(asyncapi, message["headers"])
    assert set(added) == set(schema["required"])
    assert set(schema["properties"]) - set(schema["required"]) == {"dlq_value_omitted"}  # only when too large
    jsonschema.Draft202012Validator(schema).validate(added)


def test_dead_letter_error_classes_are_exactly_those_in_the_code(asyncapi):
    documented = set(components_schema(asyncapi, "DeadLetterHeaders")["properties"]["dlq_error_class"]["enum"])
    in_code: set[str] = set()
    for path in (ROOT / "dispatch_bridge").rglob("*.py"):
        in_code |= set(re.findall(r'InvalidEvent\(\s*"(\w+)"', path.read_text(encoding="utf-8")))
    assert in_code, "the scan found no error classes: the pattern no longer matches the code"
    assert documented == in_code


@pytest.mark.parametrize("payload, valid", [
    ({"incident_id": "INC-1", "reason_code": "caller_declined"}, True),
    ({"incident_id": "INC-1", "reason_code": "other", "at": "2026-11-20T14:00:00+00:00", "note": None}, True),
    ({"incident_id": "INC-1"}, False),
    ({"incident_id": "INC-1", "reason_code": "other", "unit": "P-1"}, False),
    ({"incident_id": "INC-1", "reason_code": "other", "note": "x" * 501}, False),
    ({"incident_id": "", "reason_code": "other"}, False),
])
def test_feedback_schema_agrees_with_the_topic_validator(asyncapi, payload, valid):
    schema = components_schema(asyncapi, "Feedback")
    assert jsonschema.Draft202012Validator(schema).is_valid(payload) is valid
    if valid:
        validate_feedback(payload, now=NOW)
    else:
        with pytest.raises(ValueError):
            validate_feedback(payload, now=NOW)


@pytest.mark.parametrize("payload, valid", [
    ({"schema_version": 1, "officer_id": "4411", "cit_certified_on": "2021-03-02", "cit_expires_on": "2027-03-02"},
     True),
    ({"officer_id": "4411", "cit_certified_on": None, "cit_expires_on": None}, True),  # revoked
    ({"schema_version": 2, "officer_id": "4411", "cit_expires_on": "2027-03-02"}, False),
])
def test_personnel_schema_agrees_with_the_topic_reader(asyncapi, payload, valid):
    schema = components_schema(asyncapi, "PersonnelRecord")
    assert jsonschema.Draft202012Validator(schema).is_valid(payload) is valid
    if valid:
        assert parse_personnel_record(b"4411", orjson.dumps(payload)).officer_id == "4411"
    else:
        with pytest.raises(PersonnelFormatError):
            parse_personnel_record(b"4411", orjson.dumps(payload))


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.one_of(st.text(), st.integers()), min_size=1, max_size=5))
def test_ce_id_is_exactly_the_uuid5_it_always_was(parts):
    """ce_id is built without a UUID object on the hot path; it must stay the RFC 4122 version 5 UUID that
    consumers deduplicate on, byte for byte (a changed id would look like a new recommendation)."""
    name = "/".join(str(p) for p in parts)
    try:
        name.encode()
    except UnicodeEncodeError:
        return  # lone surrogates never come from Kafka metadata
    assert cloudevents.event_id(*parts) == str(uuid.uuid5(cloudevents._NAMESPACE, name))
