"""A uniform lat/lon grid of units, updated in O(1) per AVL update, searched ring by ring from a point.

Cells are ``cell_degrees`` square in degrees. A cell is a dict (unit id -> entry), so moving a unit is two dict
operations and iteration order is deterministic. The search itself lives in ``recommend``; this module only
owns the index and the geometry the search needs (which cells form ring ``d``, how far away ring ``d`` is at
least).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

EARTH_RADIUS_M = 6_371_008.8
_M_PER_DEG = math.pi * EARTH_RADIUS_M / 180.0
# Keys pack (row, column) into one int: columns stay within +-2**20 for any cell size the settings allow.
_ROW_SHIFT = 21
# The planar ring bound is a shade optimistic against the great circle far from the equator: keep a margin.
_BOUND_MARGIN = 0.98


class SpatialGrid(Generic[T]):
    __slots__ = ("cell_degrees", "_inverse", "cells", "members")

    def __init__(self, cell_degrees: float) -> None:
        self.cell_degrees = cell_degrees
        self._inverse = 1.0 / cell_degrees
        self.cells: dict[int, dict[str, T]] = {}
        self.members: dict[str, T] = {}

    def cell_of(self, lat: float, lon: float) -> tuple[int, int]:
        return (math.floor(lat * self._inverse), math.floor(lon * self._inverse))

    def key_of(self, lat: float, lon: float) -> int:
        return (math.floor(lat * self._inverse) << _ROW_SHIFT) + math.floor(lon * self._inverse)

    def put(self, key: int, unit_id: str, item: T) -> None:
        cell = self.cells.get(key)
        if cell is None:
            self.cells[key] = cell = {}
        cell[unit_id] = item
        self.members[unit_id] = item

    def remove(self, key: int, unit_id: str) -> None:
        cell = self.cells.get(key)
        if cell is not None:
            cell.pop(unit_id, None)
            if not cell:
                del self.cells[key]
        self.members.pop(unit_id, None)

    def __len__(self) -> int:
        return len(self.members)

    def ring(self, row: int, col: int, d: int) -> Iterator[dict[str, T]]:
        """The non-empty cells at Chebyshev distance exactly ``d`` from (row, col)."""
        cells = self.cells
        if d == 0:
            cell = cells.get((row << _ROW_SHIFT) + col)
            if cell:
                yield cell
            return
        for r in (row - d, row + d):
            base = r << _ROW_SHIFT
            for c in range(col - d, col + d + 1):
                cell = cells.get(base + c)
                if cell:
                    yield cell
        for r in range(row - d + 1, row + d):
            base = r << _ROW_SHIFT
            for c in (col - d, col + d):
                cell = cells.get(base + c)
                if cell:
                    yield cell

    def beyond_ring_m(self, lat: float, d: int) -> float:
        """A lower bound on the distance from a point in the centre cell to anything outside rings 0..d."""
        if d <= 0:
            return 0.0
        # Longitude cells narrow towards the poles: use the cosine at the far edge of the searched band.
        far_lat = min(89.9, abs(lat) + (d + 1) * self.cell_degrees)
        cell_m = self.cell_degrees * _M_PER_DEG * min(1.0, math.cos(math.radians(far_lat)))
        return d * cell_m * _BOUND_MARGIN
