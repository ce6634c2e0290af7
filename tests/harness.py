"""Test harness: settings for a unique, isolated service; event builders; a reader of real output topics."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from dispatch_bridge.settings import Settings

REPO = Path(__file__).resolve().parents[1]
T0 = dt.datetime(2026, 11, 20, 14, 0, tzinfo=dt.UTC)

# A city centre and points around it (about 1.1 km per 0.01 degree of latitude).
CENTRE = (41.8800, -87.6300)


def settings_for(broker: Any, unique: str, tmp_path: Path, **overrides: Any) -> Settings:
    """Unique topics and group per test, the embedded broker, topic creation on, idempotence off (Tansu)."""
    env: dict[str, Any] = {
        "kafka": {
            "bootstrap_servers": broker.bootstrap_servers,
            "group_id": f"bridge-{unique}",
            "create_topics": True,
            "topic_partitions": 1,
            "enable_idempotence": False,
            "session_timeout_ms": 6000,
            "heartbeat_interval_ms": 500,
            "commit_interval_ms": 100,
        },
        "topics": {
            "incidents": f"cad.incidents.{unique}",
            "units": f"cad.units.{unique}",
            "recommendations": f"cit.recommendations.{unique}",
            "deadletter": f"cit.deadletter.{unique}",
            "personnel": f"cit.personnel.{unique}",
            "feedback": f"cit.feedback.{unique}",
            "team_recommendations": f"cit.recommendations.teams.{unique}",
        },
        "http": {"host": "127.0.0.1", "port": 0},
        "rules_dir": str(REPO / "rules" / "default"),
        "store": {"url": f"sqlite:///{tmp_path / 'outcomes.db'}"},
        "processing": {"shutdown_drain_seconds": 5.0},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(env.get(key), dict):
            env[key] = {**env[key], **value}
        else:
            env[key] = value
    return Settings(**env)


def incident_event(incident_id: str, revision: int = 1, *, nature_code: str = "EDP", nature_text: str = "",
                   narrative: list[str] | None = None, event_type: str = "incident.created",
                   at: dt.datetime = T0, lat: float | None = CENTRE[0], lon: float | None = CENTRE[1],
                   beat: str | None = "B11", district: str | None = "D1", units: list[dict[str, Any]] | None = None,
                   **incident_fields: Any) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "event_id": f"{incident_id}-r{revision}-{event_type}",
        "event_type": event_type,
        "occurred_at": (at + dt.timedelta(seconds=revision)).isoformat(),
        "agency": "TEST-PD",
        "incident": {
            "id": incident_id,
            "revision": revision,
            "nature_code": nature_code,
            "nature_text": nature_text,
            "narrative": [{"at": at.isoformat(), "text": t} for t in (narrative or [])],
            "location": {"address": "100 N Fictional St", "lat": lat, "lon": lon, "beat": beat, "district": district},
            "units": units or [],
            **incident_fields,
        },
    }


def unit_status(unit_id: str, *, kind: str = "patrol", status: str = "available", lat: float = CENTRE[0],
                lon: float = CENTRE[1], cit_until: dt.date | None = None, crew_id: str | None = None,
                beat: str = "B11", district: str = "D1", at: dt.datetime = T0, **fields: Any) -> dict[str, Any]:
    crew = [{"id": crew_id or f"{unit_id}-ofc",
             "cit_certified_until": cit_until.isoformat() if cit_until else None}]
    return {
        "schema_version": 1, "unit_id": unit_id, "kind": kind, "status": status, "status_text": status.upper(),
        "location": {"lat": lat, "lon": lon, "at": at.isoformat()}, "crew": crew, "beat": beat,
        "district": district, "updated_at": at.isoformat(), **fields,
    }


async def produce(broker: Any, topic: str, records: list[tuple[str | bytes | None, Any]]) -> None:
    """Publish (key, value) pairs in order; values that are not bytes are JSON-encoded."""
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, linger_ms=0)
    await producer.start()
    try:
        for key, value in records:
            raw_key = key.encode() if isinstance(key, str) else key
            raw_value = value if isinstance(value, bytes) or value is None else orjson.dumps(value)
            await producer.send_and_wait(topic, raw_value, key=raw_key)
    finally:
        await producer.stop()


class TopicReader:
    """Reads an output topic from the beginning (no group) and keeps every record."""

    def __init__(self, broker: Any, topic: str) -> None:
        self.records: list[Any] = []
        self._consumer = AIOKafkaConsumer(topic, bootstrap_servers=broker.bootstrap_servers, group_id=None,
                                          auto_offset_reset="earliest", fetch_max_wait_ms=20)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> TopicReader:
        await self._consumer.start()
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._consumer.stop()

    async def _read(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=50)
            for records in batch.values():
                self.records.extend(records)

    def values(self) -> list[dict[str, Any]]:
        return [orjson.loads(r.value) for r in self.records]

    def for_incident(self, incident_id: str) -> list[dict[str, Any]]:
        return [v for v in self.values() if v.get("incident_id") == incident_id]

    async def wait_for(self, predicate: Any, timeout: float = 30.0) -> Any:
        async with asyncio.timeout(timeout):
            while True:
                for record in list(self.records):
                    if predicate(record):
                        return record
                await asyncio.sleep(0.02)


async def eventually(check: Any, timeout: float = 30.0, interval: float = 0.05) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def running(settings: Settings, **kwargs: Any) -> AsyncIterator[Any]:
    from dispatch_bridge.service import Service

    service = Service(settings, **kwargs)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


def json_paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path (keys and list indexes) into a decoded JSON document, for tests that mutate one at random."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += json_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += json_paths(value, (*prefix, index))
    return found
