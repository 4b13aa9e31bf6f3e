"""PNG plots of a finished run, drawn only from the files in its run folder.

Why Figure objects and not pyplot: pyplot keeps a global list of open figures and a global
backend. The report is generated inside training runs, tests and the CLI; using
``matplotlib.figure.Figure`` with an explicit Agg canvas leaves no state behind and needs no
display, whatever backend the user's session has selected.

Example::

    paths = write_plots("runs/flowers")   # {"curves": Path("runs/flowers/plots/curves.png"), ...}
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullLocator
from matplotlib.transforms import blended_transform_factory
from PIL import Image, UnidentifiedImageError

from .multilabel import is_multilabel, label_names
from .run_files import RunFiles, confident_mistakes, load_run, resolve_input_path

#: Most class names written along one axis; beyond this only every k-th name is shown.
MAX_TICK_LABELS = 30
#: Longest class name drawn on an axis before it is shortened with an ellipsis.
MAX_LABEL_CHARS = 18
#: Cells of the confusion matrix are annotated with counts up to this many classes.
MAX_ANNOTATED_CLASSES = 15
#: Images in the misclassified grid.
MISCLASSIFIED_LIMIT = 16

PLOT_NAMES = ("curves", "confusion_matrix", "per_class", "params", "misclassified")


def _short(label: str, limit: int = MAX_LABEL_CHARS) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)  # attach a non-interactive canvas; pyplot is never involved
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100, bbox_inches="tight")
    return path


def _class_ticks(ax: Axes, labels: Sequence[str], axis: str, rotate: bool = False) -> None:
    """Label an axis with class names, showing every k-th one when there are many."""
    step = max(1, math.ceil(len(labels) / MAX_TICK_LABELS))
    positions = list(range(0, len(labels), step))
    names = [_short(labels[i]) for i in positions]
    if axis == "x":
        ax.set_xticks(positions)
        ax.set_xticklabels(names, rotation=45 if rotate else 0, ha="right" if rotate else "center")
    else:
        ax.set_yticks(positions)
        ax.set_yticklabels(names)


def plot_curves(epochs: list[dict[str, Any]], path: Path) -> Path:
    """Loss (train and val) and val accuracy per epoch, with phase boundaries marked.

    Why the boundaries: in a two-phase recipe the loss often jumps when the backbone is unfrozen;
    without the marker that jump looks like a bug instead of the expected start of phase two.
    """
    xs = [int(e.get("epoch", i)) for i, e in enumerate(epochs)]
    fig = Figure(figsize=(10, 3.8))
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(xs, [e["train_loss"] for e in epochs], marker="o", label="train loss")
    ax_loss.plot(xs, [e["val_loss"] for e in epochs], marker="o", label="val loss")
    ax_loss.set_title("Loss", pad=16)
    ax_loss.legend(loc="best", fontsize=8)
    multi = all(e.get("val_map") is not None for e in epochs)  # multi-label: val_accuracy is exact match
    ax_acc.plot(xs, [e["val_accuracy"] for e in epochs], marker="o", color="tab:green",
                label="val exact match" if multi else "val accuracy")
    if multi:
        ax_acc.plot(xs, [e["val_map"] for e in epochs], marker="o", color="tab:purple", label="val mAP")
        ax_acc.legend(loc="best", fontsize=8)
    ax_acc.set_title("Validation mAP and exact match" if multi else "Validation accuracy", pad=16)
    ax_acc.set_ylim(-0.02, 1.02)
    for ax in (ax_loss, ax_acc):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if len(xs) == 1:
            ax.set_xlim(xs[0] - 1, xs[0] + 1)
        _mark_phases(ax, xs, [str(e["phase"]) for e in epochs])
    return _save(fig, path)


def _mark_phases(ax: Axes, xs: list[int], phases: list[str]) -> None:
    """Draw a dashed line between phases and write each phase's name above its span."""
    spans: list[tuple[str, int, int]] = []  # (phase, first index, last index)
    for i, phase in enumerate(phases):
        if spans and spans[-1][0] == phase:
            spans[-1] = (phase, spans[-1][1], i)
        else:
            spans.append((phase, i, i))
    to_text = blended_transform_factory(ax.transData, ax.transAxes)
    for n, (phase, first, last) in enumerate(spans):
        if n > 0:
            ax.axvline((xs[first - 1] + xs[first]) / 2, color="grey", linestyle="--", linewidth=1)
        ax.text((xs[first] + xs[last]) / 2, 1.01, phase, transform=to_text, ha="center", va="bottom", fontsize=8, color="dimgray")


