"""User mistakes: exit code 2 and ONE ``error:`` line on stderr that names the file or field. No traceback."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

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


CASES: list[Case] = [
    missing_data, empty_class_folder, single_class, val_label_not_in_train, corrupt_image_strict,
    csv_without_label_column, csv_without_path_column, unknown_model, unknown_strategy, lr_not_a_number,
    lr_negative, epochs_not_an_integer, unknown_option, unknown_config_key, wrong_type_in_config,
    missing_config_file, resume_not_a_run, predict_folder_not_a_run, evaluate_folder_not_a_run,
]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_bad_input_is_one_error_line(case: Case, cli, tmp_path: Path, image_data: Path) -> None:
    argv, fragments = case(tmp_path, image_data)
    assert_one_line_error(cli(*argv), *fragments)
    assert not any((tmp_path / "runs").glob("*/model.safetensors"))  # nothing was trained


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
