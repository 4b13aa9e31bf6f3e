"""A multi-label run end to end: training, thresholds, predict, evaluate, export parity, serve, report."""
from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from headstart.cli import main
from headstart.export.predictor import Predictor
from headstart.runner import TrainResult

from conftest import LABELS, TINY, MultiLabelData


def _label_set(result: dict) -> set[str]:
    return {s["label"] for s in result["labels"]}


def test_run_saves_thresholds_and_multilabel_metrics(ml_run: TrainResult) -> None:
    info = json.loads((ml_run.run_dir / "model.json").read_text())
    metrics = json.loads((ml_run.run_dir / "metrics.json").read_text())
    assert info["task"] == "multi-label" and len(info["thresholds"]) == len(LABELS)
    assert all(0.0 < t < 1.0 for t in info["thresholds"])
    assert metrics["task"] == "multi-label" and "confusion_matrix" not in metrics
    assert metrics["thresholds"] == dict(zip(LABELS, info["thresholds"]))
    assert set(metrics["per_class"]["red"]) >= {"precision", "recall", "f1", "ap", "support", "threshold"}
    # the colours are easy: the head ranks each label's positives well above chance (~0.45)
    assert metrics["val_map"] > 0.8, metrics["val_map"]
    assert 0.0 <= metrics["micro_f1"] <= 1.0 and 0.0 <= metrics["macro_f1"] <= 1.0
    assert all(e.get("val_map") is not None for e in metrics["epochs"])
    items = json.loads((ml_run.run_dir / "val_predictions.json").read_text())["items"]
    assert all(isinstance(i["label"], list) and len(i["scores"]) == len(LABELS) for i in items)


def test_predictor_returns_the_labels_above_their_thresholds(ml_run: TrainResult, ml_data: MultiLabelData) -> None:
    predictor = Predictor.from_run(ml_run.run_dir, device="cpu")
    images = sorted(str(p) for p in (ml_data.root / "images").glob("*.png"))[:8]
    probs = predictor.predict_proba(images)
    results = predictor.predict(images, top_k=2)
    thresholds = np.asarray(predictor.thresholds)
    for row, result in zip(probs, results):
        assert not np.isclose(row.sum(), 1.0) or len(LABELS) == 1  # independent sigmoids, not a softmax
        assert _label_set(result) == {LABELS[i] for i in np.flatnonzero(row >= thresholds)}
        assert [s["probability"] for s in result["labels"]] == sorted((s["probability"] for s in result["labels"]), reverse=True)
        assert len(result["top_k"]) == 2