def plot_confusion_matrix(matrix: list[list[int]], classes: list[str], path: Path) -> Path:
    """Row-normalised confusion matrix (rows = true class) with the raw counts written in.

    Why normalise rows: colour then shows recall per class independently of class frequency, so a
    small class that is always wrong is as visible as a big one.
    """
    counts = np.asarray(matrix, dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    rates = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    n = len(classes)
    side = min(max(4.5, 0.3 * n + 2.5), 12)
    fig = Figure(figsize=(side + 1, side))
    ax = fig.subplots()
    image = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    if n <= MAX_ANNOTATED_CLASSES:
        size = 14 if n <= 4 else 11 if n <= 8 else 9  # points at 100 dpi: 19 px down to 12 px per digit line
        for i in range(n):
            for j in range(n):
                colour = "white" if rates[i, j] > 0.6 else "black"
                ax.text(j, i, f"{int(counts[i, j])}\n{rates[i, j]:.0%}", ha="center", va="center", fontsize=size, color=colour)
    _class_ticks(ax, classes, "x", rotate=True)
    _class_ticks(ax, classes, "y")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Confusion matrix ({int(counts.sum())} validation items)")
    return _save(fig, path)


def plot_per_class(per_class: dict[str, dict[str, float]], classes: list[str], path: Path) -> Path:
    """Precision and recall bars per class: which classes the model misses or over-predicts."""
    precision = [float(per_class[c]["precision"]) for c in classes]
    recall = [float(per_class[c]["recall"]) for c in classes]
    xs = np.arange(len(classes))
    fig = Figure(figsize=(min(max(6.0, 0.35 * len(classes) + 3), 18), 3.8))
    ax = fig.subplots()
    width = 0.4
    ax.bar(xs - width / 2, precision, width, label="precision", color="tab:blue")
    ax.bar(xs + width / 2, recall, width, label="recall", color="tab:orange")
    ax.set_ylim(0, 1.18)  # headroom above 1.0 keeps the legend off the bars
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_xlim(-0.6, len(classes) - 0.4)
    _class_ticks(ax, classes, "x", rotate=len(classes) > 4)
    ax.set_title("Precision and recall per class")
    ax.legend(loc="upper right", ncols=2, fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def _phases_to_show(params: dict[str, Any]) -> list[dict[str, Any]]:
    phases = [p for p in params["phases"] if p["groups"]]
    if len(phases) <= 1:
        return phases
    return [phases[0], phases[-1]]


def plot_params(params: dict[str, Any], path: Path) -> Path | None:
    """Trainable vs frozen parameters per layer group, for the first and the last phase.

    Why log scale: a linear head has thousands of parameters, a backbone stage millions; on a
    linear axis the head (often the only trainable part) would be invisible. None when params.json
    lists no groups.
    """
    phases = _phases_to_show(params)
    if not phases:
        return None
    n_groups = max(len(p["groups"]) for p in phases)
    # constrained layout keeps the second panel's group names clear of the first panel's bars
    fig = Figure(figsize=(6 * len(phases), min(max(3.0, 0.32 * n_groups + 1.5), 14)), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(phases), squeeze=False)[0])
    for ax, phase in zip(axes, phases):
        groups = phase["groups"]
        ys = np.arange(len(groups))
        trainable = [int(g["trainable"]) for g in groups]
        frozen = [max(int(g["params"]) - int(g["trainable"]), 0) for g in groups]
        height = 0.4
        ax.barh(ys - height / 2, trainable, height, color="tab:green", label="trainable")
        ax.barh(ys + height / 2, frozen, height, color="tab:gray", label="frozen")
        ax.set_yticks(ys)
        ax.set_yticklabels([_short(str(g["name"]), 28) for g in groups], fontsize=8)
        ax.invert_yaxis()  # input -> output reads top to bottom
        if any(trainable) or any(frozen):
            ax.set_xscale("log")
            ax.xaxis.set_minor_locator(NullLocator())  # unlabelled minor ticks only cost drawing time
        ax.set_xlabel("parameters (log scale)")
        ax.set_title(f"phase '{phase['phase']}': {int(phase['trainable']):,} / {int(phase['total']):,} trainable", fontsize=9)
        ax.legend(loc="lower right", fontsize=7)
        ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def _load_thumbnail(path: Path | None, size: int = 128) -> np.ndarray | None:
    if path is None:
        return None
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((size, size))
            return np.asarray(image)
    except (OSError, UnidentifiedImageError):
        return None


def plot_misclassified(run: RunFiles, path: Path, limit: int = MISCLASSIFIED_LIMIT) -> Path | None:
    """A grid of the most confidently wrong validation images; None for text runs or no mistakes."""
    if run.modality != "image":
        return None
    mistakes = confident_mistakes(run.predictions, limit)
    if not mistakes:
        return None
    classes = [str(c) for c in (run.predictions or {}).get("classes") or run.classes]
    cols = min(4, len(mistakes))
    rows = math.ceil(len(mistakes) / cols)
    fig = Figure(figsize=(2.6 * cols, 2.9 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, item in zip(axes.flat, mistakes):
        pixels = _load_thumbnail(resolve_input_path(run.run_dir, item["input"]))
        if pixels is None:
            ax.text(0.5, 0.5, "image not found\n" + _short(Path(item["input"]).name, 24), ha="center", va="center", fontsize=8, transform=ax.transAxes)
        else:
            ax.imshow(pixels)
        true, pred = _short(label_names(classes, item["label"]), 14), _short(label_names(classes, item["pred"]), 14)
        ax.set_title(f"true: {true}\npred: {pred} ({float(item['confidence']):.0%})", fontsize=8, color="darkred")
    fig.suptitle("Most confidently wrong validation images", fontsize=10)
    return _save(fig, path)


def write_plots(run_dir: str | Path) -> dict[str, Path]:
    """Regenerate every plot of ``run_dir`` into ``run_dir/plots/``; return name -> path.

    Plots that do not apply (misclassified for a text run or without mistakes, params without
    params.json, curves without epochs) are skipped and any stale file of that name is removed, so
    the folder always matches the run's current files.
    """
    return write_run_plots(load_run(run_dir))


def write_run_plots(run: RunFiles) -> dict[str, Path]:
    """:func:`write_plots` for an already loaded run (the HTML report reuses its RunFiles)."""
    out = run.run_dir / "plots"
    out.mkdir(parents=True, exist_ok=True)
    metrics = run.metrics
    written: dict[str, Path | None] = {
        "curves": plot_curves(metrics["epochs"], out / "curves.png") if metrics["epochs"] else None,
        "confusion_matrix": None if is_multilabel(metrics)  # a label set has no single true class
        else plot_confusion_matrix(metrics["confusion_matrix"], run.classes, out / "confusion_matrix.png"),
        "per_class": plot_per_class(metrics["per_class"], run.classes, out / "per_class.png"),
        "params": plot_params(run.params, out / "params.png") if run.params else None,
        "misclassified": plot_misclassified(run, out / "misclassified.png"),
    }
    for name, value in written.items():
        if value is None:
            (out / f"{name}.png").unlink(missing_ok=True)
    return {name: value for name, value in written.items() if value is not None}
