"""SleeperHit sources over real HTTP, read from a real loopback web server: a URL source is an
HTML article's main text (its navigation and footer left out), a PDF source its pages' text and
``metadata.pageCount``; both go PENDING → READY, with ``contentHash`` the SHA-256 of the
extracted text and a digest naming the people in it. Retention decides what is kept.

Fetching is SSRF-safe. ``fetching`` may read from 127.0.0.1 only
(``STORYGATE_FETCH_ALLOWED_NETWORKS=127.0.0.1/32``), which is how a redirect from the article
server to another private address (127.0.0.2, where a second listener counts visits; the cloud
metadata address; 10/8) can be shown to fail the source (``FAILED``, ``source_fetch_failed``)
without the target ever being contacted — offline, no public first hop exists to redirect from.
``strict`` has no allowance: literal private addresses and other schemes are refused at once
(422 ``source_fetch_failed``), and a name resolving to loopback is refused either at once or
as a FAILED source, in both cases without the article server seeing a request.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.e2e.sleeperhit_harness import (
    SOURCE_TEXT,
    TABLE_READ,
    TARGET,
    SleeperHitServer,
    Tenant,
    expect_error,
    new_project,
    poll,
    post,
    start,
)

PARAGRAPHS = [
    "Amara Osei keeps the lighthouse on Cape Lumen. Every night she climbs the hundred steps "
    "and lights the lamp for the fishing boats that work the cold water beyond the reef.",
    "Her brother Kofi Osei repairs the nets in the harbour below and worries about the winter "
    "storms, which have grown longer and fiercer every year since the old pier fell.",
    "One evening the old keeper, Ruth Fielding, returns to the cape with a warning: the lamp's "
    'lens is cracked, and it will not survive another gale. "The light must not go dark," '
    "Ruth says.",
    "Amara and Kofi work through the night to mend the lens before the storm arrives, passing "
    "tools up the spiral stair while the wind rattles the iron door.",
]
NAV = "Subscribe to the Harbour Gazette"
FOOTER = "Copyright 2026 Harbour Gazette. All rights reserved."
ARTICLE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    "<title>The Keeper of Cape Lumen</title></head><body>"
    f'<header><nav><a href="/">Home</a> | <a href="/news">News</a> | '
    f'<a href="/subscribe">{NAV}</a></nav></header>'
    "<main><article><h1>The Keeper of Cape Lumen</h1>"
    + "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    + f"</article></main><footer><p>{FOOTER} Cookie settings.</p></footer></body></html>"
).encode()
PDF_PAGES = [
    "Harbour report, page one. Captain Ines Duarte brought the trawler Gannet home at dawn.",
    "Page two. Harbourmaster Tomas Reyes logged the storm damage to the northern breakwater.",
]


def make_pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title("Harbour Report")
    pdf.set_font("Helvetica", size=12)
    for page in PDF_PAGES:
        pdf.add_page()
        pdf.multi_cell(0, 8, page)
    return bytes(pdf.output())


@dataclass
class Web:
    """The article server on 127.0.0.1 and a listener on 127.0.0.2 no fetch may reach."""

    port: int
    private_port: int
    seen: Counter[str] = field(default_factory=Counter)
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


def _serve(host: str, respond: Any) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, body = respond(self.path)
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer((host, 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


@pytest.fixture(scope="module")
def web() -> Iterator[Web]:
    pdf = make_pdf()
    state: dict[str, Web] = {}

    def private(path: str) -> tuple[int, dict[str, str], bytes]:
        state["web"].seen["private " + path] += 1
        return 200, {"Content-Type": "text/plain"}, b"internal secrets"

    inner = _serve("127.0.0.2", private)

    def respond(path: str) -> tuple[int, dict[str, str], bytes]:
        found = state["web"]
        found.seen[path] += 1
        route = path.split("?", 1)[0]
        html = {"Content-Type": "text/html; charset=utf-8"}
        if route == "/article.html":
            return 200, html, ARTICLE
        if route == "/report.pdf":
            return 200, {"Content-Type": "application/pdf"}, pdf
        if route == "/report.bin":
            return 200, {"Content-Type": "application/octet-stream"}, pdf
        if route == "/fake.pdf":
            return 200, {"Content-Type": "application/pdf"}, b"<html>not a pdf</html>"
        if route == "/to-private":
            target = f"http://127.0.0.2:{found.private_port}/secret"
            return 302, {"Location": target}, b""
        if route == "/to-metadata":
            return 302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""
        if route == "/to-ten":
            return 307, {"Location": "http://10.0.0.1/admin"}, b""
        if route == "/slow":
            found.release.wait(30)
            return 200, html, ARTICLE
        return 404, {"Content-Type": "text/plain"}, b"no such page"

    outer = _serve("127.0.0.1", respond)
    state["web"] = Web(outer.server_address[1], inner.server_address[1])
    yield state["web"]
    state["web"].release.set()
    for httpd in (outer, inner):
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def fetching(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SleeperHitServer]:
    env = {"STORYGATE_FETCH_ALLOWED_NETWORKS": "127.0.0.1/32"}
    server = start(tmp_path_factory.mktemp("sh-sources"), env)
    yield server
    server.server.stop()


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SleeperHitServer]:
    server = start(tmp_path_factory.mktemp("sh-sources-strict"))
    yield server
    server.server.stop()


@pytest.fixture(scope="module")
def reader(fetching: SleeperHitServer) -> Iterator[tuple[httpx.Client, str]]:
    tenant = fetching.tenant()
    with fetching.client(tenant) as c:
        yield c, new_project(c, "sources")


def add(client: httpx.Client, project_id: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = post(client, f"/story-projects/{project_id}/sources", body)
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["source"])


def settle(client: httpx.Client, source: dict[str, Any]) -> dict[str, Any]:
    """Poll until the source is READY or FAILED and its digest has settled."""

    def done(b: dict[str, Any]) -> bool:
        s = b["source"]
        return s["status"] == "FAILED" or (
            s["status"] == "READY" and s["digestStatus"] in ("READY", "FAILED", "SKIPPED")
        )

    path = f"/story-projects/{source['projectId']}/sources/{source['id']}"
    return dict(poll(client, path, done, timeout=60)["source"])


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_figures(source: dict[str, Any]) -> str:
    """The preview is the whole text (it is short), so the figures can be checked against it."""
    text = source["extractedTextPreview"]
    assert isinstance(text, str) and 0 < len(text) < 4000, source
    assert source["contentHash"] == sha256(text)
    assert source["byteSize"] == len(text.encode("utf-8"))
    assert source["tokenEstimate"] and source["tokenEstimate"] > 0
    assert source["extractedAt"]
    return text


def test_a_url_source_is_the_article_s_main_text(
    reader: tuple[httpx.Client, str], web: Web
) -> None:
    c, project_id = reader
    uri = web.url("/article.html?case=url")
    created = add(c, project_id, {"type": "url", "uri": uri, "label": "gazette"})
    assert (created["type"], created["status"], created["uri"]) == ("URL", "PENDING", uri)
    assert created["extractedTextPreview"] is None and created["contentHash"] is None
    source = settle(c, created)
    assert source["status"] == "READY", source
    assert source["failureCode"] is None
    text = _check_figures(source)
    for paragraph in PARAGRAPHS:
        assert paragraph in text, (paragraph, text)
    assert NAV not in text and "Home" not in text and FOOTER not in text
    assert "Cookie" not in text and "<p>" not in text
    assert source["metadata"]["title"] == "The Keeper of Cape Lumen"
    assert source["digestStatus"] == "READY", source
    people = source["digest"]["people"]
    assert {"Kofi Osei", "Ruth Fielding"} <= set(people), source["digest"]
    assert source["digestedAt"]
    assert web.seen["/article.html?case=url"] == 1


@pytest.mark.parametrize(
    ("kind", "path"), [("pdf", "/report.pdf"), ("pdf", "/report.bin"), ("url", "/report.pdf")]
)
def test_a_pdf_source_is_its_pages_text(
    reader: tuple[httpx.Client, str], web: Web, kind: str, path: str
) -> None:
    c, project_id = reader
    created = add(c, project_id, {"type": kind, "uri": web.url(f"{path}?kind={kind}")})
    assert created["status"] == "PENDING" and created["type"] == kind.upper()
    source = settle(c, created)
    assert source["status"] == "READY", source
    text = _check_figures(source)
    for page in PDF_PAGES:
        assert page in " ".join(text.split()), text
    assert text.index("page one") < text.index("Page two")
    assert source["metadata"]["pageCount"] == 2, source["metadata"]
    assert source["digestStatus"] == "READY", source
    people = " ".join(source["digest"]["people"])
    assert "Duarte" in people or "Ines" in people, source["digest"]


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("pdf", "/article.html"),  # a PDF source must be a PDF
        ("pdf", "/fake.pdf"),  # labelled a PDF, but not one
        ("url", "/missing"),  # 404
    ],
)
def test_unreadable_remote_sources_fail(
    reader: tuple[httpx.Client, str], web: Web, kind: str, path: str
) -> None:
    c, project_id = reader
    source = settle(c, add(c, project_id, {"type": kind, "uri": web.url(path)}))
    assert source["status"] == "FAILED", source
    assert source["failureCode"] in ("source_fetch_failed", "source_extract_failed"), source
    if path != "/fake.pdf":
        assert source["failureCode"] == "source_fetch_failed", source
    assert source["failureMessage"]
    assert source["extractedTextPreview"] is None and source["contentHash"] is None
    assert source["digestStatus"] == "SKIPPED"


@pytest.mark.parametrize("path", ["/to-private", "/to-metadata", "/to-ten"])
def test_a_redirect_to_a_private_address_fails_the_source_without_reaching_it(
    reader: tuple[httpx.Client, str], web: Web, path: str
) -> None:
    c, project_id = reader
    created = add(c, project_id, {"type": "url", "uri": web.url(path)})
    assert created["status"] == "PENDING"
    source = settle(c, created)
    assert source["status"] == "FAILED", source
    assert source["failureCode"] == "source_fetch_failed", source
    assert "private or local" in source["failureMessage"], source
    assert web.seen[path] == 1
    assert not any(k.startswith("private ") for k in web.seen), web.seen
    # A failed source cannot ground a plan.
    answer = post(
        c,
        f"/story-projects/{project_id}/story-plans",
        {"target": TARGET, "artifactRequests": [TABLE_READ], "sourceIds": [source["id"]]},
    )
    error = expect_error(answer, "validation_failed")
    assert error["details"]["status"] == "FAILED", error


def test_a_plan_waits_for_its_sources(reader: tuple[httpx.Client, str], web: Web) -> None:
    c, project_id = reader
    created = add(c, project_id, {"type": "url", "uri": web.url("/slow")})
    try:
        answer = post(
            c,
            f"/story-projects/{project_id}/story-plans",
            {"target": TARGET, "artifactRequests": [TABLE_READ], "sourceIds": [created["id"]]},
        )
        error = expect_error(answer, "validation_failed")
        assert error["details"]["status"] in ("PENDING", "EXTRACTING"), error
    finally:
        web.release.set()
    assert settle(c, created)["status"] == "READY"


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:{port}/article.html?strict=literal",
        "http://[::1]:{port}/article.html",
        "http://[::ffff:127.0.0.1]:{port}/article.html",
        "http://0x7f.1:{port}/article.html",
        "http://2130706433:{port}/article.html",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://0.0.0.0:{port}/article.html",
    ],
)
@pytest.mark.parametrize("kind", ["url", "pdf"])
def test_literal_private_addresses_and_schemes_are_refused_at_once(
    strict: SleeperHitServer, web: Web, uri: str, kind: str
) -> None:
    tenant = strict.tenant()
    with strict.client(tenant) as c:
        project_id = new_project(c, "strict")
        answer = post(
            c,
            f"/story-projects/{project_id}/sources",
            {"type": kind, "uri": uri.format(port=web.port)},
        )
        expect_error(answer, "source_fetch_failed")
        listed = c.get(f"/story-projects/{project_id}/sources").json()
        assert listed == {"sources": [], "nextCursor": None}
    assert web.seen["/article.html?strict=literal"] == 0


@pytest.mark.parametrize(
    "uri", ["file:///etc/passwd", "ftp://127.0.0.1/article.html", "gopher://127.0.0.1:70/"]
)
def test_other_schemes_are_refused_as_fetch_failures(strict: SleeperHitServer, uri: str) -> None:
    """The reference: source_fetch_failed "when the sync pre-fetch validation fails for URL/PDF"
    (the fetcher's own check says "uri must be an http or https URL")."""
    tenant = strict.tenant()
    with strict.client(tenant) as c:
        project_id = new_project(c, "schemes")
        for kind in ("url", "pdf"):
            answer = post(c, f"/story-projects/{project_id}/sources", {"type": kind, "uri": uri})
            expect_error(answer, "source_fetch_failed")
        assert c.get(f"/story-projects/{project_id}/sources").json()["sources"] == []


def test_a_name_resolving_privately_is_refused(strict: SleeperHitServer, web: Web) -> None:
    tenant = strict.tenant()
    with strict.client(tenant) as c:
        project_id = new_project(c, "strict names")
        answer = post(
            c,
            f"/story-projects/{project_id}/sources",
            {"type": "url", "uri": f"http://localhost:{web.port}/article.html?strict=name"},
        )
        if answer.status_code == 200:
            source = settle(c, answer.json()["source"])
            assert source["status"] == "FAILED", source
            assert source["failureCode"] == "source_fetch_failed", source
        else:
            expect_error(answer, "source_fetch_failed")
    assert web.seen["/article.html?strict=name"] == 0


# -- retention and digests -----------------------------------------------------------------------


def test_metadata_only_keeps_figures_but_no_text(
    reader: tuple[httpx.Client, str], web: Web
) -> None:
    c, project_id = reader
    inline = add(
        c, project_id, {"type": "text", "content": SOURCE_TEXT, "retentionPolicy": "METADATA_ONLY"}
    )
    remote = add(
        c,
        project_id,
        {
            "type": "url",
            "uri": web.url("/article.html?case=metadata-only"),
            "retentionPolicy": "METADATA_ONLY",
        },
    )
    for created in (remote, inline):
        source = settle(c, created)
        assert source["status"] == "READY", source
        assert source["retentionPolicy"] == "METADATA_ONLY"
        assert source["extractedTextPreview"] is None, source
        assert source["byteSize"] and source["contentHash"], source
        assert source["digestStatus"] == "READY", source
        assert source["digest"]["people"], source
    assert settle(c, inline)["contentHash"] == sha256(SOURCE_TEXT)
    assert settle(c, inline)["byteSize"] == len(SOURCE_TEXT.encode())


@pytest.mark.parametrize("retention", ["EXTRACTED_ONLY", "STORE_ORIGINAL"])
def test_inline_text_is_ready_at_once_and_digested(
    reader: tuple[httpx.Client, str], retention: str
) -> None:
    c, project_id = reader
    created = add(
        c,
        project_id,
        {"type": "markdown", "content": SOURCE_TEXT, "retentionPolicy": retention},
    )
    assert created["status"] == "READY" and created["type"] == "MARKDOWN"
    assert created["digestStatus"] in ("NOT_STARTED", "PENDING", "RUNNING", "READY")
    assert created["extractedTextPreview"] == SOURCE_TEXT
    assert created["contentHash"] == sha256(SOURCE_TEXT)
    assert created["byteSize"] == len(SOURCE_TEXT.encode())
    source = settle(c, created)
    assert source["digestStatus"] == "READY", source
    assert {"Maya Okafor", "Tunde Okafor"} <= set(source["digest"]["people"]), source["digest"]
    assert source["digest"]["summary"]
    assert source["contentHash"] == created["contentHash"]


def test_sources_are_the_account_s_own(
    fetching: SleeperHitServer, reader: tuple[httpx.Client, str], web: Web
) -> None:
    c, project_id = reader
    source = settle(c, add(c, project_id, {"type": "url", "uri": web.url("/article.html?o=1")}))
    stranger: Tenant = fetching.tenant()
    with fetching.client(stranger) as s:
        path = f"/story-projects/{project_id}/sources/{source['id']}"
        expect_error(s.get(path), "project_not_found")
        theirs = new_project(s, "theirs")
        expect_error(s.get(f"/story-projects/{theirs}/sources/{source['id']}"), "source_not_found")
