"""Safe rule changes in the running service: hot reload on file change and on SIGHUP, and shadow mode."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal

import orjson
import pytest

from dispatch_bridge.server import serve
from dispatch_bridge.service import Service
from tests.harness import REPO, TopicReader, eventually, incident_event, produce, running, settings_for

CRISIS = ["CALLER SAYS HER SON IS SUICIDAL AND HEARING VOICES, OFF HIS MEDS"]


def _copy_pack(tmp_path, name: str, version: str, threshold: str | None = None):
    target = tmp_path / name
    shutil.copytree(REPO / "rules" / "default", target)
    manifest = target / "pack.yaml"
    text = manifest.read_text().replace('version: "2026.11.1"', f'version: "{version}"')
    if threshold is not None:
        text = text.replace("include_threshold: 0.5", f"include_threshold: {threshold}")
    manifest.write_text(text)
    return target


@pytest.fixture
def pack(tmp_path):
    return _copy_pack(tmp_path, "live", "2026.11.1")


async def test_pack_edited_on_disk_goes_live_without_restart(broker, unique, tmp_path, pack):
    settings = settings_for(broker, unique, tmp_path, rules_dir=str(pack), rules={"reload_poll_seconds": 0.2})
    async with running(settings) as service, TopicReader(broker, settings.topics.recommendations) as out:
        manifest = pack / "pack.yaml"
        manifest.write_text(manifest.read_text().replace('version: "2026.11.1"', 'version: "2026.12.0"'))
        await eventually(lambda: service.rules.current.version == "2026.12.0", timeout=10)
        await produce(broker, settings.topics.incidents, [("INC-1", incident_event("INC-1", narrative=CRISIS))])
        rec = orjson.loads((await out.wait_for(lambda r: r.key == b"INC-1")).value)
        assert rec["ruleset_version"] == "2026.12.0"
        assert rec["ruleset_sha256"] == service.rules.current.sha256


async def test_sighup_reloads_the_rules(broker, unique, tmp_path, pack):
    settings = settings_for(broker, unique, tmp_path, rules_dir=str(pack), rules={"reload_poll_seconds": 0})
    service = Service(settings)
    stop = asyncio.Event()
    server = asyncio.create_task(serve(settings, service, stop))
    try:
        await eventually(lambda: service.started, timeout=30)
        manifest = pack / "pack.yaml"
        manifest.write_text(manifest.read_text().replace('version: "2026.11.1"', 'version: "2026.12.1"'))
        os.kill(os.getpid(), signal.SIGHUP)
        await eventually(lambda: service.rules.current.version == "2026.12.1", timeout=10)
        assert service.metrics.ruleset_reloads.labels("loaded")._value.get() == 1
    finally:
        stop.set()
        assert await asyncio.wait_for(server, 30) == 0


async def test_shadow_pack_disagreements_are_counted_and_listed_without_narrative(broker, unique, tmp_path, pack):
    # The candidate raises the include threshold: a call on one weak signal (score 0.5) is no longer flagged.
    shadow = _copy_pack(tmp_path, "shadow", "2027.1.0-candidate", threshold="0.9")
    (shadow / "include.test.yaml").unlink()  # its own cases no longer hold; shadow packs are not gated on them
    settings = settings_for(broker, unique, tmp_path, rules_dir=str(pack), rules={"shadow_dir": str(shadow)})
    async with running(settings) as service, TopicReader(broker, settings.topics.recommendations) as out:
        await produce(broker, settings.topics.incidents, [
            ("INC-S", incident_event("INC-S", nature_code="SUSP", narrative=["MALE ACTING PARANOID IN LOBBY"])),
            ("INC-T", incident_event("INC-T", nature_code="THEFT", narrative=["BIKE STOLEN FROM PORCH"])),
        ])
        await out.wait_for(lambda r: r.key == b"INC-S")
        await eventually(lambda: service.processor.book.get("INC-T") is not None)
        status = service.shadow.status()
        assert status["candidate"]["version"] == "2027.1.0-candidate"
        assert status["observed"] == 2
        assert status["disagreements"] == 1 and status["crisis_disagreements"] == 1
        listed = orjson.dumps(status).decode()
        assert "INC-S" in listed and "PARANOID" not in listed and "LOBBY" not in listed
        assert service.metrics.shadow_disagreements._value.get() == 1
