"""Compile a rule's `when:` block into one closure, reporting every problem with its file and line.

All keys of a `when:` block must hold; a list value means any one of its items. `any:` takes a list of blocks
(one must hold) and `not:` a block that must not hold. Fact conditions are put first so that a rule's evidence is
the narrative span a dispatcher recognises rather than a field value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dispatch_bridge.triage.apco import APCO_INCIDENT_TYPES
from dispatch_bridge.triage.model import Condition, EventView
from dispatch_bridge.triage.text import ABSENT, FACT_STATES, NO, YES
from dispatch_bridge.triage.yamlmarks import MarkedDict, MarkedList

CALLER_PARTIES = ("first", "second", "third", "officer", "unknown")
# MPDS determinant pattern as a coordinator writes it: "25", "25A*", "25B03", "41A1", "25*".
_DETERMINANT_PATTERN = re.compile(r"^(\d{1,2})(?:\*|([A-EO])(?:\*|(\d{1,2}))?)?$", re.IGNORECASE)


@dataclass
class Problems:
    """Every problem found in a pack, as `file:line: message` lines (reported together, not one at a time)."""

    root: Path
    lines: list[str] = field(default_factory=list)

    def add(self, path: Path, line: int, message: str) -> None:
        try:
            name = path.relative_to(self.root.parent)
        except ValueError:
            name = path
        self.lines.append(f"{name}:{line}: {message}")


@dataclass(frozen=True)
class Vocabulary:
    """Names a condition may refer to, declared elsewhere in the pack."""

    facts: frozenset[str]
    schedules: Mapping[str, Callable[[int, int], bool]]


# What a schedule condition shows as its evidence: the local time it judged (so a reason that quotes it changes
# with the minute, which the triage memo must know).
TIME_EVIDENCE = "local_time="


class ConditionCompiler:
    def __init__(self, vocabulary: Vocabulary, problems: Problems) -> None:
        self._vocabulary = vocabulary
        self._problems = problems
        # The schedules some condition reads, by name: the event time matters to triage only through these.
        self.schedules_used: dict[str, Callable[[int, int], bool]] = {}

    def compile(self, block: Any, path: Path, line: int) -> Condition | None:
        """One `when:` block; None (with problems recorded) when it cannot be compiled."""
        if block is None:
            return _always
        if not isinstance(block, MarkedDict):
            self._problems.add(path, line, "`when` must be a mapping of conditions")
            return None
        facts: list[Condition] = []
        fields: list[Condition] = []
        ok = True
        for key, value in block.items():
            where = block.line_of(key)
            builder = _BUILDERS.get(key)
            if builder is None:
                self._problems.add(path, where, f"unknown condition {key!r} (known: {', '.join(sorted(_BUILDERS))})")
                ok = False
                continue
            condition = builder(self, value, path, where)
            if condition is None:
                ok = False
            elif key == "facts":
                facts.append(condition)
            else:
                fields.append(condition)
        if not ok:
            return None
        parts = tuple(facts + fields)
        if not parts:
            return _always
        if len(parts) == 1:
            return parts[0]
        return _all_of(parts)

    # ----- builders, one per condition key ---------------------------------------------------------------

    def _strings(self, value: Any, path: Path, line: int, what: str) -> list[str] | None:
        items = value if isinstance(value, list) else [value]
        out: list[str] = []
        for item in items:
            if isinstance(item, bool) or not isinstance(item, (str, int)):
                self._problems.add(path, line, f"{what}: expected a string or a list of strings, got {item!r}")
                return None
            out.append(str(item).strip())
        if not out:
            self._problems.add(path, line, f"{what}: empty list never matches")
            return None
        return out

    def apco(self, value: Any, path: Path, line: int) -> Condition | None:
        codes = self._strings(value, path, line, "apco")
        if codes is None:
            return None
        upper = [c.upper() for c in codes]
        unknown = [c for c in upper if c not in APCO_INCIDENT_TYPES]
        if unknown:
            self._problems.add(path, line, f"apco: not an APCO common incident type: {', '.join(unknown)}")
            return None
        wanted = frozenset(upper)

        def condition(view: EventView) -> str | None:
            return f"apco={view.apco}" if view.apco in wanted else None

        return condition

    def nature_code(self, value: Any, path: Path, line: int) -> Condition | None:
        codes = self._strings(value, path, line, "nature_code")
        if codes is None:
            return None
        wanted = frozenset(c.upper() for c in codes)

        def condition(view: EventView) -> str | None:
            return f"nature_code={view.nature_code}" if view.nature_code in wanted else None

        return condition

    def agency(self, value: Any, path: Path, line: int) -> Condition | None:
        names = self._strings(value, path, line, "agency")
        if names is None:
            return None
        wanted = frozenset(names)

        def condition(view: EventView) -> str | None:
            return f"agency={view.agency}" if view.agency in wanted else None

        return condition

    def determinant(self, value: Any, path: Path, line: int) -> Condition | None:
        patterns = self._strings(value, path, line, "determinant")
        if patterns is None:
            return None
        regexes: list[str] = []
        for pattern in patterns:
            parsed = _DETERMINANT_PATTERN.match(pattern)
            if parsed is None:
                self._problems.add(
                    path, line, f"determinant: invalid MPDS pattern {pattern!r} (e.g. 25, 25A*, 25B03, 41A1)"
                )
                return None
            protocol, level, number = parsed.groups()
            regex = f"{int(protocol):02d}"
            regex += level.upper() if level else "[A-EO]"
            regex += f"{int(number):02d}" if number else r"\d\d"
            regexes.append(regex)
        combined = re.compile("^(?:" + "|".join(regexes) + ")$")

        def condition(view: EventView) -> str | None:
            if view.determinant and combined.match(view.determinant):
                return f"determinant={view.determinant}{view.determinant_suffix}"
            return None

        return condition

    def determinant_suffix(self, value: Any, path: Path, line: int) -> Condition | None:
        suffixes = self._strings(value, path, line, "determinant_suffix")
        if suffixes is None:
            return None
        bad = [s for s in suffixes if not re.fullmatch(r"[A-Za-z]", s)]
        if bad:
            self._problems.add(path, line, f"determinant_suffix: a suffix is one letter, got {', '.join(bad)}")
            return None
        wanted = frozenset(s.upper() for s in suffixes)

        def condition(view: EventView) -> str | None:
            if view.determinant_suffix in wanted:
                return f"determinant={view.determinant}{view.determinant_suffix}"
            return None

        return condition

    def priority(self, value: Any, path: Path, line: int) -> Condition | None:
        low, high = _range(self, value, path, line, "priority", ("min", "max"))
        if low is None and high is None:
            return None

        def condition(view: EventView) -> str | None:
            priority = view.incident.priority
            if priority is None or (low is not None and priority < low) or (high is not None and priority > high):
                return None
            return f"priority={priority}"

        return condition

    def caller_party(self, value: Any, path: Path, line: int) -> Condition | None:
        parties = self._strings(value, path, line, "caller_party")
        if parties is None:
            return None
        bad = [p for p in parties if p not in CALLER_PARTIES]
        if bad:
            self._problems.add(path, line, f"caller_party: unknown {', '.join(bad)} (known: {', '.join(CALLER_PARTIES)})")
            return None
        wanted = frozenset(parties)

        def condition(view: EventView) -> str | None:
            party = view.incident.caller_party
            return f"caller_party={party}" if party in wanted else None

        return condition

    def cad_flags(self, value: Any, path: Path, line: int) -> Condition | None:
        flags = self._strings(value, path, line, "cad_flags")
        if flags is None:
            return None
        wanted = frozenset(f.upper() for f in flags)

        def condition(view: EventView) -> str | None:
            for flag in view.cad_flags:
                if flag.upper() in wanted:
                    return f"flag={flag}"
            return None

        return condition

    def facts(self, value: Any, path: Path, line: int) -> Condition | None:
        if not isinstance(value, MarkedDict) or not value:
            self._problems.add(path, line, "facts: expected a mapping of fact name to state (yes, no, unknown, absent)")
            return None
        checks: list[tuple[str, frozenset[str]]] = []
        ok = True
        for name, states in value.items():
            where = value.line_of(name)
            if name not in self._vocabulary.facts:
                self._problems.add(path, where, f"facts: unknown fact {name!r} (define it under `facts:` in a lexicon file)")
                ok = False
                continue
            wanted = [fact_state(s) for s in (states if isinstance(states, list) else [states])]
            bad = [s for s in wanted if s not in FACT_STATES]
            if bad or not wanted:
                self._problems.add(path, where, f"facts: {name}: state must be one of {', '.join(FACT_STATES)}")
                ok = False
                continue
            checks.append((name, frozenset(wanted)))
        if not ok:
            return None
        absent_state = (ABSENT, "")
        # A check that accepts `absent` is a guard ("weapon: [no, absent]"): its span is not evidence for the rule.
        shows = tuple(ABSENT not in wanted for _, wanted in checks)

        def condition(view: EventView) -> str | None:
            evidence = ""
            for (name, wanted), show in zip(checks, shows):
                state, span = view.facts.get(name, absent_state)
                if state not in wanted:
                    return None
                if show and not evidence:
                    evidence = span
            return evidence

        return condition

    def premise(self, value: Any, path: Path, line: int) -> Condition | None:
        min_calls, max_days = _range(self, value, path, line, "premise", ("min_calls", "max_days"))
        if min_calls is None:
            if max_days is not None:
                self._problems.add(path, line, "premise: min_calls is required")
            return None

        def condition(view: EventView) -> str | None:
            context = view.context
            if context is None or context.premise_crisis_calls is None:
                return None
            if context.premise_crisis_calls < min_calls:
                return None
            days = context.premise_window_days
            if max_days is not None and (days is None or days > max_days):
                return None
            return f"premise_crisis_calls={context.premise_crisis_calls}"

        return condition

    def during(self, value: Any, path: Path, line: int) -> Condition | None:
        return self._schedule(value, path, line, "during", inside=True)

    def outside(self, value: Any, path: Path, line: int) -> Condition | None:
        return self._schedule(value, path, line, "outside", inside=False)

    def _schedule(self, value: Any, path: Path, line: int, key: str, *, inside: bool) -> Condition | None:
        if not isinstance(value, str) or value not in self._vocabulary.schedules:
            known = ", ".join(sorted(self._vocabulary.schedules)) or "none declared"
            self._problems.add(path, line, f"{key}: unknown schedule {value!r} (pack.yaml schedules: {known})")
            return None
        contains = self._vocabulary.schedules[value]
        self.schedules_used[value] = contains

        def condition(view: EventView) -> str | None:
            weekday, minute = view.local_time()
            if contains(weekday, minute) != inside:
                return None
            return f"{TIME_EVIDENCE}{minute // 60:02d}:{minute % 60:02d}"

        return condition

    def any_(self, value: Any, path: Path, line: int) -> Condition | None:
        if not isinstance(value, MarkedList) or not value:
            self._problems.add(path, line, "any: expected a non-empty list of condition blocks")
            return None
        options = [self.compile(block, path, value.line_of(i)) for i, block in enumerate(value)]
        if any(option is None for option in options):
            return None
        compiled = tuple(o for o in options if o is not None)

        def condition(view: EventView) -> str | None:
            for option in compiled:
                evidence = option(view)
                if evidence is not None:
                    return evidence
            return None

        return condition

    def not_(self, value: Any, path: Path, line: int) -> Condition | None:
        inner = self.compile(value, path, line)
        if inner is None:
            return None

        def condition(view: EventView) -> str | None:
            return None if inner(view) is not None else ""

        return condition


def fact_state(value: Any) -> str:
    # `true` / `false` are still booleans in YAML; a coordinator writing them means yes / no.
    if value is True:
        return YES
    if value is False:
        return NO
    return str(value)


def _range(
    compiler: ConditionCompiler, value: Any, path: Path, line: int, key: str, names: tuple[str, str]
) -> tuple[int | None, int | None]:
    if isinstance(value, int) and not isinstance(value, bool) and names[0] == "min":
        return value, value
    if not isinstance(value, MarkedDict) or not value:
        compiler._problems.add(path, line, f"{key}: expected a mapping with {names[0]} and/or {names[1]}")
        return None, None
    out: dict[str, int] = {}
    for name, number in value.items():
        if name not in names:
            compiler._problems.add(path, value.line_of(name), f"{key}: unknown key {name!r} (known: {', '.join(names)})")
            return None, None
        if isinstance(number, bool) or not isinstance(number, int):
            compiler._problems.add(path, value.line_of(name), f"{key}: {name} must be an integer")
            return None, None
        out[name] = number
    return out.get(names[0]), out.get(names[1])


def _always(view: EventView) -> str | None:
    return ""


def _all_of(parts: tuple[Condition, ...]) -> Condition:
    def condition(view: EventView) -> str | None:
        evidence = ""
        for part in parts:
            found = part(view)
            if found is None:
                return None
            if not evidence:
                evidence = found
        return evidence

    return condition


_BUILDERS: dict[str, Callable[[ConditionCompiler, Any, Path, int], Condition | None]] = {
    "apco": ConditionCompiler.apco,
    "nature_code": ConditionCompiler.nature_code,
    "agency": ConditionCompiler.agency,
    "determinant": ConditionCompiler.determinant,
    "determinant_suffix": ConditionCompiler.determinant_suffix,
    "priority": ConditionCompiler.priority,
    "caller_party": ConditionCompiler.caller_party,
    "cad_flags": ConditionCompiler.cad_flags,
    "facts": ConditionCompiler.facts,
    "premise": ConditionCompiler.premise,
    "during": ConditionCompiler.during,
    "outside": ConditionCompiler.outside,
    "any": ConditionCompiler.any_,
    "not": ConditionCompiler.not_,
}

CONDITION_KEYS = tuple(sorted(_BUILDERS))


def is_catch_all(condition: Condition) -> bool:
    return condition is _always


def fact_gate(block: Any) -> str | None:
    """A fact that must be mentioned for the block to hold, if any: the evaluator skips the rule, without
    calling it, on the (many) calls that never mention that fact."""
    facts = block.get("facts") if isinstance(block, MarkedDict) else None
    if not isinstance(facts, MarkedDict):
        return None
    for name, states in facts.items():
        wanted = {fact_state(s) for s in (states if isinstance(states, list) else [states])}
        if ABSENT not in wanted:
            return str(name)
    return None
