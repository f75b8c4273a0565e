"""The migrations and the SQLModel tables describe the same schema, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from gateway.db.engine import Database
from gateway.db.models import ALL_TABLES


async def test_migrations_match_models(db: Database) -> None:
    def _diff(connection):  # type: ignore[no-untyped-def]
        ctx = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(ctx, ALL_TABLES)

    async with db.read() as conn:
        diff = await conn.run_sync(_diff)
    assert diff == []
