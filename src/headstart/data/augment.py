"""Training augmentation by name, mixup/cutmix, and a user's own transform.

Names (``--augment``), all torchvision v2 on the decoded ``uint8`` image, before normalisation:

- ``none``: the eval pipeline (resize, centre crop): no randomness at all.
- ``light`` (default): random resized crop + horizontal flip.
- ``trivial``: light + TrivialAugmentWide (one random op at a random strength per image; no knobs).
- ``randaugment``: light + RandAugment (2 ops, magnitude 9, the paper's ImageNet setting).

The training transform is also what ``--cache-augment K`` draws its K cached views from.

Mixup / cutmix (``--mixup A --cutmix B``, Beta-distribution alphas) go through timm's ``Mixup``,
which mixes a batch and returns soft targets; the loss is then timm's ``SoftTargetCrossEntropy``. They
apply to phases that see images (not to heads trained on cached features, which are solved);
images only.

A custom transform is any callable from a decoded ``uint8 [3, H, W]`` tensor to the model's input
tensor, passed to ``train_run(config, train_transform=...)``. It cannot live in ``config.yaml``;
its ``repr`` is recorded in ``model.json`` so a run still says what it trained with.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torchvision.transforms import v2

from ..backbones.data_config import DataConfig
from ..errors import ConfigError
from .transforms import build_transforms, interpolation_mode

AUGMENTS = ("none", "light", "trivial", "randaugment")


def train_transform(data_config: DataConfig, name: str = "light") -> v2.Compose:
    """The training pipeline for augmentation ``name`` (see the module docstring)."""
    if name not in AUGMENTS:
        raise ConfigError(f"augment={name!r} is not known: use one of {', '.join(AUGMENTS)}.")
    if name == "none":
        return build_transforms(data_config, train=False)
    light = build_transforms(data_config, train=True)
    if name == "light":
        return light
    # the policies rotate/shear tensors, which torchvision resamples only with nearest or bilinear:
    # a bicubic config (timm's default for many weights) gets bilinear for these ops only
    interpolation = interpolation_mode("nearest" if data_config.interpolation == "nearest" else "bilinear")
    policy = (v2.TrivialAugmentWide(interpolation=interpolation) if name == "trivial"
              else v2.RandAugment(num_ops=2, magnitude=9, interpolation=interpolation))
    steps = list(light.transforms)
    # after the geometry (crop + flip), before the float conversion: the policies work on uint8 images
    at = next(i for i, t in enumerate(steps) if isinstance(t, v2.ToDtype))
    return v2.Compose(steps[:at] + [policy] + steps[at:])


def describe_augment(name: str, custom: Callable | None, mixup: float, cutmix: float) -> dict[str, Any]:
    """What the run trained with, for ``model.json`` (a custom transform by its repr)."""
    return {"name": "custom" if custom is not None else name, "custom": repr(custom) if custom is not None else None,
            "mixup": mixup, "cutmix": cutmix}


class BatchMixer:
    """timm's ``Mixup`` with an even-sized batch (it needs pairs): an odd batch drops its last item."""

    def __init__(self, num_classes: int, mixup: float = 0.0, cutmix: float = 0.0, label_smoothing: float = 0.0):
        from timm.data import Mixup

        if mixup < 0 or cutmix < 0:
            raise ConfigError(f"mixup={mixup}, cutmix={cutmix}: alphas must be >= 0 (0 turns one off).")
        self.mix = Mixup(mixup_alpha=mixup, cutmix_alpha=cutmix, label_smoothing=label_smoothing, num_classes=num_classes)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[0] % 2:
            x, y = x[:-1], y[:-1]
        return self.mix(x, y)

