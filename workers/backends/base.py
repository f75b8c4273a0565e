"""The small contracts every text, image and speech backend meets.

Pipelines are written against these Protocols only, so the instant, local and hosted sets are
interchangeable. Nothing heavy is imported here: this module is loaded by the gateway even when
no model is installed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "Animator",
    "Capability",
    "Character",
    "Illustrator",
    "ImagePrompt",
    "Narrator",
    "OutlineItem",
    "Pcm",
    "SoundMaker",
    "StoryPlan",
    "StoryRequest",
    "StoryWriter",
    "VideoRequest",
    "describe_character",
    "exact_size",
    "picture_prompt",
    "stable_seed",
]


@dataclass(frozen=True, slots=True)
class Character:
    """A character's fixed look: every page's picture is described from these same fields."""

    name: str
    species: str
    colors: tuple[str, ...]
    clothing: str
    trait: str
    seed: int
    # What the story calls them where the prompt said ("lighthouse keeper"); "" means the
    # species word. The species still decides how they are drawn.
    role: str = ""


@dataclass(frozen=True, slots=True)
class StoryRequest:
    prompt: str
    format: str  # picture | comic | chapter_comic | novel | storybook
    units: int  # pages (picture/comic/storybook) or chapters (novel, chapter_comic)
    art_style: str
    language: str = "english"
    age_range: str = "4-7"  # 0-3 | 4-7 | 8-12
    tone: str = "heartwarming"
    author: str = ""
    series: str = ""
    seed: int = 0


@dataclass(frozen=True, slots=True)
class OutlineItem:
    index: int
    title: str
    summary: str
    characters: tuple[str, ...]
    setting: str
    # The page's scene beyond its place, for pictures and for the writer: weather (clear |
    # storm | rain | snow | wind | fog, "" = clear), time of day (day | dusk | night, "" = day)
    # and what happens, in a few words.
    weather: str = ""
    time: str = ""
    action: str = ""


@dataclass(frozen=True, slots=True)
class StoryPlan:
    title: str
    characters: tuple[Character, ...]
    outline: tuple[OutlineItem, ...]
    setting: str
    moral: str
    summary: str
    # The prompt's own words for the place and the central event ("the lighthouse on the
    # rocky coast", "a storm"), carried to every page's prompt; "" where it named none.
    place: str = ""
    event: str = ""


@dataclass(frozen=True, slots=True)
class ImagePrompt:
    text: str
    characters: tuple[Character, ...]
    setting: str
    style: str
    seed: int
    width: int
    height: int
    kind: str = "page"  # page | cover | panel | image
    # A provider's model for this one picture (a StoryNote modelId); empty: the backend's own.
    model: str = ""
    weather: str = ""  # as OutlineItem.weather
    time: str = ""  # as OutlineItem.time
    action: str = ""


@dataclass(frozen=True, slots=True)
class Capability:
    kind: str  # text | image | speech | video | sfx | music
    backend: str  # instant | local | hosted
    model: str
    available: bool
    note: str = ""


@dataclass(frozen=True, slots=True)
class Pcm:
    """Signed 16-bit little-endian mono samples: the one audio shape every narrator returns."""

    samples: bytes
    rate: int

    @property
    def frames(self) -> int:
        return len(self.samples) // 2

    @property
    def duration_s(self) -> float:
        return self.frames / self.rate if self.rate else 0.0


@runtime_checkable
class StoryWriter(Protocol):
    name: str

    def capability(self) -> Capability: ...

    async def plan(self, request: StoryRequest) -> StoryPlan: ...

    async def write(
        self, request: StoryRequest, plan: StoryPlan, index: int, previous: Sequence[str]
    ) -> str: ...

    async def dialogue(
        self, request: StoryRequest, plan: StoryPlan, index: int, panels: int
    ) -> list[str]: ...

    async def edit(
        self, request: StoryRequest, plan: StoryPlan, pages: Sequence[str], instruction: str
    ) -> tuple[str, dict[int, str]]: ...


@runtime_checkable
class Illustrator(Protocol):
    """Draws one picture per prompt, exactly the prompt's size (RGB or palette mode).

    Pictures, not files: the pipeline lays words over most of them before anything is encoded,
    so an illustrator that encoded them would have them decoded again at once.
    """

    name: str

    def capability(self) -> Capability: ...

    async def draw(self, prompts: Sequence[ImagePrompt]) -> list[Image.Image]: ...


@runtime_checkable
class Narrator(Protocol):
    name: str

    def capability(self) -> Capability: ...

    async def speak(self, text: str, *, language: str = "english", seed: int = 0) -> Pcm: ...


@dataclass(frozen=True, slots=True)
class VideoRequest:
    """One clip: a camera move over ``first``, or a passage from ``first`` to ``last``
    (keyframe mode). Both frames are RGB pictures exactly ``width`` x ``height``; text-to-video
    paints ``first`` with the illustrator before it gets here."""

    prompt: str
    first: Image.Image
    seconds: float
    width: int
    height: int
    seed: int
    last: Image.Image | None = None
    model: str = ""


@runtime_checkable
class Animator(Protocol):
    """Turns one or two stills into an H.264 MP4 of the asked length and size."""

    name: str

    def capability(self) -> Capability: ...

    async def animate(self, request: VideoRequest) -> bytes: ...


@runtime_checkable
class SoundMaker(Protocol):
    """Sound effects and music from a description (kinds ``sfx`` and ``music``)."""

    name: str

    def capabilities(self) -> list[Capability]: ...

    async def sound_effect(self, text: str, seconds: float) -> Pcm: ...

    async def music(self, prompt: str, seconds: float) -> Pcm: ...


def exact_size(picture: Image.Image, width: int, height: int) -> Image.Image:
    """A model's picture in RGB at exactly the asked size (models round sizes to multiples)."""
    from PIL import Image

    rgb = picture if picture.mode == "RGB" else picture.convert("RGB")
    if rgb.size != (width, height):
        rgb = rgb.resize((width, height), Image.Resampling.LANCZOS)
    return rgb


