"""End-to-end CLI fixtures: a tiny generated image dataset, a ``cli`` runner and one shared run.

Everything goes through ``headstart.cli.main(argv)`` in-process (what the ``headstart`` script
calls), with the ``tinycnn`` backbone at 32 px so a whole training run takes a few seconds.
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

from headstart.cli import main

CLASSES = ("bird", "cat", "dog")
COLOURS = {"bird": (40, 200, 60), "cat": (200, 60, 40), "dog": (40, 80, 210)}
# The tiny-model flags every training test uses (no pretrained weights, 32 px, no loader workers).
TINY = ["--model", "tinycnn", "--weights", "none", "--image-size", "32", "--batch-size", "8",
        "--num-workers", "0"]


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def write_images(folder: Path, name: str, count: int, rng: np.random.Generator, size: tuple[int, int] = (36, 40)) -> None:
    """``count`` PNGs of class ``name``: its colour plus noise, so classes are learnable."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        pixels = np.clip(np.array(COLOURS[name]) + rng.normal(0, 30, (*size, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{name}_{i}.png")


def make_dataset(root: Path, classes: tuple[str, ...] = CLASSES, train: int = 8, val: int = 3, seed: int = 0) -> Path:
    """``root/train/<class>/`` and ``root/val/<class>/`` with ``train``/``val`` images per class."""
    rng = np.random.default_rng(seed)
    for name in classes:
        write_images(root / "train" / name, name, train, rng)
        write_images(root / "val" / name, name, val, rng)
    return root


def run_cli(argv: list[str]) -> CliResult:
    """``main(argv)`` with stdout/stderr captured (usable where ``capsys`` is not: session fixtures)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="session")
def image_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 classes x (8 train + 3 val) images of 36x40 px; read-only for the tests."""
    return make_dataset(tmp_path_factory.mktemp("cli-data") / "shapes")


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., CliResult]:
    """Run ``headstart ARGS...`` in-process from ``tmp_path``; returns exit code, stdout, stderr."""
    monkeypatch.chdir(tmp_path)

    def invoke(*argv: str | Path) -> CliResult:
        capsys.readouterr()  # drop whatever earlier steps printed
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return invoke


@pytest.fixture
def no_report(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip the HTML report and plots (~1.5 s of matplotlib per run); the report has its own tests.
    The two-phase run of ``trained_run`` keeps them."""
    import headstart.runner

    monkeypatch.setattr(headstart.runner, "_write_report", lambda run_dir, console: None)


@dataclass
class TrainedRun:
    run_dir: Path
    data: Path
    result: CliResult


@pytest.fixture(scope="session")
def trained_run(image_data: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    """One two-phase run (1 head epoch + 2 fine-tune epochs), shared by the train, evaluate and
    predict tests."""
    out_dir = tmp_path_factory.mktemp("cli-runs")
    result = run_cli(["train", image_data, *TINY, "--strategy", "two-phase", "--head-epochs", "1",
                      "--epochs", "2", "--output-dir", out_dir, "--name", "shared"])
    assert result.code == 0, result.err[-3000:]
    return TrainedRun(out_dir / "shared", image_data, result)
