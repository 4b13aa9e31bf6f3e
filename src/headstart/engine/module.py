"""ClassifierModule: the LightningModule that trains a TransferModel for one phase.

Lightning runs the loops, devices, precision and checkpoints; this module only says what a step
is (the task's loss, see ``objective.py``: cross-entropy or per-label BCE) and which optimizer the phase
uses: AdamW over the *trainable* parameters only, in discriminative param groups, with linear
warmup then cosine decay, stepped per batch.

Validation always runs in fp32, whatever the training precision: its numbers pick the kept epoch
and must describe the model users get (predict, evaluate and export run it in fp32), so a kept
epoch's val metrics equal the run's headline metrics. Its loss and accuracy are torchmetrics
states summed over processes, so under DDP every validation item counts exactly once (with the
unpadded sampler of ``data/samplers.py``).
"""
from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from torchmetrics import MeanMetric

from ..model import TransferModel
from ..params.param_groups import discriminative_param_groups
from ..strategies.base import Phase
from .objective import model_task, objective_for


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    """LR multiplier: linear warmup to 1, then cosine to 0 at ``total`` steps."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


class ClassifierModule(L.LightningModule):
    """Trains ``model`` for ``phase``; with ``features_input=True`` batches are cached features and
    only the head runs (see the feature cache)."""

    def __init__(
        self,
        model: TransferModel,
        phase: Phase,
        *,
        num_classes: int,
        weight_decay: float = 0.01,
        label_smoothing: float = 0.0,
        class_weights: torch.Tensor | None = None,
        features_input: bool = False,
        channels_last: bool = False,
        mixer: Any = None,
    ):
        super().__init__()
        self.model = model
        self.phase = phase
        self.weight_decay = weight_decay
        self.label_smoothing = label_smoothing
        self.features_input = features_input
        self.channels_last = channels_last
        self.register_buffer("class_weights", class_weights if class_weights is not None else torch.ones(num_classes), persistent=False)
        self.use_class_weights = class_weights is not None
        self.objective = objective_for(model_task(model), num_classes)
        self.train_acc = self.objective.accuracy()
        self.val_acc = self.objective.accuracy()
        self.val_extra = torch.nn.ModuleDict(self.objective.extra_val_metrics())
        self.mixer = mixer  # data.augment.BatchMixer: mixup/cutmix with soft targets (image phases only)
        # the mean over items (not over batches or processes); a NaN loss stays NaN, never silently dropped
        self.val_loss = MeanMetric(nan_strategy="disable")

    def forward(self, inputs: Any) -> torch.Tensor:
        if self.features_input:
            return self.model.head(inputs)
        if self.channels_last and isinstance(inputs, torch.Tensor) and inputs.ndim == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        return self.model(inputs)

    def _loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        weight = self.class_weights.to(logits.dtype) if self.use_class_weights else None
        return self.objective.loss(logits, y, weight=weight.float() if weight is not None else None,
                                   label_smoothing=self.label_smoothing)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        if self.mixer is not None and not self.features_input:
            from timm.loss import SoftTargetCrossEntropy

            x, soft = self.mixer(x, y)
            y = y[: soft.shape[0]]  # accuracy against each mixed image's first label
            logits = self(x)
            loss = SoftTargetCrossEntropy()(logits.float(), soft)
        else:
            logits = self(x)
            loss = self._loss(logits, y)
        self.train_acc(logits.detach(), self.objective.metric_target(y))
        bs = y.shape[0]
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=bs, sync_dist=True)
        self.log("train_accuracy", self.train_acc, on_step=False, on_epoch=True, batch_size=bs)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        with torch.autocast(self.device.type, enabled=False):  # fp32 under mixed precision (module docstring)
            logits = self(x).float()
        self.val_acc.update(logits, self.objective.metric_target(y))
        self.val_loss.update(self.objective.item_losses(logits, y))
        bs = y.shape[0]
        self.log("val_loss", self.val_loss, on_epoch=True, prog_bar=True, batch_size=bs)
        self.log("val_accuracy", self.val_acc, on_epoch=True, prog_bar=True, batch_size=bs)
        for name, metric in self.val_extra.items():
            metric.update(logits, self.objective.metric_target(y))
            self.log(name, metric, on_epoch=True, batch_size=bs)

    def param_groups(self) -> list[dict[str, Any]]:
        return discriminative_param_groups(
            self.model, self.phase.head_lr, layer_decay=self.phase.layer_decay,
            lr_spread=self.phase.lr_spread, weight_decay=self.weight_decay)

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.param_groups())
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = int(round(self.phase.warmup_fraction * total))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_cosine(step, total, warmup))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
