"""Triage: decide whether a call is a behavioral-health crisis and which response tier fits (pure core).

Rules live in YAML packs (``rules/default/``) that a CIT coordinator owns; ``load_ruleset`` compiles one strictly,
``triage`` applies it to an incident event, ``RulesetHolder`` reloads it safely and ``ShadowEvaluator`` compares a
candidate pack with the live one.
"""

from dispatch_bridge.triage.evaluate import TriageMemo, triage
from dispatch_bridge.triage.holder import ReloadResult, RulesetHolder
from dispatch_bridge.triage.loader import RulesetError, load_ruleset
from dispatch_bridge.triage.model import Rule, Ruleset, TriageContext
from dispatch_bridge.triage.shadow import ShadowEvaluator

__all__ = [
    "ReloadResult",
    "Rule",
    "Ruleset",
    "RulesetError",
    "RulesetHolder",
    "ShadowEvaluator",
    "TriageContext",
    "TriageMemo",
    "load_ruleset",
    "triage",
]
