"""A truncated JPEG among 64+ images (loader workers on) is skipped with a count, not a worker traceback."""
from __future__ import annotations

from pathlib import Path

from PIL import Image

from ..broken_files import truncated_jpeg
from .conftest import TINY


def test_truncated_jpeg_with_workers_is_skipped_and_training_finishes(cli, tmp_path: Path, no_report) -> None:
    root = tmp_path / "photos"
    for name, colour in (("ants", (200, 60, 30)), ("bees", (30, 60, 200))):
        (root / name).mkdir(parents=True)
        for i in range(35):
            Image.new("RGB", (40, 36), tuple(c + i for c in colour)).save(root / name / f"{name}_{i}.jpg")
    truncated_jpeg(root / "ants" / "cut.jpg")
    flags = [f for f in TINY if f not in ("--num-workers", "0")]
    result = cli("train", root, *flags, "--num-workers", "2", "--strategy", "fine-tune", "--epochs", "1", "--name", "w")
    assert result.code == 0, result.err[-3000:]
    assert "Traceback" not in result.err
    assert "skipped 1 unreadable image file(s): cut.jpg" in " ".join(result.out.split())
