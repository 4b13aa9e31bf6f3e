"""User mistakes: exit code 2 and ONE ``error:`` line on stderr that names the file or field. No traceback."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from ..broken_files import huge_png, truncated_jpeg
from .conftest import TINY, CliResult, TrainedRun, write_images

RNG_SEED = 1


def assert_one_line_error(result: CliResult, *fragments: str) -> str:
    assert result.code == 2, (result.code, result.err[-2000:])
    assert "Traceback" not in result.err and "Traceback" not in result.out
    lines = result.err_lines
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def _classes(root: Path, names: tuple[str, ...], count: int = 4) -> Path:
    rng = np.random.default_rng(RNG_SEED)
    for name in names:
        write_images(root / name, name, count, rng)
    return root


# Each case builds its input under tmp_path and returns (argv, fragments the error line must name).
Case = Callable[[Path, Path], tuple[list[str], tuple[str, ...]]]


def missing_data(tmp: Path, data: Path):
    return ["train", tmp / "no-such-folder", *TINY], ("no-such-folder", "does not exist")


def empty_class_folder(tmp: Path, data: Path):
    root = _classes(tmp / "pets", ("cat", "dog"))
    (root / "fish").mkdir()
    return ["train", root, *TINY], (str(root / "fish"), "no images")


def single_class(tmp: Path, data: Path):
    root = _classes(tmp / "solo", ("cat",))
    return ["train", root, *TINY], ("solo", "only 1 class", "cat")


def val_label_not_in_train(tmp: Path, data: Path):
    root = tmp / "split"
    _classes(root / "train", ("cat", "dog"))
    _classes(root / "val", ("cat", "dog", "bird"), count=2)
    return ["train", root, *TINY], ("val", "'bird'", "not a training class")


def corrupt_image_strict(tmp: Path, data: Path):
    root = _classes(tmp / "pets", ("cat", "dog"))
    (root / "dog" / "broken.jpg").write_bytes(b"\xff\xd8 truncated jpeg")
    return ["train", root, *TINY, "--strict"], (str(root / "dog" / "broken.jpg"),)


def csv_without_label_column(tmp: Path, data: Path):
    root = _classes(tmp / "pets", ("cat", "dog"))
    table = tmp / "labels.csv"
    table.write_text("path,species\n" + "".join(f"{p.relative_to(tmp)},{p.parent.name}\n" for p in sorted(root.rglob("*.png"))))
    return ["train", table, *TINY], ("labels.csv", "'label'", "species")


def csv_without_path_column(tmp: Path, data: Path):
    table = tmp / "labels.csv"
    table.write_text("file_name,label\na.png,cat\n")
    return ["train", table, *TINY], ("labels.csv", "'path'", "file_name")


def unknown_model(tmp: Path, data: Path):
    return ["train", data, "--model", "efficientnet_lit0", "--weights", "none"], ("'efficientnet_lit0'", "efficientnet_lite0")


def unknown_strategy(tmp: Path, data: Path):
    return ["train", data, *TINY, "--strategy", "two-phased"], ("strategy", "'two-phased'", "two-phase")


def lr_not_a_number(tmp: Path, data: Path):
    return ["train", data, *TINY, "--lr", "fast"], ("--lr", "'fast'")


def lr_negative(tmp: Path, data: Path):
    return ["train", data, *TINY, "--lr=-0.1"], ("lr", "-0.1")


def epochs_not_an_integer(tmp: Path, data: Path):
    return ["train", data, *TINY, "--epochs", "three"], ("--epochs",)


def unknown_option(tmp: Path, data: Path):
    return ["train", data, *TINY, "--epoch", "3"], ("--epoch",)


def unknown_config_key(tmp: Path, data: Path):
    config = tmp / "exp.yaml"
    config.write_text(f"data: {data}\nmodel: tinycnn\nepochz: 3\n")
    return ["train", "--config", config], ("exp.yaml", "'epochz'", "Did you mean 'epochs'")


def wrong_type_in_config(tmp: Path, data: Path):
    config = tmp / "exp.yaml"
    config.write_text(f"data: {data}\nmodel: tinycnn\nbatch_size: eight\n")
    return ["train", "--config", config], ("exp.yaml", "'batch_size'", "int", "'eight'")


def missing_config_file(tmp: Path, data: Path):
    return ["train", "--config", tmp / "nope.yaml"], ("nope.yaml", "does not exist")


def resume_not_a_run(tmp: Path, data: Path):
    (tmp / "empty-run").mkdir()
    return ["train", "--resume", tmp / "empty-run"], ("empty-run", "config.yaml")


def predict_folder_not_a_run(tmp: Path, data: Path):
    (tmp / "photos").mkdir()
    image = next((data / "val" / "cat").iterdir())
    return ["predict", tmp / "photos", image], ("photos", "model.json")


def evaluate_folder_not_a_run(tmp: Path, data: Path):
    (tmp / "photos").mkdir()
    return ["evaluate", tmp / "photos", data], ("photos", "model.json")


def truncated_jpeg_strict(tmp: Path, data: Path):
    """A JPEG cut in half has a valid header: only decoding finds it (before any folder is made)."""
    root = _classes(tmp / "pets", ("cat", "dog"))
    truncated_jpeg(root / "cat" / "cut.jpg")
    return ["train", root, *TINY, "--strict"], ("cut.jpg", "corrupt image")


def one_image_per_class(tmp: Path, data: Path):
    root = _classes(tmp / "few", ("cat", "dog"), count=1)
    return ["train", root, *TINY], ("few", "no validation images", "cat, dog", "at least 2 images per class", "--val-data")


def csv_image_with_two_labels(tmp: Path, data: Path):
    root = _classes(tmp / "pets", ("cat", "dog"))
    table = tmp / "labels.csv"
    table.write_text("path,label\npets/cat/cat_0.png,cat\npets/cat/cat_0.png,dog\npets/dog/dog_0.png,dog\n")
    return ["train", table, *TINY], ("labels.csv", "cat_0.png", "two labels")


def text_file_as_weights(tmp: Path, data: Path):
    (tmp / "x.pth").write_text("these are not weights")
    return ["train", data, *TINY[:2], "--weights", tmp / "x.pth"], ("x.pth", "not a torch or safetensors file")


def missing_weights_file(tmp: Path, data: Path):
    return ["train", data, *TINY[:2], "--weights", tmp / "gone.safetensors"], ("gone.safetensors", "does not exist")


def gpu_without_gpu(tmp: Path, data: Path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    return ["train", data, *TINY, "--accelerator", "gpu", "--name", "gpu-run"], ("--accelerator gpu", "no CUDA GPU")


def _config_value(flag: str, value: str, *fragments: str) -> Case:
    def case(tmp: Path, data: Path):
        return ["train", data, *TINY, flag, value, "--name", "bad"], (flag, *fragments)
    case.__name__ = f"config_{flag.strip('-').replace('-', '_')}_{value.replace('-', 'minus').replace('.', '_')}"
    return case


CONFIG_VALUES = [
    _config_value("--image-size", "1", ">= 16"), _config_value("--image-size", "0", ">= 16"),
    _config_value("--image-size", "-64", ">= 16"), _config_value("--label-smoothing", "2", "[0, 1)"),
    _config_value("--label-smoothing", "-0.5", "[0, 1)"), _config_value("--weight-decay", "-1", ">= 0"),
    _config_value("--accelerator", "tpu9", "one of"), _config_value("--devices", "0", ">= 1"),
    _config_value("--num-nodes", "0", ">= 1"), _config_value("--early-stopping", "0", ">= 1"),
    _config_value("--head-hidden", "0", ">= 1"), _config_value("--max-length", "0", ">= 1"),
    _config_value("--precision", "fp8", "one of"), _config_value("--lr", "inf", "finite"),
    _config_value("--lr", "nan", "finite"), _config_value("--batch-size", "0", ">= 1"),
]


def _damaged_weights(tmp: Path, data: Path, trained: Path) -> Path:
    run = tmp / "damaged"
    shutil.copytree(trained, run, ignore=shutil.ignore_patterns("checkpoints", "logs", "plots", "report.html"))
    weights = (run / "model.safetensors").read_bytes()
    (run / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    return run


# Cases on the shared trained run: (argv, fragments), built from (tmp, data, run folder).
RunCase = Callable[[Path, Path, Path], tuple[list[str], tuple[str, ...]]]
IMAGE = "val/cat/cat_0.png"

RUN_CASES: dict[str, RunCase] = {
    "predict_batch_size_0": lambda t, d, r: (["predict", r, d / IMAGE, "--batch-size", "0"], ("Invalid value for '--batch-size'",)),
    "predict_top_k_0": lambda t, d, r: (["predict", r, d / IMAGE, "--top-k", "0"], ("Invalid value for '--top-k'",)),
    "predict_garbage_onnx": lambda t, d, r: (
        ["predict", r, d / IMAGE, "--onnx", _write(t / "junk.onnx", b"not a model")], ("junk.onnx", "not a usable ONNX model")),
    "predict_damaged_weights": lambda t, d, r: (
        ["predict", _damaged_weights(t, d, r), d / IMAGE], ("model.safetensors", "damaged")),
    "evaluate_damaged_weights": lambda t, d, r: (
        ["evaluate", _damaged_weights(t, d, r), d], ("model.safetensors", "damaged")),
    "predict_decompression_bomb": lambda t, d, r: (
        ["predict", r, huge_png(t / "bomb.png")], ("bomb.png", "too large")),
    "predict_csv_is_a_folder": lambda t, d, r: (["predict", r, d / IMAGE, "--csv", t], ("--csv", "is a folder")),
    "serve_unknown_device": lambda t, d, r: (["serve", r, "--device", "banana"], ("--device", "'banana'")),
    "serve_damaged_weights": lambda t, d, r: (["serve", _damaged_weights(t, d, r), "--device", "cpu"], ("model.safetensors", "damaged")),
    "train_existing_name_not_a_run_overwrite": lambda t, d, r: (
        ["train", d, *TINY, "--output-dir", _user_folder(t).parent, "--name", "mine", "--overwrite"],
        ("--overwrite refuses", "mine")),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _user_folder(tmp: Path) -> Path:
    folder = tmp / "out" / "mine"
    folder.mkdir(parents=True)
    (folder / "thesis.tex").write_text("user data")
    return folder


CASES: list[Case] = [
    missing_data, empty_class_folder, single_class, val_label_not_in_train, corrupt_image_strict,
    csv_without_label_column, csv_without_path_column, unknown_model, unknown_strategy, lr_not_a_number,
    lr_negative, epochs_not_an_integer, unknown_option, unknown_config_key, wrong_type_in_config,
    missing_config_file, resume_not_a_run, predict_folder_not_a_run, evaluate_folder_not_a_run,
    truncated_jpeg_strict, one_image_per_class, csv_image_with_two_labels, text_file_as_weights,
    missing_weights_file, gpu_without_gpu, *CONFIG_VALUES,
]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_bad_input_is_one_error_line(case: Case, cli, tmp_path: Path, image_data: Path) -> None:
    argv, fragments = case(tmp_path, image_data)
    assert_one_line_error(cli(*argv), *fragments)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # no run folder left behind


@pytest.mark.parametrize("name", RUN_CASES)
def test_bad_input_on_a_run_is_one_error_line(name: str, cli, tmp_path: Path, trained_run: TrainedRun) -> None:
    argv, fragments = RUN_CASES[name](tmp_path, trained_run.data, trained_run.run_dir)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert_one_line_error(cli(*argv), *fragments)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written


def test_existing_run_name_needs_resume(cli, trained_run: TrainedRun) -> None:
    run = trained_run.run_dir
    before = sorted(p.name for p in run.iterdir())
    result = cli("train", trained_run.data, *TINY, "--output-dir", run.parent, "--name", run.name)
    assert_one_line_error(result, str(run), "--resume")
    assert sorted(p.name for p in run.iterdir()) == before  # the finished run is untouched


def test_predict_a_file_that_is_not_an_image(cli, trained_run: TrainedRun, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    assert_one_line_error(cli("predict", trained_run.run_dir, notes), "notes.txt")


def test_predict_a_missing_file(cli, trained_run: TrainedRun, tmp_path: Path) -> None:
    assert_one_line_error(cli("predict", trained_run.run_dir, tmp_path / "ghost.png"), "ghost.png", "does not exist")


def test_evaluate_on_classes_the_model_does_not_know(cli, trained_run: TrainedRun, tmp_path: Path) -> None:
    data = tmp_path / "other"
    shutil.copytree(trained_run.data / "val", data / "val")
    shutil.copytree(trained_run.data / "train", data / "train")
    (data / "train" / "dog").rename(data / "train" / "wolf")
    (data / "val" / "dog").rename(data / "val" / "wolf")
    assert_one_line_error(cli("evaluate", trained_run.run_dir, data), "wolf", "bird, cat, dog")
