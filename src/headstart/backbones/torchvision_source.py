"""torchvision classification models as backbones (``torchvision:resnet50``).

``weights="imagenet"`` takes the weights enum's ``DEFAULT`` (e.g. ``ResNet50_Weights.IMAGENET1K_V2``)
and the data config from the same enum's transforms, so the pipeline matches the weights.
"""
from __future__ import annotations

import fnmatch
import os
from functools import lru_cache
from typing import Any

import torch
import torchvision
from torch import nn

from ..heads.replace import replace_classifier
from ..backbone_catalog import SOURCE_DESCRIPTIONS
from .base import Backbone
from .data_config import DataConfig
from .offline import offline_error
from .registry import SourceEntry, register_source
from .weights_file import apply_state_dict, read_state_dict


@lru_cache(maxsize=1)
def _classification_models() -> tuple[str, ...]:
    return tuple(torchvision.models.list_models(module=torchvision.models))


def _data_config_from_weights(weights: Any) -> DataConfig:
    t = weights.transforms()
    crop = int(t.crop_size[0])
    resize = int(t.resize_size[0])
    return DataConfig(
        input_size=(3, crop, crop),
        mean=tuple(float(x) for x in t.mean),
        std=tuple(float(x) for x in t.std),
        interpolation=t.interpolation.value,
        crop_pct=crop / resize,
    )


def _weights_cache_path(weights: Any) -> str:
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url))


class TorchvisionBackbone(Backbone):
    """A torchvision model whose classifier is replaced by ``Identity``: it outputs pooled features."""

    def __init__(self, model_name: str, weights: str = "imagenet"):
        super().__init__(f"torchvision:{model_name}", "torchvision", {"model_name": model_name})
        enum = torchvision.models.get_model_weights(model_name)
        default = enum.DEFAULT
        model = torchvision.models.get_model(model_name, weights=None)
        if weights == "imagenet":
            try:
                state = default.get_state_dict(progress=False, check_hash=False)
            except Exception as exc:  # urllib / OSError / hash errors all mean "could not fetch"
                raise offline_error(self.name, _weights_cache_path(default), exc) from None
            model.load_state_dict(state)
        self.classifier_path, self.num_features = replace_classifier(model)
        self.model = model
        self.load_report = None
        if weights not in ("imagenet", "none"):
            self.load_report = apply_state_dict(self.model, read_state_dict(weights), weights)
        self.data_config = _data_config_from_weights(default)
        if getattr(model, "aux_logits", False):
            model.aux_logits = False
            for aux in ("AuxLogits", "aux1", "aux2"):
                if hasattr(model, aux):
                    setattr(model, aux, None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        if not isinstance(out, torch.Tensor):  # e.g. InceptionOutputs in train mode
            out = out[0]
        return out.flatten(1)


def _build(model_name: str, weights: str = "imagenet", **options: Any) -> Backbone:
    if options:
        raise TypeError(f"torchvision backbones take no options, got {sorted(options)}")
    return TorchvisionBackbone(model_name, weights)


def _offline(model_name: str) -> bool:
    try:
        return os.path.isfile(_weights_cache_path(torchvision.models.get_model_weights(model_name).DEFAULT))
    except Exception:
        return False


register_source(
    SourceEntry(
        prefix="torchvision",
        build=_build,
        has_model=lambda name: name in _classification_models(),
        list_models=lambda pattern="*": [m for m in _classification_models() if fnmatch.fnmatch(m, pattern)],
        description=SOURCE_DESCRIPTIONS["torchvision"],
    )
)
offline_weights_available = _offline
