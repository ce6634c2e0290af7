"""Load a rule pack directory strictly: every problem is collected and reported as `file:line: message`.

A pack is a directory with `pack.yaml` (version, time zone, tiers, schedules, nature-code map, negation words)
and any number of rule files (`*.yaml`) holding `facts:` (narrative lexicons), `include:` rules and `route:`
rules. `NAME.test.yaml` beside a rule file holds its test cases (see `cases.py`); test files are not part of the
ruleset's content hash, because they do not change what the rules decide.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dispatch_bridge import domain
from dispatch_bridge.triage.apco import APCO_INCIDENT_TYPES
from dispatch_bridge.triage.conditions import (
    ConditionCompiler,
    Problems,
    Vocabulary,
    fact_gate,
    is_catch_all,
)
from dispatch_bridge.triage.model import INCLUDE, ROUTE, Rule, Ruleset
from dispatch_bridge.triage.text import NO, UNKNOWN, YES, CueWords, NarrativeMatcher, Phrase, phrase_problem
from dispatch_bridge.triage.yamlmarks import MarkedDict, MarkedList, YamlProblem, load_marked

PACK_FILE = "pack.yaml"
TEST_SUFFIX = ".test.yaml"
# Tiers a route rule may pick; "none" is what a non-crisis call gets and is never routed to.
ROUTABLE_TIERS = (
    domain.CIT_OFFICER,
    domain.MOBILE_CRISIS,
    domain.CO_RESPONSE,
    domain.EMS_WITH_CIT,
    domain.POLICE_ONLY,
)
CONTEXT_PLACEHOLDERS = frozenset({"premise_crisis_calls", "premise_window_days"})
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_FACT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_PACK_KEYS = {
    "version": "the pack's declared version (a string, e.g. \"2026.11.1\")",
    "description": "free text",
    "timezone": "IANA time zone of the agency, e.g. America/Chicago",
    "include_threshold": "score (0-1] at which a call counts as a behavioral crisis",
    "tiers": "the response tiers this agency uses",
    "default_tier": "tier for a crisis call no route rule picks",
    "schedules": "named weekly hours, e.g. mobile_crisis_hours",
    "nature_codes": "agency (or \"*\") -> local nature code -> APCO type",
    "narrative": "negation and uncertainty words",
}
_NARRATIVE_KEYS = ("window", "negation", "uncertainty", "after_negation", "after_uncertainty", "not_negation", "reset")
_RULE_FILE_KEYS = ("facts", "include", "route")
_FACT_KEYS = ("description", "phrases", "negative_phrases", "unknown_phrases")
_INCLUDE_KEYS = ("id", "because", "weight", "when")
_ROUTE_KEYS = ("id", "because", "tier", "flags", "when")


class RulesetError(Exception):
    """A pack that cannot be loaded; `problems` lists every one as `file:line: message`."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


def rule_files(directory: Path) -> tuple[list[Path], list[Path]]:
    """(rule files incl. pack.yaml, test files), each sorted by name: the order route rules are read in."""
    rules: list[Path] = []
    tests: list[Path] = []
    for path in sorted(directory.glob("*.yaml")):
        (tests if path.name.endswith(TEST_SUFFIX) else rules).append(path)
    return rules, tests


