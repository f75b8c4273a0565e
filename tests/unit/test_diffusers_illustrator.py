"""The diffusers illustrator on a tiny random pipeline built offline: real pipelines, real pictures,
run through the real book task."""

from __future__ import annotations

import asyncio
import importlib.util
import io
import json
import shutil
import threading
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops

from gateway.core.errors import ModelUnavailable
from gateway.core.jobs import JobStatus
from gateway.runtime import Runtime, open_runtime
from gateway.settings import Settings
from tests.conftest import need
from workers.backends.base import Illustrator, ImagePrompt
from workers.backends.local.diffusion import (
    DiffusersIllustrator,
    model_label,
    render_size,
    styled_prompt,
)
from workers.backends.local.sampling import choose_sampling
from workers.runner import execute_job

PROMPT = "A brave little raccoon who learns to share with forest friends"
SIZE = 64


def prompt(seed: int, width: int = 768, height: int = 768, text: str = "a fox") -> ImagePrompt:
    return ImagePrompt(f"{text} in a meadow", (), "meadow", "watercolor", seed, width, height)


def png(data: bytes) -> Image.Image:
    """A stored page: PNG bytes."""
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    image.load()
    return image


def rgb(picture: Image.Image) -> Image.Image:
    """What the illustrator draws: an RGB picture."""
    assert isinstance(picture, Image.Image) and picture.mode == "RGB"
    return picture


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for package in ("torch", "diffusers", "transformers"):
        if importlib.util.find_spec(package) is None:
            need(f"{package} is not installed (pip install storygate[diffusion])")
    from workers.backends.local.tiny_pipeline import build_tiny_pipeline

    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd") / "tiny-sd")


@pytest.fixture
def illustrator(tiny: Path) -> DiffusersIllustrator:
    return DiffusersIllustrator(str(tiny), size=SIZE, steps=2, threads=1)


# -- the pure parts ---------------------------------------------------------------------------


def test_sampling_follows_the_model() -> None:
    turbo = choose_sampling("stabilityai/sd-turbo", {"_class_name": "EulerDiscreteScheduler"})
    assert (turbo.family, turbo.scheduler, turbo.guidance) == (
        "turbo",
        "EulerAncestralDiscreteScheduler",
        0.0,
    )
    assert 1 <= turbo.steps <= 4 and turbo.options == {"timestep_spacing": "trailing"}
    assert choose_sampling("stabilityai/sdxl-turbo", {}).family == "turbo"

    lcm = choose_sampling("my-model", {"_class_name": "LCMScheduler"})
    assert (lcm.family, lcm.scheduler) == ("lcm", "LCMScheduler")
    assert 1 <= lcm.steps <= 4 and 1.0 <= lcm.guidance <= 2.0 and not lcm.negative
    by_name = choose_sampling("SimianLuo/LCM_Dreamshaper_v7", {}, guidance_embedded=True)
    assert by_name.family == "lcm" and by_name.guidance > 2  # guidance goes in as an input

    classic = choose_sampling("runwayml/stable-diffusion-v1-5", {"_class_name": "PNDMScheduler"})
    assert (classic.family, classic.scheduler, classic.negative) == ("classic", "", True)
    assert 20 <= classic.steps <= 30 and 6 <= classic.guidance <= 8
    assert choose_sampling("calcium-model", {}).family == "classic"  # "lcm" inside a word
    assert choose_sampling("sd-turbo", {}, steps=6).steps == 6  # operators may override


def test_sizes_labels_and_prompts(tmp_path: Path) -> None:
    assert render_size(768, 768, 512) == (512, 512)
    assert render_size(768, 1024, 512) == (384, 512)
    w, h = render_size(301, 197, 64)
    assert w % 8 == 0 and h % 8 == 0 and w == 64
    snapshot = tmp_path / "models--stabilityai--sd-turbo" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    assert model_label(str(snapshot)) == "stabilityai/sd-turbo"
    assert model_label("stabilityai/sdxl-turbo") == "stabilityai/sdxl-turbo"
    assert model_label(str(tmp_path)) == tmp_path.name
    text = styled_prompt(prompt(1))
    assert text.startswith("soft watercolor painting") and text.endswith("a fox in a meadow")


async def test_missing_models_are_reported(tmp_path: Path) -> None:
    gone = DiffusersIllustrator(str(tmp_path / "no-such-model"))
    cap = gone.capability()
    assert cap.available is False and cap.backend == "diffusers"
    assert cap.model == "no-such-model"
    empty = DiffusersIllustrator(str(tmp_path))
    assert empty.capability().available is False
    with pytest.raises(ModelUnavailable) as raised:
        await empty.draw([prompt(1)])
    assert raised.value.code == "illustration_unavailable"


