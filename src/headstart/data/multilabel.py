"""Multi-label data: each image or text carries a *set* of labels, read from one CSV/TSV/JSONL table.

Why a separate loader: single-label loading stratifies by the one class and checks each class has
images; with label sets, an item may have several labels or none, so the checks (every label seen
in training, no unknown validation labels) and the split differ. Targets are multi-hot float
vectors, which the BCE loss, the torchmetrics multi-label metrics and the default collate all take.

Two table layouts (the input column is ``path`` for images, ``--text-column`` for texts; an
optional ``split`` column with train/val/test works as for image CSVs):

* **one cell**: ``path,label`` with ``cat;dog`` in the label cell (``--label-separator``; a JSON
  list in a ``.jsonl`` file works too). A blank cell is an error: it is more often a missing
  annotation than a real "none of these".
* **one-hot columns**: ``path,cat,dog,bird`` with 0/1 values. ``--label-columns cat,dog,bird``
  names them; without it (and without a ``label`` column) every column other than the input and
  ``split`` whose values are all 0/1 is a label. An all-0 row is an explicit empty label set.

Example::

    split = load_multilabel_dataset("tags.csv", modality="image")
    split.classes        # ['cardboard', 'glass', ...]
    split.train[0]       # ('/data/a.jpg', tensor([1., 0., 1., ...]))
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

from ..errors import ConfigError, DataError
from .images import PATH_COLUMNS, SPLIT_VALUES, _pick_column, keep_readable
from .splits import check_val_fraction, split_items, stratified_split
from .text import _lines, _read_table

Row = tuple[str, tuple[str, ...], int]  # (input, label names, line)
ONE_HOT_VALUES = {"0": 0.0, "1": 1.0, "0.0": 0.0, "1.0": 1.0}


@dataclass
class MultiLabelSplit:
    """Train/val lists of ``(input, multi-hot float tensor)``; ``classes`` name the tensor's entries."""

    train: list[tuple[str, torch.Tensor]]
    val: list[tuple[str, torch.Tensor]]
    classes: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def class_counts(self, which: str = "train") -> dict[str, int]:
        """Items carrying each label (positives per label) in ``"train"`` or ``"val"``."""
        items = split_items(self, which)
        totals = torch.stack([y for _, y in items]).sum(0) if items else torch.zeros(len(self.classes))
        return {name: int(totals[i]) for i, name in enumerate(self.classes)}


def multi_hot(names: Sequence[str], index: dict[str, int]) -> torch.Tensor:
    """The float32 multi-hot vector of ``names`` over ``index`` (label name -> position)."""
    target = torch.zeros(len(index), dtype=torch.float32)
    for name in names:
        target[index[name]] = 1.0
    return target


def load_multilabel_dataset(
    path: str | os.PathLike,
    *,
    modality: str,
    val_path: str | os.PathLike | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
    text_column: str = "text",
    label_column: str = "label",
    label_columns: str | None = None,
    separator: str = ";",
    strict: bool = False,
) -> MultiLabelSplit:
    """Read a multi-label table into a checked, seeded train/val split of multi-hot targets.

    Without ``val_path`` or a ``split`` column, items are split with ``val_fraction``, stratified
    by each item's rarest label so that every label with 2+ items lands in both parts.
    """
    check_val_fraction(val_fraction)
    options = dict(modality=modality, text_column=text_column, label_column=label_column,
                   label_columns=label_columns, separator=separator)
    train_rows, val_rows, classes = read_multilabel_rows(path, **options)
    if val_path is not None:
        val_rows = read_multilabel_rows(val_path, known=classes, **options)[0]
    if len(classes) < 2:
        raise DataError(f"{path}: found {len(classes)} label(s) {classes}; multi-label training needs at least 2.",
                        "Check --label-column/--label-columns and --label-separator.")
    skipped: list[tuple[str, str]] = []
    if modality == "image":
        train_rows = _readable(train_rows, strict, skipped, str(path))
        val_rows = _readable(val_rows, strict, skipped, str(val_path or path)) if val_rows else val_rows
    index = {name: i for i, name in enumerate(classes)}
    if not val_rows:
        counts = {name: sum(name in labels for _, labels, _ in train_rows) for name in classes}
        keys = [min(labels, key=lambda n: (counts[n], n)) if labels else "" for _, labels, _ in train_rows]
        train_rows, val_rows = stratified_split(train_rows, keys, val_fraction, seed)
    missing = [name for name in classes if not any(name in labels for _, labels, _ in train_rows)]
    if missing:
        raise DataError(f"{path}: label {missing[0]!r} has no training items, so the model cannot learn it.",
                        "Add training items with it, or drop its column.")
    if not val_rows:
        raise DataError(f"{path}: no validation items; add rows or pass a validation file with --val-data.")
    return MultiLabelSplit(
        train=[(x, multi_hot(labels, index)) for x, labels, _ in train_rows],
        val=[(x, multi_hot(labels, index)) for x, labels, _ in val_rows],
        classes=classes, skipped=skipped)


