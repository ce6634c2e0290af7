"""Run ``dispatch-bridge run`` as a real subprocess: env settings, wait for /readyz, signals, ``kill -9``.

Tests that send a signal or kill the process use this instead of the in-process ``harness.running``: what is
under test is then the real entry point (argument parsing, logging setup, signal handlers, exit code).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import BaseModel, SecretStr

from dispatch_bridge.settings import Settings
from dispatch_bridge.testing.broker import free_port
from tests.harness import settings_for

BRIDGE = [sys.executable, "-m", "dispatch_bridge", "run"]


def env_for(settings: Settings) -> dict[str, str]:
    """The ``DISPATCH_BRIDGE_*`` variables that rebuild ``settings`` (only the fields that were set)."""
    env: dict[str, str] = {}

    def flatten(prefix: str, model: BaseModel) -> None:
        for name in model.model_fields_set:
            value = getattr(model, name)
            key = f"{prefix}{name.upper()}"
            if isinstance(value, BaseModel):
                flatten(f"{key}__", value)
            elif value is None:
                continue
            elif isinstance(value, SecretStr):
                env[key] = value.get_secret_value()
            elif isinstance(value, bool):
                env[key] = "true" if value else "false"
            elif isinstance(value, (dict, list, tuple)):
                env[key] = json.dumps(value)
            else:
                env[key] = str(value)

    flatten("DISPATCH_BRIDGE_", settings)
    return env


def process_settings(broker: Any, unique: str, tmp_path: Path, **overrides: Any) -> Settings:
    """``settings_for`` with a fixed free HTTP port (a subprocess cannot tell us which port 0 became)."""
    http = {"host": "127.0.0.1", "port": free_port(), **overrides.pop("http", {})}
    overrides.setdefault("log_format", "json")
    return settings_for(broker, unique, tmp_path, http=http, **overrides)


class BridgeProcess:
    """One ``dispatch-bridge run`` child. stdout and stderr go to one file, read back by ``output()``."""

    def __init__(self, settings: Settings, log_path: Path, extra_env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.log_path = log_path
        self.extra_env = extra_env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.exited_at: float | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.http.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> BridgeProcess:
        # A clean environment: nothing of the developer's DISPATCH_BRIDGE_* leaks into the child.
        base = {k: v for k, v in os.environ.items() if not k.startswith("DISPATCH_BRIDGE_")}
        env = {**base, **env_for(self.settings), **self.extra_env, "PYTHONUNBUFFERED": "1"}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(BRIDGE, stdout=log, stderr=subprocess.STDOUT, env=env,
                                            cwd=Path(__file__).resolve().parents[1])
        return self

    async def get(self, path: str, token: str | None = None, timeout: float = 2.0) -> tuple[int, bytes]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.get(self.base_url + path, headers=headers) as response:
                return response.status, await response.read()

    async def request(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> tuple[int, bytes]:
        headers = {**kwargs.pop("headers", {}), **({"Authorization": f"Bearer {token}"} if token else {})}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            async with session.request(method, self.base_url + path, headers=headers, **kwargs) as response:
                return response.status, await response.read()

    async def probe(self, path: str) -> int | None:
        """The status of a probe, or None while the port does not answer."""
        try:
            status, _ = await self.get(path, timeout=1.0)
        except (aiohttp.ClientError, TimeoutError, OSError):
            return None
        return status

    async def wait_ready(self, timeout: float = 40.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.returncode is not None:
                raise RuntimeError(f"dispatch-bridge exited with {self.returncode}:\n{self.output()[-3000:]}")
            if await self.probe("/readyz") == 200:
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"dispatch-bridge not ready within {timeout}s:\n{self.output()[-3000:]}")

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def terminate(self) -> None:
        self.signal(signal.SIGTERM)

    def kill9(self) -> None:
        self.signal(signal.SIGKILL)
        assert self.process is not None
        self.process.wait(timeout=10)

    @property
    def returncode(self) -> int | None:
        assert self.process is not None
        code = self.process.poll()
        if code is not None and self.exited_at is None:
            self.exited_at = time.monotonic()
        return code

    async def wait_exit(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.returncode
            if code is not None:
                return code
            await asyncio.sleep(0.02)
        raise TimeoutError(f"dispatch-bridge still running after {timeout}s:\n{self.output()[-3000:]}")

    def ensure_stopped(self) -> None:
        """Teardown: whatever the test did, leave no child behind."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def json_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.output().splitlines():
            try:
                parsed = json.loads(line)
            except ValueError:
                continue
            if isinstance(parsed, dict):
                lines.append(parsed)
        return lines

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.json_lines() if line.get("event") == name]


# -- Kafka-side checks: what was written, what the group committed ----------------------------------------


class TrackedProducer:
    """Produces records and remembers where each landed: ``(partition, offset) -> key``."""

    def __init__(self, bootstrap_servers: str) -> None:
        from aiokafka import AIOKafkaProducer

        self._producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, linger_ms=0)
        self.placed: dict[tuple[int, int], str] = {}

    async def __aenter__(self) -> TrackedProducer:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def send(self, topic: str, key: str, value: Any) -> tuple[int, int]:
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        meta = await self._producer.send_and_wait(topic, raw, key=key.encode())
        self.placed[(meta.partition, meta.offset)] = key
        return meta.partition, meta.offset

    def keys_below(self, committed: dict[int, int | None]) -> set[str]:
        """Keys of every record below the committed offset of its partition."""
        return {key for (p, off), key in self.placed.items() if (committed.get(p) or 0) > off}


async def committed_offsets(bootstrap_servers: str, group_id: str, topic: str, partitions: int) -> dict[int, int | None]:
    """The group's committed offsets, read without joining the group (OffsetFetch only)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=group_id, enable_auto_commit=False)
    await consumer.start()
    try:
        return {p: await consumer.committed(TopicPartition(topic, p)) for p in range(partitions)}
    finally:
        await consumer.stop()


async def end_offsets(bootstrap_servers: str, topic: str, partitions: int) -> dict[int, int]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        ends = await consumer.end_offsets(tps)
        return {tp.partition: off for tp, off in ends.items()}
    finally:
        await consumer.stop()


def without_produced_at(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "produced_at"}


async def create_topics(bootstrap_servers: str, settings: Settings, skip: tuple[str, ...] = ()) -> None:
    """Create the service's topics as an operator would (the service creates them only at start, if asked)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    topics = settings.topics
    names = [topics.incidents, topics.units, topics.recommendations, topics.deadletter, topics.personnel,
             topics.feedback]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=settings.kafka.topic_partitions, replication_factor=1)
                                   for name in names if name not in skip])
    finally:
        await admin.close()


def consumer_record(topic: str, offset: int, key: bytes | None, value: bytes | None,
                    headers: list[tuple[str, bytes]] | None = None, partition: int = 0) -> Any:
    """A record as the consumer hands it over, for driving the processor in-process."""
    from aiokafka import ConsumerRecord

    return ConsumerRecord(topic=topic, partition=partition, offset=offset, timestamp=1_795_000_000_000,
                          timestamp_type=0, key=key, value=value, checksum=None,
                          serialized_key_size=len(key) if key is not None else -1,
                          serialized_value_size=len(value) if value is not None else -1, headers=headers or [])
