"""Redaction through the whole service: caller names, phone numbers, addresses and narratives go in by every
door (valid and invalid incident events, the feedback topic, the feedback API) with JSON logs at DEBUG, and
none of them comes out in a log line, a dead-letter reason or an HTTP error body.

The list of sensitive values is this test's own, on purpose separate from the code's SENSITIVE_KEYS: the code
redacts by field name, this test looks for the values wherever they might surface.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import orjson

from tests.harness import CENTRE, TopicReader, eventually, incident_event, produce, unit_status
from tests.proc import BridgeProcess, process_settings

TOKEN = "redaction-test-token-3c9e"
CALLER = "Marisol Quintanilla-Ardent"
PATIENT = "Jonah Vukovich-Baptiste"
PHONE = "(312) 555-0187"
ADDRESS = "4417 W Fullerton Ave Apt 3R"
DOB = "03/14/1987"
NARRATIVE = f"{PATIENT.upper()} SAYS HE WILL JUMP FROM THE ROOF, MOTHER {CALLER.upper()} CALLING FROM {PHONE}"
# What must never surface, in the forms it might take (case-insensitive; phone digits however formatted).
NEEDLES = ["Quintanilla", "Marisol", "Vukovich", "Jonah", "555-0187", "5550187", "Fullerton", "WILL JUMP FROM",
           DOB, "03\\/14\\/1987", TOKEN]


def _leaks(text: str) -> list[str]:
    low = text.lower()
    return [n for n in NEEDLES if n.lower() in low]


def _event(incident_id: str, revision: int = 1, **kw) -> dict:
    event = incident_event(incident_id, revision, narrative=[NARRATIVE, f"CALLBACK {PHONE}, DOB {DOB}"], **kw)
    event["incident"]["location"]["address"] = ADDRESS
    # CADs send more than the contract reads: caller details ride along and are ignored, never logged.
    event["incident"]["caller_name"] = CALLER
    event["incident"]["caller_phone"] = PHONE
    event["caller"] = {"name": CALLER, "phone": PHONE, "dob": DOB}
    return event


def _invalid_events() -> list[tuple[bytes | str, bytes]]:
    """Invalid incident events whose offending values are the sensitive ones."""
    def broken(path: tuple, value) -> bytes:
        event = _event("INC-BAD")
        node = event
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
        return orjson.dumps(event)

    valid = orjson.dumps(_event("INC-CUT"))
    cut = valid.index(b"WILL JUMP") + 6
    return [
        ("INC-BAD", broken(("incident", "revision"), CALLER)),
        ("INC-BAD", broken(("occurred_at",), PHONE)),
        ("INC-BAD", broken(("incident", "narrative"), NARRATIVE)),
        ("INC-BAD", broken(("incident", "location"), ADDRESS)),
        ("INC-BAD", broken(("incident", "narrative", 0, "text"), {"name": CALLER, "phone": PHONE})),
        ("INC-BAD", broken(("schema_version",), f"{CALLER} {PHONE}")),
        ("INC-BAD", broken(("incident", "units"), [{"unit_id": PHONE, "dispatched_at": ADDRESS}])),
        ("INC-CUT", valid[:cut]),                                              # truncated inside the narrative
        ("INC-UTF", valid.replace(b"ROOF", b"RO\xff\xfeOF")),                  # invalid UTF-8 amid the narrative
        (PATIENT, orjson.dumps(_event("INC-KEY"))),                           # key is not the incident id
    ]


BAD_FEEDBACK_BODIES: list[bytes] = [
    orjson.dumps({"reason_code": CALLER, "note": NARRATIVE}),
    orjson.dumps({"reason_code": "other", "note": NARRATIVE * 200}),
    orjson.dumps({"reason_code": ["not", PHONE], "at": ADDRESS}),
    orjson.dumps({"reason_code": "other", "at": f"{DOB} {PHONE}"}),
    orjson.dumps([CALLER, PHONE]),
    b'{"reason_code": "other", "note": "' + NARRATIVE.encode(),
    orjson.dumps({"reason_code": "other", CALLER: PHONE}),  # the caller's name as a field name
]


async def test_no_caller_data_in_any_log_line_dead_letter_reason_or_error_body(broker, unique, tmp_path):
    settings = process_settings(broker, unique, tmp_path, log_level="DEBUG", api={"token": TOKEN})
    bridge = BridgeProcess(settings, tmp_path / "bridge.log").start()
    leaks: dict[str, list[str]] = {}
    invalid = _invalid_events()
    try:
        await bridge.wait_ready()
        await produce(broker, settings.topics.units, [
            ("P-CIT", unit_status("P-CIT", lat=CENTRE[0] + 0.004, lon=CENTRE[1], cit_until=dt.date(2030, 1, 1)))])
        async with (TopicReader(broker, settings.topics.deadletter) as dlq,
                    TopicReader(broker, settings.topics.recommendations) as out):
            await produce(broker, settings.topics.incidents, [
                ("INC-RED-1", _event("INC-RED-1")),
                ("INC-RED-1", _event("INC-RED-1", 2, event_type="incident.updated", flags=[f"PREMISE {ADDRESS}"])),
                *invalid,
            ])
            # The crisis call goes through the whole pipeline (recommended) before it closes: a close read in
            # the same batch as its creation publishes nothing.
            await out.wait_for(lambda r: r.key == b"INC-RED-1", timeout=30)
            await produce(broker, settings.topics.incidents, [
                ("INC-RED-1", _event("INC-RED-1", 3, event_type="incident.closed", disposition=[CALLER])),
                ("INC-RED-2", _event("INC-RED-2")),
            ])
            await produce(broker, settings.topics.feedback, [
                ("INC-RED-1", {"incident_id": "INC-RED-1", "reason_code": CALLER, "note": NARRATIVE}),
                ("INC-RED-1", {"incident_id": PHONE, "reason_code": "other", CALLER: ADDRESS}),
                ("INC-RED-1", NARRATIVE.encode()),
            ])
            await out.wait_for(lambda r: r.key == b"INC-RED-2", timeout=30)
            await eventually(lambda: len(dlq.records) == len(invalid) + 3, timeout=30)
            for record in dlq.records:
                headers = dict(record.headers)
                assert headers["dlq_error_class"]
                if found := _leaks(headers["dlq_error_reason"].decode("utf-8", "replace")):
                    leaks[f"dead-letter reason {headers['dlq_error_class'].decode()}: "
                          f"{headers['dlq_error_reason'][:120]!r}"] = found
            assert out.for_incident("INC-RED-1"), "the crisis call went through the whole pipeline"

        for body in BAD_FEEDBACK_BODIES:
            status, text = await bridge.request("POST", "/v1/incidents/INC-RED-1/feedback", token=TOKEN, data=body,
                                                headers={"Content-Type": "application/json"})
            assert status == 400, (body[:80], status, text)
            if found := _leaks(text.decode("utf-8", "replace")):
                leaks[f"HTTP 400 body {text[:120]!r}"] = found
        status, text = await bridge.request("POST", "/v1/incidents/INC-RED-1/feedback", token=TOKEN,
                                            json={"reason_code": "other", "note": NARRATIVE})
        assert status == 201 and not _leaks(text.decode())
        for path in (f"/v1/incidents/{PHONE}", f"/v1/incidents/{CALLER}"):
            status, text = await bridge.get(path, token=TOKEN)
            assert status == 404
            if found := _leaks(text.decode("utf-8", "replace")):
                leaks[f"HTTP 404 body {text[:120]!r}"] = found
        await asyncio.sleep(0.5)
    finally:
        bridge.terminate()
        code = await bridge.wait_exit(20)
        bridge.ensure_stopped()
    assert code == 0

    lines = bridge.output().splitlines()
    parsed = bridge.json_lines()
    # Not vacuous: DEBUG lines were written, every invalid event was logged as a dead letter, feedback too.
    assert any(line.get("level") == "debug" for line in parsed)
    dead = [line for line in parsed if line.get("outcome") == "dead_letter"]
    assert len(dead) == len(invalid), len(dead)
    assert all(line.get("reason") for line in dead)
    assert bridge.events("feedback_invalid")
    for number, line in enumerate(lines):
        if found := _leaks(line):
            leaks[f"log line {number}: {line[:160]}"] = found
    assert not leaks, "caller data surfaced:\n" + json.dumps(leaks, indent=1)
