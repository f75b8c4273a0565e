"""Embedded SQLite has one writer: a write interrupted by a cancelled task must give it back.

Workers stopping and jobs taken away cancel tasks wherever they are, inside a statement or while
a connection opens. Either way the next write, in this process or another, must get the lock at
once, not after SQLite's busy timeout or the pool's. The garbage collector is held off, since a
collection would hide the leak: an interrupted statement's cursor lives in reference cycles.
"""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import threading
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from gateway.db.engine import Database


@pytest.fixture
def no_gc() -> Iterator[None]:
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'engine.db'}")
    try:
        yield db
    finally:
        await db.close()


def _another_writer_can_begin(path: str) -> bool:
    other = sqlite3.connect(path, timeout=1, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        other.close()


async def _table(db: Database) -> None:
    async with db.write() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)"))
        await conn.execute(text("INSERT INTO t VALUES (1, 0)"))


async def test_a_write_cancelled_inside_its_statement_frees_the_writer_lock(
    sqlite_db: Database, tmp_path: Path, no_gc: None
) -> None:
    db = sqlite_db
    inside = threading.Event()

    def slow(v: int) -> int:
        inside.set()
        time.sleep(0.3)
        return v + 1

    def add_slow(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.create_function("slow", 1, slow)

    event.listen(db.writer.sync_engine, "connect", add_slow)
    await _table(db)

    async def bump() -> None:
        async with db.write() as conn:
            # RETURNING leaves the statement unfinished until its rows are read.
            await conn.execute(text("UPDATE t SET v = slow(v) WHERE id = 1 RETURNING v"))

    task = asyncio.ensure_future(bump())
    assert await asyncio.to_thread(inside.wait, 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await asyncio.to_thread(_another_writer_can_begin, str(tmp_path / "engine.db"))
    async with asyncio.timeout(5), db.write() as conn:
        await conn.execute(text("UPDATE t SET v = 7 WHERE id = 1"))
    async with db.read() as conn:
        assert await conn.scalar(text("SELECT v FROM t WHERE id = 1")) == 7


async def test_a_write_cancelled_while_connecting_gives_the_connection_back(
    sqlite_db: Database, no_gc: None
) -> None:
    db = sqlite_db
    await _table(db)
    await db.writer.dispose()  # the next write opens a new connection, which takes a while

    async def bump() -> None:
        async with db.write() as conn:
            await conn.execute(text("UPDATE t SET v = v + 1 WHERE id = 1"))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        task = asyncio.ensure_future(bump())
        await asyncio.sleep(0)  # the write is now waiting for its connection
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The pool holds one writer connection: the next write gets it once it has opened.
        async with asyncio.timeout(5), db.write() as conn:
            await conn.execute(text("UPDATE t SET v = 7 WHERE id = 1"))
    # It came back closed, not dropped for the garbage collector to reclaim.
    assert not [w for w in caught if "non-checked-in connection" in str(w.message)]
    async with db.read() as conn:
        assert await conn.scalar(text("SELECT v FROM t WHERE id = 1")) == 7
