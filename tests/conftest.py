"""Shared fixtures: a fresh database per test (SQLite file or a new PostgreSQL database) and a
Redis key prefix per test. Without PostgreSQL/Redis the distributed half is skipped, unless
STORYGATE_REQUIRE_SERVICES=1 (CI), where their absence fails the run."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.db.engine import Database
from gateway.db.migrate import upgrade
from gateway.settings import require_services_env, test_service_urls

PG_ADMIN_URL, REDIS_URL = test_service_urls()


def _pg_dsn(dbname: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{dbname}"


async def _pg_available() -> str | None:
    try:
        import asyncpg

        conn = await asyncio.wait_for(asyncpg.connect(PG_ADMIN_URL), 3)
        await conn.close()
        return None
    except Exception as exc:
        return f"PostgreSQL unavailable at {PG_ADMIN_URL}: {exc}"


async def _redis_available() -> str | None:
    try:
        import redis.asyncio as aioredis

        client = aioredis.from_url(REDIS_URL)
        await asyncio.wait_for(client.ping(), 3)
        await client.aclose()
        return None
    except Exception as exc:
        return f"Redis unavailable at {REDIS_URL}: {exc}"


def need(reason: str | None) -> None:
    """Skip for a missing service, or fail when CI demands the services."""
    if reason is None:
        return
    if require_services_env():
        pytest.fail(f"STORYGATE_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


async def create_pg_database() -> str:
    """A new empty PostgreSQL database; returns its SQLAlchemy URL."""
    import asyncpg

    name = "sg_test_" + secrets.token_hex(6)
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return "postgresql+asyncpg://" + _pg_dsn(name).split("://", 1)[1]


async def drop_pg_database(url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """URL of a fresh, migrated PostgreSQL database, dropped afterwards."""
    need(await _pg_available())
    url = await create_pg_database()
    db = Database(url)
    await upgrade(db.writer)
    await db.close()
    try:
        yield url
    finally:
        await drop_pg_database(url)


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> AsyncIterator[str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'storygate.db'}"
    db = Database(url)
    await upgrade(db.writer)
    await db.close()
    yield url


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    need(await _redis_available())
    yield REDIS_URL


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A key prefix unique to the test; every key under it is deleted afterwards."""
    import redis.asyncio as aioredis

    prefix = "sgtest:" + secrets.token_hex(6)
    yield prefix
    client = aioredis.from_url(redis_url)
    async for key in client.scan_iter(match=prefix + "*", count=500):
        await client.delete(key)
    await client.aclose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """The one database fixture the core suite runs over: embedded and distributed."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'storygate.db'}"
        database = Database(url)
        await upgrade(database.writer)
        try:
            yield database
        finally:
            await database.close()
        return
    need(await _pg_available())
    url = await create_pg_database()
    database = Database(url)
    try:
        await upgrade(database.writer)
        yield database
    finally:
        await database.close()
        await drop_pg_database(url)


@pytest.fixture
async def account_id(db: Database) -> str:
    """A bare account row, for services that hang off one."""
    from sqlalchemy import insert

    from gateway.db.models import Account, utcnow

    acc = "acc_" + secrets.token_hex(6)
    async with db.write() as conn:
        await conn.execute(
            insert(Account).values(id=acc, name="test", profile={}, created_at=utcnow())
        )
    return acc
