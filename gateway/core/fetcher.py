"""Fetch a client-supplied URL without letting the client reach our own network.

Every hop is resolved once, each address vetted, and the connection made to that vetted
address, so neither a redirect nor a second DNS answer can lead the gateway somewhere private.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import ssl
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from gateway.core.errors import InvalidInput

if TYPE_CHECKING:
    from gateway.settings import Settings

Resolver = Callable[[str, int], Awaitable[list[str]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Hosts like ``2130706433`` or ``0x7f.1`` that libc would read as an IPv4 address.
_NUMERIC_HOST = re.compile(r"[0-9a-fA-FxX.]+")
_NOUNS = {"image": "an image", "video": "a video", "audio": "an audio file"}


class FetchRefused(InvalidInput):
    """The URL is unsafe or its content unusable; the message is safe to show the client."""


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str
    content_type: str
    data: bytes


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """IPv6 forms that carry an IPv4 address are judged by the address they lead to."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_routable(ip: IPAddress) -> bool:
    """True only for globally routable unicast; every flag is checked because ``is_global``
    alone has changed between Python versions and lets multicast through."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            return is_routable(inner)
        if ip.teredo is not None or ip.is_site_local:
            return False
    elif ip in _CGNAT:
        return False
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _size(n: int) -> str:
    mb = 1024 * 1024
    return f"{n / mb:g} MB" if n >= mb else f"{n} bytes"


def _acceptable(media: str, accept: Collection[str]) -> bool:
    wanted = {a.lower() for a in accept}
    return media in wanted or f"{media.split('/', 1)[0]}/*" in wanted


def _wrong_type(what: str, media: str, accept: Collection[str]) -> str:
    majors = {a.split("/", 1)[0].lower() for a in accept}
    noun = _NOUNS.get(majors.pop()) if len(majors) == 1 else None
    if noun:
        return f"{what} is not {noun} ({media or 'no content type'})"
    return f"{what} has an unsupported type ({media or 'none'}); expected {', '.join(accept)}"


class _Borrowed(httpx.AsyncBaseTransport):
    """Lets a per-fetch client use an injected transport without closing it on exit."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """The injected transport belongs to whoever injected it."""


class Fetcher:
    def __init__(
        self,
        *,
        max_bytes: int,
        timeout: float,
        allowed_networks: Sequence[str] = (),
        resolver: Resolver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_redirects: int = 5,
    ) -> None:
        self._max_bytes = max_bytes
        self._timeout = timeout
        self._allowed = tuple(ipaddress.ip_network(c, strict=False) for c in allowed_networks)
        self._resolve = resolver or system_resolver
        self._transport = transport
        self._max_redirects = max_redirects
        self._ssl: ssl.SSLContext | None = None

    async def check(self, url: str, *, what: str = "url") -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._vet(self._parse(url, what), what)
        except TimeoutError:
            raise FetchRefused(f"{what} could not be fetched (timed out)") from None

    async def fetch(self, url: str, *, accept: Collection[str], what: str = "url") -> Fetched:
        current = self._parse(url, what)
        try:
            async with asyncio.timeout(self._timeout), self._client() as client:
                for _ in range(self._max_redirects + 1):
                    nxt = await self._hop(client, current, accept, what)
                    if isinstance(nxt, Fetched):
                        return nxt
                    current = nxt
        except (TimeoutError, httpx.TimeoutException):
            raise FetchRefused(f"{what} could not be fetched (timed out)") from None
        except httpx.HTTPError:
            raise FetchRefused(f"{what} could not be fetched (connection failed)") from None
        raise FetchRefused(f"{what} could not be fetched (too many redirects)")

    def _client(self) -> httpx.AsyncClient:
        """A client per fetch with keep-alive off: a TLS connection verified for one host name
        must never be reused for another name that happens to share its address."""
        if self._transport is not None:
            transport: httpx.AsyncBaseTransport = _Borrowed(self._transport)
        else:
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()
            transport = httpx.AsyncHTTPTransport(
                verify=self._ssl,
                trust_env=False,
                limits=httpx.Limits(max_keepalive_connections=0),
            )
        return httpx.AsyncClient(
            transport=transport, follow_redirects=False, trust_env=False, timeout=self._timeout
        )

    def _parse(self, url: str | httpx.URL, what: str) -> httpx.URL:
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            raise FetchRefused(f"{what} must be an http or https URL") from None
        if parsed.scheme not in ("http", "https") or not parsed.raw_host:
            raise FetchRefused(f"{what} must be an http or https URL")
        if parsed.userinfo:
            raise FetchRefused(f"{what} must not contain a user name or password")
        return parsed

    def _permitted(self, ip: IPAddress) -> bool:
        candidates = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and (inner := _embedded_v4(ip)) is not None:
            candidates.append(inner)
        if any(c in net for c in candidates for net in self._allowed):
            return True
        return is_routable(ip)

    async def _vet(self, url: httpx.URL, what: str) -> IPAddress:
        """Resolve once and refuse if any answer is private: the one we connect to must be
        the one we judged, and a mixed answer is a common rebinding trick."""
        host = url.raw_host.decode("ascii")
        literal = _literal_ip(host)
        if literal is not None:
            addresses: list[IPAddress] = [literal]
        else:
            port = url.port or (443 if url.scheme == "https" else 80)
            try:
                answers = await self._resolve(host, port)
                addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in answers]
            except (OSError, UnicodeError, ValueError):
                raise FetchRefused(f"{what} host could not be resolved") from None
            if not addresses:
                raise FetchRefused(f"{what} host could not be resolved")
        if not all(self._permitted(ip) for ip in addresses):
            raise FetchRefused(f"{what} points to a private or local address")
        return addresses[0]

    async def _hop(
        self, client: httpx.AsyncClient, url: httpx.URL, accept: Collection[str], what: str
    ) -> Fetched | httpx.URL:
        ip = await self._vet(url, what)
        host = url.raw_host.decode("ascii")
        request = client.build_request(
            "GET",
            url.copy_with(host=str(ip)),
            headers={
                "Host": url.netloc.decode("ascii"),
                "Accept": ", ".join(accept) or "*/*",
                "Accept-Encoding": "identity",
                "User-Agent": "storygate-fetcher",
            },
            extensions={"sni_hostname": host} if url.scheme == "https" else {},
        )
        response = await client.send(request, stream=True)
        try:
            location = response.headers.get("location")
            if response.status_code in _REDIRECTS and location:
                try:
                    return self._parse(url.join(location), what)
                except httpx.InvalidURL:
                    raise FetchRefused(f"{what} must be an http or https URL") from None
            if not 200 <= response.status_code < 300:
                raise FetchRefused(f"{what} could not be fetched (HTTP {response.status_code})")
            media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if not _acceptable(media, accept):
                raise FetchRefused(_wrong_type(what, media, accept))
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self._max_bytes:
                raise FetchRefused(f"{what} is larger than {_size(self._max_bytes)}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > self._max_bytes:
                    raise FetchRefused(f"{what} is larger than {_size(self._max_bytes)}")
            return Fetched(url=str(url), content_type=media, data=bytes(body))
        finally:
            await response.aclose()


def fetcher_from(settings: Settings) -> Fetcher:
    return Fetcher(
        max_bytes=settings.fetch_max_bytes,
        timeout=settings.fetch_timeout_seconds,
        allowed_networks=settings.fetch_allowed_networks,
    )
