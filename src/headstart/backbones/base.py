"""The one backbone contract every source (torchvision, timm, Hugging Face, ours) is adapted to.

A :class:`Backbone` maps inputs to pooled features ``[batch, num_features]``; it has no classifier.
It knows its pretrained :class:`DataConfig` and how to split its parameters into ordered layer
groups (input -> output). Nothing downstream checks which library a model came from.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from .data_config import DataConfig


@dataclass
class LayerGroup:
    """A named, ordered slice of the model's parameters (``stem``, ``layer3``, ``head`` ...)."""

    name: str
    param_names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.param_names)


class Backbone(nn.Module):
    """Base class for adapted backbones.

    Subclasses set ``self.model``, ``self.num_features`` and ``self.data_config`` and may override
    :meth:`group_param_names`. ``spec`` records how to rebuild the architecture (name, source,
    options) without weights, which is what a run folder stores.
    """

    num_features: int
    data_config: DataConfig

    def __init__(self, name: str, source: str, spec: dict[str, Any] | None = None):
        super().__init__()
        self.name = name
        self.source = source
        self.spec: dict[str, Any] = {"name": name, "source": source, **(spec or {})}

    def forward(self, inputs: Any):  # pragma: no cover - abstract
        raise NotImplementedError

    def group_param_names(self) -> list[LayerGroup]:
        """Ordered groups of parameter names relative to this module (default: generic rule)."""
        from ..params.groups import generic_layer_groups

        return generic_layer_groups(self)
