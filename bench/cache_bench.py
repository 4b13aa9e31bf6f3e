"""Frozen (head-only) phase with and without the feature cache: wall time after 1, 5, 10 epochs.

Prints a Markdown table. Default: efficientnet_lite0 (offline ImageNet weights), 64 train / 48 val
images at 224 px, 10 epochs (~3-4 min on 2 cores). ``--train 0 --val 0`` uses the whole data set.

    PYTHONPATH=src python bench/cache_bench.py [--model efficientnet_lite0] [--epochs 10] [--augment 0]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import _common as c
import lightning as L


class EpochClock(L.Callback):
    """Wall time from ``start`` to the end of each epoch's validation."""

    def __init__(self, start: float):
        self.start = start
        self.marks: list[float] = []

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.marks.append(time.perf_counter() - self.start)


def run(args: argparse.Namespace, cached: bool) -> tuple[list[float], float]:
    from headstart.backbones import create_backbone
    from headstart.data.image_datamodule import ImageDataModule
    from headstart.engine.evaluate import collect_logits
    from headstart.engine.feature_cache import CachedPhaseData, FeatureStore
    from headstart.engine.fit import EngineOptions, fit_plan
    from headstart.heads import build_head
    from headstart.model import TransferModel
    from headstart.strategies.base import Phase

    L.seed_everything(0, verbose=False)
    backbone = create_backbone(args.model, weights=args.weights)
    split = c.load_subset(args.data, args.train, args.val)
    model = TransferModel(backbone, build_head("linear", backbone.num_features, len(split.classes)), split.classes)
    dm = ImageDataModule(split, backbone.data_config, batch_size=args.batch_size, num_workers=args.workers)
    run_dir = Path(tempfile.mkdtemp(prefix="cache-bench-"))
    hook = CachedPhaseData(dm, FeatureStore(run_dir / "feature_cache"), augment_views=args.augment) if cached else None
    start = time.perf_counter()
    clock = EpochClock(start)
    options = EngineOptions(accelerator="cpu", devices=1, progress_bar=False, extra_callbacks=[clock])
    fit_plan(model, dm, [Phase("head", args.epochs, "head", args.lr)], run_dir, options, phase_data=hook)
    logits, labels = collect_logits(model, dm.val_dataloader())
    return clock.marks, float((logits.argmax(1) == labels).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=c.default_data())
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--weights", default="imagenet")
    parser.add_argument("--train", type=int, default=64, help="training images (0 = all)")
    parser.add_argument("--val", type=int, default=48, help="validation images (0 = all)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--augment", type=int, default=0, help="cached augmented views per image (--cache-augment)")
    args = parser.parse_args()
    c.quiet()
    print(c.machine_line())
    plain, acc_plain = run(args, cached=False)
    cached, acc_cached = run(args, cached=True)
    rows = []
    for e in sorted({1, 5, 10, args.epochs}):
        if e <= args.epochs:
            rows.append([e, plain[e - 1], cached[e - 1], plain[e - 1] / cached[e - 1]])
    print(f"\n{args.model}, {args.train or 'all'} train / {args.val or 'all'} val images, batch {args.batch_size}, "
          f"augment views {args.augment}")
    print(c.table(["epochs", "no cache (s)", "cache (s)", "speed-up"], rows))
    print(f"\nval accuracy after {args.epochs} epochs: no cache {acc_plain:.4f}, cache {acc_cached:.4f} "
          f"(difference {100 * (acc_cached - acc_plain):+.1f} points)")


if __name__ == "__main__":
    main()