def test_predict_cli_json_and_evaluate(ml_run: TrainResult, ml_data: MultiLabelData, capsys: pytest.CaptureFixture[str]) -> None:
    image = sorted((ml_data.root / "images").glob("blue-red_*.png"))[0]
    assert main(["predict", str(ml_run.run_dir), str(image), "--json"]) == 0
    line = json.loads(capsys.readouterr().out.strip())
    assert isinstance(line["labels"], list) and {"label", "probability", "top_k"} <= set(line)
    assert main(["evaluate", str(ml_run.run_dir), str(ml_data.onehot_csv), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["num_samples"] == 36 and metrics["task"] == "multi-label"
    assert {"map", "micro_f1", "macro_f1", "per_class"} <= set(metrics)


def test_onnx_and_torchscript_exports_match_and_give_the_same_label_sets(ml_run: TrainResult, ml_data: MultiLabelData, tmp_path: Path) -> None:
    from headstart.export.onnx_export import export_onnx
    from headstart.export.onnx_predictor import OnnxPredictor
    from headstart.export.torchscript_export import export_torchscript

    onnx = export_onnx(ml_run.run_dir, tmp_path)
    script = export_torchscript(ml_run.run_dir, tmp_path)
    assert onnx.report.passed and script.report.passed
    spec = json.loads(onnx.preprocessing_path.read_text())
    assert spec["task"] == "multi-label" and spec["thresholds"] == json.loads((ml_run.run_dir / "model.json").read_text())["thresholds"]
    images = sorted(str(p) for p in (ml_data.root / "images").glob("*.png"))[:12]
    exported = OnnxPredictor.from_files(onnx.path).predict(images)
    native = Predictor.from_run(ml_run.run_dir, device="cpu").predict(images)
    for a, b in zip(exported, native):
        assert _label_set(a) == _label_set(b)
        assert np.allclose([s["probability"] for s in a["top_k"]], [s["probability"] for s in b["top_k"]], atol=1e-4)


def test_serve_answers_with_label_sets(ml_run: TrainResult, ml_data: MultiLabelData) -> None:
    from headstart.export.serve import create_app, serve_in_background

    image = sorted((ml_data.root / "images").glob("green_*.png"))[0]
    app = create_app(Predictor.from_run(ml_run.run_dir, device="cpu"))
    with serve_in_background(app) as url, httpx.Client(base_url=url, timeout=20) as client:
        response = client.post("/predict", files=[("file", (image.name, image.read_bytes(), "image/png"))])
    assert response.status_code == 200, response.text
    prediction = response.json()["predictions"][0]
    assert isinstance(prediction["labels"], list) and prediction["filename"] == image.name


def test_report_has_a_per_label_table_and_no_confusion_matrix(ml_run: TrainResult) -> None:
    html = (ml_run.run_dir / "report.html").read_text()
    assert "Per-label scores" in html and "mAP" in html and "threshold" in html
    assert not (ml_run.run_dir / "plots" / "confusion_matrix.png").exists()
    assert (ml_run.run_dir / "plots" / "per_class.png").exists()


def test_compare_shows_map_and_micro_f1(ml_run: TrainResult, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(ml_run.run_dir), "--json"]) == 0
    row = json.loads(capsys.readouterr().out.strip().splitlines()[0])
    assert row["map"] is not None and row["micro_f1"] is not None
    from rich.console import Console

    from headstart.report.compare import format_compare

    for width in (60, 200):  # one block per run, or the table
        console = Console(width=width, record=True)
        console.print(format_compare([row], width))
        text = console.export_text()
        assert "mAP" in text and "micro-F1" in text


def test_text_multilabel_feature_extraction_uses_the_cache(ml_data: MultiLabelData, tmp_path: Path) -> None:
    from headstart.config import RunConfig
    from headstart.engine.feature_cache import CachedPhaseData
    from headstart.runner import train_run

    made = []

    def spy(config, dm, run_dir):
        from headstart.engine.feature_cache import FeatureStore

        made.append(CachedPhaseData(dm, FeatureStore(None)))
        return made[-1]

    import headstart.runner as runner

    original = runner.cached_phase_data
    runner.cached_phase_data = spy
    try:
        result = train_run(RunConfig(data=str(ml_data.text_csv), task="multi-label", model="tinybert", weights="none",
                                     strategy="feature-extraction", epochs=2, batch_size=8, precision="32-true",
                                     output_dir=str(tmp_path), name="text-ml"))
    finally:
        runner.cached_phase_data = original
    cached = made[0].last
    assert cached is not None and cached.datasets["train"].labels.shape[1] == len(LABELS)
    assert result.metrics["task"] == "multi-label"
    texts = Predictor.from_run(result.run_dir, device="cpu").predict(["ocean sky and grass leaf"])
    assert "labels" in texts[0]


def test_cli_bad_table_is_one_error_line_exit_2(ml_data: MultiLabelData, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "blank.csv"
    table.write_text(ml_data.cell_csv.read_text().replace(";".join(("blue", "red")), "", 1)
                     .replace("images/", str(ml_data.root / "images") + "/"))
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]
    code = main(["train", str(table), "--task", "multi-label", *flags, "--output-dir", str(tmp_path)])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and "have no labels" in err[0]
