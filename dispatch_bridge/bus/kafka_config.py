"""aiokafka connection arguments from settings: one place for TLS / SASL so every client is configured alike."""

from __future__ import annotations

import ssl
from typing import Any

from dispatch_bridge.settings import KafkaSettings


def connection_kwargs(kafka: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments shared by consumers, producers and the admin client (secrets unwrapped only here)."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "client_id": kafka.client_id,
        "security_protocol": kafka.security_protocol,
        "request_timeout_ms": kafka.request_timeout_ms,
    }
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None)
        if kafka.ssl_certfile:
            context.load_cert_chain(
                certfile=str(kafka.ssl_certfile),
                keyfile=str(kafka.ssl_keyfile) if kafka.ssl_keyfile else None,
                password=kafka.ssl_key_password.get_secret_value() if kafka.ssl_key_password else None,
            )
        kwargs["ssl_context"] = context
    if kafka.security_protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = kafka.sasl_mechanism or "PLAIN"
        kwargs["sasl_plain_username"] = kafka.sasl_username
        kwargs["sasl_plain_password"] = kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
    return kwargs
