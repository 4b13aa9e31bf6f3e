"""Feature caching: keys, cached vs. uncached head training, augmented views, phase 2 and predict."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from headstart.backbones import create_backbone
from headstart.config import RunConfig
from headstart.data.image_datamodule import ImageDataModule
from headstart.data.images import load_image_dataset
from headstart.engine.feature_cache import (
    CachedFeatures,
    CachedPhaseData,
    FeatureDataModule,
    FeatureStore,
    cache_key,
    cached_phase_data,
    extraction_sources,
)
from headstart.engine.fit import EngineOptions, fit_plan
from headstart.errors import ConfigError
from headstart.heads import build_head
from headstart.model import TransferModel
from headstart.strategies.base import Phase

COLOURS = {"blue": (40, 60, 200), "red": (200, 50, 40)}


def make_images(root: Path, per_class: int = 12, val_per_class: int = 6, size: int = 40, seed: int = 0) -> Path:
    """``root/train|val/<class>/*.png``: noisy images whose class is their dominant colour."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", per_class), ("val", val_per_class)):
        for name, colour in COLOURS.items():
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                noise = rng.integers(-90, 90, size=(size, size, 3))
                pixels = np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    return make_images(tmp_path_factory.mktemp("images"))


def tiny_model(seed: int = 0) -> TransferModel:
    torch.manual_seed(seed)
    backbone = create_backbone("tinycnn", weights="none", width=8, image_size=32)
    return TransferModel(backbone, build_head("linear", backbone.num_features, 2), ["blue", "red"])


def datamodule(root: Path, batch_size: int = 8) -> ImageDataModule:
    split = load_image_dataset(root)
    model = tiny_model()
    return ImageDataModule(split, model.data_config, batch_size=batch_size, num_workers=0, seed=0)


def options(precision: str = "32-true") -> EngineOptions:
    return EngineOptions(accelerator="cpu", devices=1, precision=precision, progress_bar=False)


def val_accuracy(model: TransferModel, dm: ImageDataModule) -> float:
    from headstart.engine.evaluate import collect_logits

    logits, labels = collect_logits(model, dm.val_dataloader())
    return float((logits.argmax(1) == labels).float().mean())


def test_cache_key_changes_with_files_transform_and_weights(images: Path, tmp_path: Path) -> None:
    dm = datamodule(images)
    model = tiny_model()
    train, val = extraction_sources(dm)
    key = cache_key(model.backbone, train, "32-true")
    assert key == cache_key(model.backbone, extraction_sources(datamodule(images))[0], "32-true")
    assert key != cache_key(model.backbone, val, "32-true")
    # file list: one image fewer
    fewer = extraction_sources(dm)[0]
    fewer.items = fewer.items[:-1]
    assert cache_key(model.backbone, fewer, "32-true") != key
    # file content: the same path rewritten (size/mtime change)
    path = Path(train.items[0][0])
    before = cache_key(model.backbone, train, "32-true")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    assert cache_key(model.backbone, train, "32-true") != before
    # transform: augmented views or another image size
    assert cache_key(model.backbone, extraction_sources(dm, augment_views=2)[0], "32-true") != key
    dm.val_dataset.transform = dm.train_dataset.transform
    assert cache_key(model.backbone, extraction_sources(dm)[0], "32-true") != key
    # weights: same architecture, one weight nudged; precision
    other = tiny_model()
    with torch.no_grad():
        next(other.backbone.parameters())[0] += 1e-3
    assert cache_key(other.backbone, train, "32-true") != cache_key(model.backbone, train, "32-true")
    assert cache_key(model.backbone, train, "bf16-mixed") != cache_key(model.backbone, train, "32-true")


def test_store_memory_and_memory_mapped_hits(tmp_path: Path) -> None:
    feats = torch.randn(10, 4)
    memory = FeatureStore(tmp_path / "m", memory_limit_bytes=1 << 20)
    assert memory.get("k") is None
    memory.put("k", feats)
    assert memory.get("k") is feats and not (tmp_path / "m").exists()
    disk = FeatureStore(tmp_path / "d", memory_limit_bytes=16)
    disk.put("k", feats)
    assert (tmp_path / "d" / "k" / "meta.json").is_file()
    reopened = FeatureStore(tmp_path / "d", memory_limit_bytes=16).get("k")  # a resumed run
    assert torch.equal(reopened, feats)
    assert FeatureStore(tmp_path / "d").get("other") is None


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_cached_head_matches_uncached_accuracy_and_is_exact_for_phase2(images: Path, tmp_path: Path, precision: str) -> None:
    plan = [Phase("head", 6, "head", 5e-2, warmup_fraction=0.0)]
    dm = datamodule(images)
    uncached = tiny_model()
    fit_plan(uncached, dm, plan, tmp_path / "uncached", options(precision))
    cached = tiny_model()
    hook = CachedPhaseData(dm, FeatureStore(tmp_path / "cached" / "feature_cache"))
    fit_plan(cached, dm, plan, tmp_path / "cached", options(precision), phase_data=hook)
    assert hook.last is not None and hook.last.hits == {"train": False, "val": False}
    acc_u, acc_c = val_accuracy(uncached, dm), val_accuracy(cached, dm)
    assert acc_c >= 0.9 and abs(acc_c - acc_u) <= 0.1, (acc_c, acc_u)
    # the backbone is untouched and the head is what the full model uses: logits agree exactly
    # (validation features are fp32 under any training precision, like all validation)
    assert torch.equal(cached.backbone.state_dict()["model.stem.0.weight"], tiny_model().backbone.state_dict()["model.stem.0.weight"])
    val_features = hook.last.datasets["val"].features
    cached.eval()
    with torch.no_grad():
        x = torch.stack([dm.val_dataset[i][0] for i in range(len(dm.val_dataset))])
        assert torch.allclose(cached(x), cached.head(val_features), atol=1e-5)
    # the final evaluation of a head-only model reuses those features: no backbone pass
    logits, labels = hook.val_logits(cached)
    assert torch.allclose(logits, cached(x), atol=1e-5) and labels.tolist() == [y for _, y in dm.val_dataset.items]
    uncached_hook = CachedPhaseData(dm, FeatureStore(None))
    assert uncached_hook.val_logits(cached) is None  # nothing cached for this backbone: the caller runs the model


def test_cache_augment_views_shape_and_draw(images: Path) -> None:
    dm = datamodule(images)
    model = tiny_model()
    train, val = extraction_sources(dm, augment_views=3, seed=1)
    fdm = FeatureDataModule(model, train, val, FeatureStore(None), batch_size=8)
    fdm.setup("fit")
    data = fdm.datasets["train"]
    n = len(dm.train_dataset)
    assert data.features.shape == (3 * n, model.backbone.num_features) and len(data) == n
    assert not torch.allclose(data.features[:n], data.features[n:2 * n])  # different random views
    x, y = next(iter(fdm.train_dataloader()))
    assert x.shape == (8, model.backbone.num_features) and y.shape == (8,)
    one = CachedFeatures(torch.arange(6.0).view(6, 1), torch.tensor([0, 1]), views=3)
    rows = {float(one[1][0]) for _ in range(50)}
    assert rows == {1.0, 3.0, 5.0}  # item 1 in each of its 3 views


def test_two_phase_run_with_cache_then_predict(images: Path, tmp_path: Path) -> None:
    from headstart.export.predictor import Predictor
    from headstart.runner import train_run

    config = RunConfig(data=str(images), model="tinycnn", weights="none", strategy="two-phase", epochs=1,
                       head_epochs=2, batch_size=8, lr=5e-2, num_workers=0, accelerator="cpu", devices=1,
                       output_dir=str(tmp_path), name="run", cache_augment=2)
    result = train_run(config)
    predictor = Predictor.from_run(result.run_dir)
    val = load_image_dataset(images).val
    predictions = predictor.predict([p for p, _ in val], top_k=1)
    agree = np.mean([pred["label"] == predictor.classes[label] for pred, (_, label) in zip(predictions, val)])
    assert agree >= 0.9
    # the cached head phase is solved to convergence: one history entry with the solver's choice
    assert [e["phase"] for e in result.metrics["epochs"]] == ["head", "finetune"]
    assert result.metrics["epochs"][0]["probe"]["method"] == "lbfgs-logistic"


def test_cache_options_are_checked(tmp_path: Path) -> None:
    dm = datamodule  # unused: option errors come first
    with pytest.raises(ConfigError, match="cache_augment"):
        cached_phase_data(RunConfig(cache_augment=-1), dm, tmp_path)
    with pytest.raises(ConfigError, match="no-cache-features"):
        cached_phase_data(RunConfig(cache_features=False, cache_augment=2), dm, tmp_path)
    assert cached_phase_data(RunConfig(cache_features=False), dm, tmp_path) is None
