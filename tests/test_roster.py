"""The roster table: ordering of snapshots, tombstones, certification sources and currency, files, views."""

from __future__ import annotations

import datetime as dt
import random
import textwrap

import pytest

from dispatch_bridge.roster import PersonnelFormatError, PersonnelRecord, Roster, parse_personnel_record
from dispatch_bridge.roster.config import RosterSettings
from dispatch_bridge.roster.synthetic import fleet, moved, unit_status

NOW = dt.datetime(2026, 11, 27, 18, 0, tzinfo=dt.UTC)  # noon in Chicago
TODAY = dt.date(2026, 11, 27)


@pytest.fixture
def roster() -> Roster:
    return Roster(RosterSettings(time_zone="America/Chicago", expiry_warning_days=30))


def unit(unit_id="P1", at=NOW, crew=(("4411", dt.date(2027, 1, 31)),), **kw):
    kw.setdefault("lat", 41.88)
    kw.setdefault("lon", -87.63)
    return unit_status(unit_id, at=at, crew=crew, **kw)


def certified(roster: Roster, unit_id: str, now: dt.datetime = NOW) -> tuple[str, ...]:
    return roster.units[unit_id].cit_members(roster.local_day(now))


def test_older_snapshot_is_ignored_and_a_newer_one_applies(roster):
    assert roster.apply_unit(unit(status="available", status_text="10-8")).applied
    older = roster.apply_unit(unit(at=NOW - dt.timedelta(seconds=1), status="off_duty"))
    assert not older.applied
    assert roster.units["P1"].status.status_text == "10-8"
    assert roster.apply_unit(unit(at=NOW + dt.timedelta(seconds=1), status="on_scene", status_text="10-97")).applied
    assert roster.units["P1"].status.status == "on_scene"


def test_tombstone_forgets_the_unit_and_keeps_ignoring_older_snapshots(roster):
    roster.apply_unit(unit())
    assert roster.remove_unit("P1").cit_capacity_lost
    assert "P1" not in roster.units
    assert len(roster.grids_cit[0]) == 0 and len(roster.grids_all[0]) == 0
    assert not roster.apply_unit(unit()).applied  # a replayed copy of the deleted snapshot
    assert roster.apply_unit(unit(at=NOW + dt.timedelta(minutes=1))).applied
    assert not roster.remove_unit("nope").applied


def test_a_tombstoned_unit_s_uncertified_crew_are_forgotten_with_it(roster):
    # 5120 rides uncertified; after the unit's tombstone, a training record certifying 5120 must neither find
    # the removed unit nor fail (it used to raise KeyError, which stopped the personnel reader and the service).
    roster.apply_unit(unit(crew=(("4411", dt.date(2027, 1, 31)), ("5120", None))))
    roster.remove_unit("P1")
    change = roster.apply_personnel(PersonnelRecord("5120", dt.date(2024, 5, 1), dt.date(2027, 5, 1)))
    assert "P1" not in roster.units and not change.cit_capacity_gained
    # The officer's next unit is certified by the same record.
    roster.apply_unit(unit("P2", crew=(("5120", None),)))
    assert certified(roster, "P2") == ("5120",)


def test_personnel_record_wins_over_the_unit_event(roster):
    roster.apply_unit(unit(crew=(("4411", dt.date(2027, 1, 31)), ("5120", None))))
    assert certified(roster, "P1") == ("4411",)
    # Training records: 4411's certification was revoked (no dates), 5120 is certified.
    roster.apply_personnel(PersonnelRecord("4411"))
    change = roster.apply_personnel(PersonnelRecord("5120", dt.date(2024, 5, 1), dt.date(2027, 5, 1)))
    assert certified(roster, "P1") == ("5120",)
    assert change.applied
    # A tombstone on the topic: back to the unit event's value for 4411.
    roster.remove_personnel(b"4411")
    assert certified(roster, "P1") == ("4411", "5120")


