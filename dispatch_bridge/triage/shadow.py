"""Shadow mode: a candidate pack evaluated beside the live one, so a coordinator sees its impact first.

Only identifiers and decisions are kept (incident id, crisis, tier, safety flags, rule ids): never narrative
text or evidence, because this view is served over HTTP.
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Any

from dispatch_bridge import domain
from dispatch_bridge.contracts.incident import IncidentEvent
from dispatch_bridge.triage.evaluate import triage
from dispatch_bridge.triage.model import Ruleset, TriageContext


class ShadowEvaluator:
    def __init__(self, candidate: Ruleset, keep_last: int = 100) -> None:
        self.candidate = candidate
        self.observed = 0
        self.disagreements = 0
        self.crisis_disagreements = 0
        self.tier_disagreements = 0
        self.flag_disagreements = 0
        self._pairs: Counter[str] = Counter()
        self._last: deque[dict[str, Any]] = deque(maxlen=keep_last)

    def evaluate(
        self, event: IncidentEvent, live: domain.Assessment, context: TriageContext | None = None
    ) -> domain.Assessment:
        """Triage the event with the candidate and record how it compares with the live assessment."""
        shadow = triage(event, self.candidate, context)
        self.observe(event.incident.id, live, shadow)
        return shadow

    def observe(self, incident_id: str, live: domain.Assessment, shadow: domain.Assessment) -> bool:
        """Count one comparison; True when the two rulesets disagree on crisis, tier or safety flags."""
        self.observed += 1
        crisis_differs = live.crisis != shadow.crisis
        tier_differs = live.response != shadow.response
        flags_differ = set(live.safety_flags) != set(shadow.safety_flags)
        if not (crisis_differs or tier_differs or flags_differ):
            return False
        self.disagreements += 1
        self.crisis_disagreements += crisis_differs
        self.tier_disagreements += tier_differs
        self.flag_disagreements += flags_differ
        self._pairs[f"{live.response}->{shadow.response}"] += 1
        live_rules = {reason.rule for reason in live.reasons}
        shadow_rules = {reason.rule for reason in shadow.reasons}
        self._last.append(
            {
                "incident_id": incident_id,
                "live": {"crisis": live.crisis, "response": live.response, "flags": list(live.safety_flags)},
                "shadow": {"crisis": shadow.crisis, "response": shadow.response, "flags": list(shadow.safety_flags)},
                "rules_only_live": sorted(live_rules - shadow_rules),
                "rules_only_shadow": sorted(shadow_rules - live_rules),
            }
        )
        return True

    def status(self) -> dict[str, Any]:
        return {
            "candidate": {"version": self.candidate.version, "sha256": self.candidate.sha256},
            "observed": self.observed,
            "disagreements": self.disagreements,
            "crisis_disagreements": self.crisis_disagreements,
            "tier_disagreements": self.tier_disagreements,
            "flag_disagreements": self.flag_disagreements,
            "tier_changes": dict(self._pairs.most_common()),
            "last": list(self._last),
        }
