"""Broker outages against a broker of the test's own (the shared one must not be disturbed).

A hung broker (SIGSTOP for 30 s, connections stay open and nothing answers) and a lost broker (killed and
restarted on the same port with nothing in it, as Tansu keeps nothing). The service must come back by itself,
say so on /readyz while /livez stays healthy, and lose nothing that was written before or after.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from dispatch_bridge.api.app import build_app
from dispatch_bridge.testing.broker import EmbeddedBroker
from tests.harness import TopicReader, eventually, incident_event, produce, running, settings_for
from tests.proc import BridgeProcess, TrackedProducer, committed_offsets, create_topics, process_settings

CRISIS = ["CALLER SAYS HER HUSBAND IS SUICIDAL, HAS NOT SLEPT IN DAYS, TALKING ABOUT ENDING IT"]
FREEZE_SECONDS = 30.0


@pytest.fixture
def own_broker(tmp_path) -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(log_path=tmp_path / "tansu.log") as broker:
        yield broker


def _crisis(prefix: str, n: int) -> list[tuple[str, dict]]:
    return [(f"{prefix}-{i:03d}", incident_event(f"{prefix}-{i:03d}", narrative=CRISIS)) for i in range(n)]


async def _http(service) -> TestClient:
    client = TestClient(TestServer(build_app(service)))
    await client.start_server()
    return client


async def _status(client: TestClient, path: str) -> int:
    async with client.get(path) as response:
        return response.status


def _answered(out: TopicReader) -> set[str]:
    return {r.key.decode() for r in out.records}


async def test_hung_broker_for_30s_readiness_off_liveness_on_and_nothing_lost(own_broker, unique, tmp_path):
    settings = settings_for(own_broker, unique, tmp_path)
    async with running(settings) as service, TopicReader(own_broker, settings.topics.recommendations) as out:
        client = await _http(service)
        try:
            await produce(own_broker, settings.topics.incidents, _crisis("BEFORE", 10))
            await eventually(lambda: len(_answered(out)) == 10, timeout=30)
            assert await _status(client, "/readyz") == 200
            # Written just before the broker hangs: in flight while it is frozen.
            await produce(own_broker, settings.topics.incidents, _crisis("INFLIGHT", 10))
            own_broker.freeze()
            frozen_at = time.monotonic()
            ready, live = [], []
            try:
                while time.monotonic() - frozen_at < FREEZE_SECONDS:
                    ready.append(await _status(client, "/readyz"))
                    live.append(await _status(client, "/livez"))
                    await asyncio.sleep(0.5)
            finally:
                own_broker.thaw()
            assert 503 in ready, "a hung broker must show on /readyz"
            assert set(live) == {200}, f"/livez must stay healthy while the broker hangs: {live}"
            assert service.failed is None and not service._stop.is_set(), "no task gave up"

            # Recovered by itself: same service object, no restart.
            async with asyncio.timeout(60):
                while await _status(client, "/readyz") != 200:
                    await asyncio.sleep(0.25)
            await produce(own_broker, settings.topics.incidents, _crisis("AFTER", 10))
            expected = {k for k, _ in _crisis("BEFORE", 10) + _crisis("INFLIGHT", 10) + _crisis("AFTER", 10)}
            await eventually(lambda: _answered(out) == expected, timeout=60)
            assert await _status(client, "/livez") == 200
        finally:
            await client.close()


async def test_broker_killed_and_restarted_empty_service_recovers_without_restart(own_broker, unique, tmp_path):
    settings = settings_for(own_broker, unique, tmp_path)
    async with running(settings) as service:
        client = await _http(service)
        try:
            async with TopicReader(own_broker, settings.topics.recommendations) as out:
                await produce(own_broker, settings.topics.incidents, _crisis("FIRST", 10))
                await eventually(lambda: len(_answered(out)) == 10, timeout=30)
            own_broker.stop()
            ready, live = [], []
            for _ in range(12):
                ready.append(await _status(client, "/readyz"))
                live.append(await _status(client, "/livez"))
                await asyncio.sleep(0.5)
            assert 503 in ready and set(live) == {200}, (ready, live)
            own_broker.start()
            # Tansu kept nothing: the operator recreates the topics (production topics are a deployment decision;
            # the service creates them only at start).
            await create_topics(own_broker.bootstrap_servers, settings)
            async with asyncio.timeout(60):
                while await _status(client, "/readyz") != 200:
                    await asyncio.sleep(0.25)
            async with TopicReader(own_broker, settings.topics.recommendations) as out:
                # More records than the consumer had read before the loss: its old position (10) must not
                # make it skip the first ten of the new, empty log.
                await produce(own_broker, settings.topics.incidents, _crisis("SECOND", 15))
                await eventually(lambda: _answered(out) == {k for k, _ in _crisis("SECOND", 15)}, timeout=60)
            assert service.failed is None
            assert await _status(client, "/livez") == 200
        finally:
            await client.close()


async def test_sigterm_while_the_broker_hangs_still_exits_within_the_drain_bound(own_broker, unique, tmp_path):
    drain = 2.0
    settings = process_settings(own_broker, unique, tmp_path, processing={"shutdown_drain_seconds": drain})
    bridge = BridgeProcess(settings, tmp_path / "bridge.log").start()
    try:
        await bridge.wait_ready()
        async with TrackedProducer(own_broker.bootstrap_servers) as producer:
            for key, value in _crisis("HUNG", 20):
                await producer.send(settings.topics.incidents, key, value)
        own_broker.freeze()
        try:
            bridge.terminate()
            signalled = time.monotonic()
            code = await bridge.wait_exit(60)
            took = bridge.exited_at - signalled
        finally:
            own_broker.thaw()
        # Bounded by the drain setting, not by the Kafka request timeout (15 s) of whatever is in flight.
        assert took < 2 * drain + 3, f"exit took {took:.1f}s with a {drain}s drain bound while the broker hung"
        assert code == 0, bridge.output()[-2000:]
        # Whatever it could not write it did not commit: every committed record has its output.
        committed = await committed_offsets(own_broker.bootstrap_servers, settings.kafka.group_id,
                                            settings.topics.incidents, 1)
        async with TopicReader(own_broker, settings.topics.recommendations) as out:
            await asyncio.sleep(1.0)
            assert producer.keys_below(committed) <= _answered(out)
    finally:
        bridge.ensure_stopped()
