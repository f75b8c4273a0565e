"""The table-read theater in a real browser: headless Chromium loads the page and a real MP3 from
a loopback server, plays it, and the highlight follows the audio line by line.

The MP3 is the instant narrator's speech for four short lines joined with 800 ms pauses, so the
entries' startMs/endMs are exact; the server answers Range requests as the share route must,
or Chromium could not seek when a line is clicked. Screenshots land in ``test-artifacts/``.
"""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from adapters.sleeperhit.theater import content_security_policy, expired_page, render_theater
from tests.e2e.browser import chromium
from workers.backends.audio import pcm_to_mp3, silence
from workers.backends.base import Pcm
from workers.backends.instant.speech import InstantNarrator

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
TOKEN = "tok-123"
PAGE = f"/share/table-read/{TOKEN}"
AUDIO = f"/share/table-read-audio/{TOKEN}"
GAP_MS = 800  # the pause between lines, as the story task leaves between speakers

LINES = (
    ("Ada", "Lights up. We open."),
    ("Bram", "Is the tape running?"),
    ("Ada", "It is. Say the line."),
    ("Narrator", "And so it began <again> & again."),
)
CAST: tuple[dict[str, Any], ...] = (
    {"name": "Ada", "role": "Director", "voice": {"voiceId": "v-ada", "voiceName": "Amber"}},
    {"name": "Bram", "role": "Actor", "voice": {"voiceId": "v-bram", "voiceName": "Basalt"}},
    {"name": "Narrator", "role": "Narrator", "voice": {"voiceId": "v-n", "voiceName": "Cedar"}},
)


def _table_read() -> tuple[dict[str, Any], bytes]:
    """CONTENT of a table_read artifact (SPEC.md) and its MP3, timed from the real PCM."""
    narrator = InstantNarrator()
    clips = [narrator.synthesize(text, seed=i) for i, (_, text) in enumerate(LINES)]
    rate = clips[0].rate
    gap = silence(GAP_MS, rate).samples
    entries, at_ms = [], 0
    for index, ((character, text), clip) in enumerate(zip(LINES, clips, strict=True)):
        length_ms = round(clip.duration_s * 1000)
        entries.append(
            {
                "entryIndex": index,
                "character": character,
                "text": text,
                "startMs": at_ms,
                "endMs": at_ms + length_ms,
            }
        )
        at_ms += length_ms + GAP_MS
    mp3 = pcm_to_mp3(Pcm(gap.join(c.samples for c in clips), rate))
    content = {
        "status": "READY",
        "type": "table_read",
        "title": "The <First> Take & After",
        "mode": "drama",
        "narrationPolicy": "include",
        "durationSeconds": 8,
        "cast": list(CAST),
        "scenes": [
            {"index": 0, "title": "Stage left", "entries": entries[:2]},
            {"index": 1, "title": "Stage right", "entries": entries[2:]},
        ],
        "audio": {
            "path": "x/read.mp3",
            "durationMs": entries[-1]["endMs"],
            "contentType": "audio/mpeg",
        },
    }
    return content, mp3


@dataclass
class Site:
    base: str
    content: dict[str, Any]
    entries: list[dict[str, Any]]


