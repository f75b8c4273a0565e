"""The text backend's tokens/s beside raw llama-cpp-python, for ``bench/book.py --local``.

* **in the book**: the writer's tokens over its whole time in ``plan`` and ``write``, and how
  much of that time was spent inside llama-cpp-python (the rest is prompting and repair).
* **same completions**: every completion the writer made in the book (messages, budget,
  sampling, seed, JSON schema) is asked again, twice over, alternately of the writer (its model
  thread, its loaded model) and of a fresh ``llama_cpp.Llama`` opened with the same context and
  threads, called directly on that same thread. Alternating call by call puts both under the
  same load on a shared machine, so ``writer / raw`` is what the backend costs over the library.
* **free prose**: raw llama-cpp-python writing 256 tokens of prose, the model's plain speed here.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Call", "compare_text", "record"]

RAW_TOKENS = 256
RAW_PROMPT = (
    "Write a long, detailed bedtime story about a lighthouse keeper and a lost seal pup. "
    "Describe the sea, the weather and every conversation at length."
)


@dataclass(frozen=True, slots=True)
class Call:
    """One chat completion as the writer asked for it, to be asked again of raw llama.cpp."""

    messages: list[dict[str, str]]
    max_tokens: int
    temperature: float
    seed: int
    schema: Mapping[str, Any] | None
    tokens: int
    seconds: float  # inside the writer's completion call


def record(writer: Any, calls: list[Call]) -> None:
    """Note every completion the writer makes (an instance attribute shadows its method)."""
    complete = writer._complete

    async def recording(
        messages: Any, *, max_tokens: int, temperature: float, seed: int, schema: Any
    ) -> Any:
        start = time.perf_counter()
        reply = await complete(
            messages, max_tokens=max_tokens, temperature=temperature, seed=seed, schema=schema
        )
        spent = time.perf_counter() - start
        calls.append(
            Call(
                copy.deepcopy(messages), max_tokens, temperature, seed, schema, reply.tokens, spent
            )
        )
        return reply

    writer._complete = recording


def _unrecord(writer: Any) -> None:
    del writer._complete


def _raw_model(model_path: str, n_ctx: int, n_threads: int, seed: int) -> Any:
    from llama_cpp import Llama

    return Llama(model_path=model_path, n_ctx=n_ctx, n_threads=n_threads, seed=seed, verbose=False)


def _raw_call(llama: Any, call: Call) -> tuple[int, float]:
    """One recorded completion asked of llama-cpp-python directly: tokens and seconds."""
    from workers.backends.local.llama import REPEAT_PENALTY, TOP_P

    options: dict[str, Any] = {}
    if call.schema is not None:
        options["response_format"] = {"type": "json_object", "schema": dict(call.schema)}
    start = time.perf_counter()
    result = llama.create_chat_completion(
        messages=call.messages,
        max_tokens=call.max_tokens,
        temperature=call.temperature,
        top_p=TOP_P,
        repeat_penalty=REPEAT_PENALTY,
        seed=call.seed,
        **options,
    )
    return int(result["usage"]["completion_tokens"]), time.perf_counter() - start


async def _alternate(
    writer: Any, calls: Sequence[Call], n_ctx: int, n_threads: int, rounds: int = 2
) -> tuple[tuple[int, float], tuple[int, float]]:
    """(tokens, seconds) of the writer and of raw llama-cpp-python over the same completions.

    The raw model is opened and called on the writer's own thread: a second thread calling into
    llama.cpp would give the process a second OpenMP team, which slows both (ModelThread).
    """
    lane = writer.thread
    raw = await lane.run(_raw_model, str(writer.model_path), n_ctx, n_threads, 0)
    ours_n = raw_n = 0
    ours_s = raw_s = 0.0
    try:
        for _round in range(rounds):
            for call in calls:
                start = time.perf_counter()
                reply = await writer._complete(
                    call.messages,
                    max_tokens=call.max_tokens,
                    temperature=call.temperature,
                    seed=call.seed,
                    schema=call.schema,
                )
                ours_s += time.perf_counter() - start
                ours_n += reply.tokens
                tokens, seconds = await lane.run(_raw_call, raw, call)
                raw_n += tokens
                raw_s += seconds
    finally:
        await lane.run(raw.close)
    return (ours_n, ours_s), (raw_n, raw_s)


def _raw_prose(model_path: str, n_ctx: int, n_threads: int) -> tuple[int, float]:
    """Tokens and seconds of free prose straight from llama-cpp-python, same file and threads."""
    from workers.backends.local.llama import REPEAT_PENALTY, TOP_P

    llama = _raw_model(model_path, n_ctx, n_threads, 7)
    try:
        start = time.perf_counter()
        result = llama.create_chat_completion(
            messages=[{"role": "user", "content": RAW_PROMPT}],
            max_tokens=RAW_TOKENS,
            temperature=0.8,
            top_p=TOP_P,
            repeat_penalty=REPEAT_PENALTY,
            seed=7,
            # End of text forbidden, so every run generates the full count.
            logit_bias={llama.token_eos(): float("-inf")},
        )
        seconds = time.perf_counter() - start
    finally:
        llama.close()
    return int(result["usage"]["completion_tokens"]), seconds  # type: ignore[index]


async def compare_text(writer: Any, calls: Sequence[Call], book_s: float, n_threads: int) -> None:
    """Print the writer's speed in the book, then beside raw llama-cpp-python (module doc)."""
    from workers.backends.registry import LLAMA_CONTEXT

    _unrecord(writer)
    path = Path(str(writer.model_path))
    tokens = sum(c.tokens for c in calls)
    inside = sum(c.seconds for c in calls)
    json_calls = sum(1 for c in calls if c.schema is not None)
    print(f"text model {path.name}, n_ctx {LLAMA_CONTEXT}, {n_threads} threads:")
    print(
        f"  in the book: {tokens} tokens in {book_s:.2f} s = {tokens / book_s:.1f} tokens/s "
        f"({len(calls)} completions, {json_calls} JSON); {100 * inside / book_s:.1f}% of that "
        "time inside the completion calls"
    )
    (ours_n, ours_s), (raw_n, raw_s) = await _alternate(writer, calls, LLAMA_CONTEXT, n_threads)
    ours, raw = ours_n / ours_s, raw_n / raw_s
    print(
        f"  same completions, twice, alternating: LlamaWriter {ours_n} tokens in {ours_s:.2f} s "
        f"= {ours:.1f} tokens/s; raw llama-cpp-python {raw_n} tokens in {raw_s:.2f} s = "
        f"{raw:.1f} tokens/s"
    )
    print(f"  writer / raw: {ours / raw:.3f}")
    prose_n, prose_s = await writer.thread.run(_raw_prose, str(path), LLAMA_CONTEXT, n_threads)
    print(
        f"  raw llama-cpp-python, free prose: {prose_n} tokens in {prose_s:.2f} s = "
        f"{prose_n / prose_s:.1f} tokens/s (for scale: sampling under a JSON grammar is slower)"
    )
