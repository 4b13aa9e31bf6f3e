"""The GPU JPEG path's logic, run on the CPU: what workers send, how a batch is decoded and augmented."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from headstart.backbones.data_config import DataConfig
from headstart.data.gpu_decode import EncodedImages, GpuAugment, collate_encoded, decode_images, is_encoded_batch
from headstart.data.images import read_image_rgb
from headstart.data.splits import ImageSplit

CONFIG = DataConfig(input_size=(3, 16, 16), mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3),
                    interpolation="bilinear", crop_pct=1.0)


def _images(folder: Path) -> list[tuple[str, int]]:
    rng = np.random.default_rng(0)
    items = []
    for i, (suffix, size) in enumerate([(".jpg", (20, 30)), (".png", (24, 24)), (".jpeg", (40, 18))]):
        path = folder / f"im{i}{suffix}"
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
        items.append((str(path), i % 2))
    return items


def test_workers_send_jpeg_bytes_and_decode_the_rest(tmp_path: Path) -> None:
    items = _images(tmp_path)
    dataset = EncodedImages(items)
    jpg, png = dataset[0][0], dataset[1][0]
    assert jpg.dtype == torch.uint8 and jpg.ndim == 1 and jpg.numel() == Path(items[0][0]).stat().st_size
    assert png.shape == (3, 24, 24)
    encoded, labels = collate_encoded([dataset[i] for i in range(3)])
    assert is_encoded_batch((encoded, labels)) and labels.tolist() == [0, 1, 0]
    assert not is_encoded_batch((torch.zeros(3, 3, 16, 16), labels))


def test_batched_decode_matches_the_cpu_decoder(tmp_path: Path) -> None:
    items = _images(tmp_path)
    encoded, _ = collate_encoded([EncodedImages(items)[i] for i in range(3)])
    for decoded, (path, _) in zip(decode_images(encoded, "cpu"), items):
        assert torch.equal(decoded, read_image_rgb(path))


def test_augment_crops_to_size_and_normalises_like_the_config(tmp_path: Path) -> None:
    path = tmp_path / "flat.jpg"
    Image.new("RGB", (37, 23), (200, 100, 50)).save(path, quality=100)
    encoded, _ = collate_encoded([EncodedImages([(str(path), 0)])[0]] * 4)
    x = GpuAugment(CONFIG)(encoded, "cpu")
    assert x.shape == (4, 3, 16, 16) and x.dtype == torch.float32
    expected = (torch.tensor([200, 100, 50]) / 255 - torch.tensor(CONFIG.mean)) / torch.tensor(CONFIG.std)
    torch.testing.assert_close(x.mean(dim=(0, 2, 3)), expected, atol=0.03, rtol=0)


def test_datamodule_uses_it_only_with_cuda(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from headstart.data.image_datamodule import ImageDataModule

    items = _images(tmp_path)
    split = ImageSplit(train=items, val=items[:1], classes=["a", "b"])
    assert ImageDataModule(split, CONFIG, batch_size=2, num_workers=0, gpu_decode=True).gpu_decode is False
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    dm = ImageDataModule(split, CONFIG, batch_size=2, num_workers=0, gpu_decode=True)
    monkeypatch.setattr(dm, "_loader_options", lambda: {"batch_size": 2, "num_workers": 0})
    batch = next(iter(dm.train_dataloader()))
    assert is_encoded_batch(batch)
    x, y = dm.on_after_batch_transfer(batch, 0)
    assert x.shape == (2, 3, 16, 16) and torch.equal(y, batch[1])
    plain = (torch.zeros(2, 3, 16, 16), y)
    assert dm.on_after_batch_transfer(plain, 0) is plain
