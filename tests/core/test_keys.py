"""API keys on both databases, and revocation reaching another replica through Redis."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text, update

from gateway.core.accounts import AccountService
from gateway.core.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from gateway.core.key_invalidation import LocalInvalidation, RedisInvalidation
from gateway.core.keys import (
    IssuedKey,
    KeyService,
    hash_key,
    looks_like_key,
)
from gateway.core.ledger import Ledger
from gateway.core.pages import Cursor
from gateway.core.plans import DEMO_PLANS, FAMILIES
from gateway.db.engine import Database
from gateway.db.models import ApiKey

FORMATS = {
    "storymint": re.compile(r"^sm_[A-Za-z0-9]{40}$"),
    "childrenbooks": re.compile(r"^cbk_live_[A-Za-z0-9]{40}$"),
    "storynote": re.compile(r"^sk_live_[A-Za-z0-9]{40}$"),
    "sleeperhit": re.compile(r"^sh_[0-9a-f]{18}_[0-9a-f]{64}$"),
}
T0 = datetime(2030, 5, 17, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Ticks:
    """A monotonic clock the test moves by hand, so cache lifetimes need no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Env:
    db: Database
    keys: KeyService
    accounts: AccountService
    clock: Clock

    async def account(self, plans: dict[str, str] | None = None) -> str:
        chosen = DEMO_PLANS if plans is None else plans
        info = await self.accounts.create("Acme " + secrets.token_hex(2), chosen)
        return info.id


@pytest.fixture
async def env(db: Database) -> AsyncIterator[Env]:
    clock = Clock()
    keys = KeyService(db, LocalInvalidation(), clock=clock, usage_flush_seconds=0)
    await keys.start()
    try:
        yield Env(db, keys, AccountService(db, Ledger(db), keys), clock)
    finally:
        await keys.close()


async def reason(keys: KeyService, raw: str | None, family: str, ip: str | None = None) -> str:
    with pytest.raises(Unauthenticated) as caught:
        await keys.verify(raw, family, ip=ip)
    return caught.value.reason


async def test_each_family_issues_its_own_format(env: Env) -> None:
    acc = await env.account()
    for family in FAMILIES:
        scope = "story:read" if family == "sleeperhit" else "read"
        issued = await env.keys.create(acc, family, label=f"{family} key", scopes=[scope])
        raw = issued.raw
        assert FORMATS[family].fullmatch(raw), raw
        assert looks_like_key(family, raw)
        assert not any(looks_like_key(other, raw) for other in FAMILIES if other != family)
        assert raw not in repr(issued) and raw not in str(issued)
        info = issued.info
        assert raw.startswith(info.prefix) and len(info.prefix) < len(raw) - 30
        if family == "sleeperhit":
            assert info.prefix == raw[:21]  # "sh_" + the 18-hex public id
        assert (info.account_id, info.family, info.label, info.scopes) == (
            acc,
            family,
            f"{family} key",
            (scope,),
        )
        assert info.revoked_at is None and info.last_used_at is None
    assert not looks_like_key("storymint", "sm_" + "A" * 39)
    assert not looks_like_key("sleeperhit", "sh_" + "A" * 18 + "_" + "a" * 64)


async def test_raw_key_is_never_stored(env: Env) -> None:
    acc = await env.account()
    issued = [await env.keys.create(acc, family) for family in FAMILIES]
    async with env.db.read() as conn:
        rows = (await conn.execute(text("SELECT * FROM api_keys"))).mappings().all()
    assert len(rows) == len(FAMILIES)
    dumped = repr([dict(r) for r in rows])
    for key in issued:
        assert key.raw not in dumped
        random_part = key.raw.rsplit("_", 1)[1]
        assert random_part not in dumped
    by_id = {r["id"]: r for r in rows}
    for key in issued:
        assert by_id[key.info.id]["key_hash"] == hashlib.sha256(key.raw.encode()).hexdigest()
        assert hash_key(key.raw) == by_id[key.info.id]["key_hash"]


