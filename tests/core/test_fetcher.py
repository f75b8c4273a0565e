"""The URL fetcher: what it refuses before connecting, and what it does against a real
loopback HTTP server (redirects, limits, content types, connecting to the vetted address)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest

from gateway.core.errors import InvalidInput
from gateway.core.fetcher import Fetched, Fetcher, FetchRefused, fetcher_from
from gateway.settings import load_settings

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
IMAGES = ("image/png", "image/jpeg", "image/webp")
LOOPBACK = ("127.0.0.0/8",)
PUBLIC = "93.184.216.34"


def stub_resolver(table: dict[str, list[str]], calls: list[str] | None = None):
    async def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise OSError(f"no such host {host}")
        return table[host]

    return resolve


async def never_resolve(host: str, port: int) -> list[str]:
    raise AssertionError(f"literal host {host} must not be resolved")


def no_network() -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"must not connect to {request.url}")

    return httpx.MockTransport(handler)


def refusing_fetcher(table: dict[str, list[str]] | None = None, **kw) -> Fetcher:
    return Fetcher(
        max_bytes=10_000,
        timeout=5,
        resolver=stub_resolver(table or {}),
        transport=no_network(),
        **kw,
    )


@dataclass
class Server:
    port: int
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self.seen]


def _head(status: str, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items()), "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _respond(path: str, writer: asyncio.StreamWriter) -> None:
    """One route per behaviour under test; every response closes its connection."""
    if path == "/a.png":
        writer.write(
            _head("200 OK", {"Content-Type": "image/png", "Content-Length": str(len(PNG))})
        )
        writer.write(PNG)
    elif path == "/params.png":
        ctype = "Image/PNG; charset=binary"
        writer.write(_head("200 OK", {"Content-Type": ctype, "Content-Length": str(len(PNG))}))
        writer.write(PNG)
    elif path == "/redirect":
        writer.write(_head("302 Found", {"Location": "/a.png", "Content-Length": "0"}))
    elif path.startswith("/chain/"):
        n = int(path.rsplit("/", 1)[1])
        target = f"/chain/{n - 1}" if n > 0 else "/a.png"
        writer.write(_head("301 Moved Permanently", {"Location": target, "Content-Length": "0"}))
    elif path == "/to-private":
        writer.write(_head("302 Found", {"Location": "http://10.0.0.1/x", "Content-Length": "0"}))
    elif path == "/to-name":
        location = "http://intranet.test/x"
        writer.write(_head("307 Temporary Redirect", {"Location": location, "Content-Length": "0"}))
    elif path == "/big":
        body = b"\0" * 20_000
        writer.write(_head("200 OK", {"Content-Type": "image/png", "Content-Length": "20000"}))
        writer.write(body)
    elif path == "/huge":
        # Declares 30 MB but sends a few bytes: only the declared length can refuse it.
        writer.write(_head("200 OK", {"Content-Type": "image/png", "Content-Length": "31457280"}))
        writer.write(PNG)
    elif path == "/endless":
        # No Content-Length and no end: only a streaming limit can stop this.
        headers = {"Content-Type": "image/png", "Transfer-Encoding": "chunked"}
        writer.write(_head("200 OK", headers))
        chunk = b"\0" * 1024
        while True:
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            await writer.drain()
    elif path == "/page.html":
        body = b"<html><body>hi</body></html>"
        headers = {"Content-Type": "text/html; charset=utf-8", "Content-Length": str(len(body))}
        writer.write(_head("200 OK", headers))
        writer.write(body)
    elif path == "/slow":
        await asyncio.sleep(30)
    else:
        writer.write(_head("404 Not Found", {"Content-Type": "text/plain", "Content-Length": "0"}))
    await writer.drain()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server(port=0)
    tasks: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            path = request_line.split(" ")[1]
            headers = {}
            for line in header_lines:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            srv.seen.append((path, headers))
            await _respond(path, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    srv.port = listener.sockets[0].getsockname()[1]
    try:
        yield srv
    finally:
        listener.close()
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
        await listener.wait_closed()


def loopback_fetcher(**kw) -> Fetcher:
    options = {"max_bytes": 10_000, "timeout": 5.0, "allowed_networks": LOOPBACK}
    options.update(kw)
    return Fetcher(**options)


# --- refused before any connection -------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/a.png", "file:///etc/passwd", "gopher://example.com/", "not a url", ""],
)
async def test_refuses_schemes_other_than_http(url: str) -> None:
    fetcher = refusing_fetcher({"example.com": [PUBLIC]})
    with pytest.raises(FetchRefused, match=r"^imageUrl must be an http or https URL$"):
        await fetcher.fetch(url, accept=IMAGES, what="imageUrl")
    with pytest.raises(FetchRefused):
        await fetcher.check(url)


async def test_refuses_userinfo_without_echoing_it() -> None:
    fetcher = refusing_fetcher({"example.com": [PUBLIC]})
    with pytest.raises(FetchRefused) as caught:
        await fetcher.fetch("https://admin:hunter2@example.com/a.png", accept=IMAGES)
    assert "hunter2" not in str(caught.value)
    assert caught.value.message == "url must not contain a user name or password"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.1.2.3:8080/a.png",
        "http://10.1.2.3/",
        "http://192.168.0.10/",
        "http://172.16.5.4/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://[fd12:3456::1]/",
        "http://[ff02::1]/",
        "http://[::]/",
        "http://[2002:7f00:1::1]/",
        "http://[64:ff9b::a00:1]/",
        "http://2130706433/",
        "http://0x7f.1/",
    ],
)
async def test_refuses_non_public_literal_hosts(url: str) -> None:
    fetcher = Fetcher(max_bytes=100, timeout=5, resolver=never_resolve, transport=no_network())
    with pytest.raises(FetchRefused, match=r"^imageUrl points to a private or local address$"):
        await fetcher.fetch(url, accept=IMAGES, what="imageUrl")
    with pytest.raises(FetchRefused, match="private or local"):
        await fetcher.check(url, what="imageUrl")


async def test_octal_dotted_host_is_refused() -> None:
    # httpx itself rejects leading zeros in a dotted quad, so this never reaches libc.
    fetcher = Fetcher(max_bytes=100, timeout=5, resolver=never_resolve, transport=no_network())
    with pytest.raises(FetchRefused, match=r"^url must be an http or https URL$"):
        await fetcher.fetch("http://0177.0.0.1/", accept=IMAGES)


@pytest.mark.parametrize(
    "answers",
    [
        ["127.0.0.1"],
        ["10.0.0.7"],
        ["192.168.1.1"],
        ["169.254.169.254"],
        ["::1"],
        ["::ffff:127.0.0.1"],
        ["fe80::1%eth0"],
        [PUBLIC, "10.0.0.1"],
        ["2606:4700:4700::1111", "fd00::1"],
    ],
)
async def test_refuses_names_resolving_to_any_private_address(answers: list[str]) -> None:
    fetcher = refusing_fetcher({"sneaky.test": answers, "localhost": ["127.0.0.1", "::1"]})
    with pytest.raises(FetchRefused, match="private or local"):
        await fetcher.fetch("https://sneaky.test/a.png", accept=IMAGES)
    with pytest.raises(FetchRefused, match="private or local"):
        await fetcher.check("http://localhost/a.png")


@pytest.mark.parametrize(
    "answers",
    [[PUBLIC], ["2606:4700:4700::1111"], ["::ffff:93.184.216.34"], ["2002:5db8:d822::1"]],
)
async def test_check_accepts_public_addresses(answers: list[str]) -> None:
    await refusing_fetcher({"pictures.test": answers}).check("https://pictures.test/a.png")


async def test_unresolvable_host_is_refused() -> None:
    fetcher = refusing_fetcher({"empty.test": []})
    for host in ("missing.test", "empty.test"):
        with pytest.raises(FetchRefused, match=r"^imageUrl host could not be resolved$"):
            await fetcher.check(f"http://{host}/", what="imageUrl")


async def test_allowed_networks_exempt_only_their_addresses() -> None:
    fetcher = refusing_fetcher(
        {"intranet.test": ["10.1.2.3"], "other.test": ["192.168.0.1"]},
        allowed_networks=("10.0.0.0/8",),
    )
    await fetcher.check("http://intranet.test/")
    await fetcher.check("http://[::ffff:10.9.9.9]/")
    with pytest.raises(FetchRefused, match="private or local"):
        await fetcher.check("http://other.test/")


def test_refusal_is_invalid_input() -> None:
    assert issubclass(FetchRefused, InvalidInput)
    assert FetchRefused("x").code == "invalid_input"


def test_fetcher_from_settings() -> None:
    settings = load_settings(
        {},
        fetch_max_bytes=123,
        fetch_timeout_seconds=4.5,
        fetch_allowed_networks=("10.0.0.0/8",),
    )
    fetcher = fetcher_from(settings)
    assert fetcher._max_bytes == 123
    assert fetcher._timeout == 4.5
    assert [str(n) for n in fetcher._allowed] == ["10.0.0.0/8"]


# --- connecting to the vetted address ----------------------------------------------------


async def test_connects_to_the_vetted_ip_with_the_original_host_and_sni() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, headers={"Content-Type": "image/webp"}, content=b"RIFF")

    fetcher = Fetcher(
        max_bytes=100,
        timeout=5,
        resolver=stub_resolver({"pictures.test": [PUBLIC]}),
        transport=httpx.MockTransport(handler),
    )
    got = await fetcher.fetch("https://pictures.test/a.webp?x=1", accept=IMAGES)
    assert got == Fetched(
        url="https://pictures.test/a.webp?x=1", content_type="image/webp", data=b"RIFF"
    )
    [request] = sent
    assert request.url.host == PUBLIC
    assert request.url.raw_path == b"/a.webp?x=1"
    assert request.headers["host"] == "pictures.test"
    assert request.extensions["sni_hostname"] == "pictures.test"


async def test_loopback_server_sees_the_original_host_header(server: Server) -> None:
    calls: list[str] = []
    fetcher = loopback_fetcher(resolver=stub_resolver({"pictures.test": ["127.0.0.1"]}, calls))
    got = await fetcher.fetch(server.url("/a.png", host="pictures.test"), accept=IMAGES)
    assert got.data == PNG
    assert got.url == f"http://pictures.test:{server.port}/a.png"
    assert server.seen == [("/a.png", server.seen[0][1])]
    assert server.seen[0][1]["host"] == f"pictures.test:{server.port}"
    assert calls == ["pictures.test"]


# --- against a real loopback server ------------------------------------------------------


async def test_fetches_png_only_when_loopback_is_allowed(server: Server) -> None:
    got = await loopback_fetcher().fetch(server.url("/a.png"), accept=IMAGES)
    assert got == Fetched(url=server.url("/a.png"), content_type="image/png", data=PNG)

    strict = Fetcher(max_bytes=10_000, timeout=5)
    with pytest.raises(FetchRefused, match="private or local"):
        await strict.fetch(server.url("/a.png"), accept=IMAGES)
    assert server.paths == ["/a.png"]


async def test_content_type_parameters_and_case_are_ignored(server: Server) -> None:
    got = await loopback_fetcher().fetch(server.url("/params.png"), accept=("image/png",))
    assert got.content_type == "image/png"
    got = await loopback_fetcher().fetch(server.url("/params.png"), accept=("image/*",))
    assert got.data == PNG


async def test_follows_a_redirect_to_the_final_url(server: Server) -> None:
    got = await loopback_fetcher().fetch(server.url("/redirect"), accept=IMAGES)
    assert got.url == server.url("/a.png")
    assert got.data == PNG
    assert server.paths == ["/redirect", "/a.png"]


async def test_redirect_limit(server: Server) -> None:
    got = await loopback_fetcher(max_redirects=5).fetch(server.url("/chain/4"), accept=IMAGES)
    assert got.data == PNG
    with pytest.raises(FetchRefused, match="too many redirects"):
        await loopback_fetcher(max_redirects=5).fetch(server.url("/chain/5"), accept=IMAGES)
    with pytest.raises(FetchRefused, match="too many redirects"):
        await loopback_fetcher(max_redirects=0).fetch(server.url("/redirect"), accept=IMAGES)


class Recording(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.hosts: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.hosts.append(request.url.host)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.parametrize("path", ["/to-private", "/to-name"])
async def test_redirect_to_a_private_address_is_refused_without_connecting(
    server: Server, path: str
) -> None:
    transport = Recording()
    fetcher = loopback_fetcher(
        transport=transport, resolver=stub_resolver({"intranet.test": ["10.0.0.1"]})
    )
    try:
        with pytest.raises(FetchRefused, match=r"^url points to a private or local address$"):
            await fetcher.fetch(server.url(path), accept=IMAGES)
    finally:
        await transport.aclose()
    assert transport.hosts == ["127.0.0.1"]
    assert server.paths == [path]


async def test_declared_length_over_the_limit_is_refused_before_reading(server: Server) -> None:
    fetcher = loopback_fetcher(max_bytes=20 * 1024 * 1024)
    with pytest.raises(FetchRefused, match=r"^imageUrl is larger than 20 MB$"):
        await fetcher.fetch(server.url("/huge"), accept=IMAGES, what="imageUrl")


@pytest.mark.parametrize("path", ["/big", "/endless"])
async def test_oversized_bodies_are_refused(server: Server, path: str) -> None:
    fetcher = loopback_fetcher(max_bytes=5000, timeout=3.0)
    with pytest.raises(FetchRefused, match=r"^imageUrl is larger than 5000 bytes$"):
        await fetcher.fetch(server.url(path), accept=IMAGES, what="imageUrl")


async def test_wrong_content_type_is_refused(server: Server) -> None:
    with pytest.raises(FetchRefused, match=r"^imageUrl is not an image \(text/html\)$"):
        await loopback_fetcher().fetch(server.url("/page.html"), accept=IMAGES, what="imageUrl")
    with pytest.raises(FetchRefused, match=r"unsupported type \(text/html\); expected"):
        await loopback_fetcher().fetch(server.url("/page.html"), accept=("application/pdf",))


async def test_error_status_is_refused(server: Server) -> None:
    with pytest.raises(FetchRefused, match=r"^imageUrl could not be fetched \(HTTP 404\)$"):
        await loopback_fetcher().fetch(server.url("/missing"), accept=IMAGES, what="imageUrl")


async def test_whole_fetch_is_bounded_in_time(server: Server) -> None:
    fetcher = loopback_fetcher(timeout=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(FetchRefused, match=r"^url could not be fetched \(timed out\)$"):
        await fetcher.fetch(server.url("/slow"), accept=IMAGES)
    assert loop.time() - started < 2


async def test_connection_failure_is_refused() -> None:
    # Nobody listens on port 1 of loopback.
    with pytest.raises(FetchRefused, match=r"could not be fetched \(connection failed\)"):
        await loopback_fetcher().fetch("http://127.0.0.1:1/a.png", accept=IMAGES)
