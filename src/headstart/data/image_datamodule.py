"""The Lightning data module for image classification.

Why: Lightning owns the loops; this module owns what they iterate over. It wires an
:class:`ImageSplit` to datasets with the backbone's transforms and sizes the loaders to the
machine (no worker processes for a handful of images, a few workers otherwise, pinned memory only
when a GPU will consume the batches), with a seeded shuffle so two runs see the same order.
"""
from __future__ import annotations

import os

import lightning as L
import torch
from torch.utils.data import DataLoader

from ..backbones.data_config import DataConfig
from ..errors import ConfigError
from .images import ImageDataset
from .samplers import eval_sampler
from .seeded_shuffle import SeededShuffle
from .splits import ImageSplit
from .transforms import build_transforms

SMALL_DATASET = 64  # below this many images, worker start-up costs more than decoding
MAX_WORKERS = 4


def default_num_workers(num_images: int) -> int:
    """Loader workers for a dataset of ``num_images``: 0 when tiny, else up to 4, leaving a core."""
    if num_images < SMALL_DATASET:
        return 0
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS / Windows
        cpus = os.cpu_count() or 1
    return max(0, min(MAX_WORKERS, cpus - 1))


class ImageDataModule(L.LightningDataModule):
    """Train/val loaders for an :class:`ImageSplit`, preprocessed per the backbone's data config.

    ``num_workers=None`` picks :func:`default_num_workers`. ``gpu_decode=True`` decodes and
    augments the training JPEGs on the GPU when one is used (:mod:`headstart.data.gpu_decode`);
    without CUDA it changes nothing. The training loader shuffles with a
    generator seeded by ``seed`` and drops the last partial batch only when the training set is
    larger than one batch (a single-image batch breaks BatchNorm; a set smaller than a batch must
    still yield one).

    Example::

        dm = ImageDataModule(load_image_dataset("examples/ants_bees"), backbone.data_config)
        x, y = next(iter(dm.train_dataloader()))   # [32, 3, 224, 224], [32]
    """

    def __init__(
        self,
        split: ImageSplit,
        data_config: DataConfig,
        batch_size: int = 32,
        num_workers: int | None = None,
        seed: int = 0,
        gpu_decode: bool = False,
    ):
        super().__init__()
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size={batch_size!r}: use a positive whole number (e.g. 32).")
        if num_workers is not None and (not isinstance(num_workers, int) or num_workers < 0):
            raise ConfigError(
                f"num_workers={num_workers!r}: use 0 or more, or leave it unset to size it to "
                "the machine."
            )
        self.split = split
        self.data_config = data_config
        self.batch_size = batch_size
        self.seed = seed
        self.classes: list[str] = list(split.classes)
        self.num_classes = len(self.classes)
        self.train_dataset = ImageDataset(split.train, build_transforms(data_config, train=True))
        self.val_dataset = ImageDataset(split.val, build_transforms(data_config, train=False))
        self.num_workers = (
            default_num_workers(len(split.train) + len(split.val))
            if num_workers is None else num_workers
        )
        # One generator for the module's lifetime: successive fits (phases) continue the same
        # seeded stream instead of replaying epoch 0's order.
        self._generator = torch.Generator().manual_seed(seed)
        self.gpu_decode = bool(gpu_decode) and torch.cuda.is_available()
        self._gpu_augment = None

    def class_counts(self) -> dict[str, int]:
        """Training images per class name, in class order (for class weights or reports)."""
        return self.split.class_counts("train")

    def _loader_options(self) -> dict:
        return {
            "batch_size": self.batch_size,
            "num_workers": self.num_workers,
            "persistent_workers": self.num_workers > 0,
            "pin_memory": torch.cuda.is_available(),
        }

    def train_dataloader(self) -> DataLoader:
        if self.gpu_decode:
            from .gpu_decode import EncodedImages, collate_encoded

            return DataLoader(EncodedImages(self.split.train), shuffle=True, generator=self._generator,
                              drop_last=len(self.train_dataset) > self.batch_size, collate_fn=collate_encoded,
                              **self._loader_options())
        return DataLoader(
            self.train_dataset,
            sampler=SeededShuffle(len(self.train_dataset), self._generator),  # order + per-item augmentation seeds
            drop_last=len(self.train_dataset) > self.batch_size,
            **self._loader_options(),
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_dataset, shuffle=False, sampler=eval_sampler(self.val_dataset, self.trainer),
                          **self._loader_options())

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """With ``gpu_decode``: decode and augment a training batch where it now lives (the GPU)."""
        from .gpu_decode import GpuAugment, is_encoded_batch

        if not is_encoded_batch(batch):
            return batch
        if self._gpu_augment is None:
            self._gpu_augment = GpuAugment(self.data_config)
        encoded, labels = batch
        return self._gpu_augment(encoded, labels.device), labels
