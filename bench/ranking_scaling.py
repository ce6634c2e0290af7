"""Ranking latency against roster size while AVL updates stream in at 2,000 per second.

    python bench/ranking_scaling.py [--seconds 3] [--rate 2000] [--sizes 100,1000,10000] [--gaps-us 0,200]

For each roster size: a synthetic city (~33 km square, 25 districts, a quarter of units with a CIT officer, half
available) plus 20 mobile crisis / co-responder teams with schedules and areas. Then, for ``--seconds`` of wall
clock, before every ranking it applies the AVL updates due at ``--rate`` per second (moves, with one in ten also
changing status), and times one ``rank()`` call for a random call and tier (cit_officer 60%, police_only 20%,
co_response 10%, mobile_crisis 10%). Update snapshots are built beforehand: decoding is the consumer's cost,
not the roster's. Prints p50 / p99 / max per ranking and per ``apply_unit``.

Each size runs once per ``--gaps-us`` value: 0 = rankings back to back (warm caches, the best case); 200 = an
idle gap after each ranking, so every call starts cache-cold as it does in a service doing other work between
rankings (the realistic case, and the one to hold to the "well under 1 ms at p99" budget).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import time

from dispatch_bridge import domain
from dispatch_bridge.contracts import Incident
from dispatch_bridge.contracts.unit import ServiceArea, ServiceHours
from dispatch_bridge.recommend import rank
from dispatch_bridge.recommend.config import RankingSettings
from dispatch_bridge.roster import Roster
from dispatch_bridge.roster.config import RosterSettings
from dispatch_bridge.roster.synthetic import fleet, moved, unit_status

T0 = dt.datetime(2026, 11, 27, 18, 0, tzinfo=dt.UTC)
CENTRE = (41.85, -87.68)
SPAN = 0.3
TIERS = ["cit_officer"] * 6 + ["police_only"] * 2 + ["co_response", "mobile_crisis"]
STATUSES = ["available", "available", "on_scene", "enroute", "dispatched", "out_of_service"]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def build(size: int, rng: random.Random) -> tuple[Roster, list]:
    roster = Roster(RosterSettings(time_zone="America/Chicago"))
    units = fleet(size, at=T0, centre=CENTRE, span_deg=SPAN)
    for status in units:
        roster.apply_unit(status)
    hours = ServiceHours(time_zone="America/Chicago", weekly={"daily": ["07:00-23:00"]})
    for n in range(20):
        roster.apply_unit(unit_status(
            f"TEAM{n}", at=T0, kind="mobile_crisis" if n % 2 else "co_responder",
            lat=CENTRE[0] + rng.uniform(-SPAN / 2, SPAN / 2), lon=CENTRE[1] + rng.uniform(-SPAN / 2, SPAN / 2),
            service_hours=hours, service_area=ServiceArea(districts=[f"D{d}" for d in range(n, 25, 5)]),
            crew=[(f"T{n}", dt.date(2027, 1, 1))],
        ))
    return roster, units


def updates(units: list, count: int, rng: random.Random) -> list:
    """``count`` AVL snapshots in time order (each newer than the unit's previous one)."""
    latest = {u.unit_id: u for u in units}
    ids = list(latest)
    out = []
    for n in range(count):
        unit_id = rng.choice(ids)
        snapshot = moved(latest[unit_id], T0 + dt.timedelta(milliseconds=n + 1), rng)
        if rng.random() < 0.1:
            status = rng.choice(STATUSES)
            snapshot = snapshot.model_copy(update={"status": status, "assignment_priority": rng.randint(1, 5)})
        latest[unit_id] = snapshot
        out.append(snapshot)
    return out


def incidents(count: int, rng: random.Random) -> list[Incident]:
    return [
        Incident.model_validate({
            "id": f"I{n}", "revision": 0, "nature_code": "EDP", "priority": rng.randint(1, 3),
            "location": {"lat": CENTRE[0] + rng.uniform(-SPAN / 2, SPAN / 2),
                         "lon": CENTRE[1] + rng.uniform(-SPAN / 2, SPAN / 2),
                         "beat": f"{rng.randint(0, 24)}-{rng.randint(0, 24)}", "district": f"D{rng.randint(0, 24)}"},
        })
        for n in range(count)
    ]


def run(size: int, seconds: float, rate: float, gap_us: int) -> None:
    rng = random.Random(size)
    roster, units = build(size, rng)
    stream = updates(units, int(seconds * rate * 1.2) + 100, rng)
    calls = incidents(2000, rng)
    assessments = {tier: domain.Assessment(True, 0.9, tier, "bench", "0") for tier in set(TIERS)}
    settings = RankingSettings()
    rank_ns: list[int] = []
    apply_ns: list[int] = []
    fallbacks = 0
    applied = 0
    clock = time.perf_counter_ns
    start = clock()
    deadline = start + int(seconds * 1e9)
    n = 0
    while (now := clock()) < deadline:
        due = min(len(stream), int((now - start) * rate / 1e9))
        while applied < due:
            t = clock()
            roster.apply_unit(stream[applied])
            apply_ns.append(clock() - t)
            applied += 1
        call = calls[n % len(calls)]
        assessment = assessments[TIERS[n % len(TIERS)]]
        at = T0 + dt.timedelta(milliseconds=applied)
        t = clock()
        result = rank(assessment, call, roster, at, settings)
        rank_ns.append(clock() - t)
        fallbacks += bool(result.fallbacks)
        n += 1
        if gap_us:
            time.sleep(gap_us / 1e6)
    elapsed = (clock() - start) / 1e9
    us = [v / 1000 for v in rank_ns]
    au = [v / 1000 for v in apply_ns] or [0.0]
    print(
        f"{size:>6} units, gap {gap_us:>3} us | rank: n={len(us):>6} p50={statistics.median(us):7.1f} us"
        f"  p99={percentile(us, 0.99):7.1f} us"
        f"  max={max(us):8.1f} us | AVL applied {applied / elapsed:6.0f}/s  apply p50={statistics.median(au):5.1f} us"
        f"  p99={percentile(au, 0.99):6.1f} us | answers with a fallback {fallbacks / len(us):.0%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--gaps-us", default="0,200")
    args = parser.parse_args()
    for gap in (int(g) for g in args.gaps_us.split(",")):
        for size in (int(s) for s in args.sizes.split(",")):
            run(size, args.seconds, args.rate, gap)


if __name__ == "__main__":
    main()
