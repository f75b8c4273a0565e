"""The ledger on both databases: arithmetic, exactly-once settlement, roll-over, expiry, and
no overselling under 1,000 concurrent reservers."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlmodel import col

from gateway.core.errors import InsufficientFunds, InvalidInput, NotFound
from gateway.core.ledger import Balance, Hold, Ledger
from gateway.db.engine import Database
from gateway.db.models import LedgerEntry, Reservation, Wallet

UNIT = "sleeperhit.credits"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2025, 3, 14, 12, 0, tzinfo=UTC))


@pytest.fixture
def ledger(db: Database, clock: Clock) -> Ledger:
    return Ledger(db, hold_seconds=600, clock=clock)


async def _entries(db: Database, account_id: str, kind: str | None = None) -> int:
    stmt = (
        select(func.count())
        .select_from(LedgerEntry)
        .where(col(LedgerEntry.account_id) == account_id)
    )
    if kind is not None:
        stmt = stmt.where(col(LedgerEntry.kind) == kind)
    async with db.read() as conn:
        return int((await conn.execute(stmt)).scalar_one())


def _spend(b: Balance) -> tuple[int, int, int | None]:
    return b.monthly_remaining, b.perpetual, b.spendable


async def test_missing_wallet_grant_and_validation(ledger: Ledger, account_id: str) -> None:
    empty = await ledger.balance(account_id, UNIT)
    assert empty == Balance(account_id, UNIT, 0, 0, 0, 0, 0, date(2025, 3, 1), date(2025, 4, 1))
    assert await ledger.audit(account_id, UNIT)

    b = await ledger.grant(account_id, UNIT, 50, note="purchase")
    assert (b.monthly_allocation, b.perpetual, b.spendable) == (0, 50, 50)
    assert await ledger.balance(account_id, UNIT) == b

    for bad in (0, -5):
        with pytest.raises(InvalidInput):
            await ledger.grant(account_id, UNIT, bad)
        with pytest.raises(InvalidInput):
            await ledger.reserve(account_id, UNIT, bad)
    with pytest.raises(InvalidInput):
        await ledger.set_allocation(account_id, UNIT, -1)
    with pytest.raises(NotFound):
        await ledger.grant("acc_nobody", UNIT, 5)
    assert (await ledger.balance(account_id, UNIT)).perpetual == 50


async def test_allocation_changes_and_unlimited_wallets(
    ledger: Ledger, account_id: str, clock: Clock
) -> None:
    b = await ledger.set_allocation(account_id, UNIT, 100)
    assert (b.monthly_allocation, b.monthly_remaining, b.monthly_used) == (100, 100, 0)
    await ledger.reserve(account_id, UNIT, 30)
    b = await ledger.set_allocation(account_id, UNIT, 50)
    assert (b.monthly_remaining, b.monthly_used) == (20, 30)
    b = await ledger.set_allocation(account_id, UNIT, 10)
    assert (b.monthly_remaining, b.monthly_used) == (0, 10)  # never below 0
    b = await ledger.set_allocation(account_id, UNIT, 200)
    assert b.monthly_remaining == 190
    # Lowered while a hold was out: the hold's return never lifts the bucket over the allocation.
    hold = await ledger.reserve(account_id, UNIT, 190)
    await ledger.set_allocation(account_id, UNIT, 20)
    assert await ledger.release(hold.id)
    assert (await ledger.balance(account_id, UNIT)).monthly_remaining == 20
    assert await ledger.audit(account_id, UNIT)

    # Unlimited always admits, records the spending, and moves neither bucket.
    await ledger.grant(account_id, UNIT, 5)
    b = await ledger.set_allocation(account_id, UNIT, None)
    assert (b.monthly_allocation, b.spendable, b.monthly_used, b.perpetual) == (None, None, 0, 5)
    hold = await ledger.reserve(account_id, UNIT, 10**9, job_id="big")
    assert (hold.monthly_part, hold.perpetual_part) == (0, 0)
    await ledger.charge(account_id, UNIT, 7)
    assert await ledger.capture(hold.id)
    assert await ledger.usage(account_id, UNIT, clock.now) == 10**9 + 7 + 30
    b = await ledger.balance(account_id, UNIT)
    assert (b.monthly_remaining, b.perpetual, b.spendable) == (0, 5, None)
    # Back to a limit: a full bucket, and the perpetual balance was never touched.
    assert _spend(await ledger.set_allocation(account_id, UNIT, 3)) == (3, 5, 8)
    assert await ledger.audit(account_id, UNIT)


async def test_reserve_takes_monthly_before_perpetual(
    db: Database, ledger: Ledger, account_id: str, clock: Clock
) -> None:
    await ledger.set_allocation(account_id, UNIT, 10)
    await ledger.grant(account_id, UNIT, 20)

    a = await ledger.reserve(account_id, UNIT, 7, job_id="job-a")
    assert (a.monthly_part, a.perpetual_part, a.state) == (7, 0, "held")
    assert a.expires_at == clock.now + timedelta(seconds=600)
    assert (a.account_id, a.unit, a.amount, a.job_id) == (account_id, UNIT, 7, "job-a")
    b = await ledger.reserve(account_id, UNIT, 5, hold_seconds=5)
    assert (b.monthly_part, b.perpetual_part) == (3, 2)
    assert b.expires_at == clock.now + timedelta(seconds=5)
    c = await ledger.reserve(account_id, UNIT, 4)
    assert (c.monthly_part, c.perpetual_part) == (0, 4)
    assert _spend(await ledger.balance(account_id, UNIT)) == (0, 14, 14)

    assert await ledger.release(b.id)
    assert _spend(await ledger.balance(account_id, UNIT)) == (3, 16, 19)
    assert await ledger.capture(a.id)
    assert await ledger.capture(c.id)
    bal = await ledger.balance(account_id, UNIT)
    assert _spend(bal) == (3, 16, 19)
    assert bal.monthly_used == 7
    assert await ledger.usage(account_id, UNIT, clock.now - timedelta(minutes=1)) == 11
    assert await ledger.holds_of_job("job-a") == [replace(a, state="captured")]
    async with db.read() as conn:
        row = (await conn.execute(select(Reservation).where(col(Reservation.id) == b.id))).one()
    assert (row.amount, row.state, row.monthly_part, row.perpetual_part) == (5, "released", 3, 2)
    assert await ledger.audit(account_id, UNIT)


async def test_insufficient_funds_changes_nothing(
    db: Database, ledger: Ledger, account_id: str, clock: Clock
) -> None:
    with pytest.raises(InsufficientFunds) as missing:
        await ledger.reserve(account_id, "storymint.books", 1)
    assert (missing.value.required, missing.value.available) == (1, 0)

    await ledger.set_allocation(account_id, UNIT, 5)
    await ledger.grant(account_id, UNIT, 3)
    before, entries = await ledger.balance(account_id, UNIT), await _entries(db, account_id)
    with pytest.raises(InsufficientFunds) as exc:
        await ledger.reserve(account_id, UNIT, 9, job_id="j")
    assert (exc.value.unit, exc.value.required, exc.value.available) == (UNIT, 9, 8)
    with pytest.raises(InsufficientFunds):
        await ledger.charge(account_id, UNIT, 9)
    assert await ledger.balance(account_id, UNIT) == before
    assert await _entries(db, account_id) == entries
    assert await ledger.holds_of_job("j") == []
    assert await ledger.usage(account_id, UNIT, clock.now - timedelta(days=1)) == 0
    # Exactly the spendable amount is admitted.
    hold = await ledger.reserve(account_id, UNIT, 8)
    assert (hold.monthly_part, hold.perpetual_part) == (5, 3)


async def test_capture_and_release_are_exactly_once(
    db: Database, ledger: Ledger, account_id: str
) -> None:
    await ledger.grant(account_id, UNIT, 10)
    kept = await ledger.reserve(account_id, UNIT, 4)
    assert await ledger.capture(kept.id)
    assert not await ledger.capture(kept.id)
    assert not await ledger.release(kept.id)
    assert (await ledger.balance(account_id, UNIT)).perpetual == 6

    returned = await ledger.reserve(account_id, UNIT, 6)
    assert await ledger.release(returned.id)
    assert not await ledger.release(returned.id)
    assert not await ledger.capture(returned.id)
    assert (await ledger.balance(account_id, UNIT)).perpetual == 6
    assert not await ledger.capture("hold_unknown")
    assert not await ledger.release("hold_unknown")
    assert await ledger.audit(account_id, UNIT)

    # Racing capture against release: exactly one wins each hold.
    await ledger.set_allocation(account_id, UNIT, 20)
    await ledger.grant(account_id, UNIT, 34)
    holds = [await ledger.reserve(account_id, UNIT, 3) for _ in range(20)]
    results = await asyncio.gather(
        *(op(h.id) for h in holds for op in (ledger.capture, ledger.release))
    )
    pairs = list(zip(results[::2], results[1::2], strict=True))
    assert all(captured != released for captured, released in pairs)
    captured = sum(h.amount for h, (won, _) in zip(holds, pairs, strict=True) if won)
    assert (await ledger.balance(account_id, UNIT)).spendable == 60 - captured
    settlements = await _entries(db, account_id, "capture") + await _entries(
        db, account_id, "release"
    )
    assert settlements == len(holds) + 2  # plus ``kept`` and ``returned`` above
    assert await ledger.audit(account_id, UNIT)


async def test_settle_job_and_expiry(ledger: Ledger, account_id: str, clock: Clock) -> None:
    await ledger.grant(account_id, UNIT, 130)
    first = [await ledger.reserve(account_id, UNIT, n, job_id="job-1") for n in (1, 2, 3)]
    await ledger.reserve(account_id, UNIT, 10, job_id="job-2")
    assert await ledger.release(first[0].id)

    assert await ledger.settle_job("job-1", capture=True) == 2
    assert await ledger.settle_job("job-1", capture=True) == 0
    assert await ledger.settle_job("job-1", capture=False) == 0
    states = [h.state for h in await ledger.holds_of_job("job-1")]
    assert sorted(states) == ["captured", "captured", "released"]
    assert await ledger.settle_job("job-2", capture=False) == 1
    assert [h.state for h in await ledger.holds_of_job("job-2")] == ["released"]
    assert await ledger.settle_job("job-none", capture=True) == 0
    assert (await ledger.balance(account_id, UNIT)).perpetual == 125
    assert await ledger.audit(account_id, UNIT)

    # Expiry of holds is the leases' business (tests/core/test_leases.py).


async def test_charge_and_usage(ledger: Ledger, account_id: str, clock: Clock) -> None:
    await ledger.set_allocation(account_id, UNIT, 2)
    await ledger.grant(account_id, UNIT, 1)
    assert _spend(await ledger.charge(account_id, UNIT, 1, note="ping")) == (1, 1, 2)
    assert _spend(await ledger.charge(account_id, UNIT, 1)) == (0, 1, 1)
    assert _spend(await ledger.charge(account_id, UNIT, 1)) == (0, 0, 0)
    with pytest.raises(InsufficientFunds):
        await ledger.charge(account_id, UNIT, 1)
    assert await ledger.usage(account_id, UNIT, clock.now) == 3
    assert await ledger.audit(account_id, UNIT)

    # Usage: what was held or captured since a moment, per wallet.
    await ledger.grant(account_id, UNIT, 100)
    await ledger.charge(account_id, UNIT, 1)
    start = clock.now + timedelta(seconds=1)
    clock.advance(seconds=2)
    held = await ledger.reserve(account_id, UNIT, 10)
    dropped = await ledger.reserve(account_id, UNIT, 20)
    await ledger.charge(account_id, UNIT, 3)
    assert await ledger.release(dropped.id)
    assert await ledger.usage(account_id, UNIT, start) == 13
    assert await ledger.capture(held.id)
    assert await ledger.usage(account_id, UNIT, start) == 13
    assert await ledger.usage(account_id, "other.unit", start) == 0


async def test_monthly_roll_over(
    db: Database, ledger: Ledger, account_id: str, clock: Clock
) -> None:
    clock.now = datetime(2025, 12, 31, 23, 59, tzinfo=UTC)
    await ledger.set_allocation(account_id, UNIT, 10)
    await ledger.grant(account_id, UNIT, 5)
    monthly_only = await ledger.reserve(account_id, UNIT, 4)
    mixed = await ledger.reserve(account_id, UNIT, 8)
    assert (mixed.monthly_part, mixed.perpetual_part) == (6, 2)
    spent = await ledger.reserve(account_id, UNIT, 1)
    assert await ledger.capture(spent.id)

    clock.now = datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    # Many operations race on the 1st; the month is reset exactly once.
    await asyncio.gather(*(ledger.balance(account_id, UNIT) for _ in range(10)))
    assert await _entries(db, account_id, "reset") == 1
    b = await ledger.balance(account_id, UNIT)
    assert (b.cycle_start, b.cycle_end) == (date(2026, 1, 1), date(2026, 2, 1))
    assert _spend(b) == (10, 2, 12)

    # Last cycle's monthly units lapsed with it (even with room in this month's bucket); the
    # perpetual part comes back.
    fresh = await ledger.reserve(account_id, UNIT, 3)
    assert (fresh.monthly_part, fresh.perpetual_part) == (3, 0)
    assert await ledger.release(mixed.id)
    assert await ledger.release(monthly_only.id)
    assert _spend(await ledger.balance(account_id, UNIT)) == (7, 4, 11)
    # A hold of this cycle gives its monthly part back.
    assert await ledger.release(fresh.id)
    assert _spend(await ledger.balance(account_id, UNIT)) == (10, 4, 14)
    assert await ledger.audit(account_id, UNIT)

    # A wallet nobody touched for months rolls over inside a reserve, too.
    clock.now = datetime(2026, 4, 2, tzinfo=UTC)
    hold = await ledger.reserve(account_id, UNIT, 12)
    assert (hold.monthly_part, hold.perpetual_part) == (10, 2)
    assert await _entries(db, account_id, "reset") == 2
    assert await ledger.audit(account_id, UNIT)


async def test_audit_after_mixed_workload_and_on_drift(
    db: Database, ledger: Ledger, account_id: str, clock: Clock
) -> None:
    await ledger.set_allocation(account_id, UNIT, 50)
    await ledger.grant(account_id, UNIT, 25)
    holds = [await ledger.reserve(account_id, UNIT, 9, job_id=f"j{i % 3}") for i in range(7)]
    await ledger.capture(holds[0].id)
    await ledger.release(holds[1].id)
    await ledger.settle_job("j2", capture=False)
    await ledger.charge(account_id, UNIT, 4)
    await ledger.set_allocation(account_id, UNIT, 30)
    clock.advance(days=20)  # into April: a reset
    await ledger.grant(account_id, UNIT, 2)
    assert await ledger.audit(account_id, UNIT)

    async with db.write() as conn:
        await conn.execute(
            update(Wallet)
            .where(col(Wallet.account_id) == account_id)
            .values(perpetual=col(Wallet.perpetual) + 1)
        )
    assert not await ledger.audit(account_id, UNIT)


async def test_1000_concurrent_reservations_never_oversell(
    db: Database, ledger: Ledger, account_id: str, clock: Clock
) -> None:
    await ledger.set_allocation(account_id, UNIT, 200)
    await ledger.grant(account_id, UNIT, 300)

    results = await asyncio.gather(
        *(ledger.reserve(account_id, UNIT, 1, job_id="flood") for _ in range(1000)),
        return_exceptions=True,
    )
    holds = [r for r in results if isinstance(r, Hold)]
    refused = [r for r in results if isinstance(r, InsufficientFunds)]
    assert len(holds) == 500
    assert len(refused) == 500
    assert all((e.required, e.available) == (1, 0) for e in refused)
    assert sum(h.monthly_part for h in holds) == 200
    assert sum(h.perpetual_part for h in holds) == 300
    assert _spend(await ledger.balance(account_id, UNIT)) == (0, 0, 0)
    assert await ledger.usage(account_id, UNIT, clock.now) == 500
    assert await _entries(db, account_id, "reserve") == 500
    assert await ledger.audit(account_id, UNIT)
