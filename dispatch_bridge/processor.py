"""The incident handler: decode, triage, rank, publish; one batch at a time, output acknowledged before commit.

Records of a partition are handled in order. A batch's output (recommendations, dead letters) is enqueued on
the producer at the end of the batch; its acknowledgements, then its outcome rows, complete in the background
while the next batch is processed, and the consumer loop commits the batch's offsets only once both are done.
Everything per record is synchronous and allocation-light; the only awaits are per batch.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec
import orjson
import structlog
from aiokafka import ConsumerRecord, TopicPartition

from dispatch_bridge.bus import cloudevents
from dispatch_bridge.bus.codec import InvalidEvent, decode_incident
from dispatch_bridge.bus.consumer import Batch, ConsumptionHalted, Handled
from dispatch_bridge.bus.deadletter import dead_letter
from dispatch_bridge.bus.producer import Outgoing, OutputProducer
from dispatch_bridge.contracts.structs import IncidentEvent
from dispatch_bridge.domain import Assessment, Ranking
from dispatch_bridge.metrics import Metrics
from dispatch_bridge.pipeline import (
    DEAD_LETTER,
    NOT_CRISIS,
    RECOMMENDED,
    STALE,
    SUPERSEDED,
    Decision,
    IncidentBook,
    OpenIncident,
    Signature,
    decide,
    recommendation_record,
)
from dispatch_bridge.recipients import TeamChannelFilter, TeamChannelLedger
from dispatch_bridge.settings import Settings
from dispatch_bridge.triage import TriageContext, TriageMemo

log = structlog.get_logger("dispatch_bridge.events")

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Triage(Protocol):
    def __call__(self, event: IncidentEvent, context: TriageContext | None = None,
                 memo: TriageMemo | None = None) -> Assessment: ...


# Facts from outside the event (premise history, kept in memory); None when there are none.
PremiseLookup = Callable[[IncidentEvent], TriageContext | None]


class Ranker(Protocol):
    def __call__(self, assessment: Assessment, event: IncidentEvent, now: dt.datetime) -> Ranking: ...


class OutcomeSink(Protocol):
    """Where the outcome rows of a batch go (the outcome store); ``write`` is awaited before the commit."""

    def seen(self, event: IncidentEvent, assessment: Assessment, now: dt.datetime) -> object: ...

    def published(self, event: IncidentEvent, assessment: Assessment, ranking: Ranking,
                  produced_at: dt.datetime, trigger: str, event_id: str) -> object: ...

    async def write(self, rows: Sequence[object], abort: asyncio.Event) -> None: ...


@dataclass(slots=True)
class _Deferred:
    """A revision whose recommendation waits for the end of its batch: a newer revision of the same incident
    later in the batch supersedes it (see ``IncidentProcessor.handle``)."""

    event: IncidentEvent
    record: ConsumerRecord
    assessment: Assessment
    previous: OpenIncident | None
    entry: OpenIncident
    closed: bool


# _apply's outcome for a revision whose decision is deferred: counted and logged when it is settled.
_DEFERRED = "deferred"
# _apply's outcome when deciding at once (coalescing off) failed: the record is already dead-lettered.
_FAILED = "failed"
# _apply's outcome when it has counted and logged the revision itself (a crisis call's close).
_ACCOUNTED = "accounted"
# What the team channel is told when a crisis call it had proposed a team for closes.
INCIDENT_CLOSED = Ranking((), ("incident_closed",))
# The published signature of a call another instance proposed a team for: equal to no real signature (see
# signature()), so that the next decision on it always publishes.
TOLD_ELSEWHERE: Signature = ("a team proposed by another instance",)


@dataclass
class BatchResult:
    outgoing: list[Outgoing] = field(default_factory=list)
    rows: list[object] = field(default_factory=list)
    latencies: list[dt.datetime] = field(default_factory=list)


class IncidentProcessor:
    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        producer: OutputProducer,
        triage: Triage,
        ranker: Ranker,
        sink: OutcomeSink | None = None,
        premise: PremiseLookup | None = None,
        clock: Clock = utc_now,
        team_ledger: TeamChannelLedger | None = None,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._producer = producer
        self._triage = triage
        self._ranker = ranker
        self._sink = sink
        self._premise = premise
        self._clock = clock
        self._source = f"/dispatch-bridge/{settings.environment}"
        self._top_n = settings.processing.material_top_candidates
        self._max_bytes = settings.kafka.max_message_bytes
        self._dlq_limit = settings.processing.dlq_max_consecutive
        self._log_every_event = settings.processing.log_every_event
        self._log_info = True  # whether INFO lines are written at all: asked once per batch (see process)
        self._coalesce = settings.processing.coalesce_revisions
        self._team_filter = (TeamChannelFilter(settings.team_channel, self._top_n)
                             if settings.team_channel.enabled else None)
        self._team_ledger = team_ledger if self._team_filter is not None else None
        self.book = IncidentBook(settings.processing.max_open_incidents)
        self.consecutive_invalid = 0
        # Shutdown: every delivery still retrying gives up (uncommitted, so its input is redelivered).
        self.abort = asyncio.Event()
        # The batches in flight give up: at shutdown, or when their partitions are revoked (abandon_in_flight).
        self._give_up = asyncio.Event()
        # The newest batch's acknowledgements, and its durable part (acknowledged, then outcome rows written).
        self._last_ack: asyncio.Task[None] | None = None
        self._last_write: asyncio.Task[None] | None = None
        # Bound metric children once: label lookups per event are measurable on the hot path.
        self._outcome_counters = {
            name: metrics.events_processed.labels(name)
            for name in (RECOMMENDED, "unchanged", NOT_CRISIS, STALE, DEAD_LETTER, "closed", SUPERSEDED)
        }
        # A batch's revisions per outcome, counted in a plain dict and added to the metric once per batch: each
        # inc() takes a lock, and nothing can scrape in the middle of the synchronous batch anyway.
        self._counted = dict.fromkeys(self._outcome_counters, 0)
        self._response_counters: dict[str, Any] = {}
        self._fallback_counters: dict[str, Any] = {}
        self._rule_counters: dict[str, Any] = {}

    def shutdown(self) -> None:
        """Every delivery still retrying gives up now."""
        self.abort.set()
        self._give_up.set()

    def abandon_in_flight(self) -> None:
        """The batches whose durable part is still running give up (raise DeliveryAborted), and the next batch
        no longer waits on them: their partitions were revoked, and the input is redelivered to the next owner."""
        self._give_up.set()
        self._give_up = asyncio.Event()
        self._last_ack = self._last_write = None

    def attach_outcomes(self, sink: OutcomeSink, premise: PremiseLookup | None) -> None:
        """The outcome store opens asynchronously at start, after the processor exists."""
        self._sink = sink
        self._premise = premise

    # -- the batch -------------------------------------------------------------------------------------

    async def handle(self, batch: Batch) -> Handled:
        """Handle a batch: every record in order; then each incident's newest revision is ranked and published.

        Triage, outcome rows and the incident book follow every revision as it comes. Ranking and publishing
        wait for the end of the batch (no await in between, so nothing observes the wait): a revision followed
        by a newer one of the same incident in the same batch is ``superseded``, its recommendation would be
        replaced within the same produce request. Live, a batch holds what arrived within one fetch (milliseconds):
        revisions seconds apart are decided one by one as before, and only a CAD's burst of changes to one call
        within that window comes out as its final state. A backlog (catching up after an outage or a
        rebalance) brings many revisions of a call together, and dispatch then gets the newest state once,
        not a burst of outdated ones: Kafka Streams' record cache does the same for a KTable's updates.
        """
        started = time.perf_counter()
        result, done, halted = self.process(batch, self._clock())
        durable = await self._write(result)
        self._metrics.batch_seconds.observe(time.perf_counter() - started)
        self._metrics.open_incidents.set(len(self.book))
        if halted:
            self._metrics.dlq_guard_tripped.set(1)
            # Its offsets are committed once its output is durable, as any batch's (not awaited here: with the
            # store away that could be minutes, and the consume loop must go on iterating).
            raise ConsumptionHalted(halted, done, durable)
        return Handled(done, durable)

    def process(self, batch: Batch, now: dt.datetime) -> tuple[BatchResult, dict[TopicPartition, int], str | None]:
        """The synchronous part of ``handle``: the batch's output and rows, the offsets done, and why
        consumption must halt (None to go on)."""
        result = BatchResult()
        deferred: dict[str, _Deferred] = {}
        done: dict[TopicPartition, int] = {}
        halted: str | None = None
        # Below INFO, the per-event line is dropped by structlog anyway, but only after its fields were built
        # (a latency computed from two datetimes, per event): about 3% of a backlog's time at WARNING.
        self._log_info = log.is_enabled_for(logging.INFO)
        try:
            for tp, records in batch.items():
                for record in records:
                    if not self._handle_record(record, now, result, deferred):
                        halted = (f"{self.consecutive_invalid} consecutive invalid events: "
                                  "a bad deploy or a wrong topic, not bad data")
                        done[tp] = record.offset  # this record is not handled: it is read again after the fix
                        break
                    done[tp] = record.offset + 1
                if halted:
                    break
            self._settle(deferred, now, result)
        finally:
            self._add_counted()
        if halted is None and self.consecutive_invalid >= self._dlq_limit:
            # Ranking failures at the end of the batch (a bad deploy) add to the run of invalid events; their
            # records are done and dead-lettered, so consumption halts after this batch, not on a record of it.
            halted = (f"{self.consecutive_invalid} consecutive events failed: a bad deploy, not bad data")
        return result, done, halted

    async def _write(self, result: BatchResult) -> asyncio.Task[None]:
        """Enqueue the output now, in input order; confirm it and write the outcome rows in the background.

        The next batch is processed while this one's acknowledgements travel (a broker round trip that would
        otherwise stall every batch) and its rows go to the store. Each batch's durable part runs after the
        previous one's, so a failure blocks everything after it, and the consumer loop commits a batch's
        offsets only once its durable part has completed.
        """
        previous_ack, previous, give_up = self._last_ack, self._last_write, self._give_up
        mark = self._producer.resent  # read before the first await: see bus.producer.Sending
        sending = await self._producer.enqueue(result.outgoing)

        async def confirm() -> None:
            # The acknowledgements form a chain of their own, so that output is confirmed (and re-sent if it
            # must be) while the store is away, not only once the rows ahead of it are written.
            if previous_ack is not None:
                await previous_ack  # in order; a failed predecessor fails this one too
            resend = self._producer.resent_since(mark, sending.batch)
            await self._producer.confirm(sending, abort=give_up, resend=resend)
            if result.latencies:
                acked = self._clock()
                for occurred_at in result.latencies:
                    self._metrics.end_to_end_seconds.observe(max(0.0, (acked - occurred_at).total_seconds()))

        acked = asyncio.create_task(confirm(), name="batch-acks")

        async def record() -> None:
            await acked  # rows say "published": never before the broker has it
            if previous is not None:
                await previous  # in order; a failed predecessor fails this one too (never committed past)
            if self._sink is not None and result.rows:
                await self._sink.write(result.rows, give_up)

        task = asyncio.create_task(record(), name="batch-durable")
        # Every task in the chains fails when one does; the consumer reads the first, this reads the rest.
        acked.add_done_callback(_retrieve)
        task.add_done_callback(_retrieve)
        self._last_ack = acked
        self._last_write = task
        return task

    # -- one record --------------------------------------------------------------------------------------

    def _handle_record(self, record: ConsumerRecord, now: dt.datetime, result: BatchResult,
                       deferred: dict[str, _Deferred]) -> bool:
        """Handle one record; False when the dead-letter guard trips (the record is left unhandled)."""
        try:
            event = decode_incident(record.value, self._max_bytes)
            _check_key(record.key, event)
        except InvalidEvent as invalid:
            return self._dead_letter(record, invalid, result)
        try:
            outcome = self._apply(event, record, now, result, deferred)
        except Exception as exc:  # noqa: BLE001 - one record must never take down the service
            # A bug or an input no rule anticipated: dead-letter this record (class name only, the message may
            # quote caller data) and go on; a run of them trips the dead-letter guard like invalid input does.
            return self._dead_letter(record, InvalidEvent("processing_error", type(exc).__name__), result)
        if outcome == _FAILED:
            return True  # dead-lettered, and counted towards the guard, by _settle
        self.consecutive_invalid = 0
        if outcome not in (_DEFERRED, _ACCOUNTED):
            # Decided without a decision to publish: an ordinary call (created, updated or closed) or a stale
            # snapshot, flagged when it is one of a crisis call or of a call with a recommendation out; the
            # other revisions of those are accounted in _settle (a crisis call's close, in _apply).
            self._account(record, event, outcome, now, flagged=outcome == STALE and self._flagged(event))
        return True

    def _flagged(self, event: IncidentEvent) -> bool:
        known = self.book.get(event.incident.id)
        return known is not None and (known.assessment.crisis or known.published is not None)

    def _account(self, record: ConsumerRecord, event: IncidentEvent, outcome: str, now: dt.datetime,
                 flagged: bool = True) -> None:
        """Count a handled revision by its outcome and write its canonical log line (with ``log_every_event``
        off, only for ``flagged`` revisions: those of crisis calls, or of calls with a recommendation out)."""
        self._counted[outcome] += 1
        if self._log_info and (self._log_every_event or flagged):
            log.info("event", topic=record.topic, partition=record.partition, offset=record.offset,
                     incident_id=event.incident.id, revision=event.incident.revision, outcome=outcome,
                     latency_ms=round((now - event.occurred_at).total_seconds() * 1000, 1))

    def _add_counted(self) -> None:
        for outcome, count in self._counted.items():
            if count:
                self._outcome_counters[outcome].inc(count)
                self._counted[outcome] = 0

    def _dead_letter(self, record: ConsumerRecord, invalid: InvalidEvent, result: BatchResult,
                     force: bool = False) -> bool:
        """Dead-letter one record; False (leave it unhandled) when the dead-letter guard trips instead.
        ``force``: the record's offset is already done (a failure while settling the batch), never leave it."""
        if self.consecutive_invalid >= self._dlq_limit and not force:
            return False
        self.consecutive_invalid += 1
        result.outgoing.append(dead_letter(record, invalid, self._settings.topics.deadletter,
                                           self._settings.kafka.group_id))
        self._metrics.dead_letters.labels(invalid.code).inc()
        self._outcome_counters[DEAD_LETTER].inc()
        log.warning("event", topic=record.topic, partition=record.partition, offset=record.offset,
                    outcome=DEAD_LETTER, error_class=invalid.code, reason=invalid.reason)
        return True

    def _apply(self, event: IncidentEvent, record: ConsumerRecord, now: dt.datetime, result: BatchResult,
               deferred: dict[str, _Deferred]) -> str:
        if self.book.is_stale(event):
            return STALE
        incident_id = event.incident.id
        previous = self.book.get(incident_id)
        memo = previous.memo if previous is not None else TriageMemo()
        context = previous.context if previous is not None else None
        if context is not None and previous is not None and previous.event.incident.location != event.incident.location:
            context = None  # the place changed (geocoded late, or corrected): its history is looked up again
        assessment = self._triage(event, _with_history(context), memo)
        if context is None and self._premise is not None and assessment.score > 0:
            # Only calls with some behavioral signal pay for the lookup; premise history alone never flags
            # a call. Looked up once per incident and place, and kept while the place stays the same.
            context = self._premise(event)
            if _with_history(context) is not None:
                assessment = self._triage(event, context, memo)
        slim = _slim(event)
        if self._sink is not None and worth_recording(event, assessment, previous):
            result.rows.append(self._sink.seen(slim, assessment, now))
        entry = OpenIncident(slim, record.partition, assessment,
                             previous.published if previous else self._published_elsewhere(incident_id),
                             previous.published_top if previous else None,
                             previous.recommendation if previous else None,
                             context, memo)
        closed = event.event_type == "incident.closed"
        if closed:
            self.book.close(event, record.partition)  # its older snapshots, arriving late, are stale
            if assessment.crisis:
                # A crisis call that closes needs no responder any more: it is never ranked, and nothing is
                # published for it (the CAD shows it closed; its outcome row above records how it ended). A
                # revision of it still waiting in this batch (a backlog batch holding its creation and its close)
                # is superseded.
                superseded = deferred.pop(incident_id, None)
                if superseded is not None:
                    self._account(superseded.record, superseded.event, SUPERSEDED, now)
                if self._told_team(incident_id, previous.recommendation if previous else None):
                    self._tell_team_closed(event, assessment, record, now, result)
                self._account(record, event, "closed", now)
                return _ACCOUNTED
            # A call closing calm: nothing to rank; the recommendation it had out is taken back (in _settle).
        else:
            # Ordinary calls are remembered too (bounded), so that their stale snapshots are ignored as well.
            self.book.remember(entry)
        if not assessment.crisis and entry.published is None and incident_id not in deferred:
            return "closed" if closed else NOT_CRISIS  # nothing to rank, nothing to take back
        superseded = deferred.pop(incident_id, None)
        if superseded is not None:
            self._account(superseded.record, superseded.event, SUPERSEDED, now)
        deferred[incident_id] = _Deferred(event, record, assessment, previous, entry, closed)
        if not self._coalesce and self._settle(deferred, now, result):
            return _FAILED
        return _DEFERRED

    def _settle(self, deferred: dict[str, _Deferred], now: dt.datetime, result: BatchResult) -> int:
        """Rank and publish the newest revision of each incident deferred in this batch, in record order;
        the number that failed (each dead-lettered and counted towards the dead-letter guard)."""
        failed = 0
        for item in deferred.values():
            event, record, assessment = item.event, item.record, item.assessment
            try:
                # Ranked as of the event's own time, not the wall clock: team hours, certification days and AVL
                # ages then read the same on a redelivery or a replay as they did live, so the output is
                # reproducible.
                # The entry still holds what was published before this revision (its previous one's, or that
                # another instance had told the team channel): what the decision compares with.
                decision = decide(event, assessment, item.entry,
                                  lambda a=assessment, e=event: self._ranker(a, e, e.occurred_at),
                                  self._top_n)
                if decision.outcome == RECOMMENDED:
                    assert decision.ranking is not None
                    entry = item.entry
                    ce_id = cloudevents.event_id(record.topic, record.partition, record.offset,
                                                 assessment.ruleset_sha256)
                    entry.recommendation = self._publish(
                        event, decision, ce_id, now, result,
                        told_team=self._told_team(event.incident.id, entry.recommendation))
                    entry.published = decision.signature
                    candidates = decision.ranking.candidates
                    entry.published_top = candidates[0].unit_id if candidates else None
            except Exception as exc:  # noqa: BLE001 - as in _handle_record: dead-letter, never stop
                # As if the revision had never been applied, so that replaying the dead letter is not "stale";
                # the record's offset is already done: it is dead-lettered whatever the guard's count.
                if item.previous is not None:
                    self.book.remember(item.previous)
                else:
                    self.book.forget(event.incident.id)
                self._dead_letter(record, InvalidEvent("processing_error", type(exc).__name__), result,
                                  force=True)
                failed += 1
                continue
            outcome = decision.outcome
            if item.closed and outcome == NOT_CRISIS:
                outcome = "closed"
            self._account(record, event, outcome, now)
        deferred.clear()
        return failed

    def _publish(self, event: IncidentEvent, decision: Decision, ce_id: str, now: dt.datetime,
                 result: BatchResult, trigger: str = "incident_update", told_team: bool = False) -> dict[str, Any]:
        assert decision.ranking is not None
        record = recommendation_record(event, decision.assessment, decision.ranking, now, event.event_id, trigger)
        value = orjson.dumps(record)
        key = event.incident.id.encode()
        headers = cloudevents.headers(ce_id, cloudevents.RECOMMENDATION_TYPE, self._source, now,
                                      event.incident.id,
                                      {"rulesetversion": decision.assessment.ruleset_version})
        result.outgoing.append(Outgoing(self._settings.topics.recommendations, key, value, headers))
        self._to_team(record, told_team, event, ce_id, now, result)
        if self._sink is not None:
            result.rows.append(self._sink.published(event, decision.assessment, decision.ranking, now, trigger,
                                                     ce_id))
        result.latencies.append(event.occurred_at)
        _child(self._response_counters, self._metrics.recommendations, record["response"]).inc()
        for fallback in decision.ranking.fallbacks:
            _child(self._fallback_counters, self._metrics.fallbacks, fallback).inc()
        for reason in decision.assessment.reasons:
            _child(self._rule_counters, self._metrics.rule_matches, reason.rule).inc()
        return record

    def _told_team(self, incident_id: str, recommendation: dict[str, Any] | None) -> bool:
        """Whether the team channel's last word on an incident proposed a team: the copy of the last
        recommendation this instance published for it, or, when it has published none (the call was another
        instance's before a restart or a rebalance), what the channel's own topic says (``TeamChannelLedger``)."""
        if self._team_filter is None:
            return False
        if recommendation is not None:
            return self._team_filter.proposes_team(recommendation)
        return self._team_ledger is not None and self._team_ledger.proposed(incident_id)

    def _published_elsewhere(self, incident_id: str) -> Signature | None:
        """What an incident this instance has no record of had out: a team proposal that another instance
        published (``TOLD_ELSEWHERE``), or nothing known. A recommendation is then out, and the next decision
        replaces it: a call that is no longer a crisis, or closes calm, is withdrawn on both channels."""
        return TOLD_ELSEWHERE if self._told_team(incident_id, None) else None

    def _to_team(self, record: dict[str, Any], told: bool, event: IncidentEvent, ce_id: str, now: dt.datetime,
                 result: BatchResult) -> None:
        """The team channel's copy of a recommendation, when it proposes a team or withdraws one (``told``)."""
        if self._team_filter is None:
            return
        team = self._team_filter.team_copy(record, told)
        if team is None:
            return
        headers = cloudevents.headers(cloudevents.event_id(ce_id, "team"), cloudevents.TEAM_RECOMMENDATION_TYPE,
                                      self._source, now, event.incident.id,
                                      {"rulesetversion": record["ruleset_version"]})
        result.outgoing.append(Outgoing(self._settings.topics.team_recommendations, event.incident.id.encode(),
                                        orjson.dumps(team), headers))

    def _tell_team_closed(self, event: IncidentEvent, assessment: Assessment, record: ConsumerRecord,
                          now: dt.datetime, result: BatchResult) -> None:
        """A crisis call a team was proposed for has closed. Dispatch sees that in its CAD and gets nothing; a
        team working from this channel alone is told, by a withdrawal with fallback ``incident_closed``."""
        closing = recommendation_record(event, assessment, INCIDENT_CLOSED, now, event.event_id)
        ce_id = cloudevents.event_id(record.topic, record.partition, record.offset, assessment.ruleset_sha256)
        self._to_team(closing, True, event, ce_id, now, result)

    # -- roster changes ------------------------------------------------------------------------------------

    def rerank(self, needs_cit: Callable[[OpenIncident], bool]) -> BatchResult:
        """Re-rank open crisis incidents still lacking a CIT responder; output those whose top changed."""
        now = self._clock()
        result = BatchResult()
        for entry in self.book:
            try:
                if entry.published is None or not entry.assessment.crisis or not needs_cit(entry):
                    continue
                ranking = self._ranker(entry.assessment, entry.event, now)
            except Exception as exc:  # noqa: BLE001 - one incident's failure must not stop the others (or the service)
                self._metrics.rerank_failures.inc()
                log.error("rerank_failed", incident_id=entry.event.incident.id, error_class=type(exc).__name__)
                continue
            top = ranking.candidates[0].unit_id if ranking.candidates else None
            if top == entry.published_top:
                continue
            decision = decide(entry.event, entry.assessment, entry, lambda r=ranking: r, self._top_n)
            if decision.outcome != RECOMMENDED:
                continue
            # A new id per re-ranking: the same revision and top can come back (P-3, P-1, P-3 again as units
            # come and go), and a consumer deduplicating on the id must not drop the return. A producer retry
            # re-sends the same headers, so it is still one id per decision.
            ce_id = cloudevents.event_id("rerank", entry.event.incident.id, entry.event.incident.revision,
                                         top, entry.assessment.ruleset_sha256, now.isoformat())
            entry.recommendation = self._publish(
                entry.event, decision, ce_id, now, result, "roster_change",
                told_team=self._told_team(entry.event.incident.id, entry.recommendation))
            entry.published = decision.signature
            entry.published_top = top
        return result

    def forget_partitions(self, partitions: set[TopicPartition]) -> None:
        incident_partitions = {tp.partition for tp in partitions if tp.topic == self._settings.topics.incidents}
        self.book.forget_partitions(incident_partitions)


