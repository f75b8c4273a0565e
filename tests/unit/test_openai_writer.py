"""The OpenAI-compatible text backend against fake servers: canned chat answers through
httpx.MockTransport, and a raw asyncio HTTP server on 127.0.0.1 for real sockets (model list,
slow answers that must time out, a closed port)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from gateway.core.errors import UpstreamError
from workers.backends.base import StoryRequest, StoryWriter
from workers.backends.instant.story import build_plan
from workers.backends.instant.writer import InstantWriter
from workers.backends.local import OpenAIWriter

REQUEST = StoryRequest(
    prompt="A curious raccoon named Milo who learns to share",
    format="picture",
    units=4,
    art_style="cartoon",
    seed=7,
)
PROSE = (
    "Sure! Here is the page:\n\nPage 2: Milo looked at the big basket. He wanted every berry. "
    'Ivy came by with a sad face. "Can I have one?" she asked. Then Milo'
)
# A page about people the story does not have: every sentence names a stranger.
ADRIFT = "Hazel and Bob went to the city. Bob bought a red car. Hazel drove it home."


def reply(content: str, tokens: int = 12, finish: str = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish,
            }
        ],
        "usage": {"prompt_tokens": 50, "completion_tokens": tokens, "total_tokens": 50 + tokens},
    }


class FakeServer:
    """Answers like an OpenAI-compatible server; remembers what it was sent."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.prose = [PROSE]
        self.models = ["llama3.2:1b", "qwen2.5:0.5b"]

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(body)
        ask = body["messages"][-1]["content"]
        if body.get("response_format"):
            if "speech bubbles" in ask:
                lines = [{"speaker": "Milo", "line": "Look, berries!"}] * 2
                lines.append({"speaker": "Ivy", "line": "Can I have some?"})
                lines.append({"speaker": "Ivy", "line": "Where is Hazel today?"})
                return reply(json.dumps({"lines": lines}), 40)
            return reply(json.dumps({"pages": [2]}), 8)
        if "Rewrite" in ask:
            return reply("Milo laughed and gave Ivy the biggest berry. They ate together.", 20)
        return reply(self.prose.pop(0) if len(self.prose) > 1 else self.prose[0], 60, "length")

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"object": "list", "data": self.ids()})
        assert request.url.path == "/v1/chat/completions"
        return httpx.Response(200, json=self.answer(json.loads(request.content)))

    def ids(self) -> list[dict[str, str]]:
        return [{"id": m, "object": "model"} for m in self.models]


@pytest.fixture
def fake() -> FakeServer:
    return FakeServer()


@pytest.fixture
async def client(fake: FakeServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake.handler)) as c:
        yield c


def writer_for(client: httpx.AsyncClient, model: str = "llama3.2:1b") -> OpenAIWriter:
    return OpenAIWriter("http://ollama.test:11434/v1/", model, timeout=5, client=client)


async def test_plan_comes_from_the_prompt_without_a_model_call(
    fake: FakeServer, client: httpx.AsyncClient
) -> None:
    writer = writer_for(client)
    assert isinstance(writer, StoryWriter)
    plan = await writer.plan(REQUEST)
    assert plan == build_plan(REQUEST)  # the premise's plan, the same on every backend
    assert plan.characters[0].name == "Milo" and plan.characters[0].species == "raccoon"
    assert len(plan.outline) == REQUEST.units
    assert fake.requests == [] and writer.completions == 0


