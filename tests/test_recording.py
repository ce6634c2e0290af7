"""The outcome recorder never lets one record the store cannot hold stall a partition (real SQLite)."""

from __future__ import annotations

import asyncio
import datetime as dt

import orjson

from dispatch_bridge.contracts import IncidentEvent
from dispatch_bridge.domain import Assessment
from dispatch_bridge.metrics import Metrics
from dispatch_bridge.outcomes import IncidentSeen, StoreSettings, open_store
from dispatch_bridge.recording import StoreRecorder
from dispatch_bridge.roster import Roster
from dispatch_bridge.roster.config import RosterSettings
from tests.harness import T0, incident_event

CALM = Assessment(False, 0.0, "none", "v", "s" * 64)


def _event(incident_id: str) -> IncidentEvent:
    return IncidentEvent.model_validate_json(orjson.dumps(incident_event(incident_id, nature_code="THEFT")))


async def test_a_row_the_store_refuses_is_dropped_and_counted_and_the_rest_is_written(tmp_path):
    settings = StoreSettings(url=f"sqlite:///{tmp_path / 'o.db'}")
    store = await open_store(settings)
    metrics = Metrics()
    recorder = StoreRecorder(store, Roster(RosterSettings()), metrics, settings)
    try:
        good = IncidentSeen(_event("INC-OK"), CALM)
        # Built around validation, as a future contract bug might: a revision no SQL integer column holds.
        bad_incident = _event("INC-BAD").incident.model_copy(update={"revision": 2**80})
        bad = IncidentSeen(_event("INC-BAD").model_copy(update={"incident": bad_incident}), CALM)
        await asyncio.wait_for(recorder.write([good, bad], asyncio.Event(), max_backoff=0.05), timeout=30)
        assert metrics.store_rows_dropped._value.get() == 1
        assert metrics.store_retries._value.get() >= 3
        rows = await store.calls_per_hour(T0 - dt.timedelta(hours=1), T0 + dt.timedelta(hours=1))
        assert sum(count for _, _, count in rows) == 1  # INC-OK only
    finally:
        await store.close()
