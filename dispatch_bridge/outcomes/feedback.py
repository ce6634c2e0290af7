"""Validate an override reason from the HTTP API or the ``cit.feedback`` topic into a Feedback record.

Error messages name the field and the accepted values but never echo the submitted text: a note could carry
caller details, and these messages end up in HTTP responses and logs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any, get_args

from dispatch_bridge.outcomes.config import DEFAULT_REASON_CODES
from dispatch_bridge.outcomes.records import Feedback, FeedbackSource

MAX_NOTE_CHARS = 500
MAX_ID_CHARS = 200
_SOURCES = frozenset(get_args(FeedbackSource))
_FIELDS = frozenset({"incident_id", "reason_code", "note", "source", "at"})


def validate_feedback(
    payload: Mapping[str, Any],
    reason_codes: Collection[str] = DEFAULT_REASON_CODES,
    *,
    source: FeedbackSource | None = None,
    now: dt.datetime | None = None,
) -> Feedback:
    """Build a Feedback from ``{"incident_id", "reason_code", "at"?, "note"?, "source"?}`` or raise ValueError.

    ``source`` given by the caller (the route or topic that received it) wins over the payload's. ``at`` is an
    ISO 8601 time with a zone; when absent, ``now`` (injected by the edge) is used, and without it the payload
    is rejected: the store never reads the clock.
    """
    if not isinstance(payload, Mapping):
        raise ValueError("feedback must be a JSON object")
    unknown = set(payload) - _FIELDS
    if unknown:
        # Field names are caller input too (a name can be sent as a key): count them, never echo them.
        raise ValueError(f"{len(unknown)} unknown feedback field(s); allowed: {sorted(_FIELDS)}")

    incident_id = payload.get("incident_id")
    if not isinstance(incident_id, str) or not incident_id.strip() or len(incident_id) > MAX_ID_CHARS:
        raise ValueError(f"incident_id must be a non-empty string of at most {MAX_ID_CHARS} characters")

    reason = payload.get("reason_code")
    if not isinstance(reason, str):
        raise ValueError(f"reason_code is required; one of: {', '.join(reason_codes)}")
    reason = reason.strip().lower()
    if reason not in reason_codes:
        raise ValueError(f"unknown reason_code; expected one of: {', '.join(reason_codes)}")

    chosen = source if source is not None else payload.get("source", "api")
    if chosen not in _SOURCES:
        raise ValueError(f"source must be one of: {', '.join(sorted(_SOURCES))}")

    note = payload.get("note")
    if note is not None:
        if not isinstance(note, str):
            raise ValueError("note must be a string")
        if len(note) > MAX_NOTE_CHARS:
            raise ValueError(f"note must be at most {MAX_NOTE_CHARS} characters")
        note = note.strip() or None

    return Feedback(
        incident_id=incident_id.strip(),
        reason_code=reason,
        source=chosen,
        at=_parse_at(payload.get("at"), now),
        note=note,
    )


def _parse_at(raw: Any, now: dt.datetime | None) -> dt.datetime:
    if raw is None:
        if now is None:
            raise ValueError("at is required (ISO 8601 time with a zone)")
        return now
    if isinstance(raw, dt.datetime):
        value = raw
    elif isinstance(raw, str):
        try:
            value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("at must be an ISO 8601 time with a zone, e.g. 2026-03-01T14:05:00Z") from None
    else:
        raise ValueError("at must be an ISO 8601 time with a zone, e.g. 2026-03-01T14:05:00Z")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("at must carry a time zone (e.g. Z or +01:00)")
    return value
