"""Image classification datasets from folders or CSV files, and fast RGB decoding.

Why: most transfer-learning runs start from "a folder of images per class". This module turns the
common layouts into one :class:`~headstart.data.splits.ImageSplit`, checks every file cheaply up
front (a corrupt JPEG found in epoch 7 wastes the first six), and fails with a one-line
:class:`~headstart.errors.DataError` that names the file and the fix.

Layouts accepted by :func:`load_image_dataset`:

* ``root/train/<class>/*.jpg`` + ``root/val/<class>/*.jpg`` (``valid/`` or ``validation/`` too);
* ``root/<class>/*.jpg``: split per class with a fixed seed;
* ``labels.csv`` with ``path,label`` columns (paths relative to the CSV's folder or absolute) and an
  optional ``split`` column (``train``/``val``; ``test`` rows are left out).
"""
from __future__ import annotations

import csv
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset

from ..errors import DataError
from .image_files import IMAGE_EXTENSIONS, is_image_file
from .seeded_shuffle import seeded_item
from .inputs import image_tensor  # items held in memory (headstart.data.sources)
from .splits import ImageSplit, check_val_fraction, stratified_split

TRAIN_FOLDER_NAMES = ("train", "training")
VAL_FOLDER_NAMES = ("val", "valid", "validation")
PATH_COLUMNS = ("path", "image", "file", "filename", "filepath", "image_path")
LABEL_COLUMNS = ("label", "class", "target", "category")
SPLIT_VALUES = {"train": "train", "training": "train", "val": "val", "valid": "val",
                "validation": "val", "test": "test"}
_TORCHVISION_FORMATS = frozenset({".jpg", ".jpeg", ".png"})
_CHECK_THREADS = 8
_SHOW_SKIPPED = 3

Rows = list[tuple[str, str]]  # (absolute image path, class name)


def load_image_dataset(
    path: str | os.PathLike,
    *,
    val_path: str | os.PathLike | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
    strict: bool = False,
) -> ImageSplit:
    """Resolve an image dataset (folders or CSV) into checked train/val lists of ``(path, index)``.

    ``val_path`` names a separate validation folder of class subfolders or CSV (it replaces any
    ``val/`` found under ``path``). Without a validation set, each class is split with
    ``val_fraction`` and ``seed``; a class with at least 2 images gets at least 1 val image. Class
    order is the sorted class names of the training set. Files that PIL cannot read are skipped
    with a warning (listed in ``skipped``), or raise with ``strict=True``.

    Example::

        split = load_image_dataset("examples/ants_bees")             # train/ + val/
        split = load_image_dataset("photos/", val_fraction=0.1)      # photos/<class>/...
        split = load_image_dataset("labels.csv", strict=True)        # path,label[,split]
    """
    check_val_fraction(val_fraction)
    root = _existing(path, "dataset path")
    val_root = _existing(val_path, "val_path") if val_path is not None else None

    if root.is_file():
        train_rows, val_rows = _read_csv(root, use_split=True)
        train_where = val_where = str(root)
    else:
        train_dir, val_dir = _find_split_folders(root)
        train_rows, train_where = _scan_class_folders(train_dir), str(train_dir)
        val_rows = _scan_class_folders(val_dir) if val_dir is not None else None
        val_where = str(val_dir) if val_dir is not None else train_where
    if val_root is not None:
        val_rows = _read_csv(val_root, use_split=False)[0] if val_root.is_file() \
            else _scan_class_folders(val_root)
        val_where = str(val_root)

    skipped: list[tuple[str, str]] = []
    train_rows = _drop_unreadable(train_rows, strict, skipped, train_where)
    if val_rows is not None:
        val_rows = _drop_unreadable(val_rows, strict, skipped, val_where)
    if skipped:
        _warn_skipped(skipped, root)

    classes = sorted({label for _, label in train_rows})
    if len(classes) < 2:
        only = f" ('{classes[0]}')" if classes else ""
        raise DataError(
            f"{train_where} has only {len(classes)} class{only}: a classifier needs at least 2; "
            "point to the folder that holds one subfolder per class (or a CSV with 2+ labels)."
        )
    if val_rows is None:
        train_rows, val_rows = stratified_split(
            train_rows, [label for _, label in train_rows], val_fraction, seed
        )
    unknown = sorted({label for _, label in val_rows} - set(classes))
    if unknown:
        raise DataError(
            f"{val_where}: val label '{unknown[0]}' is not a training class {classes}; add "
            "training images for it or remove it from the validation set."
        )
    if not val_rows:
        singles = sorted({label for _, label in train_rows})
        raise DataError(
            f"{val_where}: no validation images: every class has "
            f"only 1 image ({', '.join(singles[:5])}{', ...' if len(singles) > 5 else ''}), and one image cannot "
            "be both trained on and held out; add at least 2 images per class, or pass a separate "
            "validation set (--val-data)."
        )
    index = {name: i for i, name in enumerate(classes)}
    return ImageSplit(
        train=[(p, index[label]) for p, label in train_rows],
        val=[(p, index[label]) for p, label in val_rows],
        classes=classes,
        skipped=skipped,
    )


