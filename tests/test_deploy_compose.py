"""deploy/docker-compose.yml, checked offline: the Compose specification parser (compose-spec, the Rust
compose_spec crate) validates it, and the stack is checked against the service's own settings and topics.
Not run here: there is no Docker engine on these machines (deploy/README.md says so).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from compose_spec import PyCompose

from dispatch_bridge.settings import Settings, TopicSettings
from tests.test_deploy_helpers import DEPLOY, ROOT, settings_env

COMPOSE = DEPLOY / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_compose_spec_parser_accepts_the_file_and_its_references():
    parsed = PyCompose.from_yaml(COMPOSE.read_text(encoding="utf-8"))
    parsed.validate()  # every volume, network and secret a service uses is declared
    assert set(parsed.service_names()) == {
        "kafka", "kafka-init", "postgres", "bridge", "kafka-exporter", "prometheus", "grafana"}


def test_compose_spec_parser_is_live_it_rejects_an_unknown_key_and_an_undeclared_secret():
    with pytest.raises(ValueError):
        PyCompose.from_yaml("services:\n  a:\n    image: x:1\n    restart_policy: always\n")
    undeclared = PyCompose.from_yaml("services:\n  a:\n    image: x:1\n    secrets: [nope]\n")
    with pytest.raises(ValueError):
        undeclared.validate()


def test_images_are_pinned_and_kafka_runs_kraft_without_zookeeper(compose):
    services = compose["services"]
    for name, service in services.items():
        image = service.get("image", "")
        assert image and ":" in image and not image.endswith(":latest"), f"{name}: pin an image tag"
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert not [n for n, svc in services.items() if "zookeeper" in (svc.get("image", "") + str(svc.get("environment", ""))).lower()]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_kafka_init_creates_exactly_the_settings_topics_with_the_tables_compacted(compose):
    init = compose["services"]["kafka-init"]
    assert init["restart"] == "no"
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"
    script = "\n".join(init["command"])
    created = dict(re.findall(r"^\s*create (\S+)(.*)$", script, flags=re.M))
    assert set(created) == set(TopicSettings().model_dump().values())
    compacted = {t for t, rest in created.items() if "cleanup.policy=compact" in rest}
    defaults = TopicSettings()
    # The same tables the service itself compacts when it creates topics (Service.create_topics).
    assert compacted == {defaults.units, defaults.personnel}


def test_bridge_settings_resolve_and_point_at_the_stack(compose, monkeypatch):
    bridge = compose["services"]["bridge"]
    env = {k: str(v) for k, v in bridge["environment"].items()}
    settings: Settings = settings_env(env, monkeypatch)
    assert settings.kafka.bootstrap_servers == "kafka:9092"
    assert settings.kafka.enable_idempotence is True  # real Apache Kafka here, unlike Tansu in the tests
    assert settings.kafka.create_topics is False  # kafka-init owns the topics
    assert settings.store.backend == "postgresql"
    postgres = compose["services"]["postgres"]["environment"]
    assert settings.store.url == (f"postgresql://{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}"
                                  f"@postgres:5432/{postgres['POSTGRES_DB']}")
    assert str(settings.rules_dir) == "/app/rules/default"
    # The token comes from a compose secret mounted as a file, never a literal in the file.
    assert str(settings.api.token_file) == "/run/secrets/api_token"
    assert "DISPATCH_BRIDGE_API__TOKEN" not in env
    assert bridge["secrets"] == ["api_token"]
    assert compose["secrets"]["api_token"] == {"environment": "DISPATCH_BRIDGE_API_TOKEN"}
    # SIGTERM drain fits in the stop grace period.
    grace = int(bridge["stop_grace_period"].rstrip("s"))
    assert grace > settings.processing.shutdown_drain_seconds
    assert bridge["depends_on"]["kafka-init"]["condition"] == "service_completed_successfully"


def test_bridge_runs_read_only_as_the_image_user_with_the_rules_mounted(compose):
    bridge = compose["services"]["bridge"]
    assert bridge["read_only"] is True and bridge["user"] == "10001:0"
    assert "../rules:/app/rules:ro" in bridge["volumes"]
    assert (COMPOSE.parent / "../rules/default/pack.yaml").resolve().exists()
    assert (COMPOSE.parent / bridge["build"]["context"] / bridge["build"]["dockerfile"]).resolve() == ROOT / "Dockerfile"
    assert bridge["ports"] == ["8080:8080"]


def test_every_bind_mount_source_exists(compose):
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).resolve().exists(), f"{name}: {source} is missing"


def test_prometheus_scrapes_the_bridge_and_the_lag_exporter_and_loads_the_alerts(compose):
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    # The alert rules select job="dispatch-bridge".
    assert jobs["dispatch-bridge"]["static_configs"][0]["targets"] == ["bridge:8080"]
    assert jobs["dispatch-bridge"]["metrics_path"] == "/metrics"
    assert jobs["kafka-exporter"]["static_configs"][0]["targets"] == ["kafka-exporter:9308"]
    mounts = dict(v.split(":")[:2] for v in compose["services"]["prometheus"]["volumes"])
    assert Path(mounts["./prometheus/alerts.yaml"]).as_posix() in config["rule_files"]


def test_grafana_is_provisioned_with_the_datasource_and_the_dashboard(compose):
    grafana = compose["services"]["grafana"]
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"])
    dashboard_path = mounts["./grafana/dispatch-bridge.json"]
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/dispatch-bridge.yaml").read_text())
    assert Path(dashboard_path).parent.as_posix() == provider["providers"][0]["options"]["path"]
    datasource = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yaml").read_text())
    (source,) = datasource["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
