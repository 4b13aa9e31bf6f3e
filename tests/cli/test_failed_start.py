"""A start that fails must not block the run name; --overwrite replaces only a headstart run; a
diverging run stops with one line and leaves only valid JSON."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .conftest import TINY, TrainedRun
from .test_bad_input import assert_one_line_error


def _strict_json(path: Path) -> object:
    def refuse(token: str) -> None:
        raise ValueError(f"{path} holds {token}, which is not JSON")
    return json.loads(path.read_text(), parse_constant=refuse)


def test_failure_after_the_folder_exists_removes_it(cli, tmp_path: Path, image_data: Path, monkeypatch) -> None:
    import headstart.runner
    from headstart.errors import DataError

    def broken_fit(*args, **kwargs):
        raise DataError("a file broke while training")

    monkeypatch.setattr(headstart.runner, "fit_plan", broken_fit)
    assert_one_line_error(cli("train", image_data, *TINY, "--name", "r1"), "a file broke")
    assert not (tmp_path / "runs" / "r1").exists()


def test_interrupted_start_keeps_its_folder_for_resume(cli, tmp_path: Path, image_data: Path, monkeypatch) -> None:
    import headstart.runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(headstart.runner, "fit_plan", interrupted)
    assert cli("train", image_data, *TINY, "--name", "r2").code == 130
    assert (tmp_path / "runs" / "r2" / "config.yaml").is_file()


def test_overwrite_replaces_an_earlier_run(cli, tmp_path: Path, trained_run: TrainedRun, no_report) -> None:
    old = tmp_path / "out" / "shared"
    shutil.copytree(trained_run.run_dir, old)
    (old / "checkpoints" / "stale.ckpt").write_bytes(b"old")
    result = cli("train", trained_run.data, *TINY, "--strategy", "fine-tune", "--epochs", "1",
                 "--output-dir", old.parent, "--name", "shared", "--overwrite")
    assert result.code == 0, result.err[-2000:]
    assert not (old / "checkpoints" / "stale.ckpt").exists()
    assert [e["phase"] for e in _strict_json(old / "metrics.json")["epochs"]] == ["finetune"]
    assert "overwrite: false" in (old / "config.yaml").read_text()  # `--config` of it never deletes a run


def test_diverging_run_stops_with_one_line_and_valid_json(cli, tmp_path: Path, image_data: Path) -> None:
    result = cli("train", image_data, *TINY, "--strategy", "fine-tune", "--epochs", "3", "--lr", "1e9",
                 "--no-cache-features", "--name", "boom")
    line = assert_one_line_error(result, "diverged", "Lower --lr")
    assert "nan" in line or "inf" in line
    for path in tmp_path.rglob("*.json"):
        _strict_json(path)


def test_small_run_console_has_no_lightning_noise(cli, image_data: Path, no_report) -> None:
    result = cli("train", image_data, *TINY, "--strategy", "two-phase", "--head-epochs", "1", "--epochs", "1", "--name", "quiet")
    assert result.code == 0, result.err[-2000:]
    assert "logging interval" not in result.err and "log_every_n_steps" not in result.err
    assert "(1 epoch)" in result.out and "(1 epochs)" not in result.out
    assert "v_num" not in result.out + result.err and "Epoch 0/0" not in result.out + result.err
    assert "extraction)" in result.out  # the cached head phase's feature extraction time, in the summary
