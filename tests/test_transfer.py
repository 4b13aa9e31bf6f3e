"""Transfer learning works: features pretrained on a data-rich source task help a data-poor target task.

SOURCE task (plenty of data): 8 classes of 32 px images, each one textured primitive (stripes at
four orientations, checkerboard, rings, dots, a disk) with random colours, scale, phase, position and
pixel noise. ``tinycnn`` is pretrained on it with a plain PyTorch loop and saved as a TransferModel
state dict (``.safetensors``), the way a run folder stores it.

TARGET task (little data, new classes): each image shows TWO primitives, one per half (left/right or
top/bottom, in either order); the class is the pair. 5 classes x 10 training images. A new model is
built with ``create_backbone("tinycnn", weights=<the file>)`` and fine-tuned with headstart's engine;
the same architecture from random init gets exactly the same plan (steps, LRs, seed, data). On a
held-out target test set, averaged over two seeds, the pretrained model must win by >= 10 points.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch.utils.data import DataLoader, TensorDataset

from headstart.backbones import create_backbone
from headstart.engine.fit import EngineOptions, fit_plan
from headstart.heads import build_head
from headstart.model import TransferModel
from headstart.strategies import StrategyOptions, plan_for

SIZE = 32
SOURCE_CLASSES = ["stripes0", "stripes45", "stripes90", "stripes135", "checker", "rings", "dots", "disk"]
TARGET_CLASSES = [("stripes0", "stripes90"), ("stripes45", "stripes135"), ("checker", "dots"),
                  ("rings", "disk"), ("stripes0", "checker")]
TRAIN_PER_CLASS, VAL_PER_CLASS, TEST_PER_CLASS = 10, 6, 40
SEEDS = (0, 1)
MARGIN = 0.10
WIDTH = 8  # tinycnn channels: small enough to pretrain in seconds on two CPU cores


# --- synthetic images ------------------------------------------------------------------------------

def _mask(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``[n, SIZE, SIZE]`` binary masks of one primitive with random scale, phase and position."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    yy, xx = yy[None], xx[None]

    def u(lo: float, hi: float) -> np.ndarray:
        return rng.uniform(lo, hi, (n, 1, 1)).astype(np.float32)

    if kind.startswith("stripes"):
        angle = math.radians(float(kind[len("stripes"):])) + u(-0.12, 0.12)
        proj = xx * np.cos(angle) + yy * np.sin(angle)
        return np.sin(2 * np.pi * proj / u(5, 9) + u(0, 2 * np.pi)) > 0
    if kind == "checker":
        cell = u(3, 7)
        return ((np.floor((xx + u(0, 8)) / cell) + np.floor((yy + u(0, 8)) / cell)) % 2) > 0
    if kind == "rings":
        r = np.hypot(xx - u(4, 28), yy - u(4, 28))
        return np.sin(2 * np.pi * r / u(5, 8) + u(0, 2 * np.pi)) > 0
    if kind == "dots":
        spacing, ox, oy = u(6, 9), u(0, 9), u(0, 9)
        dx = np.mod(xx + ox, spacing) - spacing / 2
        dy = np.mod(yy + oy, spacing) - spacing / 2
        return dx ** 2 + dy ** 2 < (spacing * u(0.22, 0.32)) ** 2
    if kind == "disk":
        return np.hypot(xx - u(10, 22), yy - u(10, 22)) < u(6, 11)
    raise ValueError(kind)


def _paint(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random foreground/background colours (with contrast) + pixel noise -> ``[n, 3, SIZE, SIZE]``."""
    n = mask.shape[0]
    dark = rng.uniform(0.0, 0.45, (n, 3, 1, 1))
    light = rng.uniform(0.55, 1.0, (n, 3, 1, 1))
    swap = rng.random((n, 1, 1, 1)) < 0.5
    fg, bg = np.where(swap, dark, light), np.where(swap, light, dark)
    m = mask[:, None].astype(np.float32)
    image = fg * m + bg * (1 - m) + rng.normal(0, 0.08, (n, 3, SIZE, SIZE))
    return np.clip(image, 0, 1).astype(np.float32)


