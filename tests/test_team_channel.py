"""The mobile crisis team's channel carries no criminal-justice information (Rohnert Park SAFE SOP)."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest

from dispatch_bridge.contracts import IncidentEvent, Recommendation
from dispatch_bridge.domain import Assessment, Candidate, Ranking, Reason
from dispatch_bridge.pipeline import recommendation_record
from dispatch_bridge.recipients import TeamChannelFilter, TeamChannelLedger, TeamChannelSettings
from tests.harness import CENTRE, T0, TopicReader, eventually, incident_event, produce, running, settings_for, \
    unit_status
from tests.test_coalescing import NOW, _batch, _recommendations, _service

ASSESSMENT = Assessment(
    True, 0.9, "co_response", "v1", "a" * 64, ("weapon_unknown", "premise_hazard"),
    (Reason("apco-behavioral-type", "Call type is EDP", "apco=EDP"),
     Reason("premise-hazard", "Officer-safety flag on this premise", "flags=VIOLENT_HISTORY"),
     Reason("weapons-unknown", "Weapons unknown - joint response", "unk weaps")),
)
RANKING = Ranking((
    Candidate("P-114", "patrol", "CIT: Ofc 4411, available, 1.2 km, ~3 min", 180, 1200, ("4411",)),
    Candidate("MCT-1", "mobile_crisis", "Mobile crisis team, available, 2.0 km", 300, 2000),
), ())


def _record():
    event = IncidentEvent.model_validate_json(orjson.dumps(incident_event("INC-1")))
    return recommendation_record(event, ASSESSMENT, RANKING, T0, event.event_id)


def test_team_copy_withholds_law_enforcement_reasons_flags_evidence_and_officers():
    team = TeamChannelFilter(TeamChannelSettings()).team_copy(_record())
    assert team is not None
    wire = Recommendation.model_validate_json(orjson.dumps(team))  # the same contract as the main channel
    text = orjson.dumps(team).decode()
    assert "VIOLENT_HISTORY" not in text and "premise" not in text and "4411" not in text and "Ofc" not in text
    assert [r.rule for r in wire.reasons] == ["apco-behavioral-type", "weapons-unknown"]
    assert all(r.evidence is None for r in wire.reasons)
    assert wire.safety_flags == ["weapon_unknown"]  # scene safety stays: the team waits for police
    assert [c.unit_id for c in wire.candidates] == ["MCT-1"]
    assert wire.response == "co_response" and wire.incident_id == "INC-1"


def test_no_team_candidate_means_nothing_on_the_team_channel():
    record = _record()
    record["candidates"] = record["candidates"][:1]
    assert TeamChannelFilter(TeamChannelSettings()).team_copy(record) is None


async def _officer_and_team_on_duty(broker, settings, service) -> None:
    """A CIT officer (4411) in P-1 at the centre and mobile crisis team MCT-1 a kilometre north."""
    await produce(broker, settings.topics.units, [
        ("P-1", unit_status("P-1", cit_until=dt.date(2030, 1, 1), crew_id="4411")),
        ("MCT-1", unit_status("MCT-1", kind="mobile_crisis", lat=CENTRE[0] + 0.01, crew_id="MCT-1-clin")),
    ])
    await eventually(lambda: len(service.roster.units) == 2)


async def test_team_channel_end_to_end(broker, unique, tmp_path):
    settings = settings_for(broker, unique, tmp_path)
    async with (running(settings) as service,
                TopicReader(broker, settings.topics.recommendations) as main,
                TopicReader(broker, settings.topics.team_recommendations) as teams):
        await _officer_and_team_on_duty(broker, settings, service)
        await produce(broker, settings.topics.incidents, [
            ("INC-T", incident_event("INC-T", nature_code="WELFARE", caller_party="third",
                                     narrative=["NEIGHBOR SAYS MALE IS CONFUSED AND HEARING VOICES, NO WEAPONS"])),
        ])
        await main.wait_for(lambda r: r.key == b"INC-T")
        record = await teams.wait_for(lambda r: r.key == b"INC-T")
        team = orjson.loads(record.value)
        assert all(c["kind"] in ("mobile_crisis", "co_responder") for c in team["candidates"])
        assert all(c["cit_members"] == [] for c in team["candidates"])
        assert all(r["evidence"] is None for r in team["reasons"])
        assert dict(record.headers)["ce_type"] == b"org.dispatch-bridge.recommendation.team.v1"


def test_a_record_proposing_no_team_withdraws_the_team_once_told():
    record = _record()
    record["candidates"] = record["candidates"][:1]  # the officer only
    record["fallbacks"] = ["cit_responder_assigned"]
    team = TeamChannelFilter(TeamChannelSettings()).team_copy(record, told=True)
    assert team is not None
    wire = Recommendation.model_validate_json(orjson.dumps(team))
    assert wire.candidates == [] and wire.fallbacks == ["cit_responder_assigned"]
    assert "4411" not in orjson.dumps(team).decode()


async def test_the_team_is_told_when_it_is_no_longer_proposed_and_when_its_call_closes(broker, unique, tmp_path):
    settings = settings_for(broker, unique, tmp_path)
    confused = ["NEIGHBOR SAYS MALE IS CONFUSED AND HEARING VOICES, NO WEAPONS"]

    def call(incident_id: str, revision: int = 1, **fields):
        return incident_id, incident_event(incident_id, revision, nature_code="WELFARE", caller_party="third",
                                           narrative=confused, **fields)

    async with (running(settings) as service,
                TopicReader(broker, settings.topics.recommendations) as main,
                TopicReader(broker, settings.topics.team_recommendations) as teams):
        await _officer_and_team_on_duty(broker, settings, service)
        await produce(broker, settings.topics.incidents, [call("INC-A"), call("INC-B")])
        await eventually(lambda: len(teams.for_incident("INC-A")) == len(teams.for_incident("INC-B")) == 1)
        assert teams.for_incident("INC-A")[0]["candidates"][0]["unit_id"] == "MCT-1"

        # Dispatch sends the CIT officer to A: the team is no longer proposed, and is told so, once.
        assigned = [{"unit_id": "P-1", "dispatched_at": (T0 + dt.timedelta(minutes=1)).isoformat()}]
        await produce(broker, settings.topics.incidents, [call("INC-A", 2, event_type="incident.updated",
                                                               units=assigned)])
        await eventually(lambda: len(teams.for_incident("INC-A")) == 2)
        withdrawal = teams.for_incident("INC-A")[1]
        assert withdrawal["candidates"] == [] and withdrawal["fallbacks"] == ["cit_responder_assigned"]
        assert "4411" not in orjson.dumps(withdrawal).decode()

        # B closes while the team is proposed: dispatch sees it in the CAD (nothing on its channel); the team,
        # which may see only this channel, is told. A closes after its withdrawal: nothing more for the team.
        await produce(broker, settings.topics.incidents, [
            call("INC-B", 2, event_type="incident.closed", disposition=["RESOLVED"]),
            call("INC-A", 3, event_type="incident.closed", units=assigned, disposition=["RESOLVED"]),
            call("INC-C"),  # marks the end: everything before it is out when its team record is
        ])
        await eventually(lambda: len(teams.for_incident("INC-C")) == 1)
        [_, closing] = teams.for_incident("INC-B")
        assert closing["candidates"] == [] and closing["fallbacks"] == ["incident_closed"]
        assert closing["incident_revision"] == 2
        assert len(teams.for_incident("INC-A")) == 2
        await main.wait_for(lambda r: r.key == b"INC-C")
        assert len(main.for_incident("INC-B")) == 1
        headers = [dict(r.headers) for r in teams.records if r.key == b"INC-B"]
        assert [h["ce_type"] for h in headers] == [b"org.dispatch-bridge.recommendation.team.v1"] * 2
        assert headers[0]["ce_id"] != headers[1]["ce_id"]


def test_a_team_is_proposed_only_among_the_candidates_whose_change_is_published():
    record = _record()
    officers = [{**record["candidates"][0], "unit_id": f"P-{n}"} for n in range(3)]
    record["candidates"] = officers + record["candidates"][1:]  # the team fourth
    within_three = TeamChannelFilter(TeamChannelSettings(), proposed_within=3)
    # Dropping out of fourth place changes no recommendation, so it would never be withdrawn: not proposed.
    assert within_three.team_copy(record) is None and not within_three.proposes_team(record)
    assert TeamChannelFilter(TeamChannelSettings(), proposed_within=4).proposes_team(record)


# -- a call that changes instance: the team channel's ledger ------------------------------------------------------

TEAMS_TOPIC = "cit.recommendations.teams"


def _proposal(incident_id: str = "INC-1") -> bytes:
    """What the team channel carries when a team is proposed (another instance published it)."""
    record = _record()
    record["incident_id"] = incident_id
    team = TeamChannelFilter(TeamChannelSettings()).team_copy(record)
    assert team is not None and team["candidates"]
    return orjson.dumps(team)


def _withdrawal(incident_id: str = "INC-1") -> bytes:
    record = _record()
    record["incident_id"], record["candidates"] = incident_id, record["candidates"][:1]
    team = TeamChannelFilter(TeamChannelSettings()).team_copy(record, told=True)
    assert team is not None and not team["candidates"]
    return orjson.dumps(team)


def test_the_ledger_keeps_the_calls_whose_last_team_record_proposed_a_team():
    ledger = TeamChannelLedger(limit=3)
    ledger.apply(b"INC-1", _proposal("INC-1"))
    ledger.apply(b"INC-2", _proposal("INC-2"))
    ledger.apply(b"INC-2", _withdrawal("INC-2"))  # told it is no longer proposed
    ledger.apply(b"INC-3", _proposal("INC-3"))
    ledger.apply(b"INC-3", None)  # a tombstone forgets the call
    assert ledger.proposed("INC-1") and not ledger.proposed("INC-2") and not ledger.proposed("INC-3")
    for n in range(4, 8):  # bounded: the least recently proposed go first
        ledger.apply(f"INC-{n}".encode(), _proposal(f"INC-{n}"))
    assert len(ledger) == 3 and not ledger.proposed("INC-1") and ledger.proposed("INC-7")
    ledger.apply(b"INC-5", _proposal("INC-5"))  # proposed again: the most recent now
    ledger.apply(b"INC-8", _proposal("INC-8"))
    assert ledger.proposed("INC-5") and not ledger.proposed("INC-6")
    for bad_key, bad_value in ((None, _proposal()), (b"INC-9", b"not json"), (b"INC-9", b"[]"),
                               (b"INC-9", b'{"candidates": "MCT-1"}')):
        with pytest.raises(ValueError):
            ledger.apply(bad_key, bad_value)
    assert not ledger.proposed("INC-9")


def _team_records(result) -> list[dict]:
    return [orjson.loads(out.value) for out in result.outgoing if out.topic == TEAMS_TOPIC]


def _moved_call(**fields) -> bytes:
    """A revision of a call the team was proposed for by the instance that held it before."""
    return orjson.dumps(incident_event("INC-1", 5, **{"event_type": "incident.updated", "nature_code": "EDP",
                                                      "caller_party": "third", **fields}))


def _new_owner():
    service = _service()  # two CIT officers on duty, no team: nothing this instance ranks proposes one
    assert service.team_ledger is not None
    service.team_ledger.apply(b"INC-1", _proposal())
    return service


def test_a_call_from_another_instance_that_closes_tells_its_team():
    service = _new_owner()
    closing = _moved_call(narrative=["caller says brother is suicidal, off his meds"],
                          event_type="incident.closed", disposition=["RESOLVED"])
    result, _, _ = service.processor.process(_batch(closing), NOW)
    assert _recommendations(result) == []  # dispatch sees the close in its CAD
    [told] = _team_records(result)
    assert (told["candidates"], told["fallbacks"], told["incident_revision"]) == ([], ["incident_closed"], 5)


def test_a_call_from_another_instance_that_no_longer_needs_the_team_withdraws_it():
    service = _new_owner()
    result, _, _ = service.processor.process(_batch(_moved_call(
        narrative=["caller says brother is suicidal, off his meds"])), NOW)
    [main] = _recommendations(result)
    assert main["candidates"][0]["unit_id"] in ("P-1", "P-2")  # officers only: no team on duty here
    [told] = _team_records(result)
    assert told["candidates"] == [] and "4411" not in orjson.dumps(told).decode()


def test_a_call_from_another_instance_that_calms_down_is_withdrawn_on_both_channels():
    service = _new_owner()
    result, _, _ = service.processor.process(_batch(_moved_call(
        nature_code="THEFT", caller_party="first", narrative=["bike taken from the rack, no suspect"])), NOW)
    [main] = _recommendations(result)
    assert (main["crisis"], main["candidates"], main["fallbacks"]) == (False, [], ["no_longer_crisis"])
    [told] = _team_records(result)
    assert (told["candidates"], told["fallbacks"]) == ([], ["no_longer_crisis"])
    # Withdrawn once: its next revision is an ordinary call's, nothing more on either channel.
    again, _, _ = service.processor.process(_batch(orjson.dumps(incident_event(
        "INC-1", 6, event_type="incident.updated", nature_code="THEFT", caller_party="first",
        narrative=["bike taken from the rack, no suspect"])), first_offset=1), NOW)
    assert again.outgoing == []


def test_a_call_the_ledger_does_not_know_is_not_withdrawn():
    service = _service()
    result, _, _ = service.processor.process(_batch(_moved_call(
        nature_code="THEFT", caller_party="first", narrative=["bike taken from the rack, no suspect"])), NOW)
    assert result.outgoing == []


async def test_a_team_proposed_before_a_restart_is_told_when_its_call_closes(broker, unique, tmp_path):
    """The instance that proposed the team stops; the next one, which never saw the call, gets its close."""
    settings = settings_for(broker, unique, tmp_path)
    confused = ["NEIGHBOR SAYS MALE IS CONFUSED AND HEARING VOICES, NO WEAPONS"]

    def call(revision: int = 1, **fields):
        return "INC-R", incident_event("INC-R", revision, nature_code="WELFARE", caller_party="third",
                                       narrative=confused, **fields)

    async with TopicReader(broker, settings.topics.team_recommendations) as teams:
        async with running(settings) as first:
            await _officer_and_team_on_duty(broker, settings, first)
            await produce(broker, settings.topics.incidents, [call()])
            await eventually(lambda: len(teams.for_incident("INC-R")) == 1)
            assert teams.for_incident("INC-R")[0]["candidates"][0]["unit_id"] == "MCT-1"
        async with running(settings) as second:
            assert second.processor.book.get("INC-R") is None
            await eventually(lambda: second.team_ledger.proposed("INC-R"))  # read back from the topic
            await produce(broker, settings.topics.incidents, [
                call(2, event_type="incident.closed", disposition=["RESOLVED"])])
            await eventually(lambda: len(teams.for_incident("INC-R")) == 2)
            closing = teams.for_incident("INC-R")[1]
            assert (closing["candidates"], closing["fallbacks"]) == ([], ["incident_closed"])
            await eventually(lambda: not second.team_ledger.proposed("INC-R"))  # its own withdrawal, read back
