"""The two drivers behind the store: SQLite (embedded default, the standard library's sqlite3 on its own thread)
and asyncpg (production, several instances).

Each offers the same three things to the shared SQL layer: a transaction with execute / executemany / fetch,
reads outside a transaction, and close. Nothing here knows the schema.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Any, Protocol, TypeVar

import asyncpg

from dispatch_bridge.outcomes.sql import POSTGRESQL, SQLITE, Dialect

Row = Sequence[Any]
_T = TypeVar("_T")
# PostgreSQL: connecting, one statement of a batch write (a 1,000-row batch takes tens of ms), closing.
CONNECT_TIMEOUT_SECONDS = 10.0
WRITE_TIMEOUT_SECONDS = 60.0
CLOSE_TIMEOUT_SECONDS = 5.0
_ROWS_AFFECTED = re.compile(r"(\d+)$")


class Transaction(Protocol):
    async def execute(self, sql: str, *args: Any) -> int: ...
    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...
    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...


class Backend(ABC):
    dialect: Dialect

    @abstractmethod
    def transaction(self) -> Any:
        """An async context manager yielding a Transaction; commits on exit, rolls back on error."""

    @abstractmethod
    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    @abstractmethod
    async def close(self) -> None: ...

    async def write_batch(self, statements: Sequence[tuple[str, Sequence[Sequence[Any]]]]) -> None:
        """Run each statement over its rows (statements without rows skipped), all in one transaction."""
        async with self.transaction() as tx:
            for sql, rows in statements:
                await tx.executemany(sql, rows)


# ---------------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _sqlite_sql(sql: str) -> str:
    return SQLITE.rewrite(sql)


class _SqliteThread:
    """One sqlite3 connection and the one thread it lives on (sqlite3 objects stay on the thread that made them).

    Every call runs a function of the connection on that thread, so the event loop never blocks on disk. A
    batch write is one hand-off (BEGIN, every statement, COMMIT), not one per statement: for live traffic, a few
    calls per batch, the hand-offs were most of the write (three crisis calls: 1.25 ms of work, 0.55 ms now).
    """

    def __init__(self, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._conn: sqlite3.Connection | None = None

    async def open(self, path: str, *pragmas: str) -> _SqliteThread:
        def connect() -> sqlite3.Connection:
            # isolation_level=None: we issue BEGIN / COMMIT ourselves, so a batch is exactly one transaction.
            conn = sqlite3.connect(path, isolation_level=None)
            for pragma in pragmas:
                conn.execute(pragma)
            return conn

        self._conn = await asyncio.get_running_loop().run_in_executor(self._executor, connect)
        return self

    async def call(self, fn: Callable[..., _T], *args: Any) -> _T:
        """``fn(connection, *args)`` on the connection's thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, self._conn, *args)

    async def close(self) -> None:
        if self._conn is not None:
            await self.call(sqlite3.Connection.close)
            self._conn = None
        self._executor.shutdown(wait=False)


def _execute(conn: sqlite3.Connection, sql: str, args: Sequence[Any]) -> int:
    cursor = conn.execute(sql, args)
    try:
        return cursor.rowcount
    finally:
        cursor.close()


def _fetch(conn: sqlite3.Connection, sql: str, args: Sequence[Any]) -> list[Row]:
    cursor = conn.execute(sql, args)
    try:
        return cursor.fetchall()
    finally:
        cursor.close()


# Multi-row statements of these sizes, largest first (at most 64 x 21 parameters): a 1,000-row batch is about
# twenty statements, and the few distinct texts stay in the connection's statement cache. Not larger: each size of
# each statement stays prepared there, and 256-row ones raised the million-event replay's peak RSS by about 4 MB
# (129 MB in three runs, 125 MB in three with 64) for a few milliseconds per 1,000 rows.
_CHUNK_SIZES = (64, 16, 4, 1)
# "VALUES ($1, $2, ..., $n)" in the shared SQL, before the SQLite rewrite; anything else keeps executemany.
_ROW_VALUES = re.compile(r"VALUES \((\$\d+(?:, \$\d+)*)\)")


