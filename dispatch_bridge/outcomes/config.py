"""Settings for the outcome store (``DISPATCH_BRIDGE_STORE__*``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StoreSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # sqlite:///path/file.db (embedded default) or postgresql://user@host:port/db (production, several instances).
    url: str = "sqlite:///dispatch-bridge.db"
    retention_days: int = Field(default=730, ge=1)