def _existing(path: str | os.PathLike, what: str) -> Path:
    resolved = Path(path).expanduser()
    if not resolved.exists():
        raise DataError(
            f"{what} '{path}' does not exist; pass a folder of class subfolders, a folder with "
            "train/ and val/, or a CSV file with path,label columns."
        )
    return resolved


def _find_split_folders(root: Path) -> tuple[Path, Path | None]:
    """``(train folder, val folder or None)``; the root itself when it holds class folders."""
    children = {child.name.lower(): child for child in root.iterdir() if child.is_dir()}
    train = next((children[n] for n in TRAIN_FOLDER_NAMES if n in children), None)
    val = next((children[n] for n in VAL_FOLDER_NAMES if n in children), None)
    if train is None and val is not None:
        raise DataError(
            f"{root} has a '{val.name}/' folder but no 'train/' folder; add {root}/train/<class>/ "
            "or point to a folder of class subfolders."
        )
    return (train, val) if train is not None else (root, None)


def _visible(path: Path, root: Path) -> bool:
    return not any(part.startswith((".", "__")) for part in path.relative_to(root).parts)


def _scan_class_folders(folder: Path) -> Rows:
    """``(path, class)`` for every image under ``folder/<class>/`` (recursively), sorted."""
    class_dirs = sorted(d for d in folder.iterdir() if d.is_dir() and _visible(d, folder))
    if not class_dirs:
        loose = [p for p in folder.iterdir() if p.is_file() and is_image_file(p)]
        if loose:
            raise DataError(
                f"{folder} holds images but no class subfolders; move each class into its own "
                f"folder ({folder}/<class>/{loose[0].name}) or use a CSV with path,label columns."
            )
        raise DataError(
            f"no images found in {folder}: expected one subfolder per class with "
            f"{'/'.join(sorted(e[1:] for e in IMAGE_EXTENSIONS))} files."
        )
    rows: Rows = []
    for class_dir in class_dirs:
        files = sorted(
            p for p in class_dir.rglob("*")
            if p.is_file() and is_image_file(p) and _visible(p, class_dir)
        )
        if not files:
            raise DataError(
                f"class folder {class_dir} has no images; add images to it or remove the folder."
            )
        rows.extend((os.path.abspath(p), class_dir.name) for p in files)
    return rows


def _pick_column(fieldnames: Sequence[str], aliases: Sequence[str]) -> str | None:
    by_name = {name.strip().lower(): name for name in fieldnames if name is not None}
    return next((by_name[a] for a in aliases if a in by_name), None)


