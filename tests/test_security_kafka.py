"""Kafka TLS and SASL from settings: the right aiokafka arguments, real clients accept them, and the password
shows nowhere: not in repr, not in a dump, not in the logs of a service that fails to connect with it."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from pydantic import SecretStr

from dispatch_bridge.bus.kafka_config import connection_kwargs
from dispatch_bridge.settings import KafkaSettings, Settings
from tests.proc import BridgeProcess, env_for, process_settings

SASL_PASSWORD = "scram-Pa55word-9d1c7e"
KEY_PASSWORD = "key-Pa55phrase-41f0"


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, Path]:
    """A CA and a client certificate whose key is encrypted, made with the openssl command."""
    d = tmp_path_factory.mktemp("pki")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=test-ca")
    run("req", "-newkey", "rsa:2048", "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=bridge",
        "-passout", f"pass:{KEY_PASSWORD}")
    run("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "client.pem", "-days", "2")
    return {"ca": d / "ca.pem", "cert": d / "client.pem", "key": d / "client.key"}


def _sasl_ssl(pki: dict[str, Path], **extra) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers="kafka-1.example:9093", security_protocol="SASL_SSL",
                         sasl_mechanism="SCRAM-SHA-512", sasl_username="dispatch-bridge",
                         sasl_password=SASL_PASSWORD, ssl_cafile=pki["ca"], ssl_certfile=pki["cert"],
                         ssl_keyfile=pki["key"], ssl_key_password=KEY_PASSWORD, **extra)


async def test_sasl_ssl_with_scram_sha_512_builds_the_right_client_arguments(pki):
    kwargs = connection_kwargs(_sasl_ssl(pki))
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs["sasl_plain_username"] == "dispatch-bridge"
    assert kwargs["sasl_plain_password"] == SASL_PASSWORD  # unwrapped here and only here
    context = kwargs["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname, "TLS must verify the broker"
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert any(cert["subject"] == ((("commonName", "test-ca"),),) for cert in context.get_ca_certs()), \
        "the configured CA is the one trusted"
    # Real clients accept exactly these arguments (they validate mechanism, protocol and context on creation).
    for client in (AIOKafkaProducer(**kwargs), AIOKafkaConsumer(**kwargs), AIOKafkaAdminClient(**kwargs)):
        assert client is not None


def test_plain_and_scram_256_and_tls_only_and_plaintext(pki):
    plain = connection_kwargs(KafkaSettings(security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                                            sasl_username="u", sasl_password="p"))
    assert plain["sasl_mechanism"] == "PLAIN" and "ssl_context" not in plain
    scram = connection_kwargs(_sasl_ssl(pki, ).model_copy(update={"sasl_mechanism": "SCRAM-SHA-256"}))
    assert scram["sasl_mechanism"] == "SCRAM-SHA-256"
    tls = connection_kwargs(KafkaSettings(security_protocol="SSL", ssl_cafile=pki["ca"]))
    assert tls["ssl_context"].verify_mode == ssl.CERT_REQUIRED and "sasl_mechanism" not in tls
    local = connection_kwargs(KafkaSettings())
    assert local["security_protocol"] == "PLAINTEXT" and "ssl_context" not in local and "sasl_mechanism" not in local


def test_a_wrong_key_password_fails_at_start_not_at_first_connect(pki):
    with pytest.raises(ssl.SSLError):
        connection_kwargs(_sasl_ssl(pki).model_copy(update={"ssl_key_password": SecretStr("not-the-password")}))


def test_repr_and_dumps_of_settings_never_show_the_secrets(pki, monkeypatch):
    for key, value in env_for(Settings(kafka=_sasl_ssl(pki), api={"token": "api-T0ken-5e2b"})).items():
        monkeypatch.setenv(key, value)
    settings = Settings()  # read from the environment, as in production
    assert settings.kafka.sasl_password.get_secret_value() == SASL_PASSWORD
    for text in (repr(settings), str(settings), repr(settings.kafka), settings.model_dump_json(),
                 str(settings.model_dump()), f"{settings}"):
        for secret in (SASL_PASSWORD, KEY_PASSWORD, "api-T0ken-5e2b"):
            assert secret not in text


async def test_a_service_that_cannot_connect_with_sasl_never_logs_the_password(broker, unique, tmp_path, pki):
    # The shared broker speaks plaintext: the TLS handshake fails and the service has to say so, at DEBUG.
    settings = process_settings(broker, unique, tmp_path, log_level="DEBUG",
                                kafka={"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
                                       "sasl_username": "dispatch-bridge", "sasl_password": SASL_PASSWORD,
                                       "ssl_cafile": str(pki["ca"]), "ssl_certfile": str(pki["cert"]),
                                       "ssl_keyfile": str(pki["key"]), "ssl_key_password": KEY_PASSWORD,
                                       "request_timeout_ms": 2000},
                                api={"token": "api-T0ken-5e2b"})
    bridge = BridgeProcess(settings, tmp_path / "bridge.log").start()
    try:
        try:
            await bridge.wait_exit(12)
        except TimeoutError:
            bridge.terminate()
            await bridge.wait_exit(15)
        assert await bridge.probe("/readyz") in (None, 503)
    finally:
        bridge.ensure_stopped()
    output = bridge.output()
    assert bridge.returncode != 0 or bridge.events("service_failed"), "the failure must be reported"
    for secret in (SASL_PASSWORD, KEY_PASSWORD, "api-T0ken-5e2b"):
        assert secret not in output
