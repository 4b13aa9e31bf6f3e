"""The backbone contract across architectures and sources (random init, tiny inputs).

For each model: the old classifier is gone (features of width ``num_features`` come out), a new
3-class head fits on top, and the layer groups partition the parameters in input -> output order.
"""
from __future__ import annotations

import pytest
import torch

from headstart.backbones import create_backbone
from headstart.heads import build_head
from headstart.model import TransferModel

ARCHITECTURES = [
    "torchvision:resnet18",
    "torchvision:efficientnet_b0",
    "torchvision:mobilenet_v3_small",
    "torchvision:convnext_tiny",
    "torchvision:vit_b_16",
    "torchvision:densenet121",
    "torchvision:regnet_y_400mf",
    "timm:resnet18",
    "timm:efficientnet_b0",
    "timm:mobilenetv3_small_050",
    "timm:convnext_atto",
    "timm:vit_tiny_patch16_224",
    "timm:densenet121",
    "timm:regnetx_002",
    "efficientnet_lite0",
    "tinycnn",
]


def _input_for(name: str) -> torch.Tensor:
    """ViTs need their native 224 px (one image); convnets run on 2 images of 32 px."""
    torch.manual_seed(0)
    if "vit" in name:
        return torch.randn(1, 3, 224, 224)
    return torch.randn(2, 3, 32, 32)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_head_replacement_and_layer_groups(name: str) -> None:
    backbone = create_backbone(name, weights="none")
    model = TransferModel(backbone, build_head("linear", backbone.num_features, 3), ["a", "b", "c"]).eval()

    # The old classifier is gone: the backbone emits pooled features, the new head maps them to 3.
    x = _input_for(name)
    seen: list[torch.Tensor] = []
    backbone.register_forward_hook(lambda module, args, out: seen.append(out))
    with torch.no_grad():
        logits = model(x)  # one forward: big models at 224 px are slow on CPU
    features = seen[0]
    assert features.shape == (x.shape[0], backbone.num_features)
    assert logits.shape == (x.shape[0], 3)
    assert model.head.fc.in_features == backbone.num_features
    assert not any(n.endswith(("fc.weight", "classifier.weight")) and p.shape[0] == 1000
                   for n, p in backbone.named_parameters()), "an ImageNet classifier survived"

    # Layer groups: a partition of all parameters, ordered input -> output, head last.
    groups = model.layer_groups()
    names = [g.name for g in groups]
    order = [n for n, _ in model.named_parameters()]
    grouped = [p for g in groups for p in g.param_names]
    assert sorted(grouped) == sorted(order), "every parameter must be in a group"
    assert len(grouped) == len(set(grouped)), "no parameter may be in two groups"
    assert len(groups) >= 3
    assert len(set(names)) == len(names), f"duplicate group names: {names}"
    assert all(g.param_names for g in groups), "no empty groups"
    assert groups[0].param_names[0] == order[0]
    assert names[-1] == "head" and set(groups[-1].param_names) == {f"head.{n}" for n, _ in model.head.named_parameters()}
    group_of = {p: i for i, g in enumerate(groups) for p in g.param_names}
    indices = [group_of[p] for p in order]
    assert indices == sorted(indices), f"groups are not in input -> output order: {names}"