async def test_verify_accepts_live_keys_and_refuses_the_rest(env: Env) -> None:
    acc = await env.account()
    for family in FAMILIES:
        issued = await env.keys.create(acc, family)
        info = await env.keys.verify(issued.raw, family, ip="203.0.113.9")
        assert info.id == issued.info.id and info.account_id == acc
    sm = await env.keys.create(acc, "storymint")
    assert await reason(env.keys, None, "storymint") == "missing"
    assert await reason(env.keys, "", "storymint") == "missing"
    assert await reason(env.keys, "not-a-key", "storymint") == "invalid"
    assert await reason(env.keys, sm.raw + "x", "storymint") == "invalid"
    # Well-formed but never issued.
    unknown = "sm_" + "".join(secrets.choice("abcXYZ019") for _ in range(40))
    assert await reason(env.keys, unknown, "storymint") == "invalid"
    # A key of one family is invalid on every other family's routes.
    for other in FAMILIES:
        if other != "storymint":
            assert await reason(env.keys, sm.raw, other) == "invalid"
    assert (await env.keys.verify(sm.raw, "storymint")).id == sm.info.id

    # The family is checked beyond the format: a stored row of another family is refused.
    cbk = await env.keys.create(acc, "childrenbooks")
    async with env.db.write() as conn:
        await conn.execute(
            update(ApiKey).where(ApiKey.id == cbk.info.id).values(family="storynote")
        )
    assert await reason(env.keys, cbk.raw, "childrenbooks") == "invalid"


async def test_revoked_keys_are_refused_at_once(env: Env) -> None:
    acc = await env.account()
    issued = await env.keys.create(acc, "storynote")
    await env.keys.verify(issued.raw, "storynote")  # now cached
    revoked = await env.keys.revoke(issued.info.id, acc)
    assert revoked.revoked_at == T0
    assert await reason(env.keys, issued.raw, "storynote") == "revoked"
    env.clock.now = T0 + timedelta(hours=1)
    again = await env.keys.revoke(issued.info.id, acc)  # idempotent: first time stands
    assert again.revoked_at == T0

    # A whole family at once (a plan downgrade), and nothing of another family.
    a = await env.keys.create(acc, "childrenbooks")
    b = await env.keys.create(acc, "childrenbooks")
    other = await env.keys.create(acc, "storymint")
    await env.keys.verify(a.raw, "childrenbooks")
    assert await env.keys.revoke_family(acc, "childrenbooks") == 2
    assert await env.keys.revoke_family(acc, "childrenbooks") == 0
    assert await reason(env.keys, a.raw, "childrenbooks") == "revoked"
    assert await reason(env.keys, b.raw, "childrenbooks") == "revoked"
    assert (await env.keys.verify(other.raw, "storymint")).id == other.info.id


async def test_expired_key_is_refused(env: Env) -> None:
    acc = await env.account()
    issued = await env.keys.create(acc, "sleeperhit", expires_at=T0 + timedelta(minutes=5))
    assert (await env.keys.verify(issued.raw, "sleeperhit")).expires_at == T0 + timedelta(minutes=5)
    env.clock.now = T0 + timedelta(minutes=5, seconds=1)
    assert await reason(env.keys, issued.raw, "sleeperhit") == "expired"


async def test_ip_allowlist(env: Env) -> None:
    acc = await env.account()
    issued = await env.keys.create(
        acc, "storymint", ip_allowlist=["10.20.0.0/16", "192.0.2.7", "2001:db8::/32"]
    )
    assert issued.info.ip_allowlist == ("10.20.0.0/16", "192.0.2.7", "2001:db8::/32")
    for ip in ("10.20.3.4", "10.20.255.255", "192.0.2.7", "::ffff:10.20.1.1", "2001:db8::1"):
        assert (await env.keys.verify(issued.raw, "storymint", ip=ip)).id == issued.info.id
    for ip in ("10.21.0.1", "192.0.2.8", "8.8.8.8", None, "", "nonsense", "2001:db9::1"):
        assert await reason(env.keys, issued.raw, "storymint", ip) == "ip_not_allowed"
    with pytest.raises(InvalidInput):
        await env.keys.create(acc, "storymint", ip_allowlist=["10.0.0.0/33"])
    with pytest.raises(InvalidInput):
        await env.keys.create(acc, "storymint", ip_allowlist=["example.com"])
    # The bad ones created nothing.
    assert len(await env.keys.list(acc, "storymint")) == 1


