"""The msgspec fast path never accepts what the pydantic contract rejects, and reads what it accepts the same way.

``dispatch_bridge.contracts.structs`` decodes the hot path with msgspec and hands every refusal to pydantic, so the
one way the two could disagree in production is msgspec accepting a record pydantic would dead-letter, or reading
a value differently. Hypothesis mutates real documents (the demo shift's incidents and units) at random paths with
values chosen to sit on every edge the contracts draw: types, bounds, lengths, literals, times, nulls, unknown
and missing keys, duplicated keys, non-ASCII and invalid UTF-8. For every mutant: msgspec accepts => pydantic
accepts, with equal values; and the public decoder's answer always equals pydantic's.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
import re
from functools import cache
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from dispatch_bridge.contracts import IncidentEvent, UnitStatus, structs
from dispatch_bridge.demo.shift import build_shift
from tests.harness import T0, json_paths

TIMES = [
    "2026-11-20T14:00:00Z", "2026-11-20T14:00:00+02:00", "2026-11-20T14:00:00.5-05:30", "2026-11-20 14:00:00Z",
    "2026-11-20T14:00:00", "2026-11-20T14:00Z", "2026-11-20T14:00:00.1234567Z", "2026-11-20T24:00:00Z",
    "2026-02-30T00:00:00Z", "2026-11-20t14:00:00z", "2026-11-20", "20261120T140000Z", "2026-11-20T14:00:00+2400",
    "2026-12-31T23:59:59.99999999Z", "2026-12-31T23:59:59,9999999Z", "0001-01-01T00:30:00+01:00",
]
EDGES: list[Any] = [
    None, True, False, 0, 1, -1, 2**31 - 1, 2**31, -(2**31) + 1, -(2**31), 2**63 - 1, 2**63, -(2**63), 10**30,
    0.0, 1.5, -90.0, 90.0, 90.000001, -180.0, 180.5, 1e308, "", "x", "1", "1.5", "true", "null", "é", "\u2028",
    "x" * 100_000, "x" * 100_001, "x" * 200, "x" * 201, [], {}, [1], ["a"], {"a": 1}, [{}], [{"text": "t"}],
    [{"unit_id": ""}], [{"unit_id": "U"}], "incident.created", "incident.closed", "first", "officer", "unknown",
    "patrol", "mobile_crisis", "available", "off_duty", "2026-11-20", "2026-13-01", *TIMES,
]


@cache
def documents() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    shift = build_shift(5, T0, 40)
    incidents, units = [], []
    for record in shift.records():
        (incidents if record.kind == "incidents" else units).append(orjson.loads(record.value))
    return incidents, units


def mutate(doc: dict[str, Any], rng: random.Random, edits: int) -> bytes:
    doc = orjson.loads(orjson.dumps(doc))
    for _ in range(edits):
        where = rng.choice(json_paths(doc))
        parent = doc
        for part in where[:-1]:
            parent = parent[part]
        last = where[-1]
        action = rng.random()
        if action < 0.15 and isinstance(parent, dict):
            del parent[last]
        elif action < 0.25 and isinstance(parent, dict):
            parent[f"unknown_{rng.randrange(3)}"] = copy.deepcopy(rng.choice(EDGES))
        else:
            parent[last] = copy.deepcopy(rng.choice(EDGES))  # a later edit may change it in place
    value = json.dumps(doc, ensure_ascii=rng.random() < 0.5).encode()  # stdlib: integers beyond 64 bits too
    tweak = rng.random()
    if tweak < 0.05:  # a duplicated key: the first copy with another value
        value = value.replace(b'{"', b'{"revision":"r","', 1)
    elif tweak < 0.10:  # invalid UTF-8 inside a string
        at = value.find(b'":"') + 3
        value = value[:at] + b"\xff" + value[at:]
    elif tweak < 0.15:  # numbers beyond what pydantic's parser reads (over 4,300 digits), used or ignored
        big = rng.choice([b"9" * 4301, b"-" + b"1" * 4400, b"1" + b"0" * 4300 + b"e-4299", b"0." + b"5" * 5000])
        if rng.random() < 0.5:  # in a field the contracts read (an incident's or a unit's latitude)
            value = re.sub(rb'"lat": ?-?[0-9.eE+-]+', b'"lat": ' + big, value, count=1)
        else:  # in a field they ignore
            value = value.replace(b'{"', b'{"big": ' + big + b', "', 1)
    return value


def plain(value: Any) -> Any:
    """A comparable form of a Struct or a pydantic model (tz objects differ between the two: compare offsets)."""
    if isinstance(value, msgspec.Struct):
        return {f: plain(getattr(value, f)) for f in value.__struct_fields__}
    if isinstance(value, BaseModel):
        return {f: plain(getattr(value, f)) for f in type(value).model_fields}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, dt.datetime):  # wall time and offset (astimezone overflows at the calendar's edges)
        return value.replace(tzinfo=None), value.utcoffset()
    return value


def same(fast: Any, model: Any, drop: tuple[str, ...] = ()) -> None:
    a, b = plain(fast), plain(model)
    for key in drop:
        a.pop(key, None)
        b.pop(key, None)
    assert _close(a, b), (a, b)


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def verdicts(value: bytes, fast_type: type, model: type[BaseModel]) -> tuple[Any, Any]:
    try:
        fast = msgspec.json.decode(value, type=fast_type) if structs._fast_path_safe(value) else None
    except (msgspec.MsgspecError, ValueError):
        fast = None
    try:
        reference = model.model_validate_json(value)
    except ValidationError:
        reference = None
    return fast, reference


FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))


TEAM_FIELDS = ("service_hours", "service_area")  # read by the pydantic model only: compared elsewhere


def holds_the_rule(value: bytes, fast_type: type, model: type[BaseModel], decode: Any) -> Any:
    """msgspec accepts => pydantic accepts, same values; the public decoder answers as pydantic does. Returns
    what the public decoder gave (None when it refused)."""
    fast, reference = verdicts(value, fast_type, model)
    if fast is not None and all(getattr(fast, name, None) is None for name in TEAM_FIELDS):
        assert reference is not None, value[:300]
        same(fast, reference, drop=TEAM_FIELDS)
    try:
        decoded = decode(value)
    except ValidationError:
        assert reference is None
        return None
    assert reference is not None
    same(decoded, reference, drop=TEAM_FIELDS)
    return decoded


@FUZZ
@given(rng=st.randoms(use_true_random=False), edits=st.integers(1, 3))
def test_incident_fast_path_accepts_only_what_the_contract_accepts_and_reads_it_the_same(rng, edits):
    incidents, _ = documents()
    value = mutate(rng.choice(incidents), rng, edits)
    decoded = holds_the_rule(value, structs.IncidentEvent, IncidentEvent, structs.decode_incident_event)
    assert decoded is None or isinstance(decoded, structs.IncidentEvent)


@FUZZ
@given(rng=st.randoms(use_true_random=False), edits=st.integers(1, 3))
def test_unit_fast_path_accepts_only_what_the_contract_accepts_and_reads_it_the_same(rng, edits):
    _, units = documents()
    holds_the_rule(mutate(rng.choice(units), rng, edits), structs.UnitStatus, UnitStatus, structs.decode_unit_status)


def test_every_demo_document_decodes_the_same_on_both_paths():
    incidents, units = documents()
    assert len(incidents) > 100 and len(units) > 10
    for doc in incidents:
        value = orjson.dumps(doc)
        same(structs.decode_incident_event(value), IncidentEvent.model_validate_json(value))
    teams = 0
    for doc in units:
        value = orjson.dumps(doc)
        decoded = structs.decode_unit_status(value)
        same(decoded, UnitStatus.model_validate_json(value), drop=("service_hours", "service_area"))
        if doc.get("service_hours") or doc.get("service_area"):
            teams += 1
            assert isinstance(decoded, UnitStatus), "team documents are validated by the pydantic model"
    assert teams, "the demo roster has mobile crisis teams with service hours"


def test_the_structs_have_the_contract_fields_and_defaults():
    pairs = [
        (structs.IncidentEvent, IncidentEvent), (structs.Incident, IncidentEvent.model_fields["incident"].annotation),
        (structs.UnitStatus, UnitStatus),
    ]
    for fast, model in pairs:
        assert set(fast.__struct_fields__) == set(model.model_fields), fast
        for field in msgspec.structs.fields(fast):
            reference = model.model_fields[field.name]
            assert field.required == reference.is_required(), (fast.__name__, field.name)
            if not field.required:
                actual = field.default_factory() if field.default is msgspec.NODEFAULT else field.default
                assert actual == reference.get_default(call_default_factory=True), (fast.__name__, field.name)


@pytest.mark.parametrize("time", ["2026-11-20T14:00Z", "2026-11-20T14:00+01:00"])
def test_what_only_pydantic_accepts_still_comes_out_as_a_struct(time):
    incidents, _ = documents()
    doc = orjson.loads(orjson.dumps(incidents[0]))
    doc["occurred_at"] = time
    event = structs.decode_incident_event(orjson.dumps(doc))
    assert isinstance(event, structs.IncidentEvent)
    assert event.occurred_at == dt.datetime.fromisoformat(time)


def test_the_mutants_reach_every_side_of_the_rule():
    """The fuzz is only as good as its mutants: a fixed-seed run must see msgspec accept, msgspec refuse what
    pydantic accepts, and both refuse, with no divergence anywhere."""
    incidents, _ = documents()
    rng = random.Random(1)
    seen = {"both accept": 0, "only pydantic accepts": 0, "both refuse": 0}
    for _ in range(1500):
        value = mutate(rng.choice(incidents), rng, rng.randint(1, 3))
        fast, reference = verdicts(value, structs.IncidentEvent, IncidentEvent)
        assert not (fast is not None and reference is None), value[:300]
        if fast is not None:
            same(fast, reference)
        key = "both accept" if fast else "only pydantic accepts" if reference else "both refuse"
        seen[key] += 1
    assert seen["both accept"] >= 100 and seen["both refuse"] >= 100 and seen["only pydantic accepts"] >= 3, seen


@pytest.mark.parametrize("depth", [100, 190, 199, 250, 5000])
def test_deep_nesting_inside_an_ignored_field_gets_pydantics_answer(depth):
    """pydantic refuses a document nested too deep anywhere, msgspec skips what it ignores without a limit."""
    incidents, _ = documents()
    value = orjson.dumps(incidents[0]).replace(b'"incident":{', b'"incident":{"x":' + b"[" * depth + b"]" * depth + b",", 1)
    try:
        reference = IncidentEvent.model_validate_json(value)
    except ValidationError:
        with pytest.raises(ValidationError):
            structs.decode_incident_event(value)
    else:
        same(structs.decode_incident_event(value), reference)


@pytest.mark.parametrize("where", ["ignored", "lat"])
@pytest.mark.parametrize("number", [b"9" * 4301, b"-" + b"1" * 4400, b"1" + b"0" * 4300 + b"e-4299"])
def test_numbers_longer_than_pydantic_reads_are_refused_on_both_paths(where, number):
    incidents, units = documents()
    for doc, model, decode in ((incidents[0], IncidentEvent, structs.decode_incident_event),
                               (units[0], UnitStatus, structs.decode_unit_status)):
        value = json.dumps(doc).encode()
        if where == "lat":
            value = re.sub(rb'"lat": ?-?[0-9.eE+-]+', b'"lat": ' + number, value, count=1)
        else:
            value = value.replace(b'{"', b'{"big": ' + number + b', "', 1)
        with pytest.raises(ValidationError):
            model.model_validate_json(value)
        with pytest.raises(ValidationError):
            decode(value)


@pytest.mark.parametrize("time", ["2026-12-31T23:59:59.99999999Z", "2026-03-03T21:59:59,9999999-06:00"])
def test_times_finer_than_a_microsecond_read_as_the_contract_reads_them(time):
    """msgspec would round into the next second (here the next year, or the team's hours); pydantic truncates."""
    incidents, _ = documents()
    doc = orjson.loads(orjson.dumps(incidents[0]))
    doc["occurred_at"] = time
    value = orjson.dumps(doc)
    assert structs.decode_incident_event(value).occurred_at == IncidentEvent.model_validate_json(value).occurred_at
