"""The hot-path decoders: the incident and unit contracts as msgspec Structs, with pydantic as the referee.

The pydantic models beside this module are the contract: they generate the published JSON Schemas and explain
every rejection. Decoding a 2 KB incident with them costs about 30 us, most of a CAD event's budget; msgspec
decodes and type-checks the same bytes into these Structs in about 7 us. The Structs mirror the models field for
field (same names, types, bounds and defaults; unknown fields ignored; strict: a string is never a number), so
everything downstream reads an event the same way whichever decoder built it.

The rule that keeps the two honest: **msgspec may only accept what pydantic accepts, with the same values**
(``tests/test_structs_equivalence.py`` fuzzes it). Whenever msgspec refuses, pydantic decides: it either rejects the
record with its own safe error (the dead-letter reason) or accepts something msgspec is stricter about (a time
without seconds, a duplicated key) and the result is converted to the Struct. Where the parsers would read the
same bytes differently (deep nesting or invalid UTF-8 inside an ignored field, numbers of over 4,300 digits, times
with more than six fractional digits), the record takes pydantic's path: ``_fast_path_safe`` lists them.

Team documents (service hours, service area) carry validators (time zones, shift syntax) that only the pydantic
model has; a unit record with either goes to pydantic whole and is used as the pydantic model, which reads the same.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

import msgspec
from pydantic import ValidationError

from dispatch_bridge.contracts import incident as models
from dispatch_bridge.contracts import unit as unit_models

# WireModel's str_max_length applies to every string of every contract.
Str = Annotated[str, msgspec.Meta(max_length=100_000)]
NonEmpty = Annotated[str, msgspec.Meta(min_length=1, max_length=100_000)]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
AwareTime = Annotated[dt.datetime, msgspec.Meta(tz=True)]
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]


class _Struct(msgspec.Struct, frozen=True):
    """Frozen like the pydantic models; each class also says kw_only (msgspec applies it per class)."""


class NarrativeEntry(_Struct, kw_only=True):
    at: AwareTime | None = None
    text: Str


class Location(_Struct, kw_only=True):
    address: Str | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None
    beat: Str | None = None
    district: Str | None = None


class AssignedUnit(_Struct, kw_only=True):
    unit_id: NonEmpty
    dispatched_at: AwareTime | None = None
    enroute_at: AwareTime | None = None
    on_scene_at: AwareTime | None = None
    cleared_at: AwareTime | None = None


class Incident(_Struct, kw_only=True):
    id: Id
    revision: Annotated[int, msgspec.Meta(ge=0, le=models.INT64_MAX)]
    nature_code: Str
    nature_text: Str = ""
    apco_type: Str | None = None
    priority: Annotated[int, msgspec.Meta(ge=-models.INT32_MAX, le=models.INT32_MAX)] | None = None
    determinant: Str | None = None
    caller_party: Literal["first", "second", "third", "officer", "unknown"] | None = None
    narrative: list[NarrativeEntry] = msgspec.field(default_factory=list)
    location: Location | None = None
    flags: list[Str] = msgspec.field(default_factory=list)
    units: list[AssignedUnit] = msgspec.field(default_factory=list)
    disposition: list[Str] = msgspec.field(default_factory=list)


class IncidentEvent(_Struct, kw_only=True):
    schema_version: Literal[1]
    event_id: Id
    event_type: Literal["incident.created", "incident.updated", "incident.closed"]
    occurred_at: AwareTime
    agency: Str
    incident: Incident


class UnitLocation(_Struct, kw_only=True):
    lat: Latitude
    lon: Longitude
    at: AwareTime | None = None


class CrewMember(_Struct, kw_only=True):
    id: NonEmpty
    cit_certified_until: dt.date | None = None


class UnitStatus(_Struct, kw_only=True):
    schema_version: Literal[1]
    unit_id: Id
    kind: Literal["patrol", "mobile_crisis", "co_responder", "ems"]
    status: Literal["available", "dispatched", "enroute", "on_scene", "out_of_service", "off_duty"]
    status_text: Str | None = None
    location: UnitLocation | None = None
    crew: list[CrewMember] = msgspec.field(default_factory=list)
    beat: Str | None = None
    district: Str | None = None
    updated_at: AwareTime
    # Read only to see whether they are there: a document with either is decoded by the pydantic model.
    service_hours: Any = None
    service_area: Any = None
    capacity: Annotated[int, msgspec.Meta(ge=0)] | None = None
    available_on_scene: bool | None = None
    assignment_id: Str | None = None
    assignment_priority: int | None = None
    active_assignments: Annotated[int, msgspec.Meta(ge=0)] | None = None


# What msgspec raises for bad input: its own errors, and UnicodeDecodeError for bytes that are not UTF-8.
_REFUSALS = (msgspec.MsgspecError, ValueError, RecursionError)
_incident_decoder = msgspec.json.Decoder(IncidentEvent)
_unit_decoder = msgspec.json.Decoder(UnitStatus)


# Where pydantic and msgspec read the same bytes differently, pydantic decides. Each check is linear and cheap:
# - nesting: pydantic's parser refuses more than about 200 levels anywhere, even inside a field it ignores, where
#   msgspec skips without a limit. Fewer openers than this cannot nest that deep; a call with a hundred comments
#   (or a hostile record) goes to pydantic;
# - long numbers: pydantic refuses a number with more than 4,300 digits (Python's int limit), msgspec reads it;
# - times with more than six fractional digits: msgspec rounds to the microsecond (which can carry into the next
#   second, day or year), pydantic truncates;
# - UTF-8: msgspec skips ignored values without checking it, pydantic refuses the whole document.
_MAX_OPENERS = 128
_MAX_DIGITS = 4300
# A regex for a 4,301-digit run would backtrack quadratically over long runs: map digits to "9" and search.
_DIGITS_AS_NINES = bytes(57 if 48 <= c <= 57 else 32 for c in range(256))
_LONG_NUMBER = b"9" * (_MAX_DIGITS + 1)
# A decimal point and seven digits. msgspec only reads "." fractions (a "," one is refused and goes to pydantic);
# a coordinate with seven decimals matches too and merely takes the slower path.
_SUB_MICROSECOND = re.compile(rb"\.[0-9]{7}")


def _fast_path_safe_py(value: bytes) -> bool:
    """Whether msgspec's answer is sure to be pydantic's (the list above). Every check is a byte scan: about
    2.4 us for a 2.4 KB incident, against 25 us saved."""
    if value.count(b"{") + value.count(b"[") >= _MAX_OPENERS:
        return False
    if _SUB_MICROSECOND.search(value) is not None:
        return False
    if len(value) > _MAX_DIGITS and _LONG_NUMBER in value.translate(_DIGITS_AS_NINES):
        return False
    return is_utf8(value)


def _fast_path_safe_compiled(value: bytes) -> bool:
    """The same checks in one compiled pass (``_scan.c``): about 0.8 us for a 2.4 KB incident, 0.2 for a unit."""
    verdict = _compiled_scan(value)
    return verdict == 1 or (verdict == 2 and is_utf8(value))


try:
    from dispatch_bridge.contracts._scan import scan as _compiled_scan
except ImportError:  # installed where no C compiler was at hand (setup.py): the pure-Python scan, same answers
    SCAN_COMPILED = False
    _fast_path_safe = _fast_path_safe_py
else:
    SCAN_COMPILED = True
    _fast_path_safe = _fast_path_safe_compiled


def is_utf8(value: bytes) -> bool:
    """Valid UTF-8; ASCII (nearly every CAD record) is answered at memory speed."""
    if value.isascii():
        return True
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def decode_incident_event(value: bytes) -> IncidentEvent:
    """An incident event from JSON bytes; raises ``pydantic.ValidationError`` (safe to report) when invalid."""
    if _fast_path_safe(value):
        try:
            return _incident_decoder.decode(value)
        except _REFUSALS:
            pass
    # msgspec's messages may quote the input ("Invalid enum value 'X'"): pydantic explains the rejection.
    model = models.IncidentEvent.model_validate_json(value)
    return msgspec.convert(model.model_dump(), IncidentEvent)


def decode_unit_status(value: bytes) -> UnitStatus | unit_models.UnitStatus:
    """A unit status from JSON bytes; raises ``pydantic.ValidationError`` when invalid."""
    if not _fast_path_safe(value):
        return unit_models.UnitStatus.model_validate_json(value)
    try:
        status = _unit_decoder.decode(value)
    except _REFUSALS:
        return unit_models.UnitStatus.model_validate_json(value)
    if status.service_hours is None and status.service_area is None:
        return status
    return unit_models.UnitStatus.model_validate_json(value)


__all__ = [
    "AssignedUnit",
    "CrewMember",
    "Incident",
    "IncidentEvent",
    "Location",
    "NarrativeEntry",
    "UnitLocation",
    "UnitStatus",
    "ValidationError",
    "decode_incident_event",
    "decode_unit_status",
    "is_utf8",
]
