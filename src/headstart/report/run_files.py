"""Read the files of a finished run folder, checking just what the report tools rely on.

Why a reader of its own: the report, the plots and ``headstart compare`` must work from the run
folder alone (no model, no data loader), possibly long after training and on another machine. A
missing or hand-edited file should give one clear :class:`RunError` that names the file, the field
and the fix, not a ``KeyError`` from deep inside a plotting call.

Required: ``model.json`` and ``metrics.json``. Optional (their report sections are left out when
absent): ``params.json``, ``val_predictions.json``, ``config.yaml``. A file that is present but
unreadable is always an error.

Example::

    run = load_run("runs/flowers")
    print(run.name, run.metrics["val_accuracy"], run.modality)
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import RunError
from .multilabel import is_multilabel

_FIX = "re-run training to regenerate it, or point at a complete run folder"


@dataclass(frozen=True)
class RunFiles:
    """The parsed contents of one run folder (see docs/contracts.md, "Run folder")."""

    run_dir: Path
    model: dict[str, Any]
    metrics: dict[str, Any]
    params: dict[str, Any] | None
    predictions: dict[str, Any] | None
    config: dict[str, Any] | None

    @property
    def name(self) -> str:
        """The run's name: its folder name."""
        return self.run_dir.name

    @property
    def modality(self) -> str:
        """``"image"`` or ``"text"``, from model.json."""
        return str(self.model.get("modality", "image"))

    @property
    def classes(self) -> list[str]:
        """Class names in label order (metrics.json is authoritative for the numbers)."""
        return [str(c) for c in self.metrics["classes"]]

    @property
    def backbone_name(self) -> str:
        """The backbone's registered name, e.g. ``torchvision:resnet50``."""
        spec = self.model.get("backbone")
        if isinstance(spec, dict) and spec.get("name"):
            return str(spec["name"])
        return str(spec) if spec else "unknown"

    @property
    def strategy(self) -> str:
        """The fine-tuning strategy's name from model.json (``unknown`` when not recorded)."""
        return str(self.model.get("strategy") or "unknown")


def _fail(path: Path, problem: str) -> RunError:
    return RunError(f"{path}: {problem}.", hint=f"Fix: {_FIX}.")


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise _fail(path, "file is missing")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _fail(path, f"cannot be read as JSON ({err})") from err
    if not isinstance(data, dict):
        raise _fail(path, "expected a JSON object at the top level")
    return data


def _need(data: dict[str, Any], key: str, kind: type | tuple[type, ...], path: Path) -> Any:
    value = data.get(key)
    # bool is an int subclass; a true/false where a number belongs is a broken file.
    if value is None or isinstance(value, bool) or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise _fail(path, f"field '{key}' must be {names}, got {value!r}")
    return value


def _check_metrics(data: dict[str, Any], path: Path) -> dict[str, Any]:
    num = (int, float)
    for key in ("val_accuracy", "val_loss", "macro_f1", "wall_time_s"):
        _need(data, key, num, path)
    classes = _need(data, "classes", list, path)
    if not classes:
        raise _fail(path, "field 'classes' is empty")
    if is_multilabel(data):  # no confusion matrix: mAP and micro-F1 instead
        for key in ("val_map", "micro_f1"):
            _need(data, key, num, path)
        matrix = [[0] * len(classes)] * len(classes)
    else:
        matrix = _need(data, "confusion_matrix", list, path)
    if len(matrix) != len(classes) or any(
        not isinstance(row, list) or len(row) != len(classes) for row in matrix
    ):
        raise _fail(path, f"field 'confusion_matrix' must be {len(classes)}x{len(classes)} (one row and column per class)")
    per_class = _need(data, "per_class", dict, path)
    for cls in classes:
        entry = per_class.get(str(cls))
        if not isinstance(entry, dict):
            raise _fail(path, f"field 'per_class' has no entry for class '{cls}'")
        for key in ("precision", "recall", "f1"):
            _need(entry, key, num, path)
    epochs = _need(data, "epochs", list, path)
    for i, epoch in enumerate(epochs):
        if not isinstance(epoch, dict):
            raise _fail(path, f"field 'epochs[{i}]' must be an object")
        for key in ("train_loss", "val_loss", "val_accuracy"):
            _need(epoch, key, num, path)
        _need(epoch, "phase", str, path)
    return data


