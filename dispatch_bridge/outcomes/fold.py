"""A batch's rows of one key folded into fewer rows, leaving exactly what the upserts would leave.

A CAD republishes the whole call on every change, so a backlog batch holds several revisions of many calls, and
each revision was one more upsert of the same incident row and of every unit row it lists. The database's work
is per row, so the store folds them here first, in the batch's order, with the rules of the statements in
``outcomes.sql`` (a change to one must change the other; tests/test_store.py compares both on real databases):

- an incident row (``UPSERT_INCIDENT``) and a premise row (``UPSERT_PREMISE``) always fold: each of their columns
  takes the least or the greatest of the rows, or the values of the row with the least or greatest of a column
  (ties to the earlier row, or the later, as the statement's comparison reads), and such choices can be made
  over a run of rows first and against the stored row after, with the same result;
- a unit row (``UPSERT_UNIT``) folds into the next row of its key only where that next row is of the same or a
  newer revision and repeats every time the first one reported. Its times keep a value once reported, and which
  value survives depends on the stored row's revision; a unit row that reports a time the next one lacks or
  contradicts is written as it is. A CAD repeats a unit's times in every later snapshot, so most fold.

Rows must arrive sorted by their key (the store sorts them, stably, so a key's rows keep the batch's order).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Row = tuple[Any, ...]

# Column positions, in the order of the statements' VALUES.
_I_FIRST_SEEN, _I_LAST_EVENT, _I_MIN_REVISION, _I_REVISION = 2, 3, 4, 7
_I_NEWEST = slice(8, 16)  # final_nature .. ended_crisis: the newest revision's
_I_FLAGGED_AT = 16
_I_FLAG = slice(16, 21)  # flagged_at .. flag_ruleset: the earliest flag's
_U_REVISION, _U_FIRST_LISTED, _U_CIT, _U_TEAM = 2, 3, 8, 9
_U_TIMES = (4, 5, 6, 7)  # dispatched_at, enroute_at, on_scene_at, cleared_at
_P_REVISION, _P_OCCURRED_AT = 2, 3


def _incident(old: Row, new: Row) -> Row:
    newest = new[_I_REVISION] >= old[_I_REVISION]
    oldest = new[_I_MIN_REVISION] < old[_I_MIN_REVISION]
    flagged = new[_I_FLAGGED_AT]
    earlier_flag = flagged is not None and (old[_I_FLAGGED_AT] is None or flagged < old[_I_FLAGGED_AT])
    return (
        old[0],
        new[1] if newest else old[1],  # agency
        min(old[_I_FIRST_SEEN], new[_I_FIRST_SEEN]),
        max(old[_I_LAST_EVENT], new[_I_LAST_EVENT]),
        *(new[4:7] if oldest else old[4:7]),  # min_revision, initial_nature, intake_crisis
        max(old[_I_REVISION], new[_I_REVISION]),
        *(new[_I_NEWEST] if newest else old[_I_NEWEST]),
        *(new[_I_FLAG] if earlier_flag else old[_I_FLAG]),
    )


def _premise(old: Row, new: Row) -> Row:
    newest = new[_P_REVISION] >= old[_P_REVISION]
    return (old[0], new[1] if newest else old[1], max(old[_P_REVISION], new[_P_REVISION]),
            min(old[_P_OCCURRED_AT], new[_P_OCCURRED_AT]))


def _unit(old: Row, new: Row) -> Row | None:
    """``old`` and ``new`` as one row, or None where ``old`` must be written as it is."""
    if new[_U_REVISION] < old[_U_REVISION]:
        return None
    for i in _U_TIMES:
        if old[i] is not None and old[i] != new[i]:
            return None
    return (*new[:3], min(old[_U_FIRST_LISTED], new[_U_FIRST_LISTED]), *new[4:8],
            max(old[_U_CIT], new[_U_CIT]), max(old[_U_TEAM], new[_U_TEAM]))


def _fold(rows: Sequence[Row], width: int, merge: Callable[[Row, Row], Row | None]) -> Sequence[Row]:
    """Adjacent rows whose first ``width`` columns are equal, merged where ``merge`` can."""
    if len(rows) < 2:
        return rows
    out: list[Row] = []
    append = out.append
    held = rows[0]
    key = held[:width]
    for row in rows[1:]:
        row_key = row[:width]
        if row_key == key:
            merged = merge(held, row)
            if merged is not None:
                held = merged
                continue
        else:
            key = row_key
        append(held)
        held = row
    append(held)
    return out


def fold_incidents(rows: Sequence[Row]) -> Sequence[Row]:
    return _fold(rows, 1, _incident)


def fold_units(rows: Sequence[Row]) -> Sequence[Row]:
    return _fold(rows, 2, _unit)


def fold_premises(rows: Sequence[Row]) -> Sequence[Row]:
    return _fold(rows, 1, _premise)
