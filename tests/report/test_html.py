"""report.html: self-contained, escaped, and carrying the run's numbers and findings."""
from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

import headstart.cli.compare  # noqa: F401  (registers `compare`, so `report` is a subcommand)
import headstart.cli.report  # noqa: F401
from headstart.cli.app import app
from headstart.errors import RunError
from headstart.report.html import diagnose, write_report
from headstart.report.run_files import load_run

from .conftest import write_run

IMG_SRC = re.compile(r'<img src="([^"]*)"')


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.fixture(scope="module")
def image_report(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One report shared by the read-only checks (each report costs about a second of plotting)."""
    run = write_run(tmp_path_factory.mktemp("shared"))
    path = write_report(run)
    assert path == run / "report.html"
    return path.read_text(encoding="utf-8")


def test_header_and_final_metrics(image_report: str) -> None:
    assert "<h1>flowers-two-phase</h1>" in image_report
    assert "torchvision:resnet50" in image_report and "two_phase" in image_report
    assert "daisy, rose, tulip" in image_report
    assert "66.67%" in image_report      # val accuracy: 8 of 12
    assert "0.663" in image_report       # macro-F1
    assert "0.5000" in image_report      # val loss
    assert "1 min 33 s" in image_report  # wall time 93.4 s


def test_parameter_totals_per_phase(image_report: str) -> None:
    assert "Trainable: 6,147 / Total: 23,514,179" in image_report
    assert "Trainable: 14,970,883 / Total: 23,514,179" in image_report
    assert "<h3>Phase 'head'</h3>" in image_report and "<h3>Phase 'finetune'</h3>" in image_report
    assert "1.00e-04" in image_report  # the fine-tuned stage's LR


def test_epochs_config_and_phases(image_report: str) -> None:
    assert image_report.count("<td>finetune</td>") == 3  # 2 epoch rows + the phase table row
    assert "backbone.layer4, head" in image_report        # groups trained in phase 2
    assert "weight_decay: 0.0001" in image_report        # config.yaml, pretty-printed


def test_self_contained(image_report: str) -> None:
    assert "http://" not in image_report and "https://" not in image_report
    assert "<script" not in image_report and "<link" not in image_report
    sources = IMG_SRC.findall(image_report)
    assert len(sources) == 5 + 4  # five plots + four misclassified thumbnails
    assert all(src.startswith(("data:image/png;base64,", "data:image/jpeg;base64,")) for src in sources)
    for src in sources:
        raw = base64.b64decode(src.split(",", 1)[1])
        with Image.open(io.BytesIO(raw)) as image:
            image.load()
            if src.startswith("data:image/jpeg"):
                assert max(image.size) <= 160


def test_thumbnails_are_shrunk(image_run: Path, tmp_path: Path) -> None:
    for image in (tmp_path / "flowers-two-phase-data").rglob("*.*"):
        Image.new("RGB", (640, 320), "red").save(image, format="PNG" if image.suffix == ".png" else "JPEG")
    html = write_report(image_run).read_text()
    thumbs = [s for s in IMG_SRC.findall(html) if s.startswith("data:image/jpeg")]
    assert len(thumbs) == 4
    with Image.open(io.BytesIO(base64.b64decode(thumbs[0].split(",", 1)[1]))) as image:
        assert image.size == (160, 80)


def test_missing_image_is_reported_not_fatal(image_run: Path, tmp_path: Path) -> None:
    for image in (tmp_path / "flowers-two-phase-data").rglob("*.*"):
        image.unlink()
    html = write_report(image_run).read_text()
    assert "image not found: img_0" in html


def test_text_run_escapes_inputs(text_run: Path) -> None:
    html = write_report(text_run).read_text()
    assert "<script" not in html and "<b>wonderful" not in html
    assert "A &lt;b&gt;wonderful&lt;/b&gt; film &amp; a great cast" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "hf:minilm" in html
    assert len(IMG_SRC.findall(html)) == 4  # plots only, no image grid for text


def test_diagnosis_numbers(image_run: Path) -> None:
    findings = diagnose(load_run(image_run))
    texts = " ".join(text for _, text in findings)
    assert "majority-class baseline (33.3%" in texts
    assert "Worst class: 'daisy'" in texts and "predicted as 'rose' (2 of 4)" in texts
    assert "Only 12 validation items" in texts
    assert "overfitting" not in texts
    assert {level for level, _ in findings} <= {"good", "warn", "bad", "info"}
    assert ("good", next(t for _, t in findings if t.startswith("Val accuracy 66.7%"))) in findings


def test_diagnosis_flags_overfitting_and_baseline(image_run: Path) -> None:
    def overfit(data: dict) -> None:
        data["epochs"][-1].update(train_loss=0.05, val_loss=1.4)
        data["val_accuracy"] = 0.3

    _edit(image_run / "metrics.json", overfit)
    results = diagnose(load_run(image_run))
    levels = {text.split(":")[0]: level for level, text in results}
    assert levels["Possible overfitting"] == "warn"
    assert any(level == "bad" and "no better than always predicting" in text for level, text in results)
    assert any("rose to 1.400" in text for _, text in results)


def test_missing_model_json(image_run: Path) -> None:
    (image_run / "model.json").unlink()
    with pytest.raises(RunError, match=r"model\.json: file is missing"):
        write_report(image_run)


def test_cli_report_prints_path(image_run: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(image_run)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(image_run / "report.html")
    assert (image_run / "plots" / "curves.png").is_file()


def test_cli_report_help_has_example() -> None:
    result = CliRunner().invoke(app, ["report", "--help"])
    assert result.exit_code == 0
    assert "Example: headstart report runs/flowers" in result.output


def _epoch_rows(report: str) -> list[str]:
    section = report.split('id="epochs"', 1)[1].split("</section>", 1)[0]
    return re.findall(r"<tr(?: class=\"(\w+)\")?><td class=\"n\">", section)


def test_kept_epoch_is_highlighted_not_the_best_accuracy(make_run) -> None:
    run = make_run(name="kept")

    def change(metrics: dict) -> None:
        epochs = metrics["epochs"]
        for e, loss, acc in zip(epochs, [0.9, 0.4, 0.6, 0.7], [0.5, 0.6, 0.9, 0.8]):
            e["val_loss"], e["val_accuracy"] = loss, acc
    _edit(run / "metrics.json", change)
    report = write_report(run).read_text()
    assert _epoch_rows(report) == ["", "best", "", ""]  # epoch 1: lowest val loss, though epoch 2 has the best accuracy
    assert "the kept epoch (lowest val loss)" in report


def test_phase_lr_is_the_set_lr_and_extraction_time_is_shown(make_run) -> None:
    run = make_run(name="cached")

    def change(metrics: dict) -> None:
        epochs = metrics["epochs"]
        epochs[0].update(seconds=0.031, extract_seconds=12.4, lr=5.6e-4)
        epochs[1].update(seconds=0.02, train_loss=0.3)
        epochs[2].update(train_loss=0.8)  # jumps at the boundary: augmented images
    _edit(run / "metrics.json", change)
    report = write_report(run).read_text()
    phases = report.split('id="phases"', 1)[1].split("</section>", 1)[0]
    assert "1.00e-03 →" in phases and "5.60e-04 →" not in phases  # the phase's set head LR, not epoch 0's end LR
    assert "0.03 (+12.4 feature extraction)" in report and "0.02</td>" in report
    assert "un-augmented (eval-transform) images" in report


def test_resolved_runtime_is_shown_and_wide_tables_scroll(make_run) -> None:
    import yaml

    run = make_run(name="runtime")
    config = yaml.safe_load((run / "config.yaml").read_text())
    config.update(precision="32-true", devices="auto", resolved_runtime={"accelerator": "cpu", "devices": 1, "precision": "32-true"})
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    report = write_report(run).read_text()
    assert "How it ran (resolved at run time)" in report and "<td>accelerator</td><td>cpu</td>" in report
    assert "auto (devices): chosen at run time" in report
    assert '<div class="scroll"><table>' in report and ".scroll{overflow-x:auto}" in report


def test_auto_reasoning_and_head_kept_verdict_are_shown(image_run: Path) -> None:
    from headstart.report.compare import compare_row

    reasons = "feature-extraction: the smallest class has 4 training examples."
    _edit(image_run / "model.json", lambda m: m.update(auto={"strategy": "two-phase", "reasons": reasons}))
    verdict = {"finetune_won": False, "message": "Fine-tuning did not beat the head: the final model is the head-phase model."}
    _edit(image_run / "metrics.json", lambda m: m.update(auto={"reasons": reasons}, finetune_verdict=verdict))
    findings = dict((text, level) for level, text in diagnose(load_run(image_run)))
    assert findings[f"Strategy chosen by auto: {reasons}"] == "info"
    assert findings[verdict["message"]] == "warn"
    html = write_report(image_run).read_text()
    assert "(chosen by auto)" in html and "did not beat the head" in html
    assert compare_row(image_run)["strategy"] == "two_phase (auto; head kept: fine-tuning did not beat it)"