def source_images(per_class: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    images = [_paint(_mask(kind, per_class, rng), rng) for kind in SOURCE_CLASSES]
    labels = np.repeat(np.arange(len(SOURCE_CLASSES)), per_class)
    return np.concatenate(images), labels


def target_images(per_class: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two primitives per image, one in each half; the halves are left/right or top/bottom, either order."""
    half = np.zeros((SIZE, SIZE), dtype=bool)
    half[:, : SIZE // 2] = True
    images = []
    for a, b in TARGET_CLASSES:
        first, second = _mask(a, per_class, rng), _mask(b, per_class, rng)
        region = np.stack([half if rng.random() < 0.5 else half.T for _ in range(per_class)])
        region ^= rng.random((per_class, 1, 1)) < 0.5  # which primitive gets which half
        images.append(_paint(np.where(region, first, second), rng))
    labels = np.repeat(np.arange(len(TARGET_CLASSES)), per_class)
    return np.concatenate(images), labels


def _tensors(images: np.ndarray, labels: np.ndarray, data_config) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalise with the backbone's own data config (mean/std), like the real pipeline does."""
    mean = torch.tensor(data_config.mean).view(1, 3, 1, 1)
    std = torch.tensor(data_config.std).view(1, 3, 1, 1)
    return (torch.from_numpy(images) - mean) / std, torch.from_numpy(labels).long()


class InMemoryData(L.LightningDataModule):
    """Train/val loaders over tensors; the training shuffle is seeded."""

    def __init__(self, train: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor],
                 batch_size: int, seed: int):
        super().__init__()
        self.train, self.val, self.batch_size, self.seed = train, val, batch_size, seed

    def train_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(*self.train), batch_size=self.batch_size, shuffle=True,
                          generator=torch.Generator().manual_seed(self.seed))

    def val_dataloader(self) -> DataLoader:
        return DataLoader(TensorDataset(*self.val), batch_size=256)


# --- the experiment --------------------------------------------------------------------------------

@torch.no_grad()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return float((model(x).argmax(1) == y).float().mean())


@pytest.fixture(scope="module")
def pretrained_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """Pretrain tinycnn on the source task; returns the saved TransferModel file and source accuracy."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    backbone = create_backbone("tinycnn", weights="none", width=WIDTH)
    model = TransferModel(backbone, build_head("linear", backbone.num_features, len(SOURCE_CLASSES)), SOURCE_CLASSES)
    x, y = _tensors(*source_images(400, rng), backbone.data_config)
    x_test, y_test = _tensors(*source_images(50, rng), backbone.data_config)
    steps, batch = 150, 32
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps)
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(steps):
        index = torch.randint(0, len(x), (batch,), generator=gen)
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x[index]), y[index]).backward()
        optimizer.step()
        schedule.step()
    path = tmp_path_factory.mktemp("pretrained") / "model.safetensors"
    save_file(model.state_dict(), str(path))
    return path, accuracy(model, x_test, y_test)


def _fine_tune(weights: str, seed: int, data: dict, run_dir: Path) -> float:
    torch.manual_seed(seed)  # same head initialisation for both arms
    backbone = create_backbone("tinycnn", weights=weights, width=WIDTH)
    classes = ["+".join(pair) for pair in TARGET_CLASSES]
    model = TransferModel(backbone, build_head("linear", backbone.num_features, len(classes)), classes)
    plan = plan_for("fine-tune", StrategyOptions(epochs=12, lr=1e-3, layer_decay=1.0), len(model.layer_groups()))
    datamodule = InMemoryData(data["train"], data["val"], batch_size=10, seed=seed)
    history = fit_plan(model, datamodule, plan, run_dir, EngineOptions(accelerator="cpu", precision="32-true", seed=seed, progress_bar=False))
    assert [row["phase"] for row in history] == ["finetune"] * 12
    return accuracy(model, *data["test"])


def test_pretrained_backbone_beats_scratch_on_a_small_target_task(pretrained_file, tmp_path: Path) -> None:
    path, source_accuracy = pretrained_file
    assert source_accuracy > 0.9, f"pretraining did not learn the source task ({source_accuracy:.2f})"
    loaded = create_backbone("tinycnn", weights=str(path), width=WIDTH)
    assert loaded.load_report.loaded == len(loaded.model.state_dict())
    assert "ignored 2 unused" in loaded.load_report.summary()  # the source head

    start = time.perf_counter()
    pretrained, scratch = [], []
    for seed in SEEDS:
        rng = np.random.default_rng(100 + seed)
        config = loaded.data_config
        data = {"train": _tensors(*target_images(TRAIN_PER_CLASS, rng), config),
                "val": _tensors(*target_images(VAL_PER_CLASS, rng), config),
                "test": _tensors(*target_images(TEST_PER_CLASS, rng), config)}
        pretrained.append(_fine_tune(str(path), seed, data, tmp_path / f"pretrained{seed}"))
        scratch.append(_fine_tune("none", seed, data, tmp_path / f"scratch{seed}"))
    gain = float(np.mean(pretrained) - np.mean(scratch))
    print(f"\ntarget test accuracy: pretrained {pretrained}, scratch {scratch}, gain {gain:+.3f}, "
          f"source accuracy {source_accuracy:.3f}, fine-tuning {time.perf_counter() - start:.1f}s")
    assert gain >= MARGIN, f"pretrained {pretrained} vs scratch {scratch}: gain {gain:.3f} < {MARGIN}"
    assert min(pretrained) > 1 / len(TARGET_CLASSES) + 0.3, "the pretrained model should clearly learn the target task"
