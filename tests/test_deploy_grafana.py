"""The Grafana dashboard (deploy/grafana/dispatch-bridge.json): valid JSON, a sound layout, and every PromQL target
parsed by promtool and naming only metrics and labels of the service's catalogue (or the documented exporter)."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from tests.test_deploy_helpers import DEPLOY, EXTERNAL_METRICS, catalogue, tool, unknown_names

DASHBOARD = DEPLOY / "grafana" / "dispatch-bridge.json"


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def targets(dashboard: dict) -> list[tuple[str, str]]:
    return [(panel["title"], target["expr"]) for panel in dashboard["panels"] for target in panel["targets"]]


def substitute(expr: str, dashboard: dict) -> str:
    """Template variables replaced by their defaults, as Grafana sends the query."""
    for variable in dashboard["templating"]["list"]:
        expr = expr.replace(f"${variable['name']}", variable["current"]["value"])
    return expr


def test_dashboard_identity_and_layout(dashboard):
    assert dashboard["uid"] == "dispatch-bridge" and dashboard["title"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, f"{panel['title']} is wider than the grid"
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps another panel"
                cells.add((x, y))
        assert panel["datasource"]["uid"] == "${datasource}"


def test_the_panels_operations_asked_for_are_there(dashboard):
    exprs = " ".join(expr for _, expr in targets(dashboard))
    assert "sum by (response) (rate(dispatch_bridge_recommendations_published_total" in exprs
    assert "dispatch_bridge_dlq_messages_total" in exprs
    assert "histogram_quantile(0.5, sum by (le) (rate(dispatch_bridge_end_to_end_latency_seconds_bucket" in exprs
    assert "histogram_quantile(0.99, sum by (le) (rate(dispatch_bridge_end_to_end_latency_seconds_bucket" in exprs
    assert "max by (district) (dispatch_bridge_cit_officers_on_duty" in exprs
    assert "kafka_consumergroup_lag" in exprs
    assert "dispatch_bridge_ready" in exprs


def test_every_target_names_catalogued_metrics_and_labels(dashboard):
    known = {**catalogue(), **EXTERNAL_METRICS}
    problems = {title: unknown_names(substitute(expr, dashboard), known) for title, expr in targets(dashboard)}
    assert {title: p for title, p in problems.items() if p} == {}


def test_every_target_is_valid_promql(dashboard, tmp_path):
    """promtool parses each query as a recording rule: Prometheus' own parser, offline."""
    recorded = [{"record": f"dashboard:target_{i}", "expr": substitute(expr, dashboard)}
                for i, (_, expr) in enumerate(targets(dashboard))]
    path = tmp_path / "targets.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recorded}]}), encoding="utf-8")
    result = subprocess.run([tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(recorded)} rules found" in result.stdout


def test_promtool_check_is_live_it_rejects_broken_promql(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [
        {"record": "x:y", "expr": "sum by (le (rate(dispatch_bridge_ready[5m]))"}]}]}), encoding="utf-8")
    result = subprocess.run([tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0


def test_variables_have_defaults_matching_the_scrape_job_and_group(dashboard):
    variables = {v["name"]: v["current"]["value"] for v in dashboard["templating"]["list"]}
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    assert variables["job"] in {job["job_name"] for job in prometheus["scrape_configs"]}
    from dispatch_bridge.settings import Settings

    assert variables["group"] == Settings().kafka.group_id
    # Every variable a query uses is defined.
    used = {name for _, expr in targets(dashboard) for name in re.findall(r"\$(\w+)", expr)}
    assert used <= set(variables)