def _check_params(data: dict[str, Any], path: Path) -> dict[str, Any]:
    _need(data, "total", int, path)
    _need(data, "trainable", int, path)
    phases = _need(data, "phases", list, path)
    for i, phase in enumerate(phases):
        if not isinstance(phase, dict):
            raise _fail(path, f"field 'phases[{i}]' must be an object")
        _need(phase, "phase", str, path)
        _need(phase, "total", int, path)
        _need(phase, "trainable", int, path)
        for group in _need(phase, "groups", list, path):
            if not isinstance(group, dict):
                raise _fail(path, f"field 'phases[{i}].groups' must hold objects")
            _need(group, "name", str, path)
            _need(group, "params", int, path)
            _need(group, "trainable", int, path)
    return data


def _check_predictions(data: dict[str, Any], path: Path, n_classes: int) -> dict[str, Any]:
    items = _need(data, "items", list, path)
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise _fail(path, f"field 'items[{i}]' must be an object")
        _need(item, "input", str, path)
        for key in ("label", "pred"):
            value = item.get(key)
            # an index, or a list of indices (the label set of a multi-label run)
            values = _need(item, key, list, path) if isinstance(value, list) else [_need(item, key, int, path)]
            if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < n_classes for v in values):
                raise _fail(path, f"field 'items[{i}].{key}' = {value} is not a class index below {n_classes}")
        _need(item, "confidence", (int, float), path)
    return data


def read_metrics(run_dir: str | Path) -> dict[str, Any]:
    """metrics.json, checked for the fields the report and compare use."""
    path = Path(run_dir) / "metrics.json"
    return _check_metrics(_read_json(path), path)


def read_model(run_dir: str | Path) -> dict[str, Any]:
    """model.json (backbone spec, classes, modality, strategy)."""
    path = Path(run_dir) / "model.json"
    data = _read_json(path)
    modality = data.get("modality", "image")
    if modality not in ("image", "text"):
        raise _fail(path, f"field 'modality' must be 'image' or 'text', got {modality!r}")
    return data


def read_params(run_dir: str | Path) -> dict[str, Any] | None:
    """params.json, or None when the run did not record it."""
    path = Path(run_dir) / "params.json"
    return _check_params(_read_json(path), path) if path.is_file() else None


def read_predictions(run_dir: str | Path, n_classes: int) -> dict[str, Any] | None:
    """val_predictions.json with label/pred indices checked against ``n_classes``; None if absent."""
    path = Path(run_dir) / "val_predictions.json"
    return _check_predictions(_read_json(path), path, n_classes) if path.is_file() else None


def read_config(run_dir: str | Path) -> dict[str, Any] | None:
    """config.yaml as a mapping, or None when absent."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise _fail(path, f"cannot be read as YAML ({err})") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise _fail(path, "expected a mapping at the top level")
    return data


def load_run(run_dir: str | Path) -> RunFiles:
    """Read and check every report-relevant file of ``run_dir``.

    Raises RunError when the folder or a required file is missing or any present file is invalid.
    """
    root = Path(run_dir)
    if not root.is_dir():
        raise RunError(
            f"{root}: run folder not found.",
            hint="Fix: pass the folder a training run wrote, e.g. runs/<name>.",
        )
    model = read_model(root)
    metrics = read_metrics(root)
    return RunFiles(
        run_dir=root,
        model=model,
        metrics=metrics,
        params=read_params(root),
        predictions=read_predictions(root, len(metrics["classes"])),
        config=read_config(root),
    )


def confident_mistakes(predictions: dict[str, Any] | None, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` wrong validation items with the highest confidence, most confident first.

    Why these: a confidently wrong item is the quickest way to spot label noise, a class that is
    really two classes, or a shortcut the model learned; low-confidence mistakes say much less.
    """
    if not predictions:
        return []
    wrong = [item for item in predictions["items"] if item["label"] != item["pred"]]
    wrong.sort(key=lambda item: float(item["confidence"]), reverse=True)
    return wrong[: max(limit, 0)]


def resolve_input_path(run_dir: str | Path, value: str) -> Path | None:
    """Find the image file a prediction item names; None when it is not on this machine.

    Paths are stored as training saw them: absolute, or relative to the working directory then;
    a path relative to the run folder is tried as well so a copied run folder still shows images.
    """
    path = Path(value)
    candidates = [path] if path.is_absolute() else [Path(run_dir) / path, Path.cwd() / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None
