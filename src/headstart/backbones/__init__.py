"""Backbones by name: ``create_backbone("torchvision:resnet50")``, ``create_backbone("efficientnet_lite0")``.

Importing this package registers every source and named backbone.
"""
from . import efficientnet_lite0, timm_source, tinycnn, torchvision_source  # noqa: F401  (registration)
from .base import Backbone, LayerGroup
from .data_config import DataConfig
from .registry import BACKBONES, SOURCES, BackboneEntry, SourceEntry, create_backbone, resolve

import importlib.util

if importlib.util.find_spec("transformers") is not None:  # text backbones need transformers
    from . import hf_text  # noqa: F401

__all__ = ["Backbone", "LayerGroup", "DataConfig", "BACKBONES", "SOURCES", "BackboneEntry",
           "SourceEntry", "create_backbone", "resolve"]
