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
from workers.backends.local import OpenAIWriter

REQUEST = StoryRequest(
    prompt="A curious raccoon named Milo who learns to share",
    format="picture",
    units=4,
    art_style="cartoon",
    seed=7,
)
PLAN = {
    "title": "Milo Shares the Berries",
    "characters": [
        {
            "name": "Milo",
            "species": "raccoon",
            "colors": ["grey", "black"],
            "clothing": "blue cap",
            "trait": "curious",
        },
        {
            "name": "Hazel",
            "species": "fox",
            "colors": ["red"],
            "clothing": "green scarf",
            "trait": "kind",
        },
    ],
    "setting": "the forest",
    "moral": "Sharing makes friends happy.",
    "summary": "Milo finds berries and learns to share them with Hazel.",
    "outline": [
        {"title": "Berries!", "summary": "Milo finds a basket of berries in the forest."},
        {"title": "All Mine", "summary": "Milo wants to keep every berry for himself."},
        {"title": "Hazel Is Hungry", "summary": "Hazel is hungry and Milo sees she is sad."},
        {"title": "A Picnic", "summary": "Milo shares his berries and they have a picnic."},
    ],
}
PROSE = (
    "Sure! Here is the page:\n\nPage 2: Milo looked at the big basket. He wanted every berry. "
    'Hazel came by with a sad face. "Can I have one?" she asked. Then Milo'
)


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
        self.plans = [json.dumps(PLAN)]
        self.models = ["llama3.2:1b", "qwen2.5:0.5b"]

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(body)
        ask = body["messages"][-1]["content"]
        if body.get("response_format"):
            if "Plan a" in ask:
                return reply(self.plans.pop(0) if len(self.plans) > 1 else self.plans[0], 200)
            if "speech bubbles" in ask:
                lines = [{"speaker": "Milo", "line": "Look, berries!"}] * 2
                lines.append({"speaker": "Hazel", "line": "Can I have some?"})
                return reply(json.dumps({"lines": lines}), 40)
            return reply(json.dumps({"pages": [2]}), 8)
        if "Rewrite" in ask:
            return reply("Milo laughed and gave Hazel the biggest berry. They ate together.", 20)
        return reply(PROSE, 60, "length")

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


async def test_plan_is_read_from_json_with_the_schema_in_the_prompt(
    fake: FakeServer, client: httpx.AsyncClient
) -> None:
    writer = writer_for(client)
    assert isinstance(writer, StoryWriter)
    plan = await writer.plan(REQUEST)
    assert plan.title == "Milo Shares the Berries"
    assert [c.name for c in plan.characters] == ["Milo", "Hazel"]
    assert plan.characters[1].colors == ("red",) and plan.characters[1].clothing == "green scarf"
    assert [o.summary for o in plan.outline] == [o["summary"] for o in PLAN["outline"]]
    assert plan.outline[3].characters == ("Milo",)
    assert plan.outline[2].characters == ("Hazel", "Milo")
    sent = fake.requests[0]
    assert sent["model"] == "llama3.2:1b" and sent["response_format"] == {"type": "json_object"}
    assert '"outline"' in sent["messages"][-1]["content"]  # the schema travels in the prompt
    assert isinstance(sent["seed"], int) and 0 <= sent["seed"] < 2**31
    assert len(fake.requests) == 1  # a valid first answer is not asked again
    assert writer.tokens_generated == 200 and writer.completions == 1


async def test_bad_plan_is_retried_once_then_repaired(
    fake: FakeServer, client: httpx.AsyncClient
) -> None:
    short = {**PLAN, "outline": PLAN["outline"][:2], "characters": []}
    answers = [json.dumps(short), '{"title": "Milo and the Berries", "outline": [{"title": "x"']
    fake.plans = list(answers)
    writer = writer_for(client)
    plan = await writer.plan(REQUEST)
    assert len(fake.requests) == 2
    assert "not usable" in fake.requests[1]["messages"][-1]["content"]
    assert fake.requests[1]["temperature"] < fake.requests[0]["temperature"]
    # The first answer had fewer problems, so it is the one repaired.
    assert plan.title == "Milo Shares the Berries"
    assert len(plan.outline) == REQUEST.units
    assert [o.index for o in plan.outline] == [0, 1, 2, 3]
    assert plan.outline[0].summary == PLAN["outline"][0]["summary"]
    assert plan.characters[0].name == "Milo"  # from "named Milo" in the prompt
    assert plan.characters[0].species == "raccoon"
    assert plan.characters[0].colors and plan.characters[0].clothing
    fake.plans = list(answers)
    again = await writer_for(client).plan(REQUEST)
    assert again == plan  # repair is deterministic


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
    lines = await writer.dialogue(REQUEST, plan, 0, 3)
    assert len(lines) == 3
    assert lines[0] == "Milo: Look, berries!"
    assert lines[1] != lines[0]  # a repeated bubble is replaced
    assert lines[2] == "Hazel: Can I have some?"
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
    await writer.plan(REQUEST)
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
            await writer.plan(REQUEST)
    assert needle in err.value.message


async def test_transport_timeout_becomes_upstream_error() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(timeout)) as c:
        with pytest.raises(UpstreamError, match="did not answer"):
            await writer_for(c).write(REQUEST, (await _plan()), 0, [])


async def _plan() -> Any:
    async with httpx.AsyncClient(transport=httpx.MockTransport(FakeServer().handler)) as c:
        return await writer_for(c).plan(REQUEST)


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
        plan = await writer.plan(REQUEST)
        assert len(plan.outline) == 4 and fake.requests[-1]["model"] == "qwen2.5:0.5b"
    slow, slow_url = await serve(FakeServer(), delay=2.0)
    async with slow:
        writer = OpenAIWriter(slow_url, "m", timeout=0.2)
        with pytest.raises(UpstreamError, match=r"did not answer within 0\.2 s"):
            await writer.plan(REQUEST)


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

    plan = await _plan()
    pages = ["Milo woke.", "Hazel ran.", "Milo and Hazel ate.", "They slept.", "The end came."]
    assert rule_targets("Change pages 2-4 please", pages, plan) == [1, 2, 3]
    assert rule_targets("fix page 1 and page 5", pages, plan) == [0, 4]
    assert rule_targets("a happier ending", pages, plan) == [4]
    assert rule_targets("rewrite the beginning", pages, plan) == [0]
    assert rule_targets("the second page is dull", pages, plan) == [1]
    assert rule_targets("make every page rhyme", pages, plan) == [0, 1, 2, 3, 4]
    assert rule_targets("give Hazel a hat", pages, plan) == [1, 2]
    assert rule_targets("add a butterfly", pages, plan) is None
    assert rule_targets("page 9", pages, plan) is None  # no such page: nothing to hold on to
    assert rename_of("Change Milo's name to Rocky", plan) == ("Milo", "Rocky")
    assert rename_of("call the fox Ember instead", plan) == ("Hazel", "Ember")
    assert rename_of("rename the moon to Luna", plan) is None
    assert page_list([2, 0, 3]) == "pages 1, 3 and 4" and page_list([4]) == "page 5"
