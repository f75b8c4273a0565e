"""Accounts and per-family plans on both databases, with their effect on wallets and keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from gateway.core.accounts import AccountService
from gateway.core.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from gateway.core.key_invalidation import LocalInvalidation
from gateway.core.keys import KeyService
from gateway.core.ledger import Ledger
from gateway.core.plans import FAMILIES, default_plan
from gateway.db.engine import Database
from gateway.db.models import Account, AccountPlan, Wallet


@dataclass
class Env:
    db: Database
    ledger: Ledger
    keys: KeyService
    accounts: AccountService


@pytest.fixture
async def env(db: Database) -> AsyncIterator[Env]:
    keys = KeyService(db, LocalInvalidation(), usage_flush_seconds=0)
    await keys.start()
    ledger = Ledger(db)
    try:
        yield Env(db, ledger, keys, AccountService(db, ledger, keys))
    finally:
        await keys.close()


async def count(db: Database, table: type) -> int:
    async with db.read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


async def test_create_with_plans_fills_defaults_and_allocates(env: Env) -> None:
    info = await env.accounts.create("Acme", {"storymint": "developer", "sleeperhit": "studio"})
    assert info.id.startswith("acc_") and info.name == "Acme" and info.profile == {}
    assert info.plans == {
        "storymint": "developer",
        "childrenbooks": default_plan("childrenbooks").id,
        "storynote": default_plan("storynote").id,
        "sleeperhit": "studio",
    }
    assert await env.accounts.get(info.id) == info
    assert (await env.ledger.balance(info.id, "storymint.books")).monthly_allocation == 100
    assert (await env.ledger.balance(info.id, "storymint.pings")).monthly_allocation == 150
    assert (await env.ledger.balance(info.id, "sleeperhit.credits")).monthly_remaining == 3000
    # Families left out get their default plan's allocation too.
    assert (await env.ledger.balance(info.id, "storynote.credits")).monthly_remaining == 50
    assert (await env.accounts.plan_of(info.id, "storymint")).id == "developer"
    assert (await env.accounts.plan_of(info.id, "childrenbooks")).id == "free"


async def test_invalid_plan_writes_nothing(env: Env) -> None:
    for plans in (
        {"storymint": "developer", "storynote": "enterprise"},
        {"storymint": "developer", "nosuchfamily": "free"},
    ):
        with pytest.raises(InvalidInput):
            await env.accounts.create("Broken", plans)
    with pytest.raises(InvalidInput):
        await env.accounts.create("   ", {})
    for table in (Account, AccountPlan, Wallet):
        assert await count(env.db, table) == 0
    assert await env.accounts.list() == []


async def test_get_list_and_profile(env: Env) -> None:
    first = await env.accounts.create("First")
    # Defaults are implicit: every family reported, no plan row written.
    assert set(first.plans) == set(FAMILIES)
    assert await count(env.db, AccountPlan) == 0
    second = await env.accounts.create("Second", {"storynote": "pro"})
    assert [a.id for a in await env.accounts.list()] == [first.id, second.id]
    with pytest.raises(NotFound):
        await env.accounts.get("acc_missing")
    with pytest.raises(NotFound):
        await env.accounts.plan_of("acc_missing", "storymint")

    updated = await env.accounts.update_profile(first.id, {"email": "a@example.com", "n": 1})
    updated = await env.accounts.update_profile(first.id, {"n": 2, "tags": ["x"]})
    assert updated.profile == {"email": "a@example.com", "n": 2, "tags": ["x"]}
    assert (await env.accounts.get(first.id)).profile == updated.profile
    assert (await env.accounts.get(second.id)).profile == {}
    with pytest.raises(NotFound):
        await env.accounts.update_profile("acc_missing", {"a": 1})
    with pytest.raises(InvalidInput):
        await env.accounts.update_profile(first.id, {1: "x"})  # type: ignore[dict-item]


async def test_set_plan_changes_wallet_allocations(env: Env) -> None:
    acc = (await env.accounts.create("Upgrader", {"childrenbooks": "pro"})).id
    assert (await env.ledger.balance(acc, "childrenbooks.credits")).monthly_allocation == 500
    info = await env.accounts.set_plan(acc, "childrenbooks", "premium")
    assert info.plans["childrenbooks"] == "premium"
    balance = await env.ledger.balance(acc, "childrenbooks.credits")
    assert (balance.monthly_allocation, balance.monthly_remaining) == (2000, 2000)

    await env.accounts.set_plan(acc, "storymint", "schools")  # from the default, no row yet
    assert (await env.ledger.balance(acc, "storymint.books")).monthly_allocation is None
    assert (await env.accounts.plan_of(acc, "storymint")).id == "schools"

    with pytest.raises(InvalidInput):
        await env.accounts.set_plan(acc, "childrenbooks", "platinum")
    with pytest.raises(NotFound):
        await env.accounts.set_plan("acc_missing", "childrenbooks", "pro")
    assert (await env.accounts.get(acc)).plans["childrenbooks"] == "premium"


async def test_downgrade_to_a_plan_without_api_revokes_that_familys_keys(env: Env) -> None:
    acc = (await env.accounts.create("Down", {"storymint": "max", "storynote": "pro"})).id
    sm1 = await env.keys.create(acc, "storymint")
    sm2 = await env.keys.create(acc, "storymint")
    sn = await env.keys.create(acc, "storynote")
    await env.keys.verify(sm1.raw, "storymint")  # cached before the downgrade

    await env.accounts.set_plan(acc, "storymint", "plus")
    assert (await env.ledger.balance(acc, "storymint.books")).monthly_allocation == 15
    for issued in (sm1, sm2):
        with pytest.raises(Unauthenticated) as caught:
            await env.keys.verify(issued.raw, "storymint")
        assert caught.value.reason == "revoked"
    assert all(k.revoked_at is not None for k in await env.keys.list(acc, "storymint"))
    assert (await env.keys.verify(sn.raw, "storynote")).revoked_at is None
    with pytest.raises(Forbidden, match="cannot issue API keys"):
        await env.keys.create(acc, "storymint")


async def test_no_api_plan_cannot_issue_keys(env: Env) -> None:
    acc = (await env.accounts.create("Free", {"childrenbooks": "free"})).id
    with pytest.raises(Forbidden, match="Free plans cannot issue API keys"):
        await env.keys.create(acc, "childrenbooks")
    assert await env.keys.list(acc) == []
    await env.accounts.set_plan(acc, "childrenbooks", "pro")
    assert (await env.keys.create(acc, "childrenbooks")).info.family == "childrenbooks"
