"""Generation pipelines: plain async task functions over the backend Protocols.

The runtime loads this module and calls ``register``; nothing here runs at import time.
"""

from __future__ import annotations

from workers.pipelines.book import generate_book
from workers.tasks import TaskRegistry

__all__ = ["register"]


def register(registry: TaskRegistry) -> None:
    registry.register("book", generate_book)
