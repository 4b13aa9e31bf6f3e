"""New classifier heads, and finding/replacing the old classifier of any model."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from headstart.errors import ConfigError, HeadstartError, UnknownNameError
from headstart.heads import HEADS, build_head, find_classifier, replace_classifier


def test_linear_head() -> None:
    head = build_head("linear", 64, 3)
    assert isinstance(head.fc, nn.Linear) and (head.fc.in_features, head.fc.out_features) == (64, 3)
    assert sum(p.numel() for p in head.parameters()) == 64 * 3 + 3
    assert head(torch.randn(5, 64)).shape == (5, 3)
    assert head.describe() == {"type": "linear", "in_features": 64, "hidden": None, "dropout": 0.0, "num_classes": 3}


def test_mlp_head_with_dropout() -> None:
    head = build_head("mlp", 64, 4, dropout=0.3, hidden=32)
    assert head.describe() == {"type": "mlp", "in_features": 64, "hidden": 32, "dropout": 0.3, "num_classes": 4}
    assert (head.fc.in_features, head.fc.out_features) == (32, 4)
    x = torch.randn(8, 64)
    head.train()
    assert not torch.equal(head(x), head(x)), "dropout is active in train mode"
    head.eval()
    assert torch.equal(head(x), head(x))
    assert build_head("mlp", 512, 2).hidden_features == 256  # default width: half the features


@pytest.mark.parametrize("kwargs, match", [
    ({"kind": "linear", "num_classes": 1}, "at least 2 classes"),
    ({"kind": "linear", "dropout": 1.0}, r"dropout must be in \[0, 1\)"),
    ({"kind": "linear", "dropout": -0.1}, r"dropout must be in \[0, 1\)"),
    ({"kind": "linear", "hidden": 16}, "--head mlp"),
])
def test_head_option_errors(kwargs: dict, match: str) -> None:
    kwargs = {"in_features": 8, "num_classes": 3, **kwargs}
    with pytest.raises(ConfigError, match=match):
        build_head(**kwargs)


def test_unknown_head_kind() -> None:
    assert HEADS.names() == ["linear", "mlp"]
    with pytest.raises(UnknownNameError, match="Unknown head 'mpl'.*Did you mean mlp"):
        build_head("mpl", 8, 3)


class _Odd(nn.Module):
    """No conventional classifier name: the last Linear is the classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 6), nn.ReLU())
        self.out = nn.Linear(6, 2)


class _HeadFirst(nn.Module):
    """``fc`` is registered before a projection: the classifier is found by name, not position."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(12, 10)
        self.proj = nn.Linear(4, 12)


@pytest.mark.parametrize("model, path, in_features", [
    (_Odd(), "out", 6),
    (_HeadFirst(), "fc", 12),
    (nn.Sequential(nn.Flatten(), nn.Linear(8, 3)), "1", 8),
])
def test_find_and_replace_classifier(model: nn.Module, path: str, in_features: int) -> None:
    found, linear = find_classifier(model)
    assert found == path and linear.in_features == in_features
    replaced_path, width = replace_classifier(model)
    assert (replaced_path, width) == (path, in_features)
    assert isinstance(model.get_submodule(path), nn.Identity)


def test_replace_with_a_new_module() -> None:
    import torchvision

    model = torchvision.models.mobilenet_v3_small()
    new = nn.Linear(1024, 5)
    assert replace_classifier(model, new) == ("classifier.3", 1024)
    assert model.classifier[3] is new
    assert model.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 5)


def test_no_linear_layer() -> None:
    with pytest.raises(HeadstartError, match=r"Cannot find a classifier \(nn.Linear\) in Sequential.*timm:NAME"):
        find_classifier(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()))
