"""Local weights files: formats, wrappers and prefixes accepted; anything unsafe or incomplete refused."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import save_file

from headstart.backbones import create_backbone
from headstart.backbones.weights_file import read_state_dict
from headstart.errors import WeightsError
from headstart.heads import build_head
from headstart.model import TransferModel


class NotATensor:
    """A custom class: unpickling it would run arbitrary code paths, so safe loading must refuse it."""


@pytest.fixture
def source() -> torch.nn.Module:
    """A tinycnn with non-default weights (and BatchNorm running stats) to load elsewhere."""
    torch.manual_seed(1)
    backbone = create_backbone("tinycnn", weights="none")
    with torch.no_grad():
        backbone.train()(torch.randn(4, 3, 32, 32))  # moves running_mean/var away from 0/1
    return backbone


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def _inner_state(backbone: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in backbone.model.state_dict().items()}


@pytest.mark.parametrize("suffix", [".pth", ".pt", ".safetensors"])
def test_plain_state_dict(tmp_path: Path, source: torch.nn.Module, suffix: str) -> None:
    path = tmp_path / f"weights{suffix}"
    state = _inner_state(source)
    save_file(state, str(path)) if suffix == ".safetensors" else torch.save(state, path)
    loaded = create_backbone("tinycnn", weights=str(path))
    _assert_same_weights(source, loaded)
    assert loaded.load_report.loaded == len(state)
    assert loaded.load_report.summary() == f"Loaded {len(state)} tensors from {path}."


@pytest.mark.parametrize("wrap", [
    lambda s: {"state_dict": s, "epoch": 3},
    lambda s: {"model_state_dict": s, "optimizer_state_dict": {"state": {}, "param_groups": []}},
    lambda s: {"module." + k: v for k, v in s.items()},  # DataParallel / DDP
    lambda s: {"state_dict": {"model.backbone.model." + k: v for k, v in s.items()}},  # Lightning ckpt
], ids=["wrapped", "model_state_dict", "module-prefix", "lightning"])
def test_wrappers_and_prefixes(tmp_path: Path, source: torch.nn.Module, wrap) -> None:
    path = tmp_path / "weights.pth"
    torch.save(wrap(_inner_state(source)), path)
    _assert_same_weights(source, create_backbone("tinycnn", weights=str(path)))


def test_transfer_model_state_dict_loads_into_a_backbone(tmp_path: Path, source: torch.nn.Module) -> None:
    model = TransferModel(source, build_head("linear", source.num_features, 5))
    path = tmp_path / "model.safetensors"
    save_file(model.state_dict(), str(path))
    assert any(k.startswith("backbone.model.") for k in model.state_dict())
    loaded = create_backbone("tinycnn", weights=str(path))
    _assert_same_weights(source, loaded)
    report = loaded.load_report
    assert sorted(report.unexpected) == ["head.fc.bias", "head.fc.weight"]
    assert "ignored 2 unused" in report.summary() and "head.fc" in report.summary()


def test_torchvision_checkpoint_with_its_classifier(tmp_path: Path) -> None:
    torch.manual_seed(2)
    reference = torchvision.models.resnet18(num_classes=1000)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    backbone = create_backbone("torchvision:resnet18", weights=str(path))
    assert torch.equal(backbone.model.layer4[1].conv2.weight, reference.layer4[1].conv2.weight)
    assert sorted(backbone.load_report.unexpected) == ["fc.bias", "fc.weight"]
    assert "ignored 2 unused (e.g. fc." in backbone.load_report.summary()


def test_missing_tensors_are_listed(tmp_path: Path, source: torch.nn.Module) -> None:
    state = _inner_state(source)
    del state["block3.0.weight"], state["block3.1.running_var"]
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"lacks 2 tensors .*block3\.0\.weight, block3\.1\.running_var.*--model"):
        create_backbone("tinycnn", weights=str(path))


def test_other_width_reports_shape_mismatches(tmp_path: Path, source: torch.nn.Module) -> None:
    path = tmp_path / "w16.pth"
    torch.save(_inner_state(source), path)
    with pytest.raises(WeightsError, match=r"lacks .*shape mismatches: stem\.0\.weight \(16, 3, 3, 3\)->\(8, 3, 3, 3\)"):
        create_backbone("tinycnn", weights=str(path), width=8)


def test_unrelated_architecture(tmp_path: Path) -> None:
    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    with pytest.raises(WeightsError, match=r"No tensor in .* matches this architecture .*conv1\.weight"):
        create_backbone("tinycnn", weights=str(path))


def test_pickled_objects_are_refused(tmp_path: Path, source: torch.nn.Module) -> None:
    path = tmp_path / "unsafe.pth"
    torch.save({**_inner_state(source), "extra": NotATensor()}, path)
    with pytest.raises(WeightsError, match=r"refused by safe loading .*NotATensor.*state_dict\(\)"):
        read_state_dict(path)
    whole = tmp_path / "whole_model.pth"
    torch.save(source, whole)
    with pytest.raises(WeightsError, match=r"not plain tensors") as info:
        create_backbone("tinycnn", weights=str(whole))
    assert "weights_only` set to `False`" not in str(info.value)  # never advise unsafe loading


def test_non_dict_and_empty_files(tmp_path: Path) -> None:
    listed = tmp_path / "list.pth"
    torch.save([torch.zeros(2)], listed)
    with pytest.raises(WeightsError, match=r"holds a list, not a state dict"):
        read_state_dict(listed)
    empty = tmp_path / "empty.pth"
    torch.save({"epoch": 3}, empty)
    with pytest.raises(WeightsError, match=r"contains no tensors"):
        read_state_dict(empty)


def test_corrupt_files(tmp_path: Path) -> None:
    for name in ("bad.safetensors", "bad.pth"):
        path = tmp_path / name
        path.write_bytes(b"not a weights file" * 4)
        with pytest.raises(WeightsError, match=name):
            read_state_dict(path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.pth"
    with pytest.raises(WeightsError, match=r"nope\.pth' does not exist.*imagenet.*none"):
        create_backbone("tinycnn", weights=str(path))
