"""Discriminative param groups: a partition of the trainable parameters, LRs decaying towards the input."""
from __future__ import annotations

import math

import pytest
import torch

from headstart.backbones import create_backbone
from headstart.errors import ConfigError
from headstart.heads import build_head
from headstart.model import TransferModel
from headstart.params import discriminative_param_groups, layer_lr_scales, set_trainable


@pytest.fixture
def model() -> TransferModel:
    backbone = create_backbone("tinycnn", weights="none", width=8)
    return TransferModel(backbone, build_head("mlp", backbone.num_features, 3, hidden=16))


def _lr_by_group(param_groups: list[dict]) -> dict[str, float]:
    lrs: dict[str, float] = {}
    for pg in param_groups:
        assert lrs.setdefault(pg["layer_group"], pg["lr"]) == pg["lr"], "decay/no_decay halves share the LR"
    return lrs


def _assert_partition(model: TransferModel, param_groups: list[dict]) -> None:
    listed = [id(p) for pg in param_groups for p in pg["params"]]
    trainable = [id(p) for p in model.parameters() if p.requires_grad]
    assert len(listed) == len(set(listed)), "a parameter is in two param groups"
    assert sorted(listed) == sorted(trainable), "param groups must hold exactly the trainable parameters"


def test_explicit_layer_decay(model: TransferModel) -> None:
    groups = discriminative_param_groups(model, 1e-3, layer_decay=0.5)
    _assert_partition(model, groups)
    names = [g.name for g in model.layer_groups()]
    assert names == ["stem", "block1", "block2", "block3", "head"]
    lrs = _lr_by_group(groups)
    for distance, name in enumerate(reversed(names)):
        assert lrs[name] == pytest.approx(1e-3 * 0.5 ** distance)
    assert all(pg["initial_lr"] == pg["lr"] for pg in groups)
    torch.optim.AdamW(groups)  # the dicts are valid optimizer param groups


def test_lr_spread_rule(model: TransferModel) -> None:
    lrs = _lr_by_group(discriminative_param_groups(model, 1e-2, lr_spread=100))
    values = list(lrs.values())
    assert values[0] == pytest.approx(1e-2 / 100) and values[-1] == pytest.approx(1e-2)
    ratios = [b / a for a, b in zip(values, values[1:])]
    assert ratios == pytest.approx([100 ** 0.25] * 4)  # geometric, 5 groups
    assert layer_lr_scales(1) == [1.0]
    assert layer_lr_scales(3, lr_spread=1) == [1.0, 1.0, 1.0]
    assert layer_lr_scales(0) == []


def test_frozen_parameters_are_left_out_but_keep_their_distance(model: TransferModel) -> None:
    set_trainable(model, ["block3", "head"])
    groups = discriminative_param_groups(model, 1e-3, layer_decay=0.1)
    _assert_partition(model, groups)
    assert _lr_by_group(groups) == pytest.approx({"block3": 1e-4, "head": 1e-3})
    everything = discriminative_param_groups(model, 1e-3, trainable_only=False)
    assert sum(len(pg["params"]) for pg in everything) == len(list(model.parameters()))


def test_no_weight_decay_on_biases_and_norms(model: TransferModel) -> None:
    groups = discriminative_param_groups(model, 1e-3, weight_decay=0.05)
    names = {id(p): n for n, p in model.named_parameters()}
    for pg in groups:
        for p in pg["params"]:
            one_d = p.ndim <= 1
            assert pg["weight_decay"] == (0.0 if one_d else 0.05), names[id(p)]
            assert pg["name"] == f"{pg['layer_group']}/{'no_decay' if one_d else 'decay'}"
    bn_weight = dict(model.named_parameters())["backbone.model.stem.1.weight"]
    assert any(bn_weight is p for pg in groups if pg["weight_decay"] == 0 for p in pg["params"])


def test_model_no_weight_decay_list_is_respected() -> None:
    backbone = create_backbone("timm:vit_tiny_patch16_224", weights="none")
    vit = TransferModel(backbone, build_head("linear", backbone.num_features, 2))
    groups = discriminative_param_groups(vit, 1e-3)
    params = dict(vit.named_parameters())
    no_decay = {id(p) for pg in groups if pg["weight_decay"] == 0 for p in pg["params"]}
    for name in ("backbone.model.pos_embed", "backbone.model.cls_token"):  # 3-D, listed by timm
        assert params[name].ndim == 3 and id(params[name]) in no_decay
    assert id(params["backbone.model.blocks.0.attn.qkv.weight"]) not in no_decay


def test_explicit_group_lrs(model: TransferModel) -> None:
    lrs = _lr_by_group(discriminative_param_groups(model, 1e-3, layer_decay=0.5,
                                                   group_lrs={"stem": 0.0, "block2": 5e-5}))
    assert lrs == pytest.approx({"stem": 0.0, "block1": 1.25e-4, "block2": 5e-5, "block3": 5e-4, "head": 1e-3})


@pytest.mark.parametrize("kwargs, match", [
    ({"head_lr": 0.0}, r"learning rate must be > 0, got 0.0"),
    ({"head_lr": -1e-3}, r"learning rate must be > 0"),
    ({"head_lr": math.nan}, r"learning rate must be > 0, got nan"),
    ({"layer_decay": 0.0}, r"layer_decay must be in \(0, 1\], got 0.0"),
    ({"layer_decay": 1.5}, r"layer_decay must be in \(0, 1\], got 1.5"),
    ({"lr_spread": 0.5}, r"lr_spread must be >= 1, got 0.5"),
    ({"group_lrs": {"layer9": 1e-4}}, r"group_lrs names unknown group\(s\) \['layer9'\]; groups: stem, block1"),
    ({"group_lrs": {"stem": -1.0}}, r"group_lrs\['stem'\] must be >= 0"),
    ({"group_lrs": {"head": math.nan}}, r"group_lrs\['head'\] must be >= 0"),
])
def test_bad_values(model: TransferModel, kwargs: dict, match: str) -> None:
    kwargs = {"head_lr": 1e-3, **kwargs}
    with pytest.raises(ConfigError, match=match):
        discriminative_param_groups(model, **kwargs)
