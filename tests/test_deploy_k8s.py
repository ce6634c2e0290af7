"""Kubernetes manifests, validated offline: the core kinds against the Kubernetes 1.37 OpenAPI schemas
(kubernetes-validate, strict: unknown fields fail), the KEDA kinds by hand, and all of them against each other and
the service's settings. Not applied to a cluster here (deploy/README.md says so).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from dispatch_bridge.settings import TopicSettings
from tests.test_deploy_helpers import DEPLOY, ROOT, load_yaml_documents, setting, settings_env

K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.37.0"
KEDA_KINDS = {"ScaledObject", "TriggerAuthentication"}


def _load_renderer():
    import importlib.util

    spec = importlib.util.spec_from_file_location("render_rules_configmap", K8S / "render_rules_configmap.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def kustomization() -> dict[str, Any]:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def objects(kustomization) -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for resource in kustomization["resources"]:
        for doc in load_yaml_documents(K8S / resource):
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in out, f"{key} defined twice"
            out[key] = doc
    return out


@pytest.fixture(scope="module")
def deployment(objects) -> dict[str, Any]:
    return objects[("Deployment", "dispatch-bridge")]


@pytest.fixture(scope="module")
def container(deployment) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


@pytest.fixture(scope="module")
def pod_env(objects, container) -> dict[str, str]:
    """The container's environment as the kubelet would build it, with Secret values resolved."""
    env: dict[str, str] = {}
    for source in container["envFrom"]:
        env.update(objects[("ConfigMap", source["configMapRef"]["name"])]["data"])
    for item in container["env"]:
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = objects[("Secret", ref["name"])]["stringData"][ref["key"]]
    return env


def test_kustomization_lists_every_manifest_and_only_existing_ones(kustomization):
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk
    assert kustomization["namespace"] == "dispatch-bridge"


def test_core_kinds_pass_strict_schema_validation(objects):
    validated = 0
    for (kind, name), doc in objects.items():
        if kind in KEDA_KINDS:
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        validated += 1
    assert validated == len(objects) - 2


@pytest.mark.parametrize("mutate, error", [
    (lambda d: d["spec"]["template"]["spec"]["containers"][0].update(livenessprobe={}), kubernetes_validate.ValidationError),
    (lambda d: d["spec"].update(replicas="two"), kubernetes_validate.ValidationError),
    (lambda d: d["spec"]["template"]["spec"]["containers"][0]["ports"][0].update(containerPort="http"),
     kubernetes_validate.ValidationError),
])
def test_schema_validation_is_live_it_rejects_broken_deployments(deployment, mutate, error):
    broken = copy.deepcopy(deployment)
    mutate(broken)
    with pytest.raises(error):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_deployment_is_two_replicas_non_root_read_only(deployment, container):
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's USER
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    # A read-only root needs every path the service writes to be a volume.
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/tmp", "/app/data"} <= mounts
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()