def stable_seed(*parts: object) -> int:
    """A 63-bit seed from any printable values.

    Python's ``hash()`` is salted per process, so it would give a different book after every
    restart; a digest of the parts' text does not.
    """
    digest = hashlib.blake2b(
        "\x1f".join(str(p) for p in parts).encode("utf-8"), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big") >> 1


def describe_character(character: Character) -> str:
    """One fixed English phrase per character, identical on every page that shows it."""
    colors = " and ".join(character.colors) if character.colors else "plain"
    wearing = f", wearing a {character.clothing}" if character.clothing else ""
    trait = f", {character.trait}" if character.trait else ""
    kind = character.species
    if character.role and character.role != character.species:
        kind = f"{character.species} ({character.role})"
    return f"{character.name}, a {colors} {kind}{wearing}{trait}"


def picture_prompt(
    plan: StoryPlan,
    item: OutlineItem,
    style: str,
    seed: int,
    width: int,
    height: int,
    text: str = "",
    kind: str = "page",
) -> ImagePrompt:
    """Build one picture's prompt from the plan's character bible.

    The characters' looks come from the plan, never from the page text, so a model (or the
    instant illustrator) draws the same fox in the same scarf on page 1 and page 12.
    """
    by_name = {c.name: c for c in plan.characters}
    if kind == "cover":
        cast = list(plan.characters)
    else:
        cast = [by_name[n] for n in item.characters if n in by_name]
        if not cast and plan.characters:
            cast = [plan.characters[0]]
    setting = item.setting or plan.setting
    place = plan.place if setting == plan.setting and plan.place else setting
    parts = [
        f"{style.replace('_', ' ')} style children's book illustration",
        f"setting: {place}",
    ]
    if item.weather and item.weather != "clear":
        parts.append(f"weather: {item.weather}")
    if item.time and item.time != "day":
        parts.append(f"time: {item.time}")
    if kind == "cover":
        parts.append(f"book cover for '{plan.title}'")
    if item.action:
        parts.append(f"action: {item.action}")
    if item.summary:
        parts.append(f"scene: {item.summary}")
    if cast:
        parts.append("characters: " + "; ".join(describe_character(c) for c in cast))
    if text:
        parts.append(f"text: {text[:400]}")
    return ImagePrompt(
        text=". ".join(parts),
        characters=tuple(cast),
        setting=setting,
        style=style,
        seed=seed,
        width=width,
        height=height,
        kind=kind,
        weather=item.weather,
        time=item.time,
        action=item.action,
    )
