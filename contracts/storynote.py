"""StoryNote Developer API (``/v1/projects``, ``/v1/jobs``, ``/v1/models``), as its reference
documents it.

Every error is ``{"error": "<message>", "code": <status>}``. Request bodies decode strictly
(no coercion but JSON Schema's own) and unknown fields are ignored, since real clients send more
than the reference names. Fields the reference does not name but a client can use (a job's
``type`` and ``projectId``, a model's ``available`` and ``runsOn``) are additions, never
renamings; ``docs/compat.md`` lists them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

from contracts.common import HTTP_URL, NO_NUL, VISIBLE

# What the reference allows, and what storygate adds where it is silent (docs/compat.md).
NAME_MAX = 200
PROMPT_MAX = 4000
TEXT_MAX = 5000
IMAGES_MAX = 8
SEED_MAX = 2**32 - 1
BATCH_MAX = 256
VIDEO_SECONDS = (1.0, 10.0)
SFX_SECONDS = (0.5, 30.0)
MUSIC_SECONDS = (3.0, 300.0)


class AspectRatio(StrEnum):
    SQUARE = "1:1"
    WIDE = "16:9"
    TALL = "9:16"
    CLASSIC = "4:3"
    PORTRAIT = "3:4"


class SoundType(StrEnum):
    SPEECH = "speech"
    SFX = "sfx"
    MUSIC = "music"


class JobStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class NodeType(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"


Prompt = Annotated[str, Meta(min_length=1, max_length=PROMPT_MAX, pattern=VISIBLE)]
# gt=-1, not ge=0: the OpenAPI generator drops a minimum of 0 (it is falsy), and the document
# must refuse what the decoder refuses.
Seed = Annotated[int, Meta(gt=-1, le=SEED_MAX)]
Url = Annotated[str, Meta(min_length=1, max_length=4096, pattern=HTTP_URL)]
# The reference's models by kind ("default": the kind's default, as clients in the wild send).
ImageModelId = Literal[
    "default",
    "fal-ai/z-image/turbo",
    "fal-ai/flux-2",
    "fal-ai/bytedance/seedream/v4",
    "nano-banana",
    "fal-ai/recraft/v4",
    "nano-banana-2",
    "nano-banana-pro",
]
VideoModelId = Literal[
    "default",
    "fal-ai/veo3.1/lite",
    "fal-ai/pixverse/v6",
    "fal-ai/kling-video/v2.6/pro/image-to-video",
]
SpeechModelId = Literal["default", "elevenlabs/tts"]
SfxModelId = Literal["default", "elevenlabs/sfx"]
MusicModelId = Literal["default", "elevenlabs/music"]


class ErrorResponse(Struct):
    error: str
    code: int


# -- requests ----------------------------------------------------------------------------------


class CreateProjectRequest(Struct):
    name: Annotated[str, Meta(min_length=1, max_length=NAME_MAX, pattern=VISIBLE)]


class ImageRequest(Struct):
    directPrompt: Prompt
    modelId: ImageModelId | UnsetType = UNSET
    aspectRatio: AspectRatio | UnsetType = UNSET
    numImages: Annotated[int, Meta(ge=1, le=IMAGES_MAX)] = 1
    seed: Seed | UnsetType = UNSET


class Frame(Struct):
    imageUrl: Url


class VideoRequest(Struct):
    directPrompt: Annotated[str, Meta(max_length=PROMPT_MAX, pattern=NO_NUL)] = ""
    firstFrame: Frame | UnsetType = UNSET
    lastFrame: Frame | UnsetType = UNSET
    modelId: VideoModelId | UnsetType = UNSET
    durationSec: Annotated[float, Meta(ge=VIDEO_SECONDS[0], le=VIDEO_SECONDS[1])] = 3.0
    aspectRatio: AspectRatio | UnsetType = UNSET
    seed: Seed | UnsetType = UNSET


class _Audio(Struct, tag_field="soundType", kw_only=True):
    voiceId: Annotated[str, Meta(max_length=100, pattern=NO_NUL)] | UnsetType = UNSET


class SpeechRequest(_Audio, tag="speech"):
    text: Annotated[str, Meta(min_length=1, max_length=TEXT_MAX, pattern=VISIBLE)]
    modelId: SpeechModelId | UnsetType = UNSET


class SfxRequest(_Audio, tag="sfx"):
    prompt: Prompt
    modelId: SfxModelId | UnsetType = UNSET
    duration: Annotated[float, Meta(ge=SFX_SECONDS[0], le=SFX_SECONDS[1])] | UnsetType = UNSET


class MusicRequest(_Audio, tag="music"):
    prompt: Prompt
    modelId: MusicModelId | UnsetType = UNSET
    duration: Annotated[float, Meta(ge=MUSIC_SECONDS[0], le=MUSIC_SECONDS[1])] | UnsetType = UNSET


# ``soundType`` decides which fields are required and which durations are allowed.
AudioRequest = SpeechRequest | SfxRequest | MusicRequest


# -- responses ---------------------------------------------------------------------------------


class ImageAccepted(Struct):
    jobId: str
    jobIds: list[str]


class JobAccepted(Struct):
    jobId: str


class Project(Struct):
    id: str
    name: str
    createdAt: str


class Node(Struct):
    id: str
    type: NodeType
    jobId: str
    prompt: str
    status: JobStatus
    url: str | None
    model: str
    createdAt: str


class Edge(Struct):
    """An image used as a video's ``firstFrame`` or ``lastFrame``."""

    id: str
    source: str
    target: str
    type: Annotated[str, Meta(pattern="^(firstFrame|lastFrame)$")]
    imageUrl: str


class ProjectGraph(Struct):
    id: str
    name: str
    nodes: list[Node]
    edges: list[Edge]
    createdAt: str


class Job(Struct):
    id: str
    status: JobStatus
    prompt: str
    model: str
    imageUrl: str | None
    videoUrl: str | None
    audioUrl: str | None
    seed: int | None
    error: str | None
    updatedAt: str
    type: NodeType
    projectId: str | None
    createdAt: str


class JobBatch(Struct):
    jobs: dict[str, Job]


class Model(Struct, omit_defaults=True):
    id: str
    name: str
    credits: int
    tier: str
    # Whether it runs on this server, where, and why not when it cannot.
    available: bool
    runsOn: str
    note: str
    # "image" and "second" (video), "request" (audio and tools).
    creditsPer: str = "request"
    allowedAspectRatios: list[str] | UnsetType = UNSET
    maxImages: int | UnsetType = UNSET
    minDurationSec: float | UnsetType = UNSET
    maxDurationSec: float | UnsetType = UNSET
    defaultDurationSec: float | UnsetType = UNSET
    soundType: str | UnsetType = UNSET
    modes: list[str] | UnsetType = UNSET
    voiceIds: list[str] | UnsetType = UNSET
    default: bool = False


class ModelsAvailable(Struct):
    image: list[Model]
    video: list[Model]
    audio: list[Model]
    tools: list[Model]
