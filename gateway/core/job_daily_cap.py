"""Daily caps on job creation (ChildrenBooks' books a day), exact under concurrency."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from gateway.core.errors import QuotaExceeded
from gateway.core.job_records import JOBS
from gateway.db.models import Account

_C = JOBS.c
_A = Account.__table__.c  # type: ignore[attr-defined]


class DailyCap:
    """At most ``limit`` jobs of one family and kind per account and UTC day, counted from the
    jobs table inside the transaction that creates the job (with the account's row locked), so
    the count is exact under concurrency, survives restarts, and an undone admission (its job
    discarded) gives its place back."""

    __slots__ = ("limit",)

    def __init__(self, limit: int) -> None:
        self.limit = limit


def day_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def created_since(account_id: str, family: str, kind: str, since: datetime) -> Any:
    """How many jobs of one family and kind the account created since ``since``."""
    return (
        select(func.count())
        .select_from(JOBS)
        .where(
            _C.account_id == account_id,
            _C.family == family,
            _C.kind == kind,
            _C.created_at >= since,
        )
    )


async def check_daily(
    conn: Any, account_id: str, family: str, kind: str, cap: DailyCap, now: datetime
) -> None:
    """Raise ``QuotaExceeded`` when the account used up today's cap; call it in the transaction
    that creates the job."""
    # The account row's lock serialises this account's creates on PostgreSQL (SQLite has
    # one writer), so the count and the insert cannot interleave with another create.
    await conn.execute(select(_A.id).where(_A.id == account_id).with_for_update())
    count = await conn.scalar(created_since(account_id, family, kind, day_start(now)))
    if int(count or 0) >= cap.limit:
        raise QuotaExceeded(
            f"{cap.limit} a day reached; it resets at 00:00 UTC", limit=cap.limit, window="day"
        )
