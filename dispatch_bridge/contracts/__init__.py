"""Wire contracts (v1): the JSON shapes on every topic, as pydantic models.

These names are fixed because CAD integrators and outside tests rely on them: add fields freely, never rename.
Readers tolerate fields they do not know (a CAD sends more than we read) and reject wrong types and missing
required fields. ``python -m dispatch_bridge.contracts`` regenerates the JSON Schemas under ``schemas/``.
"""

from dispatch_bridge.contracts.incident import (
    AssignedUnit,
    Incident,
    IncidentEvent,
    Location,
    NarrativeEntry,
)
from dispatch_bridge.contracts.recommendation import Candidate, Reason, Recommendation
from dispatch_bridge.contracts.unit import CrewMember, UnitLocation, UnitStatus

SCHEMA_VERSION = 1

__all__ = [
    "SCHEMA_VERSION",
    "AssignedUnit",
    "Candidate",
    "CrewMember",
    "Incident",
    "IncidentEvent",
    "Location",
    "NarrativeEntry",
    "Reason",
    "Recommendation",
    "UnitLocation",
    "UnitStatus",
]
