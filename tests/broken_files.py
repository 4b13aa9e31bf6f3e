"""Broken image files for the bad-input tests: a truncated JPEG and a decompression-bomb PNG."""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from PIL import Image


def truncated_jpeg(path: Path, size: tuple[int, int] = (320, 240)) -> Path:
    """A JPEG cut in half: its header is valid, only decoding finds the missing data."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 60, 30)).save(buffer, "JPEG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return path


def huge_png(path: Path, width: int = 30000, height: int = 30000) -> Path:
    """A PNG whose header claims width x height pixels (no pixel data): a decompression bomb to PIL."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    return path
