"""Outcome store and coordinator reports: remember what happened to every call and evaluate the CIT program.

The service writes batches of records (``IncidentSeen``, ``RecommendationPublished``, ``Feedback``,
``RosterSnapshot``) and asks for premise history; the report turns the store into the coordinator's evaluation.
"""

from dispatch_bridge.outcomes.config import DEFAULT_REASON_CODES, StoreSettings
from dispatch_bridge.outcomes.feedback import validate_feedback
from dispatch_bridge.outcomes.premise import PremiseIndex
from dispatch_bridge.outcomes.records import (
    CandidateRef,
    Feedback,
    IncidentSeen,
    OutcomeRecord,
    PremiseHistory,
    RecommendationPublished,
    RosterSnapshot,
)
from dispatch_bridge.outcomes.report import Report, build_report
from dispatch_bridge.outcomes.store import OutcomeStore, SchemaTooNewError, open_store

_RENDERERS = frozenset({"render_csv", "render_html", "render_json"})


def __getattr__(name: str) -> object:
    # The renderers pull in plotly; the service (which imports this package for its settings) never needs them.
    if name in _RENDERERS:
        from dispatch_bridge.outcomes import render

        return getattr(render, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_REASON_CODES",
    "CandidateRef",
    "Feedback",
    "IncidentSeen",
    "OutcomeRecord",
    "OutcomeStore",
    "PremiseHistory",
    "PremiseIndex",
    "RecommendationPublished",
    "Report",
    "RosterSnapshot",
    "SchemaTooNewError",
    "StoreSettings",
    "build_report",
    "open_store",
    "render_csv",
    "render_html",
    "render_json",
    "validate_feedback",
]
