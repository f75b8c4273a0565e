"""Generation pipelines: plain async task functions over the backend Protocols.

The runtime loads this module and calls ``register``; nothing here runs at import time, and
each pipeline module is imported only when its first job runs (``TaskRegistry.register_lazy``).
"""

from __future__ import annotations

from workers.tasks import TaskRegistry

__all__ = ["register"]

_P = "workers.pipelines."


def register(registry: TaskRegistry) -> None:
    registry.register_lazy("book", _P + "book:generate_book")
    registry.register_lazy("book_edit", _P + "edit:edit_task")
    registry.register_lazy("audiobook", _P + "audiobook:audiobook_task")
    registry.register_lazy("image", _P + "media:image_task")
    registry.register_lazy("video", _P + "media:video_task")
    registry.register_lazy("audio", _P + "media:audio_task")
    # SleeperHit: a source read and digested, a plan written, a table read voiced and mixed.
    registry.register_lazy("sleeperhit.source", _P + "sources:source_task")
    registry.register_lazy("sleeperhit.plan", _P + "planning:plan_task")
    registry.register_lazy("sleeperhit.story", _P + "table_read:story_task")
    registry.register_lazy("sleeperhit.finalize", _P + "mixdown:finalize_task")
    # SleeperHit's artifact operations: the read as a video, script coverage.
    registry.register_lazy("sleeperhit.video", _P + "read_video:read_video_task")
    registry.register_lazy("sleeperhit.coverage", _P + "coverage:coverage_task")
    registry.register_lazy("sleeperhit.remix", _P + "remix:remix_task")
    # A table read revised by an instruction: the artifact's next revision.
    registry.register_lazy("sleeperhit.refine", _P + "refine:refine_task")
