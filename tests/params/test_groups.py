"""Layer groups: the generic rule for torchvision-style models and the names from timm's matcher."""
from __future__ import annotations

import pytest
from torch import nn

from headstart.backbones import create_backbone
from headstart.backbones.base import Backbone
from headstart.params.groups import generic_layer_groups


class _Wrapped(Backbone):
    def __init__(self, model: nn.Module):
        super().__init__("test", "test")
        self.model = model


def _names(model: nn.Module) -> list[str]:
    return [g.name for g in generic_layer_groups(_Wrapped(model))]


def _check_partition(backbone: nn.Module) -> None:
    grouped = [p for g in generic_layer_groups(backbone) for p in g.param_names]
    assert grouped == [n for n, _ in backbone.named_parameters()]


def test_leaf_layers_at_the_input_merge_into_a_stem() -> None:
    model = nn.Sequential()
    model.add_module("conv", nn.Conv2d(3, 8, 3))
    model.add_module("bn", nn.BatchNorm2d(8))
    model.add_module("act", nn.ReLU())  # no parameters: not a group
    for i in range(4):
        model.add_module(f"stage{i}", nn.Sequential(nn.Conv2d(8, 8, 3), nn.BatchNorm2d(8)))
    model.add_module("norm", nn.BatchNorm2d(8))
    assert _names(model) == ["stem", "stage0", "stage1", "stage2", "stage3", "norm"]
    _check_partition(_Wrapped(model))


def test_a_dominant_container_is_expanded() -> None:
    # ViT-like: a token embedding, then one `encoder` holding > half the parameters in 6 blocks.
    model = nn.Module()
    model.embed = nn.Linear(4, 32)
    model.encoder = nn.Module()
    model.encoder.layers = nn.Sequential(*[nn.Linear(32, 32) for _ in range(6)])
    model.encoder.ln = nn.LayerNorm(32)
    groups = generic_layer_groups(_Wrapped(model))
    assert [g.name for g in groups] == ["stem", *[f"encoder.layers.{i}" for i in range(6)]]
    assert groups[-1].param_names[-2:] == ["model.encoder.ln.weight", "model.encoder.ln.bias"]  # norm joins its layer
    _check_partition(_Wrapped(model))


def test_few_units_are_expanded_until_min_groups() -> None:
    nested = nn.Sequential(nn.Sequential(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), nn.Sequential(nn.Linear(2, 2))),
                           nn.Sequential(nn.Sequential(nn.Linear(2, 2)), nn.Sequential(nn.Linear(2, 2), nn.ReLU())))
    assert _names(nested) == ["0.0", "0.1", "1.0", "1.1"]
    assert _names(nested) == [g.name for g in generic_layer_groups(_Wrapped(nested), min_groups=4)]
    assert len(generic_layer_groups(_Wrapped(nested), min_groups=2)) == 2


def test_plain_layers_get_one_group_each() -> None:
    # VGG-like: the dominant `features` expands to bare Conv leaves; each weighted layer is its
    # own group (with the norm after it), not one giant "stem".
    features = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.ReLU(),
                             nn.Conv2d(4, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3))
    model = nn.Module()
    model.features = features
    model.classifier = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4))
    groups = generic_layer_groups(_Wrapped(model))
    assert [g.name for g in groups] == ["stem", "features.3", "features.5", "features.7", "classifier"]
    assert groups[0].param_names == ["model.features.0.weight", "model.features.0.bias",
                                     "model.features.1.weight", "model.features.1.bias"]
    _check_partition(_Wrapped(model))


def test_torchvision_resnet_groups_are_its_stages() -> None:
    backbone = create_backbone("torchvision:resnet18", weights="none")
    groups = backbone.group_param_names()
    assert [g.name for g in groups] == ["stem", "layer1", "layer2", "layer3", "layer4"]
    assert groups[0].param_names == ["model.conv1.weight", "model.bn1.weight", "model.bn1.bias"]
    _check_partition(backbone)


@pytest.mark.parametrize("name, expected", [
    ("timm:densenet121", ["stem", "features.denseblock1+transition1", "features.denseblock2+transition2",
                          "features.denseblock3+transition3", "features.denseblock4", "features.norm5"]),
    ("timm:vit_tiny_patch16_224", ["stem", *[f"blocks.{i}" for i in range(11)], "blocks.11+norm"]),
    ("timm:efficientnet_b0", ["stem", "blocks.0.0", *[f"blocks.{i}" for i in range(1, 6)], "blocks.6+conv_head+bn2"]),
])
def test_timm_group_names_say_what_they_hold(name: str, expected: list[str]) -> None:
    groups = create_backbone(name, weights="none").group_param_names()
    assert [g.name for g in groups] == expected
    if name.startswith("timm:vit"):
        assert set(groups[0].param_names) == {"model.cls_token", "model.pos_embed",
                                              "model.patch_embed.proj.weight", "model.patch_embed.proj.bias"}
