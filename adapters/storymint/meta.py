"""Account-level reads: ``/api/ping`` (the counted auth check), ``/api/tier`` (= ``/api/usage``)
and ``/api/models``.

Counts come from the ledger, not from counters of their own: a ping is a one-unit charge on the
"storymint.pings" wallet (unlimited plans are counted too), and "books this month" is what the
books wallet has held or spent since the cycle began, so a failed book, whose hold was
released, does not count.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import get

from adapters.storymint import gate
from adapters.storymint.auth import Caller
from adapters.storymint.errors import StoryMintError
from adapters.storymint.policy import rules_for
from adapters.storymint.service import BOOKS, PINGS, models_of
from contracts.storymint import ModelsResponse, PingResponse, TierResponse
from gateway.core.errors import InsufficientFunds
from gateway.core.wallets import month_start, next_month
from gateway.runtime import Runtime

TAGS = ["StoryMint"]


def _cycle_start(now: datetime) -> datetime:
    day = month_start(now)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


async def _used(runtime: Runtime, account_id: str, unit: str, now: datetime) -> int:
    return await runtime.ledger.usage(account_id, unit, _cycle_start(now))


@get(
    "/ping",
    summary="Ping auth check",
    description="Confirms the key and plan; counts one API test call (Developer: 150 a month).",
    tags=TAGS,
    responses=gate.error_responses(401, 403, 429),
)
async def ping(caller: Caller, runtime: Runtime) -> PingResponse:
    limit = caller.plan.monthly.get(PINGS)
    try:
        await runtime.ledger.charge(caller.account_id, PINGS, 1, note="ping")
    except InsufficientFunds:
        raise StoryMintError(
            403,
            "Monthly API test call limit reached",
            f"Your {caller.plan.display_name} plan includes {limit or 0} ping calls a month; "
            "the counter resets on the 1st.",
        ) from None
    now = datetime.now(UTC)
    return PingResponse(
        status="ok",
        tier=caller.plan.id,
        plan_display_name=caller.plan.display_name,
        api_test_calls_this_month=await _used(runtime, caller.account_id, PINGS, now),
        api_test_calls_limit=limit,
        timestamp=now.isoformat(timespec="microseconds"),
    )


async def _tier(caller: Caller, runtime: Runtime) -> TierResponse:
    now = datetime.now(UTC)
    rules = rules_for(caller.plan)
    account = await runtime.accounts.get(caller.account_id)
    return TierResponse(
        tier=caller.plan.id,
        plan_display_name=caller.plan.display_name,
        books_this_month=await _used(runtime, caller.account_id, BOOKS, now),
        books_limit=caller.plan.monthly.get(BOOKS),
        next_reset=next_month(month_start(now)).isoformat(),
        api_access=rules.api_access,
        api_test_calls_this_month=await _used(runtime, caller.account_id, PINGS, now),
        api_test_calls_limit=caller.plan.monthly.get(PINGS),
        full_download=rules.full_download,
        max_pages=rules.picture_pages,
        novel_max_chapters=rules.novel_chapters,
        org_type=str(account.profile.get("org_type") or ""),
    )


@get(
    "/tier",
    summary="Tier & usage",
    description="Plan, usage counts, limits (null = unlimited) and the next reset date.",
    tags=TAGS,
    responses=gate.error_responses(401, 429),
)
async def tier(caller: Caller, runtime: Runtime) -> TierResponse:
    return await _tier(caller, runtime)


@get(
    "/usage",
    summary="Tier & usage (alias of /api/tier)",
    tags=TAGS,
    responses=gate.error_responses(401, 429),
)
async def usage(caller: Caller, runtime: Runtime) -> TierResponse:
    return await _tier(caller, runtime)


@get(
    "/models",
    summary="List models",
    description="Text (ollama) and image (sd) models this gateway can use; others auto-select.",
    tags=TAGS,
    responses=gate.error_responses(401, 429),
)
async def models(caller: Caller, runtime: Runtime) -> ModelsResponse:
    return ModelsResponse(ollama=models_of(runtime, "text"), sd=models_of(runtime, "image"))


ROUTES: list[Any] = [ping, tier, usage, models]
