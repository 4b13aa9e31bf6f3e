"""Turn output scores into answers, for either task, without torch (the ONNX predictor imports this).

Single-label: softmax, then the top-k labels. Multi-label: an independent sigmoid per label, and
the answer is the *set* of labels whose probability reaches that label's threshold (chosen on
validation data at training time and saved in ``model.json`` / ``preprocessing.json``).

Result shape, shared by Predictor, OnnxPredictor, ``headstart predict --json`` and ``serve``:
``{"label", "probability", "top_k": [{"label", "probability"}, ...]}``, and for multi-label also
``"labels"``: every label above its threshold with its probability, most likely first (possibly
empty). ``label``/``probability`` are then the highest-scoring label, whether or not it is in the set.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

MULTI_LABEL = "multi-label"
DEFAULT_THRESHOLD = 0.5


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float32, stable for large logits."""
    shifted = logits.astype(np.float32) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Element-wise logistic function in float32, without overflow warnings for large logits."""
    x = logits.astype(np.float32)
    return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))


def probabilities(logits: np.ndarray, task: str) -> np.ndarray:
    """Softmax over classes (single-label) or a sigmoid per label (multi-label)."""
    return sigmoid(logits) if task == MULTI_LABEL else softmax(logits)


def format_predictions(probs: np.ndarray, classes: Sequence[str], top_k: int = 5, *, task: str = "single-label",
                       thresholds: Sequence[float] | None = None) -> list[dict[str, Any]]:
    """One result dict per row of ``probs`` (see the module docstring)."""
    k = max(1, min(top_k, len(classes)))
    cuts = np.asarray(thresholds if thresholds is not None else [DEFAULT_THRESHOLD] * len(classes), dtype=np.float32)
    results = []
    for row in probs:
        order = np.argsort(-row)
        top = [{"label": classes[i], "probability": round(float(row[i]), 6)} for i in order[:k]]
        result: dict[str, Any] = {"label": top[0]["label"], "probability": top[0]["probability"], "top_k": top}
        if task == MULTI_LABEL:
            result["labels"] = [{"label": classes[i], "probability": round(float(row[i]), 6)}
                                for i in order if row[i] >= cuts[i]]
        results.append(result)
    return results
