"""The service's HTTP API and live behaviour against the real broker: views, reloads, feedback, re-ranking, report."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from dispatch_bridge.api.app import build_app
from tests.harness import (
    CENTRE,
    REPO,
    T0,
    TopicReader,
    eventually,
    incident_event,
    produce,
    running,
    settings_for,
    unit_status,
)

TOKEN = "test-token-1"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CRISIS = ["CALLER SAYS HER SON IS SUICIDAL AND HEARING VOICES, OFF HIS MEDS"]
CIT_VALID = dt.date(2030, 1, 1)


@pytest.fixture
def pack(tmp_path):
    """A private copy of the default pack that a test may edit."""
    target = tmp_path / "pack"
    shutil.copytree(REPO / "rules" / "default", target)
    return target


async def _client(service) -> TestClient:
    client = TestClient(TestServer(build_app(service)))
    await client.start_server()
    return client


async def test_views_coverage_and_incident_lookup(broker, unique, tmp_path):
    settings = settings_for(broker, unique, tmp_path, api={"token": TOKEN})
    async with running(settings) as service, TopicReader(broker, settings.topics.recommendations) as out:
        await produce(broker, settings.topics.units, [
            ("P-1", unit_status("P-1", cit_until=CIT_VALID, crew_id="4411", district="D1")),
            ("P-2", unit_status("P-2", district="D2", lat=CENTRE[0] + 0.01)),
        ])
        await eventually(lambda: len(service.roster.units) == 2)
        await produce(broker, settings.topics.incidents, [("INC-A", incident_event("INC-A", narrative=CRISIS))])
        await out.wait_for(lambda r: r.key == b"INC-A")
        client = await _client(service)
        try:
            assert (await client.get("/v1/roster")).status == 401
            roster = await (await client.get("/v1/roster", headers=AUTH)).json()
            units = {u["unit_id"]: u for u in roster["units"]}
            assert set(units) == {"P-1", "P-2"}
            coverage = await (await client.get("/v1/coverage", headers=AUTH)).json()
            by_district = {d["district"]: d for d in coverage["districts"]}
            assert by_district["D1"]["cit_on_duty"] == 1 and by_district["D1"]["cit_available"] == 1
            assert by_district["D2"]["cit_on_duty"] == 0 and by_district["D2"]["below_minimum"] is True
            incident = await (await client.get("/v1/incidents/INC-A", headers=AUTH)).json()
            assert incident["assessment"]["crisis"] is True
            assert incident["recommendation"]["candidates"][0]["unit_id"] == "P-1"
            assert (await client.get("/v1/incidents/NOPE", headers=AUTH)).status == 404
            metrics = await (await client.get("/metrics")).text()
            assert 'dispatch_bridge_recommendations_published_total{response="' in metrics
            assert "INC-A" not in metrics  # no incident ids as labels
        finally:
            await client.close()


async def test_rules_reload_swaps_a_good_pack_and_keeps_serving_on_a_broken_one(broker, unique, tmp_path, pack):
    settings = settings_for(broker, unique, tmp_path, api={"token": TOKEN}, rules_dir=str(pack),
                            rules={"reload_poll_seconds": 0})
    async with running(settings) as service, TopicReader(broker, settings.topics.recommendations) as out:
        client = await _client(service)
        try:
            before = await (await client.get("/v1/rules", headers=AUTH)).json()
            manifest = pack / "pack.yaml"
            manifest.write_text(manifest.read_text().replace(before["active"]["version"], "2099.1.1"))
            reloaded = await (await client.post("/v1/rules/reload", headers=AUTH)).json()
            assert reloaded["active"]["version"] == "2099.1.1"
            (pack / "route.yaml").write_text("rules: [this is: not valid\n")
            rejected = await (await client.post("/v1/rules/reload", headers=AUTH)).json()
            assert rejected["active"]["version"] == "2099.1.1"
            assert rejected["last_failure"]["errors"]
            # The old pack keeps serving: a crisis still gets a recommendation stamped with it.
            await produce(broker, settings.topics.incidents, [("INC-R", incident_event("INC-R", narrative=CRISIS))])
            rec = orjson.loads((await out.wait_for(lambda r: r.key == b"INC-R")).value)
            assert rec["ruleset_version"] == "2099.1.1"
            assert service.metrics.ruleset_reloads.labels("rejected")._value.get() == 1
        finally:
            await client.close()


async def test_roster_change_reranks_open_crisis_incident_without_cit(broker, unique, tmp_path):
    settings = settings_for(broker, unique, tmp_path)
    async with running(settings) as service, TopicReader(broker, settings.topics.recommendations) as out:
        await produce(broker, settings.topics.units, [
            ("P-PLAIN", unit_status("P-PLAIN")),
            ("P-CIT", unit_status("P-CIT", status="dispatched", cit_until=CIT_VALID, crew_id="4411",
                                  lat=CENTRE[0] + 0.01)),
        ])
        await eventually(lambda: len(service.roster.units) == 2)
        await produce(broker, settings.topics.incidents, [("INC-W", incident_event("INC-W", narrative=CRISIS))])
        first = orjson.loads((await out.wait_for(lambda r: r.key == b"INC-W")).value)
        assert "no_cit_available" in first["fallbacks"]
        assert first["candidates"][0]["unit_id"] == "P-PLAIN"
        # The CIT unit comes free: the open incident is ranked again and a new recommendation goes out.
        await produce(broker, settings.topics.units, [
            ("P-CIT", unit_status("P-CIT", status="available", cit_until=CIT_VALID, crew_id="4411",
                                  lat=CENTRE[0] + 0.01, at=T0 + dt.timedelta(minutes=5))),
        ])
        await eventually(lambda: len(out.for_incident("INC-W")) == 2, timeout=20)
        second = out.for_incident("INC-W")[1]
        assert (first["trigger"], second["trigger"]) == ("incident_update", "roster_change")
        assert second["candidates"][0]["unit_id"] == "P-CIT"
        assert "no_cit_available" not in second["fallbacks"]
        assert second["incident_revision"] == 1

        # The outcome store keeps both (the report judges dispatch against every choice it was offered).
        async def recorded() -> list[str]:
            [outcome] = await service.store.crisis_outcomes(T0 - dt.timedelta(days=1), T0 + dt.timedelta(days=1))
            return [rec.candidates[0].unit_id for rec in outcome.recommendations]

        async with asyncio.timeout(20):
            while await recorded() != ["P-PLAIN", "P-CIT"]:
                await asyncio.sleep(0.05)


async def test_feedback_from_api_and_topic_explains_overrides_and_bad_feedback_is_dead_lettered(
        broker, unique, tmp_path):
    settings = settings_for(broker, unique, tmp_path, api={"token": TOKEN})
    async with (running(settings) as service,
                TopicReader(broker, settings.topics.recommendations) as out,
                TopicReader(broker, settings.topics.deadletter) as dlq):
        await produce(broker, settings.topics.units, [("P-1", unit_status("P-1", cit_until=CIT_VALID))])
        await eventually(lambda: len(service.roster.units) == 1)
        # Two crisis calls; dispatch sends a unit that was not recommended (and has no CIT officer) to both.
        other = [{"unit_id": "P-OTHER", "dispatched_at": (T0 + dt.timedelta(minutes=2)).isoformat()}]
        await produce(broker, settings.topics.incidents, [
            (i, incident_event(i, narrative=CRISIS)) for i in ("INC-F", "INC-G")
        ] + [
            (i, incident_event(i, 2, narrative=CRISIS, units=other, event_type="incident.updated"))
            for i in ("INC-F", "INC-G")
        ])
        await eventually(lambda: service.processor.book.get("INC-G") is not None
                         and service.processor.book.get("INC-G").event.incident.revision == 2)
        client = await _client(service)
        try:
            bad = await client.post("/v1/incidents/INC-F/feedback", headers=AUTH,
                                    json={"reason_code": "because I said so 555-0100"})
            assert bad.status == 400
            assert "555-0100" not in await bad.text()
            ok = await client.post("/v1/incidents/INC-F/feedback", headers=AUTH,
                                   json={"reason_code": "team_unavailable"})
            assert ok.status == 201
            await produce(broker, settings.topics.feedback, [
                ("INC-G", {"incident_id": "INC-G", "reason_code": "caller_declined", "at": T0.isoformat()}),
                ("INC-H", {"incident_id": "INC-H", "reason_code": "not-a-code"}),
            ])
            await eventually(lambda: len(dlq.records) == 1, timeout=30)
            assert dict(dlq.records[0].headers)["dlq_error_class"] == b"invalid_feedback"
            assert dlq.records[0].key == b"INC-H"
            await eventually(lambda: service.feedback_consumer._pending == {} and
                             service.metrics.events_consumed.labels(settings.topics.feedback)._value.get() >= 2,
                             timeout=30)
            await eventually(lambda: service.incidents._pending == {}, timeout=10)
            day = T0.date().isoformat()
            report = await (await client.get(f"/v1/reports/summary?from={day}&to={day}", headers=AUTH)).json()
            overrides = report["overrides"]
            assert overrides["not_followed"] == 2
            assert overrides["reasons"]["team_unavailable"] == 1
            assert overrides["reasons"]["caller_declined"] == 1
            assert overrides["reason_sources"] == {"api": 1, "topic": 1}
            assert overrides["no_reason_recorded"] == 0
            assert len(out.for_incident("INC-F")) >= 1
        finally:
            await client.close()


async def test_report_summary_counts_the_funnel_from_live_traffic(broker, unique, tmp_path):
    settings = settings_for(broker, unique, tmp_path, api={"token": TOKEN})
    async with running(settings) as service, TopicReader(broker, settings.topics.recommendations) as out:
        await produce(broker, settings.topics.units, [
            ("P-1", unit_status("P-1", cit_until=CIT_VALID, crew_id="4411")),
        ])
        await eventually(lambda: len(service.roster.units) == 1)
        assigned = [{"unit_id": "P-1", "dispatched_at": (T0 + dt.timedelta(minutes=1)).isoformat(),
                     "on_scene_at": (T0 + dt.timedelta(minutes=6)).isoformat()}]
        await produce(broker, settings.topics.incidents, [("INC-1", incident_event("INC-1", narrative=CRISIS))])
        await eventually(lambda: len(out.for_incident("INC-1")) == 1)  # recommended before the CIT unit is sent
        await produce(broker, settings.topics.incidents, [
            ("INC-1", incident_event("INC-1", 2, narrative=CRISIS, units=assigned, event_type="incident.updated")),
            ("INC-2", incident_event("INC-2", nature_code="THEFT", nature_text="THEFT FROM AUTO")),
            ("INC-3", incident_event("INC-3", nature_code="TRAFFIC", nature_text="MINOR ACCIDENT")),
        ])
        await eventually(lambda: len(out.for_incident("INC-1")) == 2)
        assert out.for_incident("INC-1")[1]["fallbacks"] == ["cit_responder_assigned"]
        await eventually(lambda: service.processor.book.get("INC-3") is not None)
        await eventually(lambda: service.incidents._pending == {}, timeout=10)
        client = await _client(service)
        try:
            day = T0.date().isoformat()
            resp = await client.get(f"/v1/reports/summary?from={day}&to={day}", headers=AUTH)
            assert resp.status == 200
            funnel = (await resp.json())["funnel"]
            assert funnel["calls"] == 3
            assert funnel["flagged"] == 1
            assert funnel["cit_recommended"] == 1
            assert funnel["cit_dispatched"] == 1
            assert funnel["cit_on_scene"] == 1
            assert (await client.get("/v1/reports/summary?from=x", headers=AUTH)).status == 400
        finally:
            await client.close()
