"""OnnxPredictor: onnxruntime + Pillow/numpy (+ tokenizers) predictions that agree with Predictor.

The image and text runs are tiny headstart runs trained on generated data. The ONNX files are
written with the fast TorchScript-based exporter here (test_export.py covers the default one);
what is tested is the torch-free preprocessing and prediction.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import headstart.cli.export  # noqa: F401  registers the command until cli/__init__ imports it
from headstart.backbones.data_config import DataConfig
from headstart.cli import main
from headstart.data.text_datamodule import tokenize_texts
from headstart.data.transforms import build_transforms
from headstart.errors import DataError, RunError
from headstart.export.onnx_export import export_onnx
from headstart.export.onnx_predictor import OnnxPredictor, preprocess_image, preprocessing_from_info
from headstart.export.predictor import Predictor

from .test_export import _tinybert_ready, shared_image_run, shared_text_run

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def image_export(tmp_path_factory) -> tuple[Path, Path]:
    run_dir = shared_image_run(tmp_path_factory)
    result = export_onnx(run_dir, tmp_path_factory.mktemp("onnx-predict"), exporter="torchscript")
    return run_dir, result.path


def val_images(run_dir: Path) -> list[str]:
    return sorted(str(p) for p in (run_dir.parents[1] / "data" / "val").rglob("*.*"))


def assert_same_predictions(expected: list[dict], got: list[dict], atol: float) -> None:
    assert [r["label"] for r in got] == [r["label"] for r in expected]
    for e, g in zip(expected, got):
        assert [t["label"] for t in g["top_k"]] == [t["label"] for t in e["top_k"]]
        np.testing.assert_allclose([t["probability"] for t in g["top_k"]],
                                   [t["probability"] for t in e["top_k"]], atol=atol)


# ----------------------------------------------------------------------------- preprocessing
@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
@pytest.mark.parametrize("size", [(37, 53), (90, 61), (20, 20)])
def test_pil_preprocessing_is_within_one_grey_level_of_torchvision(interpolation, size):
    config = DataConfig(input_size=(3, 24, 24), mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3),
                        interpolation=interpolation, crop_pct=0.875)
    spec = preprocessing_from_info({"classes": ["a", "b"], "data_config": config.to_dict()})
    assert spec["resize_size"] == config.resize_size == 27
    pixels = np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    expected = build_transforms(config, train=False)(image).numpy()
    got = preprocess_image(image, spec)
    assert got.shape == expected.shape == (3, 24, 24) and got.dtype == np.float32
    grey_levels = np.abs(got - expected) * np.asarray(config.std)[:, None, None] * 255
    assert grey_levels.max() <= 1.0 + 1e-4


def test_crop_larger_than_resize_pads_like_torchvision():
    config = DataConfig(input_size=(3, 16, 16), mean=(0.5,) * 3, std=(0.5,) * 3, crop_pct=1.5)
    spec = preprocessing_from_info({"classes": ["a"], "data_config": config.to_dict()})
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (30, 21, 3), dtype=np.uint8))
    expected = build_transforms(config, train=False)(image).numpy()
    got = preprocess_image(image, spec)
    assert np.abs(got - expected).max() * 0.5 * 255 <= 1.0 + 1e-4
    # resized to 11x15, padded to 16 wide with 2 zero columns left and 3 right (normalised: -1)
    assert (got[:, :, :2] == -1.0).all() and (got[:, :, -3:] == -1.0).all()


# ----------------------------------------------------------------------------- image predictions
def test_onnx_predictor_agrees_with_predictor(image_export):
    run_dir, onnx_path = image_export
    images = val_images(run_dir)
    predictor, onnx = Predictor.from_run(run_dir, device="cpu"), OnnxPredictor.from_files(onnx_path, run_dir)
    assert onnx.classes == predictor.classes and onnx.modality == "image"
    expected, got = predictor.predict_proba(images), onnx.predict_proba(images, batch_size=5)
    assert (expected.argmax(1) == got.argmax(1)).mean() == 1.0
    np.testing.assert_allclose(got, expected, atol=1e-3)
    assert_same_predictions(predictor.predict(images, top_k=2, tta=True),
                            onnx.predict(images, top_k=2, tta=True), atol=1e-3)
    as_bytes = [Path(p).read_bytes() for p in images[:2]]
    as_pil = [Image.open(p) for p in images[:2]]
    np.testing.assert_allclose(onnx.predict_proba(as_bytes), onnx.predict_proba(as_pil), atol=1e-6)


def test_onnx_predictor_falls_back_to_the_run_folder(image_export, tmp_path):
    run_dir, onnx_path = image_export
    lone = tmp_path / "model.onnx"
    shutil.copy(onnx_path, lone)
    images = val_images(run_dir)[:3]
    np.testing.assert_allclose(OnnxPredictor.from_files(lone, run_dir).predict_proba(images),
                               OnnxPredictor.from_files(onnx_path).predict_proba(images), atol=1e-6)
    with pytest.raises(RunError, match="preprocessing.json is missing"):
        OnnxPredictor.from_files(lone)
    with pytest.raises(RunError, match="does not exist"):
        OnnxPredictor.from_files(tmp_path / "nope.onnx")


def test_onnx_predictor_rejects_labels_of_another_run(image_export, tmp_path):
    run_dir, onnx_path = image_export
    other = tmp_path / "other"
    other.mkdir()
    info = json.loads((run_dir / "model.json").read_text())
    (other / "model.json").write_text(json.dumps({**info, "classes": ["x", "y", "z"]}))
    with pytest.raises(RunError, match="exported with labels"):
        OnnxPredictor.from_files(onnx_path, other)


def test_unreadable_image_is_a_data_error(image_export, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(DataError, match="Cannot read image"):
        OnnxPredictor.from_files(image_export[1]).predict([str(bad)])


def test_predict_cli_with_onnx(image_export, capsys):
    run_dir, onnx_path = image_export
    folder = run_dir.parents[1] / "data" / "val"
    assert main(["predict", str(run_dir), str(folder), "--onnx", str(onnx_path), "--json", "--top-k", "2"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    images = val_images(run_dir)
    assert [line["input"] for line in lines] == images
    assert_same_predictions(Predictor.from_run(run_dir, device="cpu").predict(images, top_k=2), lines, atol=1e-3)


# ----------------------------------------------------------------------------- without torch
NO_TORCH_SCRIPT = """
import json, sys
from headstart.export.onnx_predictor import OnnxPredictor
predictor = OnnxPredictor.from_files(sys.argv[1])
results = predictor.predict(json.loads(sys.argv[2]), top_k=2)
print(json.dumps({"results": results, "torch": "torch" in sys.modules,
                  "transformers": "transformers" in sys.modules}))
