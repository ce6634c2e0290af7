"""The default pack: its own cases (one pytest test each) and its behaviour on real call-type vocabularies.

The public data sits beside the clone (../shared/data); CI has it there, so a missing file is a failure.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from dispatch_bridge import domain
from dispatch_bridge.contracts import IncidentEvent
from dispatch_bridge.triage import Ruleset, load_ruleset, triage
from dispatch_bridge.triage.cases import Case, load_cases, run_cases

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RULESET = load_ruleset(REPO / "rules" / "default")
CASES = load_cases(RULESET.test_files, RULESET)


def nature_text_event(text: str, agency: str = "city") -> IncidentEvent:
    return IncidentEvent.model_validate_json(
        json.dumps(
            {
                "schema_version": 1,
                "event_id": "ev",
                "event_type": "incident.created",
                "occurred_at": "2026-03-03T14:00:00-06:00",
                "agency": agency,
                "incident": {"id": "inc", "revision": 0, "nature_code": "UNMAPPED", "nature_text": text},
            }
        )
    )


def data_file(*parts: str) -> Path:
    path = DATA.joinpath(*parts)
    assert path.is_file(), f"public test data missing: {path} (CI keeps shared/ beside the clone)"
    return path


@pytest.mark.parametrize("case", CASES, ids=[f"{c.where} {c.name}" for c in CASES])
def test_pack_case(case: Case) -> None:
    report = run_cases(RULESET, [case])
    assert report.ok, report.failures[0].render()


def test_pack_ships_enough_cases_of_every_kind() -> None:
    assert len(CASES) >= 150
    names = " ".join(c.name.lower() for c in CASES)
    for kind in ("denies", "no weapons", "typo", "third party", "upper-case", "burglary", "traffic"):
        assert kind in names, kind
    assert sum(c.expect.crisis is False for c in CASES) >= 30  # calls that must not be flagged


def test_every_rule_and_tier_is_exercised_by_a_case() -> None:
    fired: Counter[str] = Counter()
    tiers: Counter[str] = Counter()
    for case in CASES:
        assessment = triage(case.event, RULESET, case.context)
        fired.update(r.rule for r in assessment.reasons)
        tiers[assessment.response] += 1
    assert {r.id for r in RULESET.rules} - set(fired) == set()
    assert set(RULESET.tiers) | {domain.NO_RESPONSE} == set(tiers)


def test_vera_taxonomy_call_types_across_cities() -> None:
    rows = list(csv.DictReader(data_file("vera_911_taxonomy", "vera_calltype_to_category_with_counts.csv").open()))
    flagged: Counter[tuple[str, bool]] = Counter()
    totals: Counter[tuple[str, bool]] = Counter()
    cities: set[str] = set()
    for row in rows:
        behavioral = row["Category"].strip() == "Behavioral Health"
        assessment = triage(nature_text_event(row["Field 1"], row["City"]), RULESET)
        totals[(row["City"], behavioral)] += 1
        flagged[(row["City"], behavioral)] += assessment.crisis
        if behavioral:
            cities.add(row["City"])
    assert len(cities) >= 4
    bh_total = sum(n for (_, bh), n in totals.items() if bh)
    bh_flagged = sum(n for (_, bh), n in flagged.items() if bh)
    other_total = sum(n for (_, bh), n in totals.items() if not bh)
    other_flagged = sum(n for (_, bh), n in flagged.items() if not bh)
    assert bh_total >= 40 and other_total >= 2000
    assert bh_flagged / bh_total >= 0.85, f"{bh_flagged}/{bh_total} behavioral-health call types flagged"
    assert other_flagged / other_total <= 0.01, f"{other_flagged}/{other_total} other call types flagged"
    for city in cities:  # every city's own vocabulary works, not just one city's
        assert flagged[(city, True)] / totals[(city, True)] >= 0.5, city


@pytest.mark.parametrize(
    ("call_type", "crisis", "response"),
    [
        ("MENTAL PATIENT", True, domain.MOBILE_CRISIS),
        ("121C_Mental Disordr NonViolent", True, domain.MOBILE_CRISIS),
        ("121D_Mental Disorder Violnt Wp", True, domain.CIT_OFFICER),
        ("127D_Suicide Threat Weapon", True, domain.CIT_OFFICER),
        ("*Bridge Jumper_Law", True, domain.CIT_OFFICER),
        ("ONE DOWN/DRUG OD", True, domain.EMS_WITH_CIT),
        ("SUICIDE I/P", True, domain.CIT_OFFICER),
        ("BURGLARY OF A RESIDENCE", False, domain.NO_RESPONSE),
        ("Traffic Stop", False, domain.NO_RESPONSE),
        ("SHOTS FIRED", False, domain.NO_RESPONSE),
    ],
)
def test_vera_examples(call_type: str, crisis: bool, response: str) -> None:
    assessment = triage(nature_text_event(call_type), RULESET)
    assert (assessment.crisis, assessment.response) == (crisis, response)


def test_toronto_persons_in_crisis_event_types_are_all_flagged() -> None:
    rows = csv.DictReader(data_file("toronto_persons_in_crisis", "toronto_pic_calls_attended_raw_vanshikav2.csv").open())
    types = Counter(row["EVENT_TYPE"] for row in rows)
    assert set(types) == {"Person in Crisis", "Suicide-related", "Overdose"}
    for event_type in types:
        assert triage(nature_text_event(event_type, "toronto"), RULESET).crisis, event_type


def test_lane_county_mobile_crisis_dispatch_reasons() -> None:
    rows = list(csv.DictReader(data_file("lane_county_mobile_crisis_mcslc", "MCSLC.csv").open()))
    tiers: Counter[str] = Counter()
    for row in rows:
        reasons = [row[f"Reason for Dispatch #{i}"] for i in range(1, 6) if row[f"Reason for Dispatch #{i}"]]
        if reasons:
            tiers[triage(nature_text_event(" . ".join(reasons), "lane"), RULESET).response] += 1
    total = sum(tiers.values())
    assert total >= 4000
    # Every row was a mobile crisis dispatch; from the clinician's reason words alone most must be flagged,
    # and none needs a police-only response.
    assert (total - tiers[domain.NO_RESPONSE]) / total >= 0.65
    assert tiers[domain.POLICE_ONLY] == 0
