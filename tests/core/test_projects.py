"""StoryNote's projects and what they rest on, on both databases: the project table, the jobs
that name a project as their subject, the per-account event stream of a family, an operator's
custom allowance on one wallet, and the plan catalogue those read."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, insert, select

import gateway.core.projects as projects_module
from gateway.core.accounts import AccountService
from gateway.core.errors import Forbidden, InvalidInput, NotFound
from gateway.core.events import EventBus, MemoryEventBus, RedisEventBus
from gateway.core.jobs import JobService, account_channel_of, channel_of
from gateway.core.key_invalidation import LocalInvalidation
from gateway.core.keys import KeyService
from gateway.core.ledger import Ledger
from gateway.core.pages import Cursor
from gateway.core.plans import FAMILIES, default_plan, get_plan, plans_of, wallets
from gateway.core.projects import NAME_MAX, ProjectInfo, ProjectService
from gateway.db.engine import Database
from gateway.db.models import Account, LedgerEntry, Project, Wallet, utcnow


async def new_account(db: Database, name: str = "other") -> str:
    acc = "acc_" + secrets.token_hex(6)
    async with db.write() as conn:
        await conn.execute(
            insert(Account).values(id=acc, name=name, profile={}, created_at=utcnow())
        )
    return acc


async def count(db: Database, table: type, **where: Any) -> int:
    stmt = select(func.count()).select_from(table)
    for column, value in where.items():
        stmt = stmt.where(getattr(table, column) == value)
    async with db.read() as conn:
        return int(await conn.scalar(stmt) or 0)


def ticking(start: datetime, step: timedelta = timedelta(seconds=1)) -> Callable[[], datetime]:
    moments: Iterator[datetime] = (start + step * i for i in range(10_000))
    return lambda: next(moments)


@pytest.fixture
def projects(db: Database) -> ProjectService:
    return ProjectService(db)


# --- projects --------------------------------------------------------------------------------


async def test_create_and_get_round_trip(
    db: Database, projects: ProjectService, account_id: str
) -> None:
    before = utcnow()
    made = await projects.create(account_id, "storynote", "My First Project")
    assert isinstance(made, ProjectInfo)
    assert len(made.id) == 24 and int(made.id, 16) >= 0  # 24 hex digits
    assert (made.account_id, made.family) == (account_id, "storynote")
    assert made.name == "My First Project"
    assert made.created_at.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= made.created_at <= utcnow() + timedelta(seconds=1)
    assert await projects.get(made.id, account_id, "storynote") == made

    again = await projects.create(account_id, "storynote", "My First Project")
    assert again.id != made.id  # names need not be unique; ids are
    assert await count(db, Project, account_id=account_id) == 2


async def test_another_accounts_or_familys_project_is_not_found(
    db: Database, projects: ProjectService, account_id: str
) -> None:
    made = await projects.create(account_id, "storynote", "Mine")
    other = await new_account(db)
    with pytest.raises(NotFound):
        await projects.get(made.id, other, "storynote")
    with pytest.raises(NotFound):
        await projects.get(made.id, account_id, "storymint")
    for missing in ("0" * 24, "", "x" * 300, made.id.upper()):
        with pytest.raises(NotFound):
            await projects.get(missing, account_id, "storynote")
    # Still there for its owner.
    assert (await projects.get(made.id, account_id, "storynote")).name == "Mine"


@pytest.mark.parametrize(
    "name",
    ["a", "x" * NAME_MAX, "  padded  ", "物語" * (NAME_MAX // 2), "Ünïcødé 🦊 project"],
)
async def test_names_that_are_accepted_are_kept_exactly(
    projects: ProjectService, account_id: str, name: str
) -> None:
    made = await projects.create(account_id, "storynote", name)
    assert made.name == name
    assert (await projects.get(made.id, account_id, "storynote")).name == name


@pytest.mark.parametrize(
    "name",
    ["", " ", "   \t\n ", "x" * (NAME_MAX + 1), "物" * (NAME_MAX + 1), None, 42, b"bytes"],
)
async def test_bad_names_are_invalid_input_and_write_nothing(
    db: Database, projects: ProjectService, account_id: str, name: Any
) -> None:
    with pytest.raises(InvalidInput) as raised:
        await projects.create(account_id, "storynote", name)
    assert raised.value.details.get("field") == "name"
    assert await count(db, Project) == 0


@pytest.mark.parametrize("name", ["a\x00b", "\x00"])
async def test_a_name_holding_nul_is_invalid_input_on_both_databases(
    db: Database, projects: ProjectService, account_id: str, name: str
) -> None:
    with pytest.raises(InvalidInput):
        await projects.create(account_id, "storynote", name)
    assert await count(db, Project) == 0


async def test_pages_are_newest_first_and_scoped_to_account_and_family(
    db: Database, projects: ProjectService, account_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(projects_module, "utcnow", ticking(datetime(2030, 1, 1, tzinfo=UTC)))
    other = await new_account(db)
    mine = [await projects.create(account_id, "storynote", f"p{i}") for i in range(5)]
    await projects.create(account_id, "storymint", "another family")
    await projects.create(other, "storynote", "another account")

    everything, cursor = await projects.page(account_id, "storynote")
    assert [p.name for p in everything] == ["p4", "p3", "p2", "p1", "p0"]
    assert cursor is None
    assert everything == list(reversed(mine))

    first, cursor = await projects.page(account_id, "storynote", limit=2)
    assert [p.name for p in first] == ["p4", "p3"] and cursor is not None
    # The cursor survives the wire (encode, then decode what a client sends back).
    second, cursor = await projects.page(
        account_id, "storynote", limit=2, after=Cursor.decode(cursor.encode())
    )
    assert [p.name for p in second] == ["p2", "p1"] and cursor is not None
    last, cursor = await projects.page(account_id, "storynote", limit=2, after=cursor)
    assert [p.name for p in last] == ["p0"] and cursor is None
    exact, cursor = await projects.page(account_id, "storynote", limit=5)
    assert len(exact) == 5 and cursor is None  # a full last page has no next page

    assert [p.name for p in (await projects.page(account_id, "storymint"))[0]] == ["another family"]
    assert [p.name for p in (await projects.page(other, "storynote"))[0]] == ["another account"]
    assert (await projects.page(other, "storymint")) == ([], None)
    tiny, cursor = await projects.page(account_id, "storynote", limit=0)
    assert [p.name for p in tiny] == ["p4"] and cursor is not None  # at least one a page


async def test_pages_neither_skip_nor_repeat_projects_of_the_same_instant(
    projects: ProjectService, account_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    instant = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
    monkeypatch.setattr(projects_module, "utcnow", lambda: instant)
    made = {(await projects.create(account_id, "storynote", f"p{i}")).id for i in range(7)}
    seen: list[str] = []
    cursor: Cursor | None = None
    for _ in range(10):
        page, cursor = await projects.page(account_id, "storynote", limit=3, after=cursor)
        assert len(page) <= 3
        seen += [p.id for p in page]
        if cursor is None:
            break
    assert len(seen) == 7 and set(seen) == made
    assert seen == sorted(made, reverse=True)  # ties fall back to the id, newest first


# --- a project's generations: jobs that name it as their subject -------------------------


async def test_of_subject_lists_the_accounts_jobs_in_the_project_oldest_first(
    db: Database, projects: ProjectService, account_id: str
) -> None:
    jobs = JobService(db, MemoryEventBus(), clock=ticking(datetime(2030, 2, 1, tzinfo=UTC)))
    project = await projects.create(account_id, "storynote", "Film")
    elsewhere = await projects.create(account_id, "storynote", "Elsewhere")
    other = await new_account(db)

    inside = []
    for i in range(3):
        inside.append(
            await jobs.create(account_id, "storynote", "image", {"i": i}, subject_id=project.id)
        )
        # Noise between them: another project, no project, another family, another account.
        await jobs.create(account_id, "storynote", "image", {}, subject_id=elsewhere.id)
        await jobs.create(account_id, "storynote", "image", {})
        await jobs.create(account_id, "storymint", "book", {}, subject_id=project.id)
        await jobs.create(other, "storynote", "image", {}, subject_id=project.id)

    found = await jobs.of_subject(account_id, project.id, family="storynote")
    assert [j.id for j in found] == [j.id for j in inside]
    assert [j.params["i"] for j in found] == [0, 1, 2]
    assert all(j.subject_id == project.id for j in found)
    first_two = await jobs.of_subject(account_id, project.id, family="storynote", limit=2)
    assert [j.id for j in first_two] == [j.id for j in inside[:2]]

    assert await jobs.of_subject(other, elsewhere.id, family="storynote") == []
    assert await jobs.of_subject(account_id, "0" * 24, family="storynote") == []
    # A refused request creates no job, so an empty project stays empty.
    empty = await projects.create(account_id, "storynote", "Empty")
    assert await jobs.of_subject(account_id, empty.id, family="storynote") == []


async def test_many_returns_only_the_accounts_jobs_in_the_family_once_each(
    db: Database, account_id: str
) -> None:
    jobs = JobService(db, MemoryEventBus())
    other = await new_account(db)
    a = await jobs.create(account_id, "storynote", "image", {})
    b = await jobs.create(account_id, "storynote", "video", {})
    untouched = await jobs.create(account_id, "storynote", "audio", {})
    other_family = await jobs.create(account_id, "storymint", "book", {})
    foreign = await jobs.create(other, "storynote", "image", {})

    asked = [b.id, "missing-" + secrets.token_hex(4), foreign.id, a.id, other_family.id, b.id]
    found = await jobs.many(asked, account_id, family="storynote")
    assert len(found) == 2
    assert {j.id for j in found} == {a.id, b.id}
    assert {j.id: j for j in found} == {a.id: a, b.id: b}  # whole records, as created
    assert untouched.id not in {j.id for j in found}

    assert await jobs.many([], account_id, family="storynote") == []
    assert await jobs.many(iter([a.id, a.id]), account_id, family="storynote") == [a]
    assert await jobs.many([a.id], account_id, family="storymint") == []
    assert await jobs.many([a.id, b.id], other, family="storynote") == []
    assert [j.id for j in await jobs.many([foreign.id], other, family="storynote")] == [foreign.id]


# --- the per-account event stream of a family --------------------------------------------


@pytest.fixture(params=["memory", "redis"])
def bus_config(request: pytest.FixtureRequest) -> tuple[str, str, str]:
    if request.param == "memory":
        return ("memory", "", "")
    return ("redis", request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix"))


@pytest.fixture
async def bus(bus_config: tuple[str, str, str]) -> AsyncIterator[EventBus]:
    kind, url, prefix = bus_config
    if kind == "memory":
        memory = MemoryEventBus()
        yield memory
        await memory.close()
        return
    client = aioredis.from_url(url)
    redis_bus = RedisEventBus(client, prefix=prefix)
    yield redis_bus
    await redis_bus.close()
    await client.aclose()


async def take(events: AsyncIterator[dict[str, Any]], n: int, timeout: float = 5.0) -> list[Any]:
    async def collect() -> list[Any]:
        got: list[Any] = []
        async for ev in events:
            got.append(ev)
            if len(got) == n:
                break
        return got

    return await asyncio.wait_for(collect(), timeout)


async def nothing_within(events: AsyncIterator[dict[str, Any]], seconds: float = 0.3) -> bool:
    try:
        await asyncio.wait_for(anext(events), seconds)
    except (TimeoutError, StopAsyncIteration):
        return True
    return False


def steps(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["job_id"], e["status"]) for e in events]


async def test_an_accounts_channel_carries_every_change_of_its_jobs_in_the_family(
    db: Database, bus: EventBus, account_id: str
) -> None:
    jobs = JobService(db, bus)
    other = await new_account(db)
    mine = account_channel_of(account_id, "storynote")
    assert len({mine, account_channel_of(other, "storynote")}) == 2
    assert len({mine, account_channel_of(account_id, "storymint"), channel_of("x")}) == 3

    async with (
        bus.subscribe(mine) as events,
        bus.subscribe(account_channel_of(account_id, "storymint")) as mint_events,
        bus.subscribe(account_channel_of(other, "storynote")) as other_events,
    ):
        first = await jobs.create(account_id, "storynote", "image", {})
        # Changes outside the channel, interleaved: another family, another account.
        mint = await jobs.create(account_id, "storymint", "book", {})
        foreign = await jobs.create(other, "storynote", "image", {})
        await jobs.start(first.id)
        await jobs.start(mint.id)
        await jobs.start(foreign.id)
        assert await jobs.progress(first.id, pct=40, step="drawing")
        await jobs.succeed(foreign.id, {})
        assert await jobs.succeed(first.id, {"url": "x"})
        await jobs.succeed(mint.id, {})
        second = await jobs.create(account_id, "storynote", "video", {})
        await jobs.start(second.id)
        assert await jobs.fail(second.id, "content_rejected", "no")
        assert not await jobs.progress(second.id, pct=99)  # after the end: no event

        got = await take(events, 7)
        assert steps(got) == [
            (first.id, "queued"),
            (first.id, "running"),
            (first.id, "running"),
            (first.id, "succeeded"),
            (second.id, "queued"),
            (second.id, "running"),
            (second.id, "failed"),
        ]
        assert got[2]["pct"] == 40 and got[2]["step"] == "drawing"
        assert [e["final"] for e in got] == [False, False, False, True, False, False, True]
        assert (got[-1]["error_code"], got[-1]["error_message"]) == ("content_rejected", "no")
        assert await nothing_within(events)

        assert steps(await take(mint_events, 3)) == [
            (mint.id, "queued"),
            (mint.id, "running"),
            (mint.id, "succeeded"),
        ]
        assert steps(await take(other_events, 3)) == [
            (foreign.id, "queued"),
            (foreign.id, "running"),
            (foreign.id, "succeeded"),
        ]
        assert await nothing_within(mint_events) and await nothing_within(other_events)


async def test_the_job_channel_still_gets_the_same_events(
    db: Database, bus: EventBus, account_id: str
) -> None:
    jobs = JobService(db, bus)
    job_id = "evt-" + secrets.token_hex(8)
    async with (
        bus.subscribe(channel_of(job_id)) as per_job,
        bus.subscribe(account_channel_of(account_id, "storynote")) as per_account,
    ):
        await jobs.create(account_id, "storynote", "audio", {}, job_id=job_id)
        await jobs.start(job_id)
        await jobs.cancel(job_id, account_id)
        from_job = await take(per_job, 3)
        from_account = await take(per_account, 3)
    assert steps(from_job) == [(job_id, "queued"), (job_id, "running"), (job_id, "canceled")]
    assert from_account == from_job


# --- an operator's custom allowance on one wallet ----------------------------------------


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


async def test_allocate_sets_the_monthly_allowance_through_the_ledger(env: Env) -> None:
    acc = (await env.accounts.create("Deal")).id
    bystander = (await env.accounts.create("Bystander")).id
    plan_monthly = default_plan("storynote").monthly["storynote.credits"]
    assert (await env.ledger.balance(acc, "storynote.credits")).monthly_allocation == plan_monthly
    entries = await count(env.db, LedgerEntry)

    custom = await env.accounts.allocate(acc, "storynote.credits", 500)
    assert (custom.account_id, custom.unit) == (acc, "storynote.credits")
    assert (custom.monthly_allocation, custom.monthly_remaining, custom.spendable) == (
        500,
        500,
        500,
    )
    assert await env.ledger.balance(acc, "storynote.credits") == custom
    assert await count(env.db, LedgerEntry) == entries + 1  # one entry records the change
    assert await env.ledger.audit(acc, "storynote.credits")
    # Nothing else moved: other wallets, other accounts.
    assert (await env.ledger.balance(acc, "storymint.books")).monthly_allocation == 1
    assert (
        await env.ledger.balance(bystander, "storynote.credits")
    ).monthly_allocation == plan_monthly

    unlimited = await env.accounts.allocate(acc, "storynote.credits", None)
    assert unlimited.monthly_allocation is None and unlimited.spendable is None
    back = await env.accounts.allocate(acc, "storynote.credits", 200)
    assert (back.monthly_allocation, back.monthly_remaining, back.spendable) == (200, 200, 200)
    none = await env.accounts.allocate(acc, "sleeperhit.credits", 0)
    assert (none.monthly_allocation, none.spendable) == (0, 0)
    assert await env.ledger.audit(acc, "storynote.credits")

    # The custom allowance holds until the account's plan in that family changes.
    await env.accounts.set_plan(acc, "storynote", "pro")
    moved = await env.ledger.balance(acc, "storynote.credits")
    assert moved.monthly_allocation == get_plan("storynote", "pro").monthly["storynote.credits"]


@pytest.mark.parametrize("unit", ["storynote.tokens", "storynote", "", "STORYNOTE.CREDITS"])
async def test_allocate_refuses_an_unknown_wallet_and_changes_nothing(env: Env, unit: str) -> None:
    acc = (await env.accounts.create("Deal")).id
    wallets_before = await count(env.db, Wallet)
    entries_before = await count(env.db, LedgerEntry)
    with pytest.raises(InvalidInput) as raised:
        await env.accounts.allocate(acc, unit, 500)
    assert "storynote.credits" in raised.value.message  # it names the wallets there are
    assert await count(env.db, Wallet) == wallets_before
    assert await count(env.db, LedgerEntry) == entries_before
    assert (await env.ledger.balance(acc, "storynote.credits")).monthly_allocation == 50


async def test_allocate_on_an_unknown_account_is_not_found_and_opens_no_wallet(env: Env) -> None:
    with pytest.raises(NotFound):
        await env.accounts.allocate("acc_missing", "storynote.credits", 500)
    assert await count(env.db, Wallet, account_id="acc_missing") == 0
    assert await count(env.db, Wallet) == 0


@pytest.mark.parametrize("monthly", [-1, True, 2.5, "500"])
async def test_allocate_refuses_an_amount_that_is_not_a_whole_number(
    env: Env, monthly: Any
) -> None:
    acc = (await env.accounts.create("Deal")).id
    with pytest.raises(InvalidInput):
        await env.accounts.allocate(acc, "storynote.credits", monthly)
    assert (await env.ledger.balance(acc, "storynote.credits")).monthly_allocation == 50


# --- the plan catalogue ------------------------------------------------------------------


def test_wallets_lists_every_unit_of_every_plan_once() -> None:
    units = [unit for family in FAMILIES for plan in plans_of(family) for unit in plan.monthly]
    listed = wallets()
    assert len(listed) == len(set(listed))
    assert set(listed) == set(units)
    assert set(listed) == {
        "storymint.books",
        "storymint.novels",
        "storymint.pings",
        "childrenbooks.credits",
        "storynote.credits",
        "sleeperhit.credits",
    }


def test_storynotes_free_plan_has_no_api_access_and_its_paid_plans_do() -> None:
    free = default_plan("storynote")
    assert free.id == "free" and free.api_access is False
    assert free.monthly == {"storynote.credits": 50}
    assert all(p.api_access for p in plans_of("storynote") if p.id != "free")


async def test_a_free_storynote_account_cannot_hold_a_storynote_key(env: Env) -> None:
    acc = (await env.accounts.create("Free")).id
    with pytest.raises(Forbidden):
        await env.keys.create(acc, "storynote")
    await env.accounts.set_plan(acc, "storynote", "pro")
    issued = await env.keys.create(acc, "storynote")
    await env.accounts.set_plan(acc, "storynote", "free")  # a downgrade revokes it
    assert (await env.keys.list(acc))[0].revoked_at is not None
    assert issued.info.family == "storynote"