"""


def predict_in_subprocess(onnx_path: Path, inputs: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-c", NO_TORCH_SCRIPT, str(onnx_path), json.dumps(inputs)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_image_prediction_does_not_import_torch(image_export):
    run_dir, onnx_path = image_export
    images = val_images(run_dir)[:4]
    out = predict_in_subprocess(onnx_path, images)
    assert out["torch"] is False
    assert_same_predictions(Predictor.from_run(run_dir, device="cpu").predict(images, top_k=2),
                            out["results"], atol=1e-3)


CLI_SCRIPT = """
import json, sys
from headstart.cli import main
code = main(["predict", *sys.argv[1:], "--json", "--top-k", "2"])
print(json.dumps({"code": code, "torch": "torch" in sys.modules}))
"""


def test_predict_cli_with_onnx_does_not_import_torch(image_export):
    """`headstart predict RUN FOLDER --onnx` (the README's promise): no torch anywhere on that path."""
    run_dir, onnx_path = image_export
    folder = run_dir.parents[1] / "data" / "val"
    done = subprocess.run([sys.executable, "-c", CLI_SCRIPT, str(run_dir), str(folder), "--onnx", str(onnx_path)],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(SRC)}, timeout=120)
    assert done.returncode == 0, done.stderr
    *predictions, last = done.stdout.strip().splitlines()
    assert json.loads(last) == {"code": 0, "torch": False}
    assert [json.loads(line)["input"] for line in predictions] == val_images(run_dir)


# ----------------------------------------------------------------------------- text
@pytest.mark.skipif(_tinybert_ready() is not None, reason=str(_tinybert_ready()))
def test_text_onnx_predictor_tokenizes_and_predicts_like_predictor(tmp_path_factory, tmp_path):
    run_dir = shared_text_run(tmp_path_factory)
    onnx_path = export_onnx(run_dir, tmp_path, exporter="torchscript").path
    texts = ["great movie", "awful boring " + "movie " * 40, "Lovely, FINE film!", "x"]
    predictor, onnx = Predictor.from_run(run_dir, device="cpu"), OnnxPredictor.from_files(onnx_path)
    assert onnx.modality == "text" and onnx.classes == predictor.classes
    expected = {k: v.numpy() for k, v in tokenize_texts(predictor.tokenizer, texts, predictor.max_length).items()}
    got = onnx.encoder(texts)
    assert got["input_ids"].shape == (4, 16)  # truncated to max_length, padded to the longest
    np.testing.assert_array_equal(got["input_ids"], expected["input_ids"])
    np.testing.assert_array_equal(got["attention_mask"], expected["attention_mask"])
    np.testing.assert_allclose(onnx.predict_proba(texts, batch_size=3), predictor.predict_proba(texts), atol=1e-5)
    out = predict_in_subprocess(onnx_path, texts)
    assert out["torch"] is False and out["transformers"] is False
    assert_same_predictions(predictor.predict(texts, top_k=2), out["results"], atol=1e-5)
    with torch.inference_mode():
        assert predictor.predict_logits(texts).shape == onnx.predict_logits(texts).shape == (4, 2)
