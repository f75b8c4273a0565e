"""Async engines for SQLite (embedded) and PostgreSQL (distributed).

SQLite allows one writer at a time, so embedded mode funnels every write transaction through
one connection guarded by an asyncio lock and opened with ``BEGIN IMMEDIATE`` (other processes,
such as the CLI, wait on SQLite's busy timeout). Reads use a separate pool and WAL, so they never
wait for writers. PostgreSQL uses one pool for both and relies on row locks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
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

    @event.listens_for(engine.sync_engine.pool, "invalidate")
    def _on_invalidate(dbapi_conn: Any, _record: Any, _exc: BaseException | None) -> None:
        # A task cancelled inside a statement (a worker stopping, a job taken away) makes
        # SQLAlchemy drop the connection by closing it. SQLite keeps a closed connection's locks
        # while one of its statements is unfinished (an UPDATE ... RETURNING not yet read), so
        # the writer's lock would outlive the connection and stall every later write for the
        # busy timeout. Rolling back first ends the transaction and its locks.
        with suppress(Exception):
            dbapi_conn.rollback()

    return engine


class Database:
    """The process's connection to the one database; owned by the app or worker lifespan."""

    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._write_lock: asyncio.Lock | None = None
        # Connections still being opened for a caller that was cancelled meanwhile; each is
        # closed as soon as it opens (a pool of one writer must get it back).
        self._abandoned: set[asyncio.Future[Any]] = set()
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

    @asynccontextmanager
    async def _transaction(self, engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
        connecting = asyncio.ensure_future(engine.connect())
        try:
            conn = await asyncio.shield(connecting)
        except asyncio.CancelledError:
            self._abandon(connecting)
            raise
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

    def _abandon(self, connecting: asyncio.Future[AsyncConnection]) -> None:
        def close(done: asyncio.Future[AsyncConnection]) -> None:
            self._abandoned.discard(done)
            if not done.cancelled() and done.exception() is None:
                closing = asyncio.ensure_future(done.result().close())
                self._abandoned.add(closing)
                closing.add_done_callback(self._abandoned.discard)

        self._abandoned.add(connecting)
        connecting.add_done_callback(close)

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
