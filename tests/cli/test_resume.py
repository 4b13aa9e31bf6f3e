"""Interrupt a run, then ``headstart train --resume RUN``: nothing redone, nothing lost, no torn files."""
from __future__ import annotations

import json
import os
from pathlib import Path

import lightning as L
import pytest
import torch

import headstart.runner
from headstart.engine import checkpoint_io
from headstart.engine.checkpoint_io import AtomicCheckpointIO

from .conftest import TINY


class InterruptAt(L.Callback):
    """Simulates Ctrl+C: raises KeyboardInterrupt at ``batch`` of ``epoch`` of phase ``phase``."""

    def __init__(self, phase: str, epoch: int, batch: int):
        self.phase, self.epoch, self.batch = phase, epoch, batch
        self.fired = False

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if (pl_module.phase.name, trainer.current_epoch, batch_idx) == (self.phase, self.epoch, self.batch):
            self.fired = True
            raise KeyboardInterrupt


def interrupt_training(patch: pytest.MonkeyPatch, interrupt: InterruptAt) -> None:
    """Within ``patch``'s context every training run gets ``interrupt`` among its callbacks."""
    real_fit_plan = headstart.runner.fit_plan

    def fit_plan_with_interrupt(model, datamodule, plan, run_dir, options, **kwargs):
        options.extra_callbacks.append(interrupt)
        return real_fit_plan(model, datamodule, plan, run_dir, options, **kwargs)

    patch.setattr(headstart.runner, "fit_plan", fit_plan_with_interrupt)


def _fail_next_replace(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make the next ``os.replace`` (the atomic rename) raise, as if the process died mid-write."""
    calls: list[str] = []
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        calls.append(str(dst))
        if len(calls) == 1:
            raise OSError(28, "No space left on device (simulated)")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(checkpoint_io.os, "replace", replace)
    return calls


def test_interrupted_run_resumes_without_redoing_phases(cli, image_data: Path, monkeypatch: pytest.MonkeyPatch, no_report: None) -> None:
    interrupt = InterruptAt("finetune", epoch=1, batch=1)
    with pytest.MonkeyPatch.context() as patch:
        interrupt_training(patch, interrupt)
        first = cli("train", image_data, *TINY, "--batch-size", "4", "--strategy", "two-phase", "--head-epochs", "1",
                    "--epochs", "2", "--name", "cut")
    assert interrupt.fired
    assert first.code == 130, first.err[-2000:]
    assert "--resume" in first.err and "Traceback" not in first.err

    # The interrupted folder is consistent: config, state with the finished phase, loadable checkpoints.
    run = Path("runs/cut")
    assert (run / "config.yaml").is_file() and not (run / "metrics.json").exists()
    state = json.loads((run / "state.json").read_text())
    assert state["completed"] == 1
    assert [(e["phase"], e["phase_epoch"]) for e in state["history"]] == [("head", 0), ("finetune", 0)]
    last = run / "checkpoints" / "phase1" / "last.ckpt"
    saved = AtomicCheckpointIO().load_checkpoint(last)
    assert saved["epoch"] == 0 and any(k.startswith("model.") for k in saved["state_dict"])
    assert (run / "checkpoints" / "phase0-end.safetensors").is_file()

    # A checkpoint write that dies before its rename leaves the previous last.ckpt as it was.
    before = last.read_bytes()
    with pytest.MonkeyPatch.context() as patch:
        calls = _fail_next_replace(patch)
        with pytest.raises(OSError, match="simulated"):
            AtomicCheckpointIO().save_checkpoint({"state_dict": {}, "epoch": 99}, last)
    assert calls == [str(last)]
    assert last.read_bytes() == before
    assert [p.name for p in last.parent.iterdir() if p.name.endswith(".tmp")] == []
    resumed = cli("train", "--resume", run)
    assert resumed.code == 0, resumed.err[-3000:]
    assert "Phase 1/2" not in resumed.out and "Phase 2/2: finetune" in resumed.out  # the head phase is not redone
    metrics = json.loads((run / "metrics.json").read_text())
    history = [(e["epoch"], e["phase"], e["phase_epoch"]) for e in metrics["epochs"]]
    assert history == [(0, "head", 0), (1, "finetune", 0), (2, "finetune", 1)]  # each epoch once
    assert isinstance(metrics["val_accuracy"], float) and (run / "model.safetensors").is_file()
    params = json.loads((run / "params.json").read_text())
    assert [p["phase"] for p in params["phases"]] == ["head", "finetune"]  # the finished phase's report is kept
    assert json.loads((run / "state.json").read_text())["completed"] == 2
    # the finished run predicts
    image = next((image_data / "val" / "cat").iterdir())
    predicted = cli("predict", run, image, "--json")
    assert predicted.code == 0 and json.loads(predicted.out.splitlines()[0])["label"] in {"bird", "cat", "dog"}


def test_interrupted_checkpoint_write_keeps_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "checkpoints" / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}, "epoch": 1}, target)
    _fail_next_replace(monkeypatch)
    with pytest.raises(OSError):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(3)}, "epoch": 2}, target)
    kept = io.load_checkpoint(target)
    assert kept["epoch"] == 1 and torch.equal(kept["state_dict"]["w"], torch.ones(3))
    assert sorted(p.name for p in target.parent.iterdir()) == ["last.ckpt"]  # no temp file left behind
    io.save_checkpoint({"state_dict": {"w": torch.zeros(3)}, "epoch": 2}, target)  # the next write succeeds
    assert io.load_checkpoint(target)["epoch"] == 2
