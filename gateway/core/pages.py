"""Cursor pages: every list walks (created_at, id) newest first, and hands out an opaque cursor.

The cursor names the last item of a page by both keys, so rows created in the same instant are
neither skipped nor repeated at a boundary: ``<microseconds since the epoch, hex>.<id>``.
Clients treat it as opaque; any string of that shape (``CURSOR_PATTERN``, which the API
documents) is a position to page from, and any other is bad input, never a silent first page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, true

from gateway.core.errors import InvalidInput

# Any string of this shape decodes (14 hex digits of microseconds reach past the year 4000).
CURSOR_PATTERN = r"^[0-9a-f]{1,14}\.[A-Za-z0-9_-]{1,64}$"
_SHAPE = re.compile(CURSOR_PATTERN)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Cursor:
    created_at: datetime
    id: str

    def encode(self) -> str:
        micros = (self.created_at.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1)
        return f"{micros:x}.{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        if not isinstance(text, str) or not _SHAPE.match(text):
            raise InvalidInput("cursor is not one this server issued")
        micros, _, ident = text.partition(".")
        return cls(_EPOCH + timedelta(microseconds=int(micros, 16)), ident)


def beyond(at: Any, ident: Any, cursor: Cursor | None, *, newest_first: bool = True) -> Any:
    """The SQL condition for rows after ``cursor`` in (at, ident) order: both keys, so rows of
    the same instant are neither skipped nor repeated at a page boundary."""
    if cursor is None:
        return true()
    if newest_first:
        return or_(at < cursor.created_at, and_(at == cursor.created_at, ident < cursor.id))
    return or_(at > cursor.created_at, and_(at == cursor.created_at, ident > cursor.id))
