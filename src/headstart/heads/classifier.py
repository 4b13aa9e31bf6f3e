"""The new head that maps pooled backbone features to N classes.

Linear by default (the textbook feature-extraction head); ``mlp`` adds one hidden layer for
harder shifts between the pretraining and target domains. Dropout is optional for both.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from ..errors import ConfigError
from ..registry import Registry

HEADS: Registry = Registry("head")


class ClassifierHead(nn.Module):
    """``[dropout] -> [Linear -> GELU -> dropout] -> Linear(num_classes)``.

    The last layer is always ``self.fc`` so exporters and reports can find it.
    """

    def __init__(self, in_features: int, num_classes: int, hidden: int | None = None, dropout: float = 0.0):
        super().__init__()
        self.in_features = in_features
        self.num_classes = num_classes
        self.hidden_features = hidden
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        if hidden:
            self.hidden = nn.Sequential(nn.Linear(in_features, hidden), nn.GELU(), nn.Dropout(dropout) if dropout > 0 else nn.Identity())
            self.fc = nn.Linear(hidden, num_classes)
        else:
            self.hidden = nn.Identity()
            self.fc = nn.Linear(in_features, num_classes)

    def forward(self, features):
        return self.fc(self.hidden(self.drop(features)))

    def describe(self) -> dict[str, Any]:
        dropout = self.drop.p if isinstance(self.drop, nn.Dropout) else 0.0
        return {"type": "mlp" if self.hidden_features else "linear", "in_features": self.in_features,
                "hidden": self.hidden_features, "dropout": dropout, "num_classes": self.num_classes}


@HEADS.register("linear")
def linear_head(in_features: int, num_classes: int, dropout: float = 0.0, hidden: int | None = None) -> ClassifierHead:
    if hidden:
        raise ConfigError("The linear head has no hidden layer.", "Use --head mlp with --head-hidden N.")
    return ClassifierHead(in_features, num_classes, None, dropout)


@HEADS.register("mlp")
def mlp_head(in_features: int, num_classes: int, dropout: float = 0.0, hidden: int | None = None) -> ClassifierHead:
    return ClassifierHead(in_features, num_classes, hidden or max(64, in_features // 2), dropout)


def build_head(kind: str, in_features: int, num_classes: int, dropout: float = 0.0, hidden: int | None = None) -> ClassifierHead:
    """Build a registered head. ``build_head("linear", 512, 2)`` -> Linear(512, 2)."""
    if num_classes < 2:
        raise ConfigError(f"A classifier needs at least 2 classes, got {num_classes}.")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"head dropout must be in [0, 1), got {dropout}.")
    return HEADS.get(kind)(in_features, num_classes, dropout=dropout, hidden=hidden)
