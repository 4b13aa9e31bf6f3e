"""kill -9 a real ``headstart train`` process at the dangerous moments, resume, and get exactly the
run that was never interrupted: every planned epoch once, the same numbers, the CSV logs whole.

The kills are exact, not timed: ``HEADSTART_TEST_KILL_AT=LABEL@N`` makes the process SIGKILL
itself the N-th time it passes ``kill_point(LABEL)`` (see ``headstart/engine/kill_point.py``).
Each chain kills one run folder several times in a row, then lets a last ``--resume`` finish it.
"""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import headstart.runner
from headstart.engine.kill_point import ENV

from .conftest import TINY, make_dataset, run_cli

ARGS = [*TINY, "--batch-size", "4", "--precision", "32-true", "--strategy", "two-phase",
        "--head-epochs", "2", "--epochs", "2", "--seed", "0", "--head-fit", "epochs"]  # epochs: the head phase can be killed mid-way
PLANNED = [(0, "head", 0), (1, "head", 1), (2, "finetune", 0), (3, "finetune", 1)]  # 18 images: 4 batches/epoch

CHAINS = {
    # no cache: both phases keep a last.ckpt
    "uncached": (["--no-cache-features"], [
        "state-saved@1",          # head epoch 0: state.json written, last.ckpt not -> the phase starts over
        "phase-weights-saved@1",  # phase boundary: head end weights written, state.json not marking it done
        "train-batch@6",          # mid fine-tune epoch 1, after epoch 0's checkpoint
    ]),
    # cached head phase: no last.ckpt, a killed head phase starts over
    "cached": (["--cache-features"], [
        "state-saved@2",          # cached head epoch 1 recorded, then killed: its old history must go
        "state-saved@2",          # fine-tune epoch 1 recorded in state.json, its checkpoint not written
    ]),
    # EMA: last.ckpt holds both the raw and the averaged weights; a resume must restore both
    "ema": (["--no-cache-features", "--weight-averaging", "ema"], [
        "train-batch@14",         # mid fine-tune epoch 1 (after 8 head + 4 fine-tune batches and epoch 0's checkpoint)
    ]),
}


def _headstart(args: list[str], cwd: Path, kill_at: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(headstart.runner.__file__).parents[1]), env.get("PYTHONPATH", "")])
    if kill_at:
        env[ENV] = kill_at
    return subprocess.run([sys.executable, "-m", "headstart", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)


def _epochs(run: Path) -> list[tuple[int, str, int]]:
    return [(e["epoch"], e["phase"], e["phase_epoch"]) for e in json.loads((run / "metrics.json").read_text())["epochs"]]


def _csv_epochs(run: Path) -> dict[str, Counter]:
    """Per phase, how many rows with a val_loss each epoch has in the run's logs/csv/metrics.csv."""
    names = [p["name"] for p in json.loads((run / "state.json").read_text())["phases"]]
    counts: dict[str, Counter] = {}
    for row in csv.DictReader((run / "logs" / "csv" / "metrics.csv").open()):
        if row.get("val_loss"):
            counts.setdefault(names[int(float(row["phase"]))], Counter())[int(float(row["epoch"]))] += 1
    return counts


@pytest.mark.slow  # ~30 s of CPU per chain (4 or 3 process starts); measured on a loaded 2-core machine
@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path: Path, chain: str) -> None:
    cache, kills = CHAINS[chain]
    data = make_dataset(tmp_path / "data", train=6, val=2)
    reference = run_cli(["train", data, *ARGS, *cache, "--output-dir", tmp_path / "runs", "--name", "ref"])
    assert reference.code == 0, reference.err[-3000:]

    run = tmp_path / "runs" / "cut"
    command = ["train", str(data), *ARGS, *cache, "--output-dir", "runs", "--name", "cut"]
    for kill in kills:
        killed = _headstart(command, tmp_path, kill_at=kill)
        assert killed.returncode == -signal.SIGKILL, f"{kill} was not reached:\n{killed.stderr[-3000:]}"
        assert not (run / "metrics.json").exists()
        command = ["train", "--resume", str(run)]
    finished = _headstart(command, tmp_path)
    assert finished.returncode == 0, finished.stderr[-3000:]

    ref = tmp_path / "runs" / "ref"
    assert _epochs(run) == _epochs(ref) == PLANNED  # every planned epoch exactly once
    got, want = (json.loads((r / "metrics.json").read_text()) for r in (run, ref))
    for resumed, uninterrupted in zip(got["epochs"], want["epochs"]):
        assert resumed["val_loss"] == pytest.approx(uninterrupted["val_loss"], abs=1e-6), resumed
        assert resumed["train_loss"] == pytest.approx(uninterrupted["train_loss"], abs=1e-6), resumed
    assert got["val_loss"] == pytest.approx(want["val_loss"], abs=1e-6)
    assert got["val_accuracy"] == want["val_accuracy"]
    # the CSV logs hold each epoch once: rows from before a kill kept, the cut epoch's rows not doubled
    assert _csv_epochs(run) == _csv_epochs(ref) == {"head": Counter({0: 1, 1: 1}), "finetune": Counter({0: 1, 1: 1})}
    print(f"{chain}: resumed val_loss {got['val_loss']:.8f} vs uninterrupted {want['val_loss']:.8f} "
          f"(difference {abs(got['val_loss'] - want['val_loss']):.2e})")
