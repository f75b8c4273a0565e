"""Generation pipelines: plain async task functions over the backend Protocols.

The runtime loads this module and calls ``register``; nothing here runs at import time.
"""

from __future__ import annotations

from workers.pipelines.audiobook import audiobook_task
from workers.pipelines.book import generate_book
from workers.pipelines.coverage import coverage_task
from workers.pipelines.edit import edit_task
from workers.pipelines.media import audio_task, image_task, video_task
from workers.pipelines.mixdown import finalize_task
from workers.pipelines.planning import plan_task
from workers.pipelines.read_video import read_video_task
from workers.pipelines.refine import refine_task
from workers.pipelines.remix import remix_task
from workers.pipelines.sources import source_task
from workers.pipelines.table_read import story_task
from workers.tasks import TaskRegistry

__all__ = ["register"]


def register(registry: TaskRegistry) -> None:
    registry.register("book", generate_book)
    registry.register("book_edit", edit_task)
    registry.register("audiobook", audiobook_task)
    registry.register("image", image_task)
    registry.register("video", video_task)
    registry.register("audio", audio_task)
    # SleeperHit: a source read and digested, a plan written, a table read voiced and mixed.
    registry.register("sleeperhit.source", source_task)
    registry.register("sleeperhit.plan", plan_task)
    registry.register("sleeperhit.story", story_task)
    registry.register("sleeperhit.finalize", finalize_task)
    # SleeperHit's artifact operations: the read as a video, script coverage.
    registry.register("sleeperhit.video", read_video_task)
    registry.register("sleeperhit.coverage", coverage_task)
    registry.register("sleeperhit.remix", remix_task)
    # A table read revised by an instruction: the artifact's next revision.
    registry.register("sleeperhit.refine", refine_task)
