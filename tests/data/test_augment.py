"""Augmentation by name, mixup/cutmix through timm, and a custom transform recorded by repr."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torchvision.transforms import v2

from headstart.backbones.data_config import DataConfig
from headstart.data.augment import AUGMENTS, BatchMixer, train_transform
from headstart.errors import ConfigError

CONFIG = DataConfig(modality="image", input_size=(3, 32, 32), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                    interpolation="bilinear", crop_pct=0.875)


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic", "nearest"])
@pytest.mark.parametrize("name", AUGMENTS)
def test_every_name_builds_and_outputs_model_inputs(name: str, interpolation: str) -> None:
    """Bicubic too: timm's and efficientnet_lite0's configs use it, and the policies' tensor ops refuse it."""
    config = DataConfig(**{**CONFIG.to_dict(), "interpolation": interpolation})
    image = torch.randint(0, 256, (3, 48, 40), dtype=torch.uint8)
    for seed in range(8):  # several draws: each policy op (rotate, shear, ...) resamples differently
        torch.manual_seed(seed)
        out = train_transform(config, name)(image)
        assert out.shape == (3, 32, 32) and out.dtype == torch.float32
    if name in ("trivial", "randaugment"):
        policy = v2.TrivialAugmentWide if name == "trivial" else v2.RandAugment
        assert any(isinstance(t, policy) for t in train_transform(CONFIG, name).transforms)


def test_unknown_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="augment='heavy'"):
        train_transform(CONFIG, "heavy")


def test_mixer_gives_soft_targets_and_even_batches() -> None:
    mixer = BatchMixer(num_classes=3, mixup=0.4, cutmix=1.0)
    x, soft = mixer(torch.randn(5, 3, 8, 8), torch.tensor([0, 1, 2, 0, 1]))
    assert x.shape[0] == soft.shape[0] == 4 and soft.shape[1] == 3
    assert torch.allclose(soft.sum(1), torch.ones(4))


def test_mixup_run_and_custom_transform_are_recorded(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
    from test_feature_cache import make_images

    from headstart.config import RunConfig
    from headstart.runner import train_run
    from headstart.run_files import read_json

    images = make_images(tmp_path / "images", per_class=6, val_per_class=2)
    custom = v2.Compose([v2.ToImage(), v2.Resize((32, 32)), v2.ToDtype(torch.float32, scale=True)])
    config = RunConfig(data=str(images), model="tinycnn", weights="none", strategy="fine-tune", epochs=1,
                       batch_size=5, num_workers=0, accelerator="cpu", devices=1, precision="32-true",
                       mixup=0.4, cutmix=1.0, output_dir=str(tmp_path), name="run")
    result = train_run(config, train_transform=custom)
    assert result.metrics["epochs"][0]["train_loss"] is not None
    augment = read_json(result.run_dir / "model.json")["augment"]
    assert augment["name"] == "custom" and "Resize" in augment["custom"] and augment["mixup"] == 0.4


def test_mixup_on_text_is_refused(tmp_path: Path) -> None:
    from headstart.config import RunConfig
    from headstart.runner import check_augment

    with pytest.raises(ConfigError, match="for images"):
        check_augment(RunConfig(mixup=0.2), "text", None, None)
