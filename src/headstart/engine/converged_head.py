"""The Lightning side of a converged head phase: one "epoch" that fits the head to convergence.

Why a LightningModule at all: the phase then runs through the same Trainer as every other phase,
so validation, the val metrics in the history, the best-checkpoint rule, precision, DDP and the
logs stay exactly as they are for minibatch phases. The single training step ignores its batch
and solves the head on *all* cached training features (every process holds all of them, so every
rank computes the same solution), in float32/64 outside autocast.

What ``--epochs`` means here: nothing. A converged head phase is recorded as one history entry
whose ``probe`` field says what the solver chose (L2 strength, CV accuracy, iterations).
"""
from __future__ import annotations

from typing import Any

import torch

from .linear_probe import ProbeOptions, fit_head
from .module import ClassifierModule


class ConvergedHeadModule(ClassifierModule):
    """A :class:`ClassifierModule` on cached features whose one training step converges the head."""

    max_epochs = 1

    def __init__(self, *args: Any, probe_options: ProbeOptions | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.automatic_optimization = False
        self.probe_options = probe_options or ProbeOptions()
        self.history_extras: dict[str, Any] = {}

    def training_step(self, batch: Any, batch_idx: int) -> None:
        if self.history_extras:  # already solved (a DDP rank may see more than one batch)
            return None
        train = self.trainer.datamodule.datasets["train"]
        options = self.probe_options
        if self.use_class_weights:
            options = ProbeOptions(**{**options.__dict__, "class_weights": self.class_weights.float().cpu()})
        head = self.model.head
        device = next(head.parameters()).device
        with torch.autocast(device_type=device.type, enabled=False):
            head.cpu()
            result = fit_head(head, train.features, train.labels, train.views, options)
            head.to(device)
        self.optimizers().step()  # a no-op (lr 0, no gradients) that counts as the phase's one step, so
        # Lightning's ModelCheckpoint (which skips epochs without a new global step) saves this epoch
        self.history_extras = {"probe": result.to_dict(), "lr": None}
        bs = int(train.labels.shape[0])
        self.log("train_loss", result.train_loss, on_step=False, on_epoch=True, batch_size=bs, sync_dist=True)
        self.log("train_accuracy", result.train_accuracy, on_step=False, on_epoch=True, batch_size=bs)
        return None

    def configure_optimizers(self):
        return torch.optim.SGD(self.model.head.parameters(), lr=0.0)