def test_probes_hit_livez_and_readyz_on_the_container_port(container, pod_env):
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert str(ports["http"]) == pod_env["DISPATCH_BRIDGE_HTTP__PORT"]
    assert container["startupProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60, "room to load the pack and run its cases"


def test_grace_period_outlasts_the_drain(deployment, pod_env, monkeypatch):
    settings = settings_env(pod_env, monkeypatch)
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    # The service waits the drain, then up to 5 s more for abandoned work, then closes HTTP (Service.stop).
    assert grace > settings.processing.shutdown_drain_seconds + 5


def test_pod_environment_resolves_to_settings_for_kafka_with_tls_and_sasl(pod_env, monkeypatch):
    settings = settings_env(pod_env, monkeypatch)
    kafka = settings.kafka
    assert kafka.security_protocol == "SASL_SSL"
    assert kafka.sasl_mechanism == "SCRAM-SHA-512"
    assert kafka.sasl_password is not None  # SecretStr, from the Secret
    assert kafka.enable_idempotence is True
    assert settings.topics == TopicSettings()  # the published topic names
    assert str(settings.rules_dir) == "/app/rules/default"
    assert str(setting(settings, "DISPATCH_BRIDGE_API__TOKEN_FILE")) == "/var/run/secrets/dispatch-bridge/api-tokens"


def test_secrets_stay_out_of_the_configmap_and_are_placeholders(objects):
    config = objects[("ConfigMap", "dispatch-bridge-config")]["data"]
    for name in config:
        assert not any(word in name for word in ("PASSWORD", "TOKEN", "STORE__URL")), f"{name} belongs in the Secret"
    secret = objects[("Secret", "dispatch-bridge")]["stringData"]
    assert secret, "the Secret must list the keys a deployment fills in"
    for key, value in secret.items():
        assert "REPLACE_ME" in value, f"{key}: commit placeholders only"


def test_mounted_volumes_point_at_what_the_settings_read(deployment, container, objects, pod_env):
    pod = deployment["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert set(mounts) == set(volumes)
    rules = mounts["rules"]
    assert rules["mountPath"] == pod_env["DISPATCH_BRIDGE_RULES_DIR"]
    assert "subPath" not in rules, "a subPath mount never sees ConfigMap updates: no hot reload"
    assert volumes["rules"]["configMap"]["name"] == "dispatch-bridge-rules"
    token_file = Path(pod_env["DISPATCH_BRIDGE_API__TOKEN_FILE"])
    assert str(token_file.parent) == mounts["api-tokens"]["mountPath"]
    (item,) = volumes["api-tokens"]["secret"]["items"]
    assert item["path"] == token_file.name and item["key"] in objects[("Secret", "dispatch-bridge")]["stringData"]


def test_rules_configmap_is_exactly_the_default_pack():
    committed = (K8S / "rules-configmap.yaml").read_text(encoding="utf-8")
    rendered = _load_renderer().render(ROOT / "rules" / "default")
    assert committed == rendered, "rules/default changed: run `python deploy/k8s/render_rules_configmap.py`"
    data = yaml.safe_load(committed)["data"]
    assert {name: text for name, text in data.items()} == {
        p.name: p.read_text(encoding="utf-8") for p in (ROOT / "rules" / "default").glob("*.yaml")}


def test_rules_configmap_mounted_is_a_pack_the_service_loads(tmp_path):
    """Write the ConfigMap's files out the way the kubelet does and load them with the service's own holder."""
    from dispatch_bridge.triage import RulesetHolder

    data = yaml.safe_load((K8S / "rules-configmap.yaml").read_text(encoding="utf-8"))["data"]
    for name, text in data.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    holder = RulesetHolder(tmp_path)  # loads and runs the pack's own test cases
    assert holder.status()["active"]["test_cases_passed"] > 0


def test_rules_configmap_fits_the_kubernetes_limit():
    data = yaml.safe_load((K8S / "rules-configmap.yaml").read_text(encoding="utf-8"))["data"]
    assert sum(len(v.encode()) for v in data.values()) < 1024 * 1024


def test_service_and_pdb_select_the_pods(objects, deployment):
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = objects[("Service", "dispatch-bridge")]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    pdb = objects[("PodDisruptionBudget", "dispatch-bridge")]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["minAvailable"] == 1 < deployment["spec"]["replicas"]


def test_keda_scales_on_incident_lag_between_two_and_the_partition_count(objects, pod_env, monkeypatch):
    settings = settings_env(pod_env, monkeypatch)
    scaled = objects[("ScaledObject", "dispatch-bridge")]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "dispatch-bridge"}
    assert spec["minReplicaCount"] >= 2
    assert spec["maxReplicaCount"] <= settings.kafka.topic_partitions, "a consumer past the partition count idles"
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "kafka"
    meta = trigger["metadata"]
    assert meta["consumerGroup"] == settings.kafka.group_id
    assert meta["topic"] == settings.topics.incidents
    assert meta["bootstrapServers"] == settings.kafka.bootstrap_servers
    assert int(meta["lagThreshold"]) > 0
    assert all(isinstance(v, str) for v in meta.values()), "KEDA trigger metadata values are strings"


def test_keda_authenticates_like_the_service(objects, pod_env, monkeypatch):
    settings = settings_env(pod_env, monkeypatch)
    scaled = objects[("ScaledObject", "dispatch-bridge")]
    auth_name = scaled["spec"]["triggers"][0]["authenticationRef"]["name"]
    auth = objects[("TriggerAuthentication", auth_name)]
    params: dict[str, str] = {}
    for ref in auth["spec"]["secretTargetRef"]:
        assert set(ref) == {"parameter", "name", "key"}
        params[ref["parameter"]] = objects[("Secret", ref["name"])]["stringData"][ref["key"]]
    mechanism = {"SCRAM-SHA-512": "scram_sha512", "SCRAM-SHA-256": "scram_sha256", "PLAIN": "plaintext"}
    assert params["sasl"] == mechanism[settings.kafka.sasl_mechanism]
    assert params["tls"] == "enable" and settings.kafka.security_protocol == "SASL_SSL"
    assert params["username"] == settings.kafka.sasl_username
    assert params["password"] == settings.kafka.sasl_password.get_secret_value()


async def test_the_deployed_tls_and_sasl_settings_build_real_kafka_clients(pod_env, monkeypatch):
    """The manifests' Kafka settings go through the service's one connection builder into real aiokafka clients
    (their constructors check the SASL and TLS arguments; nothing connects), and the password never shows."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from dispatch_bridge.bus.kafka_config import connection_kwargs

    # A private CA as the README describes it (the system bundle stands in for the mounted ca.crt).
    env = {**pod_env, "DISPATCH_BRIDGE_KAFKA__SSL_CAFILE": "/etc/ssl/certs/ca-certificates.crt"}
    settings = settings_env(env, monkeypatch)
    kwargs = connection_kwargs(settings.kafka)
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs["sasl_plain_username"] == "dispatch-bridge"
    assert kwargs["sasl_plain_password"] == pod_env["DISPATCH_BRIDGE_KAFKA__SASL_PASSWORD"]
    assert kwargs["ssl_context"].verify_mode.name == "CERT_REQUIRED"
    producer = AIOKafkaProducer(**kwargs, enable_idempotence=settings.kafka.enable_idempotence, acks="all")
    consumer = AIOKafkaConsumer(settings.topics.incidents, **kwargs, group_id=settings.kafka.group_id)
    assert producer.client._sasl_mechanism == consumer._client._sasl_mechanism == "SCRAM-SHA-512"
    assert producer.client._security_protocol == "SASL_SSL"
    password = settings.kafka.sasl_password.get_secret_value()
    assert password not in repr(settings) and password not in str(settings.model_dump())
    # A mechanism aiokafka does not know is refused where the deployment would be: at the constructor.
    with pytest.raises(ValueError):
        AIOKafkaProducer(**{**kwargs, "sasl_mechanism": "SCRAM-SHA-1"})
