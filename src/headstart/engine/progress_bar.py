"""The training progress bar: which phase, which epoch of how many (counted from 1), and the losses.

Why not Lightning's default: it counts epochs from 0 against ``max_epochs - 1`` ("Epoch 0/0" for a
one-epoch phase) and shows the logger's version (``v_num: head``), which means nothing to a user.
"""
from __future__ import annotations

from typing import Any

from lightning.pytorch.callbacks import RichProgressBar


class PhaseProgressBar(RichProgressBar):
    """``head 1/2`` ... ``finetune 3/5`` with the step and epoch metrics, no ``v_num``."""

    def __init__(self, phase_name: str):
        super().__init__()
        self.phase_name = phase_name

    def _get_train_description(self, current_epoch: int) -> str:  # Lightning's hook for the bar's label
        total = self.trainer.max_epochs
        text = f"{self.phase_name} epoch {current_epoch + 1}" + (f"/{total}" if total and total > 0 else "")
        return f"{text:{len(self.validation_description)}}" if len(self.validation_description) > len(text) else text

    def get_metrics(self, trainer: Any, pl_module: Any) -> dict[str, Any]:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        return items
