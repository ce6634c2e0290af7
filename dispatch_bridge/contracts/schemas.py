"""JSON Schemas generated from the wire models; committed under ``schemas/`` and checked for drift by a test."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from dispatch_bridge.contracts.incident import IncidentEvent
from dispatch_bridge.contracts.recommendation import Recommendation
from dispatch_bridge.contracts.unit import UnitStatus

SCHEMA_DIR = Path(__file__).parent / "schemas"
MODELS: dict[str, type[BaseModel]] = {
    "incident-event.v1.json": IncidentEvent,
    "unit-status.v1.json": UnitStatus,
    "recommendation.v1.json": Recommendation,
}


def render(model: type[BaseModel]) -> str:
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_all(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in MODELS.items():
        path = directory / name
        path.write_text(render(model), encoding="utf-8")
        written.append(path)
    return written
