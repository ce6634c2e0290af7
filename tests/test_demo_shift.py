"""The bundled sample shift (data) and how recommendations are shown to a dispatcher (rendering)."""

from __future__ import annotations

import datetime as dt
import io
import re
import typing
from collections import Counter, defaultdict
from pathlib import Path

import orjson
import pytest

from dispatch_bridge.contracts import IncidentEvent, UnitStatus
from dispatch_bridge.contracts.recommendation import ResponseTier
from dispatch_bridge.demo import fleet
from dispatch_bridge.demo.render import (
    FALLBACK_WORDS,
    TIER_WORDS,
    render_recommendation,
    render_summary,
    wants_colour,
)
from dispatch_bridge.demo.shift import Shift, build_shift, dump_jsonl, main
from dispatch_bridge.demo.tally import Tally
from dispatch_bridge.recommend import ranking
from dispatch_bridge.roster.personnel import load_personnel_file
from dispatch_bridge.roster.schedule import ServiceSchedule
from dispatch_bridge.roster.teams import load_teams_file

# A unit's status may only move along these edges (AVL reports repeat "available" / "enroute").
_NEXT = {
    "available": {"available", "dispatched", "out_of_service", "off_duty"},
    "dispatched": {"enroute"},
    "enroute": {"enroute", "on_scene"},
    "on_scene": {"available", "off_duty"},
    "out_of_service": {"available"},
    "off_duty": {"available"},
}


@pytest.fixture(scope="module")
def shift() -> Shift:
    return build_shift()


def _incident_events(shift: Shift) -> list[tuple[float, IncidentEvent]]:
    return [(at, e) for at, kind, e in shift.timeline if kind == "incidents" and isinstance(e, IncidentEvent)]


def _unit_events(shift: Shift) -> list[tuple[float, UnitStatus]]:
    return [(at, e) for at, kind, e in shift.timeline if kind == "units" and isinstance(e, UnitStatus)]


def _last_snapshots(shift: Shift) -> dict[str, IncidentEvent]:
    last: dict[str, IncidentEvent] = {}
    for _, event in _incident_events(shift):
        known = last.get(event.incident.id)
        if known is None or event.incident.revision > known.incident.revision:
            last[event.incident.id] = event
    return last


# --- determinism -------------------------------------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_other_shift() -> None:
    first = [tuple(r) for r in build_shift(seed=11, calls=60).records()]
    again = [tuple(r) for r in build_shift(seed=11, calls=60).records()]
    other = [tuple(r) for r in build_shift(seed=12, calls=60).records()]
    assert first == again
    assert first != other


def test_timestamps_follow_start_plus_offset(shift: Shift) -> None:
    start = dt.datetime(2026, 6, 2, 7, 0, tzinfo=dt.UTC)
    moved = build_shift(seed=3, start=start, calls=40)
    # Redeliveries and late snapshots keep their own (earlier) time; everything else happens at start + offset.
    late = {e.event_id for e in _out_of_order_events(moved)}
    assert late, "the shift should hold late (out-of-order) snapshots"
    seen: set[str] = set()
    for at, _, event in moved.timeline:
        expected = start + dt.timedelta(seconds=at)
        if isinstance(event, UnitStatus):
            assert event.updated_at == expected
            assert event.location is not None and event.location.at == expected
        elif event.event_id in late or event.event_id in seen:
            assert event.occurred_at < expected
        else:
            assert event.occurred_at == expected
        if isinstance(event, IncidentEvent):
            seen.add(event.event_id)
    assert all(u.updated_at == start for u in moved.units)


def test_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_shift(start=dt.datetime(2026, 3, 13, 16, 0))


# --- what is in it ---------------------------------------------------------------------------------------------


def test_roster_has_patrol_cit_fifth_and_teams(shift: Shift) -> None:
    day = shift.start.date()
    patrol = [u for u in shift.units if u.kind == "patrol"]
    assert len(patrol) == 40
    assert {u.district for u in patrol} == {"D1", "D2", "D3", "D4"}
    assert len({u.beat for u in patrol}) == 12
    valid = [u for u in patrol if any(m.cit_certified_until and m.cit_certified_until >= day for m in u.crew)]
    assert len(valid) / len(patrol) == pytest.approx(0.2, abs=0.03)
    dates = [m.cit_certified_until for u in patrol for m in u.crew if m.cit_certified_until]
    assert any(d < day for d in dates), "some certifications have lapsed"
    assert any(day <= d <= day + dt.timedelta(days=30) for d in dates), "some expire within the month"
    teams = [u for u in shift.units if u.kind == "mobile_crisis"]
    assert len(teams) == 2
    assert all(t.service_hours is not None and t.service_area is not None for t in teams)
    assert [u.kind for u in shift.units].count("co_responder") == 1
    for unit in shift.units:
        assert unit.location is not None
        assert abs(unit.location.lat - 41.88) < 0.05 and abs(unit.location.lon + 87.63) < 0.07