async def test_last_used_at_is_written_at_most_once_a_minute(env: Env) -> None:
    acc = await env.account()
    issued = await env.keys.create(acc, "storymint")
    for _ in range(50):
        await env.keys.verify(issued.raw, "storymint")
    # Nothing is written on the request path itself...
    assert (await env.keys.get(issued.info.id)).last_used_at is None
    # ...fifty requests become one buffered write.
    assert await env.keys.flush_usage() == 1
    assert (await env.keys.get(issued.info.id)).last_used_at == T0

    env.clock.now = T0 + timedelta(seconds=30)
    await env.keys.verify(issued.raw, "storymint")
    assert await env.keys.flush_usage() == 0
    assert (await env.keys.get(issued.info.id)).last_used_at == T0

    env.clock.now = T0 + timedelta(seconds=61)
    await env.keys.verify(issued.raw, "storymint")
    assert await env.keys.flush_usage() == 1
    assert (await env.keys.get(issued.info.id)).last_used_at == T0 + timedelta(seconds=61)

    # Another replica (its own memory) does not write within that minute either.
    other = KeyService(env.db, LocalInvalidation(), clock=env.clock, usage_flush_seconds=0)
    env.clock.now = T0 + timedelta(seconds=90)
    await other.verify(issued.raw, "storymint")
    assert await other.flush_usage() == 0
    assert (await env.keys.get(issued.info.id)).last_used_at == T0 + timedelta(seconds=61)


async def test_list_get_and_isolation(env: Env) -> None:
    acc, intruder = await env.account(), await env.account()
    first = await env.keys.create(acc, "storymint", label="first")
    env.clock.now = T0 + timedelta(seconds=1)
    second = await env.keys.create(acc, "storymint", label="second")
    env.clock.now = T0 + timedelta(seconds=2)
    third = await env.keys.create(acc, "storynote", label="third")
    await env.keys.revoke(first.info.id)

    listed = await env.keys.list(acc)
    assert [k.label for k in listed] == ["third", "second", "first"]
    assert listed[2].revoked_at is not None
    assert [k.label for k in await env.keys.list(acc, "storymint")] == ["second", "first"]
    assert await env.keys.list(intruder) == []

    assert (await env.keys.get(second.info.id, acc)).label == "second"
    with pytest.raises(NotFound):
        await env.keys.get(second.info.id, intruder)
    with pytest.raises(NotFound):
        await env.keys.revoke(third.info.id, intruder)
    with pytest.raises(NotFound):
        await env.keys.get("key_missing")
    # The intruder's attempt changed nothing.
    assert (await env.keys.verify(third.raw, "storynote")).revoked_at is None


async def test_pages_walk_every_key_once_across_equal_timestamps(env: Env) -> None:
    """Keys created in the same instant (the fixed clock) are split by id at page boundaries."""
    acc, other = await env.account(), await env.account()
    made = [await env.keys.create(acc, "storymint", label=f"k{i}") for i in range(5)]
    env.clock.now = T0 + timedelta(seconds=1)
    made += [await env.keys.create(acc, "storymint", label=f"k{i}") for i in range(5, 7)]
    await env.keys.create(acc, "storynote")  # another family: never on a storymint page
    await env.keys.create(other, "storymint")  # another account: never on this one's pages

    seen: list[str] = []
    after = None
    for _ in range(10):
        page, after = await env.keys.page(acc, "storymint", limit=2, after=after)
        assert len(page) <= 2
        seen += [k.id for k in page]
        if after is None:
            break
        assert after.id == page[-1].id and after.created_at == page[-1].created_at
    assert after is None
    newest_first = sorted(made, key=lambda k: (k.info.created_at, k.info.id), reverse=True)
    assert seen == [k.info.id for k in newest_first]
    # The last full page says there is no further page, rather than leading to an empty one.
    page, after = await env.keys.page(acc, "storymint", limit=7)
    assert len(page) == 7 and after is None
    # Without paging arguments, the first page is the whole (small) list, as list() gives.
    assert [k.id for k in (await env.keys.page(acc, "storymint"))[0]] == seen
    assert [k.id for k in await env.keys.list(acc, "storymint")] == seen


