"""The measured phases: backlog throughput, paced latency, long-replay memory; bridge beside the passthrough.

Every phase gives the bridge and the passthrough the same broker, the same events and the same consumer and
producer settings (``KafkaKnobs``), each in its own process, each on a fresh consumer group.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from bench.procs import Measured
from bench.traffic import DEFAULT_RULES, Traffic, backlog, crisis_events, marked_backlog


@dataclass(frozen=True)
class KafkaKnobs:
    """Consumer and producer settings both contenders run with (the bridge's defaults, Tansu-safe)."""

    partitions: int = 6
    fetch_max_wait_ms: int = 20
    max_records: int = 1000
    linger_ms: int = 2
    session_timeout_ms: int = 6000  # Tansu: a new group's first join takes about half of it
    heartbeat_interval_ms: int = 500


@dataclass
class Bench:
    bootstrap: str
    workdir: Path
    traffic: Traffic
    knobs: KafkaKnobs = field(default_factory=KafkaKnobs)
    rules_dir: Path = DEFAULT_RULES
    prefix: str = field(default_factory=lambda: f"bench{uuid.uuid4().hex[:6]}")
    _seq: int = 0

    def name(self, what: str) -> str:
        self._seq += 1
        return f"{self.prefix}.{what}.{self._seq}"

    # -- topics and producing ------------------------------------------------------------------------------

    async def create_topics(self, names: Iterable[str], compacted: Iterable[str] = ()) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            compact = set(compacted)
            new = [NewTopic(n, num_partitions=self.knobs.partitions, replication_factor=1,
                            topic_configs={"cleanup.policy": "compact"} if n in compact else {}) for n in names]
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
        finally:
            await admin.close()

    def producer(self, linger_ms: int = 5) -> AIOKafkaProducer:
        return AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=False,
                                linger_ms=linger_ms, max_batch_size=512 * 1024, max_request_size=2_097_152)

    async def produce(self, records: Iterable[tuple[str, bytes, bytes]], window: int = 5000,
                      progress: Any = None, ends: dict[tuple[str, int], int] | None = None) -> int:
        """Produce ``(topic, key, value)`` records, ``window`` in flight at most; with ``progress`` (a callable
        returning records done by the consumer), never more than ``10 * window`` ahead of it. ``ends`` receives
        each (topic, partition)'s end: the offset after the last record written there."""
        producer = self.producer()
        await producer.start()
        count = 0

        async def settle(pending: list[Any]) -> None:
            for metadata in await asyncio.gather(*pending):
                if ends is not None:
                    where = (metadata.topic, metadata.partition)
                    ends[where] = max(ends.get(where, 0), metadata.offset + 1)
            pending.clear()

        try:
            pending: list[Any] = []
            for topic, key, value in records:
                pending.append(await producer.send(topic, value, key=key))
                count += 1
                if len(pending) >= window:
                    await settle(pending)
                    while progress is not None and count - progress() > 10 * window:
                        await asyncio.sleep(0.02)
            await settle(pending)
        finally:
            await producer.stop()
        return count

    # -- the contenders ------------------------------------------------------------------------------------

    def bridge(self, incidents: str, units: str, log_level: str, expect: dict[str, int], ready_units: int = 0,
               cprofile: Path | None = None, extra_env: dict[str, str] | None = None,
               group: str | None = None, instance: int = 0,
               partition_ends: dict[int, int] | None = None) -> Measured:
        """One bridge process; ``group`` shared by several (``instance`` 0, 1, ...) makes them one consumer group.
        ``partition_ends`` (the incident partitions' end offsets): the member is done with incidents once it has
        read the partitions it is assigned to their end, instead of after ``expect``'s count."""
        group = group or self.name("bridge")
        member = f"{group}.{instance}" if instance else group
        k = self.knobs
        env = {
            "DISPATCH_BRIDGE_KAFKA__BOOTSTRAP_SERVERS": self.bootstrap,
            "DISPATCH_BRIDGE_KAFKA__GROUP_ID": group,
            "DISPATCH_BRIDGE_KAFKA__CLIENT_ID": member,
            "DISPATCH_BRIDGE_KAFKA__CREATE_TOPICS": "true",
            "DISPATCH_BRIDGE_KAFKA__TOPIC_PARTITIONS": str(k.partitions),
            "DISPATCH_BRIDGE_KAFKA__ENABLE_IDEMPOTENCE": "false",
            "DISPATCH_BRIDGE_KAFKA__FETCH_MAX_WAIT_MS": str(k.fetch_max_wait_ms),
            "DISPATCH_BRIDGE_KAFKA__MAX_BATCH_RECORDS": str(k.max_records),
            "DISPATCH_BRIDGE_KAFKA__LINGER_MS": str(k.linger_ms),
            "DISPATCH_BRIDGE_KAFKA__SESSION_TIMEOUT_MS": str(k.session_timeout_ms),
            "DISPATCH_BRIDGE_KAFKA__HEARTBEAT_INTERVAL_MS": str(k.heartbeat_interval_ms),
            "DISPATCH_BRIDGE_TOPICS__INCIDENTS": incidents,
            "DISPATCH_BRIDGE_TOPICS__UNITS": units,
            "DISPATCH_BRIDGE_TOPICS__RECOMMENDATIONS": f"{group}.recommendations",
            "DISPATCH_BRIDGE_TOPICS__DEADLETTER": f"{group}.deadletter",
            "DISPATCH_BRIDGE_TOPICS__PERSONNEL": f"{group}.personnel",
            "DISPATCH_BRIDGE_TOPICS__FEEDBACK": f"{group}.feedback",
            # Its own team channel too: every instance reads the channel back from its beginning, and one shared
            # by all the runs of a benchmark would have the later runs read every earlier run's records.
            "DISPATCH_BRIDGE_TOPICS__TEAM_RECOMMENDATIONS": f"{group}.recommendations.teams",
            "DISPATCH_BRIDGE_HTTP__HOST": "127.0.0.1",
            "DISPATCH_BRIDGE_HTTP__PORT": "0",
            "DISPATCH_BRIDGE_RULES_DIR": str(self.rules_dir),
            "DISPATCH_BRIDGE_STORE__URL": f"sqlite:///{self.workdir / (member + '.db')}",
            "DISPATCH_BRIDGE_ROSTER__TIME_ZONE": "America/Chicago",
            "DISPATCH_BRIDGE_PROCESSING__SHUTDOWN_DRAIN_SECONDS": "5",
            "DISPATCH_BRIDGE_LOG_LEVEL": log_level,
            "DISPATCH_BRIDGE_LOG_FORMAT": "json",
        } | (extra_env or {})
        args = ["-m", "bench.bridge_proc", "--ready-units", str(ready_units)]
        args += [f"--expect={s}={n}" for s, n in expect.items()]
        if cprofile is not None:
            args += ["--cprofile", str(cprofile)]
        if partition_ends is not None:
            args += ["--partition-ends", ",".join(f"{p}={n}" for p, n in sorted(partition_ends.items()))]
        return Measured(f"bridge[{log_level}]", args, env, self.workdir / f"{member}.log",
                        output_topic=f"{group}.recommendations")

    def passthrough(self, topics: dict[str, str], expect: dict[str, int], burn_us: float = 0.0,
                    forward_marked: bool = False) -> Measured:
        """``topics`` maps input topic -> stream name (incidents / units); ``burn_us`` of CPU spun per record;
        ``forward_marked``: forward only the records the driver timed (``TIMED_HEADER``), consume the rest."""
        group = self.name("passthrough")
        output = f"{group}.out"
        k = self.knobs
        args = ["-m", "bench.passthrough", "--bootstrap", self.bootstrap, "--group", group,
                "--topics", ",".join(topics), "--output", output,
                "--fetch-max-wait-ms", str(k.fetch_max_wait_ms), "--max-records", str(k.max_records),
                "--linger-ms", str(k.linger_ms), "--session-timeout-ms", str(k.session_timeout_ms),
                "--heartbeat-interval-ms", str(k.heartbeat_interval_ms)]
        args += [f"--stream={t}={s}" for t, s in topics.items()]
        args += [f"--expect={s}={n}" for s, n in expect.items()]
        if burn_us:
            args += ["--burn-us", str(burn_us)]
        if forward_marked:
            args += ["--forward-marked", TIMED_HEADER]
        return Measured("passthrough", args, {}, self.workdir / f"{group}.log", output_topic=output)


