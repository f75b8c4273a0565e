"""JSON logs that carry the request id, with API keys scrubbed as a last line of defence.

Code never logs raw keys on purpose; the redaction filter exists so that a key pasted into a
URL or an error message by a client still never reaches a log line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import msgspec

REQUEST_ID: ContextVar[str] = ContextVar("storygate_request_id", default="")
_ENCODER = msgspec.json.Encoder()

# Every family's key shape: sm_…, cbk_live_…, sk_live_…, sh_<hex>_<hex>.
_KEY_PATTERN = re.compile(r"\b(sm_|cbk_live_|sk_live_|sh_[0-9a-f]{18}_)[A-Za-z0-9_\-]{8,}")


def redact(text: str) -> str:
    return _KEY_PATTERN.sub(lambda m: m.group(1) + "[redacted]", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


class JsonFormatter(logging.Formatter):
    _SKIP = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = REQUEST_ID.get()
        if rid:
            payload["request_id"] = rid
        for key, value in vars(record).items():
            if key not in self._SKIP and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(payload, default=str))


class PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        rid = REQUEST_ID.get()
        base = super().format(record)
        return redact(f"{base} [{rid}]" if rid else base)


def configure_logging(level: str = "INFO", json_lines: bool = True) -> None:
    """Install one stderr handler on the root logger (idempotent: replaces ours on re-run)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_storygate", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._storygate = True  # type: ignore[attr-defined]
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else PlainFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True


class AccessLog:
    """One line per request, without the logging machinery, in the same shape as the other
    lines (``storygate.access``, with the request id).

    A LogRecord, a formatter pass and a write per request cost about as much as answering a
    cached status poll; here a line is a small dict encoded with msgspec, and lines are written
    in batches (at most ``flush_seconds`` late, and at once past ``batch_bytes``). ``flush``
    runs at shutdown, so no line is lost on a clean stop.
    """

    def __init__(
        self,
        *,
        json_lines: bool = True,
        enabled: bool = True,
        stream: Any = None,
        flush_seconds: float = 0.2,
        batch_bytes: int = 64 * 1024,
    ) -> None:
        self.enabled = enabled
        self._json = json_lines
        self._stream = stream
        self._flush_seconds = flush_seconds
        self._batch_bytes = batch_bytes
        self._lines: list[str] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None

    def write(
        self, method: str, path: str, status: int, ms: float, family: str, request_id: str
    ) -> None:
        if not self.enabled:
            return
        now = datetime.now(UTC)
        message = f"{method} {path} {status}"
        if "_" in path:  # every key shape has one; most paths do not
            message = redact(message)
        if self._json:
            line = _ENCODER.encode(
                {
                    "ts": now.isoformat(timespec="milliseconds"),
                    "level": "info",
                    "logger": "storygate.access",
                    "msg": message,
                    "request_id": request_id,
                    "status": status,
                    "ms": ms,
                    "family": family,
                }
            ).decode()
        else:
            line = f"{now:%Y-%m-%d %H:%M:%S},{now.microsecond // 1000:03d} INFO storygate.access "
            line += f"{message} [{request_id}]"
        self._lines.append(line + "\n")
        self._size += len(line) + 1
        if self._size >= self._batch_bytes:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._timer = loop.call_later(self._flush_seconds, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._lines:
            return
        lines, self._lines, self._size = self._lines, [], 0
        stream = self._stream or sys.stderr
        try:
            stream.write("".join(lines))
            stream.flush()
        except (OSError, ValueError):
            pass  # a closed stderr must not break a request


def access_enabled(level: str) -> bool:
    return logging.getLevelName(level.upper()) in (logging.DEBUG, logging.INFO, logging.NOTSET)
