"""Per-stage cost of the bridge's pipeline, in process, no broker: where each event's microseconds go.

    python -m bench.breakdown [--events 20000] [--batch 1000]

Replays a backlog (``bench.traffic``) through the same calls ``IncidentProcessor`` makes, in the same order,
timing each stage separately with ``perf_counter_ns``: decode (msgspec, pydantic on refusal), triage (with the
incident's memo, as the processor keeps it), premise history lookup (once per incident with a behavioral signal),
ranking (crisis calls, 1,000-unit roster; as the processor coalesces, only the newest revision of each incident
in a batch of ``--batch`` incident events), recommendation encoding, outcome rows (the revisions the processor
records) and the batch write (SQLite, one transaction per ``--batch`` events), the INFO log line (structlog as
configured by the service, to /dev/null) and, for ``cad.units``, the service's feed (every record decoded, each
unit's newest snapshot per fetched partition batch applied). Beside them, the alternatives
worth knowing: plain ``orjson.loads`` (the parse floor), the pydantic contract's own decode, and triage without
the memo. Each figure is microseconds per event of the kind the stage applies to, and
microseconds per backlog event (what it costs the throughput figure). One core, no Kafka: add the passthrough's
own CPU per event to compare with the end-to-end bench.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import os
import tempfile
import time
import zlib
from collections import defaultdict
from pathlib import Path

import orjson
import structlog
from aiokafka import ConsumerRecord

from bench.traffic import DEFAULT_RULES, backlog, build_traffic
from dispatch_bridge.bus import cloudevents
from dispatch_bridge.bus.codec import decode_incident
from dispatch_bridge.contracts import IncidentEvent
from dispatch_bridge.feeds import unit_feed
from dispatch_bridge.metrics import Metrics
from dispatch_bridge.outcomes import open_store
from dispatch_bridge.outcomes.config import StoreSettings
from dispatch_bridge.pipeline import OpenIncident, recommendation_record
from dispatch_bridge.processor import _slim, worth_recording
from dispatch_bridge.recommend import rank
from dispatch_bridge.recommend.config import RankingSettings
from dispatch_bridge.recording import StoreRecorder
from dispatch_bridge.roster import Roster
from dispatch_bridge.roster.config import RosterSettings
from dispatch_bridge.triage import TriageMemo, load_ruleset, triage

UNITS_STAGE = "units: decode each, apply newest per unit (per unit record)"
UNIT_PARTITIONS = 6
# A partition's share of one fetch while draining: 1 MB (max_partition_fetch_bytes) of ~500-byte snapshots.
UNIT_FETCH_RECORDS = 2000


async def run(events: int, batch_size: int, gc_mode: str = "default",
              workdir: Path | None = None) -> dict[str, dict[str, float]]:
    traffic = build_traffic()
    records = list(backlog(traffic, events, 0.5))
    ruleset = load_ruleset(DEFAULT_RULES)
    roster = Roster(RosterSettings(time_zone="America/Chicago"))
    for key, value in traffic.roster:
        roster.apply_unit_record(key, value)
    ranking = RankingSettings()
    metrics = Metrics()
    from dispatch_bridge.observability import configure_logging

    # The service writes its log lines straight to file descriptor 2: point that at /dev/null for the replay.
    devnull = os.open(os.devnull, os.O_WRONLY)
    saved_stderr = os.dup(2)
    os.dup2(devnull, 2)
    configure_logging("INFO", "json")
    log = structlog.get_logger("dispatch_bridge.events")

    tmp = workdir or Path(tempfile.mkdtemp(prefix="bench-breakdown-"))
    store_settings = StoreSettings(url=f"sqlite:///{tmp / 'breakdown-outcomes.db'}")
    store = await open_store(store_settings)
    recorder = StoreRecorder(store, roster, metrics, store_settings)

    ns: dict[str, int] = defaultdict(int)
    count: dict[str, int] = defaultdict(int)
    clock = time.perf_counter_ns
    contexts: set[str] = set()
    book: dict[str, OpenIncident] = {}
    rows: list[object] = []
    now = dt.datetime.now(dt.UTC)
    counter = metrics.events_processed.labels("recommended")
    deferred: dict[str, tuple[int, IncidentEvent, object]] = {}
    in_batch = 0

    async def settle() -> None:
        """The end of a batch: rank and publish each deferred incident, then write the batch's rows."""
        for m, event, assessment in deferred.values():
            t = clock()
            result = rank(assessment, event.incident, roster, now, ranking)
            t = timed("rank (crisis events, newest revision per batch)", t)
            record = recommendation_record(event, assessment, result, now, event.event_id)
            orjson.dumps(record)
            ce_id = cloudevents.event_id("t", 0, m, assessment.ruleset_sha256)
            cloudevents.headers(ce_id, cloudevents.RECOMMENDATION_TYPE, "/bench", now, event.incident.id,
                                {"rulesetversion": assessment.ruleset_version})
            t = timed("publish: record + orjson + CloudEvents headers", t)
            rows.append(recorder.published(event, assessment, result, now, "incident_update", ce_id))
            counter.inc()
            t = timed("published row + metrics", t)
            log.info("event", topic="cad.incidents", partition=0, offset=m, incident_id=event.incident.id,
                     revision=event.incident.revision, outcome="recommended", latency_ms=1.0)
            timed("INFO log line (flagged events)", t)
        deferred.clear()
        if rows:
            t = clock()
            await store.write(rows)  # type: ignore[arg-type]
            ns["store write (batch, per row)"] += clock() - t
            count["store write (batch, per row)"] += len(rows)
            rows.clear()

    def timed(stage: str, started: int) -> int:
        end = clock()
        ns[stage] += end - started
        count[stage] += 1
        return end

    # cad.units as the service's table reader hands it over: a partition's fetched batch at a time, to the
    # same feed (every record decoded, the newest snapshot of each unit applied).
    feed = unit_feed(roster, metrics.invalid_table_records.labels("units"), lambda: None)
    fetched: dict[int, list[ConsumerRecord]] = defaultdict(list)

    def feed_units(partition: int) -> None:
        batch = fetched.pop(partition)
        t = clock()
        feed(batch)
        ns[UNITS_STAGE] += clock() - t
        count[UNITS_STAGE] += len(batch)

    apply_gc_mode(gc_mode)
    for n, (kind, key, value) in enumerate(records):
        if kind == "units":
            partition = zlib.crc32(key) % UNIT_PARTITIONS
            fetched[partition].append(ConsumerRecord("cad.units", partition, n, 0, 0, key, value, None, 0, 0, ()))
            if len(fetched[partition]) >= UNIT_FETCH_RECORDS:
                feed_units(partition)
            continue
        t = clock()
        orjson.loads(value)
        t = timed("alt: orjson.loads only (parse floor)", t)
        IncidentEvent.model_validate_json(value)
        t = timed("alt: pydantic contract decode (model_validate_json)", t)
        event = decode_incident(value, 1_048_576)
        t = timed("decode (msgspec, pydantic on refusal)", t)
        triage(event, ruleset)
        t = timed("alt: triage without the incident's memo", t)
        previous = book.get(event.incident.id)
        memo = previous.memo if previous is not None else TriageMemo()
        assessment = triage(event, ruleset, None, memo)
        t = timed("triage (with the incident's memo)", t)
        if assessment.score > 0 and event.incident.id not in contexts:
            contexts.add(event.incident.id)
            recorder.premise(event)
            t = timed("premise lookup (in-memory index, once per incident)", t)
        if worth_recording(event, assessment, previous):
            rows.append(recorder.seen(event, assessment, now))
        book[event.incident.id] = OpenIncident(_slim(event), 0, assessment, memo=memo)
        t = timed("outcome row built (revisions worth recording) + book", t)
        if assessment.crisis:
            # Ranked and published at the end of the batch, only the newest revision of each incident in it
            # (the processor's coalescing): a newer revision of the same call replaces this one.
            deferred.pop(event.incident.id, None)
            deferred[event.incident.id] = (n, event, assessment)
        in_batch += 1
        if in_batch >= batch_size:
            await settle()
            in_batch = 0
    await settle()
    for partition in list(fetched):
        feed_units(partition)
    await store.close()
    os.dup2(saved_stderr, 2)
    os.close(saved_stderr)
    os.close(devnull)
    total = len(records)
    out = {}
    for stage in ns:
        out[stage] = {"us_per_event": ns[stage] / count[stage] / 1000, "events": count[stage],
                      "us_per_backlog_event": ns[stage] / total / 1000}
    return out


def apply_gc_mode(mode: str) -> None:
    """``default``: CPython's thresholds (700, 10, 10); ``tuned``: what a long-running service with a large
    resident heap does, freeze what start-up built and collect the young generation less often."""
    if mode == "tuned":
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 50, 100)
    elif mode == "off":
        gc.disable()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--gc", choices=("default", "tuned", "off"), default="default",
                        help="garbage collector settings during the replay")
    args = parser.parse_args()
    stages = asyncio.run(run(args.events, args.batch, args.gc))
    print(f"{'stage':<52} {'us/event':>9} {'events':>7} {'us/backlog event':>17}")
    pipeline = 0.0
    for stage, row in stages.items():
        if not stage.startswith("alt:"):
            pipeline += row["us_per_backlog_event"]
        print(f"{stage:<52} {row['us_per_event']:>9.1f} {row['events']:>7} {row['us_per_backlog_event']:>17.1f}")
    print(f"{'pipeline total (without alt: rows)':<52} {'':>9} {'':>7} {pipeline:>17.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
