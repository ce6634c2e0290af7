"""Settings for the HTTP API's authentication (``DISPATCH_BRIDGE_API__*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr


class ApiSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # One token, or several separated by commas (rotation). With none configured the API stays closed.
    token: SecretStr | None = None
    # A mounted secret file holding one token per line (takes precedence over ``token`` when set).
    token_file: Path | None = None
    # Protect /metrics with the same bearer token.
    protect_metrics: bool = False
