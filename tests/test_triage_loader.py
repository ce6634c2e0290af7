"""Strict pack loading: every problem reported as file:line, version and content hash, the default pack loads."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from dispatch_bridge.triage import RulesetError, load_ruleset

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PACK = REPO / "rules" / "default"

PACK_YAML = """\
version: "1.0"
timezone: America/Chicago
include_threshold: 0.5
tiers: [cit_officer, mobile_crisis]
default_tier: cit_officer
narrative: {negation: [no, denies]}
"""
RULES_YAML = """\
facts:
  suicidal:
    phrases: [suicidal, si]
include:
  - id: edp
    because: EDP call type
    weight: 0.7
    when: {apco: [EDP]}
  - id: suicidal
    because: Suicidal statements
    weight: 0.6
    when: {facts: {suicidal: yes}}
route:
  - id: weapon
    because: Weapon code
    tier: cit_officer
    flags: [weapon]
    when: {apco: [WEAPON]}
  - id: team
    because: Mobile crisis
    tier: mobile_crisis
"""


def write_pack(root: Path, pack: str = PACK_YAML, rules: str = RULES_YAML) -> Path:
    directory = root / "pack"
    directory.mkdir()
    (directory / "pack.yaml").write_text(textwrap.dedent(pack))
    (directory / "rules.yaml").write_text(textwrap.dedent(rules))
    return directory


def problems_of(directory: Path) -> tuple[str, ...]:
    with pytest.raises(RulesetError) as caught:
        load_ruleset(directory)
    # The message lists every problem, one per line.
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def test_minimal_pack_loads(tmp_path: Path) -> None:
    ruleset = load_ruleset(write_pack(tmp_path))
    assert ruleset.version == "1.0"
    assert len(ruleset.sha256) == 64
    assert [r.id for r in ruleset.include] == ["edp", "suicidal"]
    assert [r.tier for r in ruleset.route] == ["cit_officer", "mobile_crisis"]


def test_default_pack_loads_with_declared_version() -> None:
    ruleset = load_ruleset(DEFAULT_PACK)
    assert ruleset.version == "2026.11.1"
    assert set(ruleset.tiers) == {"cit_officer", "mobile_crisis", "co_response", "ems_with_cit", "police_only"}
    assert ruleset.matcher.phrase_count > 400
    assert len(ruleset.test_files) >= 3


def test_unknown_keys_are_reported_with_lines(tmp_path: Path) -> None:
    rules = RULES_YAML.replace("    tier: cit_officer\n", "    teir: cit_officer\n    tier: cit_officer\n")
    pack = PACK_YAML + "colour: blue\n"
    found = problems_of(write_pack(tmp_path, pack, rules))
    assert "pack/pack.yaml:7: unknown key 'colour'" in found[0]
    assert any(p.startswith("pack/rules.yaml:16: unknown key 'teir'") for p in found)


def test_bad_types_are_reported(tmp_path: Path) -> None:
    pack = PACK_YAML.replace('version: "1.0"', "version: 1.0").replace("0.5", "high")
    rules = RULES_YAML.replace("weight: 0.7", "weight: lots")
    found = problems_of(write_pack(tmp_path, pack, rules))
    assert "pack/pack.yaml:1: version must be a non-empty string (quote numbers)" in found
    assert "pack/pack.yaml:3: include_threshold must be a number" in found
    assert "pack/rules.yaml:7: weight must be a number" in found


def test_duplicate_rule_ids(tmp_path: Path) -> None:
    rules = RULES_YAML.replace("  - id: suicidal\n", "  - id: edp\n")
    found = problems_of(write_pack(tmp_path, rules=rules))
    assert found == ("pack/rules.yaml:9: duplicate rule id 'edp' (first at rules.yaml:5)",)


def test_duplicate_yaml_keys(tmp_path: Path) -> None:
    rules = RULES_YAML.replace("    weight: 0.7\n", "    weight: 0.7\n    weight: 0.2\n")
    found = problems_of(write_pack(tmp_path, rules=rules))
    assert found == ("pack/rules.yaml:8: duplicate key 'weight' (first defined on line 7)",)


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    found = problems_of(write_pack(tmp_path, rules=RULES_YAML + "  - id: [unclosed\n"))
    assert len(found) == 1 and found[0].startswith("pack/rules.yaml:2") and "invalid YAML" in found[0]


def test_unreachable_tiers(tmp_path: Path) -> None:
    pack = PACK_YAML.replace("[cit_officer, mobile_crisis]", "[cit_officer, mobile_crisis, co_response]")
    found = problems_of(write_pack(tmp_path, pack))
    assert found == ("pack/pack.yaml:4: tier 'co_response' is unreachable: no route rule picks it",)


def test_rule_after_a_catch_all_is_unreachable(tmp_path: Path) -> None:
    rules = RULES_YAML + "  - id: never\n    because: Never reached\n    tier: cit_officer\n    when: {apco: [EDP]}\n"
    found = problems_of(write_pack(tmp_path, rules=rules))
    assert found == (
        "pack/rules.yaml:22: route rule 'never' is unreachable: catch-all rule 'team' (rules.yaml:19) comes first",
    )


def test_route_tier_must_be_declared(tmp_path: Path) -> None:
    rules = RULES_YAML.replace("    tier: cit_officer\n", "    tier: police_only\n")
    found = problems_of(write_pack(tmp_path, rules=rules))
    assert "pack/rules.yaml:16: tier 'police_only' is not one of the pack's tiers (cit_officer, mobile_crisis)" in found


def test_invalid_patterns_and_names(tmp_path: Path) -> None:
    rules = (
        RULES_YAML.replace("[suicidal, si]", "[suicidal, sui*cidal]")
        .replace("{apco: [EDP]}", "{apco: [EDPP], determinant: [25Z*]}")
        .replace("{apco: [WEAPON]}", "{facts: {weapon: yes}, during: night}")
    )
    found = problems_of(write_pack(tmp_path, rules=rules))
    assert "pack/rules.yaml:3: suicidal.phrases: phrase 'sui*cidal': '*' is only allowed at the end (any word ending)" in found
    assert "pack/rules.yaml:8: apco: not an APCO common incident type: EDPP" in found
    assert any(p.startswith("pack/rules.yaml:8: determinant: invalid MPDS pattern '25Z*'") for p in found)
    assert any(p.startswith("pack/rules.yaml:18: facts: unknown fact 'weapon'") for p in found)
    assert any(p.startswith("pack/rules.yaml:18: during: unknown schedule 'night'") for p in found)


def test_unknown_condition_and_placeholder(tmp_path: Path) -> None:
    rules = RULES_YAML.replace("{apco: [EDP]}", "{apcoo: [EDP]}").replace(
        "because: Suicidal statements", "because: '{caller_name} is suicidal'"
    )
    found = problems_of(write_pack(tmp_path, rules=rules))
    assert any(p.startswith("pack/rules.yaml:8: unknown condition 'apcoo'") for p in found)
    assert any(p.startswith("pack/rules.yaml:10: because: unknown placeholder(s) caller_name") for p in found)


def test_unreachable_threshold_and_bad_time_zone(tmp_path: Path) -> None:
    pack = PACK_YAML.replace("0.5", "1.0").replace("America/Chicago", "Mars/Olympus")
    rules = RULES_YAML.replace("weight: 0.7", "weight: 0.2").replace("weight: 0.6", "weight: 0.3")
    found = problems_of(write_pack(tmp_path, pack, rules))
    assert "pack/pack.yaml:2: unknown time zone 'Mars/Olympus'" in found
    assert "pack/pack.yaml:3: include_threshold 1.0 is unreachable: all positive weights add up to 0.5" in found


def test_nature_code_map_must_target_apco_types(tmp_path: Path) -> None:
    pack = PACK_YAML + "nature_codes:\n  '*':\n    '10-96': EDP\n    MENTAL: PSYCHO\n"
    found = problems_of(write_pack(tmp_path, pack))
    assert found == ("pack/pack.yaml:10: nature code 'MENTAL' maps to 'PSYCHO', not an APCO common incident type",)


def test_yes_and_no_stay_words(tmp_path: Path) -> None:
    # YAML 1.1 would read the negation word `no` as False; the loader uses YAML 1.2 booleans.
    ruleset = load_ruleset(write_pack(tmp_path))
    assert ruleset.matcher.facts("no suicidal thoughts")["suicidal"][0] == "no"


def test_missing_directory_and_pack_file(tmp_path: Path) -> None:
    assert "not a directory" in problems_of(tmp_path / "nowhere")[0]
    (tmp_path / "empty").mkdir()
    assert "missing pack.yaml" in problems_of(tmp_path / "empty")[0]


def test_sha256_follows_rule_content_not_tests(tmp_path: Path) -> None:
    copy = tmp_path / "default"
    shutil.copytree(DEFAULT_PACK, copy)
    original = load_ruleset(copy).sha256
    assert original == load_ruleset(DEFAULT_PACK).sha256
    test_file = copy / "route.test.yaml"
    test_file.write_text(test_file.read_text() + "\n# a comment in a test file\n")
    assert load_ruleset(copy).sha256 == original
    rules = copy / "route.yaml"
    rules.write_text(rules.read_text() + "\n# a comment in a rule file\n")
    assert load_ruleset(copy).sha256 != original


def test_conditions_on_every_incident_field(tmp_path: Path) -> None:
    import json

    from dispatch_bridge.contracts import IncidentEvent
    from dispatch_bridge.triage import TriageContext, triage

    pack = PACK_YAML.replace("[cit_officer, mobile_crisis]", "[cit_officer, mobile_crisis, co_response]") + (
        "schedules:\n  nights:\n    - {days: [fri, sat], from: \"22:00\", to: \"04:00\"}\n"
        "nature_codes:\n  '*': {PSY: EDP}\n  north: {P9: EDP}\n"
    )
    everything = """\
  - id: everything
    because: "{premise_crisis_calls} calls in {premise_window_days} days"
    weight: 0.1
    when:
      nature_code: [p9]
      agency: [north]
      priority: {max: 2}
      caller_party: [third]
      cad_flags: [MH]
      premise: {min_calls: 2, max_days: 90}
      during: nights
      determinant: ["25A*"]
      determinant_suffix: [V]
      not: {facts: {suicidal: [yes, unknown]}}
