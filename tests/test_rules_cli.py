"""`rules test|check|evaluate` as a coordinator runs them: real files, real subprocesses, exit codes."""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dispatch_bridge.triage.commands import register

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PACK = REPO / "rules" / "default"


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dispatch_bridge.triage.commands", "rules", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    directory = tmp_path / "candidate"
    shutil.copytree(DEFAULT_PACK, directory)
    return directory


def incident_line(incident_id: str, nature_code: str, text: str, revision: int = 0) -> str:
    return json.dumps(
        {
            "schema_version": 1,
            "event_id": f"{incident_id}-{revision}",
            "event_type": "incident.updated" if revision else "incident.created",
            "occurred_at": "2026-03-03T14:00:00-06:00",
            "agency": "metro",
            "incident": {
                "id": incident_id,
                "revision": revision,
                "nature_code": nature_code,
                "narrative": [{"text": text}],
            },
        }
    )


def test_test_passes_on_the_default_pack_from_its_default_dir() -> None:
    done = run("test")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ok: all ") and "rules/default version 2026.11.1" in done.stdout


def test_test_fails_with_a_readable_diff(pack: Path) -> None:
    cases = pack / "route.test.yaml"
    cases.write_text(
        cases.read_text().replace(
            "{name: barricaded EDP, incident: {nature_code: EDP, narrative: \"subj barricaded in bedroom\"}, "
            "expect: {response: police_only, flags: [tactical]}}",
            "{name: barricaded EDP, incident: {nature_code: EDP, narrative: \"subj barricaded in bedroom\"}, "
            "expect: {response: mobile_crisis, flags: [tactical, weapon]}}",
        )
    )
    done = run("test", pack)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].startswith("FAIL route.test.yaml:") and lines[0].endswith("barricaded EDP")
    assert "  response: want mobile_crisis, got police_only" in lines
    assert "  flags:    missing weapon" in lines
    assert any(line.startswith("  fired:   ") and "tactical-incident (barricaded)" in line for line in lines)
    assert lines[-1].startswith("FAILED: 1 of ")


def test_check_lints_without_running(pack: Path) -> None:
    done = run("check", pack)
    assert done.returncode == 0
    assert "include rules" in done.stdout and "test cases" in done.stdout
    (pack / "route.yaml").write_text((pack / "route.yaml").read_text().replace("tier: police_only", "tier: swat"))
    done = run("check", pack)
    assert done.returncode == 1
    assert done.stdout.startswith("INVALID")
    assert "candidate/route.yaml:" in done.stdout and "tier 'swat' is not one of the pack's tiers" in done.stdout
    assert "tier 'police_only' is unreachable" in done.stdout


def test_check_reports_broken_test_files(pack: Path) -> None:
    (pack / "extra.test.yaml").write_text("cases:\n  - name: typo\n    incident: {nature_code: EDP}\n    expect: {responce: none}\n")
    done = run("check", pack)
    assert done.returncode == 1
    assert "candidate/extra.test.yaml:4: expect: unknown key 'responce'" in done.stdout


def test_evaluate_counts_tiers_rules_and_scores_labels(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(
        "\n".join(
            [
                incident_line("a", "EDP", "hearing voices"),
                incident_line("b", "BURGLARY", "burglary in progress"),
                incident_line("c", "WELFARE", "check on neighbor"),
                incident_line("c", "WELFARE", "neighbor is suicidal", revision=1),  # the final snapshot counts
                "{not json",
                incident_line("d", "EDP", "has a knife"),
            ]
        )
        + "\n"
    )
    labels = tmp_path / "labels.csv"
    labels.write_text("incident_id,crisis,tier\na,true,mobile_crisis\nb,false\nc,true,mobile_crisis\nd,false,none\n")
    done = run("evaluate", "--events", events, "--labels", labels, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["events"] == 5 and report["invalid_lines"] == [5]
    summary = report["summary"]
    assert summary["incidents"] == 4 and summary["crisis"] == 3
    assert summary["tiers"] == {"mobile_crisis": 2, "none": 1, "cit_officer": 1}
    assert summary["rules"]["apco-behavioral-type"] == 2 and summary["flags"] == {"weapon": 1}
    scores = report["labels"]
    assert (scores["true_positive"], scores["false_positive"], scores["true_negative"]) == (2, 1, 1)
    assert scores["precision"] == pytest.approx(2 / 3) and scores["recall"] == 1.0
    assert scores["tier_agreement"] == pytest.approx(2 / 3)
    assert "hearing voices" not in done.stdout  # no narrative in reports


def test_evaluate_compare_lists_disagreements(tmp_path: Path, pack: Path) -> None:
    # The candidate widens eligibility: a welfare check counts on its own.
    include = pack / "include.yaml"
    include.write_text(include.read_text().replace("weight: 0.3\n    when: {apco: [WELFARE]}", "weight: 0.5\n    when: {apco: [WELFARE]}"))
    events = tmp_path / "events.jsonl"
    events.write_text(
        "\n".join(
            [
                incident_line("w1", "WELFARE", "check on elderly man"),
                incident_line("w2", "WELFARE", "mail piling up"),
                incident_line("e1", "EDP", "pacing"),
            ]
        )
    )
    done = run("evaluate", "--events", events, "--compare", pack)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "disagreements: 2 of 3 incidents" in done.stdout
    assert "none->mobile_crisis" in done.stdout
    assert "w1: none (crisis=false) -> mobile_crisis (crisis=true)" in done.stdout
    assert "calls per tier:" in done.stdout and "rules fired (incidents):" in done.stdout


def test_evaluate_rejects_bad_labels(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(incident_line("a", "EDP", "x") + "\n")
    labels = tmp_path / "labels.csv"
    labels.write_text("a,maybe\n")
    done = run("evaluate", "--events", events, "--labels", labels)
    assert done.returncode == 1
    assert "labels.csv:1: crisis must be true or false" in done.stdout


def test_register_wires_handlers_for_the_lead_cli() -> None:
    parser = argparse.ArgumentParser(prog="dispatch-bridge")
    register(parser.add_subparsers(dest="command", required=True))
    for argv in (["rules", "test"], ["rules", "check", "somewhere"], ["rules", "evaluate", "--events", "e.jsonl"]):
        args = parser.parse_args(argv)
        assert callable(args.func)
    args = parser.parse_args(["rules", "check"])
    assert args.dir == Path("rules/default")
    out = io.StringIO()
    args.dir = DEFAULT_PACK
    assert args.func(args, out) == 0 and out.getvalue().startswith("ok: ")
    evaluate_help = subprocess.run(
        [sys.executable, "-m", "dispatch_bridge.triage.commands", "rules", "evaluate", "--help"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    ).stdout
    assert "incident_id,crisis[,tier]" in evaluate_help
