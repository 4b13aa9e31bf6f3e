"""Per-label thresholds, mAP/F1 and label-set formatting on hand-checkable numbers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from headstart.engine.multilabel_metrics import choose_thresholds, multilabel_metrics, multilabel_prediction_items
from headstart.engine.objective import MultiLabelObjective
from headstart.export.label_sets import format_predictions, sigmoid


def test_threshold_maximises_each_labels_f1_and_sits_between_scores() -> None:
    # label 0: positives score 0.30 and 0.35, negatives 0.10 and 0.20 -> any cut in (0.20, 0.30] is perfect
    # label 1: no positives -> keeps 0.5
    probs = torch.tensor([[0.30, 0.9], [0.35, 0.8], [0.10, 0.1], [0.20, 0.2]])
    targets = torch.tensor([[1, 0], [1, 0], [0, 0], [0, 0]])
    assert choose_thresholds(probs, targets) == [pytest.approx(0.25), 0.5]


def test_metrics_use_the_thresholds_and_skip_labels_without_positives_in_map() -> None:
    probs = torch.tensor([[0.30, 0.9], [0.35, 0.8], [0.10, 0.1], [0.20, 0.2]])
    logits = torch.log(probs / (1 - probs))
    targets = torch.tensor([[1, 0], [1, 0], [0, 0], [0, 0]])
    m = multilabel_metrics(logits, targets, ["a", "b"], [0.25, 0.5])
    assert m["val_map"] == pytest.approx(1.0)            # only label 'a' has positives, ranked perfectly
    assert m["per_class"]["b"]["ap"] is None
    assert m["per_class"]["a"]["f1"] == pytest.approx(1.0)
    assert m["per_class"]["b"]["precision"] == 0.0        # two false positives at 0.5
    assert m["micro_f1"] == pytest.approx(2 * 2 / (2 * 2 + 2))  # tp 2, fp 2, fn 0
    assert m["val_accuracy"] == pytest.approx(0.5)        # rows 3 and 4 exactly right
    items = multilabel_prediction_items(logits, targets, ["w", "x", "y", "z"], [0.25, 0.5])
    assert items[0]["label"] == [0] and items[0]["pred"] == [0, 1] and items[0]["confidence"] == pytest.approx(0.9)


def test_bce_loss_and_label_smoothing() -> None:
    objective = MultiLabelObjective(2)
    logits, y = torch.zeros(1, 2), torch.tensor([[1.0, 0.0]])
    assert float(objective.loss(logits, y)) == pytest.approx(np.log(2), rel=1e-5)
    smoothed = objective.loss(torch.tensor([[5.0, -5.0]]), y, label_smoothing=0.2)
    assert float(smoothed) > float(objective.loss(torch.tensor([[5.0, -5.0]]), y))


def test_label_sets_are_the_labels_at_or_above_their_thresholds() -> None:
    probs = sigmoid(np.array([[2.0, 0.0, -1.0], [-3.0, -3.0, -3.0]]))
    results = format_predictions(probs, ["a", "b", "c"], top_k=2, task="multi-label", thresholds=[0.9, 0.5, 0.2])
    assert [s["label"] for s in results[0]["labels"]] == ["b", "c"]  # a: 0.88 < 0.9; b: 0.5 >= 0.5; c: 0.27
    assert results[1]["labels"] == [] and results[1]["label"] == "a" and len(results[1]["top_k"]) == 2
    assert "labels" not in format_predictions(probs, ["a", "b", "c"])[0]
    assert np.allclose(sigmoid(np.array([-1000.0, 0.0, 1000.0])), [0.0, 0.5, 1.0])
