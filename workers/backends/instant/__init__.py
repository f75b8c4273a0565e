"""The instant backend set: deterministic, offline, millisecond text, pictures and speech.

It is product, not test scaffolding: clients point their own contract tests at a gateway
running it, and this project's tests use it to exercise every pipeline end to end.
"""

from __future__ import annotations

from workers.backends.base import Illustrator, Narrator, StoryWriter
from workers.backends.instant.illustrator import InstantIllustrator
from workers.backends.instant.speech import InstantNarrator
from workers.backends.instant.writer import InstantWriter

__all__ = ["InstantIllustrator", "InstantNarrator", "InstantWriter", "instant_backends"]


def instant_backends() -> tuple[StoryWriter, Illustrator, Narrator]:
    return InstantWriter(), InstantIllustrator(), InstantNarrator()
