"""Training data that is not a path: a DataFrame, a list of pairs, a ``datasets.Dataset``, a torch Dataset.

Why: in a notebook the data is usually already in memory. Each kind is read here into one
:class:`DataSource` (items + class names), which becomes the same :class:`ImageSplit` /
:class:`TextSplit` a folder or CSV gives, so training writes a normal run folder that predict,
export, serve, report and compare accept.

Items are kept as they are: file paths stay paths; PIL images, arrays and tensors stay in memory;
rows of a Hugging Face or torch dataset are read lazily (:class:`LazyItem`), one per training step.
Images that are not files have no path to show, so when the run finishes its validation images are
written as PNG files to ``RUN/val_images/`` (:func:`val_inputs`): ``val_predictions.json`` points at
them, so the report's gallery shows the real pictures and ``export`` checks parity on them.

``config.yaml`` records a description instead of a path (``data: "<DataFrame 120 rows>"``): such a
run is reproduced or resumed from Python with the same data (``hs.train(df, resume="runs/x")``).

Example::

    source = data_source(df)                     # columns path (or text) + label
    source = data_source([(img, "cat"), (img2, "dog")])
    source = data_source(hf_dataset)             # image/text column + ClassLabel "label"
    source = data_source(torch_dataset, classes=["cat", "dog"])
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..errors import ConfigError, DataError
from .splits import ImageSplit, stratified_split

VAL_IMAGES = "val_images"
PATH_COLUMNS = ("path", "image", "file", "filename", "filepath", "image_path", "img")
MEMORY_DESCRIPTION = ("<", ">")  # config.yaml's data for an in-memory source: "<DataFrame 120 rows>"


class LazyItem:
    """Row ``index`` of an in-memory dataset, read only when a batch needs it.

    ``column`` picks a field of a dict row (Hugging Face); without it the row is a ``(x, y)`` pair
    (torch Dataset). The repr ("item 17") names it in caches and messages.
    """

    __slots__ = ("dataset", "index", "column")

    def __init__(self, dataset: Any, index: int, column: str | None = None):
        self.dataset, self.index, self.column = dataset, index, column

    def load(self) -> Any:
        row = self.dataset[self.index]
        return row[self.column] if self.column is not None else row[0]

    def __repr__(self) -> str:
        return f"item {self.index}"


@dataclass
class DataSource:
    """Labelled items from memory: ``items`` of ``(input, class name)`` and the class order.

    ``kind`` is ``"path"`` (image files), ``"image"`` (images in memory) or ``"text"``.
    """

    description: str
    items: list[tuple[Any, str]]
    classes: list[str]
    kind: str

    def split(self, modality: str, *, val: "DataSource | None" = None, val_fraction: float = 0.2, seed: int = 0):
        """The train/val split for a backbone of ``modality`` (``"image"`` or ``"text"``)."""
        wants_text = modality == "text"
        if wants_text != (self.kind == "text"):
            what = "texts" if self.kind == "text" else "images"
            raise DataError(f"{self.description} holds {what}, but the model takes {modality} inputs.",
                            "Pick a matching --model (minilm / hf:... for texts, an image backbone for images).")
        index = {name: i for i, name in enumerate(self.classes)}
        items = [(x, index[label]) for x, label in self.items]
        if val is not None:
            unknown = sorted({label for _, label in val.items} - set(index))
            if unknown:
                raise DataError(f"Validation data has label {unknown[0]!r}, not one of the training classes {self.classes}.",
                                "Every validation label must appear in the training data.")
            val_items = [(x, index[label]) for x, label in val.items]
            train = items
        else:
            train, val_items = stratified_split(items, [y for _, y in items], val_fraction, seed)
            if not val_items:
                raise DataError(f"{self.description}: too few items to split off a validation set.",
                                "Give each class at least 2 items, or pass val_data=.")
        if wants_text:
            from .text import TextSplit

            return TextSplit(train=train, val=val_items, classes=list(self.classes))
        return ImageSplit(train=train, val=val_items, classes=list(self.classes))


def is_in_memory(data: Any) -> bool:
    """True for data that is not a path (the kinds :func:`data_source` reads)."""
    return data is not None and not isinstance(data, (str, os.PathLike))


def is_memory_description(data: Any) -> bool:
    """True for ``config.yaml``'s stand-in for in-memory data, e.g. ``"<DataFrame 120 rows>"``."""
    return isinstance(data, str) and data.startswith(MEMORY_DESCRIPTION[0]) and data.endswith(MEMORY_DESCRIPTION[1])


