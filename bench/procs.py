"""Measured processes (the bridge, the passthrough) as seen from the driver: start, follow, stop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parents[1]


class Measured:
    """A subprocess speaking the ``bench.progress`` protocol on stdout; stderr goes to ``log_path``."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_path: Path,
                 output_topic: str = "") -> None:
        self.name = name
        self.output_topic = output_topic
        self.args = args
        self.env = env
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None
        self.ready = asyncio.Event()
        self.drained = asyncio.Event()
        self.drain: dict[str, Any] = {}
        self.samples: list[dict[str, Any]] = []
        self.assignments: list[list[int]] = []  # partitions of each group assignment, in order
        self._reader: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def latest(self) -> dict[str, Any]:
        return self.samples[-1] if self.samples else {}

    async def start(self) -> Measured:
        log = self.log_path.open("ab")
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, *self.args, cwd=REPO, env={**os.environ, **self.env},
                stdout=asyncio.subprocess.PIPE, stderr=log, start_new_session=True)
        finally:
            log.close()
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        async for line in self.process.stdout:
            try:
                message = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            kind = message.get("kind")
            if kind == "progress":
                self.samples.append(message)
            elif kind == "ready":
                self.ready.set()
            elif kind == "assigned":
                self.assignments.append(message["partitions"])
            elif kind == "drained":
                self.drain = message
                self.drained.set()

    async def wait(self, event: asyncio.Event, timeout: float, what: str) -> None:
        assert self.process is not None
        waiter = asyncio.create_task(event.wait())
        exited = asyncio.create_task(self.process.wait())
        done, _ = await asyncio.wait({waiter, exited}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        exited.cancel()
        if not event.is_set():
            state = f"exited with {self.process.returncode}" if self.process.returncode is not None else "timed out"
            raise RuntimeError(f"{self.name}: {what} {state}; see {self.log_path}")

    async def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._reader, 2)
