"""``headstart evaluate RUN DATA`` and ``headstart predict RUN PATH...`` on a freshly trained run."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from headstart.run_model import load_run

from .conftest import CLASSES, TrainedRun


def test_evaluate_json_matches_training_metrics(cli, trained_run: TrainedRun) -> None:
    # --batch-size 2 makes several batches: a progress bar must not leak into the JSON
    result = cli("evaluate", trained_run.run_dir, trained_run.data, "--json", "--batch-size", "2")
    assert result.code == 0, result.err
    metrics = json.loads(result.out)
    n = len(CLASSES) * 3  # DATA has a val/ split: only it is evaluated
    assert metrics["num_samples"] == n
    assert metrics["classes"] == sorted(CLASSES)
    cm = np.array(metrics["confusion_matrix"])
    assert cm.shape == (3, 3) and cm.sum() == n
    assert metrics["accuracy"] == pytest.approx(np.trace(cm) / n)
    assert 0.0 <= metrics["macro_f1"] <= 1.0
    assert set(metrics["per_class"]) == set(CLASSES)
    for i, name in enumerate(metrics["classes"]):
        row = metrics["per_class"][name]
        assert row["support"] == cm[i].sum()
        assert row["recall"] == pytest.approx(cm[i, i] / cm[i].sum())
    # the same val images, the same model: evaluate agrees with what training measured
    trained = json.loads((trained_run.run_dir / "metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx(trained["val_accuracy"])
    assert metrics["confusion_matrix"] == trained["confusion_matrix"]
    assert metrics["loss"] == pytest.approx(trained["val_loss"], abs=1e-4)


def test_evaluate_table(cli, trained_run: TrainedRun) -> None:
    result = cli("evaluate", trained_run.run_dir, trained_run.data)
    assert result.code == 0, result.err
    assert f"samples={len(CLASSES) * 3}" in result.out and "accuracy=" in result.out and "macro_f1=" in result.out
    assert "Confusion matrix" in result.out
    for name in CLASSES:
        assert name in result.out


def _val_images(trained_run: TrainedRun) -> tuple[Path, Path]:
    """One cat image file and the dog val folder (3 images)."""
    return sorted((trained_run.data / "val" / "cat").iterdir())[0], trained_run.data / "val" / "dog"


def test_predict_json_lines_files_and_folders(cli, trained_run: TrainedRun) -> None:
    image, folder = _val_images(trained_run)
    result = cli("predict", trained_run.run_dir, image, folder, "--top-k", "2", "--json")
    assert result.code == 0, result.err
    rows = [json.loads(line) for line in result.out.splitlines()]
    assert [Path(r["input"]).name for r in rows] == [image.name] + sorted(p.name for p in folder.iterdir())
    for row in rows:
        assert row["label"] in CLASSES and len(row["top_k"]) == 2
        assert row["top_k"][0] == {"label": row["label"], "probability": row["probability"]}
        probs = [t["probability"] for t in row["top_k"]]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    # the probabilities are the model's softmax of the validation-preprocessed image
    run = load_run(trained_run.run_dir)
    from headstart.data.transforms import build_transforms

    x = build_transforms(run.data_config, train=False)(Image.open(image).convert("RGB")).unsqueeze(0)
    with torch.inference_mode():
        expected = run.model(x).softmax(1)[0]
    assert rows[0]["probability"] == pytest.approx(float(expected.max()), abs=1e-5)
    assert rows[0]["label"] == run.classes[int(expected.argmax())]


def test_predict_table_and_csv(cli, trained_run: TrainedRun, tmp_path: Path) -> None:
    image, folder = _val_images(trained_run)
    out_csv = tmp_path / "preds.csv"
    result = cli("predict", trained_run.run_dir, image, folder, "--top-k", "2", "--csv", out_csv)
    assert result.code == 0, result.err
    assert "#1" in result.out and "#2" in result.out and "#3" not in result.out
    with open(out_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4 and set(rows[0]) == {"input", "label", "probability", "top_k"}
    assert all(r["label"] in CLASSES and 0 < float(r["probability"]) <= 1 for r in rows)
    assert len(json.loads(rows[0]["top_k"])) == 2


def test_predict_tta_averages_the_flip(cli, trained_run: TrainedRun, tmp_path: Path) -> None:
    # square, so resize + centre crop commute with the flip (TTA flips the preprocessed tensor)
    image, _ = _val_images(trained_run)
    pixels = np.array(Image.open(image).resize((40, 40)))
    pixels[:, :20] = 255  # left half white: the flip is a different image
    lopsided = tmp_path / "lopsided.png"
    Image.fromarray(pixels).save(lopsided)
    flipped = tmp_path / "flipped.png"
    Image.fromarray(pixels[:, ::-1].copy()).save(flipped)

    def probs(*args: str | Path) -> list[dict[str, float]]:
        result = cli("predict", trained_run.run_dir, *args, "--top-k", "3", "--json")
        assert result.code == 0, result.err
        return [{t["label"]: t["probability"] for t in json.loads(line)["top_k"]} for line in result.out.splitlines()]

    plain, mirror = probs(lopsided, flipped)
    (tta,) = probs(lopsided, "--tta")
    assert plain != mirror
    for name in CLASSES:
        assert tta[name] == pytest.approx((plain[name] + mirror[name]) / 2, abs=2e-6)


def test_predict_streams_through_loader_workers_like_one_process(trained_run: TrainedRun) -> None:
    """Many images go through a DataLoader with workers: same probabilities, same order."""
    from headstart.export.predictor import Predictor

    images = sorted(str(p) for p in (trained_run.data / "val").rglob("*.png")) * 2
    predictor = Predictor.from_run(trained_run.run_dir, device="cpu")
    in_process = predictor.predict_proba(images, batch_size=4, workers=0)
    streamed = list(predictor.iter_proba(images, batch_size=4, workers=2))
    assert [len(b) for b in streamed] == [4] * (len(images) // 4) + ([len(images) % 4] if len(images) % 4 else [])
    np.testing.assert_allclose(np.concatenate(streamed), in_process, atol=1e-6)


def test_predict_unreadable_image_in_a_worker_is_one_line(cli, trained_run: TrainedRun, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    for i, src in enumerate(sorted((trained_run.data / "val").rglob("*.png"))):
        (folder / f"{i:02d}.png").write_bytes(src.read_bytes())
    (folder / "99-broken.png").write_bytes(b"not an image")
    result = cli("predict", trained_run.run_dir, folder, "--batch-size", "2", "--json")
    assert result.code == 2
    assert result.err.strip().splitlines() == [result.err.strip()] and "99-broken.png" in result.err
    assert "Traceback" not in result.err


def test_predict_progress_bar_counts_images_per_second(cli, trained_run: TrainedRun) -> None:
    result = cli("predict", trained_run.run_dir, trained_run.data / "val", "--batch-size", "2")
    assert result.code == 0, result.err
    assert "img/s" in result.err and f"{len(CLASSES) * 3}/{len(CLASSES) * 3}" in result.err
