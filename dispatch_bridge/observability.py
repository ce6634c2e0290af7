"""Structured logging: JSON lines off a TTY, console on one; redaction of protected health information.

Redaction is a processor placed just before the renderer and applied to stdlib records too (aiokafka,
aiohttp), so no code path can print a narrative by accident. Keys are denied by name; values under a denied
key are replaced wholesale, never partially masked.
"""

from __future__ import annotations

import logging
import os
import sys
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


class _StderrLogger:
    """Writes each rendered line to file descriptor 2 with one ``write`` call.

    Not a file object captured at configuration time: that object can be swapped or closed under us (test
    runners, embedding code), and loggers are cached on first use. One unbuffered write per line also keeps
    lines whole when several processes share the descriptor.
    """

    __slots__ = ()

    def msg(self, message: bytes) -> None:
        os.write(2, message + b"\n")

    log = debug = info = warn = warning = error = critical = exception = fatal = failure = msg

    @staticmethod
    def factory(*_: Any) -> _StderrLogger:
        return _STDERR_LOGGER


_STDERR_LOGGER = _StderrLogger()


class _Fd2Stream:
    """The stdlib handler's stream, on descriptor 2 for the same reason as ``_StderrLogger``."""

    def write(self, text: str) -> int:
        return os.write(2, text.encode("utf-8", "replace"))

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
