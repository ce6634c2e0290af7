"""Rule packs that test themselves: `NAME.test.yaml` cases beside the rule files (promtool / `opa test` style).

A case is an incident fragment and what the pack must decide about it:

    cases:
      - name: suicidal brother off his meds
        incident: {nature_code: EDP, narrative: "caller says brother is suicidal, off his meds", caller_party: third}
        context: {premise_crisis_calls: 2, premise_window_days: 60}   # optional
        at: "2026-03-03T23:30:00-06:00"                                # optional event time; default Tue 12:00 local
        agency: metro                                                  # optional
        expect:
          crisis: true
          response: mobile_crisis
          flags: [weapon]            # must be among the safety flags
          no_flags: [phone_988]      # must not be
          rules: [off-medication]    # must have fired
          not_rules: [weapon-present]
          evidence: {off-medication: off his meds}

`narrative` may be one string or a list of comments. Every failure is reported with its file:line and a
want/got diff, and the rules that fired with their evidence.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dispatch_bridge import domain
from dispatch_bridge.contracts.incident import IncidentEvent
from dispatch_bridge.triage.conditions import Problems
from dispatch_bridge.triage.evaluate import triage
from dispatch_bridge.triage.model import Ruleset, TriageContext
from dispatch_bridge.triage.yamlmarks import MarkedDict, MarkedList, YamlProblem, load_marked

_CASE_KEYS = ("name", "incident", "context", "at", "agency", "expect")
_EXPECT_KEYS = ("crisis", "response", "flags", "no_flags", "rules", "not_rules", "evidence")
_CONTEXT_KEYS = ("premise_crisis_calls", "premise_window_days")
_TIERS = (
    domain.CIT_OFFICER,
    domain.MOBILE_CRISIS,
    domain.CO_RESPONSE,
    domain.EMS_WITH_CIT,
    domain.POLICE_ONLY,
    domain.NO_RESPONSE,
)
# A Tuesday at noon: inside any plausible team hours, so a case only tests time when it says `at:`.
_DEFAULT_LOCAL_TIME = dt.datetime(2026, 3, 3, 12, 0)


@dataclass(frozen=True)
class Expectation:
    crisis: bool | None = None
    response: str | None = None
    flags: tuple[str, ...] = ()
    no_flags: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    not_rules: tuple[str, ...] = ()
    evidence: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Case:
    name: str
    where: str  # "file:line"
    event: IncidentEvent
    context: TriageContext | None
    expect: Expectation


@dataclass(frozen=True)
class CaseFailure:
    case: Case
    diffs: tuple[str, ...]
    assessment: domain.Assessment

    def render(self) -> str:
        lines = [f"FAIL {self.case.where}  {self.case.name}"]
        lines += [f"  {d}" for d in self.diffs]
        fired = ", ".join(
            f"{r.rule} ({r.evidence})" if r.evidence else r.rule for r in self.assessment.reasons
        )
        lines.append(
            f"  decided: crisis={str(self.assessment.crisis).lower()} score={self.assessment.score:g}"
            f" response={self.assessment.response} flags=[{', '.join(self.assessment.safety_flags)}]"
        )
        lines.append(f"  fired:   {fired or '(none)'}")
        return "\n".join(lines)


@dataclass(frozen=True)
class CaseReport:
    total: int
    failures: tuple[CaseFailure, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> int:
        return self.total - len(self.failures)

    @property
    def ok(self) -> bool:
        return not self.failures


class CaseFileError(Exception):
    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(problems))


def load_cases(paths: Iterable[Path], ruleset: Ruleset) -> list[Case]:
    """Parse every test file strictly; raise CaseFileError listing every problem as file:line."""
    paths = list(paths)
    problems = Problems(ruleset.path)
    known_rules = {rule.id for rule in ruleset.rules}
    cases: list[Case] = []
    for path in paths:
        try:
            document = load_marked(path)
        except YamlProblem as exc:
            problems.add(path, exc.line, str(exc))
            continue
        if document is None:
            continue
        if not isinstance(document, MarkedDict) or set(document) - {"cases"}:
            problems.add(path, 1, "a test file is a mapping with one key, `cases` (a list)")
            continue
        items = document.get("cases")
        if not isinstance(items, MarkedList):
            problems.add(path, document.line_of("cases"), "`cases` must be a list")
            continue
        for index, item in enumerate(items):
            case = _case(item, path, items.line_of(index), ruleset, known_rules, problems)
            if case is not None:
                cases.append(case)
    if problems.lines:
        raise CaseFileError(problems.lines)
    return cases


def run_cases(ruleset: Ruleset, cases: Iterable[Case]) -> CaseReport:
    failures: list[CaseFailure] = []
    total = 0
    for case in cases:
        total += 1
        assessment = triage(case.event, ruleset, case.context)
        diffs = _diff(case.expect, assessment)
        if diffs:
            failures.append(CaseFailure(case, tuple(diffs), assessment))
    return CaseReport(total, tuple(failures))


def run_pack_tests(ruleset: Ruleset) -> CaseReport:
    """Load and run every test file of the pack (CaseFileError when a test file itself is broken)."""
    return run_cases(ruleset, load_cases(ruleset.test_files, ruleset))


def _diff(expect: Expectation, got: domain.Assessment) -> list[str]:
    diffs: list[str] = []
    if expect.crisis is not None and expect.crisis != got.crisis:
        diffs.append(f"crisis:   want {str(expect.crisis).lower()}, got {str(got.crisis).lower()} (score {got.score:g})")
    if expect.response is not None and expect.response != got.response:
        diffs.append(f"response: want {expect.response}, got {got.response}")
    missing = [f for f in expect.flags if f not in got.safety_flags]
    if missing:
        diffs.append(f"flags:    missing {', '.join(missing)}")
    extra = [f for f in expect.no_flags if f in got.safety_flags]
    if extra:
        diffs.append(f"flags:    unexpected {', '.join(extra)}")
    fired = {reason.rule: reason for reason in got.reasons}
    missing = [r for r in expect.rules if r not in fired]
    if missing:
        diffs.append(f"rules:    did not fire {', '.join(missing)}")
    extra = [r for r in expect.not_rules if r in fired]
    if extra:
        diffs.append(f"rules:    should not fire {', '.join(extra)}")
    for rule, span in expect.evidence:
        reason = fired.get(rule)
        if reason is not None and reason.evidence != span:
            diffs.append(f"evidence: {rule} want {span!r}, got {reason.evidence!r}")
        elif reason is None and rule not in expect.rules:
            diffs.append(f"evidence: {rule} did not fire")
    return diffs


def _case(
    item: Any, path: Path, line: int, ruleset: Ruleset, known_rules: set[str], problems: Problems
) -> Case | None:
    if not isinstance(item, MarkedDict):
        problems.add(path, line, f"a case is a mapping with {', '.join(_CASE_KEYS)}")
        return None
    before = len(problems.lines)
    for key in item:
        if key not in _CASE_KEYS:
            problems.add(path, item.line_of(key), f"unknown key {key!r} (known: {', '.join(_CASE_KEYS)})")
    name = item.get("name")
    if isinstance(name, (int, float)) and not isinstance(name, bool):
        name = str(name)  # `name: 5150` is a fine name
    if not isinstance(name, str) or not name.strip():
        problems.add(path, line, "a case needs a `name`")
        name = f"case at line {line}"
    where = f"{path.name}:{line}"
    event = _event(item, path, line, ruleset, problems)
    context = _context(item.get("context"), path, item.line_of("context"), problems)
    expect = _expectation(item.get("expect"), path, item.line_of("expect"), known_rules, problems)
    if len(problems.lines) > before or event is None or expect is None:
        return None
    return Case(name=name, where=where, event=event, context=context, expect=expect)


def _event(item: MarkedDict, path: Path, line: int, ruleset: Ruleset, problems: Problems) -> IncidentEvent | None:
    incident = item.get("incident")
    where = item.line_of("incident")
    if not isinstance(incident, MarkedDict):
        problems.add(path, where, "`incident` must be a mapping of incident fields (nature_code, narrative, ...)")
        return None
    fields = dict(incident)
    fields.setdefault("id", f"case-{line}")
    fields.setdefault("revision", 0)
    fields.setdefault("nature_code", "")
    narrative = fields.get("narrative")
    if isinstance(narrative, str):
        fields["narrative"] = [{"text": narrative}]
    elif isinstance(narrative, list):
        fields["narrative"] = [{"text": n} if isinstance(n, str) else n for n in narrative]
    at = item.get("at")
    if at is None:
        occurred = _DEFAULT_LOCAL_TIME.replace(tzinfo=ruleset.timezone).isoformat()
    elif isinstance(at, str):
        occurred = at
    else:
        problems.add(path, item.line_of("at"), "`at` must be a quoted ISO time with offset, e.g. \"2026-03-03T23:30:00-06:00\"")
        return None
    raw = {
        "schema_version": 1,
        "event_id": f"case-{line}",
        "event_type": "incident.created",
        "occurred_at": occurred,
        "agency": str(item.get("agency", "default")),
        "incident": fields,
    }
    try:
        return IncidentEvent.model_validate_json(json.dumps(raw, default=str))
    except ValidationError as exc:
        for error in exc.errors():
            location = ".".join(str(part) for part in error["loc"])
            problems.add(path, where, f"incident: {location}: {error['msg']}")
        return None


def _context(value: Any, path: Path, line: int, problems: Problems) -> TriageContext | None:
    if value is None:
        return None
    if not isinstance(value, MarkedDict):
        problems.add(path, line, f"`context` must be a mapping with {', '.join(_CONTEXT_KEYS)}")
        return None
    for key, number in value.items():
        if key not in _CONTEXT_KEYS:
            problems.add(path, value.line_of(key), f"context: unknown key {key!r} (known: {', '.join(_CONTEXT_KEYS)})")
        elif isinstance(number, bool) or not isinstance(number, int):
            problems.add(path, value.line_of(key), f"context: {key} must be an integer")
    return TriageContext(
        premise_crisis_calls=value.get("premise_crisis_calls"), premise_window_days=value.get("premise_window_days")
    )


def _expectation(
    value: Any, path: Path, line: int, known_rules: set[str], problems: Problems
) -> Expectation | None:
    if not isinstance(value, MarkedDict) or not value:
        problems.add(path, line, f"`expect` must be a mapping with any of {', '.join(_EXPECT_KEYS)}")
        return None
    for key in value:
        if key not in _EXPECT_KEYS:
            problems.add(path, value.line_of(key), f"expect: unknown key {key!r} (known: {', '.join(_EXPECT_KEYS)})")
    crisis = value.get("crisis")
    if crisis is not None and not isinstance(crisis, bool):
        problems.add(path, value.line_of("crisis"), "expect.crisis must be true or false")
    response = value.get("response")
    if response is not None and response not in _TIERS:
        problems.add(path, value.line_of("response"), f"expect.response {response!r} is not one of {', '.join(_TIERS)}")

    def names(key: str, check_rules: bool) -> tuple[str, ...]:
        items = value.get(key, [])
        if not isinstance(items, list) or any(not isinstance(i, str) for i in items):
            problems.add(path, value.line_of(key), f"expect.{key} must be a list of names")
            return ()
        if check_rules:
            unknown = [i for i in items if i not in known_rules]
            if unknown:
                problems.add(path, value.line_of(key), f"expect.{key}: no rule with id {', '.join(unknown)}")
        return tuple(items)

    evidence_map = value.get("evidence", {})
    evidence: tuple[tuple[str, str], ...] = ()
    if not isinstance(evidence_map, dict) or any(not isinstance(v, str) for v in evidence_map.values()):
        problems.add(path, value.line_of("evidence"), "expect.evidence must map a rule id to the expected span")
    else:
        unknown = [k for k in evidence_map if k not in known_rules]
        if unknown:
            problems.add(path, value.line_of("evidence"), f"expect.evidence: no rule with id {', '.join(unknown)}")
        evidence = tuple((str(k), v) for k, v in evidence_map.items())
    return Expectation(
        crisis=crisis if isinstance(crisis, bool) else None,
        response=response if isinstance(response, str) else None,
        flags=names("flags", False),
        no_flags=names("no_flags", False),
        rules=names("rules", True),
        not_rules=names("not_rules", True),
        evidence=evidence,
    )
