"""Text, image and speech backends behind small Protocols (see ``base``).

Only the Protocols and plain data live at this level; each backend set (``instant``, and the
heavier ones) is its own subpackage, imported by whoever wires the set chosen in settings, so
loading this package never pulls in a model library.
"""

from workers.backends.base import (
    Capability,
    Character,
    Illustrator,
    ImagePrompt,
    Narrator,
    OutlineItem,
    Pcm,
    StoryPlan,
    StoryRequest,
    StoryWriter,
    describe_character,
    picture_prompt,
    stable_seed,
)

__all__ = [
    "Capability",
    "Character",
    "Illustrator",
    "ImagePrompt",
    "Narrator",
    "OutlineItem",
    "Pcm",
    "StoryPlan",
    "StoryRequest",
    "StoryWriter",
    "describe_character",
    "picture_prompt",
    "stable_seed",
]
