"""Travel time from a unit to a call, behind a small interface a routing engine can implement.

The default is the crow-flies distance times a road factor over an average speed: no road network, no I/O, a
few hundred nanoseconds. A routing engine (an in-memory graph: ranking stays pure) implements the same protocol;
its ``lower_bound_seconds`` must never exceed the real estimate for a unit that far away in a straight line,
because the grid search stops on it.
"""

from __future__ import annotations

import math
from typing import Protocol

from dispatch_bridge.roster.grid import EARTH_RADIUS_M

_RAD = math.pi / 180.0


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = lat1 * _RAD, lat2 * _RAD
    a = math.sin((p2 - p1) * 0.5) ** 2 + math.cos(p1) * math.cos(p2) * math.sin((lon2 - lon1) * _RAD * 0.5) ** 2
    return 2.0 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


class TravelTimeEstimator(Protocol):
    def seconds(self, from_lat: float, from_lon: float, to_lat: float, to_lon: float, straight_m: float) -> float:
        """Estimated driving time from the unit (from_*) to the call (to_*); ``straight_m`` is precomputed."""
        ...

    def lower_bound_seconds(self, straight_m: float) -> float:
        """A time no estimate can beat for a unit at least ``straight_m`` away in a straight line."""
        ...


class StraightLineEstimator:
    """Straight-line distance x road factor / speed."""

    __slots__ = ("_seconds_per_m",)

    def __init__(self, road_factor: float, speed_kmh: float) -> None:
        self._seconds_per_m = road_factor / (speed_kmh / 3.6)

    def seconds(self, from_lat: float, from_lon: float, to_lat: float, to_lon: float, straight_m: float) -> float:
        return straight_m * self._seconds_per_m

    def lower_bound_seconds(self, straight_m: float) -> float:
        return straight_m * self._seconds_per_m
