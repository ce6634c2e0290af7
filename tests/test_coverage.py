"""Coverage: CIT-certified officers on duty and available, per district and overall, against the minimum."""

from __future__ import annotations

import datetime as dt

import orjson

from dispatch_bridge.roster import PersonnelRecord, Roster
from dispatch_bridge.roster.config import RosterSettings
from dispatch_bridge.roster.synthetic import unit_status

NOW = dt.datetime(2026, 11, 27, 18, 0, tzinfo=dt.UTC)
GOOD = dt.date(2027, 6, 1)


def build() -> Roster:
    roster = Roster(RosterSettings(coverage_min_per_district=2, coverage_districts=("D1", "D2", "D3"),
                                   expiry_warning_days=10, time_zone="America/Chicago"))
    add = roster.apply_unit
    add(unit_status("A", at=NOW, status="available", district="D1", crew=[("1", GOOD), ("2", GOOD)]))
    add(unit_status("B", at=NOW, status="on_scene", district="D1", crew=[("3", dt.date(2026, 12, 1))]))
    add(unit_status("C", at=NOW, status="on_scene", available_on_scene=True, district="D2", crew=[("4", GOOD)]))
    add(unit_status("D", at=NOW, status="off_duty", district="D2", crew=[("5", GOOD)]))
    add(unit_status("E", at=NOW, status="available", district="D2", crew=[("6", dt.date(2026, 11, 26))]))
    add(unit_status("F", at=NOW, status="out_of_service", crew=[("7", GOOD)]))
    # The CAD lists officer 1 on two units by mistake: counted once.
    add(unit_status("G", at=NOW, status="available", district="D1", crew=[("1", GOOD)]))
    # Clinicians on a mobile crisis team are not CIT officers for coverage.
    add(unit_status("M", at=NOW, status="available", kind="mobile_crisis", district="D3", crew=[("9", GOOD)]))
    return roster


def test_coverage_per_district_and_overall():
    coverage = build().coverage(NOW)
    by = {row["district"]: row for row in coverage["districts"]}
    assert set(by) == {"D1", "D2", "D3", "unassigned"}
    assert (by["D1"]["cit_on_duty"], by["D1"]["cit_available"], by["D1"]["cit_expiring_soon"]) == (3, 2, 1)
    assert not by["D1"]["below_minimum"] and not by["D1"]["available_below_minimum"]
    # D2: officer 4 available on scene; 5 off duty; 6 expired yesterday.
    assert (by["D2"]["cit_on_duty"], by["D2"]["cit_available"]) == (1, 1)
    assert by["D2"]["below_minimum"] and by["D2"]["available_below_minimum"]
    # D3 has nobody (listed because configured): the district to alert on.
    assert (by["D3"]["cit_on_duty"], by["D3"]["below_minimum"]) == (0, True)
    assert (by["unassigned"]["cit_on_duty"], by["unassigned"]["cit_available"]) == (1, 0)
    overall = coverage["overall"]
    assert (overall["cit_on_duty"], overall["cit_available"]) == (5, 3)
    assert overall["districts"] == 3 and overall["districts_below_minimum"] == 2 and overall["below_minimum"]
    assert coverage["minimum_per_district"] == 2
    orjson.dumps(coverage)  # JSON-ready


def test_coverage_follows_certification_records_and_the_clock():
    roster = build()
    roster.apply_personnel(PersonnelRecord("6", dt.date(2020, 1, 1), dt.date(2028, 1, 1)))
    by = {row["district"]: row for row in roster.coverage(NOW)["districts"]}
    assert (by["D2"]["cit_on_duty"], by["D2"]["cit_available"], by["D2"]["below_minimum"]) == (2, 2, False)
    # Officer 3's certification ends on 1 Dec (local): from 2 Dec D1 has one fewer.
    later = dt.datetime(2026, 12, 2, 7, 0, tzinfo=dt.UTC)
    by_later = {row["district"]: row for row in roster.coverage(later)["districts"]}
    assert by_later["D1"]["cit_on_duty"] == 2