def test_calls_mix_revisions_and_feed_faults(shift: Shift) -> None:
    facts = shift.facts
    events = _incident_events(shift)
    assert len(facts) == 200
    assert {e.incident.id for _, e in events} == set(facts)
    behavioral = [f for f in facts.values() if f.behavioral]
    assert 0.25 <= len(behavioral) / len(facts) <= 0.30
    # Half the crises arrive as something else (New Orleans: about half of final mental-health calls did).
    recoded = [f for f in behavioral if f.first_nature_code != f.final_nature_code]
    assert len(recoded) >= 10 and all(f.final_nature_code == "EDP" for f in recoded)
    codes = {e.incident.nature_code for _, e in events}
    assert {"EDP", "SUICTHRT", "WELFARE", "INTOX", "OD", "DVA", "BURG", "THEFT", "ALARM", "SUSP"} <= codes
    determinants = {e.incident.determinant for _, e in events if e.incident.determinant}
    assert {"25A02", "25B03", "25B04"} <= determinants  # MPDS Protocol 25

    by_incident: dict[str, list[IncidentEvent]] = defaultdict(list)
    for _, event in events:
        by_incident[event.incident.id].append(event)
    weapon_added = [
        i for i, evs in by_incident.items()
        if "WEAPON" not in evs[0].incident.flags and any("WEAPON" in e.incident.flags for e in evs)
    ]  # fmt: skip
    assert weapon_added, "some calls gain a weapon in a later revision"
    assert sum(f.weapon for f in facts.values()) >= 5
    assert sum(f.revisions >= 4 for f in facts.values()) > 150

    seen = Counter((e.incident.id, e.incident.revision) for _, e in events)
    assert sum(1 for n in seen.values() if n > 1) == sum(f.duplicates for f in facts.values()) >= 4
    late = _out_of_order_events(shift)
    assert len(late) == sum(f.out_of_order for f in facts.values()) >= 2
    # Every incident opens with a created event and ends closed, with dispositions.
    for evs in by_incident.values():
        assert evs[0].event_type == "incident.created" and evs[0].incident.revision == 1
        final = max(evs, key=lambda e: e.incident.revision)
        assert final.event_type == "incident.closed" and final.incident.disposition


def _out_of_order_events(shift: Shift) -> list[IncidentEvent]:
    """Revisions seen for the first time after a newer revision of the same incident (not resends)."""
    highest: dict[str, int] = {}
    seen: set[tuple[str, int]] = set()
    late = []
    for _, event in _incident_events(shift):
        top = highest.get(event.incident.id, 0)
        pair = (event.incident.id, event.incident.revision)
        if event.incident.revision < top and pair not in seen:
            late.append(event)
        seen.add(pair)
        highest[event.incident.id] = max(top, event.incident.revision)
    return late


def test_narratives_are_cad_shorthand_without_phone_numbers(shift: Shift) -> None:
    texts = [n.text for e in _last_snapshots(shift).values() for n in e.incident.narrative]
    joined = "\n".join(texts)
    for cue in ("OFF MEDS", "NO WPNS SEEN", "UNK WEAPS", "DENIES SI", "5150", "PINK SLIP"):
        assert cue in joined
    # No phone numbers (ten digits in the usual groupings) anywhere in the narratives.
    assert re.search(r"\d{3}[-. ]\d{3}[-. ]\d{4}", joined) is None
    for event in _last_snapshots(shift).values():
        assert all(n.at is not None and n.at <= event.occurred_at for n in event.incident.narrative)


# --- wire validity ---------------------------------------------------------------------------------------------


def test_every_event_survives_the_wire(shift: Shift) -> None:
    models = {"incidents": IncidentEvent, "units": UnitStatus}
    count = 0
    for record in shift.records():
        model = models[record.kind]
        decoded = model.model_validate_json(record.value)
        assert decoded.model_dump_json().encode() == record.value
        key = decoded.incident.id if isinstance(decoded, IncidentEvent) else decoded.unit_id
        assert key == record.key
        count += 1
    assert count == len(shift.units) + len(shift.timeline)


