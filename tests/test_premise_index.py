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
