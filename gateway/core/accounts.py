"""Accounts (tenants) and the plan each holds per family.

A plan row exists only where one was chosen: a family without a row means that family's
default plan, so adding a family later needs no back-fill. Changing a
plan re-applies its monthly allocations to the ledger, and a plan without API access takes
the family's keys away at once rather than at their next use.
"""

from __future__ import annotations

import logging
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
from gateway.core.plans import FAMILIES, Plan, check_family, default_plan, get_plan
from gateway.db.engine import Database
from gateway.db.models import Account, AccountPlan, as_utc, utcnow

if TYPE_CHECKING:
    from gateway.core.keys import KeyService
    from gateway.core.ledger import Ledger

log = logging.getLogger(__name__)


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
    ) -> None:
        self._db = db
        self._ledger = ledger
        self._keys = keys
        self._clock = clock

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
        if not plan.api_access:
            revoked = await self._keys.revoke_family(account_id, family)
            log.info("%s plan %s has no API access: revoked %d keys", family, plan.id, revoked)
        return await self.get(account_id)

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
        check_family(family)
        async with self._db.read() as conn:
            found = await conn.execute(select(col(Account.id)).where(col(Account.id) == account_id))
            if found.first() is None:
                raise NotFound("account not found")
            plan_id = await conn.scalar(
                select(col(AccountPlan.plan)).where(
                    col(AccountPlan.account_id) == account_id, col(AccountPlan.family) == family
                )
            )
        return get_plan(family, plan_id) if plan_id else default_plan(family)

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
