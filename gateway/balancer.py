"""A round-robin TCP proxy over the local gateways, so a cluster on one machine has one URL.

For trying things locally (``storygate cluster --balancer PORT``), not for production: it knows
a gateway is down only when a connection to it is refused or times out, it has no TLS, no
connection limits and no access log, and every byte passes through the launcher's one Python
process. In production put nginx or haproxy in front (``deploy/nginx.conf``).

It works on connections, not requests: a client's keep-alive connection stays with the gateway
it was given, and an SSE stream is piped like any other byte stream, unbuffered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

CONNECT_SECONDS = 2.0
CHUNK = 64 * 1024
NO_GATEWAY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 20\r\n"
    b"connection: close\r\n\r\nno gateway is up yet"
)

Target = tuple[str, int]


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    """Copy until EOF, then pass the EOF on (a half-close); on an error, close ``dst`` so the
    other direction ends too."""
    try:
        while data := await src.read(CHUNK):
            dst.write(data)
            await dst.drain()
        if dst.can_write_eof():
            dst.write_eof()
    except (OSError, RuntimeError):
        dst.close()


class Balancer:
    """Spreads connections over ``targets()`` (read per connection, so a stopped gateway
    drops out at once), skipping one that refuses."""

    def __init__(self, targets: Callable[[], list[Target]]) -> None:
        self._targets = targets
        self._turn = 0
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._serve, host, port, backlog=2048)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """A connection to the next target that takes one, or None when none does."""
        targets = self._targets()
        for _ in range(len(targets)):
            host, port = targets[self._turn % len(targets)]
            self._turn += 1
            with contextlib.suppress(OSError, TimeoutError):
                return await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_SECONDS)
        return None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = await self.connect()
        if upstream is None:
            with contextlib.suppress(OSError, RuntimeError):
                writer.write(NO_GATEWAY)
                await writer.drain()
            writer.close()
            return
        up_reader, up_writer = upstream
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            for w in (up_writer, writer):
                w.close()
                with contextlib.suppress(OSError, RuntimeError):
                    await w.wait_closed()
