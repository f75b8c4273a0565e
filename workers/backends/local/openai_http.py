"""The text backend for an OpenAI-compatible chat server: Ollama, llama.cpp server, vLLM.

It asks the same things as the in-process llama.cpp writer (the prompts, retries and repairs
live in ``chat``), over ``POST /v1/chat/completions``. Such servers differ in how they take a
JSON schema, so only the portable ``{"type": "json_object"}`` is sent and the schema itself goes
into the prompt. Every transport failure, timeout or error status becomes ``UpstreamError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from gateway.core.errors import UpstreamError
from workers.backends.base import Capability
from workers.backends.local.chat import ChatWriter, Completion
from workers.backends.local.prompts import Messages

__all__ = ["OpenAIWriter"]


class OpenAIWriter(ChatWriter):
    """A StoryWriter over ``base_url`` (with or without its trailing ``/v1``).

    An empty ``model`` means the server's first listed model, looked up on first use. Without
    a ``client`` each call opens its own short-lived one, so the writer holds no connection
    bound to an event loop; pass a client to pool connections (the caller closes it).
    """

    name = "openai"
    schema_in_prompt = True

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        timeout: float,
        client: httpx.AsyncClient | None = None,
        api_key: str = "",
        prose_tokens: int | None = None,
        plan_tokens: int | None = None,
        temperature: float = 0.8,
        seed_base: int = 0,
    ) -> None:
        super().__init__(
            prose_tokens=prose_tokens,
            plan_tokens=plan_tokens,
            temperature=temperature,
            seed_base=seed_base,
        )
        base = base_url.strip().rstrip("/")
        self.base_url = base[: -len("/v1")] if base.endswith("/v1") else base
        self.model = model.strip()
        self._timeout = timeout
        self._client = client
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def capability(self) -> Capability:
        parts = urlsplit(self.base_url)
        where = f"{parts.scheme}://{parts.hostname or ''}" + (
            f":{parts.port}" if parts.port else ""
        )
        note = f"OpenAI-compatible chat server at {where}"
        if not self.model:
            note += "; model: the server's first listed model"
        return Capability("text", "local", self.model or "server default", True, note)

    async def list_models(self) -> list[str]:
        """The ids the server lists under ``GET /v1/models``."""
        body = await self._request("GET", "/v1/models", None)
        entries = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(entries, list):
            raise UpstreamError("the text server's model list is not in the OpenAI shape")
        return [str(e["id"]) for e in entries if isinstance(e, Mapping) and e.get("id")]

    async def _model_name(self) -> str:
        if not self.model:
            models = await self.list_models()
            if not models:
                raise UpstreamError("the text server lists no models")
            self.model = models[0]
        return self.model

    async def _complete(
        self,
        messages: Messages,
        *,
        max_tokens: int,
        temperature: float,
        seed: int,
        schema: Mapping[str, Any] | None,
    ) -> Completion:
        payload: dict[str, Any] = {
            "model": await self._model_name(),
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "seed": seed,
            "stream": False,
        }
        if schema is not None:
            payload["response_format"] = {"type": "json_object"}
        body = await self._request("POST", "/v1/chat/completions", payload)
        try:
            choice = body["choices"][0]
            text = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise UpstreamError("the text server's reply has no message") from None
        if not isinstance(text, str):
            raise UpstreamError("the text server's reply has no text")
        usage = body.get("usage") if isinstance(body.get("usage"), Mapping) else {}
        tokens = usage.get("completion_tokens")
        # Servers that count nothing get a rough figure: about four characters a token.
        count = int(tokens) if isinstance(tokens, int) else max(1, len(text) // 4)
        return Completion(
            text=text, tokens=count, truncated=choice.get("finish_reason") == "length"
        )

    async def _request(self, method: str, path: str, payload: Any) -> Any:
        url = self.base_url + path
        try:
            if self._client is not None:
                response = await self._send(self._client, method, url, payload)
            else:
                async with httpx.AsyncClient(timeout=self._timeout) as client:
                    response = await self._send(client, method, url, payload)
        except httpx.TimeoutException:
            raise UpstreamError(
                f"the text server did not answer within {self._timeout:g} s", path=path
            ) from None
        except httpx.HTTPError as exc:
            raise UpstreamError(
                f"the text server could not be reached ({type(exc).__name__})", path=path
            ) from None
        if response.status_code >= 400:
            raise UpstreamError(
                f"the text server answered {response.status_code}",
                path=path,
                status=response.status_code,
            )
        try:
            return response.json()
        except ValueError:
            raise UpstreamError("the text server's reply is not JSON", path=path) from None

    async def _send(
        self, client: httpx.AsyncClient, method: str, url: str, payload: Any
    ) -> httpx.Response:
        return await client.request(
            method, url, json=payload, headers=self._headers, timeout=self._timeout
        )
