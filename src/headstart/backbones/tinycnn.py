"""``tinycnn``: a four-layer CNN for smoke tests, demos of the API and pretraining experiments.

Why ship it: tests must prove transfer learning works without downloads, so they pretrain this
model on a synthetic source task, save it, and load it back as a local-weights backbone.
It has no ImageNet weights: ``weights`` is ``none`` or a local file.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..backbone_catalog import NAMED
from ..errors import WeightsError
from .base import Backbone, LayerGroup
from .data_config import DataConfig
from .registry import BackboneEntry, register_backbone
from .weights_file import apply_state_dict, read_state_dict


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True), nn.MaxPool2d(2))


class TinyCNN(Backbone):
    def __init__(self, weights: str = "none", width: int = 16, image_size: int = 32):
        super().__init__("tinycnn", "headstart", {"options": {"width": width, "image_size": image_size}})
        if weights == "imagenet":
            raise WeightsError("tinycnn has no ImageNet weights.",
                               "Use --weights none, or a file saved from an earlier run (model.safetensors).")
        w = width
        self.model = nn.Sequential()
        self.model.add_module("stem", _block(3, w))
        self.model.add_module("block1", _block(w, 2 * w))
        self.model.add_module("block2", _block(2 * w, 4 * w))
        self.model.add_module("block3", nn.Sequential(nn.Conv2d(4 * w, 4 * w, 3, padding=1, bias=False), nn.BatchNorm2d(4 * w), nn.ReLU(inplace=True)))
        self.model.add_module("pool", nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()))
        self.num_features = 4 * w
        self.data_config = DataConfig(input_size=(3, image_size, image_size), mean=(0.5, 0.5, 0.5),
                                      std=(0.25, 0.25, 0.25), interpolation="bilinear", crop_pct=1.0)
        self.load_report = None
        if weights != "none":
            self.load_report = apply_state_dict(self.model, read_state_dict(weights), weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def group_param_names(self) -> list[LayerGroup]:
        return [LayerGroup(name, [f"model.{name}.{p}" for p, _ in child.named_parameters()])
                for name, child in self.model.named_children() if any(True for _ in child.parameters())]


def _build(weights: str = "none", **options: Any) -> Backbone:
    return TinyCNN(weights="none" if weights is None else weights, **options)


register_backbone(BackboneEntry(build=_build, **NAMED["tinycnn"].fields()))
