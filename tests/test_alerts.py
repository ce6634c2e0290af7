"""Prometheus alert rules (deploy/prometheus/alerts.yaml).

- promtool (Debian package `prometheus`) checks the syntax and runs the unit tests in alerts.test.yaml;
- mutation tests prove those unit tests guard the subtle parts of the expressions;
- every metric and label the rules name exists in the service's catalogue, from a real /metrics scrape;
- end to end: the real service is driven into alert states (rejected reload, dead letter, not ready, a district
  without CIT), its /metrics is scraped over HTTP, and promtool evaluates the rules on exactly those series.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from aiokafka import ConsumerRecord, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from dispatch_bridge.api.app import build_app
from dispatch_bridge.service import Service
from dispatch_bridge.settings import Settings
from tests.test_deploy_helpers import DEPLOY, EXTERNAL_METRICS, ROOT, catalogue, tool, unknown_names

PROMETHEUS = DEPLOY / "prometheus"
ALERTS = PROMETHEUS / "alerts.yaml"
ALERT_TESTS = PROMETHEUS / "alerts.test.yaml"
SEVERITIES = {"critical", "warning"}


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"]]


def promtool(*args: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("promtool"), *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def render(text: str, labels: dict[str, str], value: str = "") -> str:
    """What Go's template engine makes of our annotations (only the forms they use)."""
    text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], text)
    return text.replace("{{ $value }}", value)


def expected_alert(name: str, labels: dict[str, str], value: str = "") -> dict[str, Any]:
    rule = next(r for r in rules() if r["alert"] == name)
    return {"exp_labels": {**labels, "severity": rule["labels"]["severity"]},
            "exp_annotations": {k: render(v, labels, value) for k, v in rule["annotations"].items()}}


# -- promtool -------------------------------------------------------------------------------------------------


