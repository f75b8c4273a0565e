"""A lost connection to PostgreSQL or Redis, named as the core's ``Unavailable``.

Most layers name their own outages (the rate limiter, the enqueue, the idempotency store); what
escapes them — a query while PostgreSQL restarts, a Redis command on a dropped connection — is a
raw driver exception. Each family's error mapping asks this module first, so such a failure is
its "service unavailable" answer (retry later), never an internal error.
"""

from __future__ import annotations

from gateway.core.errors import CoreError, Unavailable


def _infrastructure_errors() -> tuple[type[BaseException], ...]:
    """What a lost connection to PostgreSQL or Redis surfaces as when no layer named it."""
    import asyncpg.exceptions as pg
    import redis.exceptions as rd
    import sqlalchemy.exc as sa

    return (
        ConnectionError,  # refused, reset, broken pipe
        TimeoutError,
        rd.ConnectionError,
        rd.TimeoutError,
        sa.OperationalError,
        sa.InterfaceError,
        sa.DisconnectionError,
        sa.TimeoutError,  # no pooled connection came free
        pg.PostgresConnectionError,
        pg.CannotConnectNowError,
        pg.InterfaceError,
    )


def unavailable(exc: BaseException) -> Unavailable | None:
    """The core's ``Unavailable`` for a raw failure of a backing service (the database or
    Redis restarting, paused, partitioned), so a family answers its "service unavailable"
    error (retry later) rather than an internal error; ``None`` for anything else."""
    kinds = _infrastructure_errors()
    seen: BaseException | None = exc
    for _ in range(5):  # the exception, and what it was raised from
        if seen is None or isinstance(seen, CoreError):
            return None
        if isinstance(seen, kinds):
            what = "Redis" if "redis" in type(seen).__module__ else "the database"
            return Unavailable(f"A backing service ({what}) is unreachable; retry shortly")
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    return None
