"""Where the bridge's time goes while it drains a backlog: py-spy on the bridge process, summarised.

py-spy samples the real subprocess from outside (no instrumentation inside, ``--nonblocking`` so the target is
never paused), from the moment the bridge has joined its group until the backlog is drained. The summary groups
samples by the functions on the stack: inclusive share (on the stack at all) and self share (the leaf).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench.phases import Backlog, Bench

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")

# Where a sample belongs: the first category (in this order) with a frame anywhere on the stack, so a unit
# record's pydantic validation counts as roster work and a log call inside the processor as logging.
CATEGORIES = (
    ("logging (structlog / stdlib)", ("structlog/", "logging/__init__.py", "observability.py")),
    ("metrics (prometheus_client)", ("prometheus_client/",)),
    ("roster apply (unit records)", ("roster/table.py", "service.py:_on_unit_record")),
    ("decode + validate (msgspec, pydantic on refusal)", ("codec.py:decode_incident", "structs.py:decode_incident_event",
                                                   "pydantic/main.py:model_validate_json")),
    ("triage", ("triage/",)),
    ("ranking", ("recommend/",)),
    ("outcome store (SQLite)", ("outcomes/", "sqlite3/")),
    ("output encode (orjson, record building)", ("pipeline.py:recommendation_record", "processor.py:_publish",
                                                  "cloudevents.py")),
    ("produce (aiokafka producer)", ("aiokafka/producer/",)),
    ("consume (aiokafka fetch, record parsing)", ("aiokafka/consumer/", "aiokafka/record/")),
    ("kafka protocol, event loop, service glue", ("aiokafka/", "asyncio/")),
)


def pyspy_binary() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return found if Path(found).exists() else None


async def profile_drain(bench: Bench, backlog: Backlog, out: Path, rate: int = 200,
                        timeout: float = 600) -> dict[str, Any]:
    binary = pyspy_binary()
    if binary is None:
        raise RuntimeError("py-spy is not installed (pip install py-spy)")
    measured = bench.bridge(backlog.incidents_topic, backlog.units_topic, "WARNING", backlog.counts)
    await measured.start()
    spy = None
    try:
        await measured.wait(measured.ready, 120, "group join")
        spy = await asyncio.create_subprocess_exec(
            binary, "record", "--pid", str(measured.pid), "--format", "raw", "--rate", str(rate), "--nonblocking",
            "--output", str(out), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        await measured.wait(measured.drained, timeout, "drain")
    finally:
        if spy is not None and spy.returncode is None:
            spy.send_signal(signal.SIGINT)
            await asyncio.wait_for(spy.wait(), 30)
        await measured.stop()
    summary = summarise(out)
    summary["drain"] = measured.drain
    return summary


def _frame(raw: str) -> str:
    """``func (path/to/file.py:123)`` -> ``pkg/file.py:func`` (last two path parts), lines merged."""
    m = _FRAME.match(raw.strip())
    if not m:
        return raw.strip()
    parts = m["file"].replace("\\", "/").split("/")
    return f"{'/'.join(parts[-2:])}:{m['func']}"


def summarise(raw_path: Path, top: int = 25) -> dict[str, Any]:
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    total = 0
    for line in raw_path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";")[1:]]  # the first entry names the thread
        if not frames:
            continue
        total += count
        for name in set(frames):
            inclusive[name] += count
        leaf[frames[-1]] += count
        categories[_category(frames)] += count

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, n / total) for name, n in counter.most_common(top)] if total else []

    return {"samples": total, "inclusive": share(inclusive), "self": share(leaf),
            "categories": share(categories)}


def _category(frames: list[str]) -> str:
    for name, needles in CATEGORIES:
        if any(needle in frame for frame in frames for needle in needles):
            return name
    return "other"
