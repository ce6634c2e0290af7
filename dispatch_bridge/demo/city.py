"""Lakeport, the fictional mid-size city the demo shift happens in: districts, beats, streets and places.

A 10 km x 10 km grid centred near 41.88, -87.63. Four districts are the quadrants around the centre (D1 north-east,
D2 north-west, D3 south-west, D4 south-east); each has three beats, banded by distance north or south of the
centre (beat ``12`` is district 1, middle band). Streets and places are invented; house numbers follow the
common US grid convention (about 800 numbers a mile from the centre line), so addresses read like real CAD text.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

CITY = "LAKEPORT"
CENTRE_LAT = 41.88
CENTRE_LON = -87.63
# Half the city's extent in degrees: 0.045 deg latitude ~ 5 km; 0.06 deg longitude ~ 5 km at this latitude.
HALF_LAT = 0.045
HALF_LON = 0.06
DISTRICTS = ("D1", "D2", "D3", "D4")
BEATS_PER_DISTRICT = 3

# North-south streets, west to east; east-west avenues, south to north.
_NS_STREETS = (
    "ASH", "BIRCH", "CEDAR", "DOGWOOD", "ELM", "FIR", "GINKGO", "HAWTHORN",
    "IRONWOOD", "JUNIPER", "LARCH", "MAPLE", "NUTMEG", "OAK", "POPLAR", "QUINCE",
)  # fmt: skip
_EW_AVENUES = ("HARBOR", "MERIDIAN", "FOUNDRY", "CANAL", "LANTERN", "ORCHARD", "SIGNAL", "BEACON", "WHARF", "PRAIRIE")
_KM_PER_DEG_LAT = 111.2
_KM_PER_DEG_LON = 111.32 * math.cos(math.radians(CENTRE_LAT))
_NUMBERS_PER_KM = 497  # 800 per mile


@dataclass(frozen=True, slots=True)
class Place:
    """A point in the city with its CAD address, beat and district."""

    address: str
    lat: float
    lon: float
    beat: str
    district: str


@dataclass(frozen=True, slots=True)
class Premise:
    """A named place that calls come from again and again, with the premise flags the CAD keeps for it."""

    name: str
    place: Place
    flags: tuple[str, ...]


def district_of(lat: float, lon: float) -> str:
    north = lat >= CENTRE_LAT
    east = lon >= CENTRE_LON
    if north:
        return "D1" if east else "D2"
    return "D4" if east else "D3"


def beat_of(lat: float, lon: float) -> str:
    band = min(BEATS_PER_DISTRICT - 1, int(BEATS_PER_DISTRICT * abs(lat - CENTRE_LAT) / HALF_LAT))
    return f"{district_of(lat, lon)[1]}{band + 1}"


def all_beats() -> list[tuple[str, str]]:
    """Every (district, beat) pair, in a stable order."""
    return [(d, f"{d[1]}{b}") for d in DISTRICTS for b in range(1, BEATS_PER_DISTRICT + 1)]


def beat_centre(district: str, beat: str) -> tuple[float, float]:
    band = int(beat[1]) - 1
    lat_sign = 1 if district in ("D1", "D2") else -1
    lon_sign = 1 if district in ("D1", "D4") else -1
    lat = CENTRE_LAT + lat_sign * (band + 0.5) * HALF_LAT / BEATS_PER_DISTRICT
    lon = CENTRE_LON + lon_sign * HALF_LON / 2
    return lat, lon


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Equirectangular distance: exact enough over 10 km, and cheap."""
    dy = (a[0] - b[0]) * _KM_PER_DEG_LAT
    dx = (a[1] - b[1]) * _KM_PER_DEG_LON
    return math.hypot(dx, dy) * 1000.0


def clamp(lat: float, lon: float) -> tuple[float, float]:
    lat = min(CENTRE_LAT + HALF_LAT * 0.999, max(CENTRE_LAT - HALF_LAT * 0.999, lat))
    lon = min(CENTRE_LON + HALF_LON * 0.999, max(CENTRE_LON - HALF_LON * 0.999, lon))
    return lat, lon


def jitter(rng: random.Random, lat: float, lon: float, metres: float) -> tuple[float, float]:
    return clamp(
        lat + rng.uniform(-metres, metres) / (_KM_PER_DEG_LAT * 1000),
        lon + rng.uniform(-metres, metres) / (_KM_PER_DEG_LON * 1000),
    )


