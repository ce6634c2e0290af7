"""Teams: service hours across midnight and DST, holidays, service areas (polygons, districts), the teams file,
and how ranking uses them (Austin's rule: no team -> CIT officer, with the reason)."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from dispatch_bridge import domain
from dispatch_bridge.contracts import Incident
from dispatch_bridge.contracts.unit import ServiceArea, ServiceHours
from dispatch_bridge.recommend import rank
from dispatch_bridge.recommend.config import RankingSettings
from dispatch_bridge.roster import Roster, TeamsFileError, needs_rerank
from dispatch_bridge.roster.area import AreaFormatError, CompiledArea
from dispatch_bridge.roster.config import RosterSettings
from dispatch_bridge.roster.schedule import ServiceSchedule
from dispatch_bridge.roster.synthetic import unit_status

DENVER = "America/Denver"
UTC = dt.UTC


def hours(**kw) -> ServiceHours:
    return ServiceHours.model_validate({"time_zone": DENVER, **kw}, strict=False)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


# ---- schedules ----------------------------------------------------------------------------------------------


def test_overnight_shift_runs_into_the_next_morning():
    schedule = ServiceSchedule(hours(weekly={"fri": ["22:00-06:00"]}))
    assert not schedule.on_shift(at("2026-11-27T21:59:00-07:00"))  # Friday 21:59
    assert schedule.on_shift(at("2026-11-27T22:00:00-07:00"))
    assert schedule.on_shift(at("2026-11-28T05:59:59-07:00"))  # Saturday morning
    assert not schedule.on_shift(at("2026-11-28T06:00:00-07:00"))
    assert not schedule.on_shift(at("2026-11-28T22:30:00-07:00"))  # Saturday night: no shift
    assert schedule.next_change(at("2026-11-27T23:00:00-07:00")) == at("2026-11-28T06:00:00-07:00")
    assert schedule.next_change(at("2026-11-28T07:00:00-07:00")) == at("2026-12-04T22:00:00-07:00")


def test_shift_across_the_fall_back_night_lasts_nine_hours():
    # 1 Nov 2026: Denver goes from MDT (-6) to MST (-7) at 02:00.
    schedule = ServiceSchedule(hours(weekly={"sat": ["22:00-06:00"]}))
    start = at("2026-10-31T22:00:00-06:00")
    end = at("2026-11-01T06:00:00-07:00")
    assert end - start == dt.timedelta(hours=9)
    assert schedule.on_shift(at("2026-11-01T12:59:00+00:00"))  # 05:59 MST
    assert not schedule.on_shift(at("2026-11-01T13:00:00+00:00"))  # 06:00 MST
    assert schedule.next_change(start) == end


def test_shift_across_the_spring_forward_night_lasts_seven_hours():
    # 8 Mar 2026: 02:00 MST becomes 03:00 MDT.
    schedule = ServiceSchedule(hours(weekly={"sat": ["22:00-06:00"]}))
    assert schedule.on_shift(at("2026-03-08T11:59:00+00:00"))  # 05:59 MDT
    assert not schedule.on_shift(at("2026-03-08T12:00:00+00:00"))  # 06:00 MDT
    assert schedule.next_change(at("2026-03-07T22:00:00-07:00")) == at("2026-03-08T06:00:00-06:00")


def test_holidays_and_exceptions_replace_the_shifts_starting_that_day():
    schedule = ServiceSchedule(hours(
        weekly={"daily": ["08:00-20:00"], "fri": ["22:00-06:00"]},
        holidays=["2026-12-25", "2026-12-26"],
        exceptions=[{"date": "2026-12-24", "hours": ["08:00-14:00"]}],
    ))
    assert schedule.on_shift(at("2026-12-24T13:00:00-07:00"))
    assert not schedule.on_shift(at("2026-12-24T15:00:00-07:00"))
    assert not schedule.on_shift(at("2026-12-25T10:00:00-07:00"))  # Christmas: closed
    # Friday 25 Dec is a holiday, so its night shift does not start either.
    assert not schedule.on_shift(at("2026-12-25T23:00:00-07:00"))
    assert not schedule.on_shift(at("2026-12-26T01:00:00-07:00"))
    assert schedule.on_shift(at("2026-12-18T23:00:00-07:00"))  # an ordinary Friday night
    assert schedule.on_shift(at("2026-12-19T05:00:00-07:00"))
    # A Friday-night shift still ends on a Saturday holiday (it belongs to Friday).
    holiday_saturday = ServiceSchedule(hours(weekly={"fri": ["22:00-06:00"]}, holidays=["2026-12-19"]))
    assert holiday_saturday.on_shift(at("2026-12-19T05:00:00-07:00"))


def test_touching_shifts_merge_and_a_shift_can_end_at_midnight():
    schedule = ServiceSchedule(hours(weekly={"mon": ["08:00-24:00"], "tue": ["00:00-08:00"]}))
    assert schedule.on_shift(at("2026-11-23T23:59:00-07:00"))
    assert schedule.on_shift(at("2026-11-24T00:00:00-07:00"))
    assert schedule.next_change(at("2026-11-23T09:00:00-07:00")) == at("2026-11-24T08:00:00-07:00")


def test_cached_state_is_right_when_time_goes_backwards():
    schedule = ServiceSchedule(hours(weekly={"daily": ["08:00-20:00"]}))
    assert schedule.on_shift(at("2026-11-27T10:00:00-07:00"))
    assert not schedule.on_shift(at("2026-11-27T07:00:00-07:00"))
    assert schedule.on_shift(at("2026-11-27T10:00:00-07:00"))


def test_bad_hours_are_rejected_by_the_contract():
    with pytest.raises(ValueError):
        hours(weekly={"mon": ["8-20"]})
    with pytest.raises(ValueError):
        ServiceHours.model_validate({"time_zone": "Mars/Olympus", "weekly": {}})


# ---- areas --------------------------------------------------------------------------------------------------

SQUARE = [[-105.0, 39.7], [-104.9, 39.7], [-104.9, 39.8], [-105.0, 39.8], [-105.0, 39.7]]
HOLE = [[-104.96, 39.74], [-104.94, 39.74], [-104.94, 39.76], [-104.96, 39.76]]  # not closed: still works


def test_polygon_with_a_hole_and_district_lists():
    area = CompiledArea(ServiceArea(geojson={"type": "Polygon", "coordinates": [SQUARE, HOLE]}, districts=["6"]))
    assert area.contains(39.72, -104.98, None)
    assert not area.contains(39.75, -104.95, None)  # in the hole
    assert not area.contains(39.75, -104.85, None)  # east of the square, inside its latitude band
    assert area.contains(39.75, -104.85, "6")  # but in a listed district
    assert not area.contains(None, None, "7")


def test_multipolygon_feature_collection_and_a_concave_outline():
    concave = [[0, 0], [4, 0], [4, 4], [2, 1], [0, 4], [0, 0]]  # a "V" notch from the top
    feature = {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [concave]}}
    other = {"type": "Feature", "geometry": {"type": "MultiPolygon",
                                             "coordinates": [[[[10, 10], [11, 10], [11, 11], [10, 11]]]]}}
    area = CompiledArea(ServiceArea(geojson={"type": "FeatureCollection", "features": [feature, other]}))
    assert area.contains(0.5, 0.5, None)  # (lat, lon): GeoJSON is [lon, lat]
    assert not area.contains(3.0, 2.0, None)  # inside the notch
    assert area.contains(3.0, 0.5, None)
    assert area.contains(10.5, 10.5, None)
    with pytest.raises(AreaFormatError):
        CompiledArea(ServiceArea(geojson={"type": "Point", "coordinates": [0, 0]}))


# ---- teams in the roster and in ranking ---------------------------------------------------------------------

TEAMS_YAML = textwrap.dedent("""
    teams:
      - unit_id: MCT-1
        kind: mobile_crisis
        capacity: 2
        service_hours:
          time_zone: America/Denver
          weekly: {daily: ["07:00-19:00"], fri: ["07:00-19:00", "22:00-06:00"]}
          holidays: [2026-12-25]
        service_area:
          geojson: {type: Polygon, coordinates: [[[-105.0, 39.7], [-104.9, 39.7], [-104.9, 39.8], [-105.0, 39.8]]]}
      - unit_id: CORE-1
        kind: co_responder
        service_area: {districts: ["6"]}
