"""The ``sleeperhit.source`` task against a real loopback HTTP server, real storage and the real
SSRF-safe fetcher: what it extracts, what each retention policy leaves stored, and how fetches
the fetcher refuses end."""

from __future__ import annotations

import hashlib
import http.server
import secrets
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import insert

from gateway.core.fetcher import Fetcher
from gateway.core.storage import LocalBlobStore, Storage
from gateway.db.engine import Database
from gateway.db.models import Account, utcnow
from workers.backends.scripts import Digest
from workers.pipelines import extract
from workers.pipelines.sources import source_task
from workers.tasks import TaskContext, TaskError

BODY = [
    "The harbor town of Lowmere rebuilt its seawall in the spring after the great storm.",
    "Engineers from three counties worked through the night to pour the new concrete footings,"
    " while fishermen ferried sandbags along the quay in their small wooden boats.",
    "Mayor Ada Brandt said the project finished two weeks early and under its budget, a first"
    " for a town that had waited eleven years for the money to arrive.",
    "Residents gathered on the promenade at dusk to watch the tide test the wall, and for the"
    " first time in a decade the lower market stayed dry through the high water.",
]
NAV = "Subscribe to our premium newsletter today"
FOOTER = "Copyright Example Media Holdings. All rights reserved."
ARTICLE = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Lowmere rebuilds its seawall</title></head>
<body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li>
<li><a href="/sub">{NAV}</a></li></ul></nav>
<main><article>
<h1>Lowmere rebuilds its seawall</h1>
{"".join(f"<p>{p}</p>" for p in BODY)}
</article></main>
<footer><p>{FOOTER}</p><p><a href="/privacy">Privacy policy</a></p></footer>
</body></html>""".encode()

PDF_PAGES = [
    "Quarterly report of the Lowmere harbor authority. Tonnage rose by a fifth.",
    "Second page: the new seawall held through every spring tide of the quarter.",
]


def make_pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title("Harbor Report")
    pdf.set_font("Helvetica", size=12)
    for text in PDF_PAGES:
        pdf.add_page()
        pdf.multi_cell(0, 10, text)
    return bytes(pdf.output())


PDF = make_pdf()
# Just over the cap, of two-byte characters so the cut has to land on a character boundary.
BIG = ("é" * 99 + "\n").encode() * 5100


def _routes() -> dict[str, tuple[int, dict[str, str], bytes]]:
    return {
        "/article.html": (200, {"Content-Type": "text/html; charset=utf-8"}, ARTICLE),
        "/report.pdf": (200, {"Content-Type": "application/pdf"}, PDF),
        "/report.bin": (200, {"Content-Type": "application/octet-stream"}, PDF),
        "/notpdf.bin": (200, {"Content-Type": "application/octet-stream"}, b"hello"),
        "/broken.pdf": (200, {"Content-Type": "application/pdf"}, b"%PDF-1.7\nnot really"),
        "/notes.txt": (200, {"Content-Type": "text/plain"}, b"Plain notes about the tide.\n"),
        "/big.txt": (200, {"Content-Type": "text/plain; charset=utf-8"}, BIG),
        "/blank.html": (200, {"Content-Type": "text/html"}, b"<html><body> </body></html>"),
        "/picture.png": (200, {"Content-Type": "image/png"}, b"\x89PNG\r\n\x1a\n"),
        "/private": (302, {"Location": "http://10.20.30.40/secret"}, b""),
        "/missing": (404, {"Content-Type": "text/plain"}, b"no"),
    }


class _Handler(http.server.BaseHTTPRequestHandler):
    routes = _routes()

    def do_GET(self) -> None:
        status, headers, body = self.routes.get(self.path, (404, {}, b""))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@dataclass
class Jobs:
    calls: list[dict[str, Any]] = field(default_factory=list)

    async def progress(self, job_id: str, **kw: Any) -> bool:
        self.calls.append(kw)
        return True

    @property
    def stages(self) -> list[str]:
        return [c["data"]["stage"] for c in self.calls if c.get("data")]

    def data(self, stage: str) -> dict[str, Any]:
        return next(c["data"] for c in self.calls if (c.get("data") or {}).get("stage") == stage)


class Scripter:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.seen: list[tuple[str, int]] = []

    async def digest(self, text: str, *, seed: int = 0) -> Digest:
        self.seen.append((text, seed))
        if self.fail:
            raise RuntimeError("model exploded: /secret/path")
        return Digest(summary=text[:40], key_points=("a point",), people=("Ada Brandt",))


@dataclass
class Env:
    storage: Storage
    account: str
    jobs: Jobs
    scripter: Scripter
    fetcher: Fetcher

    async def run(self, **params: Any) -> dict[str, Any]:
        job = SimpleNamespace(id="job_" + secrets.token_hex(4), account_id=self.account)
        defaults = {"source_id": "src1", "uri": None, "text_path": None, "seed": 7}
        job.params = {**defaults, "retention": "EXTRACTED_ONLY", **params}
        services = SimpleNamespace(
            jobs=self.jobs,
            storage=self.storage,
            fetcher=self.fetcher,
            backends=SimpleNamespace(scripter=self.scripter),
        )
        return await source_task(TaskContext(job=job, services=services))  # type: ignore[arg-type]

    async def stored(self, source_id: str = "src1") -> dict[str, tuple[str, bytes]]:
        out = {}
        for info in await self.storage.list(self.account, f"sources/{source_id}/"):
            out[info.path.rsplit("/", 1)[1]] = (
                info.content_type,
                (await self.storage.get(self.account, info.path))[1],
            )
        return out


def loopback_fetcher(allowed: tuple[str, ...] = ("127.0.0.0/8",)) -> Fetcher:
    return Fetcher(max_bytes=5_000_000, timeout=10, allowed_networks=allowed)


@pytest.fixture
async def env(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Env]:
    db = Database(sqlite_url)
    account = "acc_" + secrets.token_hex(6)
    async with db.write() as conn:
        await conn.execute(
            insert(Account).values(id=account, name="t", profile={}, created_at=utcnow())
        )
    storage = Storage(db, LocalBlobStore(tmp_path / "files"), secret="s")
    try:
        yield Env(storage, account, Jobs(), Scripter(), loopback_fetcher())
    finally:
        await db.close()


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def test_url_article_is_main_text_without_boilerplate(env: Env, server: str) -> None:
    result = await env.run(type="URL", uri=f"{server}/article.html")
    files = await env.stored()
    assert set(files) == {"text.txt"}
    content_type, data = files["text.txt"]
    text = data.decode()
    assert content_type.startswith("text/plain")
    for paragraph in BODY:
        assert paragraph in text
    assert NAV not in text and FOOTER not in text and "Privacy policy" not in text

    ex = result["extraction"]
    assert ex["contentHash"] == sha(text)
    assert ex["byteSize"] == len(data) and ex["tokenEstimate"] == -(-len(text) // 4)
    assert ex["preview"] == text[:4000]
    assert ex["metadata"]["contentType"] == "text/html"
    assert ex["metadata"]["extractor"] == "trafilatura"
    assert ex["metadata"]["title"] == "Lowmere rebuilds its seawall"
    assert "truncated" not in ex["metadata"] and "pageCount" not in ex["metadata"]
    assert ex["extractedAt"].endswith("Z")

    assert env.jobs.stages == ["extracting", "extracted", "digesting"]
    assert env.jobs.data("extracted")["extraction"] == ex
    assert env.scripter.seen == [(text, 7)]
    assert result["digest"] == Digest.from_wire(result["digest"]).wire()
    assert result["digest"]["people"] == ["Ada Brandt"]
    assert result["digestFailure"] is None and result["digestedAt"]


async def test_fallback_extractor_when_trafilatura_finds_nothing(
    env: Env, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import trafilatura

    monkeypatch.setattr(trafilatura, "extract", lambda *a, **k: None)
    result = await env.run(type="URL", uri=f"{server}/article.html")
    meta = result["extraction"]["metadata"]
    assert meta["extractor"] == "fallback" and meta["title"] == "Lowmere rebuilds its seawall"
    text = (await env.stored())["text.txt"][1].decode()
    assert all(p in text for p in BODY) and NAV not in text and FOOTER not in text
    assert "<p>" not in text


async def test_pdf_source_pages_and_metadata(env: Env, server: str) -> None:
    result = await env.run(type="PDF", uri=f"{server}/report.pdf", retention="STORE_ORIGINAL")
    files = await env.stored()
    text = files["text.txt"][1].decode()
    assert PDF_PAGES[0] in text and PDF_PAGES[1] in text
    assert text.index(PDF_PAGES[0]) < text.index(PDF_PAGES[1])
    assert files["original"] == ("application/pdf", PDF)
    ex = result["extraction"]
    assert ex["metadata"] == {
        "contentType": "application/pdf",
        "pageCount": 2,
        "title": "Harbor Report",
    }
    assert ex["contentHash"] == sha(text)


async def test_pdf_served_as_octet_stream_and_url_serving_a_pdf(env: Env, server: str) -> None:
    as_bin = await env.run(type="PDF", uri=f"{server}/report.bin", source_id="a")
    as_url = await env.run(type="URL", uri=f"{server}/report.pdf", source_id="b")
    for result in (as_bin, as_url):
        assert result["extraction"]["metadata"]["pageCount"] == 2
    assert as_bin["extraction"]["contentHash"] == as_url["extraction"]["contentHash"]


@pytest.mark.parametrize(
    ("kind", "path", "code"),
    [
        ("PDF", "/notpdf.bin", "source_fetch_failed"),
        ("PDF", "/article.html", "source_fetch_failed"),
        ("URL", "/picture.png", "source_fetch_failed"),
        ("URL", "/missing", "source_fetch_failed"),
        ("PDF", "/broken.pdf", "source_extract_failed"),
        ("URL", "/blank.html", "source_empty"),
    ],
)
async def test_unusable_sources_fail_cleanly(
    env: Env, server: str, kind: str, path: str, code: str
) -> None:
    with pytest.raises(TaskError) as caught:
        await env.run(type=kind, uri=f"{server}{path}")
    assert caught.value.code == code
    assert await env.stored() == {}


async def test_hostile_urls_are_refused(env: Env, server: str) -> None:
    cases = [
        (loopback_fetcher(()), f"{server}/article.html"),  # loopback not allowed here
        (env.fetcher, "file:///etc/passwd"),
        (env.fetcher, f"{server}/private"),  # an allowed host redirecting to 10.20.30.40
        (env.fetcher, "http://169.254.169.254/latest/meta-data/"),
    ]
    for fetcher, url in cases:
        env.fetcher = fetcher
        with pytest.raises(TaskError) as caught:
            await env.run(type="URL", uri=url)
        assert caught.value.code == "source_fetch_failed", url
    assert env.scripter.seen == [] and await env.stored() == {}


async def test_plain_text_is_capped_on_a_character_boundary(env: Env, server: str) -> None:
    result = await env.run(type="URL", uri=f"{server}/big.txt")
    ex = result["extraction"]
    assert ex["metadata"] == {"contentType": "text/plain", "truncated": True}
    data = (await env.stored())["text.txt"][1]
    assert len(data) == ex["byteSize"] <= extract.MAX_TEXT_BYTES
    assert ex["byteSize"] > extract.MAX_TEXT_BYTES - 4
    assert set(data.decode()) == {"é", "\n"}


async def test_metadata_only_url_keeps_nothing(env: Env, server: str) -> None:
    result = await env.run(type="URL", uri=f"{server}/article.html", retention="METADATA_ONLY")
    assert await env.stored() == {}
    ex = result["extraction"]
    assert ex["preview"] is None and ex["byteSize"] > 0 and len(ex["contentHash"]) == 64
    assert result["digest"] is not None


async def test_inline_text_retention(env: Env) -> None:
    content = "Ada Brandt opened the seawall.\n\n  Indented   markdown stays as sent.\n"
    for retention, kept in [
        ("EXTRACTED_ONLY", {"text.txt"}),
        ("STORE_ORIGINAL", {"text.txt", "original"}),
        ("METADATA_ONLY", set()),
    ]:
        source_id = f"inline-{retention.lower()}"
        path = f"sources/{source_id}/text.txt"
        await env.storage.put(env.account, path, content.encode(), "text/plain; charset=utf-8")
        env.jobs.calls.clear()
        result = await env.run(
            type="MARKDOWN", source_id=source_id, text_path=path, retention=retention
        )
        files = await env.stored(source_id)
        assert set(files) == kept, retention
        if kept:
            assert files["text.txt"][1] == content.encode()
        if "original" in kept:
            assert files["original"] == ("text/markdown; charset=utf-8", content.encode())
        ex = result["extraction"]
        assert ex["contentHash"] == sha(content) and ex["byteSize"] == len(content.encode())
        assert ex["metadata"] == {"contentType": "text/markdown"}
        assert result["digest"]["summary"] == content[:40]
        assert env.jobs.stages == ["extracted", "digesting"]


async def test_metadata_only_inline_text_is_deleted_even_when_empty(env: Env) -> None:
    path = "sources/blank/text.txt"
    await env.storage.put(env.account, path, b" \n\t", "text/plain")
    with pytest.raises(TaskError) as caught:
        await env.run(type="TEXT", source_id="blank", text_path=path, retention="METADATA_ONLY")
    assert caught.value.code == "source_empty"
    assert await env.stored("blank") == {}


async def test_digest_failure_does_not_fail_the_source(env: Env, server: str) -> None:
    env.scripter = Scripter(fail=True)
    result = await env.run(type="URL", uri=f"{server}/notes.txt")
    assert result["digest"] is None and result["digestedAt"] is None
    assert result["digestFailure"] == {
        "code": "digest_failed",
        "message": "the source could not be digested",
    }
    assert result["extraction"]["preview"] == "Plain notes about the tide."
