"""The real process under a real broker: ``kill -9`` mid-stream, and SIGTERM with a hand-over to a peer.

Each check reads the broker itself (committed offsets, the output topic) rather than trusting the service's
own account: "nothing committed before it was written" is a statement about the broker's state.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import defaultdict
from collections.abc import Iterator

import orjson
import pytest

from tests.harness import CENTRE, TopicReader, eventually, incident_event, produce, running, settings_for, unit_status
from tests.proc import (
    BridgeProcess,
    TrackedProducer,
    committed_offsets,
    end_offsets,
    process_settings,
    without_produced_at,
)

TOKEN = "reliability-token"
CRISIS = ["RP STATES HER SON IS SUICIDAL AND HEARING VOICES, OFF HIS MEDS"]
UNITS = [
    ("P-CIT", unit_status("P-CIT", lat=CENTRE[0] + 0.005, lon=CENTRE[1], cit_until=dt.date(2030, 1, 1))),
    ("P-2", unit_status("P-2", lat=CENTRE[0] + 0.001, lon=CENTRE[1])),
    ("MCT-1", unit_status("MCT-1", kind="mobile_crisis", lat=CENTRE[0] - 0.01, lon=CENTRE[1])),
]


def _event(n: int) -> tuple[str, dict, bool]:
    """Incident ``n``: two in three are crisis calls (answered), the rest burglaries (no recommendation)."""
    incident_id = f"INC-{n:04d}"
    if n % 3:
        return incident_id, incident_event(incident_id, narrative=CRISIS), True
    return incident_id, incident_event(incident_id, nature_code="BURG", narrative=["REAR DOOR PRIED"]), False


@pytest.fixture
def processes() -> Iterator[list[BridgeProcess]]:
    started: list[BridgeProcess] = []
    yield started
    for proc in started:
        proc.ensure_stopped()


async def _stream(producer: TrackedProducer, topic: str, numbers: range, crisis: set[str], pause: float) -> None:
    for n in numbers:
        incident_id, event, is_crisis = _event(n)
        await producer.send(topic, incident_id, event)
        if is_crisis:
            crisis.add(incident_id)
        await asyncio.sleep(pause)


def _assert_duplicates_identical(out: TopicReader) -> dict[str, int]:
    """Every copy of an incident's recommendation is the same record but for produced_at (and ce_time)."""
    copies: dict[str, list] = defaultdict(list)
    for record in out.records:
        copies[record.key.decode()].append(record)
    for key, records in copies.items():
        bodies = [without_produced_at(orjson.loads(r.value)) for r in records]
        for body in bodies[1:]:
            differs = {k: (bodies[0].get(k), body.get(k)) for k in body.keys() | bodies[0].keys()
                       if body.get(k) != bodies[0].get(k)}
            assert not differs, f"{key}: redelivered output differs: {differs}"
        assert len({dict(r.headers)["ce_id"] for r in records}) == 1, f"{key}: ce_id not deterministic"
        first = bodies[0]
        assert first["incident_revision"] == 1 and first["ruleset_version"] and len(first["ruleset_sha256"]) == 64
    return {key: len(records) for key, records in copies.items()}


async def test_kill_9_mid_stream_commits_nothing_unwritten_and_restart_answers_every_call(
        broker, unique, tmp_path, processes):
    partitions = 2
    settings = process_settings(broker, unique, tmp_path, kafka={"topic_partitions": partitions}, api={"token": TOKEN})
    topic = settings.topics.incidents
    first = BridgeProcess(settings, tmp_path / "first.log").start()
    processes.append(first)
    await first.wait_ready()
    await produce(broker, settings.topics.units, UNITS)
    # Redelivered input is ranked against the roster of the moment: load it before the stream, so that a
    # duplicate can only differ if the bridge itself is not deterministic.
    await _wait_roster_api(first)
    crisis: set[str] = set()
    async with (TrackedProducer(broker.bootstrap_servers) as producer,
                TopicReader(broker, settings.topics.recommendations) as out):
        stream = asyncio.create_task(_stream(producer, topic, range(300), crisis, pause=0.005))
        await eventually(lambda: len(out.records) >= 40, timeout=30)
        assert not stream.done(), "the stream must still be flowing when the service dies"
        first.kill9()
        killed_with = len(out.records)
        committed = await committed_offsets(broker.bootstrap_servers, settings.kafka.group_id, topic, partitions)
        # Something was committed (else the check below proves nothing), and every record below a committed
        # offset has its output on the topic already: output is acknowledged before the commit.
        assert any(committed.values()), committed
        answered_before_commit = producer.keys_below(committed) & crisis
        assert answered_before_commit
        await eventually(lambda: answered_before_commit <= {r.key.decode() for r in out.records}, timeout=10)
        await stream

        second = BridgeProcess(settings, tmp_path / "second.log").start()
        processes.append(second)
        await second.wait_ready()
        await _wait_roster_api(second)
        # The dead member holds the partitions until its session times out (6 s in these settings).
        await eventually(lambda: crisis <= {r.key.decode() for r in out.records}, timeout=60)
        second.terminate()
        assert await second.wait_exit(15) == 0
        await asyncio.sleep(0.3)  # the reader catches up with anything written during the drain

        answered = {r.key.decode() for r in out.records}
        assert answered == crisis, "burglaries get no recommendation; every crisis call gets one"
        counts = _assert_duplicates_identical(out)
        assert len(out.records) >= killed_with
        final = await committed_offsets(broker.bootstrap_servers, settings.kafka.group_id, topic, partitions)
        assert final == await end_offsets(broker.bootstrap_servers, topic, partitions)
        assert sum(counts.values()) == len(out.records)


