"""The in-memory premise index answers exactly what the store's premise query answers (both backends)."""

from __future__ import annotations

import datetime as dt

import pytest

from dispatch_bridge.contracts import Location
from dispatch_bridge.outcomes import IncidentSeen, PremiseIndex, StoreSettings
from tests.pg import pg_server, pg_url, store_url  # noqa: F401
from tests.test_store import ADDRESS, CALM, CRISIS, T0, event, opened

STORY = [
    ("P1", 30, "EDP", "1210 N Main St", (), CRISIS),
    ("P2", 59, "EDP", "1299 N MAIN ST #2", (), CRISIS),
    ("P3", 61, "EDP", "1234 N Main St", (), CRISIS),   # outside the window
    ("P4", 1, "EDP", "1300 N Main St", (), CRISIS),    # the next block
    ("P5", 2, "NOISE", "1234 N Main St", (), CALM),    # not a crisis
    ("P6", 3, "DISTURB", "1250 N Main St", ("CRISIS",), CALM),  # ended as a crisis per the CAD
]


def _records():
    return [IncidentSeen(event(i, 0, T0 - dt.timedelta(days=days), nature, address=address, disposition=disp), a)
            for i, days, nature, address, disp, a in STORY]


async def test_index_filled_from_traffic_and_from_the_store_match_the_store(store_url):  # noqa: F811
    settings = StoreSettings(url=store_url, premise_window_days=60, premise_half_life_days=30)
    store = await opened(store_url, premise_window_days=60, premise_half_life_days=30)
    try:
        records = _records()
        await store.write(records)
        from_traffic = PremiseIndex(settings)
        for record in records:
            from_traffic.observe(record.event.incident, record.event.occurred_at, record.assessment.crisis)
        from_store = PremiseIndex(settings)
        from_store.load(await store.recent_premises(T0 - dt.timedelta(days=90)))
        here = Location(address=ADDRESS, beat="B1")
        for at in (T0, T0 - dt.timedelta(days=2), T0 + dt.timedelta(days=29)):
            expected = await store.premise_history(here, at, incident_id="SELF")
            assert from_traffic.lookup(here, at, "SELF") == expected
            assert from_store.lookup(here, at, "SELF") == expected
        assert from_traffic.lookup(here, T0, "SELF").crisis_calls == 3
        # The asking call never counts itself.
        assert from_traffic.lookup(here, T0, "P1").crisis_calls == 2
        # What triage asks on the hot path: the same count, without the history's other fields.
        for at in (T0, T0 - dt.timedelta(days=2), T0 - dt.timedelta(days=31), T0 + dt.timedelta(days=29)):
            for asking in ("SELF", "P1", "P2", "P6", "P4"):
                for index in (from_traffic, from_store):
                    assert index.crisis_calls(here, at, asking) == index.lookup(here, at, asking).crisis_calls
        assert from_traffic.crisis_calls(here, T0, "P1") == 2
        assert from_traffic.crisis_calls(Location(address="1 Nowhere Rd"), T0, "X") == 0
    finally:
        await store.close()


def test_prune_forgets_calls_out_of_every_window_and_disabled_answers_none():
    index = PremiseIndex(StoreSettings())
    for record in _records():
        index.observe(record.event.incident, record.event.occurred_at, record.assessment.crisis)
    assert len(index) == 5
    assert index.prune(T0 - dt.timedelta(days=10)) == 3
    assert len(index) == 2
    off = PremiseIndex(StoreSettings(premise_enabled=False))
    assert off.lookup(Location(address=ADDRESS), T0, "X") is None
    assert off.crisis_calls(Location(address=ADDRESS), T0, "X") is None


@pytest.mark.parametrize("granularity,expected", [("block", "block:1200 BLOCK N MAIN ST"), ("beat", "beat:B1")])
def test_keys_follow_the_configured_granularity(granularity, expected):
    index = PremiseIndex(StoreSettings(location_granularity=granularity))
    assert index.key(Location(address="1234 N Main St", beat="b1")) == expected


class _Reference:
    """The index as first written (places and calls by name, times as datetimes): what the compact one must answer."""

    def __init__(self, window_days: int) -> None:
        self.window = dt.timedelta(days=window_days)
        self.calls: dict[str, dict[str, dt.datetime]] = {}

    def add(self, key: str, incident_id: str, at: dt.datetime) -> None:
        calls = self.calls.setdefault(key, {})
        if incident_id not in calls or at < calls[incident_id]:
            calls[incident_id] = at

    def times(self, key: str, at: dt.datetime, incident_id: str) -> list[dt.datetime]:
        return [t for i, t in self.calls.get(key, {}).items() if i != incident_id and at - self.window <= t < at]

    def prune(self, before: dt.datetime) -> int:
        dropped = 0
        for key in list(self.calls):
            for incident_id in [i for i, t in self.calls[key].items() if t < before]:
                del self.calls[key][incident_id]
                dropped += 1
            if not self.calls[key]:
                del self.calls[key]
        return dropped


@pytest.mark.parametrize("seed", range(20))
def test_compact_index_answers_as_the_plain_one(seed):
    """Places with one call are held as a pair, with more as a dict, and go back to a pair when pruned to one:
    random adds (repeated revisions, earlier times, microseconds apart at the window's edge), prunes and
    questions give what a plain dict of datetimes gives."""
    import random

    rng = random.Random(seed)
    settings = StoreSettings(premise_window_days=3, premise_half_life_days=1)
    index, reference = PremiseIndex(settings), _Reference(3)
    places = [f"block:{100 * n} BLOCK N MAIN ST" for n in range(4)] + ["beat:B1"]
    calls = [f"P{n}" for n in range(8)]
    micro = dt.timedelta(microseconds=1)

    def when() -> dt.datetime:
        if rng.random() < 0.7:
            return T0 + dt.timedelta(hours=rng.randint(-120, 120))
        # At a window's edge, to the microsecond: the integer times must compare as the datetimes do.
        return T0 + dt.timedelta(days=rng.choice([-3, 3])) + rng.choice([-micro, 0 * micro, micro])

    for _ in range(300):
        action = rng.random()
        if action < 0.6:
            key, incident_id, at = rng.choice(places), rng.choice(calls), when()
            index.add(key, incident_id, at)
            reference.add(key, incident_id, at)
        elif action < 0.65:
            before = when()
            assert index.prune(before) == reference.prune(before)
        else:
            key, asking, at = rng.choice(places), rng.choice([*calls, "SELF"]), when()
            location = Location(beat="B1") if key.startswith("beat:") else Location(address=key.removeprefix("block:"))
            assert index.key(location) == key
            times = reference.times(key, at, asking)
            assert index.crisis_calls(location, at, asking) == len(times)
            history = index.lookup(location, at, asking)
            assert history.crisis_calls == len(times)
            assert history.last_at == max(times, default=None)
            assert history.weighted == round(sum(0.5 ** ((at - t).total_seconds() / 86_400.0) for t in times), 4)
        assert len(index) == sum(map(len, reference.calls.values()))
