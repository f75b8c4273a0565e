"""Chooses the process's text, image and speech backends from settings.

``STORYGATE_BACKENDS`` picks a set (instant, local, hosted) and ``STORYGATE_TEXT_BACKEND`` /
``IMAGE_BACKEND`` / ``SPEECH_BACKEND`` override one kind each. Whatever is chosen is reported
by ``capabilities()``, which every family's model/capability listing renders, so a missing model
is visible to clients rather than silently replaced.
"""

from __future__ import annotations

from dataclasses import dataclass

from workers.backends.base import Capability, Illustrator, Narrator, StoryWriter

KINDS = ("text", "image", "speech")
AVAILABLE_SETS = ("instant",)


class BackendUnavailable(ValueError):
    """A configured backend set or kind cannot be built in this installation."""


@dataclass(frozen=True, slots=True)
class Backends:
    writer: StoryWriter
    illustrator: Illustrator
    narrator: Narrator

    def capabilities(self) -> list[Capability]:
        return [
            self.writer.capability(),
            self.illustrator.capability(),
            self.narrator.capability(),
        ]


def _build_kind(kind: str, name: str) -> StoryWriter | Illustrator | Narrator:
    if name == "instant":
        from workers.backends.instant import instant_backends

        writer, illustrator, narrator = instant_backends()
        by_kind: dict[str, StoryWriter | Illustrator | Narrator] = {
            "text": writer,
            "image": illustrator,
            "speech": narrator,
        }
        return by_kind[kind]
    raise BackendUnavailable(
        f"{kind} backend {name!r} is not available in this installation "
        f"(available: {', '.join(AVAILABLE_SETS)})"
    )


def build_backends(default: str, text: str = "", image: str = "", speech: str = "") -> Backends:
    writer = _build_kind("text", text or default)
    illustrator = _build_kind("image", image or default)
    narrator = _build_kind("speech", speech or default)
    return Backends(writer, illustrator, narrator)  # type: ignore[arg-type]
