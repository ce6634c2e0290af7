"""Offline replay of historical incident events through a ruleset: tier counts, rule counts, precision / recall.

This is how a coordinator simulates widening eligibility before switching: replay last month's calls through
the live pack and a candidate, and read what would have changed. Each incident is judged on its LAST event in
the file (its final snapshot), as a dispatcher would see the call once everything was known.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dispatch_bridge import domain
from dispatch_bridge.contracts.incident import IncidentEvent
from dispatch_bridge.triage.evaluate import triage
from dispatch_bridge.triage.model import Ruleset

LABELS_HELP = (
    "CSV of labels: incident_id,crisis[,tier] with an optional header row. crisis is true/false (also 1/0, "
    "yes/no, y/n); tier, when given, is the response a reviewer judged right (cit_officer, mobile_crisis, "
    "co_response, ems_with_cit, police_only, none). Incidents without a label are left out of precision/recall."
)
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


@dataclass(frozen=True)
class Label:
    crisis: bool
    tier: str | None = None


@dataclass
class EventsFile:
    incidents: dict[str, IncidentEvent]
    events: int
    bad_lines: list[int] = field(default_factory=list)


def read_events(path: Path) -> EventsFile:
    """JSON lines of wire-contract v1 incident events; the last event per incident wins. Bad lines are
    counted by line number only (their content may hold caller data)."""
    incidents: dict[str, IncidentEvent] = {}
    bad: list[int] = []
    events = 0
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                event = IncidentEvent.model_validate_json(line)
            except ValidationError:
                bad.append(number)
                continue
            events += 1
            incidents.pop(event.incident.id, None)  # keep file order of the final snapshots
            incidents[event.incident.id] = event
    return EventsFile(incidents=incidents, events=events, bad_lines=bad)


class LabelError(Exception):
    pass


def read_labels(path: Path) -> dict[str, Label]:
    labels: dict[str, Label] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if not row or not row[0].strip() or row[0].startswith("#"):
                continue
            cells = [cell.strip() for cell in row]
            if number == 1 and cells[0].lower() in {"incident_id", "id", "incident"}:
                continue
            if len(cells) < 2:
                raise LabelError(f"{path}:{number}: expected incident_id,crisis[,tier]")
            crisis_text = cells[1].lower()
            if crisis_text not in _TRUE | _FALSE:
                raise LabelError(f"{path}:{number}: crisis must be true or false, got {cells[1]!r}")
            tier = cells[2] if len(cells) > 2 and cells[2] else None
            if tier is not None and tier not in _TIERS:
                raise LabelError(f"{path}:{number}: unknown tier {tier!r}")
            labels[cells[0]] = Label(crisis=crisis_text in _TRUE, tier=tier)
    return labels


_TIERS = {
    domain.CIT_OFFICER,
    domain.MOBILE_CRISIS,
    domain.CO_RESPONSE,
    domain.EMS_WITH_CIT,
    domain.POLICE_ONLY,
    domain.NO_RESPONSE,
}


def assess_all(ruleset: Ruleset, incidents: dict[str, IncidentEvent]) -> dict[str, domain.Assessment]:
    return {incident_id: triage(event, ruleset) for incident_id, event in incidents.items()}


def summarise(assessments: dict[str, domain.Assessment]) -> dict[str, Any]:
    tiers: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    flags: Counter[str] = Counter()
    crisis = 0
    for assessment in assessments.values():
        tiers[assessment.response] += 1
        crisis += assessment.crisis
        rules.update({reason.rule for reason in assessment.reasons})
        flags.update(assessment.safety_flags)
    return {
        "incidents": len(assessments),
        "crisis": crisis,
        "tiers": dict(tiers.most_common()),
        "rules": dict(rules.most_common()),
        "flags": dict(flags.most_common()),
    }


def score_labels(assessments: dict[str, domain.Assessment], labels: dict[str, Label]) -> dict[str, Any]:
    """Precision / recall of the crisis decision, and tier agreement where a label gives a tier."""
    tp = fp = fn = tn = 0
    tier_total = tier_right = 0
    confusion: Counter[str] = Counter()
    for incident_id, label in labels.items():
        assessment = assessments.get(incident_id)
        if assessment is None:
            continue
        if assessment.crisis and label.crisis:
            tp += 1
        elif assessment.crisis:
            fp += 1
        elif label.crisis:
            fn += 1
        else:
            tn += 1
        if label.tier is not None:
            tier_total += 1
            tier_right += assessment.response == label.tier
            if assessment.response != label.tier:
                confusion[f"{label.tier}->{assessment.response}"] += 1
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else None
    return {
        "labelled": tp + fp + fn + tn,
        "true_positive": tp,
        "false_positive": fp,
        "false_negative": fn,
        "true_negative": tn,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "tier_labelled": tier_total,
        "tier_agreement": tier_right / tier_total if tier_total else None,
        "tier_mistakes": dict(confusion.most_common()),
    }


@dataclass(frozen=True)
class Disagreement:
    incident_id: str
    base: domain.Assessment
    other: domain.Assessment

    def to_dict(self) -> dict[str, Any]:
        base_rules = {r.rule for r in self.base.reasons}
        other_rules = {r.rule for r in self.other.reasons}
        return {
            "incident_id": self.incident_id,
            "base": {"crisis": self.base.crisis, "response": self.base.response},
            "other": {"crisis": self.other.crisis, "response": self.other.response},
            "rules_only_base": sorted(base_rules - other_rules),
            "rules_only_other": sorted(other_rules - base_rules),
        }


def disagreements(
    base: dict[str, domain.Assessment], other: dict[str, domain.Assessment]
) -> Iterator[Disagreement]:
    for incident_id, assessment in base.items():
        candidate = other.get(incident_id)
        if candidate is None:
            continue
        if assessment.crisis != candidate.crisis or assessment.response != candidate.response:
            yield Disagreement(incident_id, assessment, candidate)


def tier_changes(items: Iterable[Disagreement]) -> dict[str, int]:
    counts = Counter(f"{d.base.response}->{d.other.response}" for d in items)
    return dict(counts.most_common())
