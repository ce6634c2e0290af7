"""What a unit's CAD status means for dispatch: its availability class, and whether a team can take a call."""

from __future__ import annotations

# TEAM_KINDS is defined with the unit contract and re-exported here for the ranking.
from dispatch_bridge.contracts.unit import TEAM_KINDS as TEAM_KINDS
from dispatch_bridge.contracts.unit import UnitStatus

# Availability classes of a unit, best first (ranking settings choose which ones may be proposed, in what order).
AVAILABLE = 0
ON_SCENE_AVAILABLE = 1
ENROUTE = 2  # dispatched or en route to a call of known priority: proposable only if that call is less urgent
NOT_AVAILABLE = -1
CLASS_NAMES = ("available", "on_scene_available", "enroute_lower_priority")
OUT_OF_SERVICE = frozenset({"off_duty", "out_of_service"})


def availability_class(status: UnitStatus) -> int:
    code = status.status
    if code == "available":
        return AVAILABLE
    if code == "on_scene" and status.available_on_scene:
        return ON_SCENE_AVAILABLE
    if code in ("dispatched", "enroute") and status.assignment_priority is not None:
        return ENROUTE
    return NOT_AVAILABLE


def team_has_room(status: UnitStatus, capacity: int | None) -> bool:
    """A team can take another call: below ``capacity`` (the team's configured one, else the event's, else 1)
    when it reports its load, else by its status."""
    if status.status in OUT_OF_SERVICE:
        return False
    if status.active_assignments is not None:
        if capacity is None:
            capacity = 1 if status.capacity is None else status.capacity
        return status.active_assignments < capacity
    return availability_class(status) in (AVAILABLE, ON_SCENE_AVAILABLE)
