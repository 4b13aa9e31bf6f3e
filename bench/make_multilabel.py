"""Build a small, honest multi-label image set from TrashNet: mosaics of two photos, tagged with both.

Why mosaics: TrashNet has one object per photo on a white board. Putting two photos side by side
on one white 320x320 canvas gives an image whose true label set is known exactly (the classes of
the two photos; one label when both come from the same class), without hand labelling.

How (deterministic for a seed):
* train mosaics use only TrashNet ``train/`` photos and val mosaics only ``val/`` photos, so no
  photo is seen on both sides;
* each split's photos are shuffled and paired, every photo is used exactly once (an odd one out
  is dropped);
* each photo (213x160) is resized to 160x120 and centred in its half of the canvas, so the
  model's resize-256/centre-crop-224 keeps both objects.

Output: ``OUT/images/{train,val}/NNNN.jpg`` and ``OUT/labels.csv`` with ``path,label,split`` where
``label`` is e.g. ``glass;metal``. Nothing is committed; run it when needed::

    python bench/make_multilabel.py /tmp/trash_ml
    headstart train /tmp/trash_ml/labels.csv --task multi-label --model efficientnet_lite0
"""
from __future__ import annotations

import argparse
import csv
import random
from collections import Counter
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "trashnet"
CANVAS = 320
CELL = (160, 120)  # width, height of one photo in the mosaic


def photos(folder: Path) -> list[tuple[Path, str]]:
    """``(photo, class)`` for every image under ``folder/<class>/``, sorted."""
    return sorted((p, d.name) for d in folder.iterdir() if d.is_dir() for p in d.iterdir()
                  if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def mosaic(pair: list[tuple[Path, str]]) -> Image.Image:
    canvas = Image.new("RGB", (CANVAS, CANVAS), (255, 255, 255))
    for i, (path, _) in enumerate(pair):
        with Image.open(path) as photo:
            tile = photo.convert("RGB").resize(CELL, Image.Resampling.BICUBIC)
        canvas.paste(tile, (i * CANVAS // 2 + (CANVAS // 2 - CELL[0]) // 2, (CANVAS - CELL[1]) // 2))
    return canvas


def build(source: Path, out: Path, seed: int = 0) -> Counter:
    rows, sizes = [], Counter()
    for split in ("train", "val"):
        items = photos(source / split)
        random.Random(f"{seed}:{split}").shuffle(items)
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        for n in range(len(items) // 2):
            pair = items[2 * n:2 * n + 2]
            name = f"images/{split}/{n:04d}.jpg"
            mosaic(pair).save(out / name, quality=92)
            labels = sorted({label for _, label in pair})
            rows.append({"path": name, "label": ";".join(labels), "split": split})
            sizes[(split, len(labels))] += 1
    with open(out / "labels.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "split"])
        writer.writeheader()
        writer.writerows(rows)
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="output folder (created)")
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="TrashNet folder with train/ and val/")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sizes = build(args.source, args.out, args.seed)
    for (split, n_labels), count in sorted(sizes.items()):
        print(f"{split}: {count} mosaics with {n_labels} label(s)")
    print(f"wrote {args.out / 'labels.csv'}")


if __name__ == "__main__":
    main()
