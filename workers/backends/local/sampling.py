"""How a diffusion model is sampled: scheduler, steps and guidance, chosen per model.

Distilled models are ruined by classic settings (Turbo burns out at guidance 7; LCM needs its
own scheduler) and classic models are mush at two steps, so this is decided from the model's
name and scheduler config rather than configured. ``diffusers`` is imported only to swap a
loaded pipeline's scheduler.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Sampling", "apply_sampling", "choose_sampling"]

_LCM = re.compile(r"(?<![a-z])lcm(?![a-z])")
_TURBO = re.compile(r"turbo")


@dataclass(frozen=True, slots=True)
class Sampling:
    """How a model is sampled: which scheduler, how many steps, how much guidance."""

    family: str  # turbo | lcm | classic
    scheduler: str  # diffusers scheduler class name; "" keeps the model's own
    steps: int
    guidance: float
    negative: bool  # whether a negative prompt means anything at this guidance
    options: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        sched = self.scheduler or "the model's scheduler"
        return f"{self.family}: {self.steps} steps, guidance {self.guidance:g}, {sched}"


def choose_sampling(
    label: str,
    scheduler_config: Mapping[str, Any],
    *,
    guidance_embedded: bool = False,
    steps: int = 0,
) -> Sampling:
    """The sampling a model was trained for; ``steps`` overrides the step count only."""
    name = label.lower()
    scheduler = str(scheduler_config.get("_class_name", ""))
    if scheduler == "LCMScheduler" or _LCM.search(name):
        # Guidance-embedded LCMs (LatentConsistencyModelPipeline) take the usual scale as an
        # input; LCM-LoRA-style models want almost none.
        guidance = 8.0 if guidance_embedded else 1.5
        return Sampling("lcm", "LCMScheduler", steps or 4, guidance, False)
    if _TURBO.search(name):
        return Sampling(
            "turbo",
            "EulerAncestralDiscreteScheduler",
            steps or 2,
            0.0,
            False,
            {"timestep_spacing": "trailing"},
        )
    return Sampling("classic", "", steps or 25, 7.0, True)


def apply_sampling(pipe: Any, sampling: Sampling) -> None:
    if not sampling.scheduler:
        return
    import diffusers

    current = pipe.scheduler
    if type(current).__name__ == sampling.scheduler and all(
        current.config.get(k) == v for k, v in sampling.options.items()
    ):
        return
    scheduler_class = getattr(diffusers, sampling.scheduler)
    pipe.scheduler = scheduler_class.from_config(current.config, **sampling.options)
