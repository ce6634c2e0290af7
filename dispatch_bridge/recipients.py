"""What each recipient may see: the mobile crisis team's channel carries no criminal-justice information.

Rohnert Park's SAFE SOP (domain notes, 1.4) is explicit: the civilian crisis team must not receive
criminal-justice or law-enforcement database information (RMS, CLETS), while address, name and date of birth
for a welfare check are fine. A recommendation for dispatch carries some: reasons drawn from police premise
files and CAD officer-safety flags, the matched evidence (which can quote those flags), and which officers are
aboard which patrol car. The team's copy is the same wire record (same schema) with those removed. Pure.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict

from dispatch_bridge.contracts.unit import TEAM_KINDS


class TeamChannelSettings(BaseModel):
    """``DISPATCH_BRIDGE_TEAM_CHANNEL__*``: the filtered copy published for mobile crisis / co-responder teams."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    # Rules whose reasons come from law-enforcement records (premise files, officer-safety flags, crime):
    # their reasons and the safety flags below are withheld. Shell-style patterns over rule ids.
    withheld_rules: tuple[str, ...] = ("premise-*", "crime-in-progress", "tactical-incident")
    withheld_flags: tuple[str, ...] = ("premise_hazard", "crime", "tactical")


class TeamChannelFilter:
    def __init__(self, settings: TeamChannelSettings, proposed_within: int | None = None) -> None:
        """``proposed_within``: a team is proposed when it is among this many first candidates (the ones whose
        change makes a new recommendation, so that a team leaving them is always told); None: any candidate."""
        self._within = proposed_within
        self._rules = settings.withheld_rules
        self._flags = frozenset(settings.withheld_flags)
        # A pack has a few dozen rule ids: match each against the patterns once, not on every recommendation.
        self._withheld = lru_cache(maxsize=1024)(self._matches)

    def _matches(self, rule: str) -> bool:
        return any(fnmatchcase(rule, pattern) for pattern in self._rules)

    def proposes_team(self, record: dict[str, Any] | None) -> bool:
        """Whether a wire recommendation proposes a mobile crisis or co-responder team."""
        return record is not None and any(c["kind"] in TEAM_KINDS for c in record["candidates"][:self._within])

    def team_copy(self, record: dict[str, Any], told: bool = False) -> dict[str, Any] | None:
        """The team's copy of a wire recommendation (``pipeline.recommendation_record``, or one decoded from the
        topic), or None when no team is among the candidates. ``told``: the team channel's last word on this
        incident proposed a team; a record proposing none is then sent as the withdrawal (no candidates, the
        fallbacks say why), so that a team never drives to a call dispatch no longer wants it on."""
        teams = [c for c in record["candidates"][:self._within] if c["kind"] in TEAM_KINDS]
        if not teams and not told:
            return None
        return {
            **record,
            "safety_flags": [f for f in record["safety_flags"] if f not in self._flags],
            # Evidence is dropped everywhere: it quotes what matched, CAD officer-safety flags included.
            "reasons": [
                {"rule": r["rule"], "because": r["because"], "evidence": None}
                for r in record["reasons"] if not self._withheld(r["rule"])
            ],
            # Only the teams: patrol candidates name the officers aboard (a law-enforcement roster).
            "candidates": [
                {"unit_id": c["unit_id"], "kind": c["kind"], "eta_seconds": c["eta_seconds"],
                 "distance_m": c["distance_m"], "cit_members": [], "why": c["why"]}
                for c in teams
            ],
        }



class TeamChannelLedger:
    """The calls whose last record on the team channel proposed a team, read back from the channel's own topic.

    An instance remembers what it told the team channel about each open call with the call (the last
    recommendation in its book). A restart or a rebalance gives the call to an instance that never saw it, and a
    team proposed before the move would then never hear that the call no longer needs it (the withdrawal, or the
    close). So every instance reads the team topic from its beginning, as it reads the roster, and keeps the calls
    whose last record there names a team; a record without one (a withdrawal, a close) drops the call. The
    processor asks only about calls its book holds no recommendation for. Bounded: past ``limit`` calls, the
    least recently proposed go first (a call that old has long closed).
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._proposed: dict[str, None] = {}  # insertion-ordered: the least recently proposed first

    def __len__(self) -> int:
        return len(self._proposed)

    def proposed(self, incident_id: str) -> bool:
        return incident_id in self._proposed

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """One team-channel record (keyed by incident id); raises ``ValueError`` for one it cannot read."""
        if key is None:
            raise ValueError("a team-channel record without a key (the incident id)")
        incident_id = key.decode("utf-8", "replace")
        candidates = _candidates(value) if value is not None else []  # a tombstone forgets the call
        self._proposed.pop(incident_id, None)
        if candidates:  # the team copy lists only teams: any candidate is a team proposed
            self._proposed[incident_id] = None
            if len(self._proposed) > self._limit:
                del self._proposed[next(iter(self._proposed))]


def _candidates(value: bytes) -> list[Any]:
    try:
        candidates = orjson.loads(value)["candidates"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"not a team-channel recommendation ({type(exc).__name__})") from None
    if not isinstance(candidates, list):
        raise ValueError("not a team-channel recommendation (candidates is not a list)")  # noqa: TRY004 - read as unreadable
    return candidates