def read_multilabel_rows(
    path: str | os.PathLike,
    *,
    modality: str,
    text_column: str = "text",
    label_column: str = "label",
    label_columns: str | None = None,
    separator: str = ";",
    known: Sequence[str] | None = None,
) -> tuple[list[Row], list[Row] | None, list[str]]:
    """``(train rows, val rows or None, classes)`` of one table; ``known`` classes are checked, not found.

    ``test`` rows of a ``split`` column are left out. Image paths are made absolute (relative ones
    are read from the table's folder) and must exist.
    """
    if Path(path).is_dir():
        raise DataError(f"{path} is a folder; multi-label data is a table (.csv/.tsv/.jsonl) with an input "
                        "column and a label column ('a;b') or 0/1 label columns.")
    table = _read_table(path)
    input_column = _input_column(table, modality, text_column)
    split_column = _pick_column(table.columns, ("split",))
    if label_columns or label_column not in table.columns:
        columns = _one_hot_columns(table, label_columns, {input_column, split_column}, label_column)
        rows = _one_hot_rows(table, input_column, columns)
        found = list(columns)
    else:
        rows = _cell_rows(table, input_column, label_column, separator)
        found = sorted({name for _, labels, _ in rows for name in labels})
    if modality == "image":
        rows = [(_image_path(table.path, x, line), labels, line) for x, labels, line in rows]
    if known is not None:
        unknown = sorted({name for _, labels, _ in rows for name in labels} - set(known))
        if unknown:
            raise DataError(f"{table.path}: label {unknown[0]!r} is not one the model was trained on "
                            f"({', '.join(known)}).", "Remove it or retrain with it.")
        found = list(known)
    if split_column is None:
        return rows, None, found
    splits = {line: SPLIT_VALUES.get(str(record.get(split_column) or "").strip().lower(), "")
              for line, record in table.rows}
    bad = [line for line, value in splits.items() if not value]
    if bad:
        raise DataError(f"{table.path}: column 'split' must be train/val/test ({_lines(bad)}).", "Fix those values.")
    train = [row for row in rows if splits[row[2]] == "train"]
    val = [row for row in rows if splits[row[2]] == "val"]
    return train, val or None, found


def _input_column(table: Any, modality: str, text_column: str) -> str:
    if modality == "text":
        column = text_column if text_column in table.columns else None
        wanted = f"text column {text_column!r} (--text-column)"
    else:
        column = _pick_column(table.columns, PATH_COLUMNS)
        wanted = "'path' column"
    if column is None:
        raise DataError(f"{table.path} has no {wanted}; columns found: {', '.join(table.columns)}.")
    return column


def _one_hot_columns(table: Any, label_columns: str | None, reserved: set, label_column: str) -> list[str]:
    """The 0/1 label columns: the ones named in ``label_columns``, or every all-0/1 column."""
    if label_columns:
        names = [c.strip() for c in label_columns.split(",") if c.strip()]
        unknown = [c for c in names if c not in table.columns]
        if unknown:
            raise DataError(f"{table.path} has no label column {unknown[0]!r}; columns found: "
                            f"{', '.join(table.columns)}.", "Fix --label-columns.")
        return names
    names = [c for c in table.columns if c not in reserved
             and all(str(r.get(c, "")).strip() in ONE_HOT_VALUES for _, r in table.rows)]
    if len(names) < 2:
        raise DataError(f"{table.path} has no label column {label_column!r} and no 0/1 label columns; columns "
                        f"found: {', '.join(table.columns)}.",
                        "Pass --label-column NAME (labels like 'a;b') or --label-columns a,b,c (0/1 columns).")
    return names


def _one_hot_rows(table: Any, input_column: str, columns: list[str]) -> list[Row]:
    rows: list[Row] = []
    for line, record in table.rows:
        labels = []
        for column in columns:
            value = str(record.get(column) if record.get(column) is not None else "").strip()
            if value not in ONE_HOT_VALUES:
                raise DataError(f"{table.path} line {line}: column {column!r} is {value!r}, not 0 or 1.",
                                "One-hot label columns hold 0 or 1 only.")
            if ONE_HOT_VALUES[value]:
                labels.append(column)
        rows.append((_input(table, record, input_column, line), tuple(labels), line))
    return rows


def _cell_rows(table: Any, input_column: str, label_column: str, separator: str) -> list[Row]:
    if not separator:
        raise ConfigError("label_separator is empty; use a character such as ';'.")
    rows: list[Row] = []
    empty: list[int] = []
    for line, record in table.rows:
        cell = record.get(label_column)
        parts = [str(v) for v in cell] if isinstance(cell, list) else str(cell or "").split(separator)
        labels = tuple(dict.fromkeys(p.strip() for p in parts if p.strip()))
        if not labels:
            empty.append(line)
        rows.append((_input(table, record, input_column, line), labels, line))
    if empty:
        raise DataError(f"{table.path}: {len(empty)} rows have no labels in column {label_column!r} ({_lines(empty)}).",
                        "Label or remove them; for items with no label use 0/1 columns (--label-columns), "
                        "where an all-0 row is an explicit empty set.")
    if not rows:
        raise DataError(f"{table.path} has a header but no rows.", "Add labelled examples.")
    return rows


def _input(table: Any, record: dict[str, Any], column: str, line: int) -> str:
    value = record.get(column)
    text = "" if value is None else str(value)
    if not text.strip():
        raise DataError(f"{table.path} line {line}: empty {column!r}; fill it in or delete the row.")
    return text


def _image_path(table_path: Path, value: str, line: int) -> str:
    image = Path(value.strip()).expanduser()
    image = image if image.is_absolute() else table_path.parent / image
    if not image.is_file():
        raise DataError(f"{table_path} line {line}: image '{value}' not found; relative paths are read from "
                        f"the table's folder {table_path.parent}.", "Fix the path or delete the row.")
    return os.path.abspath(image)


def _readable(rows: list[Row], strict: bool, skipped: list[tuple[str, str]], where: str) -> list[Row]:
    """Rows whose image file opens; unreadable ones go to ``skipped`` (or raise when strict)."""
    kept = keep_readable(rows, strict, skipped)
    if rows and not kept:
        raise DataError(f"{where}: none of its {len(rows)} images is readable ({skipped[-1][1]}).",
                        "Check that the paths point at image files.")
    return kept