def test_dump_jsonl_and_cli(tmp_path: Path, shift: Shift) -> None:
    path = tmp_path / "shift.jsonl"
    lines = dump_jsonl(shift, path, topics={"incidents": "t.inc"})
    rows = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert len(rows) == lines == len(shift.units) + len(shift.timeline)
    assert {r["topic"] for r in rows} == {"t.inc", "cad.units"}
    assert [r["at"] for r in rows] == sorted(r["at"] for r in rows)
    first_incident = next(r for r in rows if r["topic"] == "t.inc")
    IncidentEvent.model_validate_json(orjson.dumps(first_incident["value"]))

    out = tmp_path / "cli.jsonl"
    assert main(["--out", str(out), "--calls", "30", "--seed", "5", "--personnel", str(tmp_path / "p.csv"),
                 "--teams", str(tmp_path / "teams.yaml")]) == 0  # fmt: skip
    assert out.read_bytes().count(b"\n") == sum(1 for _ in build_shift(seed=5, calls=30).records())


def test_personnel_and_teams_files_load_in_the_roster(tmp_path: Path, shift: Shift) -> None:
    personnel = tmp_path / "personnel.csv"
    personnel.write_text(shift.personnel_csv(), encoding="utf-8")
    records = {r.officer_id: r for r in load_personnel_file(personnel)}
    day = shift.start.date()
    current = {r.officer_id for r in records.values() if r.expires_on and r.expires_on >= day}
    on_units = {
        m.id for u in shift.units for m in u.crew if m.cit_certified_until and m.cit_certified_until >= day
    }
    assert current == on_units
    teams_file = tmp_path / "teams.yaml"
    teams_file.write_text(shift.teams_yaml(), encoding="utf-8")
    teams = load_teams_file(teams_file)
    assert set(teams) == {"MCT-1", "MCT-2", "CR-1"}


def test_demo_service_hours_agree_with_the_roster_schedule(shift: Shift) -> None:
    for plan in shift.plans:
        if plan.service_hours is None:
            continue
        schedule = ServiceSchedule(plan.service_hours)
        flips = 0
        previous = None
        for minute in range(0, 10 * 60, 5):
            now = shift.start + dt.timedelta(minutes=minute)
            ours = fleet.in_service(plan.service_hours, None, now, None)
            assert ours == schedule.on_shift(now), (plan.unit_id, now)
            flips += previous is not None and ours != previous
            previous = ours
        if plan.unit_id in ("MCT-1", "CR-1"):
            assert flips >= 1, f"{plan.unit_id} should go off shift during the watch"


# --- unit movements --------------------------------------------------------------------------------------------


def test_unit_movements_are_consistent(shift: Shift) -> None:
    state = {u.unit_id: u for u in shift.units}
    incidents = _last_snapshots(shift)
    plans = {p.unit_id: p for p in shift.plans}
    dispatched_to: dict[tuple[str, str], dt.datetime] = {}
    on_scene_at: dict[tuple[str, str], dt.datetime] = {}
    for _, event in _unit_events(shift):
        before = state[event.unit_id]
        assert event.status in _NEXT[before.status], (event.unit_id, before.status, event.status)
        assert event.updated_at > before.updated_at
        assert event.kind == before.kind and event.crew == before.crew
        if event.status in ("dispatched", "enroute", "on_scene"):
            assert event.assignment_id in incidents
        if event.status == "dispatched":
            dispatched_to[(event.unit_id, event.assignment_id or "")] = event.updated_at
            plan = plans[event.unit_id]
            if plan.service_hours is not None:
                district = incidents[event.assignment_id or ""].incident.location.district  # type: ignore[union-attr]
                assert fleet.in_service(plan.service_hours, plan.service_area, event.updated_at, district)
        if event.status == "on_scene":
            location = incidents[event.assignment_id or ""].incident.location
            assert location is not None and event.location is not None
            assert (event.location.lat, event.location.lon) == (location.lat, location.lon)
            on_scene_at[(event.unit_id, event.assignment_id or "")] = event.updated_at
        if before.status == "on_scene" and event.location is not None and before.location is not None:
            assert (event.location.lat, event.location.lon) == (before.location.lat, before.location.lon)
        state[event.unit_id] = event

    # The CAD's per-unit times on each call match what the units reported.
    assigned = 0
    for incident_id, event in incidents.items():
        for unit in event.incident.units:
            assigned += 1
            assert dispatched_to[(unit.unit_id, incident_id)] == unit.dispatched_at
            assert on_scene_at[(unit.unit_id, incident_id)] == unit.on_scene_at
            assert unit.dispatched_at < unit.enroute_at < unit.on_scene_at < unit.cleared_at  # type: ignore[operator]
    assert assigned >= 200
    assert any(k[0].startswith("MCT-") for k in dispatched_to), "a mobile crisis team is sent at least once"