"""
    joint = "  - id: joint\n    because: Joint\n    tier: co_response\n    when: {apco: [HOSTAGE]}\n"
    rules = RULES_YAML.replace("route:\n", everything + "route:\n").replace("  - id: team\n", joint + "  - id: team\n")
    ruleset = load_ruleset(write_pack(tmp_path, pack, rules))

    def assess(**changes: object) -> set[str]:
        incident = {"id": "i", "revision": 0, "nature_code": "P9", "priority": 1, "caller_party": "third",
                    "flags": ["mh"], "determinant": "25A1V", "narrative": [{"text": "no suicidal talk"}]}
        occurred = changes.pop("at", "2026-03-06T23:00:00-06:00")  # a Friday night
        agency = changes.pop("agency", "north")
        context = changes.pop("context", TriageContext(3, 30))
        incident.update(changes)
        event = IncidentEvent.model_validate_json(json.dumps({
            "schema_version": 1, "event_id": "e", "event_type": "incident.created", "occurred_at": occurred,
            "agency": agency, "incident": incident}))
        return {r.rule for r in triage(event, ruleset, context).reasons}  # type: ignore[arg-type]

    assert assess() == {"edp", "everything", "team"}
    assert "everything" not in assess(priority=3)
    assert "everything" not in assess(caller_party="first")
    assert "everything" not in assess(flags=[])
    assert "everything" not in assess(context=TriageContext(3, 120))
    assert "everything" not in assess(context=None)
    assert "everything" not in assess(at="2026-03-04T23:00:00-06:00")  # a Wednesday
    assert "everything" in assess(at="2026-03-07T03:59:00-06:00")  # Friday's window runs past midnight
    assert "everything" not in assess(determinant="25A1")
    assert "everything" not in assess(determinant="26A1V")
    assert "everything" not in assess(narrative=[{"text": "suicidal"}])
    assert assess(agency="south") == set()  # P9 is north's code only, and the agency condition fails too
    assert "edp" in assess(agency="south", nature_code="PSY")
