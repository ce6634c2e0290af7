"""Hot reload and shadow mode on real pack directories: a broken or failing pack never goes live."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import pytest

from dispatch_bridge import domain
from dispatch_bridge.contracts import IncidentEvent
from dispatch_bridge.triage import RulesetError, RulesetHolder, ShadowEvaluator, load_ruleset, triage

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PACK = REPO / "rules" / "default"


class FakeClock:
    """The holder's injected clock: the loaded_at / attempted_at times, deterministic in tests."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(minutes=1)
        return self.now


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    directory = tmp_path / "default"
    shutil.copytree(DEFAULT_PACK, directory)
    return directory


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    # Make the change visible to mtime polling even on coarse-timestamp filesystems.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def event(nature_code: str, text: str, incident_id: str = "inc-1") -> IncidentEvent:
    return IncidentEvent.model_validate_json(
        json.dumps(
            {
                "schema_version": 1,
                "event_id": "ev",
                "event_type": "incident.created",
                "occurred_at": "2026-03-03T14:00:00-06:00",
                "agency": "metro",
                "incident": {"id": incident_id, "revision": 1, "nature_code": nature_code, "narrative": [{"text": text}]},
            }
        )
    )


def test_initial_load_runs_the_pack_tests(pack: Path) -> None:
    holder = RulesetHolder(pack, clock=FakeClock())
    status = holder.status()
    assert status["active"]["version"] == "2026.11.1"
    assert status["active"]["test_cases_passed"] >= 150
    assert status["last_failure"] is None
    json.dumps(status)  # JSON-ready for GET /v1/rules


def test_a_pack_failing_its_tests_cannot_start(pack: Path) -> None:
    edit(pack / "include.yaml", "weight: 0.7\n    when: {apco: [EDP, SUICIDE, SUICTHRT]}", "weight: 0.1\n    when: {apco: [EDP, SUICIDE, SUICTHRT]}")
    with pytest.raises(RulesetError) as caught:
        RulesetHolder(pack)
    assert "test cases failed" in caught.value.problems[0]


def test_valid_change_is_swapped_in(pack: Path) -> None:
    holder = RulesetHolder(pack, clock=FakeClock())
    old = holder.current
    assert holder.changed_on_disk() is False
    edit(pack / "pack.yaml", 'version: "2026.11.1"', 'version: "2026.11.2"')
    assert holder.changed_on_disk() is True
    result = holder.reload()
    assert result.ok and result.swapped and result.errors == ()
    assert holder.current is not old
    assert holder.current.version == "2026.11.2"
    assert holder.changed_on_disk() is False
    assert holder.status()["active"]["loaded_at"] == result.attempted_at.isoformat()


def test_broken_pack_keeps_the_old_one_and_reports_lines(pack: Path) -> None:
    holder = RulesetHolder(pack, clock=FakeClock())
    live = holder.current
    edit(pack / "route.yaml", "    tier: police_only\n", "    teir: police_only\n")
    result = holder.reload()
    assert not result.ok and not result.swapped
    assert holder.current is live
    assert any(line.startswith("default/route.yaml:") and "unknown key 'teir'" in line for line in result.errors)
    status = holder.status()
    assert status["active"]["version"] == "2026.11.1"
    assert status["last_failure"]["errors"] == list(result.errors)
    assert status["reloads"] == {"loaded": 1, "rejected": 1}
    # The failed attempt is remembered: no retry storm until the files change again.
    assert holder.changed_on_disk() is False


def test_pack_whose_own_tests_fail_is_rejected(pack: Path) -> None:
    holder = RulesetHolder(pack, clock=FakeClock())
    live = holder.current
    # A valid pack that now sends weapon calls to the mobile team: its own cases must stop it.
    edit(pack / "route.yaml", "because: Weapon reported - police-led response with a CIT officer\n    tier: cit_officer",
         "because: Weapon reported\n    tier: mobile_crisis")
    load_ruleset(pack)  # loads fine ...
    result = holder.reload()  # ... but fails its tests
    assert not result.ok
    assert holder.current is live
    assert "test cases failed" in result.errors[0]
    assert any("response: want cit_officer, got mobile_crisis" in e for e in result.errors)
    assert result.version == "2026.11.1"


def test_unchanged_reload_is_ok_without_a_swap(pack: Path) -> None:
    holder = RulesetHolder(pack, clock=FakeClock())
    live = holder.current
    result = holder.reload()
    assert result.ok and not result.swapped and holder.current is live


def test_added_and_removed_files_count_as_changes(pack: Path) -> None:
    holder = RulesetHolder(pack, clock=FakeClock())
    (pack / "extra.yaml").write_text("facts:\n  dog:\n    phrases: [dog]\n")
    assert holder.changed_on_disk() is True
    assert holder.reload().ok
    (pack / "extra.yaml").unlink()
    assert holder.changed_on_disk() is True


def test_shadow_counts_disagreements_without_narrative(pack: Path) -> None:
    live_rules = load_ruleset(DEFAULT_PACK)
    edit(pack / "include.yaml", "weight: 0.3\n    when: {apco: [WELFARE]}", "weight: 0.5\n    when: {apco: [WELFARE]}")
    shadow = ShadowEvaluator(load_ruleset(pack), keep_last=2)
    calls = [
        event("WELFARE", "neighbor has not seen her in days", "inc-1"),
        event("WELFARE", "check on elderly man", "inc-2"),
        event("EDP", "hearing voices", "inc-3"),
        event("WELFARE", "mail piling up", "inc-4"),
    ]
    for call in calls:
        live = triage(call, live_rules)
        candidate = shadow.evaluate(call, live)
        assert candidate.ruleset_sha256 != live.ruleset_sha256
    status = shadow.status()
    assert status["observed"] == 4
    assert status["disagreements"] == status["crisis_disagreements"] == 3
    assert status["tier_changes"] == {"none->mobile_crisis": 3}
    assert [d["incident_id"] for d in status["last"]] == ["inc-2", "inc-4"]
    assert status["last"][0]["live"] == {"crisis": False, "response": "none", "flags": []}
    assert status["last"][0]["shadow"]["response"] == domain.MOBILE_CRISIS
    assert "mobile-crisis-eligible" in status["last"][0]["rules_only_shadow"]
    text = json.dumps(status)
    assert "mail" not in text and "elderly" not in text
