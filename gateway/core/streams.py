"""Open event streams, bounded per process and per account.

An SSE stream holds a connection and a queue for as long as the client stays; without a bound,
one tenant (or one script without a key) could hold them all. Slots are taken before a stream
starts and given back when it ends, however it ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from gateway.core.errors import RateLimited


class StreamSlots:
    def __init__(self, *, per_process: int, per_account: int) -> None:
        if per_process < 1 or per_account < 1:
            raise ValueError("stream caps must be positive")
        self.per_process = per_process
        self.per_account = per_account
        self._open = 0
        self._by_account: dict[str, int] = {}

    @property
    def open(self) -> int:
        return self._open

    def take(self, account_id: str) -> None:
        """Take a slot; ``RateLimited`` when the process or the account has none left."""
        if self._open >= self.per_process:
            raise RateLimited(
                f"this server holds its maximum of {self.per_process} open streams; retry "
                "shortly or poll the status instead",
                scope="process",
            )
        held = self._by_account.get(account_id, 0)
        if held >= self.per_account:
            raise RateLimited(
                f"at most {self.per_account} open streams per account; close one first",
                scope="account",
            )
        self._open += 1
        self._by_account[account_id] = held + 1

    def give_back(self, account_id: str) -> None:
        self._open = max(0, self._open - 1)
        held = self._by_account.get(account_id, 0) - 1
        if held > 0:
            self._by_account[account_id] = held
        else:
            self._by_account.pop(account_id, None)

    @contextmanager
    def slot(self, account_id: str) -> Iterator[None]:
        self.take(account_id)
        try:
            yield
        finally:
            self.give_back(account_id)
