"""The tables' feeds, a partition's batch at a time: ``cad.units`` and ``cit.personnel`` records into the ``Roster``,
and the team channel's own records into its ``TeamChannelLedger``.

A table is not a stream: a bad record cannot be skipped past by a commit (there is none), and the next record of
the same key replaces it, so a bad one is counted and logged rather than dead-lettered. Every record is decoded
(and so counted if bad); the roster then applies each unit once per batch, from its newest snapshot
(``roster.newest_per_unit``), and the batch's net change is what asks for a re-ranking: a unit busy and free
again within one batch gained nothing, and its AVL moves alone never re-rank. Draining a backlog, a batch holds
about nine snapshots per unit: in process a unit record costs 8.8 us this way against 12.0 us decoded and applied
one by one (10 alternating rounds), decoding being most of what is left.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import structlog
from aiokafka import ConsumerRecord

from dispatch_bridge.contracts.structs import decode_unit_status
from dispatch_bridge.roster import Roster, RosterChange, needs_rerank, newest_per_unit
from dispatch_bridge.roster.table import IGNORED

log = structlog.get_logger(__name__)

BatchHandler = Callable[[Sequence[ConsumerRecord]], None]


def unit_feed(roster: Roster, invalid: Any, on_gain: Callable[[], None]) -> BatchHandler:
    """``cad.units``: JSON unit snapshots, and tombstones (null value, key = unit id) that remove a unit.

    ``invalid`` is the metric child counting unreadable records; ``on_gain`` is called when the batch gained
    CIT or team capacity (see ``roster.needs_rerank``).
    """

    def handle(records: Sequence[ConsumerRecord]) -> None:
        change = IGNORED
        start = 0
        for end, record in enumerate(records):
            if record.value is None:
                # A tombstone orders what comes before it and after it: apply the snapshots before it first.
                change |= _apply_newest(roster, records[start:end], invalid)
                change |= roster.apply_unit_record(record.key, None)
                start = end + 1
        change |= _apply_newest(roster, records[start:] if start else records, invalid)
        if needs_rerank(change):
            on_gain()

    return handle


def record_feed(table: str, apply: Callable[[bytes | None, bytes | None], RosterChange | None], invalid: Any,
                on_gain: Callable[[], None] | None = None) -> BatchHandler:
    """A table applied record by record: ``cit.personnel`` (a few records a day, nothing to coalesce) into the
    roster, or the team channel read back into its ledger (whose ``apply`` changes no roster: ``on_gain`` None)."""

    def handle(records: Sequence[ConsumerRecord]) -> None:
        change = IGNORED
        for record in records:
            try:
                applied = apply(record.key, record.value)
            except ValueError as exc:  # pydantic's ValidationError and PersonnelFormatError are ValueErrors
                _invalid(invalid, table, record, exc)
                continue
            if applied is not None:
                change |= applied
        if on_gain is not None and needs_rerank(change):
            on_gain()

    return handle


def _apply_newest(roster: Roster, records: Sequence[ConsumerRecord], invalid: Any) -> RosterChange:
    change = IGNORED
    for status, record in newest_per_unit(_decoded(records, invalid)):
        try:
            change |= roster.apply_unit(status)
        except ValueError as exc:  # the roster refused it (as a record applied alone would have been)
            _invalid(invalid, "units", record, exc)
    return change


def _decoded(records: Sequence[ConsumerRecord], invalid: Any) -> Iterator[tuple[Any, ConsumerRecord]]:
    """Each record's snapshot, decoded as it is reached: only each unit's newest so far stays alive (a
    batch's thousands of decoded snapshots held at once cost the garbage collector more than they save)."""
    for record in records:
        try:
            yield decode_unit_status(record.value), record
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            _invalid(invalid, "units", record, exc)


def _invalid(invalid: Any, table: str, record: ConsumerRecord, exc: Exception) -> None:
    invalid.inc()
    # The class only: a validation message can quote the record's content.
    log.warning("table_record_invalid", table=table, partition=record.partition, offset=record.offset,
                error_class=type(exc).__name__)
