"""Patterns and decoding shared by every family's contract.

Each pattern is written so that Python's ``re`` (which enforces it) and ECMA-262 (the dialect
an OpenAPI document's ``pattern`` is read in, by clients and schemathesis alike) accept exactly
the same strings: no ``\\s`` or ``\\S`` without the characters on which the two disagree spelled
out, so what the document allows the server accepts.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec

# Whitespace in either dialect: ECMA's \s plus the C0 separators and NEL that Python's adds.
_SPACE = (
    "\\t\\n\\v\\f\\r \\x1c-\\x1f\\x85\\xa0\\u1680\\u2000-\\u200a"
    "\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff"
)

# Text PostgreSQL can store: no NUL.
NO_NUL = "^[^\\x00]*$"
# Text with at least one visible character, and no NUL.
VISIBLE = f"^[^\\x00]*[^\\x00{_SPACE}][^\\x00]*$"
# An e-mail address as far as a server can tell: one @, no space or control character.
EMAIL = f"^[^@\\x00-\\x1f{_SPACE}]+@[^@\\x00-\\x1f{_SPACE}]+$"
# An http(s) URL without spaces.
HTTP_URL = f"^https?://[^{_SPACE}]+$"
# An http(s) URL without spaces, or nothing.
WEB_URL = f"^(https?://[^{_SPACE}]+)?$"


def integral_floats(value: Any) -> Any:
    """``12.0`` as ``12``: JSON Schema counts it an integer, so a strict decode must too; any
    other float, string or boolean is left for the decoder to refuse."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: integral_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral_floats(v) for v in value]
    return value


def decode_strict(body: bytes, type_: Any) -> Any:
    """Decode a JSON body into ``type_`` with no coercion but JSON Schema's own (an integral
    float is an integer); raises ``msgspec.ValidationError`` / ``DecodeError``."""
    raw = msgspec.json.decode(body or b"null")
    return msgspec.convert(integral_floats(raw), type=type_, strict=True)
