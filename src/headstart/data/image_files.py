"""Which files are images, and every image under a list of files and folders. Imports no torch.

Why a module of its own: ``headstart predict --onnx`` lists image folders without torch, and the
rest of :mod:`headstart.data` (decoding, datasets, transforms) needs it.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})


def is_image_file(path: str | os.PathLike) -> bool:
    """True if the file name has a supported image extension (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def expand_image_paths(paths: list[str]) -> list[str]:
    """Files as given, folders replaced by their image files (recursively, sorted).

    A folder without images or a path that does not exist is a :class:`DataError`.
    """
    out: list[str] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(str(f) for f in path.rglob("*") if f.is_file() and is_image_file(f))
            if not found:
                raise DataError(f"Folder {p} contains no images.", "Pass image files or folders with .jpg/.png images.")
            out.extend(found)
        elif path.is_file():
            out.append(str(path))
        else:
            raise DataError(f"{p} does not exist.", "Pass existing image files or folders.")
    return out