async def test_a_cursor_past_every_key_is_an_empty_last_page(env: Env) -> None:
    acc = await env.account()
    await env.keys.create(acc, "storymint")
    past = Cursor(T0 - timedelta(days=1), "key_zzz")
    assert await env.keys.page(acc, "storymint", after=past) == ([], None)
    # Round trip through the opaque text form a client sees.
    first, after = await env.keys.page(acc, limit=1)
    assert after is None and len(first) == 1
    ahead = Cursor.decode(Cursor(T0 + timedelta(days=1), "key_0").encode())
    assert [k.id for k in (await env.keys.page(acc, after=ahead))[0]] == [first[0].id]


async def test_create_refusals(env: Env) -> None:
    with pytest.raises(NotFound):
        await env.keys.create("acc_nobody", "storymint")
    free = await env.account({})  # every family on its default plan
    with pytest.raises(Forbidden, match="Free plans cannot issue API keys"):
        await env.keys.create(free, "storymint")
    with pytest.raises(InvalidInput):
        await env.keys.create(free, "nosuchfamily")
    # No family's default (free) plan holds a key; a paid one does.
    with pytest.raises(Forbidden):
        await env.keys.create(free, "storynote")
    pro = await env.account({"storynote": "pro"})
    assert (await env.keys.create(pro, "storynote")).info.family == "storynote"


async def test_cache_bounds_staleness_without_a_broadcast(db: Database) -> None:
    """A change no broadcast announced is seen once the cache entry expires."""
    ticks = Ticks()
    keys = KeyService(
        db,
        LocalInvalidation(),
        cache_seconds=0.3,
        cache_size=3,
        usage_flush_seconds=0,
        monotonic=ticks,
    )
    await keys.start()
    try:
        acc = (await AccountService(db, Ledger(db), keys).create("c", DEMO_PLANS)).id
        issued = await keys.create(acc, "storymint")
        await keys.verify(issued.raw, "storymint")
        async with db.write() as conn:
            await conn.execute(
                update(ApiKey).where(ApiKey.id == issued.info.id).values(revoked_at=T0)
            )
        ticks.now += 0.29
        await keys.verify(issued.raw, "storymint")  # served from the cache
        ticks.now += 0.02  # past the entry's 0.3 s
        assert await reason(keys, issued.raw, "storymint") == "revoked"

        # The cache stays bounded however many keys (or unknown digests) come by.
        for _ in range(5):
            await keys.verify((await keys.create(acc, "storynote")).raw, "storynote")
            await reason(keys, "sk_live_" + secrets.token_hex(20), "storynote")
        assert len(keys._cache) == 3
    finally:
        await keys.close()