class _MultiRowInsert:
    """One ``INSERT .. VALUES (..) [ON CONFLICT ..]`` run over many rows as a few multi-row statements.

    Why not ``executemany``: sqlite3 releases the GIL around every row's step and must win it back for the next
    row, so while the event loop is busy each row waits for the loop's next GIL release (a 1,000-row batch: 7 ms
    alone, 140-550 ms beside a busy loop, measured). A multi-row statement binds its rows in one call and steps
    once. SQLite applies the rows of one statement in order, each meeting the rows before it, so upserts of
    several revisions of one key merge exactly as they do row by row (tests/test_store.py checks both agree).
    """

    __slots__ = ("_texts",)

    def __init__(self, head: str, width: int, tail: str) -> None:
        row = "(" + ", ".join("?" * width) + ")"
        # The statement for each chunk size (a few KB each, built once per statement).
        self._texts = {size: head + ", ".join([row] * size) + tail for size in _CHUNK_SIZES}

    @classmethod
    def of(cls, sql: str) -> _MultiRowInsert | None:
        match = _ROW_VALUES.search(sql)
        if match is None or "$" in sql[:match.start()] or "$" in sql[match.end():]:
            return None
        params = [int(p.strip()[1:]) for p in match.group(1).split(",")]
        if params != list(range(1, len(params) + 1)):
            return None
        return cls(sql[:match.start()] + "VALUES ", len(params), sql[match.end():])

    def run(self, conn: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> None:
        start, left = 0, len(rows)
        for size, text in self._texts.items():
            while left >= size:
                conn.execute(text, list(chain.from_iterable(rows[start:start + size])))
                start += size
                left -= size


@lru_cache(maxsize=256)
def _multi_row_insert(sql: str) -> _MultiRowInsert | None:
    return _MultiRowInsert.of(sql)


def _run_many(conn: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """One shared-SQL statement over every row, in order."""
    insert = _multi_row_insert(sql)
    if insert is not None:
        insert.run(conn, rows)
    else:
        conn.executemany(_sqlite_sql(sql), rows)


def _write_all(conn: sqlite3.Connection, work: list[tuple[str, Sequence[Sequence[Any]]]]) -> None:
    """``work``: (shared SQL, rows) pairs, all in one transaction."""
    _begin(conn)
    try:
        for sql, rows in work:
            _run_many(conn, sql, rows)
    except BaseException:
        _rollback(conn)
        raise
    _commit(conn)


def _begin(conn: sqlite3.Connection) -> None:
    # A transaction left open (its ROLLBACK lost to a second cancel at shutdown) would refuse every BEGIN from
    # now on: end it first. IMMEDIATE takes the write lock up front, so two processes on one file fail fast,
    # not mid-batch.
    _rollback(conn)
    conn.execute("BEGIN IMMEDIATE")


def _commit(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


class _SqliteTransaction:
    __slots__ = ("_conn",)

    def __init__(self, conn: _SqliteThread) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> int:
        return await self._conn.call(_execute, _sqlite_sql(sql), args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            await self._conn.call(_run_many, sql, rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return await self._conn.call(_fetch, _sqlite_sql(sql), args)


class SqliteBackend(Backend):
    """One writer connection and one reader connection (WAL lets reads run beside a batch write), each on its
    own thread (``_SqliteThread``)."""

    dialect = SQLITE

    def __init__(self, writer: _SqliteThread, reader: _SqliteThread) -> None:
        self._writer = writer
        self._reader = reader
        # One connection cannot hold two transactions: writes from concurrent tasks take turns.
        self._write_lock = asyncio.Lock()

    @classmethod
    async def connect(cls, url: str) -> SqliteBackend:
        path = url.removeprefix("sqlite:///")
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # NORMAL in WAL mode survives a process crash; only an OS crash can lose the last commits.
        writer = await _SqliteThread("sqlite-writer").open(
            path, "PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=5000")
        reader = writer
        if path != ":memory:":
            try:
                reader = await _SqliteThread("sqlite-reader").open(
                    path, "PRAGMA busy_timeout=5000", "PRAGMA query_only=ON")
            except BaseException:
                await writer.close()
                raise
        return cls(writer, reader)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._write_lock:
            try:
                # Inside the try: a cancel while BEGIN is on its way still rolls back once it has run (the
                # thread runs calls in order), instead of leaving the connection inside a transaction.
                await self._writer.call(_begin)
                yield _SqliteTransaction(self._writer)
            except BaseException:
                # Shielded: a second cancel must not drop the rollback before it reaches the thread.
                await asyncio.shield(self._writer.call(_rollback))
                raise
            await asyncio.shield(self._writer.call(_commit))

    async def write_batch(self, statements: Sequence[tuple[str, Sequence[Sequence[Any]]]]) -> None:
        work = [(sql, rows) for sql, rows in statements if rows]
        if work:
            async with self._write_lock:
                await self._writer.call(_write_all, work)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return await self._reader.call(_fetch, _sqlite_sql(sql), args)

    async def close(self) -> None:
        if self._reader is not self._writer:
            await self._reader.close()
        await self._writer.close()


# ---------------------------------------------------------------------------------------------------------------


class _PgTransaction:
    __slots__ = ("_conn",)

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> int:
        status = await self._conn.execute(sql, *args)
        match = _ROWS_AFFECTED.search(status)
        return int(match.group(1)) if match else 0

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            # asyncpg pipelines the rows over one prepared statement: one round trip per batch, not per row.
            # Bounded: a batch write is retried, so a hung one must fail. (Migrations, purges and reports are
            # not: a second instance waits out the first's migration, and a purge may legitimately take long.)
            await self._conn.executemany(sql, rows, timeout=WRITE_TIMEOUT_SECONDS)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return list(await self._conn.fetch(sql, *args))


class PostgresBackend(Backend):
    dialect = POSTGRESQL

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def connect(cls, url: str, max_size: int) -> PostgresBackend:
        pool = await asyncpg.create_pool(
            url,
            min_size=1,
            max_size=max_size,
            # A database that stops answering (a failover, a network partition that drops packets) fails a
            # connection attempt instead of hanging it (writes bound their statements too, see executemany).
            timeout=CONNECT_TIMEOUT_SECONDS,
            # UTC sessions: date_trunc('hour', ...) buckets by UTC hour on every instance.
            server_settings={"timezone": "UTC", "application_name": "dispatch-bridge-outcomes"},
        )
        return cls(pool)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield _PgTransaction(conn)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self._pool.acquire() as conn:
            return list(await conn.fetch(sql, *args))

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self._pool.close(), timeout=CLOSE_TIMEOUT_SECONDS)
        except TimeoutError:  # a connection stuck on a dead server: shutdown must not wait for it
            self._pool.terminate()
