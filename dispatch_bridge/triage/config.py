"""Settings for rule loading, hot reload and shadow evaluation (``DISPATCH_BRIDGE_RULES__*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class RulesSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # A candidate ruleset evaluated beside the live one on live traffic (shadow mode); None = off.
    shadow_dir: Path | None = None
    # How often the rules directory is checked for changes (hot reload); 0 disables the watcher.
    reload_poll_seconds: float = Field(default=2.0, ge=0)
    # Run the pack's own *.test.yaml cases before a (re)loaded pack goes live. Only turn this off for a pack
    # that ships no cases; a pack whose cases fail is never swapped in while this is on.
    run_pack_tests: bool = True
    # Disagreements the shadow evaluator keeps for GET /v1/rules (incident ids and decisions only).
    shadow_keep_last: int = Field(default=100, ge=1, le=10_000)