""")
FRIDAY_NOON = at("2026-11-27T12:00:00-07:00")


def make_roster(tmp_path) -> Roster:
    path = tmp_path / "teams.yaml"
    path.write_text(TEAMS_YAML)
    roster = Roster(RosterSettings(time_zone=DENVER))
    roster.load_teams_file(path)
    roster.apply_unit(unit_status("CIT-CAR", at=FRIDAY_NOON, lat=39.76, lon=-104.97, crew=[("77", dt.date(2028, 1, 1))],
                                  district="6"))
    return roster


def call(lat=39.75, lon=-104.98, district="6") -> Incident:
    return Incident.model_validate({"id": "I-9", "revision": 0, "nature_code": "MH", "priority": 2,
                                    "location": {"lat": lat, "lon": lon, "district": district}})


def tier(name: str) -> domain.Assessment:
    return domain.Assessment(True, 0.8, name, "t", "0")


def ids(ranking):
    return [c.unit_id for c in ranking.candidates]


def test_team_in_hours_and_area_is_recommended_even_before_the_cad_reports_it(tmp_path):
    roster = make_roster(tmp_path)
    ranking = rank(tier("mobile_crisis"), call(), roster, FRIDAY_NOON, RankingSettings())
    assert ids(ranking) == ["MCT-1"] and ranking.fallbacks == ()
    why = ranking.candidates[0].why
    assert why.startswith("Mobile crisis team, status not reported by CAD, on shift until 19:00")
    assert ranking.candidates[0].eta_seconds is None
    strict = RankingSettings(propose_unreported_teams=False)
    assert rank(tier("mobile_crisis"), call(), roster, FRIDAY_NOON, strict).fallbacks == ("team_out_of_service",)


def test_a_team_the_cad_deleted_is_out_of_service_until_it_reports_again(tmp_path):
    roster = make_roster(tmp_path)
    roster.apply_unit(unit_status("MCT-1", kind="mobile_crisis", status="off_duty", at=FRIDAY_NOON))
    assert rank(tier("mobile_crisis"), call(), roster, FRIDAY_NOON, RankingSettings()).fallbacks == (
        "team_out_of_service",)
    roster.remove_unit("MCT-1")  # a tombstone: not "never reported", which would be proposed
    deleted = rank(tier("mobile_crisis"), call(), roster, FRIDAY_NOON, RankingSettings())
    assert deleted.fallbacks == ("team_out_of_service",) and ids(deleted) == ["CIT-CAR"]
    roster.apply_unit(unit_status("MCT-1", kind="mobile_crisis", status="available", lat=39.76, lon=-104.97,
                                  at=FRIDAY_NOON + dt.timedelta(minutes=1)))
    assert ids(rank(tier("mobile_crisis"), call(), roster, FRIDAY_NOON, RankingSettings())) == ["MCT-1"]


def test_team_out_of_hours_out_of_area_or_busy_falls_back_to_a_cit_officer(tmp_path):
    roster = make_roster(tmp_path)
    evening = at("2026-11-27T20:00:00-07:00")
    ranking = rank(tier("mobile_crisis"), call(), roster, evening, RankingSettings())
    assert ranking.fallbacks == ("team_out_of_hours",) and ids(ranking) == ["CIT-CAR"]
    outside = rank(tier("mobile_crisis"), call(lon=-104.5), roster, FRIDAY_NOON, RankingSettings())
    assert outside.fallbacks == ("team_out_of_area",) and ids(outside) == ["CIT-CAR"]
    roster.apply_unit(unit_status("MCT-1", kind="mobile_crisis", status="on_scene", at=FRIDAY_NOON,
                                  active_assignments=2, capacity=2))
    busy = rank(tier("mobile_crisis"), call(), roster, FRIDAY_NOON, RankingSettings())
    assert busy.fallbacks == ("team_busy",) and ids(busy) == ["CIT-CAR"]
    # One call done: room again, even though its status still says on scene (capacity 2 comes from the file).
    change = roster.apply_unit(unit_status("MCT-1", kind="mobile_crisis", status="on_scene",
                                           at=FRIDAY_NOON + dt.timedelta(minutes=5), active_assignments=1,
                                           lat=39.71, lon=-104.99))
    assert change.team_capacity_gained and needs_rerank(change)
    free = rank(tier("mobile_crisis"), call(), roster, FRIDAY_NOON, RankingSettings())
    assert ids(free) == ["MCT-1"]
    assert "has room for another call" in free.candidates[0].why and free.candidates[0].eta_seconds > 0


def test_co_response_returns_a_cit_officer_and_a_team(tmp_path):
    roster = make_roster(tmp_path)
    roster.apply_unit(unit_status("CORE-1", kind="co_responder", at=FRIDAY_NOON, lat=39.70, lon=-104.90,
                                  crew=[("88", dt.date(2028, 1, 1))]))
    ranking = rank(tier("co_response"), call(), roster, FRIDAY_NOON, RankingSettings())
    assert ids(ranking)[:2] == ["CIT-CAR", "CORE-1"] or ids(ranking)[:2] == ["CIT-CAR", "MCT-1"]
    assert set(ids(ranking)) == {"CIT-CAR", "CORE-1", "MCT-1"}
    core = next(c for c in ranking.candidates if c.unit_id == "CORE-1")
    assert core.cit_members == ("88",) and core.why.startswith("Co-responder team, CIT: Ofc 88, available")
    night = rank(tier("co_response"), call(district="1"), roster, at("2026-11-28T03:00:00-07:00"),
                 RankingSettings())
    # MCT-1 works Friday night; CORE-1 serves district 6 only.
    assert ids(night) == ["CIT-CAR", "MCT-1"]


def test_teams_file_wins_over_unit_events_and_bad_files_change_nothing(tmp_path):
    roster = make_roster(tmp_path)
    roster.apply_unit(unit_status("MCT-1", kind="mobile_crisis", at=FRIDAY_NOON,
                                  service_area=ServiceArea(districts=["99"])))
    assert roster.teams["MCT-1"].source == "teams_file"
    # A team only the CAD describes.
    roster.apply_unit(unit_status("MCT-9", kind="mobile_crisis", at=FRIDAY_NOON,
                                  service_hours=hours(weekly={"daily": ["00:00-24:00"]}),
                                  service_area=ServiceArea(districts=["6"])))
    assert roster.teams["MCT-9"].source == "unit_event"
    bad = tmp_path / "bad.yaml"
    bad.write_text("teams:\n  - unit_id: X\n    service_hours: {time_zone: Nowhere/Land}\n")
    with pytest.raises(TeamsFileError):
        roster.load_teams_file(bad)
    assert set(roster.teams) == {"MCT-1", "CORE-1", "MCT-9"}
    ranked = ids(rank(tier("mobile_crisis"), call(), roster, FRIDAY_NOON, RankingSettings()))
    assert ranked == ["MCT-1", "MCT-9"]


def test_a_team_retyped_as_patrol_stops_being_a_team(tmp_path):
    roster = make_roster(tmp_path)
    roster.apply_unit(unit_status("MCT-9", kind="mobile_crisis", at=FRIDAY_NOON))
    assert "MCT-9" in roster.teams
    roster.apply_unit(unit_status("MCT-9", kind="patrol", at=FRIDAY_NOON + dt.timedelta(seconds=1), lat=39.75,
                                  lon=-104.98))
    assert "MCT-9" not in roster.teams
    assert "MCT-9" in roster.grids_all[0].members


def test_schedule_changes_drive_reranking(tmp_path):
    roster = make_roster(tmp_path)
    evening = at("2026-11-27T20:00:00-07:00")
    assert roster.next_schedule_change(evening) == at("2026-11-27T22:00:00-07:00")
    assert not roster.teams_changed_since(evening, at("2026-11-27T21:59:00-07:00"))
    assert roster.teams_changed_since(evening, at("2026-11-27T22:00:00-07:00"))
    assert Roster(RosterSettings()).next_schedule_change(evening) is None


def test_refresh_reloads_a_changed_teams_file(tmp_path):
    roster = make_roster(tmp_path)
    path = tmp_path / "teams.yaml"
    assert not roster.refresh_files(None, path).applied
    path.write_text("teams:\n  - {unit_id: ONLY, kind: mobile_crisis}\n")
    assert roster.refresh_files(None, path).team_capacity_gained
    assert set(roster.teams) == {"ONLY"}


def test_team_state_in_the_roster_view(tmp_path):
    roster = make_roster(tmp_path)
    rows = {row["unit_id"]: row for row in roster.view(FRIDAY_NOON)}
    team = rows["MCT-1"]["team"]
    assert rows["MCT-1"]["status"] is None
    assert team["on_shift"] and team["in_service"] and not team["status_reported"]
    assert team["next_shift_change"] == "2026-11-27T19:00:00-07:00"
    assert team["service_area"] == {"districts": [], "polygons": 1}
    assert rows["CIT-CAR"]["team"] is None
