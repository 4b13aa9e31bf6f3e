"""Image transforms built from a backbone's pretrained :class:`DataConfig`.

Why: the weights decide the input size, the resize interpolation and the normalisation. Building
the pipeline from the config (never from hand-typed ImageNet numbers) means a model trained with
mean = std = 0.5 at 240 px bicubic gets exactly that, in training, evaluation and prediction.
"""
from __future__ import annotations

import torch
from torchvision.transforms import InterpolationMode, v2

from ..backbones.data_config import DataConfig
from ..errors import ConfigError

INTERPOLATIONS: dict[str, InterpolationMode] = {
    "bilinear": InterpolationMode.BILINEAR,
    "bicubic": InterpolationMode.BICUBIC,
    "nearest": InterpolationMode.NEAREST,
}


def interpolation_mode(name: str) -> InterpolationMode:
    """Torchvision mode for a config interpolation name (``bilinear``/``bicubic``/``nearest``)."""
    mode = INTERPOLATIONS.get(str(name).strip().lower())
    if mode is None:
        raise ConfigError(
            f"data_config.interpolation '{name}' is not supported; use one of "
            f"{', '.join(INTERPOLATIONS)}."
        )
    return mode


def _check_image_config(data_config: DataConfig) -> None:
    if data_config.modality != "image":
        raise ConfigError(
            f"data_config.modality is '{data_config.modality}': image transforms need an image "
            "backbone's data config."
        )
    channels = int(data_config.input_size[0])
    if len(data_config.mean) != channels or len(data_config.std) != channels:
        raise ConfigError(
            f"data_config mean {tuple(data_config.mean)} / std {tuple(data_config.std)} must have "
            f"one value per input channel ({channels}); fix the backbone's data config."
        )


def build_transforms(data_config: DataConfig, train: bool) -> v2.Compose:
    """Train or eval pipeline: uint8 ``[3,H,W]`` tensor or PIL image -> normalised float tensor.

    Train: ``RandomResizedCrop(image_size)`` + horizontal flip (light augmentation that suits
    fine-tuning of natural-image backbones). Eval: resize the shorter side to
    ``data_config.resize_size`` (= image size / crop_pct) and centre-crop ``image_size``, the way
    the weights were evaluated. Both end with ``Normalize(mean, std)`` from the config.

    Example::

        tf = build_transforms(backbone.data_config, train=False)
        x = tf(read_image_rgb("bee.jpg"))      # float [3, 224, 224]
    """
    _check_image_config(data_config)
    size = data_config.image_size
    interpolation = interpolation_mode(data_config.interpolation)
    if train:
        geometry = [
            v2.RandomResizedCrop(size, interpolation=interpolation, antialias=True),
            v2.RandomHorizontalFlip(),
        ]
    else:
        geometry = [
            v2.Resize(data_config.resize_size, interpolation=interpolation, antialias=True),
            v2.CenterCrop(size),
        ]
    return v2.Compose([
        v2.ToImage(),
        *geometry,
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(mean=list(data_config.mean), std=list(data_config.std)),
    ])
