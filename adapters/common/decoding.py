"""Decoder messages for people: msgspec quotes a refused pattern as the regex itself, which
says nothing to a client; every family words the shared patterns the same way."""

from __future__ import annotations

from typing import Any

from contracts.common import EMAIL, HTTP_URL, NO_NUL, VISIBLE, WEB_URL

MEANINGS = {
    VISIBLE: "must have a visible character and no NUL character",
    NO_NUL: "must not contain NUL characters",
    EMAIL: "must be an email address",
    WEB_URL: "must be an http(s) URL without spaces, or empty",
    HTTP_URL: "must be an http or https URL without spaces",
}


def readable(text: str, *, separator: str = ": ") -> str:
    """msgspec's "Expected `str` matching regex '…' - at `$.name`" as "name<sep>meaning";
    any other message as it is (it already names the field)."""
    for pattern, meaning in MEANINGS.items():
        if repr(pattern) in text or pattern in text:
            where = text.rpartition(" - at `$.")[2].rstrip("`")
            return f"{where}{separator}{meaning}" if where != text else meaning
    return text


def first_problem(exc: Any) -> str:
    """The first refusal of Litestar's body decoder (a ``ValidationException``'s ``extra``
    lists them), naming the field: "name must have a visible character and no NUL character"."""
    extra = exc.extra
    if not (isinstance(extra, list) and extra and isinstance(extra[0], dict)):
        return str(exc.detail)
    message = str(extra[0].get("message") or exc.detail)
    key = str(extra[0].get("key") or "")
    for pattern, meaning in MEANINGS.items():
        if repr(pattern) in message or pattern in message:
            message = meaning
            break
    return f"{key} {message}" if key and key != "body" else message
