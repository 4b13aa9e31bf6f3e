"""Train/val splits: the :class:`ImageSplit` record and a seeded, stratified splitter.

Why: a fine-tuning run is only comparable to another if both saw the same validation images.
The split is a pure function of the item list and the seed (per-class shuffles keyed by the class
name), so adding a new class or re-listing a folder in another order does not move the images of
the other classes between train and val.
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Hashable, Sequence, TypeVar

from ..errors import ConfigError

T = TypeVar("T")


@dataclass
class ImageSplit:
    """An image classification dataset resolved to files.

    ``train`` and ``val`` hold ``(image path, class index)`` pairs, indices into ``classes``
    (sorted class names of the training set). ``skipped`` lists ``(path, reason)`` for files that
    were left out because they could not be read as images.

    Example::

        split = load_image_dataset("examples/ants_bees")
        split.classes            # ['ants', 'bees']
        split.train[0]           # ('/.../train/ants/0013035.jpg', 0)
    """

    train: list[tuple[str, int]]
    val: list[tuple[str, int]]
    classes: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def class_counts(self, which: str = "train") -> dict[str, int]:
        """Number of images per class name (in class order) for ``"train"`` or ``"val"``."""
        return label_counts(split_items(self, which), self.classes)


def split_items(split: object, which: str) -> list:
    """``split.train`` or ``split.val`` by name (what every split's ``class_counts`` takes)."""
    if which not in ("train", "val"):
        raise ConfigError(f"class_counts(which={which!r}): use 'train' or 'val'.")
    return getattr(split, which)


def label_counts(items: Sequence[tuple[object, int]], classes: Sequence[str]) -> dict[str, int]:
    """Items per class name, in class order, for ``(input, class index)`` items."""
    counts = Counter(label for _, label in items)
    return {name: counts.get(i, 0) for i, name in enumerate(classes)}


def check_val_fraction(val_fraction: float) -> None:
    """Reject a validation fraction that would leave train or val empty."""
    if not isinstance(val_fraction, (int, float)) or not 0.0 < float(val_fraction) < 1.0:
        raise ConfigError(
            f"val_fraction={val_fraction!r} is out of range: use a number between 0 and 1 "
            "(e.g. 0.2 keeps 20% of each class for validation)."
        )


def stratified_split(
    items: Sequence[T], labels: Sequence[Hashable], val_fraction: float = 0.2, seed: int = 0
) -> tuple[list[T], list[T]]:
    """Split ``items`` into (train, val), each label's val share close to ``val_fraction``.

    Each label with at least 2 items gets at least 1 val item and keeps at least 1 train item; a
    label with a single item stays in train. Items keep their input order within each output
    list, so the caller controls determinism by passing a sorted list.

    Example::

        train, val = stratified_split(paths, labels, val_fraction=0.25, seed=0)
    """
    check_val_fraction(val_fraction)
    if len(items) != len(labels):
        raise ValueError(f"stratified_split: {len(items)} items but {len(labels)} labels")
    by_label: dict[Hashable, list[int]] = {}
    for index, label in enumerate(labels):
        by_label.setdefault(label, []).append(index)

    val_indices: set[int] = set()
    for label, indices in by_label.items():
        n = len(indices)
        if n < 2:
            continue
        n_val = min(max(1, int(n * val_fraction + 0.5)), n - 1)  # round half up
        rng = random.Random(f"{seed}:{label}")  # str seeds are stable across runs and platforms
        val_indices.update(rng.sample(indices, n_val))

    train = [item for i, item in enumerate(items) if i not in val_indices]
    val = [item for i, item in enumerate(items) if i in val_indices]
    return train, val
