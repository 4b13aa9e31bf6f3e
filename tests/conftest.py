"""Shared fixtures: small, generic, fast. Test-specific data lives next to its tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """The read-only real data: ``../shared/data`` next to the repo (CI), else ``/work/shared/data``."""
    for candidate in (REPO_ROOT.parent / "shared" / "data", Path("/work/shared/data")):
        if candidate.is_dir():
            return candidate
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the shared real data; skips the test (saying where it looked) when it is absent."""
    found = shared_data_dir()
    if found is None:
        pytest.skip(f"real data not found at {REPO_ROOT.parent / 'shared' / 'data'} or /work/shared/data")
    return found


@pytest.fixture
def tiny_image_folder(tmp_path: Path) -> Path:
    """``root/<class>/*.png``: 2 classes (``cats``, ``dogs``) x 6 images of 40x32 px, distinct colours
    per class plus noise, so a model can tell them apart."""
    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    for c, (name, colour) in enumerate((("cats", (200, 60, 40)), ("dogs", (40, 80, 210)))):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(6):
            pixels = np.clip(np.array(colour) + rng.normal(0, 25, (32, 40, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{name}_{i}.png")
    return root


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``gpu`` need CUDA: without it they are skipped, not failed (see bench/device_check.sh)."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if not gpu_items:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (run bench/device_check.sh on a GPU machine)")
    for item in gpu_items:
        item.add_marker(skip)