# -- the real pipeline ------------------------------------------------------------------------


def test_tiny_pipeline_loads_back_offline(tiny: Path) -> None:
    import torch
    from diffusers import DiffusionPipeline, StableDiffusionPipeline

    index = json.loads((tiny / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    assert index["safety_checker"] == [None, None]
    pipe: Any = DiffusionPipeline.from_pretrained(tiny, local_files_only=True)
    assert type(pipe).__name__ == StableDiffusionPipeline.__name__
    ids = pipe.tokenizer("the fox and the cat").input_ids
    assert ids[0] == pipe.tokenizer.bos_token_id and ids[-1] == pipe.tokenizer.eos_token_id
    assert len(ids) == 7  # every word is one token: the merges work
    params = sum(p.numel() for p in pipe.unet.parameters())
    assert params < 2_000_000, params
    assert pipe.unet.dtype == torch.float32


async def test_draws_pictures_of_the_requested_sizes(illustrator: DiffusersIllustrator) -> None:
    assert isinstance(illustrator, Illustrator)
    cap = illustrator.capability()
    assert (cap.kind, cap.backend, cap.model, cap.available) == (
        "image",
        "diffusers",
        "tiny-sd",
        True,
    )
    prompts = [prompt(1), prompt(2, 768, 1024), prompt(3, 301, 197)]
    pictures = await illustrator.draw(prompts)
    for data, p in zip(pictures, prompts, strict=True):
        image = rgb(data)
        assert image.size == (p.width, p.height) and image.mode == "RGB"
        assert len(set(image.getdata())) > 50, "a picture, not a flat fill"
    assert illustrator.device == "cpu" or illustrator.device.startswith("cuda")
    assert "2 steps" in illustrator.capability().note


async def test_same_seed_same_picture(illustrator: DiffusersIllustrator) -> None:
    (first,) = await illustrator.draw([prompt(7)])
    (again,) = await illustrator.draw([prompt(7)])
    (other,) = await illustrator.draw([prompt(8)])
    assert first == again
    assert first != other
    # In a batch, the page keeps its own generator: the same picture up to float rounding.
    batch = await illustrator.draw([prompt(5), prompt(7), prompt(9)])
    diff: Any = ImageChops.difference(rgb(first), rgb(batch[1])).getextrema()
    assert max(high for _low, high in diff) <= 3, diff
    assert batch[0] != batch[2]


async def test_concurrent_pages_share_batches(illustrator: DiffusersIllustrator) -> None:
    batches: list[int] = []
    render = illustrator.render

    def counting(prompts: Any, dims: tuple[int, int]) -> list[Any]:
        batches.append(len(prompts))
        return render(prompts, dims)

    illustrator.render = counting  # type: ignore[method-assign]
    drawn = await asyncio.gather(*(illustrator.draw([prompt(n)]) for n in range(6)))
    assert [len(d) for d in drawn] == [1] * 6
    assert sum(batches) == 6 and max(batches) == illustrator.batch_size == 4


async def test_drawing_leaves_the_event_loop_free(illustrator: DiffusersIllustrator) -> None:
    loop = asyncio.get_running_loop()
    served: list[str] = []
    render = illustrator.render

    def probing(prompts: Any, dims: tuple[int, int]) -> list[Any]:
        # Mid-render, ask the loop to run something and wait for it: only a loop left free
        # while pictures render can answer (a blocked one would time out here).
        async def ping() -> str:
            return "served"

        served.append(asyncio.run_coroutine_threadsafe(ping(), loop).result(timeout=30))
        return render(prompts, dims)

    illustrator.render = probing  # type: ignore[method-assign]
    (picture,) = await illustrator.draw([prompt(1)])
    assert rgb(picture).size == (768, 768)
    assert served == ["served"], "the event loop was blocked while drawing"


async def test_a_cancelled_caller_leaves_its_batch_to_the_others(
    illustrator: DiffusersIllustrator,
) -> None:
    await illustrator.draw([prompt(1)])  # loaded first: only the batch below is held
    batches: list[int] = []
    render = illustrator.render
    rendering, proceed = threading.Event(), threading.Event()

    def counting(prompts: Any, dims: tuple[int, int]) -> list[Any]:
        batches.append(len(prompts))
        rendering.set()
        # The first batch waits, on the model thread, until its gatherer has been cancelled.
        proceed.wait(timeout=30)
        return render(prompts, dims)

    illustrator.render = counting  # type: ignore[method-assign]
    first = asyncio.create_task(illustrator.draw([prompt(11)]))
    second = asyncio.create_task(illustrator.draw([prompt(12)]))
    assert await asyncio.to_thread(rendering.wait, 30), "the batch never reached the model"
    assert batches == [2]  # the first caller gathered both pictures...
    first.cancel()  # ...and leaves while they are being drawn (held until it has left)
    await asyncio.wait({first}, timeout=30)
    assert first.cancelled()
    proceed.set()
    (picture,) = await asyncio.wait_for(second, 30)
    assert rgb(picture).size == (768, 768)
    (alone,) = await illustrator.draw([prompt(12)])
    diff: Any = ImageChops.difference(rgb(picture), rgb(alone)).getextrema()
    assert max(high for _low, high in diff) <= 3


async def test_few_step_schedulers_are_swapped_in(tiny: Path, tmp_path: Path) -> None:
    from diffusers import DiffusionPipeline, LCMScheduler

    turbo_dir = tmp_path / "tiny-sd-turbo"
    shutil.copytree(tiny, turbo_dir)
    turbo = DiffusersIllustrator(str(turbo_dir), size=SIZE, threads=1)
    assert turbo.sampling.family == "turbo"
    (picture,) = await turbo.draw([prompt(1)])
    assert rgb(picture).size == (768, 768)
    sched = turbo._pipe.scheduler
    assert type(sched).__name__ == "EulerAncestralDiscreteScheduler"
    assert sched.config.timestep_spacing == "trailing"
    assert (turbo.sampling.guidance, turbo.sampling.steps) == (0.0, 2)

    # An LCM is recognised from its scheduler config alone, whatever its directory is called.
    pipe = DiffusionPipeline.from_pretrained(tiny, local_files_only=True)
    pipe.scheduler = LCMScheduler.from_config(pipe.scheduler.config)
    consistency_dir = tmp_path / "distilled"
    pipe.save_pretrained(consistency_dir)
    lcm = DiffusersIllustrator(str(consistency_dir), size=SIZE, threads=1)
    assert lcm.sampling.family == "lcm"
    await lcm.draw([prompt(1)])
    assert type(lcm._pipe.scheduler).__name__ == "LCMScheduler"
    assert lcm.sampling.guidance == 1.5 and lcm.sampling.steps == 4

    classic = DiffusersIllustrator(str(tiny), size=SIZE)
    assert (classic.sampling.family, classic.sampling.steps) == ("classic", 25)
    assert "classic" in classic.capability().note


# -- through the book task --------------------------------------------------------------------


@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = Settings(data_dir=tmp_path / "data", backends="instant", log_json=False)
    async with open_runtime(settings, role="cli") as runtime:
        yield runtime


async def make_book(rt: Runtime, account: str, units: int) -> dict[str, Any]:
    job = await rt.jobs.create(
        account, "storymint", "book", {"prompt": PROMPT, "format": "picture", "units": units}
    )
    await execute_job(rt, rt.registry, job.id)
    done = await rt.jobs.get(job.id)
    assert done.status is JobStatus.SUCCEEDED, (done.error_code, done.error_message)
    assert done.result is not None
    return done.result


def with_illustrator(rt: Runtime, illustrator: Illustrator) -> None:
    rt.backends = replace(rt.backends, illustrator=illustrator)


async def test_book_pages_drawn_by_diffusers(rt: Runtime, tiny: Path) -> None:
    account = (await rt.accounts.create("diffusers")).id
    illustrator = DiffusersIllustrator(str(tiny), size=SIZE, steps=2, threads=1)
    with_illustrator(rt, illustrator)
    result = await make_book(rt, account, 3)
    assert result["image_model"] == "tiny-sd"
    assert len(result["pages"]) == 3
    for page in result["pages"]:
        image = png((await rt.storage.get(account, page["image"]))[1])
        assert image.size == (768, 768)
    cover = Image.open(io.BytesIO((await rt.storage.get(account, result["cover"]))[1]))
    assert cover.format == "JPEG"
    again = await make_book(rt, account, 3)
    first_page = (await rt.storage.get(account, result["pages"][0]["image"]))[1]
    assert (await rt.storage.get(account, again["pages"][0]["image"]))[1] == first_page
