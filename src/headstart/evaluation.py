"""Evaluate a finished run on a dataset: the same metrics as training, on any labelled data."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from .engine.evaluate import classification_metrics
from .errors import DataError


def labelled_items(data: str, modality: str, text_column: str = "text", label_column: str = "label") -> list[tuple[str, str]]:
    """(input, class name) pairs from ``data``: a folder's ``val/`` split if it has one, else everything."""
    if modality == "text":
        from .data.text import load_text_dataset

        split = load_text_dataset(data, text_column=text_column, label_column=label_column)
    else:
        from .data.images import load_image_dataset

        root = Path(data)
        has_val = root.is_dir() and any((root / n).is_dir() for n in ("val", "valid", "validation"))
        split = load_image_dataset(data, val_fraction=0.5)
        if has_val:
            return [(x, split.classes[y]) for x, y in split.val]
    return [(x, split.classes[y]) for x, y in list(split.train) + list(split.val)]


def evaluate_run(run_dir: str | Path, data: str, batch_size: int = 32, progress: bool = True, **columns: str) -> dict[str, Any]:
    """Metrics of ``run_dir``'s model on labelled ``data`` (``progress=False`` keeps stdout clean for --json)."""
    from .export.predictor import Predictor

    predictor = Predictor.from_run(run_dir)
    if predictor.task == "multi-label":
        return _evaluate_multilabel(predictor, data, batch_size, progress, **columns)
    items = labelled_items(data, predictor.modality, **columns)
    return evaluate_items(predictor, items, str(data), batch_size=batch_size, progress=progress)


def evaluate_items(predictor: Any, items: list[tuple[Any, str]], data: str, batch_size: int = 32,
                   progress: bool = False) -> dict[str, Any]:
    """Metrics of ``predictor`` on ``(input, class name)`` pairs (``data`` names them in errors)."""
    unknown = sorted({c for _, c in items} - set(predictor.classes))
    if unknown:
        raise DataError(f"{data} has classes the model was not trained on: {', '.join(unknown[:5])}.",
                        f"The model knows: {', '.join(predictor.classes)}.")
    index = {c: i for i, c in enumerate(predictor.classes)}
    probs = predictor.predict_proba([x for x, _ in items], batch_size=batch_size, progress=progress)
    labels = torch.tensor([index[c] for _, c in items])
    logits = torch.from_numpy(np.log(np.clip(probs, 1e-12, 1.0)))
    metrics = classification_metrics(logits, labels, predictor.classes)
    metrics["num_samples"] = len(items)
    # the data evaluated here is not necessarily a validation set: plain names, val_* kept for tools
    metrics["accuracy"], metrics["loss"] = metrics["val_accuracy"], metrics["val_loss"]
    return metrics


def _evaluate_multilabel(predictor: Any, data: str, batch_size: int, progress: bool, **columns: str) -> dict[str, Any]:
    """Multi-label metrics at the run's saved thresholds; the table is read as the run's config says
    (``label_columns``, ``label_separator``), its ``val`` rows when it has a split column."""
    from .data.multilabel import multi_hot, read_multilabel_rows
    from .engine.multilabel_metrics import multilabel_metrics
    import yaml

    config_path = Path(predictor.run.run_dir) / "config.yaml"
    config = (yaml.safe_load(config_path.read_text()) or {}) if config_path.is_file() else {}
    train, val, _ = read_multilabel_rows(
        data, modality=predictor.modality, known=predictor.classes,
        text_column=columns.get("text_column", "text"), label_column=columns.get("label_column", "label"),
        label_columns=config.get("label_columns"), separator=config.get("label_separator") or ";")
    rows = val if val is not None else train
    index = {c: i for i, c in enumerate(predictor.classes)}
    targets = torch.stack([multi_hot(labels, index) for _, labels, _ in rows])
    probs = np.clip(predictor.predict_proba([x for x, _, _ in rows], batch_size=batch_size, progress=progress), 1e-7, 1 - 1e-7)
    logits = torch.from_numpy(np.log(probs / (1 - probs)))
    thresholds = predictor.thresholds or [0.5] * len(predictor.classes)
    metrics = multilabel_metrics(logits, targets, predictor.classes, thresholds)
    metrics["num_samples"] = len(rows)
    metrics["accuracy"], metrics["loss"], metrics["map"] = metrics["val_accuracy"], metrics["val_loss"], metrics["val_map"]
    return metrics
