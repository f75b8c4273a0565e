"""Async engines for SQLite (embedded) and PostgreSQL (distributed).

SQLite allows one writer at a time, so embedded mode funnels every write transaction through
one connection guarded by an asyncio lock and opened with ``BEGIN IMMEDIATE`` (other processes,
such as the CLI, wait on SQLite's busy timeout). Reads use a separate pool and WAL, so they never
wait for writers. PostgreSQL uses one pool for both and relies on row locks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine


def _sqlite_engine(url: str, immediate: bool, pool_size: int) -> AsyncEngine:
    engine = create_async_engine(
        url, pool_size=pool_size, max_overflow=0, pool_timeout=300, connect_args={"timeout": 30}
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event decide how transactions start (pysqlite's own is wrong).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """The process's connection to the one database; owned by the app or worker lifespan."""

    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._write_lock: asyncio.Lock | None = None
        if self.is_sqlite:
            self.reader = _sqlite_engine(url, immediate=False, pool_size=pool_size)
            self.writer = _sqlite_engine(url, immediate=True, pool_size=1)
            self._write_lock = asyncio.Lock()
        else:
            self.reader = create_async_engine(
                url,
                pool_size=pool_size,
                max_overflow=pool_size * 2,
                pool_timeout=120,
                pool_pre_ping=True,
            )
            self.writer = self.reader

    @property
    def dialect(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One transaction that may write; commits on success, rolls back on error.

        The ending (commit or rollback, then returning the connection) runs in its own task and
        is shielded: a job cancelled at shutdown in the middle of a transaction must not leave
        the single SQLite writer holding its lock, which would stall every later write.
        """
        if self._write_lock is None:
            async with self._transaction(self.writer) as conn:
                yield conn
            return
        async with self._write_lock, self._transaction(self.writer) as conn:
            yield conn

    @staticmethod
    @asynccontextmanager
    async def _transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
        conn = await asyncio.shield(engine.connect())
        committed = False

        async def finish() -> None:
            try:
                if committed:
                    await conn.commit()
                else:
                    await conn.rollback()
            finally:
                await conn.close()

        try:
            await conn.begin()
            yield conn
            committed = True
        finally:
            ending = asyncio.ensure_future(finish())
            await asyncio.shield(ending)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.reader.connect() as conn:
            yield conn

    async def ping(self) -> None:
        from sqlalchemy import text

        async with self.read() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.reader.dispose()
        if self.writer is not self.reader:
            await self.writer.dispose()
