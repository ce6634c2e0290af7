"""Wires the parts together and owns the lifecycle: start, run, drain, stop.

Tasks it runs: the incident consumer (group), the roster table readers (every partition, no group), and three
loops beside them that never wait on each other: housekeeping (broker health, rules hot reload, coverage gauges,
eviction), re-ranking on a roster change (waits on the broker), and store upkeep (hourly coverage rows, premise
history, purge; waits on the store), with the rows no offset waits for written by their own task (``SideRows``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Coroutine
from typing import Any

import structlog
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from dispatch_bridge.bus.consumer import GroupConsumer
from dispatch_bridge.bus.kafka_config import connection_kwargs
from dispatch_bridge.bus.producer import OutputProducer
from dispatch_bridge.bus.table import TableReader
from dispatch_bridge.contracts.structs import IncidentEvent
from dispatch_bridge.domain import MOBILE_CRISIS, Assessment, Ranking
from dispatch_bridge.feedback import FeedbackHandler
from dispatch_bridge.feeds import record_feed, unit_feed
from dispatch_bridge.metrics import Metrics
from dispatch_bridge.outcomes import OutcomeStore, RosterSnapshot, open_store
from dispatch_bridge.pipeline import OpenIncident
from dispatch_bridge.processor import Clock, IncidentProcessor, utc_now
from dispatch_bridge.recipients import TeamChannelLedger
from dispatch_bridge.recommend import rank
from dispatch_bridge.recording import SideRows, StoreRecorder
from dispatch_bridge.roster import Roster, needs_rerank
from dispatch_bridge.settings import Settings
from dispatch_bridge.triage import (
    RulesetHolder,
    ShadowEvaluator,
    TriageContext,
    TriageMemo,
    load_ruleset,
    triage,
)

log = structlog.get_logger(__name__)

HEALTH_INTERVAL_SECONDS = 2.0
CIT_ASSIGNED = Ranking((), ("cit_responder_assigned",))
TEAM_ASSIGNED = Ranking((), ("crisis_team_assigned",))
PREMISE_REFRESH_SECONDS = 30.0
PREMISE_REFRESH_OVERLAP = dt.timedelta(minutes=10)


class Service:
    def __init__(self, settings: Settings, metrics: Metrics | None = None, clock: Clock = utc_now) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.clock = clock
        self.rules = RulesetHolder(settings.rules_dir, run_tests=settings.rules.run_pack_tests)
        self.roster = Roster(settings.roster)
        self.producer = OutputProducer(settings.kafka, on_retry=self.metrics.produce_retries.inc)
        self.team_ledger = (TeamChannelLedger(settings.processing.max_open_incidents)
                            if settings.team_channel.enabled else None)
        self.processor = IncidentProcessor(
            settings, self.metrics, self.producer, triage=self._triage, ranker=self._rank, clock=clock,
            team_ledger=self.team_ledger)
        self.incidents = GroupConsumer(
            [settings.topics.incidents], settings.kafka, self.processor.handle, self.metrics,
            on_revoked=self.processor.forget_partitions, on_abandon=self.processor.abandon_in_flight,
            drain_seconds=settings.processing.shutdown_drain_seconds,
            outage_buffer_records=settings.processing.outage_buffer_records)
        self.shadow: ShadowEvaluator | None = None
        if settings.rules.shadow_dir is not None:
            self.shadow = ShadowEvaluator(load_ruleset(settings.rules.shadow_dir), settings.rules.shadow_keep_last)
        self.store: OutcomeStore | None = None
        self.recorder: StoreRecorder | None = None
        self.side_rows: SideRows | None = None
        self.feedback = FeedbackHandler(self)
        self._rerank_wanted = asyncio.Event()
        # Dispatch's feedback is read in bulk too, as the tables are (KafkaSettings.table_fetch_max_wait_ms).
        in_bulk = settings.kafka.model_copy(update={"fetch_max_wait_ms": settings.kafka.table_fetch_max_wait_ms})
        self.feedback_consumer = GroupConsumer(
            [settings.topics.feedback], in_bulk, self.feedback.handle, self.metrics,
            drain_seconds=settings.processing.shutdown_drain_seconds, group_id=f"{settings.kafka.group_id}.feedback")
        invalid = self.metrics.invalid_table_records
        self.units = TableReader(settings.topics.units, settings.kafka,
                                 unit_feed(self.roster, invalid.labels("units"), self._rerank_wanted.set),
                                 on_batch_done=self._on_roster_batch)
        self.personnel = TableReader(settings.topics.personnel, settings.kafka,
                                     record_feed("personnel", self.roster.apply_personnel_record,
                                                 invalid.labels("personnel"), self._rerank_wanted.set),
                                     on_batch_done=self._on_roster_batch)
        # What the team channel told about calls this instance may be given (a restart, a rebalance).
        self.team_channel = (TableReader(settings.topics.team_recommendations, settings.kafka,
                                         record_feed("team_channel", self.team_ledger.apply,
                                                     invalid.labels("team_channel")))
                             if self.team_ledger is not None else None)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.broker_ok = False
        self.started = False
        self.stopping = False
        self.failed: str | None = None

    # -- the pure core, bound to the live ruleset and roster -----------------------------------------------

    def _triage(self, event: IncidentEvent, context: TriageContext | None = None,
                memo: TriageMemo | None = None) -> Assessment:
        live = triage(event, self.rules.current, context, memo)
        if self.shadow is not None:
            before = self.shadow.disagreements
            self.shadow.evaluate(event, live, context)
            if self.shadow.disagreements != before:
                self.metrics.shadow_disagreements.inc()
        return live

    def _rank(self, assessment: Assessment, event: IncidentEvent, now: dt.datetime) -> Ranking:
        if event.incident.units and self.roster.has_cit_responder(event.incident, now):
            # The CAD already sent a CIT-certified unit: say so once rather than propose more units.
            return CIT_ASSIGNED
        if assessment.response == MOBILE_CRISIS and event.incident.units \
                and self.roster.has_team_responder(event.incident, (MOBILE_CRISIS,)):
            # The mobile crisis team this tier asks for is on the call: not "team busy", and no officers instead.
            return TEAM_ASSIGNED
        return rank(assessment, event.incident, self.roster, now, self.settings.ranking)

    # -- lifecycle ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        ruleset = self.rules.current  # loaded in the constructor: a broken pack fails the start
        self.metrics.ruleset_info.labels(ruleset.version, ruleset.sha256).set(1)
        if self.settings.personnel_file:
            self.roster.load_personnel_file(self.settings.personnel_file)
        if self.settings.teams_file:
            self.roster.load_teams_file(self.settings.teams_file)
        self.metrics.cit_coverage_minimum.set(self.settings.roster.coverage_min_per_district)
        self.store = await open_store(self.settings.store)
        self.recorder = StoreRecorder(self.store, self.roster, self.metrics, self.settings.store)
        self.side_rows = SideRows(self.recorder, self.metrics)
        window = dt.timedelta(days=self.settings.store.premise_window_days)
        await self.recorder.refresh_premises(self.clock() - window)
        self.processor.attach_outcomes(self.recorder, self.recorder.premise)
        if self.settings.kafka.create_topics:
            await self.create_topics()
        await self.producer.start()
        self.broker_ok = True
        self._spawn(self.incidents.run(self._stop), "incidents")
        self._spawn(self.units.run(self._stop), "units")
        self._spawn(self.personnel.run(self._stop), "personnel")
        if self.team_channel is not None:
            self._spawn(self.team_channel.run(self._stop), "team-channel")
        self._spawn(self.feedback_consumer.run(self._stop), "feedback")
        self._spawn(self._housekeeping(), "housekeeping")
        # The side rows' writer stops once the loops that add rows have ended (a re-ranking still being delivered
        # at shutdown adds its rows after the stop).
        adding = [self._spawn(self._rerank_loop(), "rerank"), self._spawn(self._store_upkeep(), "store-upkeep")]
        self._spawn(self.side_rows.run(_when_done(adding), self.processor.abort), "side-rows")
        self.started = True
        log.info("service_started", ruleset_version=ruleset.version, ruleset_sha256=ruleset.sha256[:12],
                 group_id=self.settings.kafka.group_id, incidents_topic=self.settings.topics.incidents)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._task_done)
        self._tasks.append(task)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._stop.is_set():
            return
        exc = task.exception()
        self.failed = f"{task.get_name()} stopped: {type(exc).__name__ if exc else 'returned'}"
        log.error("task_failed", task=task.get_name(), error_class=type(exc).__name__ if exc else None)
        self._stop.set()

    async def wait_stopped(self) -> None:
        await self._stop.wait()

    async def stop(self) -> None:
        """Drain: readiness off, finish the batch in flight, commit, leave the group, close the producer."""
        self.stopping = True
        self._stop.set()
        loop = asyncio.get_running_loop()
        drain = self.settings.processing.shutdown_drain_seconds
        deadline = loop.time() + drain
        done, pending = await asyncio.wait(self._tasks, timeout=drain) if self._tasks else (set(), set())
        if pending:
            # Output still unacknowledged after the drain bound: abandon it uncommitted (it is redelivered).
            self.processor.shutdown()
            for task in pending:
                task.cancel()
            # Cancelled tasks close their clients (each bounded by the drain time); never wait on a hung broker.
            await asyncio.wait(pending, timeout=1.0)
        with contextlib.suppress(KafkaError):
            await self.producer.stop(timeout=max(0.5, deadline - loop.time()))
        if self.store is not None:
            await self.store.close()
        log.info("service_stopped")

    # -- health -----------------------------------------------------------------------------------------

    def live(self) -> tuple[bool, dict[str, Any]]:
        stall = time.time() - self.incidents.last_iteration
        ok = stall < self.settings.processing.liveness_stall_seconds and self.failed is None
        return ok, {"loop_seconds_since_iteration": round(stall, 3)}

    def ready(self) -> tuple[bool, dict[str, Any]]:
        checks = {
            "started": self.started and self.incidents.started,
            "rules_loaded": self.rules.current is not None,
            "broker_reachable": self.broker_ok,
            "consuming": self.incidents.halted_reason is None,
            "not_stopping": not self.stopping,
        }
        ok = all(checks.values())
        self.metrics.ready.set(1 if ok else 0)
        detail: dict[str, Any] = {"checks": checks}
        if self.incidents.halted_reason:
            detail["halted"] = self.incidents.halted_reason
        return ok, detail

    # -- roster -----------------------------------------------------------------------------------------

    def _on_roster_batch(self) -> None:
        self.metrics.roster_units.set(len(self.roster.units))

    def _needs_cit(self, entry: OpenIncident) -> bool:
        return not self.roster.has_cit_responder(entry.event.incident, self.clock())

    async def _rerank_loop(self) -> None:
        """Re-rank when the roster changed. Requests made while one is delivered (the broker slow or away) are
        one re-ranking after it, over the roster as it is then."""
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._rerank_wanted.wait(), timeout=0.25)
            if not self._rerank_wanted.is_set() or self._stop.is_set():
                continue
            self._rerank_wanted.clear()
            result = self.processor.rerank(self._needs_cit)
            if result.outgoing:
                await self.producer.deliver(result.outgoing, abort=self.processor.abort)
            if result.rows and self.side_rows is not None:
                self.side_rows.add(result.rows)

    # -- housekeeping -----------------------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        """What keeps the service honest and current; awaits nothing slower than the broker check's 3 s."""
        next_health = next_rules = 0.0
        next_schedule: dt.datetime | None = None
        while not self._stop.is_set():
            now_mono = time.monotonic()
            health_tick = now_mono >= next_health
            if health_tick:
                next_health = now_mono + HEALTH_INTERVAL_SECONDS
                await self._check_broker()
                self._export_coverage()
            poll = self.settings.rules.reload_poll_seconds
            if poll and now_mono >= next_rules:
                next_rules = now_mono + poll
                if self.rules.changed_on_disk():
                    self.reload_rules("file_change")
                self._refresh_roster_files()
            now = self.clock()
            if next_schedule is not None and now >= next_schedule:
                self._rerank_wanted.set()  # a team came on (or went off) shift
                next_schedule = None
            if next_schedule is None or health_tick:
                # Looked up again when passed, and on the health cadence (the teams file may have changed).
                next_schedule = self.roster.next_schedule_change(now)
            self.processor.book.evict_idle(dt.timedelta(hours=self.settings.processing.incident_idle_hours))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=0.25)

    async def _store_upkeep(self) -> None:
        """The outcome store's periodic work. A store outage stalls this loop alone (and the side rows)."""
        next_purge = time.monotonic() + 60.0
        next_premises = time.monotonic() + PREMISE_REFRESH_SECONDS
        snapshot_hour: dt.datetime | None = None
        while not self._stop.is_set():
            now_mono = time.monotonic()
            now = self.clock()
            hour = now.replace(minute=0, second=0, microsecond=0)
            if hour != snapshot_hour:
                snapshot_hour = hour
                self._snapshot_coverage(hour, now)
            if now_mono >= next_premises and self.recorder is not None:
                # Other instances' crisis calls, on event time; the overlap is re-read (merging is idempotent).
                next_premises = now_mono + PREMISE_REFRESH_SECONDS
                event_now = self.processor.book.watermark or now
                await self.recorder.refresh_premises(event_now - PREMISE_REFRESH_OVERLAP)
                self.recorder.premises.prune(event_now - dt.timedelta(days=self.settings.store.premise_window_days))
            if now_mono >= next_purge and self.store is not None:
                next_purge = now_mono + self.settings.store.purge_interval_hours * 3600
                await self._purge(now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=0.25)

    async def _check_broker(self) -> None:
        try:
            await asyncio.wait_for(self.producer.client.client.fetch_all_metadata(), timeout=3)
        except (TimeoutError, KafkaError, OSError):
            if self.broker_ok:
                log.warning("broker_unreachable")
            self.broker_ok = False
            for consumer in (self.incidents, self.feedback_consumer):
                consumer.hold_commits = True
        else:
            if not self.broker_ok:
                if not await self._recover_after_outage():
                    return  # not settled yet (topics not back): readiness stays off, asked again next round
                log.info("broker_reachable")
            self.broker_ok = True

    async def _recover_after_outage(self) -> bool:
        """Before readiness returns: topics back (where we create them) and no partition read on from a lost log."""
        if self.settings.kafka.create_topics:
            try:
                await self.create_topics()
            except KafkaError as exc:
                log.warning("create_topics_failed", error_class=type(exc).__name__)
        settled = True
        for consumer in (self.incidents, self.feedback_consumer):
            settled &= await consumer.recover_after_outage()
        if settled:
            for consumer in (self.incidents, self.feedback_consumer):
                consumer.hold_commits = False
        return settled

    def _export_coverage(self) -> None:
        coverage = self.roster.coverage(self.clock())
        for row in coverage["districts"]:
            self.metrics.cit_on_duty.labels(row["district"]).set(row["cit_on_duty"])
            self.metrics.cit_available.labels(row["district"]).set(row["cit_available"])

    def _refresh_roster_files(self) -> None:
        """Personnel and teams files are re-read when they change; a bad edit keeps the previous contents."""
        if self.settings.personnel_file is None and self.settings.teams_file is None:
            return
        try:
            change = self.roster.refresh_files(self.settings.personnel_file, self.settings.teams_file)
        except (ValueError, OSError) as exc:
            log.error("roster_file_rejected", error_class=type(exc).__name__)
            return
        if needs_rerank(change):
            self._rerank_wanted.set()

    def _snapshot_coverage(self, hour: dt.datetime, now: dt.datetime) -> None:
        """Hourly CIT coverage per district, for the coordinator's coverage history."""
        if self.side_rows is None:
            return
        coverage = self.roster.coverage(now)
        per_district = {row["district"]: (row["cit_on_duty"], row["cit_available"]) for row in coverage["districts"]}
        self.side_rows.add([RosterSnapshot(hour, per_district)])

    async def _purge(self, now: dt.datetime) -> None:
        assert self.store is not None
        try:
            deleted = await self.store.purge(now)
        except Exception as exc:  # noqa: BLE001 - retried at the next interval
            log.warning("purge_failed", error_class=type(exc).__name__)
        else:
            log.info("purged", **{f"{table}_rows": n for table, n in deleted.items()})

    def reload_rules(self, trigger: str) -> dict[str, Any]:
        result = self.rules.reload()
        ok = bool(getattr(result, "ok", False))
        self.metrics.ruleset_reloads.labels("loaded" if ok else "rejected").inc()
        ruleset = self.rules.current
        if ok:
            self.metrics.ruleset_info.clear()
            self.metrics.ruleset_info.labels(ruleset.version, ruleset.sha256).set(1)
            log.info("ruleset_reloaded", trigger=trigger, version=ruleset.version, sha256=ruleset.sha256[:12])
        else:
            log.error("ruleset_reload_rejected", trigger=trigger, active_version=ruleset.version)
        return self.rules.status()

    # -- topics -----------------------------------------------------------------------------------------

    async def create_topics(self) -> None:
        """Create missing topics (demo and tests; production topics are a deployment decision)."""
        kafka, topics = self.settings.kafka, self.settings.topics
        admin = AIOKafkaAdminClient(**connection_kwargs(kafka))
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            wanted = [topics.incidents, topics.units, topics.recommendations, topics.deadletter,
                      topics.personnel, topics.feedback, topics.team_recommendations]
            compacted = {topics.units, topics.personnel}
            new = [
                NewTopic(name, num_partitions=kafka.topic_partitions,
                         replication_factor=kafka.topic_replication_factor,
                         topic_configs={"cleanup.policy": "compact"} if name in compacted else {})
                for name in wanted if name not in existing
            ]
            if new:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(new)
                log.info("topics_created", topics=[t.name for t in new])
        finally:
            await admin.close()

    def owned_partitions(self) -> set[TopicPartition]:
        return self.incidents.assignment


def _when_done(tasks: list[asyncio.Task[None]]) -> asyncio.Event:
    """An event set once every task has ended, however it ended."""
    done = asyncio.Event()
    asyncio.gather(*tasks, return_exceptions=True).add_done_callback(lambda _: done.set())
    return done
