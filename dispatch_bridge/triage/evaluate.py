"""The pure triage function: one incident event and a ruleset in, an Assessment out. No I/O, no clock.

Two stages, as every published program works (domain.md 1.4-1.5):
1. include: every include rule whose conditions hold adds its weight; the clamped sum is the score, and a
   call whose score reaches the pack's include_threshold is a behavioral crisis.
2. route (crisis calls only): route rules are read top to bottom and the first that holds picks the tier;
   later rules that hold and raise safety flags still add their flags and reasons, so a dispatcher sees every
   hazard (a weapon and an overdose), not just the one that decided the tier.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dispatch_bridge import domain
from dispatch_bridge.contracts.incident import IncidentEvent
from dispatch_bridge.triage.conditions import TIME_EVIDENCE
from dispatch_bridge.triage.model import EventView, Rule, Ruleset, TriageContext
from dispatch_bridge.triage.text import Facts, PartsMemo

DEFAULT_TIER_RULE = "default-tier"
Reason = domain.Reason


@dataclass(slots=True)
class TriageMemo:
    """What triage keeps of one incident between its revisions (the caller holds it, one per open incident).

    A CAD publishes the whole call again on every change: a unit dispatched, en route, on scene, a comment added.
    Most revisions change nothing triage reads, and the rest add a comment or two to a narrative that is
    otherwise the same. The memo makes the first kind free (the same inputs give the same assessment) and the
    second cost only the new comments (the facts of the comments already read are kept); new comments that change
    no fact (most of a CAD's remarks) cost only their reading, not the rules again. It holds hashes and
    facts, never the narrative itself, which the bridge does not keep. Texts are compared by Python's 64-bit
    string hash (randomised per process): a false match is far less likely than a hardware fault.
    """

    ruleset_sha256: str = ""
    parts: PartsMemo = field(default_factory=PartsMemo)
    inputs: tuple[Any, ...] | None = None
    assessment: domain.Assessment | None = None
    # A schedule condition's reason quotes the local time it judged ("local_time=23:05"): while the assessment
    # holds one, a new minute means a new assessment.
    quotes_time: bool = False
    minute: int | None = None
    # The inputs but the texts, and the texts' facts, that gave ``assessment``.
    verdict_key: tuple[Any, ...] | None = None


def triage(event: IncidentEvent, ruleset: Ruleset, context: TriageContext | None = None,
           memo: TriageMemo | None = None) -> domain.Assessment:
    """Assess one event. With a ``memo`` from the incident's earlier revisions the answer is the same, sooner."""
    incident = event.incident
    parts = [incident.nature_text, *[entry.text for entry in incident.narrative]]
    if memo is not None and memo.ruleset_sha256 != ruleset.sha256:  # a reloaded pack: nothing learned holds
        memo.ruleset_sha256, memo.parts, memo.inputs, memo.assessment = ruleset.sha256, PartsMemo(), None, None
    key = _inputs(event, ruleset, context, parts) if memo is not None else None
    if memo is None or key is None:
        return _assess(event, ruleset, context, ruleset.matcher.facts_of_parts(parts))
    inputs, minute = key
    same_time = not memo.quotes_time or minute == memo.minute
    if inputs == memo.inputs and memo.assessment is not None and same_time:
        return memo.assessment
    facts = ruleset.matcher.facts_of_parts(parts, memo.parts)
    # Rules read the texts only through their facts: new comments that say nothing a rule reads ("UNITS
    # ADVISED", "RP WILL MEET UNITS OUT FRONT") leave the same facts, and the same facts with the same other
    # inputs give the same assessment.
    fields, _texts = inputs
    verdict_key = (fields, facts)
    if verdict_key == memo.verdict_key and memo.assessment is not None and same_time:
        memo.inputs = inputs
        return memo.assessment
    assessment = _assess(event, ruleset, context, facts)
    memo.inputs, memo.minute, memo.assessment = inputs, minute, assessment
    memo.verdict_key = verdict_key
    memo.quotes_time = any(TIME_EVIDENCE in (reason.evidence or "") for reason in assessment.reasons)
    return assessment


def _inputs(event: IncidentEvent, ruleset: Ruleset, context: TriageContext | None,
            parts: list[str]) -> tuple[tuple[Any, ...], int | None] | None:
    """Everything a rule can read, as (the fields, the texts' count and hash), with the time as the schedules'
    answers; and the local minute, which matters beyond those answers only to a reason that quotes it. None for a
    time at the very edge of the calendar, which has no local time (no memo for it)."""
    incident = event.incident
    when: tuple[bool, ...] = ()
    minute = None
    if ruleset.schedules_used:
        try:
            local = event.occurred_at.astimezone(ruleset.timezone)
        except OverflowError:
            return None
        weekday, minute = local.weekday(), local.hour * 60 + local.minute
        when = tuple(contains(weekday, minute) for contains in ruleset.schedules_used)
    fields = (event.agency, incident.nature_code, incident.apco_type, incident.determinant, incident.priority,
              incident.caller_party, tuple(incident.flags), context, when)
    return (fields, (len(parts), hash(tuple(parts)))), minute


def _assess(event: IncidentEvent, ruleset: Ruleset, context: TriageContext | None,
            facts: Facts) -> domain.Assessment:
    incident = event.incident
    view = EventView(
        incident=incident,
        agency=event.agency,
        apco=ruleset.apco_type(event.agency, incident),
        facts=facts,
        context=context,
        occurred_at=event.occurred_at,
        timezone=ruleset.timezone,
    )
    facts = view.facts
    reasons: list[domain.Reason] = []
    total = 0.0
    for rule in ruleset.include:
        if rule.gate is not None and rule.gate not in facts:
            continue
        evidence = rule.matches(view)
        if evidence is not None:
            total += rule.weight
            reasons.append(
                _reason(rule, evidence, context) if rule.templated else Reason(rule.id, rule.because, evidence or None)
            )
    score = round(min(1.0, max(0.0, total)), 3)
    crisis = score >= ruleset.include_threshold
    if not crisis:
        return domain.Assessment(
            crisis=False,
            score=score,
            response=domain.NO_RESPONSE,
            ruleset_version=ruleset.version,
            ruleset_sha256=ruleset.sha256,
            reasons=tuple(reasons),
        )
    tier: str | None = None
    flags: list[str] = []
    for rule in ruleset.route:
        if (tier is not None and not rule.flags) or (rule.gate is not None and rule.gate not in facts):
            continue
        evidence = rule.matches(view)
        if evidence is None:
            continue
        if tier is None:
            tier = rule.tier
        for flag in rule.flags:
            if flag not in flags:
                flags.append(flag)
        reasons.append(_reason(rule, evidence, context))
    if tier is None:
        tier = ruleset.default_tier
        reasons.append(
            domain.Reason(rule=DEFAULT_TIER_RULE, because=f"No route rule applied: the pack's default tier is {tier}")
        )
    return domain.Assessment(
        crisis=True,
        score=score,
        response=tier,
        ruleset_version=ruleset.version,
        ruleset_sha256=ruleset.sha256,
        safety_flags=tuple(flags),
        reasons=tuple(reasons),
    )


def _reason(rule: Rule, evidence: str, context: TriageContext | None) -> domain.Reason:
    because = rule.because
    if rule.templated:
        values = {
            "premise_crisis_calls": "?" if context is None else context.premise_crisis_calls,
            "premise_window_days": "?" if context is None else context.premise_window_days,
        }
        because = because.format_map(values)
    return domain.Reason(rule=rule.id, because=because, evidence=evidence or None)
