"""JSON logs that carry the request id, with API keys scrubbed as a last line of defence.

Code never logs raw keys on purpose; the redaction filter exists so that a key pasted into a
URL or an error message by a client still never reaches a log line.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

REQUEST_ID: ContextVar[str] = ContextVar("storygate_request_id", default="")

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
