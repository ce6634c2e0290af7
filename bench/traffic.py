"""Realistic CAD traffic for the benchmarks, built on the demo shift and cheap to multiply to a million events.

``build_traffic()`` runs the demo shift generator once (its calls, scripts and roster are the realistic part), pads
every incident narrative to about 1 KB with neutral CAD remarks, the same remarks in every revision of a call as a
CAD snapshot would repeat them (checked against the real triage: padding never changes an assessment), grows the roster to 1,000 units spread over the same city, and classifies each incident
event with the real triage core so the benchmark knows which ones are crisis calls.

Multiplying is byte substitution, not re-encoding: copy ``k`` of the shift renames ``INC-0001`` to
``INC-k-0001`` in the key and value and moves its street addresses to blocks of their own, so a backlog of a million events costs seconds to build. AVL traffic is one
``orjson.dumps`` per update of a unit document kept as a dict, with ``updated_at`` strictly increasing per unit so
the roster applies every update (an older snapshot would be ignored and cost less than a real one).
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from dispatch_bridge.contracts import IncidentEvent
from dispatch_bridge.demo import city
from dispatch_bridge.demo.shift import build_shift
from dispatch_bridge.demo.simulate import SHIFT_SECONDS
from dispatch_bridge.roster.synthetic import fleet
from dispatch_bridge.triage import load_ruleset, triage

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RULES = REPO / "rules" / "default"

# Neutral call-taker and dispatcher remarks: what fills most of a real narrative between the facts that matter.
# None names a behavior, a weapon, a substance or a person: the test below proves triage ignores them.
FILLER = (
    "CALL TRANSFERRED FROM ADJACENT PSAP, ANI/ALI REBID COMPLETED",
    "CALL BACK NUMBER VERIFIED BY CALL TAKER, LINE CLEAR",
    "MAP LOCATION CONFIRMED VIA PHASE II WIRELESS, UNCERTAINTY 15 METERS",
    "PREMISE CHECKED IN CAD, NO PRIOR NOTES ON FILE FOR THIS ADDRESS",
    "CROSS STREETS ADVISED, ENTRANCE ON THE NORTH SIDE OF BUILDING",
    "SUPERVISOR ADVISED PER SOP, NO ADDITIONAL RESOURCES REQUESTED AT THIS TIME",
    "UNITS ADVISED OF LOCATION DETAILS OVER THE AIR, ACK BY RADIO",
    "GATE CODE PROVIDED TO RESPONDING UNITS VIA MDT MESSAGE",
    "RP WILL MEET UNITS OUT FRONT, WEARING A BLUE JACKET",
    "LANDLINE DISCONNECTED ON CALLBACK ATTEMPT, RETRIED ONCE, CONNECTED",
    "TRAFFIC ADVISORY: CONSTRUCTION ON THE MAIN AVENUE, USE ALTERNATE ROUTE",
    "CAD INCIDENT CROSS REFERENCED WITH FIRE DEPARTMENT EVENT NUMBER",
)

UNIT_STATUSES = ("available", "available", "on_scene", "enroute", "dispatched", "out_of_service")


@dataclass(frozen=True, slots=True)
class IncidentTemplate:
    key: bytes
    value: bytes
    crisis: bool
    created: bool


@dataclass
class Traffic:
    """Everything a benchmark produces, as wire bytes: the roster, incident templates, unit documents."""

    start: dt.datetime
    roster: list[tuple[bytes, bytes]]
    incidents: list[IncidentTemplate]
    units: list[dict[str, Any]]
    padding_flips: int

    @property
    def crisis_created(self) -> list[IncidentTemplate]:
        """``incident.created`` events that triage as a crisis: each yields a recommendation for a new incident."""
        return [t for t in self.incidents if t.crisis and t.created]

    def describe(self) -> dict[str, Any]:
        values = [len(t.value) for t in self.incidents]
        return {
            "incident_templates": len(self.incidents),
            "crisis_share": round(sum(t.crisis for t in self.incidents) / len(self.incidents), 3),
            "incident_bytes_mean": round(sum(values) / len(values)),
            "roster_units": len(self.roster),
            "unit_bytes_mean": round(sum(len(v) for _, v in self.roster) / len(self.roster)),
            "padding_flips": self.padding_flips,
        }


def build_traffic(seed: int = 7, calls: int = 600, units: int = 1000, narrative_bytes: int = 1000,
                  rules_dir: Path = DEFAULT_RULES, now: dt.datetime | None = None) -> Traffic:
    """The demo shift ending about an hour before ``now`` (so nothing is idle-evicted), padded and classified."""
    now = now or dt.datetime.now(dt.UTC)
    start = (now - dt.timedelta(seconds=SHIFT_SECONDS + 3600)).replace(microsecond=0)
    shift = build_shift(seed, start, calls)
    ruleset = load_ruleset(rules_dir)
    rng = random.Random(seed)

    templates: list[IncidentTemplate] = []
    flips = 0
    fillers: dict[str, list[str]] = {}
    for record in shift.records():
        if record.kind != "incidents":
            continue
        original = IncidentEvent.model_validate_json(record.value)
        padded_doc = _pad(orjson.loads(record.value), narrative_bytes, rng, fillers)
        value = orjson.dumps(padded_doc)
        padded = IncidentEvent.model_validate_json(value)
        before, after = triage(original, ruleset), triage(padded, ruleset)
        flips += (before.crisis, before.response) != (after.crisis, after.response)
        templates.append(IncidentTemplate(record.key.encode(), value, after.crisis,
                                          padded.event_type == "incident.created"))

    roster_models = list(shift.units)
    extra = max(0, units - len(roster_models))
    for status in fleet(extra, at=start, seed=seed, centre=(city.CENTRE_LAT, city.CENTRE_LON),
                        span_deg=2 * city.HALF_LAT):
        assert status.location is not None
        lat, lon = status.location.lat, status.location.lon
        roster_models.append(status.model_copy(update={
            "district": city.district_of(lat, lon), "beat": city.beat_of(lat, lon)}))
    docs = [status.model_dump(mode="json") for status in roster_models]
    roster = [(doc["unit_id"].encode(), orjson.dumps(doc)) for doc in docs]
    return Traffic(start, roster, templates, docs, flips)


def _pad(doc: dict[str, Any], narrative_bytes: int, rng: random.Random,
         fillers: dict[str, list[str]]) -> dict[str, Any]:
    """Neutral remarks after the call's first comment, the same ones in every revision of the call.

    A CAD snapshot repeats the call's earlier comments, in order, and appends the new ones: so does the padded
    traffic (the first revision is padded to ``narrative_bytes``; later ones carry the same remarks and grow).
    """
    narrative = doc["incident"]["narrative"]
    filler = fillers.get(doc["incident"]["id"])
    if filler is None:
        shuffled = list(FILLER)
        rng.shuffle(shuffled)
        filler, size, n = [], sum(len(entry["text"]) for entry in narrative), 0
        while size < narrative_bytes:
            filler.append(shuffled[n % len(shuffled)])
            size += len(filler[-1])
            n += 1
        fillers[doc["incident"]["id"]] = filler
    at = narrative[0]["at"] if narrative else doc["occurred_at"]
    padding = [{"at": at, "text": text} for text in filler]
    narrative[1:1] = padding  # the first comment stays first; later ones keep their order after the remarks
    return doc


_HOUSE_NUMBER = re.compile(rb'"address":"(\d+)')


def incident_copy(template: IncidentTemplate, tag: bytes, neighbourhood: int = 0) -> tuple[bytes, bytes]:
    """The template as a different incident: ``INC-0001`` becomes ``INC-<tag>-0001`` in key, id and event id.

    ``neighbourhood`` > 0 moves street addresses to their own hundred blocks (house number + n * 100,000), so each
    copy of the shift has its own premise history, as another part of a city would, instead of every copy piling
    onto the same few blocks (which makes premise lookups grow with the replay, an artefact of copying).
    """
    new = b"INC-" + tag + b"-"
    value = template.value.replace(b"INC-", new)
    if neighbourhood:
        offset = neighbourhood * 100_000
        value = _HOUSE_NUMBER.sub(lambda m: b'"address":"%d' % (int(m[1]) + offset), value, count=1)
    return template.key.replace(b"INC-", new, 1), value


class AvlStream:
    """AVL pings and status changes for the roster, each newer than the unit's last snapshot."""

    def __init__(self, traffic: Traffic, seed: int = 11, base: dt.datetime | None = None) -> None:
        self._docs = [dict(doc) for doc in traffic.units]
        self._rng = random.Random(seed)
        self._base = base or (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30))
        self._n = 0

    def next(self) -> tuple[bytes, bytes]:
        rng = self._rng
        doc = self._docs[rng.randrange(len(self._docs))]
        self._n += 1
        # Milliseconds apart: a million updates span about 17 minutes of event time, all newer than the roster.
        at = (self._base + dt.timedelta(milliseconds=self._n)).isoformat()
        location = doc.get("location") or {"lat": city.CENTRE_LAT, "lon": city.CENTRE_LON}
        lat, lon = city.clamp(location["lat"] + rng.uniform(-0.002, 0.002), location["lon"] + rng.uniform(-0.002, 0.002))
        doc["location"] = {"lat": round(lat, 6), "lon": round(lon, 6), "at": at}
        doc["updated_at"] = at
        if doc["kind"] == "patrol" and rng.random() < 0.1:
            doc["status"] = rng.choice(UNIT_STATUSES)
            doc["status_text"] = doc["status"].upper()
            doc["assignment_priority"] = rng.randint(1, 5) if doc["status"] in ("enroute", "dispatched") else None
        return doc["unit_id"].encode(), orjson.dumps(doc)


