"""What only a GPU exercises: mixed precision, channels_last, the feature cache, export, serving, DDP.

Every test here is marked ``gpu`` and skipped without CUDA (tests/conftest.py); bench/device_check.sh
runs them on a GPU machine. They train tinycnn on a small generated folder, so the whole file
takes about a minute on one GPU.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytestmark = pytest.mark.gpu
SRC = Path(__file__).resolve().parents[2] / "src"


def _mixed_precision() -> str:
    return "bf16-mixed" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "16-mixed"


@pytest.fixture(scope="module")
def jpeg_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 classes x 24 JPEGs (tinted noise, so they are learnable), train/ and val/."""
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("gpu-data")
    for split, count in (("train", 16), ("val", 8)):
        for c, name in enumerate(("red", "green", "blue")):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 90, (40, 48, 3)).astype(np.uint8)
                pixels[..., c] += 150
                Image.fromarray(pixels).save(folder / f"{i}.jpg", quality=90)
    return root


def _train(data: Path, out: Path, name: str, **overrides):
    from headstart.config import config_from_dict
    from headstart.runner import train_run

    config = config_from_dict({"data": str(data), "model": "tinycnn", "weights": "none", "image_size": 32,
                               "strategy": "fine-tune", "epochs": 4, "lr": 0.01, "batch_size": 16, "accelerator": "gpu",
                               "devices": 1, "precision": "32-true", "output_dir": str(out), "name": name,
                               "seed": 0, **overrides})
    return train_run(config)


@pytest.fixture(scope="module")
def cuda_run(jpeg_folder: Path, tmp_path_factory: pytest.TempPathFactory):
    return _train(jpeg_folder, tmp_path_factory.mktemp("gpu-runs"), "fp32")


def test_mixed_precision_fit(jpeg_folder: Path, tmp_path: Path) -> None:
    """bf16-mixed where the GPU has bf16, 16-mixed (with a grad scaler) where it does not."""
    result = _train(jpeg_folder, tmp_path, "mixed", precision=_mixed_precision())
    assert np.isfinite(result.metrics["val_loss"]) and result.metrics["val_accuracy"] > 0.5
    assert next(result.model.parameters()).dtype == torch.float32  # mixed: weights stay fp32


def test_channels_last_trains_like_contiguous(jpeg_folder: Path, tmp_path: Path, cuda_run) -> None:
    result = _train(jpeg_folder, tmp_path, "cl", channels_last=True)
    assert abs(result.metrics["val_loss"] - cuda_run.metrics["val_loss"]) < 0.05
    assert result.metrics["val_accuracy"] > 0.5


def test_feature_cache_on_cuda_matches_uncached(jpeg_folder: Path, tmp_path: Path) -> None:
    cached = _train(jpeg_folder, tmp_path, "cached", strategy="feature-extraction", cache_features=True)
    plain = _train(jpeg_folder, tmp_path, "plain", strategy="feature-extraction", cache_features=False)
    assert cached.metrics["val_loss"] == pytest.approx(plain.metrics["val_loss"], abs=1e-3)


def test_gpu_jpeg_decode_trains(jpeg_folder: Path, tmp_path: Path) -> None:
    result = _train(jpeg_folder, tmp_path, "nvjpeg", gpu_decode=True)
    assert np.isfinite(result.metrics["val_loss"]) and result.metrics["val_accuracy"] > 0.5


def test_export_parity_from_a_cuda_trained_run(cuda_run, tmp_path: Path) -> None:
    """Weights trained on the GPU export with verified parity (export raises ParityError otherwise)."""
    from headstart.export.onnx_export import export_onnx
    from headstart.export.torchscript_export import export_torchscript

    assert export_onnx(cuda_run.run_dir, tmp_path / "onnx").path.is_file()
    assert export_torchscript(cuda_run.run_dir, tmp_path / "ts").path.is_file()


def test_serve_on_cuda_answers_like_the_cpu_predictor(cuda_run, jpeg_folder: Path) -> None:
    import httpx

    from headstart.export.predictor import Predictor
    from headstart.export.serve import create_app, serve_in_background

    images = sorted((jpeg_folder / "val").rglob("*.jpg"))[:6]
    expected = Predictor.from_run(cuda_run.run_dir, device="cpu").predict([str(p) for p in images], top_k=2)
    cuda = Predictor.from_run(cuda_run.run_dir, device="cuda")
    assert next(cuda.model.parameters()).is_cuda
    with serve_in_background(create_app(cuda, max_batch=8)) as url:
        files = [("file", (p.name, p.read_bytes(), "image/jpeg")) for p in images]
        response = httpx.post(f"{url}/predict?top_k=2", files=files, timeout=60)
    assert response.status_code == 200, response.text
    got = response.json()["predictions"]
    assert [g["label"] for g in got] == [e["label"] for e in expected]
    np.testing.assert_allclose([g["probability"] for g in got], [e["probability"] for e in expected], atol=1e-3)


def test_one_gpu_ddp_launch(jpeg_folder: Path, tmp_path: Path) -> None:
    """torchrun with one process: the DDP code path (process group, samplers, rank-0 writes) on a GPU."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
               "-m", "headstart.cli", "train", str(jpeg_folder), "--model", "tinycnn", "--weights", "none",
               "--image-size", "32", "--strategy", "fine-tune", "--epochs", "1", "--accelerator", "gpu",
               "--devices", "1", "--output-dir", str(tmp_path), "--name", "ddp"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert metrics["val_size"] == 24 and np.isfinite(metrics["val_loss"])
