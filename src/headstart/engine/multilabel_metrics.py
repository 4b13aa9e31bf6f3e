"""Multi-label evaluation: per-label thresholds, F1 (micro/macro/per label), mAP, and prediction items.

Why per-label thresholds: a sigmoid output of 0.5 is the right cut only when the loss is balanced;
a rare label's scores sit lower, so a fixed 0.5 misses it. Each label's threshold is the one that
maximises that label's F1 on the validation data (from torchmetrics' precision-recall curve),
placed halfway to the next lower score so that it does not sit exactly on one example. A label
without positive validation items keeps 0.5.

Honesty note: F1 at thresholds tuned on the same validation data is optimistic; mAP does not
depend on any threshold and is the headline number (labels with no positive validation items are
left out of its mean, since their AP is undefined).
"""
from __future__ import annotations

import warnings
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torchmetrics.functional.classification import (
    multilabel_average_precision,
    multilabel_exact_match,
    multilabel_f1_score,
    multilabel_precision,
    multilabel_precision_recall_curve,
    multilabel_recall,
)

DEFAULT_THRESHOLD = 0.5


def choose_thresholds(probs: torch.Tensor, targets: torch.Tensor) -> list[float]:
    """Per-label thresholds maximising each label's F1 on ``probs [N, C]`` vs 0/1 ``targets``."""
    num_labels = probs.shape[1]
    if probs.shape[0] == 0:
        return [DEFAULT_THRESHOLD] * num_labels
    with warnings.catch_warnings():  # a label without positives: torchmetrics warns, we keep 0.5
        warnings.simplefilter("ignore", UserWarning)
        precision, recall, cuts = multilabel_precision_recall_curve(probs, targets.long(), num_labels=num_labels)
    thresholds = []
    for k in range(num_labels):
        if targets[:, k].sum() == 0:
            thresholds.append(DEFAULT_THRESHOLD)
            continue
        p, r = precision[k][:-1], recall[k][:-1]  # the last point (P=1, R=0) has no threshold
        f1 = 2 * p * r / (p + r).clamp(min=1e-12)
        best = int(torch.argmax(f1))  # cuts ascend: argmax picks the lowest cut among ties
        cut = float(cuts[k][best])
        lower = probs[:, k][probs[:, k] < cut]
        thresholds.append(round((cut + float(lower.max())) / 2 if lower.numel() else cut, 6))
    return thresholds


def label_sets(probs: torch.Tensor, thresholds: Sequence[float]) -> torch.Tensor:
    """0/1 predictions ``[N, C]``: a label is on when its probability reaches its threshold."""
    return (probs >= torch.tensor(list(thresholds), dtype=probs.dtype)).long()


def multilabel_metrics(logits: torch.Tensor, targets: torch.Tensor, classes: list[str],
                       thresholds: Sequence[float]) -> dict[str, Any]:
    """Metrics in the ``metrics.json`` format of a multi-label run (``task: multi-label``).

    ``val_accuracy`` is the exact-match ratio (the whole label set right), ``macro_f1`` and
    ``micro_f1`` use ``thresholds``; ``val_map`` is the mean over labels with positives of
    torchmetrics' average precision.
    """
    n = len(classes)
    targets = targets.long()
    probs = logits.float().sigmoid()
    preds = label_sets(probs, thresholds)
    support = targets.sum(0)
    common = {"num_labels": n, "zero_division": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ap = multilabel_average_precision(probs, targets, num_labels=n, average=None) if len(targets) \
            else torch.zeros(n)
    has_positives = support > 0
    per_p = multilabel_precision(preds, targets, average=None, **common)
    per_r = multilabel_recall(preds, targets, average=None, **common)
    per_f = multilabel_f1_score(preds, targets, average=None, **common)
    return {
        "task": "multi-label",
        "val_accuracy": float(multilabel_exact_match(preds, targets, num_labels=n)) if len(targets) else 0.0,
        "val_loss": float(F.binary_cross_entropy_with_logits(logits.float(), targets.float())) if len(targets) else 0.0,
        "val_map": float(ap[has_positives].mean()) if bool(has_positives.any()) else 0.0,
        "micro_f1": float(multilabel_f1_score(preds, targets, average="micro", **common)),
        "macro_f1": float(multilabel_f1_score(preds, targets, average="macro", **common)),
        "classes": list(classes),
        "thresholds": {c: float(t) for c, t in zip(classes, thresholds)},
        "per_class": {c: {"precision": float(per_p[i]), "recall": float(per_r[i]), "f1": float(per_f[i]),
                          "ap": float(ap[i]) if bool(has_positives[i]) else None, "support": int(support[i]),
                          "threshold": float(thresholds[i])}
                      for i, c in enumerate(classes)},
    }


def multilabel_prediction_items(logits: torch.Tensor, targets: torch.Tensor, inputs: list[str],
                                thresholds: Sequence[float]) -> list[dict[str, Any]]:
    """``val_predictions.json`` items: true and predicted label index lists and every label's score.

    ``confidence`` is how sure the model was of its worst decision (``p`` for a false positive,
    ``1 - p`` for a false negative), so the report's "confidently wrong" gallery ranks label-set
    mistakes the same way it ranks single-label ones.
    """
    probs = logits.float().sigmoid()
    preds = label_sets(probs, thresholds)
    items = []
    for x, y, p, pred in zip(inputs, targets.long().tolist(), probs.tolist(), preds.tolist()):
        wrong = [max(s, 1 - s) for s, t, q in zip(p, y, pred) if t != q]
        items.append({"input": str(x), "label": [i for i, t in enumerate(y) if t],
                      "pred": [i for i, q in enumerate(pred) if q], "scores": [round(s, 5) for s in p],
                      "confidence": round(max(wrong) if wrong else min(max(s, 1 - s) for s in p), 5)})
    return items


def multilabel_results(logits: torch.Tensor, targets: torch.Tensor, classes: list[str],
                       inputs: list[str]) -> tuple[dict[str, Any], list[dict[str, Any]], list[float]]:
    """What a finished multi-label run saves: ``(metrics, val prediction items, thresholds)``,
    with the thresholds chosen on these validation logits."""
    thresholds = choose_thresholds(logits.float().sigmoid(), targets)
    metrics = multilabel_metrics(logits, targets, classes, thresholds)
    return metrics, multilabel_prediction_items(logits, targets, inputs, thresholds), thresholds
