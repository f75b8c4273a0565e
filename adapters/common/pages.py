"""Query parameters of a cursor page: ``limit`` within bounds, ``cursor`` as issued."""

from __future__ import annotations

from gateway.core.errors import InvalidInput
from gateway.core.pages import Cursor


def page_limit(text: str | None, *, default: int, maximum: int) -> int:
    if text is None:
        return default
    value = text.strip()
    if not value.isdigit() or not 1 <= int(value) <= maximum:
        raise InvalidInput(f"limit must be an integer between 1 and {maximum}", field="limit")
    return int(value)


def page_cursor(text: str | None) -> Cursor | None:
    """``None`` when no cursor was sent (the first page); a cursor sent empty or not issued
    here is bad input."""
    if text is None:
        return None
    try:
        return Cursor.decode(text.strip())
    except InvalidInput:
        raise InvalidInput("cursor is not one this server issued", field="cursor") from None


def next_cursor(cursor: Cursor | None) -> str | None:
    return cursor.encode() if cursor is not None else None