def worth_recording(event: IncidentEvent, assessment: Assessment, previous: OpenIncident | None) -> bool:
    """Whether this revision carries anything the coordinator's evaluation reads.

    Every call is counted (its first revision). A crisis call is written again whenever anything the store
    keeps of it changes: its units and their times, disposition, type, place, agency, CAD flags or the verdict. A
    revision that only adds a comment or repeats the snapshot changes no column the evaluation reads, so it
    costs no row. (The CIT status of an assigned unit is taken as of the revisions that are written: a crew
    change aboard a unit mid-call shows from the call's next change, at the latest its close.) An ordinary
    call is written again only when its type changes or it closes or gets a disposition, which is what "ended
    as a crisis but was not flagged" needs. The rest, unit moves and comments on a theft report, is most of a
    CAD's traffic and changes nothing in the report.
    """
    if previous is None:
        return True
    incident, before = event.incident, previous.event.incident
    if assessment.crisis or previous.assessment.crisis:
        verdict, known = assessment, previous.assessment
        return (
            event.event_type == "incident.closed"
            or event.agency != previous.event.agency
            or incident.units != before.units
            or incident.disposition != before.disposition
            or incident.nature_code != before.nature_code
            or incident.apco_type != before.apco_type
            or incident.location != before.location
            or incident.flags != before.flags
            or (verdict.crisis, verdict.response, verdict.score, verdict.ruleset_version)
            != (known.crisis, known.response, known.score, known.ruleset_version)
        )
    return (
        event.event_type == "incident.closed"
        or bool(incident.disposition)
        or incident.nature_code != before.nature_code
        or incident.apco_type != before.apco_type
    )


