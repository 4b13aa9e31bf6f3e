"""Rebuild examples/ants_bees/ (the quick-start dataset) from the hymenoptera_data images.

Why: the quick start should train on real photos without a download, yet the repository should
stay small. Every train and val image (except the upstream ``imageNotFound.gif`` placeholder) is
converted to RGB, shrunk so its shorter side is 256 px (never enlarged) and saved as a quality-85
JPEG with the same file stem.

Usage::

    python examples/make_ants_bees.py [--src ../shared/data/hymenoptera_data] [--dst examples/ants_bees]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageOps

SHORT_SIDE = 256  # the default weights resize to 256 before their 224 centre crop: smaller copies would be upscaled
QUALITY = 85
EXCLUDE = {"imageNotFound.gif"}
SPLITS = ("train", "val")
EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
REPO = Path(__file__).resolve().parents[1]


def shrink(image: Image.Image, short_side: int = SHORT_SIDE) -> Image.Image:
    """RGB copy whose shorter side is at most ``short_side`` (aspect ratio kept, never upscaled)."""
    image = ImageOps.exif_transpose(image)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    image = image.convert("RGB")
    width, height = image.size
    scale = short_side / min(width, height)
    if scale < 1:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return image


def convert(src: Path, dst: Path) -> dict[str, dict[str, int]]:
    """Write ``dst/<split>/<class>/<stem>.jpg`` for every source image; return counts per split."""
    counts: dict[str, dict[str, int]] = {}
    for split in SPLITS:
        for class_dir in sorted(p for p in (src / split).iterdir() if p.is_dir()):
            out_dir = dst / split / class_dir.name
            out_dir.mkdir(parents=True, exist_ok=True)
            n = 0
            for path in sorted(class_dir.iterdir()):
                if path.name in EXCLUDE or path.suffix.lower() not in EXTENSIONS:
                    continue
                with Image.open(path) as image:
                    small = shrink(image)
                small.save(out_dir / f"{path.stem}.jpg", "JPEG", quality=QUALITY, optimize=True)
                n += 1
            counts.setdefault(split, {})[class_dir.name] = n
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=REPO.parent / "shared/data/hymenoptera_data")
    parser.add_argument("--dst", type=Path, default=REPO / "examples/ants_bees")
    args = parser.parse_args()
    if not (args.src / "train").is_dir():
        raise SystemExit(f"{args.src} has no train/ folder; pass --src <hymenoptera_data folder>")
    counts = convert(args.src, args.dst)
    total_bytes = sum(p.stat().st_size for p in args.dst.rglob("*.jpg"))
    for split, per_class in counts.items():
        print(split, per_class, "total", sum(per_class.values()))
    print(f"{sum(sum(c.values()) for c in counts.values())} images, {total_bytes / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
