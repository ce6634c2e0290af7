"""A batch of unit snapshots applied once per unit (its newest) leaves the roster exactly as applying every one in
order does; the units feed decodes (and counts) every record, keeps tombstones in their place, and asks for a
re-ranking on the batch's net gain only."""

from __future__ import annotations

import datetime as dt
import random

import orjson
import pytest
from aiokafka import ConsumerRecord

from dispatch_bridge.contracts.structs import decode_unit_status
from dispatch_bridge.feeds import unit_feed
from dispatch_bridge.metrics import Metrics
from dispatch_bridge.roster import Roster, newest_per_unit
from dispatch_bridge.roster.config import RosterSettings
from dispatch_bridge.roster.synthetic import unit_status

T0 = dt.datetime(2026, 11, 27, 18, 0, tzinfo=dt.UTC)
CERTIFIED = dt.date(2027, 6, 1)
LAPSED = dt.date(2026, 1, 1)
OFFICERS = ("4411", "5120", "6001", "7002")
UNITS = ("P-1", "P-2", "P-3", "MCT-1")
STATUSES = ("available", "dispatched", "enroute", "on_scene", "out_of_service", "off_duty")


def random_snapshot(rng: random.Random) -> bytes:
    unit = rng.choice(UNITS)
    team = unit.startswith("MCT")
    located = rng.random() < 0.8
    extra = {}
    if team and rng.random() < 0.5:
        extra["capacity"] = rng.choice((1, 2))
        extra["active_assignments"] = rng.choice((0, 1, 2))
    if rng.random() < 0.3:
        extra["available_on_scene"] = rng.random() < 0.5
    status = unit_status(
        unit,
        # Few distinct times: ties and out-of-order snapshots are common, as they must be tested.
        at=T0 + dt.timedelta(seconds=rng.randrange(6)),
        lat=41.80 + rng.random() * 0.2 if located else None,
        lon=-87.70 + rng.random() * 0.2 if located else None,
        status=rng.choice(STATUSES),
        kind="mobile_crisis" if team else "patrol",
        crew=[(officer, rng.choice((CERTIFIED, LAPSED, None)))
              for officer in rng.sample(OFFICERS, rng.randrange(3))],
        beat=rng.choice((None, "1011", "1012")),
        district=rng.choice((None, "D1", "D2")),
        **extra,
    )
    return status.model_dump_json(exclude_none=True).encode()


def state(roster: Roster) -> dict[str, object]:
    """Everything the roster derives from snapshots, order-free (dict order is not state)."""
    units = {
        unit_id: tuple(getattr(entry, name) for name in type(entry).__slots__)
        for unit_id, entry in roster.units.items()
    }
    grids = [
        {key: sorted(cell) for key, cell in grid.cells.items()}
        for grid in (*roster.grids_all, *roster.grids_cit)
    ]
    return {
        "units": units,
        "grids": grids,
        "unlocated": [sorted(d) for d in (*roster.unlocated_all, *roster.unlocated_cit)],
        "beats": {beat: sorted(members) for beat, members in roster.by_beat.items() if members},
        "districts": {district: sorted(members) for district, members in roster.by_district.items() if members},
        "officers": {officer: sorted(units) for officer, units in roster._officer_units.items()},
        "teams": {unit_id: repr(team) for unit_id, team in roster.teams.items()},
        "clock": roster._clock_hint,
        "coverage": roster.coverage(T0),
    }


def new_roster() -> Roster:
    return Roster(RosterSettings(time_zone="America/Chicago"))


@pytest.mark.parametrize("seed", range(60))
def test_newest_per_unit_leaves_the_roster_that_every_snapshot_in_order_leaves(seed: int) -> None:
    rng = random.Random(seed)
    history = [random_snapshot(rng) for _ in range(rng.randrange(5, 30))]
    batch = [random_snapshot(rng) for _ in range(rng.randrange(1, 40))]
    one_by_one, coalesced = new_roster(), new_roster()
    for value in history:  # the state before the batch: the same for both
        one_by_one.apply_unit_record(None, value)
        coalesced.apply_unit_record(None, value)

    for value in batch:
        one_by_one.apply_unit_record(None, value)
    decoded = [(decode_unit_status(value), index) for index, value in enumerate(batch)]
    applied = list(newest_per_unit(decoded))
    for status, _ in applied:
        coalesced.apply_unit(status)

    assert state(coalesced) == state(one_by_one)
    assert len(applied) == len({status.unit_id for status, _ in decoded})


