"""Hosted providers: fal.ai for pictures and video, ElevenLabs for speech, sound and music.

This package level holds only what every provider wrapper shares, and imports no provider SDK:
the SDKs (``fal_client``, ``elevenlabs``) are imported inside the wrappers, on first use, so a
gateway without the ``hosted`` extra still starts and can say what it is missing.

Two rules hold for every call made through :func:`provider_call`: a provider's failure or
silence becomes :class:`~gateway.core.errors.UpstreamError` (so the job fails cleanly and its
reservation is released), and a provider key never reaches a log line or an error message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from gateway.core.errors import UpstreamError

__all__ = ["MISSING_EXTRA", "provider_call", "redact"]

log = logging.getLogger("storygate.backends.hosted")

MISSING_EXTRA = "needs the 'hosted' extra: pip install 'storygate[hosted]'"
_REDACTED = "[redacted]"
# Short secrets would turn ordinary words into "[redacted]" while protecting nothing.
_MIN_SECRET = 6
_DETAIL_CHARS = 300


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each secret (longest first) replaced."""
    for secret in sorted((s for s in secrets if len(s) >= _MIN_SECRET), key=len, reverse=True):
        text = text.replace(secret, _REDACTED)
    return text


@asynccontextmanager
async def provider_call(
    provider: str, what: str, *, seconds: float, secrets: Iterable[str] = (), grace: float = 0.0
) -> AsyncIterator[None]:
    """Bound one provider round trip in time and turn its failures into ``UpstreamError``.

    The client-facing message names the provider and the kind of failure only: an SDK's own
    text can carry request URLs, headers or account details. The operator gets the detail in
    the log, with every secret removed. The original exception is not chained (``from None``)
    so no traceback printer can reach its text either.

    ``grace`` lets an SDK that enforces ``seconds`` itself (and then cancels the remote work)
    fire first; the local deadline is only the backstop.
    """
    hidden = tuple(secrets)
    try:
        async with asyncio.timeout(seconds + grace):
            yield
    except UpstreamError:
        raise
    except TimeoutError:
        log.warning("%s %s timed out after %g s", provider, what, seconds)
        raise UpstreamError(
            f"the {what} provider ({provider}) did not answer within {seconds:g} seconds",
            provider=provider,
        ) from None
    except Exception as exc:
        detail = redact(f"{type(exc).__name__}: {exc}", hidden)[:_DETAIL_CHARS]
        log.warning("%s %s failed: %s", provider, what, detail)
        raise UpstreamError(
            f"the {what} provider ({provider}) failed ({type(exc).__name__})",
            provider=provider,
        ) from None