# -- throughput ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Backlog:
    incidents_topic: str
    units_topic: str
    counts: dict[str, int]
    produce_seconds: float
    incident_ends: dict[int, int] = field(default_factory=dict)  # per incident partition, its end offset

    @property
    def total(self) -> int:
        return sum(self.counts.values())


async def preload_backlog(bench: Bench, events: int, unit_share: float) -> Backlog:
    incidents, units = bench.name("backlog.incidents"), bench.name("backlog.units")
    await bench.create_topics([incidents, units], compacted=[units])
    counts = {"incidents": 0, "units": 0}
    topics = {"incidents": incidents, "units": units}

    def records() -> Iterable[tuple[str, bytes, bytes]]:
        for kind, key, value in backlog(bench.traffic, events, unit_share):
            counts[kind] += 1
            yield topics[kind], key, value

    ends: dict[tuple[str, int], int] = {}
    started = time.perf_counter()
    await bench.produce(records(), ends=ends)
    return Backlog(incidents, units, counts, time.perf_counter() - started,
                   {partition: end for (topic, partition), end in ends.items() if topic == incidents})


async def drain(measured: Measured, timeout: float) -> dict[str, Any]:
    """Start, wait for the drain, stop; the drain's figures as the measured process timed them."""
    await measured.start()
    try:
        await measured.wait(measured.drained, timeout, "drain")
    finally:
        await measured.stop()
    d = measured.drain
    events = sum(d["done"].values())
    return {"events": events, "seconds": d["seconds"], "events_per_s": events / d["seconds"],
            "cpu_seconds": d["cpu_seconds"], "cpu_us_per_event": d["cpu_seconds"] / events * 1e6,
            "peak_rss_mb": d["peak_rss"] / 2**20}


