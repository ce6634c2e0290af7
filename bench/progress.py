"""The line protocol between a measured process (bridge or passthrough) and the benchmark driver.

The measured process prints one JSON object per line on stdout: ``ready`` once it has joined its group (and, for
the bridge, read the roster), ``progress`` samples (records done, RSS, CPU seconds) every ``interval``, and
``drained`` the moment every expected record is done, with the drain's own start and end on the process's
monotonic clock. Timing inside the measured process keeps its start-up (imports, group join) out of the figure.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * _PAGE


def peak_rss_bytes() -> int:
    with open("/proc/self/status", "rb") as status:
        for line in status:
            if line.startswith(b"VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def emit(kind: str, **fields: Any) -> None:
    sys.stdout.write(orjson.dumps({"kind": kind, "t": time.monotonic(), **fields}).decode() + "\n")
    sys.stdout.flush()


class Progress:
    """Counts done records per stream; says ``drained`` once, when every stream reached its expected count."""

    def __init__(self, expected: dict[str, int]) -> None:
        self.expected = expected
        self.done = dict.fromkeys(expected, 0)
        self.started_at: float | None = None
        self.drained_at: float | None = None
        self._cpu_at_start = 0.0

    def start(self) -> None:
        if self.started_at is None:
            self.started_at = time.monotonic()
            self._cpu_at_start = time.process_time()

    def add(self, stream: str, count: int) -> None:
        self.done[stream] += count
        self._check()

    def set(self, stream: str, count: int) -> None:
        self.done[stream] = count
        self._check()

    def _check(self) -> None:
        if self.drained_at is not None or self.started_at is None:
            return
        if all(self.done[s] >= n for s, n in self.expected.items()) and any(self.expected.values()):
            self.drained_at = time.monotonic()
            seconds = self.drained_at - self.started_at
            emit("drained", seconds=seconds, cpu_seconds=time.process_time() - self._cpu_at_start,
                 done=self.done, rss=rss_bytes(), peak_rss=peak_rss_bytes())

    async def report(self, interval: float, extra: Callable[[], dict[str, Any]] | None = None) -> None:
        while True:
            emit("progress", done=self.done, rss=rss_bytes(), cpu=time.process_time(), **(extra() if extra else {}))
            await asyncio.sleep(interval)


def parse_expected(pairs: list[str]) -> dict[str, int]:
    """``["incidents=100", "units=50"]`` -> ``{"incidents": 100, "units": 50}``."""
    out = {}
    for pair in pairs:
        name, _, count = pair.partition("=")
        out[name] = int(count)
    return out
