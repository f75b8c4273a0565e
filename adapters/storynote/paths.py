"""Every StoryNote route is served under ``/v1`` and, as clients in the wild also call it,
``/api/v1``; the OpenAPI document names the second copy's operations apart."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ROOTS = ("/v1", "/api/v1")


def both(path: str) -> list[str]:
    return [f"{root}{path}" for root in ROOTS]


def operation_id(name: str) -> Callable[[Any, Any, list[Any]], str]:
    """``name`` for the ``/v1`` route, ``name`` + ``ApiV1`` for its ``/api/v1`` twin."""

    def make(_handler: Any, _method: Any, components: list[Any]) -> str:
        first = components[0] if components else ""
        return f"{name}ApiV1" if first == "api" else name

    return make
