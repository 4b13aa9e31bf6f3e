"""The run's headline metrics (its final evaluation) are the kept epoch's validation metrics.

Under any training precision: validation and the final evaluation both run in fp32, over every
validation item once, on the kept (lowest val_loss) weights.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from headstart import runner
from headstart.config import RunConfig

from .test_feature_cache import make_images


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    return make_images(tmp_path_factory.mktemp("images"), per_class=10, val_per_class=5)


def assert_headline_is_the_kept_epoch(metrics: dict[str, Any]) -> None:
    kept = min(metrics["epochs"], key=lambda e: e["val_loss"])
    assert metrics["val_loss"] == pytest.approx(kept["val_loss"], abs=1e-5), (metrics["val_loss"], metrics["epochs"])
    assert metrics["val_accuracy"] == pytest.approx(kept["val_accuracy"], abs=1e-6), (metrics["val_accuracy"], metrics["epochs"])


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
@pytest.mark.parametrize("strategy", ["feature-extraction", "two-phase"])
def test_headline_equals_the_kept_epoch(images: Path, tmp_path: Path, monkeypatch, strategy: str, precision: str) -> None:
    monkeypatch.setattr(runner, "_write_report", lambda run_dir, console: None)
    if strategy == "feature-extraction":  # a head-only model is evaluated on the cached val features
        monkeypatch.setattr(runner, "collect_logits", lambda *a, **k: pytest.fail("the backbone ran again"))
    config = RunConfig(data=str(images), model="tinycnn", weights="none", strategy=strategy, epochs=3, head_epochs=2,
                       batch_size=8, lr=5e-2, num_workers=0, accelerator="cpu", devices=1, precision=precision,
                       output_dir=str(tmp_path), name="run")
    result = runner.train_run(config)
    assert len(result.metrics["epochs"]) == (1 if strategy == "feature-extraction" else 4)  # the head phase is solved: one entry
    assert_headline_is_the_kept_epoch(result.metrics)
