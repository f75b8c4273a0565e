"""API keys: one family each, shown once, kept only as a SHA-256 digest.

Verification sits on every request, so a verified row is cached briefly in a bounded LRU keyed
by the digest. A revocation must not wait for that cache to expire on other replicas, so it is
broadcast through a ``KeyInvalidation`` (in-process or Redis pub/sub) and evicts at once; the
short cache lifetime only bounds staleness when a broadcast is lost. ``last_used_at`` is
buffered in memory and written in batches at most once a minute per key, because a write per
request would turn every read-only call into a write transaction.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import hashlib
import ipaddress
import logging
import re
import secrets
import string
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, insert, or_, select, update
from sqlmodel import col

from gateway.core.errors import Forbidden, InvalidInput, NotFound, Unauthenticated
from gateway.core.ids import new_id
from gateway.core.key_invalidation import EVICT_ALL, KeyInvalidation
from gateway.core.pages import Cursor, beyond
from gateway.core.plans import check_family, default_plan, get_plan
from gateway.core.single_flight import SingleFlight
from gateway.db.engine import Database
from gateway.db.models import Account, AccountPlan, ApiKey, as_utc, utcnow

log = logging.getLogger(__name__)

_ALNUM = string.ascii_letters + string.digits
# Literal head of each family's keys; sleeperhit keys are built differently (see _generate).
_HEADS = {"storymint": "sm_", "childrenbooks": "cbk_live_", "storynote": "sk_live_"}
_FORMATS = {
    "storymint": re.compile(r"sm_[A-Za-z0-9]{40}"),
    "childrenbooks": re.compile(r"cbk_live_[A-Za-z0-9]{40}"),
    "storynote": re.compile(r"sk_live_[A-Za-z0-9]{40}"),
    "sleeperhit": re.compile(r"sh_[0-9a-f]{18}_[0-9a-f]{64}"),
}
# Random characters shown after the literal head: enough to tell keys apart on a dashboard,
# few enough that the hidden rest keeps well over 128 bits.
_SHOWN = 9
# Sent when a listener may have missed broadcasts (a reconnect): drop the whole cache. No
# digest can look like this.
USAGE_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: str
    account_id: str
    family: str
    prefix: str
    label: str
    scopes: tuple[str, ...]
    ip_allowlist: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    elevated: bool = False


@dataclass(frozen=True, slots=True)
class IssuedKey:
    info: KeyInfo
    raw: str = field(repr=False)


# SleeperHit keys carry scopes; a key created without any gets the reference's default.
SCOPES = {
    "sleeperhit": (
        "story:read",
        "story:write",
        "source:read",
        "source:write",
        "artifact:read",
        "artifact:publish",
        "credits:read",
        "webhook:write",
    )
}
DEFAULT_SCOPES = {"sleeperhit": ("story:read", "credits:read")}


def _scopes_of(family: str, scopes: Sequence[str] | None) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(str(s).strip() for s in scopes or () if str(s).strip()))
    known = SCOPES.get(family)
    if known is None:
        return chosen
    unknown = [s for s in chosen if s not in known]
    if unknown:
        raise InvalidInput(f"unknown {family} scope {unknown[0]!r} (known: {', '.join(known)})")
    return chosen or DEFAULT_SCOPES.get(family, ())


def looks_like_key(family: str, raw: str) -> bool:
    pattern = _FORMATS.get(family)
    return bool(pattern and isinstance(raw, str) and pattern.fullmatch(raw))


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _generate(family: str) -> tuple[str, str]:
    """Return (raw key, display prefix)."""
    if family == "sleeperhit":
        public_id = secrets.token_hex(9)
        return f"sh_{public_id}_{secrets.token_hex(32)}", f"sh_{public_id}"
    head = _HEADS[family]
    raw = head + "".join(secrets.choice(_ALNUM) for _ in range(40))
    return raw, raw[: len(head) + _SHOWN]


def _normalise_allowlist(entries: Sequence[str] | None) -> tuple[str, ...]:
    out: list[str] = []
    for entry in entries or ():
        text = str(entry).strip()
        try:
            net = ipaddress.ip_network(text, strict=False) if "/" in text else None
            out.append(str(net or ipaddress.ip_address(text)))
        except ValueError as exc:
            raise InvalidInput(f"invalid IP address or CIDR {text!r}") from exc
    return tuple(out)


def _ip_allowed(ip: str | None, allowlist: tuple[str, ...]) -> bool:
    if not allowlist:
        return True
    try:
        addr = ipaddress.ip_address(ip or "")
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped  # a dual-stack socket reports IPv4 clients this way
    networks = (ipaddress.ip_network(entry, strict=False) for entry in allowlist)
    return any(addr.version == net.version and addr in net for net in networks)


def _info(row: Any) -> KeyInfo:
    created = as_utc(row.created_at)
    assert created is not None
    return KeyInfo(
        id=row.id,
        account_id=row.account_id,
        family=row.family,
        prefix=row.prefix,
        label=row.label,
        scopes=tuple(row.scopes or ()),
        ip_allowlist=tuple(row.ip_allowlist or ()),
        created_at=created,
        last_used_at=as_utc(row.last_used_at),
        expires_at=as_utc(row.expires_at),
        revoked_at=as_utc(row.revoked_at),
        elevated=bool(row.elevated),
    )


class KeyService:
    def __init__(
        self,
        db: Database,
        invalidation: KeyInvalidation,
        *,
        cache_seconds: float = 1.0,
        cache_size: int = 10_000,
        clock: Callable[[], datetime] = utcnow,
        usage_flush_seconds: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._invalidation = invalidation
        self._ttl = cache_seconds
        # Unknown digests are remembered only briefly: a client retrying a typo should not hit
        # the database every time, but nothing should stay refused long after it became valid.
        self._negative_ttl = min(cache_seconds, 1.0)
        self._size = max(1, cache_size)
        # Digest -> (monotonic deadline, the row, or None for an unknown digest).
        self._cache: OrderedDict[str, tuple[float, KeyInfo | None]] = OrderedDict()
        # Bumped on every eviction so that a lookup which raced a revocation is not cached.
        self._evictions = 0
        self._flights: SingleFlight[KeyInfo | None] = SingleFlight()
        self._clock = clock
        # Cache lifetimes run on this clock; tests steer it instead of sleeping.
        self._monotonic = monotonic
        self._flush_every = usage_flush_seconds
        self._touched: OrderedDict[str, datetime] = OrderedDict()
        self._pending: dict[str, datetime] = {}
        self._flusher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._invalidation.start(self._on_revoked)
        if self._flusher is None and self._flush_every > 0:
            self._flusher = asyncio.create_task(self._flush_loop(), name="key-usage-flush")

    async def close(self) -> None:
        flusher, self._flusher = self._flusher, None
        if flusher is not None:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
        try:
            await self.flush_usage()
        except Exception as exc:
            log.warning("could not record key usage on close: %s", exc)
        await self._invalidation.close()

    def _on_revoked(self, key_hash: str) -> None:
        if key_hash.startswith("acct:"):
            return  # an account change, for the account service's cache
        self._evictions += 1
        if key_hash == EVICT_ALL:
            self._cache.clear()
        else:
            self._cache.pop(key_hash, None)

    async def create(
        self,
        account_id: str,
        family: str,
        *,
        label: str = "",
        scopes: Sequence[str] | None = None,
        expires_at: datetime | None = None,
        ip_allowlist: Sequence[str] | None = None,
        elevated: bool = False,
    ) -> IssuedKey:
        check_family(family)
        if len(label) > 200:
            raise InvalidInput("label must be at most 200 characters")
        scopes = _scopes_of(family, scopes)
        raw, prefix = _generate(family)
        info = KeyInfo(
            id=new_id("key"),
            account_id=account_id,
            family=family,
            prefix=prefix,
            label=label,
            scopes=tuple(str(s) for s in scopes or ()),
            ip_allowlist=_normalise_allowlist(ip_allowlist),
            created_at=self._clock(),
            last_used_at=None,
            expires_at=as_utc(expires_at),
            revoked_at=None,
            elevated=elevated,
        )
        async with self._db.write() as conn:
            if (
                await conn.scalar(select(col(Account.id)).where(col(Account.id) == account_id))
                is None
            ):
                raise NotFound("account not found")
            plan_id = await conn.scalar(
                select(col(AccountPlan.plan)).where(
                    col(AccountPlan.account_id) == account_id, col(AccountPlan.family) == family
                )
            )
            plan = get_plan(family, plan_id) if plan_id else default_plan(family)
            if not plan.api_access:
                message = f"{plan.display_name} plans cannot issue API keys"
                raise Forbidden(message, family=family, plan=plan.id)
            await conn.execute(insert(ApiKey).values(**asdict(info), key_hash=hash_key(raw)))
        log.info("issued %s key %s (%s) for %s", family, info.id, prefix, account_id)
        return IssuedKey(info=info, raw=raw)

    async def list(self, account_id: str, family: str | None = None) -> list[KeyInfo]:
        """Every key of the account, newest first (operators' view: the CLI wants them all)."""
        query = self._newest_first(account_id, family)
        async with self._db.read() as conn:
            return [_info(row) for row in await conn.execute(query)]

    async def page(
        self,
        account_id: str,
        family: str | None = None,
        *,
        limit: int = 100,
        after: Cursor | None = None,
    ) -> tuple[builtins.list[KeyInfo], Cursor | None]:
        """One page of the account's keys, newest first, and the cursor of the next page.

        The order is (created_at, id), so keys created in the same instant are neither skipped
        nor repeated at a page boundary."""
        size = max(1, min(limit, 1000))
        query = self._newest_first(account_id, family)
        query = query.where(beyond(col(ApiKey.created_at), col(ApiKey.id), after))
        async with self._db.read() as conn:
            rows = (await conn.execute(query.limit(size + 1))).all()
        keys = [_info(row) for row in rows[:size]]
        more = len(rows) > size
        return keys, (Cursor(keys[-1].created_at, keys[-1].id) if more else None)

    def _newest_first(self, account_id: str, family: str | None) -> Select[Any]:
        query = select(ApiKey).where(col(ApiKey.account_id) == account_id)
        if family is not None:
            query = query.where(col(ApiKey.family) == check_family(family))
        return query.order_by(col(ApiKey.created_at).desc(), col(ApiKey.id).desc())

    async def get(self, key_id: str, account_id: str | None = None) -> KeyInfo:
        async with self._db.read() as conn:
            row = (await conn.execute(select(ApiKey).where(col(ApiKey.id) == key_id))).first()
        if row is None or (account_id is not None and row.account_id != account_id):
            raise NotFound("API key not found")
        return _info(row)

    async def revoke(self, key_id: str, account_id: str | None = None) -> KeyInfo:
        mine = [col(ApiKey.id) == key_id]
        if account_id is not None:
            mine.append(col(ApiKey.account_id) == account_id)
        async with self._db.write() as conn:
            live = col(ApiKey.revoked_at).is_(None)
            await conn.execute(update(ApiKey).where(*mine, live).values(revoked_at=self._clock()))
            row = (await conn.execute(select(ApiKey).where(*mine))).first()
        if row is None:
            raise NotFound("API key not found")
        log.info("revoked key %s (%s)", row.id, row.prefix)
        # Published even when already revoked: a repeat call re-sends a broadcast that was lost.
        await self._broadcast([row.key_hash])
        return _info(row)

    async def revoke_family(self, account_id: str, family: str) -> int:
        """Revoke every live key of one account in one family (a plan without API access)."""
        check_family(family)
        mine = (col(ApiKey.account_id) == account_id, col(ApiKey.family) == family)
        query = update(ApiKey).where(*mine, col(ApiKey.revoked_at).is_(None))
        async with self._db.write() as conn:
            result = await conn.execute(
                query.values(revoked_at=self._clock()).returning(col(ApiKey.key_hash))
            )
            hashes = list(result.scalars())
        if hashes:
            log.info("revoked %d %s keys of %s", len(hashes), family, account_id)
            await self._broadcast(hashes)
        return len(hashes)

    async def _broadcast(self, hashes: Sequence[str]) -> None:
        for key_hash in hashes:
            self._on_revoked(key_hash)
            try:
                await self._invalidation.publish(key_hash)
            except Exception as exc:
                # The database already says revoked; other replicas catch up when their cache
                # entry expires, so a lost broadcast only delays, never undoes, a revocation.
                log.warning("could not broadcast a key revocation: %s", exc)

    async def verify(self, raw: str | None, family: str, *, ip: str | None = None) -> KeyInfo:
        check_family(family)
        if not raw:
            raise Unauthenticated("missing")
        if not looks_like_key(family, raw):
            raise Unauthenticated("invalid")
        digest = hash_key(raw)
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > self._monotonic():
            self._cache.move_to_end(digest)
            info = cached[1]
        else:
            # One read per digest however many requests miss at once; a flight begun before
            # an eviction is not joined after it (the generation is part of the key).
            info = await self._flights.run((digest, self._evictions), lambda: self._lookup(digest))
        if info is None or info.family != family:
            raise Unauthenticated("invalid")
        now = self._clock()
        if info.revoked_at is not None:
            raise Unauthenticated("revoked")
        if info.expires_at is not None and info.expires_at <= now:
            raise Unauthenticated("expired")
        if not _ip_allowed(ip, info.ip_allowlist):
            raise Unauthenticated("ip_not_allowed")
        self._note_use(info.id, now)
        return info

    async def revoked_owner(self, raw: str, family: str) -> str | None:
        """The account a revoked key of ``family`` belonged to (to tell its caller why it
        stopped working); ``None`` for a key that is unknown, live or of another family."""
        if not looks_like_key(family, raw):
            return None
        info = await self._lookup(hash_key(raw))
        if info is None or info.family != family or info.revoked_at is None:
            return None
        return info.account_id

    async def _lookup(self, digest: str) -> KeyInfo | None:
        seen = self._evictions
        async with self._db.read() as conn:
            query = select(ApiKey).where(col(ApiKey.key_hash) == digest)
            row = (await conn.execute(query)).first()
        info = _info(row) if row is not None else None
        ttl = self._ttl if info else self._negative_ttl
        if seen == self._evictions and ttl > 0:
            self._cache[digest] = (self._monotonic() + ttl, info)
            self._cache.move_to_end(digest)
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return info

    def _note_use(self, key_id: str, now: datetime) -> None:
        last = self._touched.get(key_id)
        if last is not None and now - last < USAGE_RESOLUTION:
            return
        self._touched[key_id] = now
        self._touched.move_to_end(key_id)
        while len(self._touched) > self._size:
            self._touched.popitem(last=False)
        if len(self._pending) < self._size:
            self._pending[key_id] = now

    async def flush_usage(self) -> int:
        """Write buffered ``last_used_at`` values; returns how many rows changed."""
        pending, self._pending = self._pending, {}
        if not pending:
            return 0
        changed = 0
        last = col(ApiKey.last_used_at)
        async with self._db.write() as conn:
            for key_id, used_at in pending.items():
                # Conditional, so that replicas together write a key at most once a minute.
                due = or_(last.is_(None), last <= used_at - USAGE_RESOLUTION)
                query = update(ApiKey).where(col(ApiKey.id) == key_id, due)
                result = await conn.execute(query.values(last_used_at=used_at))
                changed += result.rowcount or 0
        return changed

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self._flush_every)
            try:
                await self.flush_usage()
            except Exception as exc:
                log.warning("could not record key usage: %s", exc)