async def throughput_bridge(bench: Bench, backlog_: Backlog, log_level: str, timeout: float = 600,
                            extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    return await drain(bench.bridge(backlog_.incidents_topic, backlog_.units_topic, log_level, backlog_.counts,
                                    extra_env=extra_env), timeout)


async def throughput_group(bench: Bench, backlog_: Backlog, members: int, timeout: float = 600,
                           attempts: int = 3) -> dict[str, Any]:
    """``members`` bridge processes in one consumer group drain the backlog together, as production instances
    scale out: the incident partitions are shared between them, and each reads the whole units topic (the
    roster is a table every instance keeps). The clock runs from the first member's assignment to the last
    member's last record. An attempt in which a member is assigned partitions a second time (a rebalance: a
    partition another member already read to its end would never be seen to end) is abandoned and run again;
    after ``attempts`` of them, RuntimeError."""
    for attempt in range(1, attempts + 1):
        group = bench.name("bridges")
        started = [bench.bridge(backlog_.incidents_topic, backlog_.units_topic, "WARNING",
                                {"units": backlog_.counts["units"]}, group=group, instance=n,
                                partition_ends=backlog_.incident_ends) for n in range(members)]
        await asyncio.gather(*(member.start() for member in started))
        try:
            deadline = time.monotonic() + timeout
            while not all(member.drained.is_set() for member in started):
                if any(len(member.assignments) > 1 for member in started):
                    break
                for member in started:
                    assert member.process is not None
                    if member.process.returncode is not None:
                        raise RuntimeError(f"{member.name}: exited with {member.process.returncode} during the "
                                           f"drain; see {member.log_path}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"bridge x{members}: drain timed out; see {started[0].log_path}")
                await asyncio.sleep(0.05)
        finally:
            await asyncio.gather(*(member.stop() for member in started))
        # Accepted only when every member drained on its one assignment (a rebalance may also arrive in the
        # same poll as the last drain).
        if all(member.drained.is_set() and len(member.assignments) == 1 for member in started):
            break
    else:
        raise RuntimeError(f"bridge x{members}: the group rebalanced during each of {attempts} attempts")
    drains = [member.drain for member in started]
    read = sum(d["done"]["incidents"] for d in drains)
    if read < backlog_.counts["incidents"]:
        raise RuntimeError(f"bridge x{members}: the members read {read:,} of {backlog_.counts['incidents']:,} "
                           "incident records (partition ends wrong?)")
    begin = min(d["t"] - d["seconds"] for d in drains)
    seconds = max(d["t"] for d in drains) - begin
    cpu = sum(d["cpu_seconds"] for d in drains)
    events = backlog_.total
    return {"events": events, "seconds": seconds, "events_per_s": events / seconds, "cpu_seconds": cpu,
            "cpu_us_per_event": cpu / events * 1e6, "peak_rss_mb": sum(d["peak_rss"] for d in drains) / 2**20,
            "members": members, "attempts": attempt, "assignments": [member.assignments for member in started],
            # Each member's own drain: when it started after the first one, and how long it took.
            "member_drains": [{"started_after_s": d["t"] - d["seconds"] - begin, "seconds": d["seconds"]}
                              for d in drains]}


async def throughput_passthrough(bench: Bench, backlog_: Backlog, timeout: float = 600) -> dict[str, Any]:
    topics = {backlog_.incidents_topic: "incidents", backlog_.units_topic: "units"}
    return await drain(bench.passthrough(topics, backlog_.counts), timeout)


# -- latency ---------------------------------------------------------------------------------------------


async def preload_roster(bench: Bench) -> str:
    topic = bench.name("roster")
    await bench.create_topics([topic], compacted=[topic])
    await bench.produce((topic, key, value) for key, value in bench.traffic.roster)
    return topic


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def latency(bench: Bench, who: str, roster_topic: str, rate: float, seconds: float, warmup: float,
                  timeout: float = 120, extra_env: dict[str, str] | None = None,
                  instances: int = 1, burn_us: float = 0.0, mix: float | None = None) -> dict[str, Any]:
    """Produce events at ``rate``/s; time each crisis call from just before ``send`` to its output's arrival.

    By default every event is a new crisis call. With ``mix`` (the share of unit/AVL records) the events are the
    backlog's mix instead (AVL, ordinary calls, updates, closes) and only the records that open a crisis call are
    timed (and marked with ``TIMED_HEADER``): the passthrough consumes every record and forwards the marked ones,
    the bridge applies the AVL to its roster. ``instances`` > 1 runs
    that many bridge processes in one consumer group (horizontal scale-out): the input's partitions are shared
    between them, and each keeps the whole roster, as in production.
    """
    incidents = bench.name(f"latency.{who}")
    units = roster_topic
    await bench.create_topics([incidents])
    members: list[Measured] = []
    if who == "bridge":
        group = bench.name("bridge")
        members = [bench.bridge(incidents, roster_topic, "WARNING", {}, ready_units=len(bench.traffic.roster),
                                extra_env=extra_env, group=group, instance=n) for n in range(instances)]
    else:
        streams = {incidents: "incidents"}
        if mix is not None:
            # Its own unit topic: it forwards the run's AVL, not the roster preloaded for the bridges.
            units = bench.name(f"latency.{who}.units")
            await bench.create_topics([units])
            streams[units] = "units"
        # In the mix it forwards what the bridge answers, the crisis calls (marked by the driver), and consumes
        # the rest as the bridge does: forwarding every record would load the broker with 50 times the bridge's
        # output and slow the passthrough's own hop (measured: +15 ms at p50 beside the bridge's figure).
        members = [bench.passthrough(streams, {}, burn_us=burn_us, forward_marked=mix is not None)]
        await bench.create_topics([members[0].output_topic])
    measured = members[0]
    for member in members:
        await member.start()
    received: dict[bytes, float] = {}
    reader: AIOKafkaConsumer | None = None
    read_task: asyncio.Task[None] | None = None
    try:
        for member in members:
            await member.wait(member.ready, timeout, "group join")
        reader = AIOKafkaConsumer(measured.output_topic, bootstrap_servers=bench.bootstrap,
                                  group_id=None, auto_offset_reset="earliest", fetch_max_wait_ms=5)
        await reader.start()

        async def read() -> None:
            while True:
                batch = await reader.getmany(timeout_ms=50)
                now = time.perf_counter()
                for records in batch.values():
                    for record in records:
                        received.setdefault(record.key, now)

        read_task = asyncio.create_task(read())
        producer = bench.producer(linger_ms=0)
        await producer.start()
        try:
            tag = f"{who}{bench.prefix}"
            warm, events = _latency_events(bench.traffic, incidents, units, int(rate * warmup),
                                           int(rate * seconds), mix, tag)
            warm_sent: dict[bytes, float] = {}
            await _paced(producer, warm, rate, warm_sent, mix is not None)
            await _arrival(received, list(warm_sent), 30)
            sent: dict[bytes, float] = {}
            await _paced(producer, events, rate, sent, mix is not None)
        finally:
            await producer.stop()
        await _arrival(received, list(sent), 30)
    finally:
        if read_task is not None:
            read_task.cancel()
            await asyncio.gather(read_task, return_exceptions=True)
        if reader is not None:
            await reader.stop()
        await asyncio.gather(*(member.stop() for member in members))
    ms = [(received[k] - t) * 1000 for k, t in sent.items() if k in received]
    if not ms:
        raise RuntimeError(f"latency[{who}]: no output arrived")
    return {"sent": len(sent), "received": len(ms), "p50_ms": percentile(ms, 0.5),
            "p99_ms": percentile(ms, 0.99), "max_ms": max(ms), "rate": rate}


# (topic, key, value, timed): a timed record's send time is kept under its key.
Paced = tuple[str, bytes, bytes, bool]
# On the timed records of mixed traffic, for a passthrough that forwards only those (the bridge ignores it).
TIMED_HEADER = "bench-timed"


def _latency_events(traffic: Traffic, incidents: str, units: str, warm: int, measured: int, mix: float | None,
                    tag: str) -> tuple[list[Paced], list[Paced]]:
    """The warm-up's records and the measured ones: new crisis calls only, or the backlog's mix (``mix``)."""
    if mix is None:
        return ([(incidents, k, v, True) for k, v in crisis_events(traffic, warm, f"W{tag}")],
                [(incidents, k, v, True) for k, v in crisis_events(traffic, measured, f"M{tag}")])
    topics = {"incidents": incidents, "units": units}
    stream = [(topics[kind], k, v, opens_crisis)
              for kind, k, v, opens_crisis in marked_backlog(traffic, warm + measured, mix, tag=f"X{tag}")]
    return stream[:warm], stream[warm:]


async def _paced(producer: AIOKafkaProducer, events: list[Paced], rate: float, sent: dict[bytes, float],
                 mark: bool) -> None:
    started = time.perf_counter()
    futures = []
    for n, (topic, key, value, timed) in enumerate(events):
        delay = started + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        headers = [(TIMED_HEADER, b"1")] if timed and mark else None
        if timed:
            sent[key] = time.perf_counter()
        futures.append(await producer.send(topic, value, key=key, headers=headers))
    await asyncio.gather(*futures)


async def _arrival(received: dict[bytes, float], keys: list[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(k in received for k in keys):
        await asyncio.sleep(0.05)


# -- memory ----------------------------------------------------------------------------------------------


async def memory(bench: Bench, events: int, unit_share: float, timeout: float = 3600) -> dict[str, Any]:
    """Replay ``events`` through the bridge (produced while it consumes); RSS sampled as it goes."""
    incidents, units = bench.name("replay.incidents"), bench.name("replay.units")
    await bench.create_topics([incidents, units], compacted=[units])
    rng = random.Random(3)  # backlog()'s own draw order: the counts are known before producing
    units_count = sum(rng.random() < unit_share for _ in range(events))
    counts = {"incidents": events - units_count, "units": units_count}
    # Roster first, so the replay starts with a full table like a running service.
    roster = [(units, k, v) for k, v in bench.traffic.roster]
    counts["units"] += len(roster)
    measured = bench.bridge(incidents, units, "WARNING", counts)
    await measured.start()
    topics = {"incidents": incidents, "units": units}
    try:
        await measured.wait(measured.ready, 120, "group join")

        def done() -> int:
            return sum(measured.latest.get("done", {}).values())

        started = time.perf_counter()
        await bench.produce(roster)
        # At most 10,000 records ahead of the bridge: RSS then measures its state, not the driver's lead.
        replay = backlog(bench.traffic, events, unit_share, tag="m")
        await bench.produce(((topics[kind], k, v) for kind, k, v in replay), window=1000, progress=done)
        await measured.wait(measured.drained, timeout, "replay")
        elapsed = time.perf_counter() - started
    finally:
        await measured.stop()
    samples = [(sum(s["done"].values()), s["rss"] / 2**20, s.get("open_incidents", 0)) for s in measured.samples]
    final = measured.drain
    samples.append((sum(final["done"].values()), final["rss"] / 2**20, samples[-1][2] if samples else 0))
    total = sum(counts.values())
    marks = {}
    for share in (0.1, 0.25, 0.5, 0.75, 1.0):
        at = [s for s in samples if s[0] >= share * total * 0.999]
        if at:
            marks[share] = {"events": at[0][0], "rss_mb": at[0][1], "open_incidents": at[0][2]}
    after_half = [s[1] for s in samples if s[0] >= total / 2]
    before_half = [s[1] for s in samples if 0 < s[0] < total / 2]
    # The highest sample of a half is one allocator swing (Kafka's buffers come and go by megabytes); the median
    # of each half past the first 10% (the tables filling) shows the trend beside it.
    warm = [s[1] for s in samples if total / 10 <= s[0] < total / 2]
    return {
        "events": total, "seconds": elapsed, "peak_rss_mb": measured.drain["peak_rss"] / 2**20,
        "rss_first_half_max_mb": max(before_half) if before_half else None,
        "rss_second_half_max_mb": max(after_half) if after_half else None,
        "rss_first_half_median_mb": statistics.median(warm) if warm else None,
        "rss_second_half_median_mb": statistics.median(after_half) if after_half else None,
        "marks": marks, "max_open_incidents": max((s[2] for s in samples), default=0),
        "samples": len(samples),
        "series": [(done, round(rss, 1), open_) for done, rss, open_ in samples],  # (events done, RSS MB, open)
    }
