"""A replay of a known two-day event sequence through the store, on both backends: every report figure asserted.

The story (UTC agency, shifts day 07-15, evening 15-23, night 23-07; period 2026-03-02..03):
  A 03-02 08:00 D1 EDP, flagged cit_officer, CIT unit P1 recommended and sent (on scene 08:10), non-CIT P2 first
    on scene 08:06; closed MENTAL_HEALTH. Topic feedback "other" on a followed call must not count as override.
  B 03-02 16:00 D2 SUICTHRT, flagged co_response, P4 recommended, only non-CIT P2 sent; API says safety_concern.
  C 03-02 23:30 D1 WELFARE, flagged mobile_crisis, team M1 recommended and sent (on scene 23:50).
  D 03-02 10:00 D2 WELFARE not flagged at intake; updated to EDP and flagged cit_officer at 10:20 with the
    team out of hours; non-CIT P3 sent; CAD closes with MCT-UNAV (= team_unavailable).
  E 03-02 12:00 D1 DISTURB never flagged; P2 sent; closed with disposition CRISIS.
  F 03-02 13:00 D3 TRAFFIC, G 03-02 17:00 D3 THEFT (no triage): plain calls.
  H 03-03 02:00 D2 EDP flagged cit_officer, P4 recommended, nobody assigned yet.
  J 03-03 09:00 D3 MENTAL flagged cit_officer, team out of area, CIT P4 recommended and on scene 09:20.
  Outside the period: X 03-01 20:00 and Y 03-04 00:30, both flagged crisis calls.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest

from dispatch_bridge.contracts import IncidentEvent
from dispatch_bridge.domain import Assessment
from dispatch_bridge.outcomes import (
    CandidateRef,
    Feedback,
    IncidentSeen,
    RecommendationPublished,
    RosterSnapshot,
    StoreSettings,
    build_report,
    open_store,
    render_csv,
    render_html,
    render_json,
)
from tests.pg import pg_server, pg_url, store_url  # noqa: F401

UTC = dt.timezone.utc
DAY2 = dt.datetime(2026, 3, 2, tzinfo=UTC)
DAY3 = dt.datetime(2026, 3, 3, tzinfo=UTC)


def at(day: dt.datetime, hhmm: str) -> dt.datetime:
    hours, minutes = hhmm.split(":")
    return day + dt.timedelta(hours=int(hours), minutes=int(minutes))


def event(incident_id: str, revision: int, when: dt.datetime, nature: str, district: str, *,
          units: tuple[dict, ...] = (), disposition: tuple[str, ...] = (), closed: bool = False) -> IncidentEvent:
    return IncidentEvent.model_validate({
        "schema_version": 1,
        "event_id": f"{incident_id}-{revision}",
        "event_type": "incident.closed" if closed else ("incident.created" if revision == 0 else "incident.updated"),
        "occurred_at": when,
        "agency": "CITY",
        "incident": {
            "id": incident_id,
            "revision": revision,
            "nature_code": nature,
            "narrative": [{"text": "caller Jane Roe says her son is off his meds"}],
            "location": {"address": f"{100 + len(incident_id) * 7} Elm St Apt 3", "beat": "B" + district[-1],
                         "district": district},
            "units": list(units),
            "disposition": list(disposition),
        },
    })


def unit(unit_id: str, on_scene: dt.datetime | None = None, dispatched: dt.datetime | None = None) -> dict:
    return {"unit_id": unit_id, "dispatched_at": dispatched, "on_scene_at": on_scene}


def crisis(tier: str, score: float = 0.9) -> Assessment:
    return Assessment(crisis=True, score=score, response=tier, ruleset_version="r7", ruleset_sha256="abc")


CALM = Assessment(crisis=False, score=0.1, response="none", ruleset_version="r7", ruleset_sha256="abc")
CIT = frozenset({"P1", "P4"})
TEAMS = frozenset({"M1"})


def rec(incident_id: str, revision: int, tier: str, candidates: tuple[CandidateRef, ...],
        fallbacks: tuple[str, ...] = (), when: dt.datetime = DAY2) -> RecommendationPublished:
    return RecommendationPublished(incident_id, revision, "r7", tier, candidates, fallbacks, produced_at=when,
                                   occurred_at=when)


def seen(ev: IncidentEvent, assessment: Assessment | None) -> IncidentSeen:
    assigned = {u.unit_id for u in ev.incident.units}
    return IncidentSeen(ev, assessment, frozenset(assigned & CIT), frozenset(assigned & TEAMS))


P1, P4, M1 = CandidateRef("P1", "patrol", True), CandidateRef("P4", "patrol", True), CandidateRef("M1", "mobile_crisis")


def scenario() -> list:
    def a(hhmm: str) -> dt.datetime:
        return at(DAY2, hhmm)

    def day3(hhmm: str) -> dt.datetime:
        return at(DAY3, hhmm)

    records = [
        # A
        seen(event("A", 1, a("08:00"), "EDP", "D1"), crisis("cit_officer")),
        rec("A", 1, "cit_officer", (P1,), when=a("08:00")),
        seen(event("A", 2, a("08:01"), "EDP", "D1", units=(unit("P1", a("08:10"), a("08:01")), unit("P2", a("08:06")))),
             crisis("cit_officer")),
        seen(event("A", 3, a("09:00"), "EDP", "D1", units=(unit("P1", a("08:10"), a("08:01")), unit("P2", a("08:06"))),
                   disposition=("MENTAL_HEALTH",), closed=True), crisis("cit_officer")),
        Feedback("A", "other", "topic", a("09:05")),
        # B
        seen(event("B", 0, a("16:00"), "SUICTHRT", "D2"), crisis("co_response")),
        rec("B", 0, "co_response", (P4,), when=a("16:00")),
        seen(event("B", 1, a("16:02"), "SUICTHRT", "D2", units=(unit("P2", a("16:12")),)), crisis("co_response")),
        Feedback("B", "safety_concern", "api", a("16:05")),
        seen(event("B", 2, a("17:00"), "SUICTHRT", "D2", units=(unit("P2", a("16:12")),), closed=True),
             crisis("co_response")),
        # C
        seen(event("C", 0, a("23:30"), "WELFARE", "D1"), crisis("mobile_crisis", 0.7)),
        rec("C", 0, "mobile_crisis", (M1,), when=a("23:30")),
        seen(event("C", 1, a("23:35"), "WELFARE", "D1", units=(unit("M1", a("23:50")),)), crisis("mobile_crisis", 0.7)),
        # D
        seen(event("D", 0, a("10:00"), "WELFARE", "D2"), CALM),
        seen(event("D", 1, a("10:20"), "EDP", "D2"), crisis("cit_officer")),
        rec("D", 1, "cit_officer", (P1,), ("team_out_of_hours",), when=a("10:20")),
        seen(event("D", 2, a("10:25"), "EDP", "D2", units=(unit("P3", a("10:40")),)), crisis("cit_officer")),
        seen(event("D", 3, a("11:00"), "EDP", "D2", units=(unit("P3", a("10:40")),), disposition=("MCT-UNAV",),
                   closed=True), crisis("cit_officer")),
        # E
        seen(event("E", 0, a("12:00"), "DISTURB", "D1"), CALM),
        seen(event("E", 1, a("12:30"), "DISTURB", "D1", units=(unit("P2", a("12:10")),), disposition=("CRISIS",),
                   closed=True), CALM),
        # F, G
        seen(event("F", 0, a("13:00"), "TRAFFIC", "D3"), CALM),
        seen(event("G", 0, a("17:00"), "THEFT", "D3"), None),
        # H
        seen(event("H", 0, day3("02:00"), "EDP", "D2"), crisis("cit_officer")),
        rec("H", 0, "cit_officer", (P4,), when=day3("02:00")),
        # J
        seen(event("J", 0, day3("09:00"), "MENTAL", "D3"), crisis("cit_officer")),
        rec("J", 0, "cit_officer", (P4,), ("team_out_of_area",), when=day3("09:00")),
        seen(event("J", 1, day3("09:05"), "MENTAL", "D3", units=(unit("P4", day3("09:20")),)), crisis("cit_officer")),
        # outside the period
        seen(event("X", 0, at(DAY2, "-4:00"), "EDP", "D1", units=(unit("P2", at(DAY2, "-3:50")),)),
             crisis("cit_officer")),
        Feedback("X", "caller_declined", "api", at(DAY2, "-3:00")),
        seen(event("Y", 0, at(DAY3, "24:30"), "EDP", "D1"), crisis("cit_officer")),
        # roster: D1 08h (2), 09h (1, below), 16h (3); D2 02h on 03-03 (0, below), D2 10h two snapshots (2 then 1)
        RosterSnapshot(at(DAY2, "08:00"), {"D1": (2, 1)}),
        RosterSnapshot(at(DAY2, "09:15"), {"D1": (1, 0)}),
        RosterSnapshot(at(DAY2, "16:00"), {"D1": (3, 2)}),
        RosterSnapshot(at(DAY3, "02:00"), {"D2": (0, 0)}),
        RosterSnapshot(at(DAY2, "10:00"), {"D2": (2, 2)}),
        RosterSnapshot(at(DAY2, "10:30"), {"D2": (1, 1)}),
        RosterSnapshot(at(DAY2, "-14:00"), {"D1": (0, 0)}),
    ]
    return records


PERSONNEL = [("O1", dt.date(2026, 3, 10)), ("O2", dt.date(2026, 6, 1)), ("O3", dt.date(2026, 6, 2)),
             ("O4", dt.date(2026, 2, 1)), ("O5", None)]

STEPS = ("calls", "flagged", "cit_recommended", "cit_dispatched", "cit_on_scene")


def steps(*values: int) -> dict[str, int]:
    return dict(zip(STEPS, values, strict=True))


def settings_for(url: str) -> StoreSettings:
    return StoreSettings(url=url, disposition_reasons={"MCT-UNAV": "team_unavailable"})


async def replayed_report(url: str) -> dict:
    store = await open_store(settings_for(url))
    try:
        records = scenario()
        # Out of order, in uneven batches, and the whole stream redelivered: the figures must not move.
        random.Random(5).shuffle(records)
        for i in range(0, len(records), 7):
            await store.write(records[i:i + 7])
        await store.write(records[::-1])
        return await build_report(store, dt.date(2026, 3, 2), dt.date(2026, 3, 3), personnel=PERSONNEL)
    finally:
        await store.close()


async def test_replay_report_every_figure(store_url: str) -> None:
    report = await replayed_report(store_url)

    assert report["period"] == {"from": "2026-03-02", "to": "2026-03-03", "timezone": "UTC"}
    assert report["store"] == {"backend": store_url.split(":", 1)[0], "schema_version": 3}
    assert len(report["data_sources"]) == 5 and len(report["caveats"]) == 8

    funnel = report["funnel"]
    assert {k: funnel[k] for k in STEPS} == steps(9, 6, 5, 2, 2)
    assert funnel["rates"] == {"flagged_of_calls": 0.6667, "cit_recommended_of_flagged": 0.8333,
                               "cit_dispatched_of_recommended": 0.4, "cit_on_scene_of_recommended": 0.4}
    assert funnel["by_tier"] == {
        "cit_officer": steps(4, 4, 4, 2, 2),
        "co_response": steps(1, 1, 1, 0, 0),
        "mobile_crisis": steps(1, 1, 0, 0, 0),
        "not_flagged": steps(3, 0, 0, 0, 0),
    }
    assert funnel["by_district"] == {"D1": steps(3, 2, 1, 1, 1), "D2": steps(3, 3, 3, 0, 0),
                                     "D3": steps(3, 1, 1, 1, 1)}
    assert funnel["by_shift"] == {"day": steps(5, 3, 3, 2, 2), "evening": steps(2, 1, 1, 0, 0),
                                  "night": steps(2, 2, 1, 0, 0)}

    assert report["response_times"] == {
        # first unit on scene: A 6 min, B 12, C 20, J 20, D 40 (from the first CAD event, not the flag)
        "first_unit_on_scene": {"calls": 5, "median_seconds": 1200.0, "p90_seconds": 2400.0},
        # first CIT on scene: A 10 min, J 20
        "first_cit_on_scene": {"calls": 2, "median_seconds": 900.0, "p90_seconds": 1200.0},
    }
    assert report["mobile_crisis"] == {
        "team_recommended": 1,
        "team_dispatched": 1,
        "team_dispatched_when_recommended": 1,
        "eligible_missed": {"total": 2, "hours": 1, "area": 1, "availability": 0},
    }
    assert report["overrides"] == {
        "judged": 5,
        "followed": 3,
        "not_followed": 2,
        "follow_rate": 0.6,
        "no_unit_assigned": 1,
        "reasons": {"team_unavailable": 1, "caller_declined": 0, "safety_concern": 1, "dispatcher_judgment": 0,
                    "other": 0},
        "no_reason_recorded": 0,
        "reason_sources": {"api": 1, "cad": 1},
    }
    assert report["missed_at_intake"] == {
        "ended_as_crisis": 6,
        "not_flagged": 1,
        "flagged_later": 1,
        "by_initial_call_type": [
            {"initial_call_type": "DISTURB", "not_flagged": 1, "flagged_later": 0},
            {"initial_call_type": "WELFARE", "not_flagged": 0, "flagged_later": 1},
        ],
    }
    empty_shift = {"hours": 0, "mean_on_duty_cit": None, "min_on_duty_cit": None, "hours_below_minimum": 0}
    assert report["coverage"] == {
        "minimum_per_district": 2,
        "hours_in_period": 48,
        "hours_below_minimum": 3,
        "districts": {
            "D1": {"hours_with_data": 3, "hours_without_data": 45, "hours_below_minimum": 1, "by_shift": {
                "day": {"hours": 2, "mean_on_duty_cit": 1.5, "min_on_duty_cit": 1, "hours_below_minimum": 1},
                "evening": {"hours": 1, "mean_on_duty_cit": 3.0, "min_on_duty_cit": 3, "hours_below_minimum": 0},
                "night": empty_shift}},
            "D2": {"hours_with_data": 2, "hours_without_data": 46, "hours_below_minimum": 2, "by_shift": {
                "day": {"hours": 1, "mean_on_duty_cit": 1.0, "min_on_duty_cit": 1, "hours_below_minimum": 1},
                "evening": empty_shift,
                "night": {"hours": 1, "mean_on_duty_cit": 0.0, "min_on_duty_cit": 0, "hours_below_minimum": 1}}},
        },
    }
    assert report["certifications"] == {
        "provided": True,
        "as_of": "2026-03-03",
        "window_days": 90,
        "officers": 5,
        "expired": 1,
        "expiring": [{"officer_id": "O1", "expires_on": "2026-03-10"},
                     {"officer_id": "O2", "expires_on": "2026-06-01"}],
    }
    assert report["cit_class_candidates"] == [{"unit_id": "P2", "crisis_calls_without_cit": 3},
                                              {"unit_id": "P3", "crisis_calls_without_cit": 1}]


async def test_report_rejects_reversed_period(tmp_path) -> None:
    store = await open_store(StoreSettings(url=f"sqlite:///{tmp_path}/r.db"))
    try:
        with pytest.raises(ValueError, match="ends before it starts"):
            await build_report(store, dt.date(2026, 3, 3), dt.date(2026, 3, 2))
    finally:
        await store.close()


async def test_shifts_follow_the_agency_time_zone(tmp_path) -> None:
    # 02:30 UTC on 2026-03-02 is 18:30 the evening before in Los Angeles: evening shift, and outside a
    # 2026-03-02 local-date period; 16:00 UTC is 08:00 local: day shift, inside.
    settings = StoreSettings(url=f"sqlite:///{tmp_path}/tz.db", timezone="America/Los_Angeles")
    store = await open_store(settings)
    try:
        await store.write([
            seen(event("L1", 0, at(DAY2, "02:30"), "EDP", "D1"), crisis("cit_officer")),
            seen(event("L2", 0, at(DAY2, "16:00"), "EDP", "D1"), crisis("cit_officer")),
        ])
        report = await build_report(store, dt.date(2026, 3, 2), dt.date(2026, 3, 2))
        assert report["funnel"]["calls"] == 1
        assert report["funnel"]["by_shift"]["day"]["flagged"] == 1
        assert report["funnel"]["by_shift"]["evening"]["calls"] == 0
        previous = await build_report(store, dt.date(2026, 3, 1), dt.date(2026, 3, 1))
        assert previous["funnel"]["by_shift"]["evening"] == steps(1, 1, 0, 0, 0)
        assert report["certifications"] == {"provided": False, "as_of": "2026-03-02", "window_days": 90}
    finally:
        await store.close()


async def test_renderers_carry_the_figures(tmp_path) -> None:
    report = await replayed_report(f"sqlite:///{tmp_path}/render.db")

    assert '"calls": 9' in render_json(report)

    csv_text = render_csv(report)
    assert csv_text.splitlines()[0] == "section,metric,value"
    assert "funnel,cit_on_scene,2" in csv_text
    assert "funnel,by_district.D2.flagged,3" in csv_text
    assert "cit_class_candidates,[P2].crisis_calls_without_cit,3" in csv_text
    assert "missed_at_intake,by_initial_call_type[DISTURB].not_flagged,1" in csv_text

    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>")
    assert "2026-03-02 to 2026-03-03" in page
    assert "Of 9 calls, 6 were flagged" in page and "dispatched on 2 and on scene on 2" in page
    assert "1 call with a team" in page and "2 eligible calls got no team" in page
    assert "Where these numbers come from" in page and "Read with care" in page
    assert page.count("Plotly.newPlot") >= 6
    assert "O2" in page and "P2" in page
