"""The credit ledger every family's plan rules are policies over.

A wallet is one unit of one account: a monthly bucket that refills on the 1st (UTC) and a
perpetual balance that never lapses. Spending goes through holds: ``reserve`` takes the amount
now (monthly first, then perpetual), and the hold is later captured (spent) or released (given
back) exactly once, by a compare-and-swap on its state. A hold is a lease that lives as long as
its job (``gateway.core.leases``), so a crashed worker cannot strand credits and a slow queue
cannot make work free.

The wallet columns move in the same transaction as the append-only entries, so admission is a
single conditional UPDATE that cannot oversell however many reservers race: PostgreSQL
serialises them on the row lock and re-checks the WHERE after the wait; SQLite has one writer.
``audit`` re-derives the columns from the entries to prove they never drifted.

Neither database returns a row's pre-update values from an UPDATE, yet the entries need the
exact split. So admission debits only the perpetual part (computed in SQL) and returns the
untouched monthly bucket, which is therefore its pre-update value; the monthly part is then
taken while the admitting statement's row lock is still held. Roll-over works the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, bindparam, case, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.errors import InsufficientFunds, InvalidInput, NotFound
from gateway.core.ids import new_id
from gateway.core.wallets import Balance, Hold, month_start
from gateway.core.wallets import wallet_balance as _balance
from gateway.db.engine import Database
from gateway.db.models import ALL_TABLES, LedgerEntry, Reservation, Wallet, as_utc, utcnow

HELD, CAPTURED, RELEASED = "held", "captured", "released"

_W = ALL_TABLES.tables["wallets"].c
_R = ALL_TABLES.tables["reservations"].c
_E = ALL_TABLES.tables["ledger_entries"].c
_WALLET_FIELDS = ("id", "account_id", "monthly_allocation", "monthly_remaining", "perpetual")
_WALLET_COLS = (*(_W[name] for name in _WALLET_FIELDS), _W.cycle_start)
_HOLD_FIELDS = ("id", "account_id", "amount", "job_id", "monthly_part", "perpetual_part", "state")
_HOLD_COLS = (*(_R[name] for name in _HOLD_FIELDS), _R.expires_at)

# The hot path's statements are built once and run with parameters.
_AMOUNT = bindparam("amount", type_=BigInteger)
_ADMIT = (
    update(Wallet)
    .where(
        _W.account_id == bindparam("account"),
        _W.unit == bindparam("wallet_unit"),
        _W.cycle_start >= bindparam("month"),
        or_(_W.monthly_allocation.is_(None), _W.monthly_remaining + _W.perpetual >= _AMOUNT),
    )
    .values(
        perpetual=_W.perpetual
        - case(
            (_W.monthly_allocation.is_(None), 0),
            (_W.monthly_remaining >= _AMOUNT, 0),
            else_=_AMOUNT - _W.monthly_remaining,
        ),
        updated_at=bindparam("now"),
    )
    .returning(*_WALLET_COLS)
)
_MOVE = (
    update(Wallet)
    .where(_W.id == bindparam("wallet"))
    .values(
        monthly_remaining=_W.monthly_remaining + bindparam("m", type_=BigInteger),
        perpetual=_W.perpetual + bindparam("p", type_=BigInteger),
        updated_at=bindparam("now"),
    )
)
_INSERT_HOLD = insert(Reservation)
_INSERT_ENTRY = insert(LedgerEntry)


def _hold(unit: str, row: Any) -> Hold:
    fields = {name: getattr(row, name) for name in _HOLD_FIELDS}
    return Hold(unit=unit, expires_at=as_utc(row.expires_at), **fields)  # type: ignore[arg-type]


def _positive(amount: int, what: str = "amount") -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidInput(f"{what} must be a positive integer")


def _key(account_id: str, unit: str) -> tuple[ColumnElement[bool], ...]:
    return (_W.account_id == account_id, _W.unit == unit)


def _retarget(old: int | None, new: int | None, remaining: int) -> int:
    """The bucket after an allocation change: moved by the difference, never below 0.
    Unlimited keeps no bucket; coming back from unlimited starts a full one."""
    if new is None:
        return 0
    return new if old is None else max(0, remaining + new - old)


def _fmt(allocation: int | None) -> str:
    return "unlimited" if allocation is None else str(allocation)


class Ledger:
    """Wallets, holds and entries over one database; safe to share across tasks and replicas."""

    def __init__(
        self, db: Database, *, hold_seconds: int = 3600, clock: Callable[[], datetime] = utcnow
    ) -> None:
        _positive(hold_seconds, "hold_seconds")
        self.db = db
        self.hold_seconds = hold_seconds
        self._clock = clock

    def _now(self) -> datetime:
        now = as_utc(self._clock())
        assert now is not None
        return now.astimezone(UTC)

    async def set_allocation(self, account_id: str, unit: str, monthly: int | None) -> Balance:
        if monthly is not None and (
            isinstance(monthly, bool) or not isinstance(monthly, int) or monthly < 0
        ):
            raise InvalidInput("monthly allocation must be a non-negative integer or None")
        now = self._now()
        async with self._write_for(account_id) as conn:
            row = await self._open_wallet(conn, account_id, unit, now)
            old = row.monthly_allocation
            if old != monthly:
                move = _retarget(old, monthly, row.monthly_remaining) - row.monthly_remaining
                await conn.execute(
                    update(Wallet).where(_W.id == row.id).values(monthly_allocation=monthly)
                )
                note = f"allocation {_fmt(old)} -> {_fmt(monthly)}"
                await self._move(conn, row, "allocate", now, m=move, note=note)
                row = await self._locked(conn, _key(account_id, unit))
        return _balance(account_id, unit, row)

    async def grant(self, account_id: str, unit: str, amount: int, *, note: str = "") -> Balance:
        _positive(amount)
        now = self._now()
        async with self._write_for(account_id) as conn:
            row = await self._open_wallet(conn, account_id, unit, now)
            await self._move(conn, row, "grant", now, p=amount, note=note)
            row = await self._locked(conn, _key(account_id, unit))
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
        expires = now + timedelta(seconds=seconds)
        async with self.db.write() as conn:
            _, hold = await self._take(conn, account_id, unit, amount, now, HELD, expires, job_id)
        return _hold(unit, SimpleNamespace(**hold))

    async def capture(self, hold_id: str) -> bool:
        now = self._now()
        async with self.db.write() as conn:
            result = await conn.execute(
                update(Reservation)
                .where(_R.id == hold_id, _R.state == HELD)
                .values(state=CAPTURED, settled_at=now)
                .returning(_R.wallet_id, _R.account_id, _R.job_id)
            )
            row = result.first()
            if row is None:
                return False
            wallet = SimpleNamespace(id=row.wallet_id, account_id=row.account_id)
            await self._move(conn, wallet, "capture", now, hold=hold_id, job=row.job_id)
        return True

    async def release(self, hold_id: str) -> bool:
        now = self._now()
        async with self.db.write() as conn:
            return await self._release(conn, hold_id, now)

    async def settle_job(self, job_id: str, *, capture: bool) -> int:
        """One transaction per hold: no transaction then locks two wallets, so batches that
        overlap (another settle, the expiry sweep) cannot deadlock on PostgreSQL."""
        settled = 0
        for hold in await self.holds_of_job(job_id):
            if hold.state == HELD:
                settled += await (self.capture(hold.id) if capture else self.release(hold.id))
        return settled

    async def charge(self, account_id: str, unit: str, amount: int, *, note: str = "") -> Balance:
        _positive(amount)
        now = self._now()
        async with self.db.write() as conn:
            row, hold = await self._take(
                conn, account_id, unit, amount, now, CAPTURED, now, None, note
            )
            await self._move(conn, row, "capture", now, hold=hold["id"], note=note)
            row = await self._locked(conn, (_W.id == row.id,))
        return _balance(account_id, unit, row)

    async def balance(self, account_id: str, unit: str) -> Balance:
        """Reads without the writer; only a wallet still in a past cycle takes a write."""
        now = self._now()
        month = month_start(now)
        query = select(*_WALLET_COLS).where(*_key(account_id, unit))
        async with self.db.read() as conn:
            row: Any = (await conn.execute(query)).first()
        if row is None:
            row = SimpleNamespace(
                monthly_allocation=0, monthly_remaining=0, perpetual=0, cycle_start=month
            )
        elif row.cycle_start < month:
            async with self.db.write() as conn:
                await self._roll_over(conn, now, _key(account_id, unit))
                row = await self._locked(conn, _key(account_id, unit))
        return _balance(account_id, unit, row)

    async def usage(self, account_id: str, unit: str, since: datetime) -> int:
        since_utc = as_utc(since)
        assert since_utc is not None
        stmt = (
            select(func.coalesce(func.sum(_R.amount), 0))
            .join_from(Reservation, Wallet, _W.id == _R.wallet_id)
            .where(
                *_key(account_id, unit),
                _R.created_at >= since_utc.astimezone(UTC),
                _R.state.in_((HELD, CAPTURED)),
            )
        )
        async with self.db.read() as conn:
            return int((await conn.execute(stmt)).scalar_one())

    async def holds_of_job(self, job_id: str) -> list[Hold]:
        stmt = (
            select(*_HOLD_COLS, _W.unit)
            .join(Wallet, _W.id == _R.wallet_id)
            .where(_R.job_id == job_id)
            .order_by(_R.created_at, _R.id)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        return [_hold(row.unit, row) for row in rows]

    async def audit(self, account_id: str, unit: str) -> bool:
        """One statement, so the sums and the columns come from the same snapshot."""

        def total(delta: Any) -> Any:
            entries = select(func.coalesce(func.sum(delta), 0)).where(_E.wallet_id == _W.id)
            return entries.scalar_subquery()

        stmt = select(
            _W.monthly_remaining,
            _W.perpetual,
            total(_E.monthly_delta).label("monthly_sum"),
            total(_E.perpetual_delta).label("perpetual_sum"),
        ).where(*_key(account_id, unit))
        async with self.db.read() as conn:
            row = (await conn.execute(stmt)).first()
        if row is None:
            return True  # no wallet, no entries: nothing can disagree
        return row.monthly_remaining == row.monthly_sum and row.perpetual == row.perpetual_sum

    # -- steps inside one write transaction ------------------------------------------------------

    async def _take(
        self,
        conn: AsyncConnection,
        account_id: str,
        unit: str,
        amount: int,
        now: datetime,
        state: str,
        expires_at: datetime,
        job_id: str | None,
        note: str = "",
    ) -> tuple[Any, dict[str, Any]]:
        """Admits ``amount`` and records the hold (its row and its ``reserve`` entry)."""
        params = {"account": account_id, "wallet_unit": unit, "amount": amount, "now": now}
        params["month"] = month_start(now)
        row = (await conn.execute(_ADMIT, params)).first()
        retried = False
        while row is None:
            found = (
                await conn.execute(select(*_WALLET_COLS).where(*_key(account_id, unit)))
            ).first()
            available = 0 if found is None else found.monthly_remaining + found.perpetual
            # Admission also refuses a wallet still in a past cycle, and (on PostgreSQL) one
            # whose roll-over committed after the statement's snapshot: roll over, ask again.
            unlimited = found is not None and found.monthly_allocation is None
            stale = found is not None and found.cycle_start < params["month"]
            if retried or found is None or not (stale or unlimited or available >= amount):
                raise InsufficientFunds(unit, amount, available)
            retried = True
            await self._roll_over(conn, now, _key(account_id, unit))
            row = (await conn.execute(_ADMIT, params)).first()
        # The bucket is untouched so far, so this is its value before admission, and the row
        # stays locked until commit. An unlimited wallet gives from neither bucket.
        unlimited = row.monthly_allocation is None
        monthly = 0 if unlimited else min(row.monthly_remaining, amount)
        perpetual = 0 if unlimited else amount - monthly
        if monthly:
            await conn.execute(_MOVE, {"wallet": row.id, "m": -monthly, "p": 0, "now": now})
        hold = {
            "id": new_id("hold"),
            "wallet_id": row.id,
            "account_id": account_id,
            "job_id": job_id,
            "amount": amount,
            "monthly_part": monthly,
            "perpetual_part": perpetual,
            "cycle_start": row.cycle_start,
            "state": state,
            "expires_at": expires_at,
            "created_at": now,
            "settled_at": None if state == HELD else now,
        }
        await conn.execute(_INSERT_HOLD, hold)
        moved = {"m": -monthly, "p": -perpetual, "hold": hold["id"], "job": job_id, "note": note}
        await self._move(conn, row, "reserve", now, already_moved=True, **moved)
        return row, hold

    async def _release(self, conn: AsyncConnection, hold_id: str, now: datetime) -> bool:
        result = await conn.execute(
            update(Reservation)
            .where(_R.id == hold_id, _R.state == HELD)
            .values(state=RELEASED, settled_at=now)
            .returning(_R.wallet_id, _R.job_id, _R.monthly_part, _R.perpetual_part, _R.cycle_start)
        )
        hold = result.first()
        if hold is None:
            return False
        by_id = (_W.id == hold.wallet_id,)
        await self._roll_over(conn, now, by_id)
        wallet = await self._locked(conn, by_id)
        monthly = 0
        if wallet.monthly_allocation is not None and wallet.cycle_start == hold.cycle_start:
            # Never above the allocation, which may have been lowered while the hold was out.
            room = max(0, wallet.monthly_allocation - wallet.monthly_remaining)
            monthly = min(hold.monthly_part, room)
        lapsed = hold.monthly_part - monthly
        note = f"{lapsed} monthly lapsed with its cycle" if lapsed else ""
        await self._move(
            conn,
            wallet,
            "release",
            now,
            m=monthly,
            p=hold.perpetual_part,
            hold=hold_id,
            job=hold.job_id,
            note=note,
        )
        return True

    async def _roll_over(
        self, conn: AsyncConnection, now: datetime, where: Sequence[ColumnElement[bool]]
    ) -> None:
        """Compare-and-swap on cycle_start, so exactly one transaction resets a given month.

        The statement leaves the bucket alone, so it returns the pre-reset value the ``reset``
        entry needs; the refill follows under the row lock the statement took.
        """
        month = month_start(now)
        result = await conn.execute(
            update(Wallet)
            .where(*where, _W.cycle_start < month)
            .values(cycle_start=month, updated_at=now)
            .returning(*_WALLET_COLS)
        )
        row = result.first()
        if row is not None:
            alloc = row.monthly_allocation
            refill = 0 if alloc is None else alloc - row.monthly_remaining
            await self._move(conn, row, "reset", now, m=refill, note=f"cycle {month}")

    async def _open_wallet(
        self, conn: AsyncConnection, account_id: str, unit: str, now: datetime
    ) -> Any:
        """Creates the wallet if absent (insert-if-absent, so racing first grants cannot both
        create it), rolls it into this month, and returns it locked."""
        if not unit or len(unit) > 60:
            raise InvalidInput("unit must be 1 to 60 characters")
        dialect_insert = sqlite.insert if self.db.is_sqlite else postgresql.insert
        # The model's defaults make a new wallet allocation 0 with both buckets empty.
        stmt = dialect_insert(Wallet).values(
            id=new_id("wal"),
            account_id=account_id,
            unit=unit,
            cycle_start=month_start(now),
            updated_at=now,
        )
        await conn.execute(stmt.on_conflict_do_nothing(index_elements=["account_id", "unit"]))
        await self._roll_over(conn, now, _key(account_id, unit))
        return await self._locked(conn, _key(account_id, unit))

    @asynccontextmanager
    async def _write_for(self, account_id: str) -> AsyncIterator[AsyncConnection]:
        """A write that may create a wallet, whose foreign key names the account."""
        try:
            async with self.db.write() as conn:
                yield conn
        except IntegrityError as exc:
            raise NotFound(f"account {account_id} not found") from exc

    async def _locked(self, conn: AsyncConnection, where: Sequence[ColumnElement[bool]]) -> Any:
        """The wallet row, locked until commit (SQLite's single writer already excludes all)."""
        result = await conn.execute(select(*_WALLET_COLS).where(*where).with_for_update())
        return result.one()

    async def _move(
        self,
        conn: AsyncConnection,
        wallet: Any,
        kind: str,
        now: datetime,
        *,
        m: int = 0,
        p: int = 0,
        hold: str | None = None,
        job: str | None = None,
        note: str = "",
        already_moved: bool = False,
    ) -> None:
        """Moves the wallet's buckets by ``m`` (monthly) and ``p`` (perpetual) and appends the
        matching entry: the one way balances change, so ``audit`` holds by construction.
        Admission moves its buckets itself (``already_moved``)."""
        if (m or p) and not already_moved:
            await conn.execute(_MOVE, {"wallet": wallet.id, "m": m, "p": p, "now": now})
        entry = {"wallet_id": wallet.id, "account_id": wallet.account_id, "kind": kind}
        entry |= {"monthly_delta": m, "perpetual_delta": p, "reservation_id": hold}
        await conn.execute(
            _INSERT_ENTRY, {**entry, "job_id": job, "note": note[:200], "created_at": now}
        )
