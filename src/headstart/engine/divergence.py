"""Stop a run whose loss turns NaN or infinite, with one clear message.

Why: after a too-large learning rate (``--lr 10``) the weights become inf/NaN within a step or two,
and every later epoch trains on garbage while the console keeps printing ``nan``. Once the loss is
not finite nothing useful can come of the phase, so the run stops at the first such batch.
"""
from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch

from ..errors import HeadstartError


class TrainingDiverged(HeadstartError):
    """The loss became NaN or infinite (usually: the learning rate is too high)."""


class StopOnNonFiniteLoss(L.Callback):
    """Raise :class:`TrainingDiverged` at the first training batch (or validation) whose loss is not finite."""

    def __init__(self, phase_name: str, lr: float):
        self.phase_name = phase_name
        self.lr = lr

    def _diverged(self, trainer: L.Trainer, what: str, value: float) -> TrainingDiverged:
        return TrainingDiverged(
            f"Training diverged: {what} became {value} in phase '{self.phase_name}' "
            f"(epoch {trainer.current_epoch + 1}, step {trainer.global_step}) at head LR {self.lr:g}.",
            "Lower --lr (try 10x smaller, or --lr auto).")

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor) and not bool(torch.isfinite(loss.detach()).all()):
            raise self._diverged(trainer, "the training loss", float(loss.detach().float().mean()))

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get("val_loss")
        if trainer.sanity_checking or value is None:
            return
        if not math.isfinite(float(value)):
            raise self._diverged(trainer, "the validation loss", float(value))