def content_sha256(directory: Path, files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        data = path.read_bytes()
        digest.update(path.name.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return digest.hexdigest()


def load_ruleset(path: Path) -> Ruleset:
    """Load, validate and compile the pack in directory `path`; raise RulesetError listing every problem."""
    directory = Path(path)
    problems = Problems(directory)
    if not directory.is_dir():
        raise RulesetError([f"{directory}: not a directory"])
    files, tests = rule_files(directory)
    pack_path = directory / PACK_FILE
    if pack_path not in files:
        raise RulesetError([f"{pack_path}:1: missing pack.yaml (version, timezone, tiers)"])
    documents: dict[Path, Any] = {}
    for file in files:
        try:
            documents[file] = load_marked(file)
        except YamlProblem as exc:
            problems.add(file, exc.line, str(exc))
    if problems.lines:
        raise RulesetError(problems.lines)
    builder = _PackBuilder(directory, problems)
    ruleset = builder.build(documents, pack_path, files, tests)
    if problems.lines or ruleset is None:
        raise RulesetError(problems.lines)
    return ruleset


class _PackBuilder:
    def __init__(self, directory: Path, problems: Problems) -> None:
        self.directory = directory
        self.problems = problems

    def build(
        self, documents: dict[Path, Any], pack_path: Path, files: list[Path], tests: list[Path]
    ) -> Ruleset | None:
        pack = documents[pack_path]
        if not isinstance(pack, MarkedDict):
            self.problems.add(pack_path, 1, "pack.yaml must be a mapping")
            return None
        self._unknown_keys(pack, pack_path, _PACK_KEYS)
        version = self._string(pack, "version", pack_path, required=True)
        description = self._string(pack, "description", pack_path) or ""
        timezone = self._timezone(pack, pack_path)
        threshold = self._number(pack, "include_threshold", pack_path, 0.5, low=0.0, high=1.0, low_open=True)
        tiers = self._tiers(pack, pack_path)
        default_tier = self._string(pack, "default_tier", pack_path, required=True)
        if default_tier is not None and tiers and default_tier not in tiers:
            self.problems.add(pack_path, pack.line_of("default_tier"), f"default_tier {default_tier!r} is not in tiers")
        schedules = self._schedules(pack.get("schedules"), pack_path, pack.line_of("schedules"))
        nature_codes = self._nature_codes(pack.get("nature_codes"), pack_path, pack.line_of("nature_codes"))
        cues = self._cues(pack.get("narrative"), pack_path, pack.line_of("narrative"))

        phrases: list[Phrase] = []
        facts: set[str] = set()
        rule_docs: list[tuple[Path, MarkedDict]] = []
        for file in files:
            if file == pack_path:
                continue
            document = documents[file]
            if document is None:
                continue
            if not isinstance(document, MarkedDict):
                self.problems.add(file, 1, f"a rule file is a mapping with {', '.join(_RULE_FILE_KEYS)}")
                continue
            self._unknown_keys(document, file, {k: "" for k in _RULE_FILE_KEYS})
            rule_docs.append((file, document))
            self._facts(document.get("facts"), file, document.line_of("facts"), phrases, facts)

        compiler = ConditionCompiler(Vocabulary(frozenset(facts), schedules), self.problems)
        seen: dict[str, str] = {}
        include: list[Rule] = []
        route: list[Rule] = []
        catch_all: str | None = None
        for file, document in rule_docs:
            for stage, out in ((INCLUDE, include), (ROUTE, route)):
                items = document.get(stage)
                if items is None:
                    continue
                if not isinstance(items, MarkedList):
                    self.problems.add(file, document.line_of(stage), f"`{stage}` must be a list of rules")
                    continue
                for index, item in enumerate(items):
                    line = items.line_of(index)
                    rule = self._rule(stage, item, file, line, compiler, tiers, seen)
                    if rule is None:
                        continue
                    if stage == ROUTE:
                        if catch_all is not None:
                            self.problems.add(
                                file, line, f"route rule {rule.id!r} is unreachable: catch-all rule {catch_all} comes first"
                            )
                        elif is_catch_all(rule.matches):
                            catch_all = f"{rule.id!r} ({rule.where})"
                    out.append(rule)

        if tiers and default_tier is not None:
            reachable = {r.tier for r in route} | ({default_tier} if catch_all is None else set())
            for tier in tiers:
                if tier not in reachable:
                    self.problems.add(
                        pack_path,
                        pack.line_of("tiers"),
                        f"tier {tier!r} is unreachable: no route rule picks it"
                        + (" and a catch-all rule makes default_tier unused" if tier == default_tier else ""),
                    )
        positive = sum(r.weight for r in include if r.weight > 0)
        if include and threshold is not None and positive < threshold:
            self.problems.add(
                pack_path,
                pack.line_of("include_threshold"),
                f"include_threshold {threshold} is unreachable: all positive weights add up to {positive:g}",
            )
        if not include:
            self.problems.add(pack_path, 1, "the pack has no include rules, so no call can ever be a crisis")
        if self.problems.lines or version is None or timezone is None or threshold is None or cues is None:
            return None
        return Ruleset(
            version=version,
            sha256=content_sha256(self.directory, files),
            path=self.directory,
            timezone=timezone,
            include_threshold=threshold,
            tiers=tiers,
            default_tier=default_tier or "",
            include=tuple(include),
            route=tuple(route),
            matcher=NarrativeMatcher(phrases, cues),
            schedules_used=tuple(compiler.schedules_used.values()),
            nature_codes=nature_codes,
            test_files=tuple(tests),
            description=description,
        )

    # ----- pack.yaml sections ---------------------------------------------------------------------------

    def _unknown_keys(self, mapping: MarkedDict, path: Path, known: dict[str, str] | tuple[str, ...]) -> None:
        for key in mapping:
            if key not in known:
                self.problems.add(
                    path, mapping.line_of(key), f"unknown key {key!r} (known: {', '.join(sorted(known))})"
                )

    def _string(self, mapping: MarkedDict, key: str, path: Path, *, required: bool = False) -> str | None:
        if key not in mapping:
            if required:
                self.problems.add(path, mapping.line, f"missing required key {key!r}")
            return None
        value = mapping[key]
        if not isinstance(value, str) or not value.strip():
            self.problems.add(path, mapping.line_of(key), f"{key} must be a non-empty string (quote numbers)")
            return None
        return value.strip()

    def _number(
        self,
        mapping: MarkedDict,
        key: str,
        path: Path,
        default: float,
        *,
        low: float,
        high: float,
        low_open: bool = False,
    ) -> float | None:
        value = mapping.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.problems.add(path, mapping.line_of(key), f"{key} must be a number")
            return None
        if value > high or value < low or (low_open and value == low):
            self.problems.add(path, mapping.line_of(key), f"{key} must be in {'(' if low_open else '['}{low}, {high}]")
            return None
        return float(value)

    def _timezone(self, pack: MarkedDict, path: Path) -> ZoneInfo | None:
        name = self._string(pack, "timezone", path, required=True)
        if name is None:
            return None
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            self.problems.add(path, pack.line_of("timezone"), f"unknown time zone {name!r}")
            return None

    def _tiers(self, pack: MarkedDict, path: Path) -> tuple[str, ...]:
        value = pack.get("tiers")
        line = pack.line_of("tiers")
        if not isinstance(value, MarkedList) or not value:
            self.problems.add(path, line, f"tiers must be a non-empty list of: {', '.join(ROUTABLE_TIERS)}")
            return ()
        tiers: list[str] = []
        for index, tier in enumerate(value):
            if tier not in ROUTABLE_TIERS:
                self.problems.add(path, value.line_of(index), f"unknown tier {tier!r} (known: {', '.join(ROUTABLE_TIERS)})")
            elif tier in tiers:
                self.problems.add(path, value.line_of(index), f"tier {tier!r} listed twice")
            else:
                tiers.append(tier)
        return tuple(tiers)

    def _schedules(self, value: Any, path: Path, line: int) -> dict[str, Callable[[int, int], bool]]:
        out: dict[str, Callable[[int, int], bool]] = {}
        if value is None:
            return out
        if not isinstance(value, MarkedDict):
            self.problems.add(path, line, "schedules must map a name to a list of {days, from, to} windows")
            return out
        for name, windows in value.items():
            where = value.line_of(name)
            if not isinstance(windows, MarkedList) or not windows:
                self.problems.add(path, where, f"schedule {name!r} must be a list of {{days, from, to}} windows")
                continue
            minutes = self._windows(name, windows, path)
            if minutes is not None:
                out[name] = _week_contains(minutes)
        return out

    def _windows(self, name: str, windows: MarkedList, path: Path) -> frozenset[int] | None:
        """Each minute of the week (0 = Monday 00:00) the schedule covers; 10,080 ints at most, built once."""
        covered: set[int] = set()
        for index, window in enumerate(windows):
            where = windows.line_of(index)
            if not isinstance(window, MarkedDict):
                self.problems.add(path, where, f"schedule {name!r}: a window is {{days, from, to}}")
                return None
            self._unknown_keys(window, path, ("days", "from", "to"))
            days = window.get("days", list(_DAYS))
            if not isinstance(days, list) or not days or any(d not in _DAYS for d in days):
                self.problems.add(path, window.line_of("days"), f"schedule {name!r}: days are {', '.join(_DAYS)}")
                return None
            bounds = []
            for key in ("from", "to"):
                text = window.get(key)
                match = _HHMM.match(text) if isinstance(text, str) else None
                if match is None:
                    self.problems.add(path, window.line_of(key), f"schedule {name!r}: {key} must be \"HH:MM\" (quoted)")
                    return None
                bounds.append(int(match.group(1)) * 60 + int(match.group(2)))
            start, end = bounds
            length = (end - start) % 1440 or 1440  # "to" before "from" runs past midnight
            for day in days:
                base = _DAYS.index(day) * 1440 + start
                covered.update((base + m) % 10080 for m in range(length))
        return frozenset(covered)

    def _nature_codes(self, value: Any, path: Path, line: int) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        if value is None:
            return out
        if not isinstance(value, MarkedDict):
            self.problems.add(path, line, "nature_codes must map an agency (or \"*\") to {local code: APCO type}")
            return out
        for agency, codes in value.items():
            if not isinstance(codes, MarkedDict):
                self.problems.add(path, value.line_of(agency), f"nature_codes[{agency!r}] must map local code to APCO type")
                continue
            mapped: dict[str, str] = {}
            for code, apco in codes.items():
                where = codes.line_of(str(code))
                if not isinstance(apco, str) or apco.upper() not in APCO_INCIDENT_TYPES:
                    self.problems.add(path, where, f"nature code {code!r} maps to {apco!r}, not an APCO common incident type")
                    continue
                mapped[str(code).strip().upper()] = apco.upper()
            out[str(agency)] = mapped
        return out

    def _cues(self, value: Any, path: Path, line: int) -> CueWords | None:
        if value is None:
            value = MarkedDict(line)
        if not isinstance(value, MarkedDict):
            self.problems.add(path, line, "narrative must be a mapping")
            return None
        self._unknown_keys(value, path, _NARRATIVE_KEYS)
        window = value.get("window", 6)
        if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= 12:
            self.problems.add(path, value.line_of("window"), "narrative.window must be an integer from 1 to 12")
            return None
        words: dict[str, tuple[str, ...]] = {}
        for key in _NARRATIVE_KEYS[1:]:
            items = value.get(key, [])
            if not isinstance(items, list) or any(not isinstance(i, str) or not i.strip() for i in items):
                self.problems.add(path, value.line_of(key), f"narrative.{key} must be a list of words or short phrases")
                return None
            words[key] = tuple(items)
        return CueWords(
            window=window,
            negation=words["negation"],
            uncertainty=words["uncertainty"],
            after_negation=words["after_negation"],
            after_uncertainty=words["after_uncertainty"],
            neutral=words["not_negation"],
            reset=words["reset"],
        )

    # ----- rule files -----------------------------------------------------------------------------------

    def _facts(self, value: Any, path: Path, line: int, phrases: list[Phrase], facts: set[str]) -> None:
        if value is None:
            return
        if not isinstance(value, MarkedDict):
            self.problems.add(path, line, "facts must map a fact name to its phrases")
            return
        for name, spec in value.items():
            where = value.line_of(name)
            if not isinstance(name, str) or not _FACT_NAME.match(name):
                self.problems.add(path, where, f"fact name {name!r} must be lower_snake_case")
                continue
            if name in facts:
                self.problems.add(path, where, f"fact {name!r} is defined twice")
                continue
            if not isinstance(spec, MarkedDict):
                self.problems.add(path, where, f"fact {name!r} must be a mapping with {', '.join(_FACT_KEYS)}")
                continue
            self._unknown_keys(spec, path, _FACT_KEYS)
            facts.add(name)
            for key, state in (("phrases", YES), ("negative_phrases", NO), ("unknown_phrases", UNKNOWN)):
                items = spec.get(key)
                if items is None:
                    continue
                if not isinstance(items, MarkedList):
                    self.problems.add(path, spec.line_of(key), f"{name}.{key} must be a list of phrases")
                    continue
                for index, text in enumerate(items):
                    if not isinstance(text, str):
                        self.problems.add(
                            path, items.line_of(index), f"{name}.{key}: phrase {text!r} must be a string (quote numbers)"
                        )
                        continue
                    problem = phrase_problem(str(text))
                    if problem is not None:
                        self.problems.add(path, items.line_of(index), f"{name}.{key}: {problem}")
                        continue
                    phrases.append(Phrase(name, state, text))
            if "phrases" not in spec:
                self.problems.add(path, where, f"fact {name!r} has no `phrases`")

    def _rule(
        self,
        stage: str,
        item: Any,
        path: Path,
        line: int,
        compiler: ConditionCompiler,
        tiers: tuple[str, ...],
        seen: dict[str, str],
    ) -> Rule | None:
        if not isinstance(item, MarkedDict):
            self.problems.add(path, line, f"an {stage} rule is a mapping with {', '.join(_INCLUDE_KEYS if stage == INCLUDE else _ROUTE_KEYS)}")
            return None
        keys = _INCLUDE_KEYS if stage == INCLUDE else _ROUTE_KEYS
        errors_before = len(self.problems.lines)
        self._unknown_keys(item, path, keys)
        rule_id = self._string(item, "id", path, required=True)
        where = f"{path.name}:{line}"
        if rule_id is not None:
            if not _RULE_ID.match(rule_id):
                self.problems.add(path, item.line_of("id"), f"rule id {rule_id!r}: use lower-case letters, digits, - _ .")
            elif rule_id in seen:
                self.problems.add(path, item.line_of("id"), f"duplicate rule id {rule_id!r} (first at {seen[rule_id]})")
            else:
                seen[rule_id] = where
        because = self._string(item, "because", path, required=True)
        templated = False
        if because is not None:
            names = set(_PLACEHOLDER.findall(because))
            unknown = names - CONTEXT_PLACEHOLDERS
            if unknown or because.count("{") != because.count("}"):
                self.problems.add(
                    path,
                    item.line_of("because"),
                    f"because: unknown placeholder(s) {', '.join(sorted(unknown)) or 'unbalanced braces'}"
                    f" (known: {', '.join(sorted(CONTEXT_PLACEHOLDERS))})",
                )
            templated = bool(names)
            if "\n" in because.strip():
                self.problems.add(path, item.line_of("because"), "because must be one line (dispatchers read it)")
        weight = 0.0
        tier: str | None = None
        flags: tuple[str, ...] = ()
        if stage == INCLUDE:
            if "weight" not in item:
                self.problems.add(path, line, "missing required key 'weight'")
            else:
                number = self._number(item, "weight", path, 0.0, low=-1.0, high=1.0)
                if number == 0.0:
                    self.problems.add(path, item.line_of("weight"), "weight 0 makes the rule do nothing")
                weight = number or 0.0
        else:
            tier = self._string(item, "tier", path, required=True)
            if tier is not None and tier not in tiers:
                self.problems.add(
                    path, item.line_of("tier"), f"tier {tier!r} is not one of the pack's tiers ({', '.join(tiers)})"
                )
            raw_flags = item.get("flags", [])
            if not isinstance(raw_flags, list) or any(
                not isinstance(f, str) or not _FACT_NAME.match(f) for f in raw_flags
            ):
                self.problems.add(path, item.line_of("flags"), "flags must be a list of lower_snake_case names")
            else:
                flags = tuple(raw_flags)
        if "when" not in item and stage == INCLUDE:
            self.problems.add(path, line, "an include rule needs `when` (an unconditional weight is a constant)")
        matches = compiler.compile(item.get("when"), path, item.line_of("when"))
        if len(self.problems.lines) > errors_before or matches is None or rule_id is None or because is None:
            return None
        return Rule(
            id=rule_id,
            stage=stage,
            because=because,
            where=where,
            matches=matches,
            weight=weight,
            tier=tier,
            flags=flags,
            templated=templated,
            gate=fact_gate(item.get("when")),
        )


def _week_contains(minutes: frozenset[int]) -> Callable[[int, int], bool]:
    def contains(weekday: int, minute: int) -> bool:
        return weekday * 1440 + minute in minutes

    return contains
