"""The data a run started on, recorded in its folder so a resume on other data is refused.

Why: a resume continues *one* model. Its head has one output per recorded class, in order, and its
validation split was fixed when the run began. Resuming on a renamed, added or deleted class
folder, or on a changed file list, would relabel predictions or silently move images between
train and val. The fingerprint records, for images, the classes and per split every file's path
(relative to the data's common folder), class and size; for text, the classes and per split the
number of rows and a SHA-256 of the rows. ``check_same_data`` names what changed in one line.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Sequence

from ..errors import DataError

FILE = "data.json"
SPLITS = ("train", "val")
HINT = "Resume only continues a run on the data it started with: restore that data, or start a new run."


def _label_name(classes: Sequence[str], label: Any) -> Any:
    """The class name of ``label``; for a multi-hot target (multi-label runs) the names of its labels."""
    if getattr(label, "ndim", 0):
        return [classes[i] for i, on in enumerate(label.tolist()) if on]
    return classes[label]


def _image_files(items: Sequence[tuple[str, int]], classes: Sequence[str], root: str) -> dict[str, list[Any]]:
    return {Path(os.path.relpath(path, root)).as_posix(): [_label_name(classes, label), os.path.getsize(path)]
            for path, label in items}


def _rows_digest(items: Sequence[tuple[str, int]], classes: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for text, label in items:
        digest.update(json.dumps([text, _label_name(classes, label)]).encode() + b"\n")
    return digest.hexdigest()


def data_fingerprint(split: Any, modality: str) -> dict[str, Any]:
    """The fingerprint of ``split`` (an ImageSplit or TextSplit) as a JSON-ready dict."""
    classes = list(split.classes)
    fingerprint: dict[str, Any] = {"modality": modality, "classes": classes}
    if modality == "text":
        for name in SPLITS:
            items = getattr(split, name)
            fingerprint[name] = {"rows": len(items), "sha256": _rows_digest(items, classes)}
        return fingerprint
    if any(not isinstance(x, (str, os.PathLike)) for name in SPLITS for x, _ in getattr(split, name)):
        # images held in memory (headstart.data.sources): no file to size, so labels per position
        # (with hs.train's check that the same kind and number of items is passed again)
        for name in SPLITS:
            items = [(f"item {i}", label) for i, (_, label) in enumerate(getattr(split, name))]
            fingerprint[name] = {"rows": len(items), "sha256": _rows_digest(items, classes)}
        return fingerprint
    paths = [path for name in SPLITS for path, _ in getattr(split, name)]
    root = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths]) if paths else ""
    for name in SPLITS:
        items = [(os.path.abspath(path), label) for path, label in getattr(split, name)]
        fingerprint[name] = {"files": _image_files(items, classes, root)}
    return fingerprint


def _examples(names: Sequence[str]) -> str:
    shown = ", ".join(sorted(names)[:3])
    return f" ({shown}{', ...' if len(names) > 3 else ''})" if names else ""


def _split_change(name: str, recorded: dict[str, Any], current: dict[str, Any]) -> str | None:
    what = "training" if name == "train" else "validation"
    if "sha256" in recorded or "sha256" in current:
        if recorded.get("sha256") == current.get("sha256"):
            return None
        return f"the {what} rows differ ({current.get('rows')} now, {recorded.get('rows')} recorded)"
    old, new = recorded.get("files", {}), current.get("files", {})
    if old == new:
        return None
    missing = [p for p in old if p not in new]
    added = [p for p in new if p not in old]
    changed = [p for p in old if p in new and old[p] != new[p]]
    parts = [f"{len(missing)} missing{_examples(missing)}" if missing else "",
             f"{len(added)} new{_examples(added)}" if added else "",
             f"{len(changed)} changed in size or class{_examples(changed)}" if changed else ""]
    return f"{what} images: " + ", ".join(p for p in parts if p)


def check_same_data(recorded: dict[str, Any], current: dict[str, Any], data: str) -> None:
    """Raise ``DataError`` naming what differs between the recorded and the current fingerprint."""
    old, new = list(recorded.get("classes", [])), list(current.get("classes", []))
    if old != new:
        removed, added = [c for c in old if c not in new], [c for c in new if c not in old]
        detail = "; ".join(x for x in (f"missing {', '.join(removed)}" if removed else "",
                                       f"new {', '.join(added)}" if added else "") if x) or "same names, other order"
        raise DataError(f"The classes in {data} changed since this run started ({detail}): "
                        f"the run's model predicts {', '.join(old)}.", HINT)
    changes = [c for c in (_split_change(n, recorded.get(n, {}), current.get(n, {})) for n in SPLITS) if c]
    if changes:
        raise DataError(f"The data in {data} changed since this run started: {'; '.join(changes)}.", HINT)
