"""What a training step optimises and logs, per task: single-label (softmax) or multi-label (sigmoid).

Why an object: the loop, optimizer, checkpoints and feature cache are the same for both tasks;
only the loss and the epoch metrics differ. ``ClassifierModule`` asks the objective for those and
stays task-agnostic. (Predictors apply the matching activation: ``export/label_sets.py``.)

* single-label: cross-entropy (optional label smoothing and class weights), accuracy.
* multi-label: binary cross-entropy on each label's logit (``BCEWithLogits``; label smoothing
  pulls 0/1 targets towards 0.5), exact-match accuracy at 0.5 and mAP
  (``MultilabelAveragePrecision``, logged as ``val_map``). ``val_loss`` stays the monitored metric.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics import Metric
from torchmetrics.classification import MulticlassAccuracy, MultilabelAveragePrecision, MultilabelExactMatch

from ..errors import ConfigError

SINGLE_LABEL = "single-label"
MULTI_LABEL = "multi-label"


class SingleLabelObjective:
    task = SINGLE_LABEL

    def __init__(self, num_classes: int):
        self.num_classes = num_classes

    def loss(self, logits: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None = None,
             label_smoothing: float = 0.0) -> torch.Tensor:
        return F.cross_entropy(logits.float(), y, weight=weight, label_smoothing=label_smoothing)

    def item_losses(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The plain (unweighted, unsmoothed) loss of each item, ``[B]``: what ``val_loss`` averages."""
        return F.cross_entropy(logits.float(), y, reduction="none")

    def metric_target(self, y: torch.Tensor) -> torch.Tensor:
        """``y`` as torchmetrics wants it (class indices; 0/1 integers for multi-label)."""
        return y if self.task == SINGLE_LABEL else y.long()

    def accuracy(self) -> Metric:
        return MulticlassAccuracy(num_classes=self.num_classes, average="micro")

    def extra_val_metrics(self) -> dict[str, Metric]:
        return {}


class MultiLabelObjective(SingleLabelObjective):
    task = MULTI_LABEL

    def loss(self, logits: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None = None,
             label_smoothing: float = 0.0) -> torch.Tensor:
        target = y.float()
        if label_smoothing:
            target = target * (1.0 - label_smoothing) + 0.5 * label_smoothing
        return F.binary_cross_entropy_with_logits(logits.float(), target, pos_weight=weight)

    def item_losses(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # mean over labels per item; the mean over items is then the BCE over every (item, label)
        return F.binary_cross_entropy_with_logits(logits.float(), y.float(), reduction="none").mean(1)

    def accuracy(self) -> Metric:
        # exact match: the whole label set must be right (at the default 0.5 threshold)
        return MultilabelExactMatch(num_labels=self.num_classes)

    def extra_val_metrics(self) -> dict[str, Metric]:
        return {"val_map": MultilabelAveragePrecision(num_labels=self.num_classes, average="macro")}


def objective_for(task: str, num_classes: int) -> SingleLabelObjective:
    """The objective of ``task`` (``single-label`` or ``multi-label``) for ``num_classes`` outputs."""
    if task == SINGLE_LABEL:
        return SingleLabelObjective(num_classes)
    if task == MULTI_LABEL:
        return MultiLabelObjective(num_classes)
    raise ConfigError(f"task={task!r}: use {SINGLE_LABEL} or {MULTI_LABEL}.")


def model_task(model: Any) -> str:
    """The task a model was built for (``TransferModel.task``; single-label when unset)."""
    return str(getattr(model, "task", None) or SINGLE_LABEL)