def test_topic_record_replaces_the_file_record_and_its_tombstone_restores_it(roster, tmp_path):
    path = tmp_path / "personnel.csv"
    path.write_text("officer_id,cit_certified_on,cit_expires_on,last_refresher_on\n"
                    "4411,2020-01-10,2026-11-01,2024-01-10\n")
    roster.apply_unit(unit())
    roster.load_personnel_file(path)
    assert certified(roster, "P1") == ()  # the file says it expired on 1 Nov, whatever the CAD says
    roster.apply_personnel(parse_personnel_record(b"4411", b'{"cit_certified_on": "2026-11-20",'
                                                           b' "cit_expires_on": "2028-11-20"}'))
    assert certified(roster, "P1") == ("4411",)
    roster.remove_personnel("4411")
    assert certified(roster, "P1") == ()


def test_certification_not_yet_started_and_refresher_policy():
    roster = Roster(RosterSettings(refresher_interval_days=365))
    roster.apply_personnel(PersonnelRecord("future", dt.date(2026, 12, 1), dt.date(2029, 1, 1)))
    roster.apply_personnel(PersonnelRecord("lapsed", dt.date(2020, 1, 1), dt.date(2029, 1, 1),
                                           last_refresher_on=dt.date(2025, 11, 26)))
    roster.apply_personnel(PersonnelRecord("fresh", dt.date(2020, 1, 1), dt.date(2029, 1, 1),
                                           last_refresher_on=dt.date(2025, 11, 27)))
    roster.apply_unit(unit(crew=(("future", None), ("lapsed", None), ("fresh", None))))
    assert certified(roster, "P1") == ("fresh",)
    assert certified(roster, "P1", dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)) == ("future",)


def test_expiry_is_the_whole_local_day(roster):
    roster.apply_unit(unit(crew=(("4411", TODAY),)))
    # 23:59 in Chicago on the expiry date is 05:59 UTC the next day.
    assert certified(roster, "P1", dt.datetime(2026, 11, 28, 5, 59, tzinfo=dt.UTC)) == ("4411",)
    assert certified(roster, "P1", dt.datetime(2026, 11, 28, 6, 0, tzinfo=dt.UTC)) == ()


def test_personnel_files_csv_and_yaml_with_training_record_column_names(roster, tmp_path):
    csv_path = tmp_path / "export.csv"
    csv_path.write_text("Badge,Certification_Date,Expiration_Date,Last_In_Service\n"
                        "4411,2021-03-02,2027-03-02,2025-02-10\n5120,,,\n")
    yaml_path = tmp_path / "export.yaml"
    yaml_path.write_text(textwrap.dedent("""
        personnel:
          - {officer_id: 4411, cit_certified_on: 2021-03-02, cit_expires_on: 2027-03-02}
          - {officer_id: "0077", cit_certified_on: "2022-01-01", cit_expires_on: null}
    """))
    roster.apply_unit(unit(crew=(("4411", None), ("5120", dt.date(2030, 1, 1)), ("0077", None))))
    roster.load_personnel_file(csv_path)
    assert certified(roster, "P1") == ("4411",)  # 5120's record has no certification: not CIT
    assert roster.personnel_record("4411").last_refresher_on == dt.date(2025, 2, 10)
    roster.load_personnel_file(yaml_path)
    assert certified(roster, "P1") == ("4411", "5120", "0077")  # 5120 left the file: unit event applies again


