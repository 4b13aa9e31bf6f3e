"""Text runs end to end through the CLI with a tiny random BERT: every strategy, LoRA reload.

Fast by design (``tinybert``: 2 layers of width 32, 40 short texts, one epoch per phase); the
real-data checks of learning quality live in test_text_real_data.py.
"""
from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from headstart.cli import main
from headstart.data.text_datamodule import tokenize_texts
from headstart.export.predictor import Predictor

STRATEGIES = ("feature-extraction", "fine-tune", "two-phase", "lora")
POSITIVE = ["great", "wonderful", "excellent", "love", "superb", "delightful"]
NEGATIVE = ["awful", "terrible", "hate", "boring", "horrible", "dreadful"]
FILLER = ["the", "movie", "was", "really", "quite", "a", "plot", "and", "acting", "story"]


def write_reviews(path: Path, rows: int = 40, seed: int = 0) -> Path:
    """``text,label`` CSV: 2 classes told apart by their sentiment words, mixed with filler."""
    rng = random.Random(seed)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["review", "sentiment"])
        for i in range(rows):
            label = "pos" if i % 2 == 0 else "neg"
            words = rng.sample(FILLER, 4) + rng.sample(POSITIVE if label == "pos" else NEGATIVE, 2)
            rng.shuffle(words)
            writer.writerow([" ".join(words), label])
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, object]:
    """One run per strategy, trained through ``headstart train``; the lora run's in-memory model kept."""
    root = tmp_path_factory.mktemp("text_runs")
    data = write_reviews(root / "reviews.csv")
    captured = {}
    import headstart.runner as runner

    real_train_run = runner.train_run

    def recording_train_run(*args, **kwargs):
        result = real_train_run(*args, **kwargs)
        captured[result.run_dir.name] = result
        return result

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setattr(runner, "train_run", recording_train_run)
        for strategy in STRATEGIES:
            code = main(["train", str(data), "--model", "tinybert", "--weights", "none", "--strategy", strategy,
                         "--text-column", "review", "--label-column", "sentiment", "--max-length", "16",
                         "--epochs", "1", "--head-epochs", "1", "--batch-size", "16", "--lr", "3e-3",
                         "--output-dir", str(root / "runs"), "--name", strategy])
            assert code == 0, f"train --strategy {strategy} exited {code}"
    return {"data": data, "root": root, **captured}


def params(run) -> dict:
    return json.loads((run.run_dir / "params.json").read_text())


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_writes_a_complete_text_run(runs, strategy):
    run_dir = runs[strategy].run_dir
    for name in ("config.yaml", "model.json", "model.safetensors", "params.json", "metrics.json",
                 "val_predictions.json", "backbone/config.json", "backbone/tokenizer_config.json"):
        assert (run_dir / name).is_file(), name
    info = json.loads((run_dir / "model.json").read_text())
    assert info["modality"] == "text" and info["strategy"] == strategy
    assert info["backbone"]["max_length"] == 16 and info["data_config"]["max_length"] == 16
    assert info["lora"] == ({"r": 8, "alpha": 16, "dropout": 0.05} if strategy == "lora" else None)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["classes"] == ["neg", "pos"] and metrics["val_size"] == 8
    assert 0.0 <= metrics["val_accuracy"] <= 1.0
    items = json.loads((run_dir / "val_predictions.json").read_text())["items"]
    assert len(items) == 8 and all(isinstance(i["input"], str) and i["input"] for i in items)


def test_each_strategy_trains_the_parameters_it_promises(runs):
    fe, ft, tp, lora = (params(runs[s]) for s in STRATEGIES)
    head = lambda phase: next(g for g in phase["groups"] if g["name"] == "head")  # noqa: E731
    assert [p["phase"] for p in fe["phases"]] == ["head"]
    assert fe["trainable"] == head(fe["phases"][0])["params"] < fe["total"]
    assert [p["phase"] for p in ft["phases"]] == ["finetune"] and ft["trainable"] == ft["total"]
    assert [g["name"] for g in ft["phases"][0]["groups"]] == ["embeddings", "layer.0", "layer.1", "head"]
    assert [p["phase"] for p in tp["phases"]] == ["head", "finetune"]
    assert tp["phases"][0]["trainable"] == head(tp["phases"][0])["params"] and tp["trainable"] == tp["total"]
    (phase,) = lora["phases"]
    assert phase["phase"] == "lora"
    groups = {g["name"]: g for g in phase["groups"]}
    assert groups["embeddings"]["trainable"] == 0
    assert 0 < groups["layer.0"]["trainable"] < groups["layer.0"]["params"]
    assert phase["lora"]["adapter"] + groups["head"]["params"] == phase["trainable"]
    assert 0 < phase["lora"]["fraction"] < 0.05
    assert phase["total"] == ft["total"] + phase["lora"]["adapter"]  # same backbone, plus the adapters


def test_lora_run_saves_head_and_adapters_and_reloads_to_identical_predictions(runs):
    result = runs["lora"]
    model = result.model.eval()
    saved = load_file(str(result.run_dir / "model.safetensors"))
    lora_keys = [k for k in saved if "lora_" in k]
    assert lora_keys and any(k.startswith("head.") for k in saved)
    for key, tensor in model.state_dict().items():
        torch.testing.assert_close(saved[key], tensor, rtol=0, atol=0)
    assert any(saved[k].abs().sum() > 0 for k in lora_keys if "lora_B" in k), "adapters never trained"

    texts = ["a great and wonderful movie", "terrible boring plot", "", "the acting " * 20, "💥 superb"]
    with torch.no_grad():
        expected = model(tokenize_texts(model.backbone.tokenizer, texts, 16)).softmax(1).numpy()
    predictor = Predictor.from_run(result.run_dir, device="cpu")
    np.testing.assert_allclose(predictor.predict_proba(texts, batch_size=2), expected, atol=1e-6, rtol=0)
    assert [r["label"] for r in predictor.predict(texts)] == [result.model.classes[i] for i in expected.argmax(1)]


def test_predict_takes_strings_or_a_file_and_evaluate_takes_the_csv(runs, tmp_path, capsys):
    run_dir = runs["lora"].run_dir
    capsys.readouterr()
    assert main(["predict", str(run_dir), "love this superb film", "dreadful", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [line["input"] for line in lines] == ["love this superb film", "dreadful"]
    assert all(line["label"] in ("neg", "pos") and len(line["top_k"]) == 2 for line in lines)

    texts = tmp_path / "texts.txt"
    texts.write_text("love this superb film\nhorrible\n")
    assert main(["predict", str(run_dir), str(texts), "--json"]) == 0
    from_file = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [line["input"] for line in from_file] == ["love this superb film", "horrible"]
    assert from_file[0]["top_k"] == lines[0]["top_k"]

    assert main(["evaluate", str(run_dir), str(runs["data"]), "--text-column", "review",
                 "--label-column", "sentiment", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["num_samples"] == 40 and 0.0 <= metrics["accuracy"] <= 1.0


def test_lora_on_an_image_model_is_one_clear_error(tmp_path, tiny_image_folder, capsys):
    code = main(["train", str(tiny_image_folder), "--model", "tinycnn", "--weights", "none", "--strategy", "lora",
                 "--epochs", "1", "--output-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("error: strategy 'lora' needs a Hugging Face text backbone")
