"""Decode input records, and say why one is invalid without echoing a byte of caller data.

Validation happens once, straight from bytes and with no intermediate dict: msgspec on the hot path, the pydantic
contract whenever msgspec refuses (``dispatch_bridge.contracts.structs``). A failure is classified into a short
reason code (the metric label and dead-letter header) and a reason text built only from field paths and pydantic
error types, never from the offending values.
"""

from __future__ import annotations

from pydantic import ValidationError

from dispatch_bridge.contracts.structs import IncidentEvent, decode_incident_event, is_utf8


class InvalidEvent(Exception):
    """A record that can never be processed: dead-letter it, never retry (arroyo's InvalidMessage)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def decode_incident(value: bytes | None, max_bytes: int) -> IncidentEvent:
    if value is None:
        raise InvalidEvent("empty_value", "record has no value")
    if len(value) > max_bytes:
        raise InvalidEvent("oversized", f"record of {len(value)} bytes exceeds the limit of {max_bytes}")
    try:
        return decode_incident_event(value)
    except ValidationError as exc:
        invalid = _classify(exc)
        if invalid.code == "invalid_json" and not is_utf8(value):
            invalid = InvalidEvent("invalid_utf8", "record value is not valid UTF-8")
        raise invalid from None
    except (ValueError, RecursionError) as exc:  # pragma: no cover - pydantic wraps nearly everything
        raise InvalidEvent("invalid_json", type(exc).__name__) from None


def _classify(exc: ValidationError) -> InvalidEvent:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    first = errors[0]
    kind = first["type"]
    if kind == "json_invalid":
        # The message says where parsing failed ("EOF while parsing a string at line 1 column 5") and
        # quotes no input; invalid UTF-8 surfaces here too.
        return InvalidEvent("invalid_json", _safe(first.get("msg", "")))
    if kind == "model_type" and not first["loc"]:
        return InvalidEvent("not_an_object", "the JSON value is not an object")
    if first["loc"] == ("schema_version",) and kind != "missing":
        return InvalidEvent("unsupported_schema_version", "schema_version is not a supported major version (1)")
    parts = [f"{_path(e['loc'])}: {e['type']}" for e in errors[:5]]
    more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
    return InvalidEvent("schema_violation", _safe("; ".join(parts) + more))


def _path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "<root>"


# dlq_error_reason's limit in the published dead-letter contract (deploy/asyncapi.yaml).
MAX_REASON_CHARS = 200


def _safe(message: str) -> str:
    # Parser messages quote no input, and field paths are ours, but a list index can be any size and five
    # long paths overrun the header's documented limit: cap, and say so.
    if len(message) <= MAX_REASON_CHARS:
        return message
    return message[: MAX_REASON_CHARS - 3] + "..."
