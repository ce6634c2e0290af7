"""The two drivers behind the store: aiosqlite (embedded default) and asyncpg (production, several instances).

Each offers the same three things to the shared SQL layer: a transaction with execute / executemany / fetch,
reads outside a transaction, and close. Nothing here knows the schema.
"""

from __future__ import annotations

import asyncio
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import aiosqlite
import asyncpg

from dispatch_bridge.outcomes.sql import POSTGRESQL, SQLITE, Dialect

Row = Sequence[Any]
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


# ---------------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _sqlite_sql(sql: str) -> str:
    return SQLITE.rewrite(sql)


class _SqliteTransaction:
    __slots__ = ("_conn",)

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> int:
        cursor = await self._conn.execute(_sqlite_sql(sql), args)
        count = cursor.rowcount
        await cursor.close()
        return count

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            await self._conn.executemany(_sqlite_sql(sql), rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self._conn.execute(_sqlite_sql(sql), args) as cursor:
            return list(await cursor.fetchall())


class SqliteBackend(Backend):
    """One writer connection and one reader connection (WAL lets reads run beside a batch write).

    aiosqlite runs each connection on its own thread, so the event loop never blocks on disk.
    """

    dialect = SQLITE

    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self._writer = writer
        self._reader = reader
        # One connection cannot hold two transactions: writes from concurrent tasks take turns.
        self._write_lock = asyncio.Lock()

    @classmethod
    async def connect(cls, url: str) -> SqliteBackend:
        path = url.removeprefix("sqlite:///")
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN / COMMIT ourselves, so a batch is exactly one transaction.
        writer = await aiosqlite.connect(path, isolation_level=None)
        await writer.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process crash; only an OS crash can lose the last commits.
        await writer.execute("PRAGMA synchronous=NORMAL")
        await writer.execute("PRAGMA busy_timeout=5000")
        reader = writer
        if path != ":memory:":
            reader = await aiosqlite.connect(path, isolation_level=None)
            await reader.execute("PRAGMA busy_timeout=5000")
            await reader.execute("PRAGMA query_only=ON")
        return cls(writer, reader)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._write_lock:
            # IMMEDIATE takes the write lock up front, so two processes on one file fail fast, not mid-batch.
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteTransaction(self._writer)
            except BaseException:
                await self._writer.execute("ROLLBACK")
                raise
            await self._writer.execute("COMMIT")

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self._reader.execute(_sqlite_sql(sql), args) as cursor:
            return list(await cursor.fetchall())

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
            await self._conn.executemany(sql, rows)

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
        await self._pool.close()