def _read_csv(csv_path: Path, use_split: bool) -> tuple[Rows, Rows | None]:
    """Rows of a ``path,label[,split]`` CSV (TSV for ``.tsv``): ``(train, val or None)``."""
    delimiter = "\t" if csv_path.suffix.lower() == ".tsv" else ","
    base = csv_path.parent
    train: Rows = []
    val: Rows = []
    missing: list[tuple[int, str]] = []
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        try:
            fieldnames = reader.fieldnames
            if not fieldnames:
                raise DataError(f"{csv_path} is empty; write a header row 'path,label' first.")
            path_col = _pick_column(fieldnames, PATH_COLUMNS)
            label_col = _pick_column(fieldnames, LABEL_COLUMNS)
            for column, aliases in ((path_col, PATH_COLUMNS), (label_col, LABEL_COLUMNS)):
                if column is None:
                    raise DataError(
                        f"{csv_path} has no '{aliases[0]}' column (found columns: "
                        f"{', '.join(fieldnames)}); rename the column to '{aliases[0]}'."
                    )
            split_col = _pick_column(fieldnames, ("split",)) if use_split else None
            for row in reader:
                line = reader.line_num
                values = [v for k, v in row.items() if k is not None]
                if not any(v and v.strip() for v in values):
                    continue  # a blank or all-empty row
                if None in row or any(v is None for v in row.values()):
                    raise DataError(
                        f"{csv_path} row {line}: expected {len(fieldnames)} values "
                        f"({', '.join(fieldnames)}); fix or delete the row."
                    )
                raw_path, label = row[path_col].strip(), row[label_col].strip()
                if not raw_path or not label:
                    empty = path_col if not raw_path else label_col
                    raise DataError(f"{csv_path} row {line}: empty '{empty}'; fill it in or "
                                    "delete the row.")
                image = Path(raw_path).expanduser()
                image = image if image.is_absolute() else base / image
                if not image.is_file():
                    missing.append((line, raw_path))
                    continue
                split = "train"
                if split_col is not None:
                    value = row[split_col].strip().lower()
                    split = SPLIT_VALUES.get(value, "")
                    if not split:
                        raise DataError(
                            f"{csv_path} row {line}: split '{row[split_col]}' is not one of "
                            "train/val/test; fix the value or drop the split column."
                        )
                if split != "test":
                    (val if split == "val" else train).append((os.path.abspath(image), label))
        except csv.Error as exc:
            raise DataError(f"{csv_path} row {reader.line_num}: unreadable CSV ({exc}); fix the "
                            "quoting or delete the row.") from exc
        except UnicodeDecodeError as exc:
            raise DataError(f"{csv_path} is not UTF-8 text ({exc.reason}); save it as UTF-8 "
                            "CSV.") from exc
    train, val = _unique_rows(csv_path, train, val)
    if missing:
        line, raw_path = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DataError(
            f"{csv_path} row {line}: image '{raw_path}' not found{more}; relative paths are read "
            f"from the CSV's folder {base}, so fix the path or delete the row."
        )
    if not train:
        raise DataError(f"no images found in {csv_path}: add rows with split 'train' "
                        "(or no split column).")
    return train, (val if split_col is not None and val else None)


def _unique_rows(csv_path: Path, train: Rows, val: Rows) -> tuple[Rows, Rows]:
    """``train`` and ``val`` with repeated rows dropped (warning with the count).

    Why: a CSV listing an image twice would let the split put one copy in train and the other in
    val, so validation would score images the model trained on. An image with two labels, or in
    both the train and val split, is an error for the same reason.
    """
    labels: dict[str, tuple[str, str]] = {}
    kept: dict[str, Rows] = {"train": [], "val": []}
    repeated = 0
    for split, rows in (("train", train), ("val", val)):
        for path, label in rows:
            if path not in labels:
                labels[path] = (label, split)
                kept[split].append((path, label))
                continue
            first_label, first_split = labels[path]
            if first_label != label:
                raise DataError(f"{csv_path}: image {path} is listed with two labels ('{first_label}' and "
                                f"'{label}'); keep one row per image.")
            if first_split != split:
                raise DataError(f"{csv_path}: image {path} is listed in both the train and the val split, so "
                                "validation would score a training image; keep one row per image.")
            repeated += 1
    if repeated:
        warnings.warn(f"headstart: {csv_path} lists {repeated} image(s) more than once; each image is used once "
                      "(repeats would leak validation images into training).", UserWarning, stacklevel=4)
    return kept["train"], kept["val"]