def test_patrol_cars_report_positions_while_free(shift: Shift) -> None:
    pings = [e for _, e in _unit_events(shift) if e.status == "available" and e.kind == "patrol"]
    assert len(pings) > 500
    assert len({e.unit_id for e in pings}) == 40


# --- rendering -------------------------------------------------------------------------------------------------


def _recommendation(evidence: str) -> dict[str, typing.Any]:
    return {
        "schema_version": 1,
        "incident_id": "INC-0042",
        "incident_revision": 3,
        "ruleset_version": "2026.11.1",
        "ruleset_sha256": "0" * 64,
        "crisis": True,
        "score": 0.82,
        "response": "mobile_crisis",
        "safety_flags": ["weapon_unknown"],
        "reasons": [
            {"rule": "include.suicidal", "because": "caller reports suicidal statements", "evidence": evidence},
            {"rule": "include.meds", "because": "off medication", "evidence": evidence},
        ],
        "candidates": [
            {"unit_id": "P-114", "kind": "patrol", "eta_seconds": 180, "distance_m": 1200, "cit_members": ["4411"],
             "why": "CIT: Ofc 4411, available, 1.2 km, ~3 min, same beat"},
            {"unit_id": "P-122", "kind": "patrol", "eta_seconds": 420, "distance_m": 2900, "cit_members": [],
             "why": ""},
            {"unit_id": "P-131", "kind": "patrol", "eta_seconds": 500, "distance_m": 3300, "cit_members": [],
             "why": "available, 3.3 km"},
            {"unit_id": "P-132", "kind": "patrol", "eta_seconds": 560, "distance_m": 3900, "cit_members": [],
             "why": "available, 3.9 km"},
        ],
        "fallbacks": ["team_out_of_hours"],
        "occurred_at": "2026-03-13T21:04:09-05:00",
        "produced_at": "2026-11-27T10:00:00+00:00",
        "source_event_id": "LKPD-INC-0042-r3",
    }  # fmt: skip


def test_render_shows_the_facts_and_never_the_narrative(shift: Shift) -> None:
    narrative = next(iter(_last_snapshots(shift).values())).incident.narrative[0].text
    text = render_recommendation(_recommendation(narrative))
    lines = text.splitlines()
    assert lines[0].startswith("21:04  INC-0042 rev 3  CRISIS → mobile crisis team (score 0.82)")
    assert "⚠ weapons unknown" in lines[0]
    assert "because: caller reports suicidal statements; off medication" in text
    assert "1) P-114  CIT: Ofc 4411, available, 1.2 km, ~3 min, same beat" in text
    assert "2) P-122  no CIT officer aboard, 2.9 km, ~7 min" in text
    assert "3) P-131" in text and "P-132" not in text and "(+1 more)" in text
    assert "fallback: mobile crisis team out of hours → CIT officer" in text
    assert narrative not in text
    assert "\x1b[" not in text
    assert "\x1b[" in render_recommendation(_recommendation(narrative), colour=True)


def test_render_without_candidates_and_unknown_codes() -> None:
    rec = _recommendation("x") | {
        "candidates": [],
        "fallbacks": ["nobody_available", "brand_new_code:MCT-9"],
        "response": "cit_officer",
        "safety_flags": ["new_flag"],
    }
    text = render_recommendation(rec)
    assert "send: no unit to suggest" in text
    assert "fallback: no unit available; brand new code (MCT-9) → dispatcher's choice" in text
    assert "⚠ new flag" in text
    cleared = render_recommendation(rec | {"crisis": False, "response": "none", "score": 0.1, "candidates": []})
    assert "not a crisis call" in cleared and "no unit to suggest" not in cleared


def test_every_tier_and_fallback_code_has_words() -> None:
    assert set(typing.get_args(ResponseTier)) <= set(TIER_WORDS)
    codes = {v for k, v in vars(ranking).items() if k.isupper() and isinstance(v, str) and v.islower()}
    assert {"team_out_of_hours", "no_cit_available", "nobody_available"} <= codes
    assert codes <= set(FALLBACK_WORDS)