async def test_two_instances_share_partitions_and_sigterm_drains_commits_and_hands_over_at_once(
        broker, unique, tmp_path, processes):
    """One group, four partitions, a stream that never pauses: a second instance joins (rebalance), then the
    first gets SIGTERM (readiness off first, drain, commit, leave) and the second takes over at once."""
    partitions = 4
    drain = 3.0
    # No periodic commits: committed offsets can only come from the commit on revoke and on stop. A hand-over
    # quicker than the session timeout can only come from leaving the group (a vanished member is noticed
    # only after the session timeout; Tansu then takes about half of it again to complete a rebalance).
    session = 10.0
    kafka = {"topic_partitions": partitions, "session_timeout_ms": int(session * 1000), "commit_interval_ms": 60_000}
    settings = process_settings(broker, unique, tmp_path, kafka=kafka, api={"token": TOKEN},
                                processing={"shutdown_drain_seconds": drain})
    (tmp_path / "peer").mkdir()
    peer_settings = settings_for(broker, unique, tmp_path / "peer", kafka=kafka,
                                 processing={"shutdown_drain_seconds": drain})
    topic = settings.topics.incidents
    leaving = BridgeProcess(settings, tmp_path / "leaving.log").start()
    processes.append(leaving)
    await leaving.wait_ready()
    await produce(broker, settings.topics.units, UNITS)
    await _wait_roster_api(leaving)
    crisis: set[str] = set()
    flowing = asyncio.Event()
    flowing.set()

    async def stream(producer: TrackedProducer) -> None:
        n = 0
        while flowing.is_set():
            await _stream(producer, topic, range(n, n + 5), crisis, pause=0.01)
            n += 5

    async with (TrackedProducer(broker.bootstrap_servers) as producer,
                TopicReader(broker, settings.topics.recommendations) as out):
        stream_task = asyncio.create_task(stream(producer))
        await eventually(lambda: len(out.records) >= 20, timeout=30)
        async with running(peer_settings) as peer:
            # Partitions shared, and both hold the whole roster (a table, not a share of the group).
            await eventually(lambda: 0 < len(peer.owned_partitions()) < partitions, timeout=30)
            await eventually(lambda: len(peer.roster.units) == len(UNITS), timeout=10)
            await _wait_roster_api(leaving)
            before_handover = {tp.partition for tp in peer.owned_partitions()}
            await asyncio.sleep(0.5)
            assert not stream_task.done()
            leaving.terminate()
            signalled = time.monotonic()
            statuses: list[int | None] = []
            while leaving.returncode is None:
                statuses.append(await leaving.probe("/readyz"))
                await asyncio.sleep(0.02)
            exit_seconds = leaving.exited_at - signalled
            assert leaving.returncode == 0, leaving.output()[-2000:]
            assert exit_seconds < drain + 2.0, f"took {exit_seconds:.1f}s to exit with a {drain}s drain bound"
            answered = [s for s in statuses if s is not None]
            assert 503 in answered, f"readiness never turned 503 while stopping: {statuses[:20]}"
            assert 200 not in answered[answered.index(503):], "readiness came back after it turned 503"

            committed = await committed_offsets(broker.bootstrap_servers, settings.kafka.group_id, topic, partitions)
            leaver_partitions = set(range(partitions)) - before_handover
            assert all(committed[p] for p in leaver_partitions), committed
            below = producer.keys_below(committed) & crisis
            await eventually(lambda: below <= {r.key.decode() for r in out.records}, timeout=10)

            # Left the group: the peer owns everything before the session timeout would even have expired.
            await eventually(lambda: len(peer.owned_partitions()) == partitions, timeout=session)
            assert time.monotonic() - leaving.exited_at < session
            await asyncio.sleep(0.5)
            flowing.clear()
            await stream_task
            await eventually(lambda: crisis <= {r.key.decode() for r in out.records}, timeout=30)
            assert len(peer.roster.units) == len(UNITS)
        counts = _assert_duplicates_identical(out)
        # Commit on revoke and on stop: neither the join nor the hand-over made anyone redo work.
        assert max(counts.values()) == 1, {k: v for k, v in counts.items() if v > 1}
        assert {r.key.decode() for r in out.records} == crisis
        final = await committed_offsets(broker.bootstrap_servers, settings.kafka.group_id, topic, partitions)
        assert final == await end_offsets(broker.bootstrap_servers, topic, partitions)
        assert leaving.events("service_stopped"), "the leaving instance did not log its clean stop"


async def _wait_roster_api(proc: BridgeProcess) -> None:
    async def units() -> int:
        status, body = await proc.get("/v1/roster", token=TOKEN)
        assert status == 200
        return len(orjson.loads(body)["units"])

    async with asyncio.timeout(15):
        while await units() < len(UNITS):
            await asyncio.sleep(0.1)