def data_source(data: Any, *, classes: Sequence[str] | None = None, image_column: str | None = None,
                text_column: str = "text", label_column: str = "label") -> DataSource:
    """Read ``data`` (DataFrame, list of pairs, ``datasets.Dataset``, torch Dataset) into a DataSource.

    ``classes`` names the classes of integer labels (index -> name); it is required for a torch
    Dataset without a ``classes`` attribute. String labels need no names: classes are sorted.
    """
    kind = type(data).__module__.split(".")[0]
    if kind == "pandas" and hasattr(data, "columns"):
        return _from_dataframe(data, classes, image_column, text_column, label_column)
    if kind == "datasets" and hasattr(data, "features"):
        return _from_hf(data, classes, image_column, text_column, label_column)
    if isinstance(data, (list, tuple)):
        return _from_pairs(data, classes)
    if hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        return _from_torch(data, classes)
    raise ConfigError(f"Cannot train from a {type(data).__name__}.",
                      "Pass a folder or CSV path, a pandas DataFrame, a list of (item, label), "
                      "a datasets.Dataset or a torch Dataset.")


# ----------------------------------------------------------------------------- readers
def _from_dataframe(df: Any, classes: Sequence[str] | None, image_column: str | None, text_column: str,
                    label_column: str) -> DataSource:
    columns = [str(c) for c in df.columns]
    if label_column not in columns:
        raise DataError(f"The DataFrame has no label column {label_column!r}; columns: {', '.join(columns)}.",
                        "Pass label_column='NAME'.")
    column = image_column or next((c for c in PATH_COLUMNS if c in columns), None)
    if column is None and text_column in columns:
        column = text_column
    if column is None or column not in columns:
        raise DataError(f"The DataFrame has no {'column ' + repr(column) if column else 'path or text column'}; "
                        f"columns: {', '.join(columns)}.",
                        "Name the input column 'path' (images) or 'text', or pass image_column= / text_column=.")
    inputs, labels = list(df[column]), list(df[label_column])
    description = f"<DataFrame {len(df)} rows>"
    return _labelled(description, inputs, labels, classes, text=column == text_column and column not in PATH_COLUMNS)


def _from_pairs(pairs: Sequence[Any], classes: Sequence[str] | None) -> DataSource:
    bad = next((i for i, p in enumerate(pairs) if not isinstance(p, (list, tuple)) or len(p) != 2), None)
    if bad is not None:
        raise DataError(f"Item {bad} of the list is not an (input, label) pair: {pairs[bad]!r:.80}.",
                        "Pass a list of (image or path or text, label) pairs.")
    inputs, labels = [p[0] for p in pairs], [p[1] for p in pairs]
    return _labelled(f"<list {len(pairs)} items>", inputs, labels, classes, text=None)


def _from_hf(ds: Any, classes: Sequence[str] | None, image_column: str | None, text_column: str,
             label_column: str) -> DataSource:
    features = ds.features
    names = list(features)
    label = label_column if label_column in names else next((c for c in ("label", "labels") if c in names), None)
    if label is None:
        raise DataError(f"The dataset has no label column {label_column!r}; columns: {', '.join(names)}.",
                        "Pass label_column='NAME'.")
    if classes is None and hasattr(features[label], "names"):
        classes = list(features[label].names)  # a ClassLabel feature: integer labels with names
    image = image_column or next((c for c in names if type(features[c]).__name__ == "Image"), None)
    labels = list(ds[label])
    name = getattr(getattr(ds, "info", None), "dataset_name", None)  # a Hub dataset's id, for the model card
    description = f"<datasets.Dataset {name + ' ' if name else ''}{len(ds)} rows>"
    if image is not None:
        if image not in names:
            raise DataError(f"The dataset has no column {image!r}; columns: {', '.join(names)}.", "Pass image_column='NAME'.")
        return _labelled(description, [LazyItem(ds, i, image) for i in range(len(ds))], labels, classes, text=False)
    if text_column not in names:
        raise DataError(f"The dataset has no Image column and no text column {text_column!r}; columns: {', '.join(names)}.",
                        "Pass image_column= or text_column=.")
    return _labelled(description, list(ds[text_column]), labels, classes, text=True)


def _from_torch(ds: Any, classes: Sequence[str] | None) -> DataSource:
    classes = classes if classes is not None else getattr(ds, "classes", None)
    if classes is None:
        raise ConfigError(f"The {type(ds).__name__} has no class names (no 'classes' attribute).",
                          "Pass classes=['name0', 'name1', ...] in label order.")
    targets = getattr(ds, "targets", None)
    labels = list(targets) if targets is not None and len(targets) == len(ds) else [ds[i][1] for i in range(len(ds))]
    items = [LazyItem(ds, i) for i in range(len(ds))]
    return _labelled(f"<{type(ds).__name__} {len(ds)} items>", items, labels, classes, text=False)


