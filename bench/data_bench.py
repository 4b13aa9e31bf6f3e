"""Data pipeline images/s (decode + resize + augment, with headstart's loader settings) vs. the
model's full fine-tuning images/s on in-memory batches. Target: loading >= 2x training.

Default: efficientnet_lite0 and random-init resnet50 at 224 px, 64 images through the loader,
3 training steps of batch 16 per model (~2 min on 2 cores).

    PYTHONPATH=src python bench/data_bench.py [--images 200] [--steps 5] [--workers 1]
"""
from __future__ import annotations

import argparse
import warnings

import _common as c
import torch

MODELS = {"efficientnet_lite0": "imagenet", "torchvision:resnet50": "none"}


def decode_rate(paths: list[str], use_pil: bool) -> float:
    from PIL import Image

    from headstart.data.images import pil_to_rgb, read_image_rgb

    with c.Timer() as t:
        for p in paths:
            if use_pil:
                with Image.open(p) as im:
                    pil_to_rgb(im).load()
            else:
                read_image_rgb(p)
    return len(paths) / t.seconds


def loader_rate(split, data_config, batch_size: int, workers: int | None, epochs: int = 2) -> tuple[float, int]:
    """Images/s of the training loader over ``epochs`` passes (the first includes worker start-up)."""
    from headstart.data.image_datamodule import ImageDataModule

    dm = ImageDataModule(split, data_config, batch_size=batch_size, num_workers=workers)
    loader = dm.train_dataloader()
    with c.Timer() as t:
        count = sum(x.shape[0] for _ in range(epochs) for x, _ in loader)
    return count / t.seconds, dm.num_workers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=c.default_data())
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None, help="loader workers (default: headstart's choice)")
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    print(c.machine_line())
    split = c.load_subset(args.data, args.images, 1)
    paths = [p for p, _ in split.train]
    print(f"\ndecode only ({len(paths)} files): torchvision.io {decode_rate(paths, False):.0f} img/s, "
          f"PIL {decode_rate(paths, True):.0f} img/s")
    rows = []
    for name in args.models.split(","):
        model = c.make_model(name, MODELS.get(name, "none"))
        data_rate, workers = loader_rate(split, model.data_config, args.batch_size, args.workers)
        train_rate = c.train_images_per_s(model, args.batch_size, args.steps)
        rows.append([name, f"{model.data_config.image_size}px", workers, data_rate, train_rate, data_rate / train_rate,
                     "yes" if data_rate >= 2 * train_rate else "no"])
        print(rows[-1], flush=True)
        del model
        torch.cuda.empty_cache() if torch.cuda.is_available() else None
    print(c.table(["model", "size", "loader workers", "data img/s", "fine-tune img/s", "ratio", ">= 2x"], rows))


if __name__ == "__main__":
    main()
