"""The table-read theater: one self-contained HTML page that plays a read and follows it.

A share link is opened by anyone, on any network, so the page pulls nothing from another
origin: its CSS and JS (``theater_assets/``) are inlined, fonts are the system's, and the only
request it makes is for the read's MP3. Everything that comes from the artifact is escaped.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Mapping, Sequence
from html import escape
from importlib import resources
from typing import Any

__all__ = ["content_security_policy", "expired_page", "render_theater"]

_SPEAKER_COLOURS = 6  # .speaker-0 … .speaker-5 in theater.css; more speakers reuse them


@functools.cache
def _assets() -> tuple[str, str]:
    """(css, js), read from the package once per process: they never change while it runs."""
    folder = resources.files(__name__.rpartition(".")[0]).joinpath("theater_assets")
    css = folder.joinpath("theater.css").read_text(encoding="utf-8")
    js = folder.joinpath("theater.js").read_text(encoding="utf-8")
    return css, js


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def content_security_policy() -> str:
    """The ``Content-Security-Policy`` header value for the theater and the expired page.

    The inline script and style are allowed by hash, so nothing else can run; audio may come
    only from this origin (the read's share link).
    """
    css, js = _assets()
    return "; ".join(
        (
            "default-src 'none'",
            f"script-src {_sha256(js)}",
            f"style-src {_sha256(css)} {_sha256(_EXPIRED_CSS)}",
            "media-src 'self'",
            "img-src 'self' data:",
            "base-uri 'none'",
            "form-action 'none'",
        )
    )


def _text(value: object) -> str:
    return escape("" if value is None else str(value))


def _int(value: object) -> int:
    try:
        return max(0, int(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0


def _clock(ms: int) -> str:
    seconds = ms // 1000
    return f"{seconds // 60}:{seconds % 60:02d}"


def _speakers(cast: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Colour slot per character, in cast order, matched case-blind: a script may shout names."""
    slots: dict[str, int] = {}
    for member in cast:
        name = str(member.get("name") or "").casefold()
        if name and name not in slots:
            slots[name] = len(slots) % _SPEAKER_COLOURS
    return slots


def _cast(cast: Sequence[Mapping[str, Any]]) -> str:
    items = []
    for member in cast:
        voice = member.get("voice") or {}
        voice_name = voice.get("voiceName") if isinstance(voice, Mapping) else None
        parts = [f'<span class="name">{_text(member.get("name"))}</span>']
        if member.get("role"):
            parts.append(f'<span class="role">{_text(member.get("role"))}</span>')
        if voice_name:
            parts.append(f'<span class="voice">Voice: {_text(voice_name)}</span>')
        items.append(f"<li>{''.join(parts)}</li>")
    return (
        '<aside class="cast" aria-labelledby="cast-heading">'
        '<h2 id="cast-heading">Cast</h2>'
        f"<ul>{''.join(items)}</ul></aside>"
    )


def _entry(entry: Mapping[str, Any], slots: Mapping[str, int]) -> str:
    character = str(entry.get("character") or "")
    slot = slots.get(character.casefold())
    speaker = "none" if slot is None else str(slot)
    start, end = _int(entry.get("startMs")), _int(entry.get("endMs"))
    return (
        f'<li class="entry speaker-{speaker}" tabindex="0" '
        f'data-entry="{_int(entry.get("entryIndex"))}" data-start="{start}" '
        f'data-end="{max(start, end)}" title="Play from {_clock(start)}">'
        f'<span class="character">{_text(character)}</span>'
        f'<p class="text">{_text(entry.get("text"))}</p></li>'
    )


def _script(scenes: Sequence[Mapping[str, Any]], slots: Mapping[str, int]) -> str:
    sections = []
    for position, scene in enumerate(scenes):
        heading_id = f"scene-{position}"
        title = scene.get("title") or f"Scene {_int(scene.get('index', position)) + 1}"
        entries = "".join(_entry(e, slots) for e in scene.get("entries") or ())
        sections.append(
            f'<section class="scene" aria-labelledby="{heading_id}">'
            f'<h2 id="{heading_id}">{_text(title)}</h2><ol>{entries}</ol></section>'
        )
    return f'<main id="script" class="script">{"".join(sections)}</main>'


def _player(audio_url: str, total_ms: int) -> str:
    return (
        '<div class="player" role="region" aria-label="Player">'
        f'<audio id="read-audio" preload="auto" src="{escape(audio_url)}"></audio>'
        '<button id="play" type="button" aria-pressed="false">Play</button>'
        '<div id="progress" class="progress" aria-hidden="true">'
        '<div id="progress-bar" class="bar"></div></div>'
        f'<span id="clock" class="clock" aria-live="off">0:00 / {_clock(total_ms)}</span>'
        '<span id="player-status" class="status" role="status"></span></div>'
    )


def _masthead(title: str, mode: str, total_ms: int, fullscreen_url: str) -> str:
    length = _clock(total_ms) if total_ms else ""
    meta = " · ".join(["Table read"] + [part for part in (mode.capitalize(), length) if part])
    return (
        '<a class="skip" href="#script">Skip to the script</a>'
        '<header class="masthead">'
        f"<h1>{_text(title)}</h1>"
        f'<span class="meta">{_text(meta)}</span>'
        f'<a class="fullscreen-link" href="{escape(fullscreen_url)}">Fullscreen</a>'
        "</header>"
    )


def render_theater(
    content: Mapping[str, Any],
    *,
    audio_url: str,
    fullscreen: bool,
    fullscreen_url: str,
    expires_at: str,
) -> str:
    """The theater page for one READY table_read artifact (the CONTENT of SPEC.md).

    ``fullscreen`` drops the header, the cast and the footer and sets the script in large type;
    the player and the line-by-line highlight stay. Missing fields render as blanks rather than
    failing: a share link should show what there is.
    """
    css, js = _assets()
    title = str(content.get("title") or "Table read")
    cast: Sequence[Mapping[str, Any]] = content.get("cast") or ()
    scenes: Sequence[Mapping[str, Any]] = content.get("scenes") or ()
    audio = content.get("audio") or {}
    total_ms = _int(audio.get("durationMs")) if isinstance(audio, Mapping) else 0
    if not total_ms:
        ends = [_int(e.get("endMs")) for s in scenes for e in s.get("entries") or ()]
        total_ms = max(ends, default=0)
    script = _script(scenes, _speakers(cast))
    player = _player(audio_url, total_ms)
    if fullscreen:
        body = f'<div class="layout">{script}</div>{player}'
    else:
        header = _masthead(title, str(content.get("mode") or ""), total_ms, fullscreen_url)
        footer = (
            '<footer class="colophon">'
            f'This share link expires <time datetime="{escape(expires_at)}">'
            f"{_text(expires_at)}</time>.</footer>"
        )
        body = f'{header}<div class="layout">{_cast(cast)}{script}</div>{player}{footer}'
    return (
        "<!DOCTYPE html>\n"
        '<html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="robots" content="noindex">'
        '<link rel="icon" href="data:,">'  # no favicon request: the page asks only for audio
        f"<title>{_text(title)}</title><style>{css}</style></head>"
        f'<body class="{"fullscreen" if fullscreen else "theater"}">'
        f"{body}<script>{js}</script></body></html>\n"
    )


_EXPIRED_CSS = (
    "body{margin:0;min-height:100vh;display:grid;place-items:center;text-align:center;"
    "font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;"
    "background:#faf8f5;color:#1d1b19}main{max-width:32rem;padding:2rem}"
    "h1{font-size:1.5rem;margin:0 0 .5rem}p{color:#6b655e;margin:0}"
)


def expired_page() -> str:
    """The page for a share link that expired or was never valid.

    It says the same for both on purpose: telling them apart would confirm that a guessed
    token was once real.
    """
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        '<link rel="icon" href="data:,">'
        f"<title>Link expired</title><style>{_EXPIRED_CSS}</style></head>"
        "<body><main><h1>This table read link has expired</h1>"
        "<p>Share links last a limited time, and this one has ended or is not valid. "
        "Ask whoever sent it for a new link.</p></main></body></html>\n"
    )
