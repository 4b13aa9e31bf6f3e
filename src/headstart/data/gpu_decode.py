"""JPEG decoding and training augmentation on the GPU, for when CPU decoding cannot keep up.

Why: on a GPU a ResNet-50 trains on more images per second than a few CPU cores can decode and
augment; the loader, not the model, then sets the pace. Here loader workers only read the file
bytes (cheap), and after Lightning moves the batch to the GPU, ``torchvision.io.decode_jpeg``
(nvJPEG) decodes the whole batch there and the training augmentation (random resized crop, flip)
and normalisation run on GPU tensors. Non-JPEG files (PNG, WebP ...) are decoded by the workers as
before and only augmented on the GPU.

It changes only the training loader of :class:`~headstart.data.image_datamodule.ImageDataModule`
with ``gpu_decode=True`` (config ``gpu_decode: true``) on a CUDA device; validation, the feature
cache and every CPU run keep the CPU pipeline. The same code runs on the CPU (``device="cpu"``),
which is how its logic is tested without a GPU.

Example::

    loader = DataLoader(EncodedImages(split.train), batch_size=64, collate_fn=collate_encoded, num_workers=4)
    augment = GpuAugment(data_config)
    for encoded, labels in loader:
        x = augment([t.cuda(non_blocking=True) for t in encoded], "cuda")   # float [64, 3, 224, 224]
"""
from __future__ import annotations

import os
import warnings
from typing import Sequence

import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2

from ..backbones.data_config import DataConfig
from .images import read_image_rgb
from .transforms import interpolation_mode

JPEG_SUFFIXES = (".jpg", ".jpeg")


class EncodedImages(Dataset):
    """``(path, label)`` items as ``(bytes or pixels, label)``: a JPEG's file bytes as a 1-D uint8
    tensor (decoded later, on the GPU), any other image decoded to uint8 ``[3, H, W]`` here."""

    def __init__(self, items: Sequence[tuple[str, int]]):
        self.items = list(items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.items[index]
        if os.path.splitext(path)[1].lower() in JPEG_SUFFIXES:
            from torchvision.io import read_file

            return read_file(path), label
        return read_image_rgb(path), label


def collate_encoded(samples: list[tuple[torch.Tensor, int]]) -> tuple[list[torch.Tensor], torch.Tensor]:
    """A batch as ``(list of per-image tensors, labels)``: the images differ in size, so no stack."""
    return [s[0] for s in samples], torch.tensor([s[1] for s in samples])


def is_encoded_batch(batch: object) -> bool:
    """True for a batch made by :func:`collate_encoded` (its images are a list, not one tensor)."""
    return isinstance(batch, (tuple, list)) and len(batch) == 2 and isinstance(batch[0], list)


def decode_images(encoded: list[torch.Tensor], device: torch.device | str) -> list[torch.Tensor]:
    """uint8 ``[3, H, W]`` images on ``device``: JPEG bytes decoded there in one batched call.

    A JPEG that the batched decoder refuses (e.g. CMYK on nvJPEG) is decoded alone on the CPU
    instead, so one odd file does not fail the batch.
    """
    from torchvision.io import ImageReadMode, decode_image, decode_jpeg

    out = [t if t.ndim == 3 else None for t in encoded]
    jpegs = [i for i, t in enumerate(encoded) if t.ndim == 1]
    if jpegs:
        with warnings.catch_warnings():  # torchvision 0.29 deprecates its decoders per call
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                decoded = decode_jpeg([encoded[i] for i in jpegs], mode=ImageReadMode.RGB,
                                      apply_exif_orientation=True, device=device)
            except RuntimeError:
                decoded = [decode_image(encoded[i].cpu(), mode=ImageReadMode.RGB, apply_exif_orientation=True)
                           for i in jpegs]
        for i, image in zip(jpegs, decoded):
            out[i] = image
    return [image.to(device, non_blocking=True) for image in out]


class GpuAugment:
    """The training transform of :func:`~headstart.data.transforms.build_transforms` on decoded
    uint8 tensors wherever they live: random resized crop, horizontal flip, then normalise."""

    def __init__(self, data_config: DataConfig):
        size = data_config.image_size
        self.geometry = v2.Compose([
            v2.RandomResizedCrop(size, interpolation=interpolation_mode(data_config.interpolation), antialias=True),
            v2.RandomHorizontalFlip(),
        ])
        self.mean = torch.tensor(data_config.mean).view(1, -1, 1, 1)
        self.std = torch.tensor(data_config.std).view(1, -1, 1, 1)

    def __call__(self, encoded: list[torch.Tensor], device: torch.device | str) -> torch.Tensor:
        """float ``[B, 3, size, size]`` on ``device`` from a batch of :class:`EncodedImages`."""
        images = decode_images(encoded, device)
        x = torch.stack([self.geometry(image) for image in images]).float().div_(255)
        return (x - self.mean.to(x.device)) / self.std.to(x.device)