async def test_raw_key_never_reaches_a_log(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: every library's records included
    acc = await env.account()
    raws: list[str] = []
    for family in FAMILIES:
        issued = await env.keys.create(acc, family, label="logged")
        raws.append(issued.raw)
        logging.getLogger("test").debug("issued %r", issued)
        await env.keys.verify(issued.raw, family, ip="192.0.2.1")
        for other in FAMILIES:
            if other != family:
                with pytest.raises(Unauthenticated) as caught:
                    await env.keys.verify(issued.raw, other)
                assert issued.raw not in str(caught.value)
        await env.keys.flush_usage()
        await env.keys.revoke(issued.info.id, acc)
        with pytest.raises(Unauthenticated):
            await env.keys.verify(issued.raw, family)
    await env.keys.revoke_family(acc, "storymint")
    assert len(caplog.records) > 10  # the capture really saw the work
    everything = caplog.text + "".join(
        f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records
    )
    for raw in raws:
        assert raw not in everything
        assert raw.rsplit("_", 1)[1] not in everything


# -- distributed: two replicas, one PostgreSQL database, revocation over Redis -------------


async def _replica(pg_url: str, redis_url: str, prefix: str, name: str):  # type: ignore[no-untyped-def]
    db = Database(pg_url)
    client = aioredis.from_url(redis_url, client_name=name)
    keys = KeyService(
        db,
        RedisInvalidation(client, prefix=prefix, retry_seconds=0.1),
        cache_seconds=60,
        usage_flush_seconds=0,
    )
    await keys.start()
    return db, client, keys


async def _until_refused(keys: KeyService, issued: IssuedKey, family: str) -> str:
    deadline = asyncio.get_running_loop().time() + 1.0
    while True:
        try:
            await keys.verify(issued.raw, family)
        except Unauthenticated as exc:
            return exc.reason
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail("the other replica still accepts the revoked key after 1 s")
        await asyncio.sleep(0.02)


@pytest.fixture
async def replicas(pg_url: str, redis_url: str, redis_prefix: str) -> AsyncIterator[tuple]:
    name = "sgtest-" + secrets.token_hex(4)
    a = await _replica(pg_url, redis_url, redis_prefix, name + "-a")
    b = await _replica(pg_url, redis_url, redis_prefix, name + "-b")
    try:
        yield a, b, name
    finally:
        for db, client, keys in (a, b):
            await keys.close()
            await client.aclose()
            await db.close()


async def test_revocation_reaches_another_replica(replicas: tuple) -> None:
    (db_a, _, keys_a), (_, client_b, keys_b), name = replicas
    acc = (await AccountService(db_a, Ledger(db_a), keys_a).create("r", DEMO_PLANS)).id
    issued = await keys_a.create(acc, "sleeperhit")
    await keys_a.verify(issued.raw, "sleeperhit")
    await keys_b.verify(issued.raw, "sleeperhit")

    # B really serves from its 60 s cache: a revocation nobody broadcasts goes unseen.
    async with db_a.write() as conn:
        await conn.execute(update(ApiKey).where(ApiKey.id == issued.info.id).values(revoked_at=T0))
    await keys_b.verify(issued.raw, "sleeperhit")
    async with db_a.write() as conn:
        await conn.execute(
            update(ApiKey).where(ApiKey.id == issued.info.id).values(revoked_at=None)
        )

    await keys_a.revoke(issued.info.id, acc)
    assert await _until_refused(keys_b, issued, "sleeperhit") == "revoked"
    assert await reason(keys_a, issued.raw, "sleeperhit") == "revoked"

    # B's listener survives its connection being dropped: it resubscribes and still hears.
    second = await keys_a.create(acc, "storymint")
    await keys_b.verify(second.raw, "storymint")
    channel = keys_b._invalidation.channel  # type: ignore[attr-defined]
    clients = await client_b.client_list()
    subscribers = [c for c in clients if c.get("name") == name + "-b" and c.get("sub") != "0"]
    assert subscribers, clients
    for c in subscribers:
        await client_b.client_kill_filter(_id=c["id"])

    async def subscribed() -> int:
        counts = dict(await client_b.pubsub_numsub(channel))
        return int(counts.get(channel.encode(), counts.get(channel, 0)))

    deadline = asyncio.get_running_loop().time() + 5
    while await subscribed() < 2:
        assert asyncio.get_running_loop().time() < deadline, "listener never resubscribed"
        await asyncio.sleep(0.05)
    await keys_b.verify(second.raw, "storymint")  # cached again after the reconnect
    await keys_a.revoke(second.info.id)
    assert await _until_refused(keys_b, second, "storymint") == "revoked"


async def test_sleeperhit_scopes_default_and_are_checked(env: Env) -> None:
    acc = await env.account()
    plain = await env.keys.create(acc, "sleeperhit")
    assert plain.info.scopes == ("story:read", "credits:read")
    assert not plain.info.elevated
    chosen = await env.keys.create(
        acc, "sleeperhit", scopes=["story:write", "story:write", "artifact:read"], elevated=True
    )
    assert chosen.info.scopes == ("story:write", "artifact:read") and chosen.info.elevated
    verified = await env.keys.verify(chosen.raw, "sleeperhit")
    assert verified.scopes == chosen.info.scopes and verified.elevated
    with pytest.raises(InvalidInput, match="unknown sleeperhit scope"):
        await env.keys.create(acc, "sleeperhit", scopes=["story:delete"])
    # Families without scopes keep whatever labels an operator gives.
    assert (await env.keys.create(acc, "storymint")).info.scopes == ()


async def test_a_disabled_account_stands_disabled_until_enabled(env: Env) -> None:
    acc = await env.account()
    assert not (await env.accounts.standing(acc, "sleeperhit")).disabled
    await env.accounts.set_disabled(acc, True)
    assert (await env.accounts.standing(acc, "sleeperhit")).disabled
    assert (await env.accounts.standing(acc, "storymint")).disabled
    await env.accounts.set_disabled(acc, False)
    assert not (await env.accounts.standing(acc, "sleeperhit")).disabled
    with pytest.raises(NotFound):
        await env.accounts.set_disabled("acc_missing", True)
