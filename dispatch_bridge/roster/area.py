"""Service areas: district lists and GeoJSON polygons, with point-in-polygon by ray casting.

Plain Python on purpose (no shapely): a team has one or a few polygons, each polygon's bounding box is computed
once, and the ray cast only runs for points inside the box. Coordinates are GeoJSON order ``[lon, lat]``; the
first ring of a polygon is its outline and the others are holes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dispatch_bridge.contracts.unit import ServiceArea

Ring = tuple[tuple[float, ...], tuple[float, ...]]  # xs (lon), ys (lat)


class AreaFormatError(ValueError):
    """A service area that is not a Polygon / MultiPolygon GeoJSON geometry, Feature or FeatureCollection."""


class _Polygon:
    __slots__ = ("min_x", "min_y", "max_x", "max_y", "rings")

    def __init__(self, rings: Sequence[Sequence[Sequence[float]]]) -> None:
        if not rings:
            raise AreaFormatError("polygon without rings")
        compiled = []
        for ring in rings:
            if len(ring) < 3 or not all(isinstance(p, (list, tuple)) and len(p) >= 2 for p in ring):
                raise AreaFormatError("polygon ring needs at least 3 [lon, lat] positions")
            compiled.append((tuple(float(p[0]) for p in ring), tuple(float(p[1]) for p in ring)))
        self.rings: tuple[Ring, ...] = tuple(compiled)
        xs, ys = compiled[0]
        self.min_x, self.max_x, self.min_y, self.max_y = min(xs), max(xs), min(ys), max(ys)

    def contains(self, x: float, y: float) -> bool:
        if not (self.min_x <= x <= self.max_x and self.min_y <= y <= self.max_y):
            return False
        if not _in_ring(self.rings[0], x, y):
            return False
        return not any(_in_ring(hole, x, y) for hole in self.rings[1:])


def _in_ring(ring: Ring, x: float, y: float) -> bool:
    """Even-odd ray casting towards +x; works whether or not the ring repeats its first position."""
    xs, ys = ring
    inside = False
    j = len(xs) - 1
    for i in range(len(xs)):
        yi, yj = ys[i], ys[j]
        if (yi > y) != (yj > y):
            x_cross = xs[i] + (y - yi) * (xs[j] - xs[i]) / (yj - yi)
            if x < x_cross:
                inside = not inside
        j = i
    return inside


def _polygons(geojson: dict[str, Any]) -> list[_Polygon]:
    kind = geojson.get("type")
    if kind == "FeatureCollection":
        return [p for feature in geojson.get("features") or () for p in _polygons(feature)]
    if kind == "Feature":
        geometry = geojson.get("geometry")
        if not isinstance(geometry, dict):
            raise AreaFormatError("feature without geometry")
        return _polygons(geometry)
    coordinates = geojson.get("coordinates")
    if kind == "Polygon" and isinstance(coordinates, list):
        return [_Polygon(coordinates)]
    if kind == "MultiPolygon" and isinstance(coordinates, list):
        return [_Polygon(polygon) for polygon in coordinates]
    raise AreaFormatError("service area geometry must be a Polygon or MultiPolygon")


class CompiledArea:
    """``contains(lat, lon, district)``: in a listed district, or inside one of the polygons."""

    __slots__ = ("districts", "polygons")

    def __init__(self, area: ServiceArea) -> None:
        self.districts = frozenset(area.districts)
        self.polygons = tuple(_polygons(area.geojson)) if area.geojson is not None else ()
        if area.geojson is not None and not self.polygons:
            raise AreaFormatError("service area geometry has no polygons")

    def contains(self, lat: float | None, lon: float | None, district: str | None) -> bool:
        if district is not None and district in self.districts:
            return True
        if lat is None or lon is None:
            return False
        return any(polygon.contains(lon, lat) for polygon in self.polygons)

    def describe(self) -> dict[str, Any]:
        return {"districts": sorted(self.districts), "polygons": len(self.polygons)}
