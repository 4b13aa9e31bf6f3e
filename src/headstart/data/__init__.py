"""Data pipelines: image folders / CSVs, pretrained-config transforms, Lightning data modules.

Text data lives in :mod:`headstart.data.text` (import it from there). Every name is imported on
first use, so ``headstart predict --onnx`` can list image folders (:mod:`.image_files`) without
torch, and prediction code that only needs transforms does not pay for importing Lightning.
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .image_datamodule import ImageDataModule, default_num_workers
    from .image_files import IMAGE_EXTENSIONS, is_image_file
    from .images import ImageDataset, check_image_file, load_image_dataset, pil_to_rgb, read_image_rgb
    from .splits import ImageSplit, stratified_split
    from .transforms import build_transforms, interpolation_mode

_HOME = {
    "IMAGE_EXTENSIONS": "image_files", "is_image_file": "image_files",
    "ImageDataset": "images", "check_image_file": "images", "load_image_dataset": "images",
    "pil_to_rgb": "images", "read_image_rgb": "images",
    "ImageSplit": "splits", "stratified_split": "splits",
    "build_transforms": "transforms", "interpolation_mode": "transforms",
    "ImageDataModule": "image_datamodule", "default_num_workers": "image_datamodule",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(import_module(f".{_HOME[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_HOME)
