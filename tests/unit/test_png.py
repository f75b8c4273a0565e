"""The fast PNG writer: what it writes decodes to exactly the pixels it was given."""

from __future__ import annotations

import io
import random
import struct

import pytest
from PIL import Image, ImageDraw

from workers.png import png_bytes


def noisy(mode: str, size: tuple[int, int], seed: int = 1) -> Image.Image:
    rng = random.Random(seed)
    picture = Image.new("RGB", size, (250, 240, 220))
    draw = ImageDraw.Draw(picture)
    for _ in range(40):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse((x - 9, y - 6, x + 9, y + 6), fill=colour)
    draw.text((4, 4), "Once upon a time", fill=(0, 0, 0))
    if mode == "P":
        return picture.quantize(64)
    return picture.convert(mode)


def chunks(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    tags, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        tags.append(data[at + 4 : at + 8])
        at += 12 + length
    return tags


@pytest.mark.parametrize("mode", ["RGB", "P", "L", "RGBA"])
def test_decodes_to_the_same_pixels(mode: str) -> None:
    picture = noisy(mode, (97, 61))
    with Image.open(io.BytesIO(png_bytes(picture))) as back:
        back.load()
        assert back.size == picture.size
        if mode == "P":
            assert back.mode == "P"
            assert back.convert("RGB").tobytes() == picture.convert("RGB").tobytes()
        else:
            assert back.mode == "RGB"
            assert back.tobytes() == picture.convert("RGB").tobytes()


def test_repeated_rows_and_determinism() -> None:
    small = noisy("RGB", (64, 40), seed=3)
    enlarged = small.resize((192, 120), Image.Resampling.NEAREST)  # every row three times
    data = png_bytes(enlarged)
    assert data == png_bytes(enlarged.copy())
    assert chunks(data) == [b"IHDR", b"IDAT", b"IEND"]  # no time stamp, nothing optional
    with Image.open(io.BytesIO(data)) as back:
        assert back.tobytes() == enlarged.tobytes()


def test_palette_pictures_keep_their_palette() -> None:
    picture = noisy("P", (50, 50))
    data = png_bytes(picture)
    assert chunks(data) == [b"IHDR", b"PLTE", b"IDAT", b"IEND"]
    assert len(data) < len(png_bytes(picture.convert("RGB")))
