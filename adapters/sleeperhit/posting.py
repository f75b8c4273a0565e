"""Idempotent POSTs: the reference's ``Idempotency-Key`` on every POST, required on some.

The same key with the same body replays the first answer (``Idempotency-Replayed: true``);
another body under it is ``idempotency_conflict``. A request that fails stores nothing, so it
is safe to retry. The body is fingerprinted in canonical form, so key order or spacing does not
make a retry look like a new request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Response
from litestar.openapi.spec import OpenAPIType, Operation, Parameter, Schema

from adapters.sleeperhit.auth import FAMILY
from adapters.sleeperhit.errors import ShError
from adapters.sleeperhit.routing import shaped
from contracts.common import VISIBLE
from gateway.core.idempotency import StoredResponse, canonical_json, fingerprint

KEY_MAX = 255


def _key_parameter(required: bool) -> Parameter:
    # A blank key is no key: where one is required it needs a visible character.
    schema = (
        Schema(type=OpenAPIType.STRING, min_length=1, max_length=KEY_MAX, pattern=VISIBLE)
        if required
        else Schema(type=OpenAPIType.STRING, max_length=KEY_MAX)
    )
    return Parameter(
        name="Idempotency-Key",
        param_in="header",
        required=required,
        schema=schema,
        description=(
            "The same key with the same body replays the first answer "
            "(Idempotency-Replayed: true); another body under it is idempotency_conflict."
        ),
    )


@dataclass
class IdempotentPost(Operation):
    """The OpenAPI operation of a POST that accepts ``Idempotency-Key``."""

    def __post_init__(self) -> None:
        self.parameters = [*(self.parameters or []), _key_parameter(required=False)]


@dataclass
class KeyedPost(Operation):
    """The OpenAPI operation of a POST that requires ``Idempotency-Key``."""

    def __post_init__(self) -> None:
        self.parameters = [*(self.parameters or []), _key_parameter(required=True)]


def _canonical(body: bytes) -> bytes:
    try:
        return canonical_json(msgspec.json.decode(body)) if body.strip() else b""
    except msgspec.DecodeError:
        return body


def require_key(request: Any) -> None:
    """For the routes whose reference says "Requires Idempotency-Key": checked before the body,
    so a retry-unsafe call without one does nothing at all."""
    if not (request.headers.get("idempotency-key") or "").strip():
        raise ShError(
            "idempotency_key_required", "This endpoint requires an Idempotency-Key header"
        )


def _shaped(make: Callable[[], Awaitable[Any]], shape: type[Any]) -> Callable[[], Awaitable[Any]]:
    async def made() -> Any:
        return shaped(await make(), shape)

    return made


async def idempotent(
    request: Any,
    runtime: Any,
    account_id: str,
    make: Callable[[], Awaitable[Any]],
    *,
    required: bool = False,
    shape: type[Any] | None = None,
) -> Response[Any]:
    """Run ``make`` (which returns the answer's JSON value) at most once per key; with
    ``shape``, the answer is first held to that documented type (routing.shaped)."""
    if shape is not None:
        make = _shaped(make, shape)
    key = request.headers.get("idempotency-key")
    if required:
        require_key(request)
    if key is None or not key.strip():
        return Response(msgspec.json.encode(await make()), media_type="application/json")
    if len(key) > KEY_MAX:
        raise ShError("validation_failed", f"Idempotency-Key must be at most {KEY_MAX} characters")
    body = await request.body()
    fp = fingerprint(request.method, request.url.path, _canonical(body))

    async def handler() -> StoredResponse:
        return StoredResponse(200, {}, msgspec.json.encode(await make()))

    stored, replayed = await runtime.idempotency.run(account_id, FAMILY, key.strip(), fp, handler)
    headers = {"Idempotency-Replayed": "true"} if replayed else None
    return Response(stored.body, media_type="application/json", headers=headers)
