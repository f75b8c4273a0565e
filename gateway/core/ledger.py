"""The credit ledger every family's plan rules are policies over.

A wallet is one unit of one account: a monthly bucket that refills on the 1st (UTC) and a
perpetual balance that never lapses. Spending goes through holds: ``reserve`` takes the
amount now (monthly first, then perpetual), and the hold is later captured (spent) or
released (given back) exactly once, by a compare-and-swap on its state.

The wallet columns move in the same transaction as the append-only entries, so admission is a
single conditional UPDATE that cannot oversell however many reservers race: PostgreSQL
serialises them on the row lock and re-checks the WHERE after the wait; SQLite has one writer.
``audit`` re-derives the columns from the entries to prove they never drifted.

Neither database can return a row's pre-update values from an UPDATE, and the entries need the
exact split. So admission debits only the perpetual part (computed in SQL) and returns the
untouched monthly bucket; that value is the pre-update one, and the monthly part is then taken
while the row is still locked by the admitting statement.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import ColumnElement, Row, case, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col

from gateway.core.errors import InsufficientFunds, InvalidInput, NotFound
from gateway.core.ids import new_id
from gateway.db.engine import Database
from gateway.db.models import LedgerEntry, Reservation, Wallet, as_utc, utcnow

HELD = "held"
CAPTURED = "captured"
RELEASED = "released"

_W_ALLOC = col(Wallet.monthly_allocation)
_W_REM = col(Wallet.monthly_remaining)
_W_PERP = col(Wallet.perpetual)
_W_CYCLE = col(Wallet.cycle_start)
_WALLET_COLS = (col(Wallet.id), col(Wallet.account_id), _W_ALLOC, _W_REM, _W_PERP, _W_CYCLE)
_HOLD_COLS = (
    col(Reservation.id),
    col(Reservation.account_id),
    col(Reservation.amount),
    col(Reservation.job_id),
    col(Reservation.monthly_part),
    col(Reservation.perpetual_part),
    col(Reservation.state),
    col(Reservation.expires_at),
)


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


def _balance(account_id: str, unit: str, row: Any) -> Balance:
    alloc: int | None = row.monthly_allocation
    remaining: int = row.monthly_remaining
    return Balance(
        account_id=account_id,
        unit=unit,
        monthly_allocation=alloc,
        monthly_remaining=remaining,
        monthly_used=0 if alloc is None else max(0, alloc - remaining),
        perpetual=row.perpetual,
        spendable=None if alloc is None else remaining + row.perpetual,
        cycle_start=row.cycle_start,
        cycle_end=next_month(row.cycle_start),
    )


def _hold(unit: str, row: Any) -> Hold:
    expires = as_utc(row.expires_at)
    assert expires is not None
    return Hold(
        id=row.id,
        account_id=row.account_id,
        unit=unit,
        amount=row.amount,
        job_id=row.job_id,
        monthly_part=row.monthly_part,
        perpetual_part=row.perpetual_part,
        state=row.state,
        expires_at=expires,
    )


def _positive(amount: int, what: str = "amount") -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidInput(f"{what} must be a positive integer")


def _key(account_id: str, unit: str) -> tuple[ColumnElement[bool], ...]:
    return (col(Wallet.account_id) == account_id, col(Wallet.unit) == unit)


class Ledger:
    """Wallets, holds and entries over one database; safe to share across tasks and replicas."""

    def __init__(
        self,
        db: Database,
        *,
        hold_seconds: int = 3600,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        _positive(hold_seconds, "hold_seconds")
        self.db = db
        self.hold_seconds = hold_seconds
        self._clock = clock

    def _now(self) -> datetime:
        now = as_utc(self._clock())
        assert now is not None
        return now.astimezone(UTC)

    # -- public operations -------------------------------------------------------------------

    async def set_allocation(self, account_id: str, unit: str, monthly: int | None) -> Balance:
        if monthly is not None and (
            isinstance(monthly, bool) or not isinstance(monthly, int) or monthly < 0
        ):
            raise InvalidInput("monthly allocation must be a non-negative integer or None")
        now = self._now()
        try:
            async with self.db.write() as conn:
                await self._ensure_wallet(conn, account_id, unit, now)
                await self._roll_over(conn, now, _key(account_id, unit))
                row = await self._locked(conn, _key(account_id, unit))
                old, remaining = row.monthly_allocation, row.monthly_remaining
                if old != monthly:
                    # Unlimited keeps no bucket; coming back from unlimited starts a full one.
                    if monthly is None:
                        target = 0
                    elif old is None:
                        target = monthly
                    else:
                        target = max(0, remaining + monthly - old)
                    await conn.execute(
                        update(Wallet)
                        .where(col(Wallet.id) == row.id)
                        .values(
                            monthly_allocation=monthly, monthly_remaining=target, updated_at=now
                        )
                    )
                    note = f"allocation {_fmt(old)} -> {_fmt(monthly)}"
                    await self._entry(
                        conn, row, "allocate", m=target - remaining, now=now, note=note
                    )
                    row = await self._locked(conn, _key(account_id, unit))
        except IntegrityError as exc:
            raise NotFound(f"account {account_id} not found") from exc
        return _balance(account_id, unit, row)

    async def grant(self, account_id: str, unit: str, amount: int, *, note: str = "") -> Balance:
        _positive(amount)
        now = self._now()
        try:
            async with self.db.write() as conn:
                await self._ensure_wallet(conn, account_id, unit, now)
                await self._roll_over(conn, now, _key(account_id, unit))
                result = await conn.execute(
                    update(Wallet)
                    .where(*_key(account_id, unit))
                    .values(perpetual=_W_PERP + amount, updated_at=now)
                    .returning(*_WALLET_COLS)
                )
                row = result.one()
                await self._entry(conn, row, "grant", p=amount, now=now, note=note)
        except IntegrityError as exc:
            raise NotFound(f"account {account_id} not found") from exc
        return _balance(account_id, unit, row)

    async def reserve(
        self,
        account_id: str,
        unit: str,
        amount: int,
        *,
        job_id: str | None = None,
        hold_seconds: int | None = None,
    ) -> Hold:
        _positive(amount)
        seconds = self.hold_seconds if hold_seconds is None else hold_seconds
        _positive(seconds, "hold_seconds")
        now = self._now()
        async with self.db.write() as conn:
            row, monthly = await self._admit(conn, account_id, unit, amount, now)
            expires = now + timedelta(seconds=seconds)
            hold = await self._hold_in(conn, row, amount, monthly, job_id, HELD, expires, now)
        return _hold(unit, hold)

    async def capture(self, hold_id: str) -> bool:
        now = self._now()
        async with self.db.write() as conn:
            result = await conn.execute(
                update(Reservation)
                .where(col(Reservation.id) == hold_id, col(Reservation.state) == HELD)
                .values(state=CAPTURED, settled_at=now)
                .returning(col(Reservation.wallet_id), *_HOLD_COLS)
            )
            row = result.first()
            if row is None:
                return False
            wallet = SimpleNamespace(id=row.wallet_id, account_id=row.account_id)
            await self._entry(conn, wallet, "capture", now=now, hold=hold_id, job=row.job_id)
        return True

    async def release(self, hold_id: str) -> bool:
        now = self._now()
        async with self.db.write() as conn:
            return await self._release(conn, hold_id, now)

    async def settle_job(self, job_id: str, *, capture: bool) -> int:
        """One transaction per hold: a transaction never locks two wallets, so batches that
        overlap (another settle, the expiry sweep) cannot deadlock on PostgreSQL."""
        settled = 0
        for hold in await self.holds_of_job(job_id):
            if hold.state != HELD:
                continue
            done = await (self.capture(hold.id) if capture else self.release(hold.id))
            settled += int(done)
        return settled

    async def charge(self, account_id: str, unit: str, amount: int, *, note: str = "") -> Balance:
        _positive(amount)
        now = self._now()
        async with self.db.write() as conn:
            row, monthly = await self._admit(conn, account_id, unit, amount, now)
            hold = await self._hold_in(conn, row, amount, monthly, None, CAPTURED, now, now, note)
            await self._entry(conn, row, "capture", now=now, hold=hold.id, note=note)
            row = await self._locked(conn, (col(Wallet.id) == row.id,))
        return _balance(account_id, unit, row)

    async def balance(self, account_id: str, unit: str) -> Balance:
        """Reads without the writer; only a wallet still in a past cycle takes a write."""
        now = self._now()
        month = month_start(now)
        async with self.db.read() as conn:
            row = (await conn.execute(select(*_WALLET_COLS).where(*_key(account_id, unit)))).first()
        if row is None:
            zero = SimpleNamespace(
                monthly_allocation=0, monthly_remaining=0, perpetual=0, cycle_start=month
            )
            return _balance(account_id, unit, zero)
        if row.cycle_start < month:
            async with self.db.write() as conn:
                await self._roll_over(conn, now, _key(account_id, unit))
                row = await self._locked(conn, _key(account_id, unit))
        return _balance(account_id, unit, row)

    async def usage(self, account_id: str, unit: str, since: datetime) -> int:
        since_utc = as_utc(since)
        assert since_utc is not None
        stmt = (
            select(func.coalesce(func.sum(col(Reservation.amount)), 0))
            .select_from(Reservation)
            .join(Wallet, col(Wallet.id) == col(Reservation.wallet_id))
            .where(
                *_key(account_id, unit),
                col(Reservation.created_at) >= since_utc.astimezone(UTC),
                col(Reservation.state).in_((HELD, CAPTURED)),
            )
        )
        async with self.db.read() as conn:
            return int((await conn.execute(stmt)).scalar_one())

    async def holds_of_job(self, job_id: str) -> list[Hold]:
        stmt = (
            select(*_HOLD_COLS, col(Wallet.unit))
            .join(Wallet, col(Wallet.id) == col(Reservation.wallet_id))
            .where(col(Reservation.job_id) == job_id)
            .order_by(col(Reservation.created_at), col(Reservation.id))
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_hold(row.unit, row) for row in rows]

    async def release_expired(self) -> int:
        """Each expired hold is released in its own transaction (see ``settle_job``); a hold
        captured meanwhile simply loses the compare-and-swap."""
        now = self._now()
        stmt = (
            select(col(Reservation.id))
            .where(col(Reservation.state) == HELD, col(Reservation.expires_at) < now)
            .order_by(col(Reservation.expires_at))
        )
        async with self.db.read() as conn:
            expired = list((await conn.execute(stmt)).scalars())
        released = 0
        for hold_id in expired:
            async with self.db.write() as conn:
                released += int(await self._release(conn, hold_id, now))
        return released

    async def audit(self, account_id: str, unit: str) -> bool:
        """One statement, so both sums and the columns come from the same snapshot."""
        of_wallet = col(LedgerEntry.wallet_id) == col(Wallet.id)
        sums = (
            select(func.coalesce(func.sum(col(LedgerEntry.monthly_delta)), 0))
            .where(of_wallet)
            .scalar_subquery()
        )
        psums = (
            select(func.coalesce(func.sum(col(LedgerEntry.perpetual_delta)), 0))
            .where(of_wallet)
            .scalar_subquery()
        )
        stmt = select(_W_REM, _W_PERP, sums.label("m"), psums.label("p")).where(
            *_key(account_id, unit)
        )
        async with self.db.read() as conn:
            row = (await conn.execute(stmt)).first()
        if row is None:
            return True
        return bool(row.monthly_remaining == row.m and row.perpetual == row.p)

    # -- steps inside one transaction ----------------------------------------------------------

    async def _admit(
        self, conn: AsyncConnection, account_id: str, unit: str, amount: int, now: datetime
    ) -> tuple[Any, int]:
        """The one conditional UPDATE that decides admission; returns (wallet, monthly part)."""
        await self._roll_over(conn, now, _key(account_id, unit))
        from_perpetual = case((_W_ALLOC.is_(None), 0), (_W_REM >= amount, 0), else_=amount - _W_REM)
        result = await conn.execute(
            update(Wallet)
            .where(*_key(account_id, unit), or_(_W_ALLOC.is_(None), _W_REM + _W_PERP >= amount))
            .values(perpetual=_W_PERP - from_perpetual, updated_at=now)
            .returning(*_WALLET_COLS)
        )
        row = result.first()
        if row is None:
            found = await conn.execute(select(_W_REM, _W_PERP).where(*_key(account_id, unit)))
            have = found.first()
            available = 0 if have is None else have.monthly_remaining + have.perpetual
            raise InsufficientFunds(unit, amount, available)
        if row.monthly_allocation is None:
            return row, 0
        # The bucket is untouched so far, so this is its value before admission.
        monthly = min(row.monthly_remaining, amount)
        if monthly:
            await conn.execute(
                update(Wallet)
                .where(col(Wallet.id) == row.id)
                .values(monthly_remaining=_W_REM - monthly)
            )
        return row, monthly

    async def _hold_in(
        self,
        conn: AsyncConnection,
        wallet: Any,
        amount: int,
        monthly: int,
        job_id: str | None,
        state: str,
        expires_at: datetime,
        now: datetime,
        note: str = "",
    ) -> SimpleNamespace:
        """Records an admitted amount: the reservation row and its ``reserve`` entry.

        An unlimited wallet gave nothing from either bucket (both parts 0).
        """
        perpetual = 0 if wallet.monthly_allocation is None else amount - monthly
        settled = None if state == HELD else now
        hold = SimpleNamespace(
            id=new_id("hold"), wallet_id=wallet.id, account_id=wallet.account_id, job_id=job_id,
            amount=amount, monthly_part=monthly, perpetual_part=perpetual,
            cycle_start=wallet.cycle_start, state=state, expires_at=expires_at, created_at=now,
            settled_at=settled,
        )  # fmt: skip
        await conn.execute(insert(Reservation).values(**vars(hold)))
        await self._entry(
            conn, wallet, "reserve", m=-monthly, p=-perpetual, now=now, hold=hold.id, job=job_id,
            note=note,
        )  # fmt: skip
        return hold

    async def _release(self, conn: AsyncConnection, hold_id: str, now: datetime) -> bool:
        result = await conn.execute(
            update(Reservation)
            .where(col(Reservation.id) == hold_id, col(Reservation.state) == HELD)
            .values(state=RELEASED, settled_at=now)
            .returning(
                col(Reservation.wallet_id),
                col(Reservation.account_id),
                col(Reservation.job_id),
                col(Reservation.monthly_part),
                col(Reservation.perpetual_part),
                col(Reservation.cycle_start),
            )
        )
        hold = result.first()
        if hold is None:
            return False
        by_id = (col(Wallet.id) == hold.wallet_id,)
        await self._roll_over(conn, now, by_id)
        wallet = await self._locked(conn, by_id)
        monthly = 0
        if wallet.monthly_allocation is not None and wallet.cycle_start == hold.cycle_start:
            # Never above the allocation, which may have been lowered while the hold was out.
            room = max(0, wallet.monthly_allocation - wallet.monthly_remaining)
            monthly = min(hold.monthly_part, room)
        perpetual = hold.perpetual_part
        if monthly or perpetual:
            await conn.execute(
                update(Wallet)
                .where(*by_id)
                .values(
                    monthly_remaining=_W_REM + monthly,
                    perpetual=_W_PERP + perpetual,
                    updated_at=now,
                )
            )
        lapsed = hold.monthly_part - monthly
        note = f"{lapsed} monthly lapsed with its cycle" if lapsed else ""
        await self._entry(
            conn,
            wallet,
            "release",
            m=monthly,
            p=perpetual,
            now=now,
            hold=hold_id,
            job=hold.job_id,
            note=note,
        )
        return True

    async def _roll_over(
        self, conn: AsyncConnection, now: datetime, where: Sequence[ColumnElement[bool]]
    ) -> None:
        """Compare-and-swap on cycle_start, so exactly one transaction resets a given month.

        The statement leaves the bucket alone, so it returns the pre-reset value the entry
        needs; the refill follows under the row lock it took.
        """
        month = month_start(now)
        result = await conn.execute(
            update(Wallet)
            .where(*where, _W_CYCLE < month)
            .values(cycle_start=month, updated_at=now)
            .returning(*_WALLET_COLS)
        )
        row = result.first()
        if row is None:
            return
        alloc = row.monthly_allocation
        delta = 0 if alloc is None else alloc - row.monthly_remaining
        if delta:
            await conn.execute(
                update(Wallet).where(col(Wallet.id) == row.id).values(monthly_remaining=alloc)
            )
        await self._entry(conn, row, "reset", m=delta, now=now, note=f"cycle {month}")

    async def _ensure_wallet(
        self, conn: AsyncConnection, account_id: str, unit: str, now: datetime
    ) -> None:
        if not unit or len(unit) > 60:
            raise InvalidInput("unit must be 1 to 60 characters")
        dialect_insert = sqlite.insert if self.db.is_sqlite else postgresql.insert
        stmt = (
            dialect_insert(Wallet)
            .values(
                id=new_id("wal"),
                account_id=account_id,
                unit=unit,
                monthly_allocation=0,
                monthly_remaining=0,
                perpetual=0,
                cycle_start=month_start(now),
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["account_id", "unit"])
        )
        await conn.execute(stmt)

    async def _locked(
        self, conn: AsyncConnection, where: Sequence[ColumnElement[bool]]
    ) -> Row[Any]:
        """The wallet row, locked until commit (SQLite's writer already excludes everyone)."""
        result = await conn.execute(select(*_WALLET_COLS).where(*where).with_for_update())
        return result.one()

    async def _entry(
        self,
        conn: AsyncConnection,
        wallet: Any,
        kind: str,
        *,
        now: datetime,
        m: int = 0,
        p: int = 0,
        hold: str | None = None,
        job: str | None = None,
        note: str = "",
    ) -> None:
        """Appends one entry; ``m``/``p`` are the signed moves of the monthly/perpetual columns."""
        entry = dict(
            wallet_id=wallet.id, account_id=wallet.account_id, kind=kind, monthly_delta=m,
            perpetual_delta=p, reservation_id=hold, job_id=job, note=note[:200], created_at=now,
        )  # fmt: skip
        await conn.execute(insert(LedgerEntry).values(**entry))


def _fmt(allocation: int | None) -> str:
    return "unlimited" if allocation is None else str(allocation)