def test_newest_is_the_latest_update_and_the_later_record_of_a_tie() -> None:
    def snap(unit: str, second: int) -> object:
        return unit_status(unit, at=T0 + dt.timedelta(seconds=second))

    batch = [(snap("P-1", 5), "a"), (snap("P-2", 1), "b"), (snap("P-1", 3), "c"), (snap("P-1", 5), "d"),
             (snap("P-2", 0), "e")]
    assert {status.unit_id: tag for status, tag in newest_per_unit(batch)} == {"P-1": "d", "P-2": "b"}


def record(offset: int, key: bytes | None, value: bytes | None) -> ConsumerRecord:
    return ConsumerRecord(topic="cad.units", partition=0, offset=offset, timestamp=0, timestamp_type=0, key=key,
                          value=value, checksum=None, serialized_key_size=0, serialized_value_size=0, headers=())


def snapshot(unit: str, second: int, **kw) -> bytes:
    return unit_status(unit, at=T0 + dt.timedelta(seconds=second), lat=41.88, lon=-87.63,
                       **kw).model_dump_json(exclude_none=True).encode()


def invalid_count(metrics: Metrics) -> float:
    return metrics.registry.get_sample_value("dispatch_bridge_invalid_table_records_total", {"table": "units"}) or 0


def test_the_units_feed_counts_every_bad_record_and_keeps_tombstones_in_place() -> None:
    roster, metrics, gains = new_roster(), Metrics(), []
    feed = unit_feed(roster, metrics.invalid_table_records.labels("units"), lambda: gains.append(1))
    cit = [("4411", CERTIFIED)]
    feed([
        record(0, b"P-1", snapshot("P-1", 1, crew=cit)),
        record(1, b"P-1", b'{"not": "a unit"}'),  # superseded by offset 3, still counted
        record(2, b"P-2", snapshot("P-2", 1)),
        record(3, b"P-1", snapshot("P-1", 2, crew=cit, status="on_scene")),
        record(4, b"P-2", None),  # removes P-2 after its snapshot...
        record(5, b"P-2", snapshot("P-2", 1)),  # ...so this one, no newer than the removal, is ignored
        record(6, b"P-3", snapshot("P-3", 3, crew=cit)),
        record(7, b"P-3", orjson.dumps({"schema_version": 1, "unit_id": "P-3"})),  # invalid: missing fields
    ])
    assert invalid_count(metrics) == 2
    assert set(roster.units) == {"P-1", "P-3"}
    assert roster.units["P-1"].status.status == "on_scene"
    assert gains == [1]  # P-3: a certified officer on a free unit


def test_the_units_feed_asks_for_a_reranking_on_a_net_gain_only() -> None:
    roster, metrics, gains = new_roster(), Metrics(), []
    feed = unit_feed(roster, metrics.invalid_table_records.labels("units"), lambda: gains.append(1))
    cit = [("4411", CERTIFIED)]
    feed([record(0, b"P-1", snapshot("P-1", 1, crew=cit))])
    assert gains == [1]
    # Busy and free again within one batch: nothing gained, the AVL move alone never re-ranks.
    feed([record(1, b"P-1", snapshot("P-1", 2, crew=cit, status="dispatched")),
          record(2, b"P-1", snapshot("P-1", 3, crew=cit))])
    assert gains == [1]
    # Busy in one batch, free in the next: a gain.
    feed([record(3, b"P-1", snapshot("P-1", 4, crew=cit, status="dispatched"))])
    feed([record(4, b"P-1", snapshot("P-1", 5, crew=cit))])
    assert gains == [1, 1]
    assert invalid_count(metrics) == 0
