"""``headstart export RUN --format hf``: the folder, its model card, loading it back, pushing offline."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

import headstart as hs
from headstart.export.model_card import card_metadata
from tests.cli.conftest import TINY, run_cli


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    from tests.cli.conftest import make_dataset

    root = tmp_path_factory.mktemp("hf")
    data = make_dataset(root / "shapes", train=6, val=2)
    result = run_cli(["train", data, *TINY, "--strategy", "fine-tune", "--epochs", "1", "--output-dir", root, "--name", "r"])
    assert result.code == 0, result.err[-2000:]
    return root / "r"


def _front_matter(card: str) -> tuple[dict, str]:
    _, header, body = card.split("---\n", 2)
    return yaml.safe_load(header), body


def test_export_writes_a_hub_folder_with_a_model_card(run_dir):
    result = run_cli(["export", run_dir, "--format", "hf"])
    assert result.code == 0, result.err
    folder = run_dir / "export" / "hf"
    for name in ("model.safetensors", "config.json", "preprocessing.json", "preprocessor_config.json", "README.md"):
        assert (folder / name).is_file(), name
    config = json.loads((folder / "config.json").read_text())
    assert config["id2label"] == {"0": "bird", "1": "cat", "2": "dog"} and config["headstart"]["backbone"]["name"] == "tinycnn"
    meta, body = _front_matter((folder / "README.md").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert meta["library_name"] == "headstart" and "image-classification" in meta["tags"]
    reported = {m["type"]: m["value"] for m in meta["model-index"][0]["results"][0]["metrics"]}
    assert reported == {"accuracy": round(metrics["val_accuracy"], 4), "f1": round(metrics["macro_f1"], 4)}
    for section in ("## Intended use", "## Training data", "## Training procedure", "## Metrics", "## Limitations"):
        assert section in body
    assert "fine-tune" in body and "in total" in body and f"{metrics['train_size']} training" in body


def test_hf_folder_loads_back_and_predicts_like_the_run(run_dir):
    run_cli(["export", run_dir, "--format", "hf"])
    image = np.full((30, 30, 3), (200, 60, 40), np.uint8)
    exported, original = hs.load(run_dir / "export" / "hf"), hs.load(run_dir)
    assert exported.classes == original.classes
    np.testing.assert_allclose(exported.predict_proba(image), original.predict_proba(image), atol=1e-6)
    assert exported.metrics["val_accuracy"] == original.metrics["val_accuracy"]
    with pytest.raises(hs.RunError, match="export folder"):
        exported.export("onnx")


def test_transformers_reads_the_image_processor(run_dir):
    transformers = pytest.importorskip("transformers")
    run_cli(["export", run_dir, "--format", "hf"])
    processor = transformers.AutoImageProcessor.from_pretrained(run_dir / "export" / "hf")
    pixels = processor(images=[Image.new("RGB", (50, 40))], return_tensors="pt")["pixel_values"]
    assert tuple(pixels.shape) == (1, 3, 32, 32)


def test_push_to_hub_offline_is_one_line_and_exit_2(run_dir, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    result = run_cli(["export", run_dir, "--format", "hf", "--push-to-hub", "me/model"])
    assert result.code == 2 and len(result.err_lines) == 1
    assert result.err_lines[0].startswith("error: Cannot push to the Hugging Face Hub: offline")


def test_push_to_hub_network_failure_is_one_line_and_exit_2(run_dir, monkeypatch):
    import huggingface_hub
    import huggingface_hub.constants

    def unreachable(self, *args, **kwargs):
        raise ConnectionError("Name or service not known\nmore detail")

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", unreachable)
    result = run_cli(["export", run_dir, "--format", "hf", "--push-to-hub", "me/model"])
    assert result.code == 2 and len(result.err_lines) == 1
    assert "ConnectionError: Name or service not known" in result.err_lines[0]


def test_push_to_hub_needs_format_hf(run_dir):
    result = run_cli(["export", run_dir, "--format", "onnx", "--push-to-hub", "me/model"])
    assert result.code == 2 and "--push-to-hub needs --format hf" in result.err


def test_card_names_a_hub_dataset_when_trained_from_one():
    info = {"modality": "text", "backbone": {"name": "minilm"}, "strategy": "lora", "head": {"type": "linear"}, "classes": ["a", "b"]}
    meta = card_metadata(info, {"data": "<datasets.Dataset imdb 1000 rows>"}, {"val_accuracy": 0.9}, "r")
    assert meta["datasets"] == ["imdb"] and meta["pipeline_tag"] == "text-classification"
    assert "datasets" not in card_metadata(info, {"data": "/data/reviews.csv"}, {}, "r")
