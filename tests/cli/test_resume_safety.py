"""``--resume`` never changes what a run means: same data or a clear refusal, nothing rewritten
before the checks pass, a complete run left alone, a moved folder resumed to its recorded best."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file

import headstart.runner
from headstart.engine.resume_state import read_checkpoint

from .conftest import TINY, CliResult, TrainedRun, make_dataset, run_cli
from .test_resume import InterruptAt, interrupt_training

# lr 1.0 without the fine-tune factor makes the one fine-tune epoch worse than the head phase: the run's best is not its last epoch.
ARGS = [*TINY, "--batch-size", "4", "--precision", "32-true", "--strategy", "two-phase", "--head-epochs", "2",
        "--epochs", "1", "--lr", "1.0", "--finetune-lr-factor", "1", "--no-cache-features"]


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(run folder, its data): the head phase done, Ctrl+C in the fine-tune phase's first epoch."""
    root = tmp_path_factory.mktemp("interrupted")
    data = make_dataset(root / "data", train=6, val=2)
    interrupt = InterruptAt("finetune", epoch=0, batch=1)
    with pytest.MonkeyPatch.context() as patch:
        interrupt_training(patch, interrupt)
        patch.setattr(headstart.runner, "_write_report", lambda run_dir, console: None)
        result = run_cli(["train", data, *ARGS, "--output-dir", root / "runs", "--name", "cut"])
    assert interrupt.fired and result.code == 130, result.err[-2000:]
    return root / "runs" / "cut", data


def _copy_run(interrupted: tuple[Path, Path], where: Path) -> tuple[Path, Path]:
    """A private copy of the interrupted run and of its data, the run's config pointing at the copy."""
    run, data = interrupted
    run_copy, data_copy = where / "runs" / "cut", where / "data"
    shutil.copytree(run, run_copy)
    shutil.copytree(data, data_copy)
    config = yaml.safe_load((run_copy / "config.yaml").read_text())
    config["data"] = str(data_copy)
    (run_copy / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return run_copy, data_copy


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder``: its bytes and modification time."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_error_line(result: CliResult) -> str:
    assert result.code == 2, result.err[-3000:]
    assert len(result.err_lines) == 1 and result.err_lines[0].startswith("error: "), result.err[-3000:]
    return result.err_lines[0]


def test_moved_run_folder_resumes_to_its_recorded_best(cli, interrupted: tuple[Path, Path], tmp_path: Path, no_report: None) -> None:
    run, _ = interrupted
    for path in run.rglob("*"):  # no file of the run names the folder it was made in
        assert not path.is_file() or str(run.resolve()).encode() not in path.read_bytes(), path
    moved = tmp_path / "elsewhere" / "cut"
    shutil.copytree(run, moved)
    resumed = cli("train", "--resume", moved)
    assert resumed.code == 0, resumed.err[-3000:]
    state = json.loads((moved / "state.json").read_text())
    metrics = json.loads((moved / "metrics.json").read_text())
    epochs = [(e["phase"], e["val_loss"]) for e in metrics["epochs"]]
    assert [p for p, _ in epochs] == ["head", "head", "finetune"]
    assert state["best"]["path"] == "checkpoints/phase0/best.ckpt" and state["best"]["phase"] == "head"
    assert state["best"]["val_loss"] == min(v for _, v in epochs) < epochs[-1][1]  # the best is not the last epoch
    best = read_checkpoint(moved / state["best"]["path"])["state_dict"]
    final = load_file(str(moved / "model.safetensors"))
    assert all((final[k] == best["model." + k]).all() for k in final)  # the final model is the recorded best
    assert metrics["val_loss"] == pytest.approx(state["best"]["val_loss"], abs=1e-5)


def _rename_class(data: Path) -> None:
    for split in ("train", "val"):
        (data / split / "cat").rename(data / split / "kitten")


def _add_class(data: Path) -> None:
    make_dataset(data / "extra", classes=("bird",), train=2, val=1)
    for split in ("train", "val"):
        (data / "extra" / split / "bird").rename(data / split / "fox")
    shutil.rmtree(data / "extra")


def _delete_images(data: Path) -> None:
    for path in sorted((data / "train" / "dog").iterdir())[:2]:
        path.unlink()


@pytest.mark.parametrize("change, message", [
    (_rename_class, r"classes in .* changed since this run started \(missing cat; new kitten\)"),
    (_add_class, r"classes in .* changed since this run started \(new fox\)"),
    (_delete_images, r"data in .* changed since this run started: training images: 2 missing \(train/dog/dog_0.png, train/dog/dog_1.png\)"),
])
def test_resume_on_changed_data_is_refused_and_changes_no_file(cli, interrupted, tmp_path: Path, change, message: str) -> None:
    run, data = _copy_run(interrupted, tmp_path)
    before = snapshot(run)
    change(data)
    line = _one_error_line(cli("train", "--resume", run))
    assert re.search(message, line), line
    assert "restore that data, or start a new run" in line
    assert snapshot(run) == before


@pytest.mark.parametrize("name", ["state.json", "checkpoints/phase1/last.ckpt", "checkpoints/phase0-end.safetensors"])
def test_corrupt_run_file_is_one_error_line_and_changes_no_file(cli, interrupted, tmp_path: Path, name: str) -> None:
    run, _ = _copy_run(interrupted, tmp_path)
    target = run / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(target.read_bytes()[:40] if target.exists() else b"PK\x03\x04 torn checkpoint")
    before = snapshot(run)
    line = _one_error_line(cli("train", "--resume", run))
    assert str(target) in line and "cannot be resumed" in line, line
    assert snapshot(run) == before


def test_resume_of_a_complete_run_says_so_and_rewrites_nothing(cli, trained_run: TrainedRun) -> None:
    before = snapshot(trained_run.run_dir)
    result = cli("train", "--resume", trained_run.run_dir)
    assert result.code == 0, result.err[-3000:]
    assert f"Run {trained_run.run_dir} is already complete (3 epochs; val_accuracy=" in result.out
    assert "nothing to resume" in result.out and "Phase" not in result.out
    assert snapshot(trained_run.run_dir) == before


def test_resume_with_other_training_flags_is_an_error_naming_them(cli, trained_run: TrainedRun) -> None:
    line = _one_error_line(cli("train", "--resume", trained_run.run_dir, "--epochs", "10", "--lr", "0.1"))
    assert "takes no other options, but got --epochs, --lr" in line, line
