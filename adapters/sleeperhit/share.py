"""Share tokens: the capability behind a table read's theater page and its audio.

A token names the artifact and its account and carries an expiry and an HMAC over them, made
with the storage's signing secret, so the same token is shown on every read of the artifact and
works without a key until it expires. ``<artifact>.<account>.<expires>.<signature>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gateway.core.storage import Storage

SHARE_DAYS = 30
_SHAPE = re.compile(r"^([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]{1,40})\.(\d{1,12})\.([0-9a-f]{64})$")


@dataclass(frozen=True, slots=True)
class Shared:
    artifact_id: str
    account_id: str
    expires: int

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.expires, UTC)


def _path(artifact_id: str) -> str:
    return f"share/table-read/{artifact_id}"


def expiry_of(created_at: datetime) -> int:
    return int((created_at + timedelta(days=SHARE_DAYS)).timestamp())


def token_for(storage: Storage, account_id: str, artifact_id: str, expires: int) -> str:
    signature = storage.sign_until(account_id, _path(artifact_id), expires)
    return f"{artifact_id}.{account_id}.{expires}.{signature}"


def open_token(storage: Storage, token: str) -> Shared | None:
    """The artifact a valid, unexpired token shares; ``None`` for any other string."""
    match = _SHAPE.match(token or "")
    if match is None:
        return None
    artifact_id, account_id, expires, signature = match.groups()
    if not storage.verify(account_id, _path(artifact_id), int(expires), signature):
        return None
    return Shared(artifact_id, account_id, int(expires))
