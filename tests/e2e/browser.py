"""Headless Debian Chromium under Playwright, for tests that must see a page the way a listener
does (layout, script, media playback).

Playwright's own browser downloads are not used: the system's ``/usr/bin/chromium`` is what CI
installs, and it decodes MP3 and plays ``<audio>`` headless with no sound card (Chromium falls
back to a fake audio output; Playwright's headless launch adds ``--mute-audio`` as well). A
missing browser or library skips the test with the reason; CI has both.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM = Path(os.environ.get("STORYGATE_CHROMIUM", "/usr/bin/chromium"))
# No user gesture is needed to start media (a test may call audio.play() directly); the sandbox
# needs user namespaces that containers often lack; /dev/shm is small in containers.
CHROMIUM_ARGS = (
    "--autoplay-policy=no-user-gesture-required",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
)


def _missing(reason: str) -> NoReturn:
    """A skip on a developer's machine; a failure in CI, which must run the browser tests."""
    if os.environ.get("STORYGATE_REQUIRE_SERVICES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def chromium_path() -> Path:
    """The Chromium binary, or a skip naming what is missing."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    found = shutil.which("chromium")
    if found:
        return Path(found)
    _missing(f"Chromium not found at {CHROMIUM} or on PATH (apt-get install chromium)")


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium browser, closed on exit."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
    )
    executable = chromium_path()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            browser.close()
