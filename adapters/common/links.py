"""Signed, expiring links to stored files, so a client can hand a picture to an ``<img>``
without its key. The signature covers (account, path, expiry) under the server's secret."""

from __future__ import annotations

from gateway.core.storage import Storage


def signed_params(
    storage: Storage, account_id: str, path: str, expires_in: int, *, name_account: bool = False
) -> str:
    """``expires=…&sig=…`` for a link to ``path`` (with ``&acct=…`` where the family's link
    names the owner instead of finding it from the resource)."""
    if name_account:
        return storage.signed_query(account_id, path, expires_in=max(1, expires_in))
    expires, signature = storage.sign(account_id, path, expires_in=max(1, expires_in))
    return f"expires={expires}&sig={signature}"


def link_valid(
    storage: Storage, account_id: str, path: str, expires: str | int | None, signature: str | None
) -> bool:
    if expires is None or not signature:
        return False
    text = str(expires)
    if not text.isdigit():
        return False
    return storage.verify(account_id, path, int(text), signature)
