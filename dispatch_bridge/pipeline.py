"""The decision core: what one incident revision means for dispatch. Pure: no I/O, no clock, no globals.

For each newer revision of an incident: triage it, rank responders if it is a crisis, and publish a
recommendation when the incident first becomes a crisis and afterwards only when the assessment or the top
candidates change materially (dispatchers must not be spammed). Older or duplicate revisions change nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from dispatch_bridge.contracts.structs import IncidentEvent
from dispatch_bridge.domain import NO_RESPONSE, Assessment, Candidate, Ranking, Reason
from dispatch_bridge.triage.evaluate import TriageMemo
from dispatch_bridge.triage.model import TriageContext

# What became of an incident event: the ``outcome`` of the canonical log line and the metric label.
RECOMMENDED = "recommended"
UNCHANGED = "unchanged"
NOT_CRISIS = "not_crisis"
STALE = "stale"
DEAD_LETTER = "dead_letter"
# A newer revision of the same incident came in the same batch: only the newest is ranked and published.
SUPERSEDED = "superseded"

Signature = tuple[Any, ...]


@dataclass(slots=True)
class OpenIncident:
    """What the bridge remembers of an incident it has seen (one per incident, bounded, evicted)."""

    event: IncidentEvent
    partition: int
    assessment: Assessment
    published: Signature | None = None
    published_top: str | None = None
    # The last recommendation published for it, as on the wire (for GET /v1/incidents/{id}).
    recommendation: dict[str, Any] | None = None
    # Facts from outside the event (premise history), looked up once per incident.
    context: TriageContext | None = None
    # What triage learned from the earlier revisions (hashes and facts, no narrative).
    memo: TriageMemo = field(default_factory=TriageMemo)


@dataclass(frozen=True, slots=True)
class _Closed:
    revision: int
    partition: int
    occurred_at: dt.datetime


class IncidentBook:
    """Open incidents in arrival order, with a hard bound: the least recently updated go first.

    Closed incidents are remembered too, briefly (their closing revision only, bounded at a quarter of the open
    bound, and evicted on the same idle rule): a CAD feed delivers out of order, and a snapshot older than the
    close that arrives after it must be stale, not a new call that gets a recommendation for a call already
    closed. A newer revision than the close (a CAD reopening the call) opens it again.
    """

    def __init__(self, max_open: int) -> None:
        self._max_open = max_open
        self._open: OrderedDict[str, OpenIncident] = OrderedDict()
        self._max_closed = max(1, max_open // 4)
        self._closed: OrderedDict[str, _Closed] = OrderedDict()
        # The newest event time seen: idleness is measured on event time, so a replay behaves as live did.
        self.watermark: dt.datetime | None = None

    def __len__(self) -> int:
        return len(self._open)

    def __iter__(self) -> Iterator[OpenIncident]:
        return iter(list(self._open.values()))

    def get(self, incident_id: str) -> OpenIncident | None:
        return self._open.get(incident_id)

    def is_stale(self, event: IncidentEvent) -> bool:
        """CAD feeds resend snapshots and deliver out of order: a revision not newer than ours is stale."""
        revision = event.incident.revision
        known = self._open.get(event.incident.id)
        if known is not None:
            return revision <= known.event.incident.revision
        closed = self._closed.get(event.incident.id)
        return closed is not None and revision <= closed.revision

    def remember(self, entry: OpenIncident) -> None:
        key = entry.event.incident.id
        occurred_at = entry.event.occurred_at
        if self.watermark is None or occurred_at > self.watermark:
            self.watermark = occurred_at
        self._open[key] = entry
        self._open.move_to_end(key)
        self._closed.pop(key, None)
        while len(self._open) > self._max_open:
            self._open.popitem(last=False)

    def close(self, event: IncidentEvent, partition: int) -> None:
        """The incident is closed by ``event``: forget it, but remember the closing revision."""
        key = event.incident.id
        self._open.pop(key, None)
        self._closed[key] = _Closed(event.incident.revision, partition, event.occurred_at)
        self._closed.move_to_end(key)
        while len(self._closed) > self._max_closed:
            self._closed.popitem(last=False)

    def forget(self, incident_id: str) -> None:
        """As if the incident had never been seen (closed or not)."""
        self._open.pop(incident_id, None)
        self._closed.pop(incident_id, None)

    def forget_partitions(self, topic_partitions: set[int]) -> int:
        """Drop what belongs to partitions this instance no longer owns (the open incidents' count)."""
        gone = [key for key, entry in self._open.items() if entry.partition in topic_partitions]
        for key in gone:
            del self._open[key]
        for key in [key for key, closed in self._closed.items() if closed.partition in topic_partitions]:
            del self._closed[key]
        return len(gone)

    def evict_idle(self, idle: dt.timedelta) -> int:
        """Drop incidents with no update for ``idle`` of event time (a CAD that never sent the close)."""
        if self.watermark is None:
            return 0
        older_than = self.watermark - idle
        _drop_older(self._closed, lambda closed: closed.occurred_at, older_than)
        return _drop_older(self._open, lambda entry: entry.event.occurred_at, older_than)


def _drop_older(items: OrderedDict[str, Any], occurred_at: Callable[[Any], dt.datetime], older_than: dt.datetime) -> int:
    """Drop the leading items older than ``older_than``: kept least recently updated first, so the first fresh
    one ends the scan. The number dropped."""
    gone = []
    for key, item in items.items():
        if occurred_at(item) >= older_than:
            break
        gone.append(key)
    for key in gone:
        del items[key]
    return len(gone)


def signature(assessment: Assessment, ranking: Ranking, top_n: int) -> Signature:
    """The parts of a recommendation whose change is worth a dispatcher's attention."""
    return (
        assessment.crisis,
        assessment.response,
        tuple(sorted(assessment.safety_flags)),
        tuple(sorted(r.rule for r in assessment.reasons)),
        tuple(c.unit_id for c in ranking.candidates[:top_n]),
        ranking.fallbacks,
        assessment.ruleset_sha256,
    )


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: str
    assessment: Assessment
    ranking: Ranking | None = None
    signature: Signature | None = None


def decide(
    event: IncidentEvent,
    assessment: Assessment,
    previous: OpenIncident | None,
    rank: Callable[[], Ranking],
    top_n: int,
) -> Decision:
    """Whether this (newer) revision gets a recommendation. ``rank`` runs only for crisis incidents."""
    was_published = previous is not None and previous.published is not None
    if not assessment.crisis and not was_published:
        return Decision(NOT_CRISIS, assessment)
    ranking = rank() if assessment.crisis else Ranking((), ("no_longer_crisis",))
    sig = signature(assessment, ranking, top_n)
    if previous is not None and previous.published == sig:
        return Decision(UNCHANGED, assessment, ranking, sig)
    return Decision(RECOMMENDED, assessment, ranking, sig)


def recommendation_record(
    event: IncidentEvent,
    assessment: Assessment,
    ranking: Ranking,
    produced_at: dt.datetime,
    source_event_id: str,
    trigger: str = "incident_update",
) -> dict[str, Any]:
    """The wire recommendation (contracts.Recommendation) as a plain dict, ready for orjson."""
    incident = event.incident
    return {
        "schema_version": 1,
        "incident_id": incident.id,
        "incident_revision": incident.revision,
        "ruleset_version": assessment.ruleset_version,
        "ruleset_sha256": assessment.ruleset_sha256,
        "crisis": assessment.crisis,
        "score": round(assessment.score, 4),
        "response": assessment.response if assessment.crisis else NO_RESPONSE,
        "safety_flags": assessment.safety_flags,
        "reasons": [_reason_json(r) for r in assessment.reasons],
        "candidates": [_candidate_json(c) for c in ranking.candidates],
        "fallbacks": ranking.fallbacks,
        "trigger": trigger,
        "agency": event.agency,
        "occurred_at": event.occurred_at,
        "produced_at": produced_at,
        "source_event_id": source_event_id,
    }


# Plain dicts, written field by field: orjson serialises a slotted dataclass about four times slower than the
# dict it would become (measured: 19 us against 5 us for a whole recommendation, conversion included).
def _reason_json(reason: Reason) -> dict[str, Any]:
    return {"rule": reason.rule, "because": reason.because, "evidence": reason.evidence}


def _candidate_json(candidate: Candidate) -> dict[str, Any]:
    return {
        "unit_id": candidate.unit_id,
        "kind": candidate.kind,
        "why": candidate.why,
        "eta_seconds": candidate.eta_seconds,
        "distance_m": candidate.distance_m,
        "cit_members": candidate.cit_members,
    }