def backlog(traffic: Traffic, events: int, unit_share: float, seed: int = 3,
            tag: str = "b") -> Iterator[tuple[str, bytes, bytes]]:
    """``events`` records, ``(kind, key, value)`` with kind ``incidents`` or ``units``: whole shift copies of
    incident events in timeline order, interleaved with AVL traffic so about ``unit_share`` of them are units."""
    for kind, key, value, _ in marked_backlog(traffic, events, unit_share, seed, tag):
        yield kind, key, value


def marked_backlog(traffic: Traffic, events: int, unit_share: float, seed: int = 3,
                   tag: str = "b") -> Iterator[tuple[str, bytes, bytes, bool]]:
    """``backlog`` with a mark on each record that opens a crisis call (an ``incident.created`` that triages as a
    crisis: each earns the call's first recommendation)."""
    rng = random.Random(seed)
    avl = AvlStream(traffic, seed)
    templates = traffic.incidents
    copy = position = 0
    for _ in range(events):
        if rng.random() < unit_share:
            key, value = avl.next()
            yield "units", key, value, False
            continue
        template = templates[position]
        key, value = incident_copy(template, f"{tag}{copy}".encode(), copy + 1)
        yield "incidents", key, value, template.crisis and template.created
        position += 1
        if position == len(templates):
            position, copy = 0, copy + 1


def crisis_events(traffic: Traffic, count: int, tag: str) -> list[tuple[bytes, bytes]]:
    """``count`` new crisis incidents (each a first snapshot, so each earns exactly one recommendation)."""
    pool = traffic.crisis_created
    return [incident_copy(pool[n % len(pool)], f"{tag}{n}".encode(), n + 1) for n in range(count)]