async def test_a_page_off_the_bible_is_asked_again_then_falls_back(
    fake: FakeServer, client: httpx.AsyncClient
) -> None:
    writer = writer_for(client)
    plan = await writer.plan(REQUEST)
    fake.prose = [ADRIFT, PROSE]
    text = await writer.write(REQUEST, plan, 1, ["Milo found a basket of berries."])
    assert len(fake.requests) == 2
    assert "not usable" in fake.requests[1]["messages"][-1]["content"]
    assert "Milo" in fake.requests[1]["messages"][-1]["content"]  # the bible is named
    assert text.startswith("Milo looked at the big basket.")
    fake.prose = [ADRIFT]
    fake.requests.clear()
    fallback = await writer.write(REQUEST, plan, 2, ["Milo found a basket of berries."])
    assert len(fake.requests) == 2  # asked once more, then the beat's own page
    assert fallback == await InstantWriter().write(REQUEST, plan, 2, [])
    assert "Hazel" not in fallback and "Bob" not in fallback


async def test_write_strips_chat_and_cuts_at_a_full_sentence(client: httpx.AsyncClient) -> None:
    writer = writer_for(client)
    plan = await writer.plan(REQUEST)
    text = await writer.write(REQUEST, plan, 1, ["Milo found a basket of berries."])
    assert text.startswith("Milo looked at the big basket.")
    assert text.endswith('"Can I have one?" she asked.')
    assert "Sure" not in text and "Page 2" not in text
    with pytest.raises(IndexError):
        await writer.write(REQUEST, plan, 4, [])


async def test_dialogue_has_the_requested_count(client: httpx.AsyncClient) -> None:
    writer = writer_for(client)
    plan = await writer.plan(REQUEST)
    lines = await writer.dialogue(REQUEST, plan, 0, 4)
    assert len(lines) == 4
    assert "Hazel" not in lines[3]  # a bubble naming a stranger is replaced
    assert lines[0] == "Milo: Look, berries!"
    assert lines[1] != lines[0]  # a repeated bubble is replaced
    assert lines[2] == "Ivy: Can I have some?"
    assert await writer.dialogue(REQUEST, plan, 0, 0) == []
    five = await writer.dialogue(REQUEST, plan, 1, 5)
    assert len(five) == 5 and all(": " in line for line in five)


async def test_edit_rewrites_only_the_named_page(
    fake: FakeServer, client: httpx.AsyncClient
) -> None:
    writer = writer_for(client)
    plan = await writer.plan(REQUEST)
    pages = ["Milo found berries.", "Milo kept them.", "Hazel was sad.", "They had a picnic."]
    message, changes = await writer.edit(REQUEST, plan, pages, "Make page 3 funnier")
    assert list(changes) == [2]
    assert changes[2].startswith("Milo laughed")
    assert "page 3" in message
    renamed_msg, renamed = await writer.edit(REQUEST, plan, pages, "Rename Milo to Rocky")
    assert renamed == {0: "Rocky found berries.", 1: "Rocky kept them."}
    assert "Rocky" in renamed_msg
    # No rule applies: the server's targeting answer ({"pages": [2]}) decides.
    before = len(fake.requests)
    _msg, picked = await writer.edit(REQUEST, plan, pages, "Add a butterfly somewhere")
    assert list(picked) == [1]
    assert fake.requests[before]["response_format"] == {"type": "json_object"}


async def test_list_models_and_default_model(fake: FakeServer, client: httpx.AsyncClient) -> None:
    writer = writer_for(client, model="")
    assert await writer.list_models() == ["llama3.2:1b", "qwen2.5:0.5b"]
    cap = writer.capability()
    assert cap.kind == "text" and cap.available and cap.model == "server default"
    await writer.write(REQUEST, build_plan(REQUEST), 0, [])
    assert fake.requests[0]["model"] == "llama3.2:1b"
    assert writer.capability().model == "llama3.2:1b"
    assert "ollama.test:11434" in cap.note


@pytest.mark.parametrize(
    ("respond", "needle"),
    [
        (lambda r: httpx.Response(500, json={"error": "boom"}), "500"),
        (lambda r: httpx.Response(404, text="no such model"), "404"),
        (lambda r: httpx.Response(200, text="<html>"), "not JSON"),
        (lambda r: httpx.Response(200, json={"choices": []}), "no message"),
    ],
)
async def test_http_errors_become_upstream_errors(
    respond: Callable[[httpx.Request], httpx.Response], needle: str
) -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(respond)) as c:
        writer = writer_for(c)
        with pytest.raises(UpstreamError) as err:
            await writer.write(REQUEST, build_plan(REQUEST), 0, [])
    assert needle in err.value.message