def test_colour_only_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert wants_colour(Tty(), {}) is True
    assert wants_colour(Tty(), {"NO_COLOR": "1"}) is False
    assert wants_colour(io.StringIO(), {}) is False


def test_tally_and_summary() -> None:
    tally = Tally()
    rec = _recommendation("x")
    tally.add(rec, 10.0)
    tally.add(rec | {"incident_revision": 4, "response": "cit_officer", "fallbacks": []}, 30.0)
    tally.add(rec | {"incident_id": "INC-0050", "candidates": [], "fallbacks": ["nobody_available"]}, 50.0)
    stats = tally.stats(calls=200, events=3300, dead_letters=2, behavioral_truth=54, duration_s=80.4)
    assert stats["crisis"] == 2
    assert stats["by_tier"] == {"cit_officer": 1, "mobile_crisis": 1}
    assert stats["with_cit_candidate"] == 2
    assert stats["fallbacks"] == {"team_out_of_hours": 1, "nobody_available": 1}
    assert (stats["latency_p50_ms"], stats["latency_p99_ms"]) == (30.0, 50.0)
    text = render_summary(stats)
    for expected in ("calls replayed         200  (3300 CAD events in 80 s)", "crisis calls flagged   2  (1% of calls)",
                     "the sample holds 54", "recommendations        3", "first choice has CIT  2  (67%)",
                     "mobile crisis team out of hours", "dead letters           2", "30.0 ms / 50.0 ms"):  # fmt: skip
        assert expected in text
    assert "latency p50 / p99      - / -" in render_summary({})


# --- the sample through the real decision core -------------------------------------------------------------------


def test_sample_shift_through_the_real_core_renders_without_narrative(shift: Shift) -> None:
    """Replay the shift through the real rules, roster and ranking (pure core, no broker): the data must give
    the demo something to show, and no rendered line may carry a word of the caller's narrative."""
    from dispatch_bridge.pipeline import RECOMMENDED, IncidentBook, OpenIncident, decide, recommendation_record
    from dispatch_bridge.recommend.config import RankingSettings
    from dispatch_bridge.recommend.ranking import rank
    from dispatch_bridge.roster.config import RosterSettings
    from dispatch_bridge.roster.table import Roster
    from dispatch_bridge.triage.evaluate import triage
    from dispatch_bridge.triage.loader import load_ruleset

    rules = load_ruleset(Path(__file__).resolve().parents[1] / "rules" / "default")
    roster = Roster(RosterSettings())
    for unit in shift.units:
        roster.apply_unit(unit)
    book, tally, settings = IncidentBook(10_000), Tally(), RankingSettings()
    flagged: set[str] = set()
    for at, kind, event in shift.timeline:
        now = shift.start + dt.timedelta(seconds=at)
        if isinstance(event, UnitStatus):
            roster.apply_unit(event)
            continue
        if book.is_stale(event):
            continue
        assessment = triage(event, rules)
        previous = book.get(event.incident.id)
        ranker = lambda: rank(assessment, event.incident, roster, now, settings)  # noqa: B023, E731
        decision = decide(event, assessment, previous, ranker, 3)
        entry = OpenIncident(event, 0, assessment, previous.published if previous else None)
        if decision.outcome == RECOMMENDED:
            assert decision.ranking is not None
            entry.published = decision.signature
            # As a dispatcher's screen receives it: the wire JSON.
            rec = orjson.loads(orjson.dumps(recommendation_record(event, assessment, decision.ranking, now,
                                                                  event.event_id)))
            tally.add(rec)
            flagged.update([event.incident.id] if assessment.crisis else [])
            text = render_recommendation(rec)
            assert event.incident.id in text
            for note in event.incident.narrative:
                assert note.text not in text
            assert event.incident.location is None or str(event.incident.location.address) not in text
        book.remember(entry)

    behavioral = {i for i, f in shift.facts.items() if f.behavioral}
    assert len(flagged & behavioral) >= 0.8 * len(behavioral)
    assert len(flagged - behavioral) <= 0.1 * (len(shift.facts) - len(behavioral))
    stats = tally.stats()
    assert len(stats["by_tier"]) >= 3, "the watch shows several response tiers"
    assert stats["with_cit_candidate"] >= 0.6 * stats["recommendations"]
    assert stats["fallbacks"].get("team_out_of_hours", 0) >= 1
