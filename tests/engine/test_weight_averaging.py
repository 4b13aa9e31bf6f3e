"""``--weight-averaging ema``: the warm-up decay, and a run whose kept model is the average."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from headstart.config import RunConfig
from headstart.engine.weight_averaging import MAX_DECAY, warmup_decay
from headstart.runner import train_run

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_feature_cache import make_images  # noqa: E402


def test_warmup_decay_follows_the_steps_taken() -> None:
    assert warmup_decay(0) == pytest.approx(0.1)  # the first steps: the average follows the weights
    assert warmup_decay(90) == pytest.approx(0.91)  # ~ the last tenth of the steps so far
    assert warmup_decay(10**7) == MAX_DECAY


def test_ema_run_keeps_and_scores_the_averaged_weights(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    images = make_images(tmp_path / "images", per_class=6, val_per_class=3)
    config = RunConfig(data=str(images), model="tinycnn", weights="none", strategy="fine-tune", epochs=2,
                       batch_size=6, num_workers=0, accelerator="cpu", devices=1, precision="32-true",
                       image_size=32, output_dir=str(tmp_path), name="ema", weight_averaging="ema")
    result = train_run(config)
    from headstart.run_files import read_json

    assert read_json(result.run_dir / "model.json")["weight_averaging"] == {"method": "ema", "phases": ["finetune"]}
    last = torch.load(result.run_dir / "checkpoints" / "phase0" / "last.ckpt", map_location="cpu", weights_only=True)
    averaged, raw = last["state_dict"], last["current_model_state"]  # Lightning's WeightAveraging keeps both
    key = "model.head.fc.weight"
    assert not torch.allclose(averaged[key], raw[key])
    kept = load_file(result.run_dir / "model.safetensors")
    best = torch.load(result.run_dir / "checkpoints" / "phase0" / "best.ckpt", map_location="cpu", weights_only=True)
    assert torch.equal(kept[key.removeprefix("model.")], best["state_dict"][key])  # the kept epoch's average
    epochs = result.metrics["epochs"]
    kept_epoch = min(epochs, key=lambda e: e["val_loss"])
    assert result.metrics["val_loss"] == pytest.approx(kept_epoch["val_loss"], abs=1e-5)  # scored as validated
