"""Freezing by layer group: frozen weights get no gradient and frozen BatchNorm keeps its statistics."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from headstart.backbones import create_backbone
from headstart.errors import ConfigError
from headstart.heads import build_head
from headstart.model import TransferModel
from headstart.params import discriminative_param_groups, set_trainable, trainable_group_names


def _model() -> TransferModel:
    torch.manual_seed(0)
    backbone = create_backbone("tinycnn", weights="none", width=8)
    return TransferModel(backbone, build_head("linear", backbone.num_features, 3))


def _batchnorms(module: nn.Module) -> dict[str, nn.BatchNorm2d]:
    return {n: m for n, m in module.named_modules() if isinstance(m, nn.BatchNorm2d)}


def _bn_stats(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if "running_" in k or "num_batches" in k}


def _train_steps(model: TransferModel, steps: int = 3) -> None:
    optimizer = torch.optim.AdamW(discriminative_param_groups(model, 1e-2))
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randn(8, 3, 32, 32, generator=gen) * 2 + 1  # far from BN's initial stats
        y = torch.randint(0, 3, (8,), generator=gen)
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()


def test_head_only_training_leaves_the_backbone_untouched() -> None:
    model = _model()
    assert set_trainable(model, "head") == ["head"]
    model.train()
    assert model.training and model.head.training
    bns = _batchnorms(model.backbone)
    assert len(bns) == 4 and not any(bn.training for bn in bns.values()), "frozen BatchNorm must be in eval"
    stats = _bn_stats(model)
    weights = {n: p.detach().clone() for n, p in model.named_parameters()}

    _train_steps(model)
    model.train()  # Lightning calls train() again at every epoch: frozen BatchNorm stays in eval
    assert not any(bn.training for bn in bns.values())

    for key, value in _bn_stats(model).items():
        assert torch.equal(value, stats[key]), f"{key} changed while frozen"
    for name, p in model.named_parameters():
        if name.startswith("backbone."):
            assert p.grad is None and not p.requires_grad, name
            assert torch.equal(p, weights[name]), name
        else:
            assert p.requires_grad and not torch.equal(p, weights[name]), f"{name} did not train"
    assert trainable_group_names(model) == ["head"]


def test_unfreezing_puts_batchnorm_back_in_train_mode() -> None:
    model = _model()
    set_trainable(model, "head")
    model.train()
    assert set_trainable(model, "all") == ["stem", "block1", "block2", "block3", "head"]
    model.train()
    bns = _batchnorms(model)
    assert all(bn.training for bn in bns.values())
    stats = _bn_stats(model)
    weights = {n: p.detach().clone() for n, p in model.named_parameters()}
    _train_steps(model, steps=1)
    for key, value in _bn_stats(model).items():
        assert not torch.equal(value, stats[key]), f"{key} did not update after unfreezing"
    assert all(not torch.equal(p, weights[n]) for n, p in model.named_parameters())


def test_set_trainable_keeps_train_mode_consistent() -> None:
    # Switching groups on a model already in train mode fixes BatchNorm modes without another train().
    model = _model().train()
    set_trainable(model, ["block3", "head"])
    bns = _batchnorms(model.backbone)
    assert {n: bn.training for n, bn in bns.items()} == {
        "model.stem.1": False, "model.block1.1": False, "model.block2.1": False, "model.block3.1": True}
    assert trainable_group_names(model) == ["block3", "head"]
    set_trainable(model, "all")
    assert all(bn.training for bn in bns.values())
    model.eval()
    set_trainable(model, "head")
    assert not model.training and not any(m.training for m in model.modules())  # eval stays eval


def test_batchnorm_without_affine_follows_its_parent() -> None:
    model = _model()
    model.backbone.model.block3[1] = nn.BatchNorm2d(32, affine=False)
    set_trainable(model, "head")
    model.train()
    assert not model.backbone.model.block3[1].training
    set_trainable(model, ["block3", "head"])
    assert model.backbone.model.block3[1].training


def test_unknown_group_names_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"Unknown layer group\(s\) \['layer4'\].*stem, block1, block2, block3, head"):
        set_trainable(_model(), ["layer4", "head"])
