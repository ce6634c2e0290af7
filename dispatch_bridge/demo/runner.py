"""``dispatch-bridge demo``: an embedded broker, the real service, and a replayed sample shift, live in the terminal.

Nothing is mocked: the demo starts Tansu on a free loopback port, runs the same ``Service`` and HTTP API as
production (SQLite store in a scratch folder, an API token made up for the session), publishes the shift's
unit and incident events on Kafka as a CAD would, and prints each recommendation as it comes back.

Time: the shift is replayed faster than real time, so the service runs on a replay clock (the shift's own
time, sped up) rather than the wall clock; team hours, certification dates and AVL ages then read as they did
during the shift.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from dispatch_bridge.demo.render import render_recommendation, render_summary, wants_colour
from dispatch_bridge.demo.shift import Shift, build_shift
from dispatch_bridge.demo.tally import Tally
from dispatch_bridge.observability import configure_logging
from dispatch_bridge.server import serve
from dispatch_bridge.service import Service
from dispatch_bridge.settings import Settings
from dispatch_bridge.testing.broker import EmbeddedBroker, free_port

REPO_RULES = Path(__file__).resolve().parents[2] / "rules" / "default"
# About a minute and a quarter for the 8-hour shift.
DEFAULT_SPEED = 400.0


class ReplayClock:
    """Shift time, running ``speed`` times faster than the wall clock from the moment it starts."""

    def __init__(self, start: dt.datetime, speed: float) -> None:
        self._start = start
        self.speed = speed
        self._t0 = time.monotonic()

    def restart(self) -> None:
        self._t0 = time.monotonic()

    def elapsed(self) -> float:
        """Shift seconds since the replay started."""
        return (time.monotonic() - self._t0) * self.speed

    def __call__(self) -> dt.datetime:
        return (self._start + dt.timedelta(seconds=self.elapsed())).astimezone(dt.UTC)


def demo_settings(broker: EmbeddedBroker, workdir: Path, shift: Shift, port: int, token: str) -> Settings:
    (workdir / "personnel.csv").write_text(shift.personnel_csv(), encoding="utf-8")
    (workdir / "teams.yaml").write_text(shift.teams_yaml(), encoding="utf-8")
    zone = str(getattr(shift.start.tzinfo, "key", "UTC"))
    return Settings(
        kafka={"bootstrap_servers": broker.bootstrap_servers, "group_id": "dispatch-bridge-demo",
               "create_topics": True, "topic_partitions": 3, "enable_idempotence": False,
               "session_timeout_ms": 6000, "heartbeat_interval_ms": 500},
        http={"host": "127.0.0.1", "port": port},
        rules_dir=REPO_RULES if REPO_RULES.is_dir() else Path("rules/default"),
        store={"url": f"sqlite:///{workdir / 'outcomes.db'}", "timezone": zone},
        roster={"time_zone": zone},
        personnel_file=workdir / "personnel.csv",
        teams_file=workdir / "teams.yaml",
        api={"token": token},
        environment="demo",
    )


async def run_demo(args: argparse.Namespace) -> int:
    speed = args.speed or DEFAULT_SPEED
    workdir = Path(tempfile.mkdtemp(prefix="dispatch-bridge-demo-"))
    configure_logging("WARNING", "json")
    # Service logs go to a file: the terminal is for the dispatcher's view.
    sys.stderr.flush()
    log_file = open(workdir / "service.log", "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the demo
    os.dup2(log_file.fileno(), 2)
    out = sys.stdout
    colour = wants_colour(out, os.environ)
    shift = build_shift(args.seed, None, args.calls)
    port = args.port or free_port()
    token = secrets.token_urlsafe(24)

    print(f"dispatch-bridge demo: {len(shift.facts)} calls, {len(shift.units)} units, "
          f"shift of {shift.duration_s / 3600:.1f} h replayed at {speed:.0f}x", file=out)
    broker = EmbeddedBroker(log_path=workdir / "tansu.log").start()
    print(f"  broker      Tansu on {broker.bootstrap_servers} (embedded, in memory)", file=out)
    settings = demo_settings(broker, workdir, shift, port, token)
    clock = ReplayClock(shift.start, speed)
    service = Service(settings, clock=clock)
    stop = asyncio.Event()
    server = asyncio.create_task(serve(settings, service, stop))
    try:
        await _wait_ready(service, server)
        print(f"  service     http://127.0.0.1:{port}  (API token for this session: {token})", file=out)
        print(f"  logs        {workdir / 'service.log'}", file=out)
        print("", file=out)
        tally = Tally()
        sent_at: dict[str, float] = {}
        reader = asyncio.create_task(_show_recommendations(settings, sent_at, tally, colour))
        started = time.monotonic()
        events = await _replay(shift, settings, clock, sent_at)
        await _wait_drained(service, settings, events)
        await asyncio.sleep(1.0)  # let the last recommendations reach the reader
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        dead = int(sum(s.value for m in service.metrics.dead_letters.collect() for s in m.samples
                       if s.name.endswith("_total")))
        stats = tally.stats(calls=len(shift.facts), events=events, dead_letters=dead,
                            behavioral_truth=sum(1 for f in shift.facts.values() if f.behavioral),
                            duration_s=time.monotonic() - started)
        print("", file=out)
        print(render_summary(stats, colour=colour), file=out)
        report = await _write_report(service, shift, workdir)
        print(f"\ncoordinator report for the shift: {report}", file=out)
        if args.keep_running:
            print(f"\nthe stack stays up: try  curl -H 'Authorization: Bearer {token}' "
                  f"http://127.0.0.1:{port}/v1/coverage   (Ctrl-C to stop)", file=out)
            await _wait_forever(server)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server, timeout=30)
        broker.stop()
    return 0


async def _wait_ready(service: Service, server: asyncio.Task[int]) -> None:
    async with asyncio.timeout(60):
        while not (service.ready()[0] and service.incidents.assignment):
            if server.done():
                server.result()  # surfaces the start-up error
                raise RuntimeError("the service stopped during start-up")
            await asyncio.sleep(0.1)


async def _replay(shift: Shift, settings: Settings, clock: ReplayClock, sent_at: dict[str, float]) -> int:
    """Publish the shift as a CAD would, each record at its (sped-up) time. Returns incident events sent.

    ``sent_at`` gets the wall-clock send time of every incident event, by event id, for the latency figures.
    """
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers, linger_ms=5)
    await producer.start()
    topics = {"incidents": settings.topics.incidents, "units": settings.topics.units}
    incidents = 0
    try:
        clock.restart()
        for record in shift.records():
            delay = record.at - clock.elapsed()
            if delay > 0:
                await asyncio.sleep(delay / clock.speed)
            if record.kind == "incidents":
                sent_at.setdefault(orjson.loads(record.value)["event_id"], time.monotonic())
                incidents += 1
            await producer.send(topics[record.kind], record.value, key=record.key.encode())
        await producer.flush()
    finally:
        await producer.stop()
    return incidents


async def _wait_drained(service: Service, settings: Settings, expected: int, timeout: float = 60) -> None:
    consumed = service.metrics.events_consumed.labels(settings.topics.incidents)
    async with asyncio.timeout(timeout):
        while consumed._value.get() < expected:  # noqa: SLF001 - reading our own counter
            await asyncio.sleep(0.1)


async def _show_recommendations(settings: Settings, sent_at: dict[str, float], tally: Tally, colour: bool) -> None:
    """Print every recommendation; latency = wall time from the CAD event sent to its first recommendation read
    (re-rankings on roster change answer an old event and are not latency)."""
    answered: set[str] = set()
    consumer = AIOKafkaConsumer(settings.topics.recommendations, bootstrap_servers=settings.kafka.bootstrap_servers,
                                group_id=None, auto_offset_reset="earliest", fetch_max_wait_ms=20)
    await consumer.start()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=100)
            for records in batch.values():
                for record in records:
                    rec = orjson.loads(record.value)
                    source = str(rec.get("source_event_id"))
                    latency = None
                    if rec.get("trigger") != "roster_change" and source in sent_at and source not in answered:
                        answered.add(source)
                        latency = (time.monotonic() - sent_at[source]) * 1000
                    tally.add(rec, latency)
                    print(render_recommendation(rec, colour=colour), flush=True)
    finally:
        await consumer.stop()


async def _write_report(service: Service, shift: Shift, workdir: Path) -> Path:
    from dispatch_bridge.outcomes import build_report, render_html

    assert service.store is not None
    day = shift.start.date()
    report = await build_report(service.store, day, day + dt.timedelta(days=1),
                                personnel=service.roster.personnel_records() or None,
                                coverage_min=service.settings.roster.coverage_min_per_district, as_of=day)
    path = workdir / "report.html"
    path.write_text(render_html(report), encoding="utf-8")
    return path


async def _wait_forever(server: asyncio.Task[int]) -> None:
    with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
        await server
