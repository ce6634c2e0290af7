"""A compiled rule pack: plain frozen data plus the precompiled matchers the evaluator calls per event."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from dispatch_bridge.contracts.incident import Incident
from dispatch_bridge.triage.text import NarrativeMatcher

INCLUDE = "include"
ROUTE = "route"

# An MPDS determinant as CADs print it: protocol, level, number, optional suffix ("25B3V", "41-A-1", "25-O-01").
DETERMINANT = re.compile(r"^\s*(\d{1,2})[-\s]?([A-EO])[-\s]?(\d{1,2})[-\s]?([A-Z]?)\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class TriageContext:
    """Facts from outside the event, supplied by the service (the outcome store knows the premise history)."""

    premise_crisis_calls: int | None = None
    premise_window_days: int | None = None


class EventView:
    """What the conditions read from one event, derived once per triage call (never stored)."""

    __slots__ = (
        "incident",
        "agency",
        "apco",
        "nature_code",
        "determinant",
        "determinant_suffix",
        "cad_flags",
        "facts",
        "context",
        "_occurred_at",
        "_timezone",
        "_local",
    )

    def __init__(
        self,
        incident: Incident,
        agency: str,
        apco: str,
        facts: dict[str, tuple[str, str]],
        context: TriageContext | None,
        occurred_at: dt.datetime,
        timezone: ZoneInfo,
    ) -> None:
        self.incident = incident
        self.agency = agency
        self.apco = apco
        self.nature_code = incident.nature_code.strip().upper()
        self.determinant = ""
        self.determinant_suffix = ""
        if incident.determinant:
            parsed = DETERMINANT.match(incident.determinant)
            if parsed is not None:
                protocol, level, number, suffix = parsed.groups()
                self.determinant = f"{int(protocol):02d}{level.upper()}{int(number):02d}"
                self.determinant_suffix = suffix.upper()
        self.cad_flags = incident.flags
        self.facts = facts
        self.context = context
        self._occurred_at = occurred_at
        self._timezone = timezone
        self._local: tuple[int, int] | None = None

    def local_time(self) -> tuple[int, int]:
        """(weekday 0=Monday, minute of day) of the event time in the pack's time zone; computed on first use."""
        if self._local is None:
            local = self._occurred_at.astimezone(self._timezone)
            self._local = (local.weekday(), local.hour * 60 + local.minute)
        return self._local


# A compiled condition: the evidence it matched ("" when it has none to show), or None when it does not hold.
Condition = Callable[[EventView], str | None]


@dataclass(frozen=True, slots=True, eq=False)
class Rule:
    id: str
    stage: str  # INCLUDE or ROUTE
    because: str
    where: str  # "file:line" of the rule, for test reports and coordinators
    matches: Condition
    weight: float = 0.0  # include rules
    tier: str | None = None  # route rules
    flags: tuple[str, ...] = ()  # route rules: safety flags raised when the rule fires
    templated: bool = False  # `because` has {placeholders} filled from the TriageContext
    gate: str | None = None  # a fact the rule needs mentioned: skipped cheaply when the narrative lacks it


@dataclass(frozen=True, slots=True, eq=False)
class Ruleset:
    """A loaded, validated pack. `version` is declared by the coordinator; `sha256` is computed from the files."""

    version: str
    sha256: str
    path: Path
    timezone: ZoneInfo
    include_threshold: float
    tiers: tuple[str, ...]
    default_tier: str
    include: tuple[Rule, ...] = field(repr=False)
    route: tuple[Rule, ...] = field(repr=False)
    matcher: NarrativeMatcher = field(repr=False)
    nature_codes: Mapping[str, Mapping[str, str]] = field(repr=False)  # agency ("*" = any) -> code -> APCO type
    test_files: tuple[Path, ...] = field(repr=False)
    description: str = field(default="", repr=False)
    # The schedules (weekday, minute of day -> inside) that some condition reads: all triage needs of the time.
    schedules_used: tuple[Callable[[int, int], bool], ...] = field(default=(), repr=False)

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self.include + self.route

    def apco_type(self, agency: str, incident: Incident) -> str:
        """The APCO common type: the CAD's own mapping first, then the pack's map, else the code itself."""
        if incident.apco_type:
            return incident.apco_type.strip().upper()
        code = incident.nature_code.strip().upper()
        per_agency = self.nature_codes.get(agency)
        if per_agency is not None and code in per_agency:
            return per_agency[code]
        return self.nature_codes.get("*", {}).get(code, code)
