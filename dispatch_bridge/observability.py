"""Structured logging: JSON lines off a TTY, console on one; redaction of protected health information.

Redaction is a processor placed just before the renderer and applied to stdlib records too (aiokafka,
aiohttp), so no code path can print a narrative by accident. Keys are denied by name; values under a denied
key are replaced wholesale, never partially masked.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import sys
import threading
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

# Field names that may carry caller data or secrets. Matching is on the lower-cased key.
SENSITIVE_KEYS = frozenset({
    "narrative", "narratives", "text", "comments", "comment", "note", "notes",
    "address", "location", "caller", "caller_name", "caller_phone", "callback_number", "phone",
    "name", "dob", "value", "payload", "body", "raw",
    "password", "sasl_password", "token", "authorization", "secret",
})
REDACTED = "[redacted]"


def redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in event_dict:
        if key.lower() in SENSITIVE_KEYS:
            event_dict[key] = REDACTED
    return event_dict


def _drop_exception_text(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Exceptions may quote the data that caused them (pydantic echoes input): keep the class, drop the text."""
    exc_info = event_dict.pop("exc_info", None)
    if exc_info:
        if exc_info is True:
            exc_info = sys.exc_info()
        if isinstance(exc_info, BaseException):
            event_dict["error_class"] = type(exc_info).__name__
        elif isinstance(exc_info, tuple) and exc_info[0] is not None:
            event_dict["error_class"] = exc_info[0].__name__
    return event_dict


def _json_dumps(obj: Any, **_: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    """Idempotent; called once by the entry point.

    Our own log lines go straight from structlog to stderr as orjson bytes (no stdlib logging on the hot path:
    a line costs a few microseconds instead of about twenty); third-party stdlib records (aiokafka, aiohttp)
    go through the same processors, redaction included, via ``ProcessorFormatter``.
    """
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_exception_text,
        redact,
    ]
    if use_console:
        structlog.configure(
            processors=[*shared, structlog.dev.ConsoleRenderer(colors=True)],
            logger_factory=structlog.PrintLoggerFactory(sys.stderr),
            wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
            cache_logger_on_first_use=True,
        )
        foreign_renderer: Any = structlog.dev.ConsoleRenderer(colors=True)
    else:
        structlog.configure(
            processors=[*shared, structlog.processors.JSONRenderer(serializer=_json_bytes)],
            logger_factory=_StderrLogger.factory,
            wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
            cache_logger_on_first_use=True,
        )
        foreign_renderer = structlog.processors.JSONRenderer(serializer=_json_dumps)
    handler = logging.StreamHandler(_Fd2Stream())
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[_stdlib_message_guard, structlog.stdlib.add_logger_name, *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, foreign_renderer],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiokafka logs every reconnect attempt at ERROR with the full exception; keep it to warnings.
    logging.getLogger("aiokafka").setLevel(max(logging.getLevelName(level), logging.WARNING))
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


# A write to a pipe of at most PIPE_BUF bytes is atomic: lines stay whole beside other processes' lines.
_WRITE_CHUNK = 4096


class _Fd2Writer:
    """Whole log lines to file descriptor 2, written together once the event loop yields.

    Not a file object captured at configuration time: that object can be swapped or closed under us (test
    runners, embedding code), and loggers are cached on first use. Each ``os.write`` holds whole lines, at most
    ``_WRITE_CHUNK`` bytes (a longer line alone), so lines stay whole when several processes share the descriptor.

    Why not a write per line: ``os.write`` releases the GIL, and a thread waiting for it (the SQLite writer with a
    batch to bind) takes it and holds it while the loop waits. At INFO a backlog batch logs hundreds of lines in one
    synchronous stretch: with a write each, the backlog drained at 0.89x the pace of WARNING with a line per flagged
    event and 0.76x with a line per event; 0.97x and 0.80x kept this way (four runs each, ``python -m bench.whatif
    --variants info,info-every-event``). Lines logged while the loop runs are kept, in order, until it next
    yields (one ``call_soon``). Written at once, after any kept: warnings and errors (the lines an operator reads
    after a crash), stdlib records (rare: aiokafka, aiohttp) and lines logged from no loop (a thread, the CLI).
    What is kept when the interpreter exits is written then; a process killed outright loses at most the INFO
    lines of the stretch it cut short, whose offsets are not committed either.
    """

    __slots__ = ("_kept", "_flush_on", "_lock")

    def __init__(self) -> None:
        self._kept: list[bytes] = []
        self._flush_on: asyncio.AbstractEventLoop | None = None  # the loop a flush is scheduled on
        self._lock = threading.Lock()  # a thread's flush must not swap the list under the loop's append

    def line(self, data: bytes, at_once: bool = False) -> None:
        """``data``: one or more whole lines, each ending in a newline; ``at_once``: written now, after any kept."""
        with self._lock:
            self._kept.append(data)
        loop = None if at_once else _running_loop()
        if loop is None:
            self.flush()
        elif self._flush_on is not loop:  # none scheduled, or on a loop that closed before running it
            self._flush_on = loop
            loop.call_soon(self.flush)

    def flush(self) -> None:
        with self._lock:
            self._flush_on = None
            kept, self._kept = self._kept, []
        chunk: list[bytes] = []
        size = 0
        for data in kept:
            if chunk and size + len(data) > _WRITE_CHUNK:
                _write_all(b"".join(chunk))
                chunk, size = [], 0
            chunk.append(data)
            size += len(data)
        if chunk:
            _write_all(b"".join(chunk))


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _write_all(data: bytes) -> None:
    while data:
        data = data[os.write(2, data):]


_FD2 = _Fd2Writer()
atexit.register(_FD2.flush)


class _StderrLogger:
    """structlog's logger: each rendered line to ``_FD2``, kept until the loop yields below WARNING."""

    __slots__ = ()

    def msg(self, message: bytes) -> None:
        _FD2.line(message + b"\n")

    def urgent(self, message: bytes) -> None:
        _FD2.line(message + b"\n", at_once=True)

    log = debug = info = msg
    warn = warning = error = critical = exception = fatal = failure = urgent

    @staticmethod
    def factory(*_: Any) -> _StderrLogger:
        return _STDERR_LOGGER


_STDERR_LOGGER = _StderrLogger()


class _Fd2Stream:
    """The stdlib handler's stream: through ``_FD2`` too (at once), so that its lines keep their order among ours."""

    def write(self, text: str) -> int:
        _FD2.line(text.encode("utf-8", "replace"), at_once=True)
        return len(text)

    def flush(self) -> None:
        pass


def _json_bytes(obj: Any, **_: Any) -> bytes:
    return orjson.dumps(obj, default=str)


def _stdlib_message_guard(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Third-party log messages are free text we do not control: keep them short and single-line."""
    event = event_dict.get("event")
    if isinstance(event, str) and len(event) > 300:
        event_dict["event"] = event[:300] + "…"
    return event_dict
