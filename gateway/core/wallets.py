"""Value types of the ledger and the UTC calendar its monthly cycles follow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any


def month_start(moment: datetime) -> date:
    """Cycles follow the UTC calendar whatever zone the caller's clock reports in."""
    moment = moment.astimezone(UTC)
    return date(moment.year, moment.month, 1)


def next_month(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


@dataclass(frozen=True, slots=True)
class Balance:
    account_id: str
    unit: str
    monthly_allocation: int | None
    monthly_remaining: int
    monthly_used: int
    perpetual: int
    spendable: int | None
    cycle_start: date
    cycle_end: date


@dataclass(frozen=True, slots=True)
class Hold:
    id: str
    account_id: str
    unit: str
    amount: int
    job_id: str | None
    monthly_part: int
    perpetual_part: int
    state: str
    expires_at: datetime


def wallet_balance(account_id: str, unit: str, row: Any) -> Balance:
    """A Balance from a wallet row (columns monthly_allocation, monthly_remaining, perpetual,
    cycle_start)."""
    alloc, remaining, perpetual = row.monthly_allocation, row.monthly_remaining, row.perpetual
    used = 0 if alloc is None else max(0, alloc - remaining)
    spendable = None if alloc is None else remaining + perpetual
    cycle = row.cycle_start
    return Balance(
        account_id, unit, alloc, remaining, used, perpetual, spendable, cycle, next_month(cycle)
    )
