"""Transforms follow the backbone's DataConfig: size, crop, interpolation, normalisation."""
from __future__ import annotations

import pytest
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode, v2

from headstart.backbones.data_config import DataConfig
from headstart.data import build_transforms, interpolation_mode
from headstart.errors import ConfigError


def config(**overrides) -> DataConfig:
    base = dict(input_size=(3, 16, 16), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    return DataConfig(**{**base, **overrides})


def random_image(h: int = 24, w: int = 32) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=generator)


@pytest.mark.parametrize("train", [True, False])
def test_output_shape_and_range_follow_config(train):
    tf = build_transforms(config(), train=train)
    for image in (random_image(), torch.zeros(3, 20, 40, dtype=torch.uint8),
                  torch.full((3, 40, 20), 255, dtype=torch.uint8)):
        out = tf(image)
        assert out.dtype == torch.float32 and tuple(out.shape) == (3, 16, 16)
        assert out.min() >= -1 and out.max() <= 1
    assert torch.allclose(tf(torch.zeros(3, 20, 20, dtype=torch.uint8)), torch.tensor(-1.0))
    assert torch.allclose(tf(torch.full((3, 20, 20), 255, dtype=torch.uint8)), torch.tensor(1.0))


def test_normalisation_uses_config_mean_and_std_per_channel():
    cfg = config(mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 0.125))
    value = 102  # 0.4 after scaling to [0, 1]
    out = build_transforms(cfg, train=False)(torch.full((3, 20, 20), value, dtype=torch.uint8))
    expected = [(value / 255 - m) / s for m, s in zip(cfg.mean, cfg.std)]
    assert torch.allclose(out.mean(dim=(1, 2)), torch.tensor(expected), atol=1e-5)


def test_eval_resizes_to_resize_size_then_centre_crops():
    # A white 4 px frame around a black 64 px square: a resize to 32 (crop_pct 0.5) then a centre
    # crop of 16 sees only black; with crop_pct 1.0 the resize to 16 keeps the frame in view.
    image = torch.full((3, 64, 64), 255, dtype=torch.uint8)
    image[:, 4:-4, 4:-4] = 0
    cropped = build_transforms(config(crop_pct=0.5), train=False)(image)
    assert torch.allclose(cropped, torch.tensor(-1.0))
    whole = build_transforms(config(crop_pct=1.0), train=False)(image)
    assert whole.max() > 0.5
    resize = next(t for t in build_transforms(config(crop_pct=0.8), train=False).transforms
                  if isinstance(t, v2.Resize))
    assert resize.size == [config(crop_pct=0.8).resize_size] == [20]


@pytest.mark.parametrize("name, mode", [("bilinear", InterpolationMode.BILINEAR),
                                        ("bicubic", InterpolationMode.BICUBIC),
                                        ("Nearest", InterpolationMode.NEAREST)])
def test_interpolation_comes_from_config(name, mode):
    assert interpolation_mode(name) == mode
    train = build_transforms(config(interpolation=name), train=True)
    crop = next(t for t in train.transforms if isinstance(t, v2.RandomResizedCrop))
    assert crop.interpolation == mode and crop.size == (16, 16)
    evaluate = build_transforms(config(interpolation=name), train=False)
    assert next(t for t in evaluate.transforms if isinstance(t, v2.Resize)).interpolation == mode


def test_train_transform_is_random_eval_is_not():
    image = random_image(48, 48)
    torch.manual_seed(0)
    train = build_transforms(config(), train=True)
    assert not all(torch.equal(train(image), train(image)) for _ in range(3))
    evaluate = build_transforms(config(), train=False)
    assert torch.equal(evaluate(image), evaluate(image))


def test_accepts_pil_images():
    out = build_transforms(config(), train=False)(Image.new("RGB", (30, 20), (255, 0, 0)))
    assert tuple(out.shape) == (3, 16, 16)
    assert torch.allclose(out[0], torch.tensor(1.0)) and torch.allclose(out[1], torch.tensor(-1.0))


def test_bad_configs_raise_config_error():
    with pytest.raises(ConfigError, match="interpolation 'lanczos' is not supported"):
        build_transforms(config(interpolation="lanczos"), train=True)
    with pytest.raises(ConfigError, match="modality is 'text'"):
        build_transforms(config(modality="text"), train=False)
    with pytest.raises(ConfigError, match="one value per input channel"):
        build_transforms(config(mean=(0.5,), std=(0.5,)), train=False)