def test_bad_personnel_input_is_rejected_without_echoing_it(roster, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("officer_id,cit_expires_on\n4411,31/12/2027\n")
    roster.apply_personnel(PersonnelRecord("4411", None, dt.date(2027, 1, 1)))
    with pytest.raises(PersonnelFormatError) as error:
        roster.load_personnel_file(path)
    assert "31/12/2027" not in str(error.value) and "record 1" in str(error.value)
    broken_yaml = tmp_path / "bad.yaml"
    broken_yaml.write_text("personnel: [ {officer_id: 1\n")
    with pytest.raises(PersonnelFormatError):
        roster.load_personnel_file(broken_yaml)
    with pytest.raises(PersonnelFormatError):
        parse_personnel_record(b"1", b"not json")
    with pytest.raises(PersonnelFormatError):
        parse_personnel_record(b"1", b'{"officer_id": "2", "cit_expires_on": "2027-01-01"}')
    with pytest.raises(PersonnelFormatError):
        parse_personnel_record(None, b'{"cit_expires_on": "2027-01-01"}')
    with pytest.raises(PersonnelFormatError):
        parse_personnel_record(b"1", b'{"schema_version": 2}')
    assert parse_personnel_record(None, b'{"officer_id": "9", "cit_expires_on": "2027-01-01"}') == \
        PersonnelRecord("9", None, dt.date(2027, 1, 1))


def test_refresh_files_reloads_only_when_the_file_changed(roster, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("officer_id,cit_expires_on\n4411,2027-01-01\n")
    roster.apply_unit(unit(crew=(("4411", None),)))
    assert roster.refresh_files(path, None).applied
    assert not roster.refresh_files(path, None).applied
    path.write_text("officer_id,cit_expires_on\n4411,2026-01-01\n")
    assert roster.refresh_files(path, None).applied
    assert certified(roster, "P1") == ()
    path.write_text("officer_id,cit_expires_on\n4411,soon\n")
    with pytest.raises(PersonnelFormatError):
        roster.refresh_files(path, None)
    assert not roster.refresh_files(path, None).applied  # reported once per edit, old records kept
    assert roster.personnel_record("4411").expires_on == dt.date(2026, 1, 1)


def test_roster_changes_tell_what_matters_for_reranking(roster):
    change = roster.apply_unit(unit(status="on_scene"))
    assert change.applied and not change.cit_capacity_gained
    change = roster.apply_unit(unit(at=NOW + dt.timedelta(seconds=1), status="on_scene", available_on_scene=True))
    assert change.cit_capacity_gained
    change = roster.apply_unit(unit(at=NOW + dt.timedelta(seconds=2), lat=41.9, status="available"))
    assert not change.cit_capacity_gained and not change.cit_capacity_lost
    assert roster.apply_unit(unit(at=NOW + dt.timedelta(seconds=3), crew=())).cit_capacity_lost
    roster.apply_unit(unit("P2", crew=(("9", None),)))
    assert roster.apply_personnel(PersonnelRecord("9", None, dt.date(2027, 1, 1))).cit_capacity_gained


def test_view_shows_status_text_location_age_and_expiring_certifications(roster):
    roster.apply_unit(unit(status="available", status_text="10-8", fix_at=NOW - dt.timedelta(minutes=10),
                           crew=(("4411", dt.date(2026, 12, 10)), ("5120", dt.date(2027, 6, 1)), ("9", None)),
                           beat="111", district="1"))
    [row] = roster.view(NOW)
    assert row["status"] == "available" and row["status_text"] == "10-8"
    assert row["location"]["age_seconds"] == 600 and row["location"]["stale"] is True
    crew = {member["id"]: member for member in row["crew"]}
    assert crew["4411"]["cit_certified"] and crew["4411"]["cit_expiring_soon"]
    assert crew["4411"]["cit_expires_on"] == "2026-12-10" and crew["4411"]["cit_source"] == "unit_event"
    assert crew["5120"]["cit_certified"] and not crew["5120"]["cit_expiring_soon"]
    assert not crew["9"]["cit_certified"] and crew["9"]["cit_source"] is None
    assert row["cit_on_board"] and row["team"] is None


def test_grid_index_stays_consistent_under_random_avl_updates():
    roster = Roster(RosterSettings(grid_cell_degrees=0.005))
    rng = random.Random(3)
    units = {u.unit_id: u for u in fleet(300, at=NOW, span_deg=0.05)}
    for status in units.values():
        roster.apply_unit(status)
    statuses = ["available", "on_scene", "enroute", "off_duty"]
    for step in range(3000):
        unit_id = rng.choice(list(units))
        at = NOW + dt.timedelta(seconds=step + 1)
        update = moved(units[unit_id], at, rng)
        if rng.random() < 0.2:
            update = update.model_copy(update={"status": rng.choice(statuses), "assignment_priority": 3})
        units[unit_id] = update
        roster.apply_unit(update)
    day = roster.local_day(NOW)
    for unit_id, status in units.items():
        entry = roster.units[unit_id]
        cls = {"available": 0, "enroute": 2, "dispatched": 2}.get(status.status, -1)
        key = roster.grids_all[0].key_of(status.location.lat, status.location.lon)
        for index, grid in enumerate(roster.grids_all):
            assert (unit_id in grid.members) == (index == cls)
            assert (unit_id in grid.cells.get(key, {})) == (index == cls)
        assert (unit_id in roster.grids_cit[max(cls, 0)].members) == (cls >= 0 and entry.has_cit(day))
    assert sum(len(cell) for cell in roster.grids_all[0].cells.values()) == len(roster.grids_all[0])