def _handler(content: dict[str, Any], mp3: bytes) -> type[http.server.BaseHTTPRequestHandler]:
    # The policy goes out as a real header, so a hash that drifts from the inlined script or
    # style blocks it here as it would in production, and the highlight test fails.
    csp = content_security_policy()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def _send(self, status: int, body: bytes, kind: str, extra: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == PAGE:
                html = render_theater(
                    content,
                    audio_url=AUDIO,
                    fullscreen=url.query == "view=fullscreen",
                    fullscreen_url=f"{PAGE}?view=fullscreen",
                    expires_at="2026-06-29T10:00:00.000Z",
                )
                self._send(
                    200, html.encode(), "text/html; charset=utf-8", {"Content-Security-Policy": csp}
                )
            elif url.path == AUDIO:
                self._audio()
            else:
                page = expired_page().encode()
                self._send(404, page, "text/html; charset=utf-8", {"Content-Security-Policy": csp})

        def _audio(self) -> None:
            size = len(mp3)
            match = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
            if not match or not (match[1] or match[2]):
                self._send(200, mp3, "audio/mpeg", {"Accept-Ranges": "bytes"})
                return
            if match[1]:
                first, last = int(match[1]), int(match[2] or size - 1)
            else:
                first, last = size - int(match[2]), size - 1
            last = min(last, size - 1)
            if first > last:
                self._send(416, b"", "audio/mpeg", {"Content-Range": f"bytes */{size}"})
                return
            headers = {"Accept-Ranges": "bytes", "Content-Range": f"bytes {first}-{last}/{size}"}
            self._send(206, mp3[first : last + 1], "audio/mpeg", headers)

    return Handler


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    content, mp3 = _table_read()
    handler = _handler(content, mp3)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    entries = [e for scene in content["scenes"] for e in scene["entries"]]
    try:
        yield Site(f"http://127.0.0.1:{server.server_address[1]}", content, entries)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    # Reduced motion: no highlight fade or smooth scroll, so screenshots show a settled page.
    context = browser.new_context(viewport={"width": 1200, "height": 800}, reduced_motion="reduce")
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    opened.on(
        "console",
        lambda msg: (
            problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
        ),
    )
    opened.problems = problems
    yield opened
    context.close()


def _speaking(page: Any) -> int | None:
    value = page.evaluate(
        "() => { const e = document.querySelector('.entry.speaking');"
        " return e ? +e.dataset.entry : null; }"
    )
    return None if value is None else int(value)


def _current_time(page: Any) -> float:
    return float(page.evaluate("() => document.getElementById('read-audio').currentTime"))


def test_theater_plays_and_follows_line_by_line(site: Site, page: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(site.base + PAGE)

    assert page.title() == "The <First> Take & After"
    assert page.locator("header h1").inner_text() == "The <First> Take & After"
    cast = page.locator("aside.cast")
    for member in CAST:
        for text in (member["name"], member["role"], member["voice"]["voiceName"]):
            assert cast.get_by_text(text, exact=False).first.is_visible()
    for entry in site.entries:
        item = page.locator(f'.entry[data-entry="{entry["entryIndex"]}"]')
        assert item.locator(".character").inner_text().casefold() == entry["character"].casefold()
        assert item.locator(".text").inner_text() == entry["text"]
        assert item.is_visible()
        assert item.get_attribute("data-start") == str(entry["startMs"])
        assert item.get_attribute("data-end") == str(entry["endMs"])
    assert _speaking(page) is None
    page.screenshot(path=str(ARTIFACTS / "theater.png"), full_page=True)

    page.get_by_role("button", name="Play the table read").click()
    page.wait_for_function(
        '() => document.querySelector(\'.entry.speaking[data-entry="0"][aria-current="true"]\')',
        timeout=3_000,
    )
    first_time = _current_time(page)
    second_start = site.entries[1]["startMs"]
    page.wait_for_function(
        "() => { const e = document.querySelector('.entry.speaking');"
        " return e && +e.dataset.entry >= 1; }",
        timeout=second_start + 4_000,
    )
    now = _current_time(page)
    assert now > first_time
    assert now * 1000 >= second_start - 50  # the highlight follows the audio clock
    assert page.locator(".entry.speaking").count() == 1
    assert page.locator("#play").inner_text() == "Pause"
    page.screenshot(path=str(ARTIFACTS / "theater-speaking.png"), full_page=True)

    # Clicking a line seeks to it (needs the Range answers above) and lights it at once.
    last = site.entries[-1]
    page.locator(f'.entry[data-entry="{last["entryIndex"]}"]').click()
    page.wait_for_function(
        f"() => document.getElementById('read-audio').currentTime * 1000 >= {last['startMs']}",
        timeout=3_000,
    )
    assert _speaking(page) == last["entryIndex"]
    page.locator("#play").click()
    # audio.paused flips at once; the button follows on the "pause" event a task later.
    page.wait_for_function(
        "() => document.getElementById('read-audio').paused"
        " && document.getElementById('play').textContent === 'Play'",
        timeout=2_000,
    )
    assert page.problems == []


def test_fullscreen_view_has_no_chrome(site: Site, page: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(site.base + PAGE)
    page.locator("a.fullscreen-link").click()
    page.wait_for_url(re.compile(r"view=fullscreen$"))

    for chrome in ("header", "aside.cast", "footer", "h1"):
        assert page.locator(chrome).count() == 0, chrome
    for entry in site.entries:
        assert page.locator(f'.entry[data-entry="{entry["entryIndex"]}"] .text').is_visible()
    size = page.evaluate(
        "() => parseFloat(getComputedStyle(document.querySelector('.entry .text')).fontSize)"
    )
    assert size >= 24  # large type
    page.get_by_role("button", name="Play the table read").click()
    page.wait_for_function(
        "() => document.getElementById('read-audio').currentTime > 0.2", timeout=3_000
    )
    assert _speaking(page) == 0
    page.screenshot(path=str(ARTIFACTS / "theater-fullscreen.png"))
    assert page.problems == []


def test_expired_link_page(site: Site, page: Any) -> None:
    response = page.goto(site.base + "/share/table-read/nope")
    assert response is not None and response.status == 404
    assert "expired" in page.locator("h1").inner_text()
    # Chromium logs the document's own 404; anything else (a blocked style, a script) is a fault.
    assert [p for p in page.problems if "status of 404" not in p] == []
    assert len(page.problems) <= 1


def test_page_is_self_contained_and_escaped(site: Site) -> None:
    html = render_theater(
        site.content,
        audio_url=AUDIO,
        fullscreen=False,
        fullscreen_url=f"{PAGE}?view=fullscreen",
        expires_at="2026-06-29T10:00:00.000Z",
    )
    assert "<First>" not in html and "&lt;First&gt; Take &amp; After" in html
    assert "&lt;again&gt; &amp; again" in html
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html)
    assert "@import" not in html and "url(" not in html
    assert html.count("<script>") == 1 and "<script src" not in html
    assert "<script" not in expired_page()