def _slim(event: IncidentEvent) -> IncidentEvent:
    """The event as remembered between revisions: without the narrative, which nothing after triage reads.

    Narratives are most of an event's size (kilobytes each, tens of thousands of open incidents) and are
    protected information: not keeping them is both the memory bound and the privacy default.
    """
    if not event.incident.narrative:
        return event
    return msgspec.structs.replace(event, incident=msgspec.structs.replace(event.incident, narrative=[]))


def _with_history(context: TriageContext | None) -> TriageContext | None:
    """The premise context as triage should see it: only when the place has crisis history to show."""
    return context if context is not None and context.premise_crisis_calls else None


def _retrieve(task: asyncio.Task[None]) -> None:
    """Mark a failed durable part's exception as seen (the consumer acts on the first failure in the chain)."""
    if not task.cancelled():
        task.exception()


def _child(cache: dict[str, Any], metric: Any, label: str) -> Any:
    """A labelled metric child, looked up once per label value (``labels()`` costs microseconds per call)."""
    child = cache.get(label)
    if child is None:
        child = cache[label] = metric.labels(label)
    return child


def _check_key(key: bytes | None, event: IncidentEvent) -> None:
    """Per-incident order depends on the key: a record keyed by something else is a producer bug."""
    if key is not None and key != event.incident.id.encode():
        raise InvalidEvent("key_mismatch", "record key is not the incident id")