def place_at(lat: float, lon: float, rng: random.Random) -> Place:
    """Snap a point to the nearest street or avenue and give it a grid address."""
    lat, lon = clamp(lat, lon)
    ns_step = 2 * HALF_LON / len(_NS_STREETS)
    ew_step = 2 * HALF_LAT / len(_EW_AVENUES)
    ns_index = min(len(_NS_STREETS) - 1, int((lon - (CENTRE_LON - HALF_LON)) / ns_step))
    ew_index = min(len(_EW_AVENUES) - 1, int((lat - (CENTRE_LAT - HALF_LAT)) / ew_step))
    if rng.random() < 0.5:
        lon = CENTRE_LON - HALF_LON + (ns_index + 0.5) * ns_step
        km = abs(lat - CENTRE_LAT) * _KM_PER_DEG_LAT
        prefix = "N" if lat >= CENTRE_LAT else "S"
        street = f"{prefix} {_NS_STREETS[ns_index]} ST"
    else:
        lat = CENTRE_LAT - HALF_LAT + (ew_index + 0.5) * ew_step
        km = abs(lon - CENTRE_LON) * _KM_PER_DEG_LON
        prefix = "E" if lon >= CENTRE_LON else "W"
        street = f"{prefix} {_EW_AVENUES[ew_index]} AVE"
    number = max(2, int(km * _NUMBERS_PER_KM) // 2 * 2 + rng.randint(0, 1))
    address = f"{number} {street}"
    if rng.random() < 0.25:
        address += f" APT {rng.randint(1, 4)}{rng.choice('ABCDEF')}"
    return Place(address, round(lat, 6), round(lon, 6), beat_of(lat, lon), district_of(lat, lon))


def random_place(rng: random.Random) -> Place:
    lat = CENTRE_LAT + rng.uniform(-HALF_LAT, HALF_LAT)
    lon = CENTRE_LON + rng.uniform(-HALF_LON, HALF_LON)
    return place_at(lat, lon, rng)


def intersection(rng: random.Random) -> Place:
    ns_index = rng.randrange(len(_NS_STREETS))
    ew_index = rng.randrange(len(_EW_AVENUES))
    lon = CENTRE_LON - HALF_LON + (ns_index + 0.5) * 2 * HALF_LON / len(_NS_STREETS)
    lat = CENTRE_LAT - HALF_LAT + (ew_index + 0.5) * 2 * HALF_LAT / len(_EW_AVENUES)
    ew = ("E " if lon >= CENTRE_LON else "W ") + _EW_AVENUES[ew_index] + " AVE"
    ns = ("N " if lat >= CENTRE_LAT else "S ") + _NS_STREETS[ns_index] + " ST"
    return Place(f"{ns} / {ew}", round(lat, 6), round(lon, 6), beat_of(lat, lon), district_of(lat, lon))


# Places the demo's repeat calls come from. Flags are what a CAD's premise file would show to the call-taker.
_PREMISES = (
    ("LAKEPORT TRANSIT CTR", 0.004, 0.003, ("PREMISE: FREQUENT EDP CALLS",)),
    ("HARBOR LIGHT SHELTER", -0.012, 0.021, ("PREMISE: SHELTER", "PREMISE: FREQUENT EDP CALLS")),
    ("NORTHGATE MALL", 0.033, -0.036, ()),
    ("ST AGATHA MEDICAL CTR", 0.018, 0.014, ("PREMISE: HOSPITAL - ER ENTRANCE ON E LANTERN",)),
    ("PINE RIDGE APTS", -0.027, -0.041, ("PREMISE: PRIOR CIT RESPONSE", "HAZ: DOG ON PREMISES")),
    ("GREENWAY PARK", 0.021, -0.012, ()),
    ("QUIKSTOP FUEL", -0.036, 0.044, ("PREMISE: PRIOR ARMED ROBBERY",)),
    ("RIVERBEND TOWERS", 0.009, -0.029, ("PREMISE: PRIOR EDP - WEAPON INVOLVED", "HAZ: FIREARMS IN HOME")),
    ("CANAL ST BRIDGE", -0.003, -0.006, ("PREMISE: JUMPER HX",)),
    ("LAKEPORT PUBLIC LIBRARY", -0.018, -0.009, ()),
)


def premises(rng: random.Random) -> list[Premise]:
    out = []
    for name, dlat, dlon, flags in _PREMISES:
        place = place_at(CENTRE_LAT + dlat, CENTRE_LON + dlon, rng)
        addr = place.address.split(" APT ")[0]
        out.append(Premise(name, Place(f"{addr} ({name})", place.lat, place.lon, place.beat, place.district), flags))
    return out