# ----------------------------------------------------------------------------- labels and kinds
def _label_name(label: Any, classes: Sequence[str] | None, where: str) -> str:
    if hasattr(label, "item"):  # numpy / torch scalars
        label = label.item()
    if isinstance(label, float) and label.is_integer():
        label = int(label)
    if classes is not None and isinstance(label, int) and not isinstance(label, bool):
        if not 0 <= label < len(classes):
            raise DataError(f"{where}: label {label} is out of range for {len(classes)} classes.",
                            "Labels must be indices into classes (0..N-1), or class names.")
        return str(classes[label])
    if label is None or str(label).strip() == "":
        raise DataError(f"{where}: an item has no label.", "Label or remove it.")
    return str(label).strip()


def _labelled(description: str, inputs: list[Any], labels: list[Any], classes: Sequence[str] | None,
              text: bool | None) -> DataSource:
    if not inputs:
        raise DataError(f"{description} is empty.", "Pass at least two labelled items per class.")
    names = [_label_name(y, classes, description) for y in labels]
    if classes is not None:
        order = [str(c) for c in classes]
        extra = sorted(set(names) - set(order))
        if extra:
            raise DataError(f"{description}: label {extra[0]!r} is not in classes {order}.", "Add it to classes=.")
    else:
        order = sorted(set(names), key=lambda n: (0, int(n), "") if n.lstrip("-").isdigit() else (1, 0, n))
    if len(set(names)) < 2:
        raise DataError(f"{description} has a single class ({names[0]!r}); a classifier needs at least 2.")
    kind = _kind(inputs, text, description)
    if kind == "path":
        inputs = [_checked_path(p, description) for p in inputs]
    return DataSource(description, list(zip(inputs, names)), order, kind)


def _kind(inputs: list[Any], text: bool | None, description: str) -> str:
    first = inputs[0]
    if text:
        bad = next((i for i, x in enumerate(inputs) if not isinstance(x, str) or not x.strip()), None)
        if bad is not None:
            raise DataError(f"{description}: text item {bad} is empty or not a string.", "Fill in or drop that row.")
        return "text"
    if isinstance(first, (str, os.PathLike)):
        strings = all(isinstance(x, (str, os.PathLike)) for x in inputs)
        if text is None and strings and not any(os.path.isfile(x) for x in inputs[:20]):
            return "text"  # a list of (text, label): no item names a file
        return "path"
    return "image"


def _checked_path(path: Any, description: str) -> str:
    from .images import check_image_file

    full = os.path.abspath(os.path.expanduser(os.fspath(path)))
    if not os.path.isfile(full):
        raise DataError(f"{description}: image file {os.fspath(path)!r} not found.",
                        "Relative paths are read from the current folder; fix the path or drop the row.")
    problem = check_image_file(full)
    if problem:
        raise DataError(f"{description}: {full} is {problem}.", "Replace or drop that row.")
    return full


# ----------------------------------------------------------------------------- run folder
def val_inputs(items: Sequence[tuple[Any, int]], run_dir: str | Path) -> list[str]:
    """What ``val_predictions.json`` lists per validation item: its path or text, or for an image in
    memory the PNG written for it to ``RUN/val_images/NNNNN.png`` (so the gallery and export parity
    have a file to read)."""
    folder = Path(run_dir) / VAL_IMAGES
    out = []
    for position, (item, _) in enumerate(items):
        if isinstance(item, (str, os.PathLike)):
            out.append(os.fspath(item))
            continue
        from PIL import Image

        from .inputs import image_tensor

        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{position:05d}.png"
        Image.fromarray(image_tensor(item).permute(1, 2, 0).numpy()).save(path)
        out.append(str(path))
    return out


def check_memory_data(config: Any, source: DataSource | None, val_source: DataSource | None,
                      resume_dir: str | Path | None) -> None:
    """Refuse a config whose data was in memory when no such data is given (``--config``/``--resume``
    of a run trained from Python), or a resume given different data than the run was trained on."""
    for recorded, given, key in ((config.data, source, "data"), (config.val_data, val_source, "val_data")):
        if not is_memory_description(recorded):
            continue
        if given is None:
            if resume_dir is not None:
                raise ConfigError(f"{resume_dir} was trained from in-memory {key} {recorded}, which a config file cannot hold.",
                                  f"Resume it from Python: hs.train(<the same data>, resume={str(resume_dir)!r}).")
            if key == "data" and source is not None:
                continue  # new in-memory data replaces the recorded description
            raise ConfigError(f"config {key} {recorded!r} describes in-memory data, not a path.",
                              f"Pass the {key} (a folder or CSV path) or train from Python with hs.train(data, ...).")
        if resume_dir is not None and given.description != recorded:
            raise ConfigError(f"{resume_dir} was trained on {recorded}, but {given.description} was given to resume it.",
                              "Resume with the same data, or start a new run.")
