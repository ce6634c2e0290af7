"""What the service hands the outcome store: one frozen record per fact, written in batches.

The service builds these on the hot path, so they are slotted dataclasses that only hold references (the
incident event is not copied); the store extracts the few fields it keeps and drops the rest (narrative,
caller, address text never reach a table).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Union

from dispatch_bridge.contracts import IncidentEvent, Recommendation
from dispatch_bridge.domain import Assessment, Ranking

FeedbackSource = Literal["cad", "topic", "api"]


@dataclass(frozen=True, slots=True)
class IncidentSeen:
    """One incident revision the bridge consumed, crisis or not (the funnel starts from all calls).

    ``assessment`` is the triage verdict for this revision (None when triage did not run), ``cit_units`` the
    assigned units that had a CIT-certified member on board at this time and ``team_units`` the assigned units
    that are mobile crisis or co-responder teams; both come from the roster the service holds.
    """

    event: IncidentEvent
    assessment: Assessment | None = None
    cit_units: frozenset[str] = frozenset()
    team_units: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class CandidateRef:
    """A recommended unit, reduced to what the evaluation needs."""

    unit_id: str
    kind: str
    cit: bool = False


# The wire ``trigger`` of a re-ranking: the roster changed, the incident revision did not.
RERANK_TRIGGER = "roster_change"


@dataclass(frozen=True, slots=True)
class RecommendationPublished:
    """A recommendation the bridge published (acknowledged by the broker)."""

    incident_id: str
    revision: int
    ruleset_version: str
    response: str
    candidates: tuple[CandidateRef, ...]
    fallbacks: tuple[str, ...]
    produced_at: dt.datetime
    # Event time of the incident revision it answers; the report windows on this, not on produced_at.
    occurred_at: dt.datetime | None = None
    # What made it: the revision itself ("incident_update") or a roster change ("roster_change"), a re-ranking
    # of the same revision, which the store keeps apart, keyed by the CloudEvents id it was published under (one
    # per re-ranking, the same when re-sent).
    trigger: str = "incident_update"
    event_id: str = ""

    @classmethod
    def from_recommendation(cls, rec: Recommendation) -> RecommendationPublished:
        return cls(
            incident_id=rec.incident_id,
            revision=rec.incident_revision,
            ruleset_version=rec.ruleset_version,
            response=rec.response,
            candidates=tuple(CandidateRef(c.unit_id, c.kind, bool(c.cit_members)) for c in rec.candidates),
            fallbacks=tuple(rec.fallbacks),
            produced_at=rec.produced_at,
            occurred_at=rec.occurred_at,
        )

    @classmethod
    def from_ranking(
        cls,
        incident_id: str,
        revision: int,
        assessment: Assessment,
        ranking: Ranking,
        produced_at: dt.datetime,
        occurred_at: dt.datetime | None = None,
        trigger: str = "incident_update",
        event_id: str = "",
    ) -> RecommendationPublished:
        return cls(
            incident_id=incident_id,
            revision=revision,
            ruleset_version=assessment.ruleset_version,
            response=assessment.response,
            candidates=tuple(CandidateRef(c.unit_id, c.kind, bool(c.cit_members)) for c in ranking.candidates),
            fallbacks=ranking.fallbacks,
            produced_at=produced_at,
            occurred_at=occurred_at,
            trigger=trigger,
            event_id=event_id,
        )


@dataclass(frozen=True, slots=True)
class Feedback:
    """Why a recommendation was not followed, from the CAD, the ``cit.feedback`` topic or the HTTP API."""

    incident_id: str
    reason_code: str
    source: FeedbackSource
    at: dt.datetime
    note: str | None = None


@dataclass(frozen=True, slots=True)
class RosterSnapshot:
    """CIT officers per district during one hour: ``per_district[district] = (on_duty_cit, available_cit)``.

    Several snapshots for the same hour may arrive; the store keeps the lowest counts (the worst moment of
    the hour), which is what a coverage minimum is about.
    """

    hour: dt.datetime
    per_district: Mapping[str, tuple[int, int]]


OutcomeRecord = Union[IncidentSeen, RecommendationPublished, Feedback, RosterSnapshot]


@dataclass(frozen=True, slots=True)
class PremiseHistory:
    """Prior crisis calls at the same block or beat within the window before the event time."""

    crisis_calls: int
    window_days: int
    # Sum of 0.5 ** (age / half_life) over those calls: recent calls weigh more.
    weighted: float
    last_at: dt.datetime | None
    granularity: str

    def describe(self) -> str:
        """The one line a dispatcher reads in ``reasons``, e.g. "2 crisis calls at this block in the last 60 days"."""
        noun = "call" if self.crisis_calls == 1 else "calls"
        return f"{self.crisis_calls} crisis {noun} at this {self.granularity} in the last {self.window_days} days"