def test_promtool_checks_the_rules():
    result = promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_promtool_unit_tests_pass():
    result = promtool("test", "rules", ALERT_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_firing_case_and_a_silent_case():
    cases = yaml.safe_load(ALERT_TESTS.read_text(encoding="utf-8"))
    fires: set[str] = set()
    silent: set[str] = set()
    for test in cases["tests"]:
        for check in test["alert_rule_test"]:
            (fires if check["exp_alerts"] else silent).add(check["alertname"])
    names = {r["alert"] for r in rules()}
    assert fires == names, f"no firing case for {sorted(names - fires)}"
    assert silent == names, f"no silent case for {sorted(names - silent)}"


# Each mutation removes one deliberate part of an expression; the unit tests must notice.
MUTATIONS = {
    "no_recommendations_without_or_vector": (
        "(sum(increase(dispatch_bridge_recommendations_published_total[1h])) or vector(0)) == 0",
        "sum(increase(dispatch_bridge_recommendations_published_total[1h])) == 0"),
    "dead_letter_without_the_new_series_branch": (
        "          or\n          sum by (job, reason) ((dispatch_bridge_dlq_messages_total > 0) unless "
        "dispatch_bridge_dlq_messages_total offset 10m)\n", "\n"),
    "dead_letter_new_series_without_the_zero_guard": (
        "(dispatch_bridge_dlq_messages_total > 0) unless", "dispatch_bridge_dlq_messages_total unless"),
    "coverage_counting_unassigned": ('dispatch_bridge_cit_officers_on_duty{district!="unassigned"}',
                                     "dispatch_bridge_cit_officers_on_duty"),
    "coverage_per_replica_min": ("max by (job, district) (dispatch_bridge_cit_officers_on_duty",
                                 "min by (job, district) (dispatch_bridge_cit_officers_on_duty"),
    "lag_without_growth": ("sum by (consumergroup, topic) (delta(", "0 * sum by (consumergroup, topic) (delta("),
    "liveness_bound_off": ("(dispatch_bridge_last_poll_timestamp_seconds) > 60",
                           "(dispatch_bridge_last_poll_timestamp_seconds) > 6000"),
    "held_any_group": ('(dispatch_bridge_consumption_held{group="dispatch-bridge"})',
                       "(dispatch_bridge_consumption_held)"),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_unit_tests_catch_a_weakened_rule(name, tmp_path):
    old, new = MUTATIONS[name]
    text = ALERTS.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"mutation {name} no longer applies: update it with the rule"
    (tmp_path / "alerts.yaml").write_text(text.replace(old, new), encoding="utf-8")
    shutil.copy(ALERT_TESTS, tmp_path / ALERT_TESTS.name)
    assert promtool("check", "rules", "alerts.yaml", cwd=tmp_path).returncode == 0  # still valid PromQL
    result = promtool("test", "rules", ALERT_TESTS.name, cwd=tmp_path)
    assert result.returncode != 0, f"the unit tests did not notice mutation {name}"
    assert "FAILED" in result.stdout + result.stderr


# -- names, labels, annotations -------------------------------------------------------------------------------


def test_required_alerts_exist():
    names = {r["alert"] for r in rules()}
    assert {"DispatchBridgeConsumerLagGrowing", "DispatchBridgeDeadLetter", "DispatchBridgeNoRecommendations",
            "DispatchBridgeCITCoverageBelowMinimum", "DispatchBridgeRulesetReloadRejected",
            "DispatchBridgeDLQGuardTripped", "DispatchBridgeNotReady", "DispatchBridgeLivenessStalled",
            "DispatchBridgeHeldForOutcomeStore"} <= names


@pytest.mark.parametrize("rule", rules(), ids=lambda r: r["alert"])
def test_alert_has_severity_summary_description_and_runbook(rule):
    assert rule["labels"]["severity"] in SEVERITIES
    assert set(rule["annotations"]) == {"summary", "description", "runbook"}
    for text in rule["annotations"].values():
        assert len(text) > 20
    assert "deploy/README.md#runbook" in rule["annotations"]["runbook"]


@pytest.mark.parametrize("rule", rules(), ids=lambda r: r["alert"])
def test_alert_names_only_catalogued_metrics_and_their_labels(rule):
    known = {**catalogue(), **EXTERNAL_METRICS}
    assert unknown_names(rule["expr"], known) == []


@pytest.mark.parametrize("rule", rules(), ids=lambda r: r["alert"])
def test_annotations_template_only_labels_the_alert_keeps(rule):
    """A {{ $labels.x }} the expression aggregates away renders empty in the page."""
    referenced = set()
    for text in rule["annotations"].values():
        referenced |= set(re.findall(r"\$labels\.(\w+)", text))
    kept = set()
    for match in re.finditer(r"\b(?:max|sum|min) by \(([^)]*)\)", rule["expr"]):
        kept |= {label.strip() for label in match.group(1).split(",")}
    if not kept:  # no aggregation: every label of the selected series is kept
        return
    assert referenced <= kept


def test_external_metrics_are_documented_in_the_rules_file():
    header = ALERTS.read_text(encoding="utf-8").split("groups:")[0]
    for name, labels in EXTERNAL_METRICS.items():
        assert name in header
        assert all(label in header for label in labels)


def test_group_and_topic_in_the_lag_alert_are_the_settings_defaults():
    (lag,) = [r for r in rules() if r["alert"] == "DispatchBridgeConsumerLagGrowing"]
    settings = Settings()
    assert f'consumergroup="{settings.kafka.group_id}"' in lag["expr"]
    assert f'topic="{settings.topics.incidents}"' in lag["expr"]


def test_liveness_bound_matches_the_setting():
    (stalled,) = [r for r in rules() if r["alert"] == "DispatchBridgeLivenessStalled"]
    bound = Settings().processing.liveness_stall_seconds
    assert f") > {bound:g}" in stalled["expr"]


# -- end to end: the real service's /metrics through promtool -------------------------------------------------


async def _scrape_service_in_alert_states(tmp_path: Path) -> str:
    pack = tmp_path / "pack"
    shutil.copytree(ROOT / "rules" / "default", pack)
    settings = Settings(rules_dir=pack, roster={"coverage_districts": ["north"], "coverage_min_per_district": 2})
    service = Service(settings)
    # A coordinator saves a broken pack: the reload is refused and counted.
    (pack / "pack.yaml").write_text("version: [not, a, string\n", encoding="utf-8")
    assert service.reload_rules("test")["last_failure"]["ok"] is False
    # A record that is not JSON arrives on cad.incidents: dead-lettered and counted.
    record = ConsumerRecord(topic="cad.incidents", partition=0, offset=7, timestamp=0, timestamp_type=0,
                            key=b"INC-1", value=b"\xff not json", checksum=None, serialized_key_size=5,
                            serialized_value_size=10, headers=[])
    result, _, halted = service.processor.process({TopicPartition("cad.incidents", 0): [record]},
                                                  dt.datetime.now(dt.UTC))
    assert halted is None
    assert len(result.outgoing) == 1
    # Coverage gauges as the housekeeping loop exports them; the minimum as start() sets it.
    service._export_coverage()
    service.metrics.cit_coverage_minimum.set(settings.roster.coverage_min_per_district)
    service.ready()  # not started: readiness gauge 0
    client = TestClient(TestServer(build_app(service)))
    await client.start_server()
    try:
        response = await client.get("/metrics")
        assert response.status == 200
        return await response.text()
    finally:
        await client.close()


def _series_from_scrape(text: str, instance: str) -> list[dict[str, str]]:
    series = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.endswith(("_created", "_bucket")) or "timestamp" in sample.name:
                continue
            labels = {**sample.labels, "job": "dispatch-bridge", "instance": instance}
            selector = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            series.append({"series": f"{sample.name}{{{selector}}}", "values": f"{sample.value:g}x40"})
    return series


async def test_rules_fire_on_a_real_scrape_of_the_service(tmp_path):
    text = await _scrape_service_in_alert_states(tmp_path)
    reasons = {s.labels["reason"] for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "dispatch_bridge_dlq_messages_total"}
    (reason,) = reasons
    instance = {"job": "dispatch-bridge", "instance": "bridge:8080"}
    checks = [
        ("10m", "DispatchBridgeRulesetReloadRejected", [expected_alert("DispatchBridgeRulesetReloadRejected",
                                                                      {"job": "dispatch-bridge"})]),
        # The series start at the scraped value: within the window they are "new", as after the first event.
        ("5m", "DispatchBridgeDeadLetter", [expected_alert("DispatchBridgeDeadLetter",
                                                            {"job": "dispatch-bridge", "reason": reason})]),
        ("10m", "DispatchBridgeNotReady", [expected_alert("DispatchBridgeNotReady", instance)]),
        ("10m", "DispatchBridgeNoInstanceReady", [expected_alert("DispatchBridgeNoInstanceReady", {})]),
        ("20m", "DispatchBridgeCITCoverageBelowMinimum", [expected_alert(
            "DispatchBridgeCITCoverageBelowMinimum", {"job": "dispatch-bridge", "district": "north"}, "0")]),
        # Not in these states: the guard did not trip, and there is no traffic to miss recommendations in.
        ("10m", "DispatchBridgeDLQGuardTripped", []),
        ("30m", "DispatchBridgeNoRecommendations", []),
    ]
    doc = {"rule_files": [str(ALERTS)], "evaluation_interval": "1m", "tests": [{
        "name": "the service's own /metrics in alert states",
        "interval": "1m",
        "input_series": _series_from_scrape(text, "bridge:8080"),
        "alert_rule_test": [{"eval_time": t, "alertname": n, "exp_alerts": e} for t, n, e in checks],
    }]}
    test_file = tmp_path / "scrape.test.yaml"
    test_file.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    result = promtool("test", "rules", str(test_file), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
