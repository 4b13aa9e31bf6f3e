"""Data-parallel training on CPU: two gloo processes reach the accuracy of one, cache included."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from headstart.engine.feature_cache import CachedPhaseData, FeatureStore
from headstart.engine.fit import EngineOptions, fit_plan
from headstart.engine.runtime import resolve_strategy
from headstart.strategies.base import Phase

from .test_feature_cache import datamodule, make_images, tiny_model, val_accuracy


def test_auto_strategy_picks_fork_for_cpu_processes(monkeypatch) -> None:
    for name in ("TORCHELASTIC_RUN_ID", "LOCAL_RANK", "WORLD_SIZE", "SLURM_NTASKS", "SLURM_PROCID"):
        monkeypatch.delenv(name, raising=False)
    assert resolve_strategy("auto", "cpu", 2, 1) == "ddp_fork"
    assert resolve_strategy("auto", "gpu", 4, 1) == "ddp"
    assert resolve_strategy("auto", "cpu", 1, 1) == "auto"
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "x")
    assert resolve_strategy("auto", "gpu", 1, 2) == "ddp"


def _train(root: Path, run_dir: Path, devices: int) -> tuple[float, list, CachedPhaseData]:
    dm = datamodule(root, batch_size=6)
    model = tiny_model()
    plan = [Phase("head", 4, "head", 5e-2, warmup_fraction=0.0), Phase("finetune", 1, "all", 5e-3)]
    hook = CachedPhaseData(dm, FeatureStore(run_dir / "feature_cache", memory_limit_bytes=1))  # on disk
    options = EngineOptions(accelerator="cpu", devices=devices, precision="32-true", progress_bar=False)
    history = fit_plan(model, dm, plan, run_dir, options, phase_data=hook)
    return val_accuracy(model, dm), history, hook


def test_two_processes_match_one(tmp_path: Path) -> None:
    root = make_images(tmp_path / "data", per_class=12, val_per_class=6)
    one, history_one, _ = _train(root, tmp_path / "one", devices=1)
    two, history_two, _ = _train(root, tmp_path / "two", devices=2)
    assert one >= 0.9
    assert abs(one - two) <= 0.1, (one, two)
    # the workers' epochs come back to the main process; the cache was written once, by rank 0
    assert [e["phase"] for e in history_two] == [e["phase"] for e in history_one] == ["head"] * 4 + ["finetune"]
    entries = sorted(p.parent.name for p in (tmp_path / "two" / "feature_cache").glob("*/meta.json"))
    assert len(entries) == 2
    for key in entries:  # sharded extraction + gather gives exactly the single-process features, in order
        shards = [np.load(tmp_path / run / "feature_cache" / key / "features.npy") for run in ("one", "two")]
        assert np.allclose(*shards, atol=1e-5)
    assert (tmp_path / "two" / "checkpoints" / "phase1-end.safetensors").is_file()


def test_two_processes_count_each_val_item_once_and_keep_the_best_epoch(tmp_path: Path) -> None:
    """An odd validation set under DDP: no padded duplicates in the epoch metrics, and the final
    evaluation (the runner's, once, in the main process) is the kept epoch's: the best was restored."""
    from headstart.data.image_datamodule import ImageDataModule
    from headstart.data.splits import ImageSplit
    from headstart.engine.evaluate import classification_metrics
    from headstart.runner import final_logits

    from .test_headline_metrics import assert_headline_is_the_kept_epoch

    root = make_images(tmp_path / "data", per_class=8, val_per_class=4)
    (root / "val" / "red" / "0.png").unlink()  # 7 val images: a padded sampler would count 8
    dm = datamodule(root, batch_size=4)
    # phase 2 learns swapped training labels: it only gets worse, so the kept epoch is a head epoch
    split = dm.split
    swapped = ImageSplit(train=[(p, 1 - y) for p, y in split.train], val=split.val, classes=split.classes)
    swapped_dm = ImageDataModule(swapped, dm.data_config, batch_size=4, num_workers=0)
    hook = CachedPhaseData(dm, FeatureStore(None))
    model = tiny_model()
    plan = [Phase("head", 3, "head", 0.1, warmup_fraction=0.0), Phase("finetune", 1, "all", 5e-2, warmup_fraction=0.0)]
    options = EngineOptions(accelerator="cpu", devices=2, precision="32-true", progress_bar=False)
    history = fit_plan(model, dm, plan, tmp_path / "run", options,
                       phase_data=lambda i, phase, m: hook(i, phase, m) if i == 0 else (swapped_dm, False))
    metrics = {**classification_metrics(*final_logits(model, dm, hook), dm.classes), "epochs": history}
    assert sum(map(sum, metrics["confusion_matrix"])) == 7
    assert [e["phase"] for e in history] == ["head"] * 3 + ["finetune"]
    assert min(history, key=lambda e: e["val_loss"])["phase"] == "head", history
    assert_headline_is_the_kept_epoch(metrics)
