"""Generated files in an S3-compatible bucket, so that every replica serves what any one wrote.

The client is obstore (Python over the Rust `object_store` crate): one maintained dependency
with no Python dependencies of its own, a native asyncio API that never blocks the event loop
or needs a thread, the AWS default credential chain (environment, profile, instance role) when
no keys are given, and any S3-compatible endpoint (MinIO, R2, moto). It keeps one connection
pool per store and needs no closing.

Mapping onto `BlobStore`, with the local directory's semantics:
- a blob name is checked with `_clean_path`, then becomes the key `<prefix>/<name>`;
- write is one PUT (multipart above obstore's chunk size), which S3 publishes whole or not at
  all, like the local temp file + rename;
- read of an absent key raises `NotFound`, exists is a HEAD, delete of an absent key is fine;
- any other failure (endpoint down, bad credentials, missing bucket on write) is logged and
  raised as `Unavailable`, so a request gets a 503 rather than a 500; retries are bounded so a
  dead endpoint fails a request in seconds, not obstore's default three minutes.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import urlsplit

import obstore
from obstore.exceptions import BaseError, NotFoundError
from obstore.store import S3Store

from gateway.core.errors import InvalidInput, NotFound, Unavailable
from gateway.core.storage import _clean_path

if TYPE_CHECKING:
    from obstore.store import ClientConfig, RetryConfig, S3Config

log = logging.getLogger(__name__)

# A request that keeps failing is given up after this long (obstore's own default is 180 s).
_RETRY: RetryConfig = {"max_retries": 3, "retry_timeout": timedelta(seconds=15)}
# Older obstore raised its own NotFoundError; newer raises the builtin FileNotFoundError.
_MISSING = (FileNotFoundError, NotFoundError)


def _split_url(url: str) -> tuple[str, str]:
    """`s3://bucket[/prefix]` -> (bucket, prefix without surrounding slashes)."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"files URL {url!r} must look like s3://bucket or s3://bucket/prefix")
    if "@" in parts.netloc or ":" in parts.netloc:
        raise ValueError(f"files URL {url!r}: put no credentials or port in the bucket name")
    prefix = parts.path.strip("/")
    try:
        _clean_path(prefix, what="S3 prefix", allow_empty=True)
    except InvalidInput as exc:
        raise ValueError(f"files URL {url!r}: {exc}") from None
    return parts.netloc, prefix


class S3BlobStore:
    def __init__(
        self,
        url: str,
        *,
        endpoint_url: str = "",
        region: str = "us-east-1",
        access_key_id: str = "",
        secret_access_key: str = "",
    ) -> None:
        self.bucket, self.prefix = _split_url(url)
        self.endpoint_url = endpoint_url
        if bool(access_key_id) != bool(secret_access_key):
            raise ValueError("an S3 access key id and secret access key go together")
        # Only what is given overrides the environment: empty keys leave obstore's credential
        # chain in charge. The secret is handed on, never kept on self, so no repr can show it.
        config: S3Config = {"region": region}
        client: ClientConfig = {}
        if endpoint_url:
            config["endpoint"] = endpoint_url
            client["allow_http"] = endpoint_url.startswith("http://")
        if access_key_id:
            config["access_key_id"] = access_key_id
            config["secret_access_key"] = secret_access_key
        self._store = S3Store(
            self.bucket,
            prefix=self.prefix or None,
            config=config,
            client_options=client,
            retry_config=_RETRY,
        )

    def __repr__(self) -> str:
        where = f", endpoint_url={self.endpoint_url!r}" if self.endpoint_url else ""
        return f"S3BlobStore(bucket={self.bucket!r}, prefix={self.prefix!r}{where})"

    def _failed(self, op: str, name: str, exc: Exception) -> NoReturn:
        # obstore's message runs on with a debug dump; its first line says what went wrong.
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        log.warning("S3 %s of %r in bucket %s failed: %s", op, name, self.bucket, reason)
        raise Unavailable("File store (S3) is unavailable") from exc

    async def write(self, name: str, data: bytes) -> None:
        key = _clean_path(name, what="blob name")
        try:
            await obstore.put_async(self._store, key, bytes(data))
        except (BaseError, OSError) as exc:  # a missing bucket reads as "not found" here too
            self._failed("write", key, exc)

    async def read(self, name: str) -> bytes:
        key = _clean_path(name, what="blob name")
        try:
            result = await obstore.get_async(self._store, key)
            return bytes(await result.bytes_async())
        except _MISSING as exc:
            raise NotFound("file not found") from exc
        except (BaseError, OSError) as exc:
            self._failed("read", key, exc)

    async def delete(self, name: str) -> None:
        key = _clean_path(name, what="blob name")
        try:
            await obstore.delete_async(self._store, key)
        except _MISSING:
            return  # S3 itself answers 204; some compatible servers say 404
        except (BaseError, OSError) as exc:
            self._failed("delete", key, exc)

    async def exists(self, name: str) -> bool:
        key = _clean_path(name, what="blob name")
        try:
            await obstore.head_async(self._store, key)
        except _MISSING:
            return False
        except (BaseError, OSError) as exc:
            self._failed("exists", key, exc)
        return True
