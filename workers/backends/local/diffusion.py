"""Local pictures with diffusers: any Stable Diffusion-style pipeline, from a directory or the hub.

The pipeline is loaded once per model lane, on first use, onto the GPU when there is one, and
only where the lane keeps its models: in the model process when the registry built the
illustrator (``ModelProcess``), so a crash of torch fails one job and never the server. Pages
that are asked for at the same time (the book pipeline draws a few pages ahead, plus the
cover) are gathered into one batch of up to ``batch_size`` pictures of one size, each with its
own seeded generator, so a page looks the same whether it was drawn alone or in a batch.
Few-step models (SD-Turbo, SDXL-Turbo, LCM) are recognised and sampled the way they were
trained; anything else gets classic classifier-free guidance.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.core.errors import ModelUnavailable
from workers.backends.base import Capability, ImagePrompt, exact_size
from workers.backends.local.sampling import Sampling, apply_sampling, choose_sampling
from workers.backends.local.scene_prompt import scene_words
from workers.backends.model_thread import ModelLane, Models, ModelThread

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "DiffusersIllustrator",
    "Sampling",
    "choose_sampling",
    "model_label",
    "picture_seed",
    "render_size",
    "scene_words",
    "styled_prompt",
]

log = logging.getLogger(__name__)

NEGATIVE_PROMPT = (
    "text, letters, watermark, signature, frame, blurry, low quality, deformed, extra limbs, "
    "disfigured, scary, gore, photo"
)
STYLE_WORDS = {
    "cartoon": "bright cartoon, clean outlines, flat cheerful colours",
    "flat": "flat vector illustration, simple shapes, solid colours",
    "watercolor": "soft watercolor painting, gentle washes, paper texture",
    "sketch": "pencil sketch, hand-drawn lines, light shading",
    "pixel": "pixel art, crisp pixels, limited palette",
    "manga": "manga illustration, expressive eyes, ink lines, screentone",
    "western": "western comic art, bold ink, dynamic pose",
    "graphic_novel": "graphic novel art, dramatic lighting, heavy inks",
    "oil_painting": "oil painting, rich brush strokes, warm light",
    "3d": "3d render, soft studio lighting, smooth shapes",
    "comic_style": "comic book panel, bold outlines, halftone colours",
    "crayon": "crayon drawing, waxy texture, childlike strokes",
    "colored_pencil": "colored pencil drawing, soft layered strokes",
    "paper_cut": "paper cut-out collage, layered paper, soft shadows",
}


def model_label(model: str) -> str:
    """A readable name for a model: the hub id, or the directory's name.

    A directory inside the Hugging Face cache (``models--org--name/snapshots/<hash>``) is
    named by its repository, since the hash says nothing and the name decides the sampling.
    """
    path = Path(model).expanduser()
    parts = path.parts
    for i, part in enumerate(parts):
        if part.startswith("models--") and i + 1 < len(parts) and parts[i + 1] == "snapshots":
            return part.removeprefix("models--").replace("--", "/")
    if path.is_dir() or model.startswith((".", "/", "~")):
        return path.resolve().name or model
    return model


def render_size(width: int, height: int, size: int) -> tuple[int, int]:
    """The size the model draws at: long side ``size``, both sides multiples of 8."""
    scale = size / max(1, width, height)

    def side(v: int) -> int:
        return max(8, round(v * scale / 8) * 8)

    return side(width), side(height)


def styled_prompt(prompt: ImagePrompt) -> str:
    """Style words first: CLIP reads only 77 tokens, and the style must survive the cut."""
    words = STYLE_WORDS.get(prompt.style.strip().lower(), prompt.style.replace("_", " "))
    scene = scene_words(prompt)
    return f"{words}, {scene}" if words else scene


def picture_seed(prompt: ImagePrompt) -> int:
    """The noise seed of a picture: its main character's own seed where it has one.

    A diffusion model takes a character's look (shape, colouring, pose) as much from the
    starting noise as from the words, so a page drawn from its own seed redraws the hero
    differently every time. Starting every picture of a character from that character's
    fixed seed (the bible's ``Character.seed``) keeps the same whale the same whale on page
    1 and page 12, while the words of each page (place, weather, action) change the scene.
    Pictures with nobody in them keep the page's seed.
    """
    if prompt.characters and prompt.characters[0].seed:
        return prompt.characters[0].seed
    return prompt.seed


@dataclass(frozen=True, slots=True)
class PipelineSpec:
    """Everything a pipeline is loaded with: the key of the loaded pipeline in its lane."""

    model: str
    label: str
    local: bool  # a directory (loaded offline), not a hub id
    device: str  # "" for the GPU when there is one, else the CPU
    threads: int  # torch's CPU threads; 0 leaves torch's default
    steps: int  # 0 for the model's own


@dataclass(slots=True)
class _Loaded:
    pipe: Any
    sampling: Sampling
    device: str
    call_params: frozenset[str]


@dataclass(slots=True)
class _Order:
    prompt: ImagePrompt
    dims: tuple[int, int]
    done: asyncio.Future[Any]


class DiffusersIllustrator:
    """Draws pages with a diffusers pipeline loaded once; GPU when present, CPU otherwise.

    ``lane`` is where the pipeline is loaded and run, shared with the process's other local
    models (a thread of its own otherwise). On the CPU, batches take turns with those models.
    On a GPU an in-process lane (``ModelThread``) renders on a second thread over the same
    loaded pipeline, so text is written while pictures render; a model process
    (``ModelProcess``) renders on the GPU in its one lane, between the text calls: the
    simpler rule, at the cost of that overlap.
    """

    name = "diffusers"

    def __init__(
        self,
        model: str,
        *,
        steps: int = 0,
        size: int = 512,
        device: str | None = None,
        batch_size: int = 4,
        threads: int = 0,
        lane: ModelLane | None = None,
    ) -> None:
        if not model:
            raise ValueError("DiffusersIllustrator needs a model directory or hub id")
        self.model = model
        self.label = model_label(model)
        self.steps = max(0, steps)
        self.size = max(64, size)
        self.batch_size = max(1, batch_size)
        self.threads = max(0, threads)
        self._path = Path(model).expanduser()
        self._local = self._path.is_dir()
        self._device = device
        self._load_error = ""
        self.sampling = choose_sampling(
            self.label,
            self._config("scheduler/scheduler_config.json"),
            guidance_embedded=self._config("unet/config.json").get("time_cond_proj_dim")
            is not None,
            steps=self.steps,
        )
        self.device = device or ""  # where the pipeline runs, once it is known
        # The pipeline is not thread-safe: the thread lock guards it even when ``render`` is
        # called from elsewhere; the asyncio lock decides who gathers the next batch.
        self.lane = lane or ModelThread("diffusers")
        self._gpu_thread: ModelThread | None = None
        self._thread_lock = threading.Lock()
        self._lock = asyncio.Lock()
        self._waiting: list[_Order] = []

    # -- what this backend can do -------------------------------------------------------------

    def _config(self, relative: str) -> dict[str, Any]:
        """A component's JSON config, read without importing torch (local or hub-cached)."""
        try:
            if self._local:
                path: Path | None = self._path / relative
            else:
                from huggingface_hub import try_to_load_from_cache

                found = try_to_load_from_cache(self.model, relative)
                path = Path(found) if isinstance(found, str) else None
            if path is None or not path.is_file():
                return {}
            data = json.loads(path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except Exception:
            return {}

    def _missing(self) -> str:
        import importlib.util

        for package in ("torch", "diffusers", "transformers"):
            if importlib.util.find_spec(package) is None:
                return f"{package} is not installed (install storygate[diffusion])"
        if not self._local and self.model.startswith((".", "/", "~")):
            return f"diffusers model directory not found: {self.model}"
        if self._local and not (self._path / "model_index.json").is_file():
            return f"{self.model} is not a diffusers pipeline directory (no model_index.json)"
        return self._load_error

    def capability(self) -> Capability:
        missing = self._missing()
        if missing:
            return Capability("image", "diffusers", self.label, False, missing)
        where = self.device or "cuda when available, else cpu"
        source = "local directory" if self._local else "Hugging Face hub id"
        if not self._local and not self._config("model_index.json"):
            source += " (not in the local cache: downloaded on first use)"
        note = (
            f"{source}; {self.sampling.describe()}; drawn at {self.size}px on the long side "
            f"and resized; {where}; batches of up to {self.batch_size}"
        )
        return Capability("image", "diffusers", self.label, True, note)

    @property
    def thread(self) -> ModelLane:
        """The lane, under its former name."""
        return self.lane

    @property
    def spec(self) -> PipelineSpec:
        return PipelineSpec(
            self.model, self.label, self._local, self._device or "", self.threads, self.steps
        )

    @property
    def _pipe(self) -> Any:
        """The loaded pipeline where it lives in this process (an in-process lane), else None."""
        lane = self.lane
        loaded = lane.models.peek(self.spec) if isinstance(lane, ModelThread) else None
        return loaded.pipe if loaded is not None else None

    # -- the model ----------------------------------------------------------------------------

    def render(self, prompts: Sequence[ImagePrompt], dims: tuple[int, int]) -> list[Any]:
        """One batch at one size, as PIL images at ``dims`` (the blocking half of draw)."""
        missing = self._missing()
        if missing:
            raise ModelUnavailable("illustration_unavailable", missing)
        with self._thread_lock:
            try:
                images, device, sampling = self.lane.invoke(
                    render_batch, self.spec, list(prompts), dims
                )
            except ModelUnavailable as exc:
                if exc.code == "illustration_unavailable":  # it would not load: say so from now
                    self._load_error = exc.message
                raise
        self.device, self.sampling = device, sampling
        if len(images) != len(prompts):
            raise ModelUnavailable(
                "illustration_failed",
                f"the pipeline returned {len(images)} pictures for {len(prompts)} prompts",
            )
        return list(images)

    # -- drawing ------------------------------------------------------------------------------

    async def draw(self, prompts: Sequence[ImagePrompt]) -> list[Image.Image]:
        if not prompts:
            return []
        loop = asyncio.get_running_loop()
        orders = [
            _Order(p, render_size(p.width, p.height, self.size), loop.create_future())
            for p in prompts
        ]
        self._waiting.extend(orders)
        try:
            # One turn of the loop lets callers started together (the pages drawn ahead, the
            # cover) queue their pictures before the first batch is gathered.
            await asyncio.sleep(0)
            async with self._lock:
                while not all(o.done.done() for o in orders):
                    batch = self._next_batch()
                    if not batch:  # ours went astray: queue them again rather than spin
                        self._waiting.extend(o for o in orders if not o.done.done())
                        continue
                    await self._run(batch)
        finally:
            for order in orders:
                if not order.done.done():
                    order.done.cancel()
            self._waiting = [o for o in self._waiting if not o.done.done()]
        images = [o.done.result() for o in orders]
        return list(
            await asyncio.gather(
                *(
                    asyncio.to_thread(exact_size, image, o.prompt.width, o.prompt.height)
                    for image, o in zip(images, orders, strict=True)
                )
            )
        )

    def _lane(self) -> ModelLane:
        lane = self.lane
        if not isinstance(lane, ModelThread) or not self.device.startswith("cuda"):
            return lane  # also where the pipeline is loaded
        if self._gpu_thread is None:
            self._gpu_thread = ModelThread("diffusers-gpu", models=lane.models)
        return self._gpu_thread

    def _next_batch(self) -> list[_Order]:
        """The oldest waiting picture and others of its size, up to ``batch_size``."""
        live = [o for o in self._waiting if not o.done.done()]
        if not live:
            self._waiting = []
            return []
        dims = live[0].dims
        batch = [o for o in live if o.dims == dims][: self.batch_size]
        taken = {id(o) for o in batch}
        self._waiting = [o for o in live if id(o) not in taken]
        return batch

    async def _run(self, batch: list[_Order]) -> None:
        try:
            prompts = [o.prompt for o in batch]
            images = await self._lane().run(self.render, prompts, batch[0].dims)
        except asyncio.CancelledError:
            # Whoever gathered this batch was cancelled; the others in it still want pictures.
            self._waiting[:0] = [o for o in batch if not o.done.done()]
            raise
        except Exception as exc:
            for order in batch:
                if not order.done.done():
                    order.done.set_exception(exc)
            return
        for order, image in zip(batch, images, strict=True):
            if not order.done.done():
                order.done.set_result(image)


# -- run where the lane keeps its models (the model process, or the lane's thread) -------------


def _load(spec: PipelineSpec) -> _Loaded:
    try:
        import torch
        from diffusers import DiffusionPipeline

        if spec.threads:
            # torch's CPU pool is process-wide; a small model on a shared machine runs
            # far faster on one thread than on cores another process keeps busy.
            torch.set_num_threads(spec.threads)
        device = spec.device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.float16 if device.startswith("cuda") else torch.float32
        pipe = DiffusionPipeline.from_pretrained(
            spec.model, local_files_only=spec.local, **{_dtype_keyword(): dtype}
        )
        scheduler_config = dict(getattr(pipe.scheduler, "config", {}) or {})
        scheduler_config["_class_name"] = type(pipe.scheduler).__name__
        unet = getattr(pipe, "unet", None)
        embedded = getattr(getattr(unet, "config", None), "time_cond_proj_dim", None)
        sampling = choose_sampling(
            spec.label, scheduler_config, guidance_embedded=embedded is not None, steps=spec.steps
        )
        apply_sampling(pipe, sampling)
        pipe = pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
    except Exception as exc:
        log.error("diffusers pipeline failed to load", extra={"model": spec.model})
        raise ModelUnavailable(
            "illustration_unavailable", f"diffusers could not load {spec.model}: {exc}"
        ) from exc
    log.info(
        "diffusers pipeline loaded",
        extra={"model": spec.label, "device": device, "sampling": sampling.describe()},
    )
    return _Loaded(pipe, sampling, device, frozenset(inspect.signature(pipe.__call__).parameters))


def render_batch(
    models: Models, spec: PipelineSpec, prompts: Sequence[ImagePrompt], dims: tuple[int, int]
) -> tuple[list[Any], str, Sampling]:
    """One batch at one size, as PIL images, with the device and sampling that drew them."""
    loaded = models.get(spec, lambda: _load(spec))
    import torch

    pipe, s = loaded.pipe, loaded.sampling
    width, height = dims
    kwargs: dict[str, Any] = {
        "prompt": [_fit(pipe, styled_prompt(p)) for p in prompts],
        "height": height,
        "width": width,
        "num_inference_steps": s.steps,
        "guidance_scale": s.guidance,
        # One generator per page, on the CPU: a page's noise depends on its seed alone, not on
        # its batch neighbours or on the device.
        "generator": [
            torch.Generator(device="cpu").manual_seed(picture_seed(p) & 0xFFFF_FFFF_FFFF_FFFF)
            for p in prompts
        ],
        "output_type": "pil",
    }
    if s.negative and "negative_prompt" in loaded.call_params:
        kwargs["negative_prompt"] = [_fit(pipe, NEGATIVE_PROMPT)] * len(prompts)
    with torch.inference_mode():
        images = list(pipe(**kwargs).images)
    return images, loaded.device, s


def _fit(pipe: Any, text: str) -> str:
    """Cut a prompt to what the text encoder reads, so the pipeline need not warn per page.

    The cut keeps one token spare, since decoded text may re-encode a token longer.
    """
    tokenizer = getattr(pipe, "tokenizer", None)
    limit = int(getattr(tokenizer, "model_max_length", 0) or 0)
    if tokenizer is None or not 8 < limit < 4096:
        return text
    ids = tokenizer(text, truncation=True, max_length=limit).input_ids
    if len(ids) < limit:
        return text
    ids = tokenizer(text, truncation=True, max_length=limit - 1).input_ids
    return str(tokenizer.decode(ids, skip_special_tokens=True)).strip()


def _dtype_keyword() -> str:
    """``dtype`` where diffusers has renamed ``torch_dtype`` (0.42+), else the old name."""
    try:
        from diffusers.utils import deprecation_utils

        if hasattr(deprecation_utils, "_resolve_dtype"):
            return "dtype"
    except ImportError:
        pass
    return "torch_dtype"