def check_image_file(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be used as an image (``None`` if it decodes).

    Why decode and not just read headers: a truncated JPEG has a valid header and would only fail
    mid-epoch (in a loader worker). The check stays cheap: JPEGs decode at 1/8 scale (libjpeg's
    DCT scaling still reads every byte: 0.6 ms for a 336x224 photo, 7 ms for 12 MP, against
    100 ms at full size), PNGs are verified chunk by chunk up to IEND (CRCs, no inflating into
    pixels), other formats decode fully.
    """
    try:
        with Image.open(path) as image:
            if image.format == "PNG":
                image.verify()
            else:
                if image.format == "JPEG":
                    image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
                image.load()
    except Image.UnidentifiedImageError:
        return "not an image file PIL can identify"
    except Image.DecompressionBombError as exc:
        return f"too large to decode safely: {exc}".split(", could be")[0]
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError... for broken files
        return f"corrupt image ({type(exc).__name__}: {exc})"
    return None


def _drop_unreadable(rows: Rows, strict: bool, skipped: list[tuple[str, str]], where: str) -> Rows:
    """Rows whose file opens as an image; the others go to ``skipped`` (or raise if strict).
    A class whose every file was skipped is an error."""
    kept = keep_readable(rows, strict, skipped)
    lost = sorted({label for _, label in rows} - {label for _, label in kept})
    if lost:
        raise DataError(f"{where}: class '{lost[0]}' has no readable images (all its files were "
                        "skipped as corrupt); replace the files or remove the class.")
    return kept


def keep_readable(rows: Sequence[tuple], strict: bool, skipped: list[tuple[str, str]]) -> list:
    """Rows (image path first) whose file opens as an image, checked in threads for large lists;
    the others go to ``skipped`` as ``(path, reason)``, or raise a DataError when ``strict``."""
    paths = [row[0] for row in rows]
    if len(paths) >= 64:
        with ThreadPoolExecutor(max_workers=_CHECK_THREADS) as pool:
            reasons = list(pool.map(check_image_file, paths))
    else:
        reasons = [check_image_file(p) for p in paths]
    kept = []
    for row, reason in zip(rows, reasons):
        if reason is None:
            kept.append(row)
        elif strict:
            raise DataError(f"{row[0]} is not a readable image ({reason}); delete or replace it, "
                            "or drop --strict (strict=False) to skip unreadable files.")
        else:
            skipped.append((row[0], reason))
    return kept


def _warn_skipped(skipped: list[tuple[str, str]], root: Path) -> None:
    names = ", ".join(os.path.basename(p) for p, _ in skipped[:_SHOW_SKIPPED])
    more = ", ..." if len(skipped) > _SHOW_SKIPPED else ""
    warnings.warn(
        f"headstart: skipped {len(skipped)} unreadable image file(s) under {root}: {names}{more} "
        "(see ImageSplit.skipped; pass strict=True to stop on them instead).",
        UserWarning,
        stacklevel=3,
    )


def pil_to_rgb(image: Image.Image) -> Image.Image:
    """3-channel RGB copy of a PIL image (grayscale, palette, RGBA, CMYK...), EXIF-rotated."""
    image = ImageOps.exif_transpose(image)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")  # avoids PIL's palette-transparency warning
    return image if image.mode == "RGB" else image.convert("RGB")


def _refuse_huge(path: str) -> None:
    """A DataError for an image too large to decode safely (PIL's decompression-bomb limit, read
    from the header): torchvision's decoders would otherwise allocate it whole."""
    try:
        with Image.open(path):
            pass
    except Image.DecompressionBombError as exc:
        raise DataError(f"{path} is too large to decode safely ({exc}".split(", could be")[0]
                        + "); downscale it, or raise PIL.Image.MAX_IMAGE_PIXELS if you trust the file.") from None
    except Exception:  # unreadable headers: the decoders below report it
        pass


def read_image_rgb(path: str | os.PathLike) -> torch.Tensor:
    """Decode an image file to a ``uint8`` tensor ``[3, H, W]``.

    JPEG and PNG go through ``torchvision.io.decode_image`` (libjpeg-turbo/libpng, no PIL
    object in between); other formats, 16-bit PNGs and anything torchvision rejects fall back to
    PIL. Either way the result is RGB with EXIF orientation applied. Raises ``DataError`` if
    neither decoder can read the file.
    """
    path = os.fspath(path)
    _refuse_huge(path)
    if os.path.splitext(path)[1].lower() in _TORCHVISION_FORMATS:
        from torchvision.io import ImageReadMode, decode_image, read_file

        try:
            with warnings.catch_warnings():  # torchvision 0.29 deprecates its decoders per call
                warnings.simplefilter("ignore", DeprecationWarning)
                image = decode_image(read_file(path), mode=ImageReadMode.RGB,
                                     apply_exif_orientation=True)
            if image.dtype == torch.uint8 and image.ndim == 3 and image.shape[0] == 3:
                return image
        except (RuntimeError, ValueError, OSError):
            pass  # e.g. a PNG saved as .jpg, or a JPEG flavour libjpeg refuses: let PIL try
    try:
        with Image.open(path) as image:
            array = np.array(pil_to_rgb(image))
    except Exception as exc:
        raise DataError(f"cannot decode image {path} ({type(exc).__name__}: {exc}); delete or "
                        "replace the file (load_image_dataset skips such files up front).") from exc
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


class ImageDataset(Dataset):
    """Map-style dataset of ``(image path, class index)`` pairs returning ``(tensor, label)``.

    An item may also be an image in memory (see :mod:`headstart.data.inputs`) instead of a path.

    Images are decoded by :func:`read_image_rgb` to ``uint8 [3, H, W]`` and passed through
    ``transform`` (e.g. :func:`headstart.data.transforms.build_transforms`) when one is given.

    Example::

        ds = ImageDataset(split.train, build_transforms(backbone.data_config, train=True))
        x, y = ds[0]        # x: float [3, 224, 224], y: int
    """

    def __init__(self, items: Sequence[tuple[str, int]],
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None):
        self.items = list(items)
        self.transform = transform
        self.unreadable: set[str] = set()  # files skipped at load time (in this process)

    @property
    def targets(self) -> list[int]:
        """Class index of every item, in order (what samplers and class weights need)."""
        return [label for _, label in self.items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int | tuple[int, int]) -> tuple[torch.Tensor, int]:
        # (index, seed) from the training sampler (data/seeded_shuffle.py): augment with that seed
        index, seed = index if isinstance(index, tuple) else (index, None)
        # A file that breaks after the up-front check (replaced, truncated on a network drive)
        # must not kill an epoch inside a loader worker: the next readable item stands in for it.
        first: DataError | None = None
        for step in range(len(self.items)):
            path, label = self.items[(index + step) % len(self.items)]
            try:
                image = read_image_rgb(path) if isinstance(path, (str, os.PathLike)) else image_tensor(path)
            except DataError as exc:
                first = first or exc
                self._skipped(path, exc)
                continue
            if self.transform is not None:
                with seeded_item(seed):
                    image = self.transform(image)
            return image, label
        raise DataError(f"none of the {len(self.items)} images can be decoded any more, e.g. {first}")

    def _skipped(self, path: str, error: DataError) -> None:
        if path not in self.unreadable:
            self.unreadable.add(path)
            warnings.warn(f"headstart: skipped unreadable image {path} while loading ({str(error)[:200]}); "
                          "the next image stands in for it.", UserWarning, stacklevel=3)
