"""Builders for unit snapshots and synthetic fleets: tests, the ranking benchmark and the demo use them."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from typing import Any

from dispatch_bridge.contracts.unit import CrewMember, UnitLocation, UnitStatus


def unit_status(
    unit_id: str,
    *,
    at: dt.datetime,
    lat: float | None = None,
    lon: float | None = None,
    fix_at: dt.datetime | None = None,
    status: str = "available",
    kind: str = "patrol",
    crew: Sequence[tuple[str, dt.date | None]] = (),
    beat: str | None = None,
    district: str | None = None,
    **extra: Any,
) -> UnitStatus:
    """A ``UnitStatus`` snapshot; ``crew`` is (officer id, cit_certified_until) pairs."""
    location = UnitLocation(lat=lat, lon=lon, at=fix_at or at) if lat is not None and lon is not None else None
    return UnitStatus(
        schema_version=1,
        unit_id=unit_id,
        kind=kind,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        location=location,
        crew=[CrewMember(id=officer, cit_certified_until=until) for officer, until in crew],
        beat=beat,
        district=district,
        updated_at=at,
        **extra,
    )


def fleet(
    count: int,
    *,
    at: dt.datetime,
    seed: int = 7,
    centre: tuple[float, float] = (41.85, -87.68),
    span_deg: float = 0.3,
    cit_share: float = 0.25,
    available_share: float = 0.5,
) -> list[UnitStatus]:
    """``count`` patrol units spread over a square ``span_deg`` wide (0.3 deg ~ a 33 km city), 25 beats per
    district, a quarter with a CIT officer aboard, half available."""
    rng = random.Random(seed)
    until = (at + dt.timedelta(days=400)).date()
    statuses = ("dispatched", "enroute", "on_scene", "out_of_service")
    units = []
    for n in range(count):
        lat = centre[0] + rng.uniform(-span_deg / 2, span_deg / 2)
        lon = centre[1] + rng.uniform(-span_deg / 2, span_deg / 2)
        district = int((lat - centre[0] + span_deg / 2) / span_deg * 5) * 5 + int(
            (lon - centre[1] + span_deg / 2) / span_deg * 5)
        crew = [(f"O{n}a", until if rng.random() < cit_share else None), (f"O{n}b", None)]
        status = "available" if rng.random() < available_share else rng.choice(statuses)
        extra: dict[str, Any] = {}
        if status in ("dispatched", "enroute"):
            extra["assignment_priority"] = rng.randint(1, 5)
        units.append(unit_status(
            f"U{n:05d}", at=at, lat=lat, lon=lon, status=status, crew=crew,
            beat=f"{district}-{rng.randint(0, 24)}", district=f"D{district}", **extra,
        ))
    return units


def moved(unit: UnitStatus, at: dt.datetime, rng: random.Random, step_deg: float = 0.002) -> UnitStatus:
    """The same unit a moment later, a little farther along (an AVL update)."""
    assert unit.location is not None
    location = UnitLocation(
        lat=unit.location.lat + rng.uniform(-step_deg, step_deg),
        lon=unit.location.lon + rng.uniform(-step_deg, step_deg),
        at=at,
    )
    return unit.model_copy(update={"location": location, "updated_at": at})
