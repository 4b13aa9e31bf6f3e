"""Evaluation: logits over a dataloader, then accuracy, macro-F1, per-class P/R and the confusion matrix."""
from __future__ import annotations

from typing import Any, Iterable

import torch
import torch.nn.functional as F
from torchmetrics.functional.classification import (
    multiclass_confusion_matrix,
    multiclass_f1_score,
    multiclass_precision,
    multiclass_recall,
)


def _to_device(inputs: Any, device: torch.device) -> Any:
    if isinstance(inputs, dict):
        return {k: v.to(device) for k, v in inputs.items()}
    return inputs.to(device)


@torch.inference_mode()
def collect_logits(model: torch.nn.Module, batches: Iterable, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``model`` in eval mode over ``(inputs, labels)`` batches; returns (logits, labels) on CPU."""
    device = torch.device(device)
    model.eval().to(device)
    all_logits, all_labels = [], []
    for inputs, labels in batches:
        all_logits.append(model(_to_device(inputs, device)).float().cpu())
        all_labels.append(labels.cpu())
    return torch.cat(all_logits), torch.cat(all_labels)


def classification_metrics(logits: torch.Tensor, labels: torch.Tensor, classes: list[str]) -> dict[str, Any]:
    """Metrics in the run folder's ``metrics.json`` format."""
    n = len(classes)
    preds = logits.argmax(1)
    per_p = multiclass_precision(preds, labels, num_classes=n, average=None, zero_division=0)
    per_r = multiclass_recall(preds, labels, num_classes=n, average=None, zero_division=0)
    per_f = multiclass_f1_score(preds, labels, num_classes=n, average=None, zero_division=0)
    support = torch.bincount(labels, minlength=n)
    return {
        "val_accuracy": float((preds == labels).float().mean()) if len(labels) else 0.0,
        "val_loss": float(F.cross_entropy(logits, labels)) if len(labels) else 0.0,
        "macro_f1": float(multiclass_f1_score(preds, labels, num_classes=n, average="macro", zero_division=0)),
        "classes": list(classes),
        "per_class": {c: {"precision": float(per_p[i]), "recall": float(per_r[i]), "f1": float(per_f[i]),
                          "support": int(support[i])} for i, c in enumerate(classes)},
        "confusion_matrix": multiclass_confusion_matrix(preds, labels, num_classes=n).tolist(),
    }


def prediction_items(logits: torch.Tensor, labels: torch.Tensor, inputs: list[str]) -> list[dict[str, Any]]:
    probs = logits.softmax(1)
    conf, preds = probs.max(1)
    return [{"input": str(x), "label": int(y), "pred": int(p), "confidence": round(float(c), 5)}
            for x, y, p, c in zip(inputs, labels.tolist(), preds.tolist(), conf.tolist())]
