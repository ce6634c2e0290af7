"""CIT certification records for people: from the training-records export (file) and the ``cit.personnel`` topic.

Which source wins: a personnel record (file or topic) for an officer replaces the ``cit_certified_until`` a unit
event carries for that officer, because the training records are the system of record and the CAD's copy is
often stale (a revoked certification must stop counting even if the CAD still says "until 2027"). A topic record
replaces the file record for the same officer (it is the live feed); a topic tombstone removes the topic record
and the file record, if any, applies again. Officers without any personnel record keep the unit event's value.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import yaml

# Dates as proleptic ordinals; "no bound" on either side as these sentinels (comparisons stay plain ints).
NO_START = 0
NO_END = 10**7


@dataclass(frozen=True, slots=True)
class PersonnelRecord:
    """One officer's CIT certification: certified on, expires on (inclusive), last refresher (all local dates)."""

    officer_id: str
    certified_on: dt.date | None = None
    expires_on: dt.date | None = None
    last_refresher_on: dt.date | None = None

    def window(self, refresher_interval_days: int | None) -> tuple[int, int]:
        """(first, last) local date ordinals on which the officer counts as CIT; first > last = never."""
        if self.certified_on is None and self.expires_on is None:
            return (NO_END, NO_START)  # a record without a certification: not CIT
        first = self.certified_on.toordinal() if self.certified_on else NO_START
        last = self.expires_on.toordinal() if self.expires_on else NO_END
        if refresher_interval_days is not None:
            basis = self.last_refresher_on or self.certified_on
            if basis is not None:
                last = min(last, basis.toordinal() + refresher_interval_days)
        return (first, last)


class PersonnelFormatError(ValueError):
    """A personnel file or topic record that cannot be read (the message names the field, never its value)."""


# Accepted column / key names, so an export from a training-records system loads without renaming columns.
_ALIASES: dict[str, tuple[str, ...]] = {
    "officer_id": ("officer_id", "id", "badge", "employee_id", "personnel_id"),
    "certified_on": ("cit_certified_on", "certified_on", "certification_date"),
    "expires_on": ("cit_expires_on", "expires_on", "expiration_date", "expiry_date"),
    "last_refresher_on": ("last_refresher_on", "last_refresher", "refresher_on", "last_in_service"),
}


def _date(value: Any, field: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise PersonnelFormatError(f"{field} is not an ISO date (YYYY-MM-DD)")


def _pick(row: Mapping[str, Any], field: str) -> Any:
    for name in _ALIASES[field]:
        if name in row:
            return row[name]
    return None


def record_from_mapping(row: Mapping[str, Any]) -> PersonnelRecord:
    """A record from one CSV row / YAML mapping / decoded topic value (column names as in ``_ALIASES``)."""
    officer = _pick(row, "officer_id")
    if officer is None or str(officer).strip() == "":
        raise PersonnelFormatError("officer_id is missing")
    return PersonnelRecord(
        officer_id=str(officer).strip(),
        certified_on=_date(_pick(row, "certified_on"), "cit_certified_on"),
        expires_on=_date(_pick(row, "expires_on"), "cit_expires_on"),
        last_refresher_on=_date(_pick(row, "last_refresher_on"), "last_refresher_on"),
    )


def parse_personnel_record(key: bytes | None, value: bytes) -> PersonnelRecord:
    """Decode one ``cit.personnel`` record (compacted topic, key = officer id as UTF-8).

    Value, JSON::

        {"schema_version": 1, "officer_id": "4411",
         "cit_certified_on": "2021-03-02", "cit_expires_on": "2027-03-02", "last_refresher_on": "2025-02-10"}

    ``officer_id`` may be omitted when the key carries it; when both are present they must agree. Dates are
    local calendar dates (ISO), ``cit_expires_on`` inclusive; any of them may be null. No ``cit_certified_on`` and
    no ``cit_expires_on`` means "not CIT" (e.g. certification revoked). A tombstone (null value) is not passed
    here: call ``Roster.remove_personnel(key)``. Raises ``PersonnelFormatError`` for anything else.
    """
    try:
        decoded = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise PersonnelFormatError("value is not JSON") from exc
    if not isinstance(decoded, dict):
        raise PersonnelFormatError("value is not a JSON object")
    version = decoded.get("schema_version", 1)
    if version != 1:
        raise PersonnelFormatError("unsupported schema_version")
    key_id = key.decode("utf-8", "replace").strip() if key else None
    if key_id and "officer_id" not in decoded:
        decoded["officer_id"] = key_id
    record = record_from_mapping(decoded)
    if key_id and record.officer_id != key_id:
        raise PersonnelFormatError("officer_id does not match the record key")
    return record


def load_personnel_file(path: Path) -> list[PersonnelRecord]:
    """Read a training-records export: CSV with a header row, or YAML (a list, or ``{personnel: [...]}``)."""
    text = path.read_text(encoding="utf-8-sig")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            return _records(_yaml_rows(text))
        return _records(csv.DictReader(io.StringIO(text)))
    except (yaml.YAMLError, csv.Error) as exc:
        raise PersonnelFormatError(f"{path.name} is not valid {type(exc).__module__.split('.')[0]}") from exc


def _yaml_rows(text: str) -> Iterable[Mapping[str, Any]]:
    data = yaml.safe_load(text)
    if isinstance(data, dict):
        data = data.get("personnel", data.get("officers"))
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise PersonnelFormatError("YAML personnel file must be a list of records or {personnel: [...]}")
    return data


def _records(rows: Iterable[Mapping[str, Any]]) -> list[PersonnelRecord]:
    records = []
    for line, row in enumerate(rows, start=1):
        normalised = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
        try:
            records.append(record_from_mapping(normalised))
        except PersonnelFormatError as exc:
            raise PersonnelFormatError(f"record {line}: {exc}") from exc
    return records
