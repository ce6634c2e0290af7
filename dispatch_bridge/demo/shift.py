"""The bundled sample shift: one evening watch in Lakeport, generated deterministically from a seed.

``build_shift()`` returns the roster at the start of the watch and a timeline of CAD events (incident snapshots
on ``cad.incidents``, unit status and AVL on ``cad.units``) with their offsets in seconds from the start. Every
timestamp is ``start + offset``, so a replay is reproducible given ``start``; a replayer may compress time by
scaling the offsets. ``python -m dispatch_bridge.demo.shift --out shift.jsonl`` writes it as wire JSON lines.

What is in it: 40 patrol cars over 4 districts x 3 beats, a fifth with a currently CIT-certified officer (two
expiring within the month; three other cars with a lapsed certification), 2 mobile crisis teams and 1
co-responder unit with service hours and area, about 200 calls of which 27% are behavioral-health crises (about
half of those arrive coded as something else and are re-coded on scene; some gain a weapon in a later revision),
plus the duplicate and out-of-order snapshots a real CAD feed delivers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

import orjson
import yaml

from dispatch_bridge.contracts import IncidentEvent, UnitStatus
from dispatch_bridge.demo.fleet import UnitPlan, build_fleet, personnel_csv, teams_document
from dispatch_bridge.demo.scenarios import BEHAVIORAL, ROUTINE, Scenario
from dispatch_bridge.demo.simulate import SHIFT_SECONDS, CallFacts, Simulation

# A Friday evening watch: the first mobile crisis team and the co-responder go off duty during it.
DEFAULT_START = dt.datetime(2026, 3, 13, 16, 0, tzinfo=ZoneInfo("America/Chicago"))
AGENCY = "LKPD"
BEHAVIORAL_SHARE = 0.27
DEFAULT_TOPICS = {"incidents": "cad.incidents", "units": "cad.units"}

Event = IncidentEvent | UnitStatus


class WireRecord(NamedTuple):
    """One record to produce: offset from shift start, topic kind (``incidents``/``units``), key, JSON value."""

    at: float
    kind: str
    key: str
    value: bytes


@dataclass(frozen=True, slots=True)
class Shift:
    start: dt.datetime
    duration_s: float
    agency: str
    units: list[UnitStatus]
    timeline: list[tuple[float, str, Event]]
    # Ground truth per incident id (behavioral or not, weapon, re-coded, duplicates, out of order).
    facts: dict[str, CallFacts]
    plans: list[UnitPlan]

    def personnel_csv(self) -> str:
        """Certification records as a training office would export them (``member_id,unit_id,district,...``)."""
        return personnel_csv(self.plans)

    def teams_yaml(self) -> str:
        """Team units with service hours, service area and capacity (shape documented in ``demo.fleet``)."""
        return yaml.safe_dump(teams_document(self.plans), sort_keys=False)

    def records(self) -> Iterator[WireRecord]:
        """The roster at offset 0, then the timeline, each as the bytes a CAD would put on the wire."""
        for unit in self.units:
            yield WireRecord(0.0, "units", unit.unit_id, unit.model_dump_json().encode())
        for at, kind, event in self.timeline:
            key = event.incident.id if isinstance(event, IncidentEvent) else event.unit_id
            yield WireRecord(at, kind, key, event.model_dump_json().encode())


def build_shift(seed: int = 7, start: dt.datetime | None = None, calls: int = 200) -> Shift:
    """Generate the sample shift; the same ``seed``, ``start`` and ``calls`` always give the same events."""
    start = DEFAULT_START if start is None else start
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if calls < 20:
        raise ValueError("calls must be at least 20 for a meaningful shift")
    rng = random.Random(seed)
    plans = build_fleet(rng, start.date())
    sim = Simulation(rng, seed, start, plans, AGENCY)
    roster = sim.initial_roster(out_of_service=2)

    behavioral = round(calls * BEHAVIORAL_SHARE)
    scenarios = _mix(rng, BEHAVIORAL, behavioral) + _mix(rng, ROUTINE, calls - behavioral)
    rng.shuffle(scenarios)
    # Calls arrive over the watch but stop 45 minutes before its end, so the last ones close inside it.
    arrivals = sorted(rng.randint(90, SHIFT_SECONDS - 2700) for _ in range(calls))
    meals = sorted(rng.randint(3600, SHIFT_SECONDS - 3600) for _ in range(8))
    jobs = sorted([(t, 1, i) for i, t in enumerate(arrivals)] + [(t, 0, -1) for t in meals])
    for t, is_call, index in jobs:
        if is_call:
            sim.call(index + 1, t, scenarios[index])
        else:
            sim.meal_break(t)
    sim.finish(SHIFT_SECONDS)
    sim.redeliveries(calls)
    timeline = sim.timeline()
    return Shift(
        start=start,
        duration_s=max(float(SHIFT_SECONDS), timeline[-1][0]),
        agency=AGENCY,
        units=roster,
        timeline=timeline,
        facts=sim.facts,
        plans=plans,
    )


def _mix(rng: random.Random, pool: Sequence[tuple[Scenario, int]], count: int) -> list[Scenario]:
    """Every scenario of the pool once (when there is room), the rest drawn by weight: each kind shows up."""
    scenarios = [s for s, _ in pool][:count]
    scenarios += rng.choices([s for s, _ in pool], weights=[w for _, w in pool], k=count - len(scenarios))
    return scenarios


def dump_jsonl(shift: Shift, path: Path | str, topics: dict[str, str] | None = None) -> int:
    """Write ``{"at", "topic", "key", "value"}`` lines (value is the wire JSON object); returns the line count."""
    names = DEFAULT_TOPICS | (topics or {})
    count = 0
    with Path(path).open("wb") as out:
        for record in shift.records():
            value = orjson.Fragment(record.value)  # already JSON: embedded as is, not re-encoded
            line = {"at": record.at, "topic": names[record.kind], "key": record.key, "value": value}
            out.write(orjson.dumps(line) + b"\n")
            count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dispatch_bridge.demo.shift", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON lines file to write")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument(
        "--start", type=dt.datetime.fromisoformat, default=None, help="aware ISO time, e.g. 2026-03-13T16:00:00-05:00"
    )
    parser.add_argument("--personnel", type=Path, help="also write the certification CSV here")
    parser.add_argument("--teams", type=Path, help="also write the teams YAML here")
    args = parser.parse_args(argv)
    shift = build_shift(args.seed, args.start, args.calls)
    lines = dump_jsonl(shift, args.out)
    if args.personnel:
        args.personnel.write_text(shift.personnel_csv(), encoding="utf-8")
    if args.teams:
        args.teams.write_text(shift.teams_yaml(), encoding="utf-8")
    print(f"wrote {lines} records ({len(shift.facts)} calls, {len(shift.units)} units) to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
