"""Small PNG images written byte by byte (no imaging library): real files a browser decodes."""

from __future__ import annotations

import zlib
from collections.abc import Callable

RGB = tuple[int, int, int]


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")


def png(width: int, height: int, color: Callable[[int, int], RGB] = lambda x, y: (255, 0, 0)):
    """An 8-bit RGB PNG of `width` x `height` pixels, pixel (x, y) of `color(x, y)`."""
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    rows = b"".join(
        b"\x00" + b"".join(bytes(color(x, y)) for x in range(width)) for y in range(height)
    )
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )
