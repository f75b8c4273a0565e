"""A verified key with its account's standing: what every authenticated handler is given."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core.errors import Unauthenticated
from gateway.core.keys import KeyInfo
from gateway.core.plans import Plan
from gateway.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Caller:
    account_id: str
    key: KeyInfo
    plan: Plan
    # The operator's per-minute limit for this account, if set (0: none); else the plan's.
    per_minute: int | None = None

    def limit(self, plan_default: int) -> int:
        """Requests a minute this caller may make (0: no per-minute limit)."""
        return plan_default if self.per_minute is None else self.per_minute


async def authenticate(runtime: Runtime, family: str, raw: str | None, ip: str | None) -> Caller:
    """``Unauthenticated`` (from the core) for a missing, unknown, revoked, expired, other-family
    or IP-refused key; families render it in their envelope. Both reads are cached."""
    key = await runtime.keys.verify(raw, family, ip=ip)
    standing = await runtime.accounts.standing(key.account_id, family)
    if standing.disabled:
        raise Unauthenticated("account_disabled", "the account that owns this key is disabled")
    return Caller(key.account_id, key, standing.plan, standing.per_minute)
