"""Find and replace the classifier of any pretrained model, generically.

Why generic: torchvision calls it ``fc`` (ResNet, RegNet), ``classifier`` (EfficientNet,
MobileNet, DenseNet, ConvNeXt: sometimes a Sequential whose last Linear is the classifier),
``heads.head`` (ViT), ``head`` (Swin). We look for the last ``nn.Linear`` under the usual names and
fall back to the model's last Linear, so new architectures work without a table entry.
"""
from __future__ import annotations

from torch import nn

from ..errors import HeadstartError

CLASSIFIER_NAMES = ("fc", "classifier", "head", "heads", "last_linear", "top")


def find_classifier(model: nn.Module) -> tuple[str, nn.Linear]:
    """Return ``(dotted_path, linear)`` of the final classification layer."""
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    for name, module in reversed(linears):
        if name.split(".")[0] in CLASSIFIER_NAMES:
            return name, module
    if linears:
        return linears[-1]
    raise HeadstartError(
        f"Cannot find a classifier (nn.Linear) in {type(model).__name__}.",
        "Use a timm model (`timm:NAME`), whose classifier timm knows how to reset.",
    )


def replace_classifier(model: nn.Module, new: nn.Module | None = None) -> tuple[str, int]:
    """Replace the classifier in place (by ``nn.Identity`` if ``new`` is None).

    Returns ``(path, in_features)`` so a new head of the right width can be built.
    """
    path, linear = find_classifier(model)
    parent = model.get_submodule(path.rsplit(".", 1)[0]) if "." in path else model
    setattr(parent, path.rsplit(".", 1)[-1], new if new is not None else nn.Identity())
    return path, linear.in_features
