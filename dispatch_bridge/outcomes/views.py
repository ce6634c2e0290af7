"""What the store reads back for one crisis incident, and the derived facts the evaluation is built on.

"Was the recommendation followed" is derived here, from what the CAD actually did, never stored: the
definition can then change (or be argued with) without rewriting history.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property

from dispatch_bridge.domain import CIT_OFFICER, CO_RESPONSE, EMS_WITH_CIT, MOBILE_CRISIS
from dispatch_bridge.outcomes.records import CandidateRef, Feedback

# Tiers in which the bridge asked for a CIT officer (Seattle's "CIT officer requested").
CIT_TIERS = frozenset({CIT_OFFICER, CO_RESPONSE, EMS_WITH_CIT})
# Tiers that ask dispatch for something specific, so "followed or not" is meaningful.
ACTIONABLE_TIERS = CIT_TIERS | {MOBILE_CRISIS}


@dataclass(frozen=True, slots=True)
class UnitOutcome:
    unit_id: str
    dispatched_at: dt.datetime | None
    enroute_at: dt.datetime | None
    on_scene_at: dt.datetime | None
    cleared_at: dt.datetime | None
    cit: bool
    team: bool


@dataclass(frozen=True, slots=True)
class PublishedRecommendation:
    revision: int
    ruleset_version: str
    response: str
    candidates: tuple[CandidateRef, ...]
    fallbacks: tuple[str, ...]
    produced_at: dt.datetime


@dataclass(frozen=True)
class IncidentOutcome:
    incident_id: str
    agency: str
    first_seen_at: dt.datetime
    district: str | None
    beat: str | None
    initial_nature: str
    final_nature: str
    intake_crisis: bool
    flagged_at: dt.datetime | None
    flag_tier: str | None
    flag_score: float | None
    ended_crisis: bool
    closed: bool
    disposition: tuple[str, ...]
    units: tuple[UnitOutcome, ...] = ()
    recommendations: tuple[PublishedRecommendation, ...] = ()
    feedback: tuple[Feedback, ...] = ()

    @property
    def flagged(self) -> bool:
        return self.flagged_at is not None

    @cached_property
    def cit_recommended(self) -> bool:
        # A CIT tier, or a team tier that fell back to a CIT officer as first choice (team out of hours/busy).
        return any(rec.response in CIT_TIERS or (rec.candidates and rec.candidates[0].cit)
                   for rec in self.recommendations)

    @cached_property
    def cit_dispatched(self) -> bool:
        # Being listed on the incident is being assigned; CADs do not always stamp a dispatch time.
        return any(unit.cit for unit in self.units)

    @cached_property
    def cit_on_scene(self) -> bool:
        return any(unit.cit and unit.on_scene_at is not None for unit in self.units)

    @cached_property
    def team_dispatched(self) -> bool:
        return any(unit.team for unit in self.units)

    def seconds_to_first_on_scene(self, *, cit_only: bool) -> float | None:
        """Seconds from the call (first revision seen) to the first (CIT) unit on scene; None if none arrived."""
        times = [u.on_scene_at for u in self.units if u.on_scene_at is not None and (u.cit or not cit_only)]
        if not times:
            return None
        return (min(times) - self.first_seen_at).total_seconds()

    @cached_property
    def actionable(self) -> bool:
        return any(rec.response in ACTIONABLE_TIERS for rec in self.recommendations)

    @cached_property
    def followed(self) -> bool | None:
        """Whether dispatch did what the bridge advised; None when there is nothing to judge.

        Followed = a recommended unit was assigned, or a CIT unit when a CIT tier was advised, or a mobile
        crisis / co-responder team when a team was advised. Nothing to judge = no actionable recommendation,
        or no unit assigned at all (the call was cancelled or is still pending).
        """
        if not self.actionable or not self.units:
            return None
        assigned = {unit.unit_id for unit in self.units}
        for rec in self.recommendations:
            if any(c.unit_id in assigned for c in rec.candidates):
                return True
            if rec.response in CIT_TIERS and self.cit_dispatched:
                return True
            if rec.response == MOBILE_CRISIS and self.team_dispatched:
                return True
        return False
