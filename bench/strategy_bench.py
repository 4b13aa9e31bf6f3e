"""Per strategy: wall time and training images/s, headstart vs. a hand-written PyTorch loop.

Both sides run the same recipe on the same model, data, batch size and loaders: the phases of the
strategy, AdamW over discriminative param groups, warmup + cosine per step, channels_last for
convnets, a validation pass per epoch. headstart adds what it does by default (feature cache in
frozen phases, Lightning's checkpoints and logs). Default: efficientnet_lite0, 32 train / 16 val
images at 224 px, 2 epochs per strategy (~4 min on 2 cores).

    PYTHONPATH=src python bench/strategy_bench.py [--model torchvision:resnet50 --weights none] [--epochs 3]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import _common as c
import lightning as L
import torch
import torch.nn.functional as F

STRATEGIES = ("feature-extraction", "fine-tune", "two-phase")


def build(args: argparse.Namespace):
    from headstart.backbones import create_backbone
    from headstart.data.image_datamodule import ImageDataModule
    from headstart.heads import build_head
    from headstart.model import TransferModel

    L.seed_everything(0, verbose=False)
    backbone = create_backbone(args.model, weights=args.weights)
    split = c.load_subset(args.data, args.train, args.val)
    model = TransferModel(backbone, build_head("linear", backbone.num_features, len(split.classes)), split.classes)
    dm = ImageDataModule(split, backbone.data_config, batch_size=args.batch_size, num_workers=args.workers)
    return model, dm


def plan(strategy: str, args: argparse.Namespace, model) -> list:
    from headstart.strategies import StrategyOptions, plan_for

    head_epochs = 1 if strategy == "two-phase" else 0
    options = StrategyOptions(epochs=max(1, args.epochs - head_epochs), head_epochs=head_epochs, lr=args.lr)
    return plan_for(strategy, options, len(model.layer_groups()))


def plain_loop(model, dm, phases: list) -> None:
    """The recipe written out by hand: no Lightning, no callbacks, no cache."""
    from headstart.engine.fit import trainable_spec
    from headstart.engine.module import warmup_cosine
    from headstart.engine.runtime import is_convnet
    from headstart.params.freezing import set_trainable
    from headstart.params.param_groups import discriminative_param_groups

    channels_last = is_convnet(model)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=memory_format)
    train_loader, val_loader = dm.train_dataloader(), dm.val_dataloader()
    for phase in phases:
        set_trainable(model, trainable_spec(phase, model))
        groups = discriminative_param_groups(model, phase.head_lr, layer_decay=phase.layer_decay,
                                             lr_spread=phase.lr_spread, weight_decay=0.01)
        optimizer = torch.optim.AdamW(groups)
        total = phase.epochs * len(train_loader)
        warmup = int(round(phase.warmup_fraction * total))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(s, total, warmup))
        for _ in range(phase.epochs):
            model.train()
            for x, y in train_loader:
                loss = F.cross_entropy(model(x.contiguous(memory_format=memory_format)), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
            model.eval()
            with torch.inference_mode():
                correct = sum(int((model(x.contiguous(memory_format=memory_format)).argmax(1) == y).sum())
                              for x, y in val_loader)
            _ = correct / max(1, len(dm.val_dataset))
    model.to(memory_format=torch.contiguous_format)


def headstart_fit(model, dm, phases: list, cache: bool) -> None:
    from headstart.engine.feature_cache import CachedPhaseData, FeatureStore
    from headstart.engine.fit import EngineOptions, fit_plan

    run_dir = Path(tempfile.mkdtemp(prefix="strategy-bench-"))
    hook = CachedPhaseData(dm, FeatureStore(run_dir / "feature_cache")) if cache else None
    fit_plan(model, dm, phases, run_dir, EngineOptions(accelerator="cpu", devices=1, progress_bar=False), phase_data=hook)


def timed(fn, *a) -> float:
    start = time.perf_counter()
    fn(*a)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=c.default_data())
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--weights", default="imagenet")
    parser.add_argument("--train", type=int, default=32, help="training images (0 = all)")
    parser.add_argument("--val", type=int, default=16, help="validation images (0 = all)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per strategy (two-phase: 1 head + rest)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--repeats", type=int, default=1, help="best of N runs per side, alternating order")
    args = parser.parse_args()
    c.quiet()
    print(c.machine_line())
    rows = []
    for strategy in args.strategies.split(","):
        model, dm = build(args)
        phases = plan(strategy, args, model)
        images = sum(p.epochs for p in phases) * (len(dm.train_dataset) // args.batch_size * args.batch_size or len(dm.train_dataset))
        # Best of --repeats runs, alternating which side goes first: on a shared 2-core machine
        # single runs vary by +-10 %, more than the difference being measured.
        plain_times, our_times = [], []
        for r in range(args.repeats):
            runs = [("plain", lambda: timed(plain_loop, *build(args), phases)),
                    ("ours", lambda: timed(headstart_fit, *build(args), phases, True))]
            for side, run in (runs if r % 2 == 0 else runs[::-1]):
                (plain_times if side == "plain" else our_times).append(run())
        plain, ours = min(plain_times), min(our_times)
        rows.append([strategy, plain, images / plain, ours, images / ours, plain / ours])
        if any(p.backbone_frozen for p in phases):
            model, dm = build(args)
            ours_nc = timed(headstart_fit, model, dm, phases, False)
            rows.append([f"{strategy} (no cache)", plain, images / plain, ours_nc, images / ours_nc, plain / ours_nc])
        print(c.table(["strategy", "plain loop s", "plain img/s", "headstart s", "headstart img/s", "headstart / plain speed"], rows[-1:]).splitlines()[-1], flush=True)
    print(f"\n{args.model}, {args.train or 'all'} train / {args.val or 'all'} val images, batch {args.batch_size}, "
          f"{args.epochs} epochs, best of {args.repeats}; img/s = training images per second of wall time (validation included)")
    print(c.table(["strategy", "plain loop s", "plain img/s", "headstart s", "headstart img/s", "headstart / plain speed"], rows))


if __name__ == "__main__":
    main()
