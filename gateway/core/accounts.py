"""Accounts (tenants) and the plan each holds per family.

A plan row exists only where one was chosen: a family without a row means that family's
default plan, so adding a family later needs no back-fill. Changing a
plan re-applies its monthly allocations to the ledger, and a plan without API access takes
the family's keys away at once rather than at their next use.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col

from gateway.core.errors import InvalidInput, NotFound
from gateway.core.ids import new_id
from gateway.core.plans import FAMILIES, Plan, check_family, default_plan, get_plan, wallets
from gateway.core.single_flight import SingleFlight
from gateway.db.engine import Database
from gateway.db.models import Account, AccountPlan, as_utc, utcnow

if TYPE_CHECKING:
    from gateway.core.key_invalidation import KeyInvalidation
    from gateway.core.keys import KeyService
    from gateway.core.ledger import Ledger
    from gateway.core.wallets import Balance

log = logging.getLogger(__name__)

# Broadcast on the key-invalidation channel when an account's plan or limits change.
ACCOUNT_TOPIC = "acct:"


@dataclass(frozen=True, slots=True)
class Standing:
    """What every request of an account in one family is judged by: its plan, and the
    operator's per-minute limit for it (``None``: the plan's own; 0: no per-minute limit)."""

    plan: Plan
    per_minute: int | None
    # An operator disabled the account: its keys are refused everywhere.
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class AccountInfo:
    id: str
    name: str
    profile: dict[str, Any]
    # family -> plan id, every family present (the default where none was chosen).
    plans: dict[str, str]
    created_at: datetime


def _check_name(name: str) -> str:
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > 200:
        raise InvalidInput("account name must be 1 to 200 characters")
    return name


def _all_plans(chosen: Mapping[str, str]) -> dict[str, str]:
    return {family: chosen.get(family) or default_plan(family).id for family in FAMILIES}


class AccountService:
    def __init__(
        self,
        db: Database,
        ledger: Ledger,
        keys: KeyService,
        clock: Callable[[], datetime] = utcnow,
        *,
        invalidation: KeyInvalidation | None = None,
        cache_seconds: float = 1.0,
        cache_size: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._ledger = ledger
        self._keys = keys
        self._clock = clock
        # Standing is read on every request, so it is cached beside the key verdicts and
        # dropped by the same broadcast when an operator changes it.
        self._invalidation = invalidation
        self._ttl = cache_seconds
        self._size = max(1, cache_size)
        self._monotonic = monotonic
        self._cache: OrderedDict[tuple[str, str], tuple[float, Standing]] = OrderedDict()
        self._evictions = 0
        self._flights: SingleFlight[Standing] = SingleFlight()

    async def start(self) -> None:
        if self._invalidation is not None:
            await self._invalidation.start(self._on_invalidated)

    def _on_invalidated(self, message: str) -> None:
        if message == "*":
            self._evictions += 1
            self._cache.clear()
        elif message.startswith(ACCOUNT_TOPIC):
            self._evictions += 1
            account_id = message[len(ACCOUNT_TOPIC) :]
            for key in [k for k in self._cache if k[0] == account_id]:
                del self._cache[key]

    async def _changed(self, account_id: str) -> None:
        message = ACCOUNT_TOPIC + account_id
        self._on_invalidated(message)
        if self._invalidation is not None:
            try:
                await self._invalidation.publish(message)
            except Exception as exc:
                # Other replicas catch up when their entry expires (cache_seconds).
                log.warning("could not broadcast an account change: %s", exc)

    async def create(self, name: str, plans: Mapping[str, str] | None = None) -> AccountInfo:
        name = _check_name(name)
        # Validate everything first: a bad plan must leave no half-made account behind.
        chosen = {
            family: get_plan(check_family(family), str(plan_id)).id
            for family, plan_id in (plans or {}).items()
        }
        account_id = new_id("acc")
        now = self._clock()
        async with self._db.write() as conn:
            await conn.execute(
                insert(Account).values(id=account_id, name=name, profile={}, created_at=now)
            )
            for family, plan_id in chosen.items():
                await conn.execute(
                    insert(AccountPlan).values(
                        account_id=account_id, family=family, plan=plan_id, updated_at=now
                    )
                )
        for family, plan_id in _all_plans(chosen).items():
            await self._allocate(account_id, get_plan(family, plan_id))
        log.info("created account %s", account_id)
        return AccountInfo(account_id, name, {}, _all_plans(chosen), now)

    async def get(self, account_id: str) -> AccountInfo:
        async with self._db.read() as conn:
            row = (await conn.execute(select(Account).where(col(Account.id) == account_id))).first()
            if row is None:
                raise NotFound("account not found")
            plans = await conn.execute(
                select(col(AccountPlan.family), col(AccountPlan.plan)).where(
                    col(AccountPlan.account_id) == account_id
                )
            )
            chosen = {r.family: r.plan for r in plans}
        return self._info(row, chosen)

    async def list(self) -> list[AccountInfo]:
        async with self._db.read() as conn:
            rows = (
                await conn.execute(
                    select(Account).order_by(col(Account.created_at), col(Account.id))
                )
            ).all()
            plan_rows = (await conn.execute(select(AccountPlan))).all()
        chosen: dict[str, dict[str, str]] = {}
        for r in plan_rows:
            chosen.setdefault(r.account_id, {})[r.family] = r.plan
        return [self._info(row, chosen.get(row.id, {})) for row in rows]

    async def set_plan(self, account_id: str, family: str, plan_id: str) -> AccountInfo:
        plan = get_plan(check_family(family), plan_id)
        now = self._clock()
        values = {"account_id": account_id, "family": family, "plan": plan.id, "updated_at": now}
        upsert = (pg_insert if not self._db.is_sqlite else sqlite_insert)(AccountPlan)
        async with self._db.write() as conn:
            found = await conn.execute(select(col(Account.id)).where(col(Account.id) == account_id))
            if found.first() is None:
                raise NotFound("account not found")
            await conn.execute(
                upsert.values(**values).on_conflict_do_update(
                    index_elements=["account_id", "family"],
                    set_={"plan": plan.id, "updated_at": now},
                )
            )
        await self._allocate(account_id, plan)
        await self._changed(account_id)
        if not plan.api_access:
            revoked = await self._keys.revoke_family(account_id, family)
            log.info("%s plan %s has no API access: revoked %d keys", family, plan.id, revoked)
        return await self.get(account_id)

    async def set_rate(self, account_id: str, family: str, per_minute: int | None) -> Standing:
        """An operator's per-minute request limit for one account in one family: ``None``
        returns to the plan's, 0 lifts the per-minute limit (quotas and credits still apply)."""
        check_family(family)
        if per_minute is not None and (
            isinstance(per_minute, bool) or not isinstance(per_minute, int) or per_minute < 0
        ):
            raise InvalidInput("per_minute must be a non-negative integer")
        now = self._clock()
        upsert = (pg_insert if not self._db.is_sqlite else sqlite_insert)(AccountPlan)
        async with self._db.write() as conn:
            found = await conn.execute(select(col(Account.id)).where(col(Account.id) == account_id))
            if found.first() is None:
                raise NotFound("account not found")
            plan_id = await conn.scalar(
                select(col(AccountPlan.plan)).where(
                    col(AccountPlan.account_id) == account_id, col(AccountPlan.family) == family
                )
            )
            values = {
                "account_id": account_id,
                "family": family,
                "plan": plan_id or default_plan(family).id,
                "per_minute": per_minute,
                "updated_at": now,
            }
            await conn.execute(
                upsert.values(**values).on_conflict_do_update(
                    index_elements=["account_id", "family"],
                    set_={"per_minute": per_minute, "updated_at": now},
                )
            )
        await self._changed(account_id)
        return await self.standing(account_id, family)

    async def update_profile(self, account_id: str, changes: Mapping[str, Any]) -> AccountInfo:
        """Shallow merge: each given key replaces the stored one, the others stay."""
        if not isinstance(changes, Mapping) or not all(isinstance(k, str) for k in changes):
            raise InvalidInput("profile changes must be an object with string keys")
        async with self._db.write() as conn:
            # FOR UPDATE so concurrent merges on PostgreSQL cannot lose each other's keys
            # (SQLite's single writer already serialises them; it ignores the clause).
            current = await conn.scalar(
                select(col(Account.profile)).where(col(Account.id) == account_id).with_for_update()
            )
            if current is None:
                raise NotFound("account not found")
            merged = {**current, **changes}
            await conn.execute(
                update(Account).where(col(Account.id) == account_id).values(profile=merged)
            )
        return await self.get(account_id)

    async def plan_of(self, account_id: str, family: str) -> Plan:
        return (await self.standing(account_id, family)).plan

    async def standing(self, account_id: str, family: str) -> Standing:
        """The account's plan and per-minute limit in one family (cached briefly, dropped at
        once by a change on any replica); ``NotFound`` for an unknown account."""
        check_family(family)
        key = (account_id, family)
        cached = self._cache.get(key)
        if cached is not None and cached[0] > self._monotonic():
            return cached[1]
        return await self._flights.run(
            (account_id, family, self._evictions), lambda: self._read_standing(account_id, family)
        )

    async def _read_standing(self, account_id: str, family: str) -> Standing:
        key = (account_id, family)
        seen = self._evictions
        async with self._db.read() as conn:
            found = (
                await conn.execute(
                    select(col(Account.id), col(Account.disabled_at)).where(
                        col(Account.id) == account_id
                    )
                )
            ).first()
            if found is None:
                raise NotFound("account not found")
            row = (
                await conn.execute(
                    select(col(AccountPlan.plan), col(AccountPlan.per_minute)).where(
                        col(AccountPlan.account_id) == account_id,
                        col(AccountPlan.family) == family,
                    )
                )
            ).first()
        plan = get_plan(family, row.plan) if row is not None else default_plan(family)
        standing = Standing(
            plan, row.per_minute if row is not None else None, found.disabled_at is not None
        )
        if seen == self._evictions and self._ttl > 0:
            self._cache[key] = (self._monotonic() + self._ttl, standing)
            self._cache.move_to_end(key)
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return standing

    async def set_disabled(self, account_id: str, disabled: bool) -> None:
        """Disable (or enable again) every key of the account in every family, at once on
        every replica."""
        stmt = (
            update(Account)
            .where(col(Account.id) == account_id)
            .values(disabled_at=utcnow() if disabled else None)
        )
        async with self._db.write() as conn:
            if (await conn.execute(stmt)).rowcount == 0:
                raise NotFound("account not found")
        await self._changed(account_id)

    async def allocate(self, account_id: str, unit: str, monthly: int | None) -> Balance:
        """A custom monthly allowance on one wallet (an operator's deal), in place of the
        plan's until the account's plan in that family changes."""
        if unit not in wallets():
            raise InvalidInput(f"unknown wallet {unit!r} (known: {', '.join(wallets())})")
        await self.get(account_id)
        return await self._ledger.set_allocation(account_id, unit, monthly)

    async def _allocate(self, account_id: str, plan: Plan) -> None:
        for unit, monthly in plan.monthly.items():
            await self._ledger.set_allocation(account_id, unit, monthly)

    @staticmethod
    def _info(row: Any, chosen: Mapping[str, str]) -> AccountInfo:
        return AccountInfo(
            id=row.id,
            name=row.name,
            profile=dict(row.profile or {}),
            plans=_all_plans(chosen),
            created_at=as_utc(row.created_at) or row.created_at,
        )
