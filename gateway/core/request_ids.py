"""Job ids that a retried request finds again.

An Idempotency-Key runs its request at most once at a time, but a replica can die after its
request created a job and before the answer was stored. The key's lock then runs out and the
client's retry, on another replica, runs the request again. Job ids derived from the key make
that second run find the job the first one made (admission skips orders whose job exists)
instead of charging for a second. They are an HMAC under the deployment's secret, so they stay
as unguessable as random ids (job ids travel alone in SSE URLs) even when a client's keys are not.

The seed travels in a context variable: it belongs to one request's task and whatever that
task awaits, and admission reads it without every family handing it down.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from gateway.core.ids import new_job_id

_SEED: ContextVar[_Seed | None] = ContextVar("storygate_job_id_seed", default=None)


@dataclass(slots=True)
class _Seed:
    key: bytes
    issued: int = 0

    def next_id(self) -> str:
        n, self.issued = self.issued, self.issued + 1
        return hmac.new(self.key, str(n).encode(), hashlib.sha256).hexdigest()[:40]


@contextmanager
def job_ids_for_key(secret: str, account_id: str, family: str, key: str) -> Iterator[None]:
    """Within the block, ``next_job_id`` gives the same sequence for the same key."""
    material = "\0".join((account_id, family, key)).encode()
    seed = _Seed(hmac.new(secret.encode(), material, hashlib.sha256).digest())
    token = _SEED.set(seed)
    try:
        yield
    finally:
        _SEED.reset(token)


def next_job_id() -> str:
    """The next id of this request's sequence, or a random one outside an idempotent request."""
    seed = _SEED.get()
    return seed.next_id() if seed is not None else new_job_id()
