"""Data pipelines: image folders / CSVs, pretrained-config transforms, Lightning data modules.

Text data lives in :mod:`headstart.data.text` (import it from there). The Lightning data module
is imported on first use, so prediction and serving code that only needs transforms and decoding
does not pay for importing Lightning.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .images import (
    IMAGE_EXTENSIONS,
    ImageDataset,
    check_image_file,
    is_image_file,
    load_image_dataset,
    pil_to_rgb,
    read_image_rgb,
)
from .splits import ImageSplit, stratified_split
from .transforms import build_transforms, interpolation_mode

if TYPE_CHECKING:
    from .image_datamodule import ImageDataModule, default_num_workers

_LAZY = {"ImageDataModule", "default_num_workers"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import image_datamodule

        return getattr(image_datamodule, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageDataModule",
    "ImageDataset",
    "ImageSplit",
    "build_transforms",
    "check_image_file",
    "default_num_workers",
    "interpolation_mode",
    "is_image_file",
    "load_image_dataset",
    "pil_to_rgb",
    "read_image_rgb",
    "stratified_split",
]
