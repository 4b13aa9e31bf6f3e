"""Fake but self-consistent run folders for the report tests.

The metrics are computed from the written predictions (confusion matrix, per-class scores,
accuracy, macro-F1), so the report's derived statements can be checked against known numbers.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import yaml
from PIL import Image

# A ResNet-50-like table: stage sizes of the real model (without its fc), 2048 features.
BACKBONE_GROUPS = [
    ("backbone.stem", 9_536),
    ("backbone.layer1", 215_808),
    ("backbone.layer2", 1_219_584),
    ("backbone.layer3", 7_098_368),
    ("backbone.layer4", 14_964_736),
]
TEXTS = [
    "A <b>wonderful</b> film & a great cast",
    "terrible plot, \"awful\" acting",
    "boring. fell asleep",
    "I'd watch it again <script>alert(1)</script>",
    "masterpiece",
    "not worth the ticket",
]


def _params(n_classes: int, phases: list[str]) -> dict[str, Any]:
    head = 2048 * n_classes + n_classes
    groups = BACKBONE_GROUPS + [("head", head)]
    total = sum(size for _, size in groups)
    tables = []
    for index, phase in enumerate(phases):
        # phase 0 trains the head only; later phases also unfreeze the last stage.
        open_groups = {"head"} if index == 0 else {"head", "backbone.layer4"}
        rows = [
            {
                "name": name,
                "params": size,
                "trainable": size if name in open_groups else 0,
                "lr": (1e-3 if name == "head" else 1e-4) if name in open_groups else None,
            }
            for name, size in groups
        ]
        tables.append({"phase": phase, "total": total, "trainable": sum(r["trainable"] for r in rows), "groups": rows})
    return {"total": total, "trainable": tables[-1]["trainable"], "phases": tables}


def _scores(labels: list[int], preds: list[int], classes: list[str]) -> dict[str, Any]:
    n = len(classes)
    matrix = np.zeros((n, n), dtype=int)
    for y, p in zip(labels, preds):
        matrix[y, p] += 1
    per_class = {}
    for i, name in enumerate(classes):
        tp = matrix[i, i]
        precision = tp / matrix[:, i].sum() if matrix[:, i].sum() else 0.0
        recall = tp / matrix[i].sum() if matrix[i].sum() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": float(precision), "recall": float(recall), "f1": float(f1), "support": int(matrix[i].sum())}
    return {
        "val_accuracy": float(np.trace(matrix) / matrix.sum()),
        "macro_f1": float(np.mean([v["f1"] for v in per_class.values()])),
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
    }


def _epochs(phases: list[str], per_phase: int, final_acc: float) -> list[dict[str, Any]]:
    rows, index = [], 0
    total = len(phases) * per_phase
    for phase in phases:
        for _ in range(per_phase):
            progress = (index + 1) / total
            rows.append({
                "epoch": index,
                "phase": phase,
                "train_loss": round(1.2 - 0.9 * progress, 4),
                "val_loss": round(1.1 - 0.6 * progress, 4),
                "val_accuracy": round(final_acc * (0.6 + 0.4 * progress), 4),
                "lr": 1e-3 if phase == phases[0] else 1e-4,
                "seconds": 1.5,
            })
            index += 1
    return rows


def write_run(
    root: Path,
    name: str = "flowers-two-phase",
    modality: str = "image",
    n_classes: int = 3,
    per_class_items: int = 4,
    epochs_per_phase: int = 2,
    phases: tuple[str, ...] = ("head", "finetune"),
    mistakes: bool = True,
) -> Path:
    """Write a complete run folder under ``root`` and return it.

    Item k of class c is predicted wrong (as class c+1) when ``mistakes`` and k == 0 for every
    class, plus k == 1 for class 0 (so class 0 is the worst class).
    """
    run = root / name
    run.mkdir(parents=True)
    if n_classes > 3:
        classes = [f"class_{i}" for i in range(n_classes)]
    else:
        classes = (["daisy", "rose", "tulip"] if modality == "image" else ["negative", "positive", "neutral"])[:n_classes]
    image_dir = root / f"{name}-data"
    items, labels, preds = [], [], []
    for c in range(n_classes):
        for k in range(per_class_items):
            wrong = mistakes and (k == 0 or (c == 0 and k == 1))
            pred = (c + 1) % n_classes if wrong else c
            if modality == "image":
                path = image_dir / classes[c] / f"img_{k}.{'jpg' if k % 2 else 'png'}"
                path.parent.mkdir(parents=True, exist_ok=True)
                colour = (40 + 60 * c % 200, 120, 200 - 30 * k % 200)
                Image.new("RGB", (40, 32), colour).save(path)
                value = str(path)
            else:
                value = TEXTS[(c * per_class_items + k) % len(TEXTS)]
            items.append({"input": value, "label": c, "pred": pred, "confidence": round(0.55 + 0.1 * ((c + k) % 4), 3)})
            labels.append(c)
            preds.append(pred)
    scores = _scores(labels, preds, classes)
    epochs = _epochs(list(phases), epochs_per_phase, scores["val_accuracy"])
    metrics = {
        **scores,
        "val_loss": epochs[-1]["val_loss"],
        "classes": classes,
        "wall_time_s": 93.4,
        "epochs": epochs,
    }
    backbone = {"name": "torchvision:resnet50", "source": "torchvision"} if modality == "image" else {"name": "hf:minilm", "source": "hf"}
    model = {
        "format_version": 1,
        "modality": modality,
        "backbone": backbone,
        "classes": classes,
        "data_config": {"modality": modality, "input_size": [3, 32, 32], "mean": [0.5] * 3, "std": [0.5] * 3},
        "head": {"type": "linear", "in_features": 2048, "hidden": None, "dropout": 0.0},
        "strategy": "two_phase",
        "lora": None,
    }
    config = {
        "name": name,
        "backbone": backbone["name"],
        "strategy": {"name": "two_phase", "head_epochs": epochs_per_phase, "finetune_epochs": epochs_per_phase},
        "data": {"root": str(image_dir), "batch_size": 8},
        "optimizer": {"lr": 0.001, "weight_decay": 0.0001},
    }
    (run / "model.json").write_text(json.dumps(model, indent=2))
    (run / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (run / "params.json").write_text(json.dumps(_params(n_classes, list(phases)), indent=2))
    (run / "val_predictions.json").write_text(json.dumps({"classes": classes, "items": items}, indent=2))
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return run


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``make_run(name=..., modality=..., n_classes=..., ...)`` -> run folder."""
    return lambda **kwargs: write_run(tmp_path, **kwargs)


@pytest.fixture
def image_run(make_run: Callable[..., Path]) -> Path:
    """A 3-class image run with phases 'head' and 'finetune' and some mistakes."""
    return make_run()


@pytest.fixture
def text_run(make_run: Callable[..., Path]) -> Path:
    """A 2-class text run whose inputs contain HTML special characters."""
    return make_run(name="reviews", modality="text", n_classes=2, per_class_items=3)