async def test_transport_timeout_becomes_upstream_error() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(timeout)) as c:
        with pytest.raises(UpstreamError, match="did not answer"):
            await writer_for(c).write(REQUEST, build_plan(REQUEST), 0, [])


# -- a real socket -----------------------------------------------------------------------------


async def serve(fake: FakeServer, delay: float) -> tuple[asyncio.Server, str]:
    """A minimal HTTP/1.1 server: enough of the protocol for one request per connection."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        _method, path, _ = lines[0].split(" ", 2)
        length = next(
            (int(h.split(":")[1]) for h in lines if h.lower().startswith("content-length")), 0
        )
        body = await reader.readexactly(length) if length else b""
        if path == "/v1/models":
            payload = {"object": "list", "data": fake.ids()}
        else:
            await asyncio.sleep(delay)
            payload = fake.answer(json.loads(body))
        data = json.dumps(payload).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            + f"Content-Length: {len(data)}\r\n\r\n".encode()
            + data
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


async def test_real_socket_models_chat_and_timeout(fake: FakeServer) -> None:
    server, url = await serve(fake, delay=0.0)
    async with server:
        writer = OpenAIWriter(url, "qwen2.5:0.5b", timeout=2)
        assert await writer.list_models() == ["llama3.2:1b", "qwen2.5:0.5b"]
        assert await writer.write(REQUEST, build_plan(REQUEST), 1, ["Milo woke."])
        assert fake.requests[-1]["model"] == "qwen2.5:0.5b"
    slow, slow_url = await serve(FakeServer(), delay=2.0)
    async with slow:
        writer = OpenAIWriter(slow_url, "m", timeout=0.2)
        with pytest.raises(UpstreamError, match=r"did not answer within 0\.2 s"):
            await writer.write(REQUEST, build_plan(REQUEST), 0, [])


async def test_closed_port_becomes_upstream_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    writer = OpenAIWriter(f"http://127.0.0.1:{port}", "m", timeout=2)
    with pytest.raises(UpstreamError, match="could not be reached"):
        await writer.list_models()


# -- the shared edit rules (both writers use them before asking a model) ----------------------


async def test_edit_rules_place_pages_without_a_model() -> None:
    from workers.backends.local.editing import page_list, rename_of, rule_targets

    plan = build_plan(REQUEST)  # Milo the raccoon, Ivy the owl, Rusty the deer
    pages = ["Milo woke.", "Ivy ran.", "Milo and Ivy ate.", "They slept.", "The end came."]
    assert rule_targets("Change pages 2-4 please", pages, plan) == [1, 2, 3]
    assert rule_targets("fix page 1 and page 5", pages, plan) == [0, 4]
    assert rule_targets("a happier ending", pages, plan) == [4]
    assert rule_targets("rewrite the beginning", pages, plan) == [0]
    assert rule_targets("the second page is dull", pages, plan) == [1]
    assert rule_targets("make every page rhyme", pages, plan) == [0, 1, 2, 3, 4]
    assert rule_targets("give Ivy a hat", pages, plan) == [1, 2]
    assert rule_targets("add a butterfly", pages, plan) is None
    assert rule_targets("page 9", pages, plan) is None  # no such page: nothing to hold on to
    assert rename_of("Change Milo's name to Rocky", plan) == ("Milo", "Rocky")
    assert rename_of("call the owl Ember instead", plan) == ("Ivy", "Ember")
    assert rename_of("rename the moon to Luna", plan) is None
    assert page_list([2, 0, 3]) == "pages 1, 3 and 4" and page_list([4]) == "page 5"
