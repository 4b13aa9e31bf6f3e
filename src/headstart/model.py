"""TransferModel: a pretrained backbone plus a new head, with freezing-aware train mode.

Why a separate head: the classifier of the pretrained model is cut off and a new one for N
classes is trained. Keeping ``backbone`` and ``head`` apart makes feature caching (train the head
on stored backbone outputs), saving and reporting straightforward for every architecture.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .backbones.base import Backbone, LayerGroup


class TransferModel(nn.Module):
    """``head(backbone(inputs))`` with layer groups ``[*backbone groups, head]``.

    Frozen BatchNorm stays in eval mode: whenever the model is put in train mode, every BatchNorm
    layer whose parameters are all frozen is switched back to eval, so its running statistics are
    not updated by the new data (they describe the pretraining data the frozen weights expect).
    With ``batchnorm_stats = "frozen"`` every BatchNorm stays in eval mode, trainable or not
    (``--batchnorm``, params/batchnorm.py): its affine weights learn, its statistics stay pretrained.
    """

    batchnorm_stats: str = "train"  # "frozen": all BatchNorm in eval mode while training (not saved)

    def __init__(self, backbone: Backbone, head: nn.Module, classes: list[str] | None = None,
                 task: str = "single-label"):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.classes = list(classes) if classes is not None else None
        self.task = task  # "multi-label": one independent sigmoid per class (engine/objective.py)

    @property
    def data_config(self):
        return self.backbone.data_config

    def forward(self, inputs: Any) -> torch.Tensor:
        return self.head(self.backbone(inputs))

    def layer_groups(self) -> list[LayerGroup]:
        groups = [
            LayerGroup(g.name, [f"backbone.{n}" for n in g.param_names])
            for g in self.backbone.group_param_names()
            if g.param_names
        ]
        groups.append(LayerGroup("head", [f"head.{n}" for n, _ in self.head.named_parameters()]))
        return groups

    def train(self, mode: bool = True) -> "TransferModel":
        super().train(mode)
        if mode:
            set_frozen_batchnorm_eval(self)
            if self.batchnorm_stats == "frozen":
                from .params.batchnorm import freeze_batchnorm_stats

                freeze_batchnorm_stats(self)
        return self


def set_frozen_batchnorm_eval(module: nn.Module) -> int:
    """Put every BatchNorm whose affine params are all frozen in eval mode; return how many.

    A BatchNorm without affine params counts as frozen when its parent's params are all frozen.
    """
    count = 0
    for parent in module.modules():
        params = list(parent.parameters(recurse=True))
        parent_frozen = bool(params) and not any(p.requires_grad for p in params)
        for child in parent.children():
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                own = list(child.parameters(recurse=False))
                frozen = (not any(p.requires_grad for p in own)) if own else parent_frozen
                if frozen and child.training:
                    child.eval()
                    count += 1
    return count
