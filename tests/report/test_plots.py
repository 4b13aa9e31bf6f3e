"""Plots are real PNGs, written under run/plots/, for normal runs and edge cases."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from PIL import Image

from headstart.errors import RunError
from headstart.report.plots import plot_params, write_plots
from headstart.report.run_files import confident_mistakes, load_run


def _assert_png(path: Path) -> tuple[int, int]:
    assert path.is_file()
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.width > 100 and image.height > 100
        return image.size


def test_image_run_writes_every_plot(image_run: Path) -> None:
    figures_before = plt.get_fignums()
    paths = write_plots(image_run)
    assert set(paths) == {"curves", "confusion_matrix", "per_class", "params", "misclassified"}
    for name, path in paths.items():
        assert path == image_run / "plots" / f"{name}.png"
        _assert_png(path)
    # Figure objects only: nothing is left registered with pyplot.
    assert plt.get_fignums() == figures_before


def test_params_plot_has_one_panel_per_shown_phase(make_run, tmp_path: Path) -> None:
    two = load_run(make_run(name="two")).params
    one = load_run(make_run(name="one", phases=("head",), epochs_per_phase=2)).params
    width_two, _ = _assert_png(plot_params(two, tmp_path / "two.png"))
    width_one, _ = _assert_png(plot_params(one, tmp_path / "one.png"))
    assert width_two > 1.6 * width_one


def test_text_run_has_no_image_grid(text_run: Path) -> None:
    paths = write_plots(text_run)
    assert "misclassified" not in paths
    assert not (text_run / "plots" / "misclassified.png").exists()
    for path in paths.values():
        _assert_png(path)


def test_single_epoch_many_classes(make_run) -> None:
    run = make_run(name="wide", n_classes=45, per_class_items=1, phases=("head",), epochs_per_phase=1)
    paths = write_plots(run)
    width, height = _assert_png(paths["confusion_matrix"])
    assert max(width, height) <= 1400  # the figure size is capped, not 45 x 0.45 inch
    for path in paths.values():
        _assert_png(path)


def test_no_mistakes_removes_stale_grid(make_run) -> None:
    run = make_run(name="perfect", mistakes=False)
    stale = run / "plots" / "misclassified.png"
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    paths = write_plots(run)
    assert "misclassified" not in paths and not stale.exists()
    assert confident_mistakes(load_run(run).predictions, 10) == []


def test_missing_images_still_draw_the_grid(image_run: Path, tmp_path: Path) -> None:
    for image in (tmp_path / "flowers-two-phase-data").rglob("*.*"):
        image.unlink()
    _assert_png(write_plots(image_run)["misclassified"])


def test_confident_mistakes_order(image_run: Path) -> None:
    mistakes = confident_mistakes(load_run(image_run).predictions, 3)
    assert len(mistakes) == 3
    assert all(m["label"] != m["pred"] for m in mistakes)
    confidences = [m["confidence"] for m in mistakes]
    assert confidences == sorted(confidences, reverse=True)


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_missing_run_folder(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="run folder not found"):
        write_plots(tmp_path / "nope")


def test_missing_metrics_names_the_file(image_run: Path) -> None:
    (image_run / "metrics.json").unlink()
    with pytest.raises(RunError, match=r"metrics\.json: file is missing"):
        load_run(image_run)


def test_invalid_json_names_the_file(image_run: Path) -> None:
    (image_run / "params.json").write_text("{not json")
    with pytest.raises(RunError, match=r"params\.json: cannot be read as JSON"):
        load_run(image_run)


def test_bad_confusion_matrix_shape(image_run: Path) -> None:
    _edit(image_run / "metrics.json", lambda d: d["confusion_matrix"].pop())
    with pytest.raises(RunError, match="confusion_matrix' must be 3x3"):
        load_run(image_run)


def test_wrong_field_type(image_run: Path) -> None:
    _edit(image_run / "metrics.json", lambda d: d.update(val_accuracy="high"))
    with pytest.raises(RunError, match="'val_accuracy' must be int or float, got 'high'"):
        load_run(image_run)


def test_prediction_index_out_of_range(image_run: Path) -> None:
    _edit(image_run / "val_predictions.json", lambda d: d["items"][0].update(pred=7))
    with pytest.raises(RunError, match=r"items\[0\]\.pred' = 7"):
        load_run(image_run)


def test_optional_files_may_be_absent(image_run: Path) -> None:
    for name in ("params.json", "val_predictions.json", "config.yaml"):
        (image_run / name).unlink()
    run = load_run(image_run)
    assert run.params is None and run.predictions is None and run.config is None
    assert set(write_plots(image_run)) == {"curves", "confusion_matrix", "per_class"}
