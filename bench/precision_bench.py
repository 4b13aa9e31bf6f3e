"""Fine-tuning speed and final accuracy, fp32 (``32-true``) against bf16 autocast (``bf16-mixed``).

Why: ``precision: auto`` must pick bf16 on a device only where it clearly pays. On GPUs with bf16
units it does; on CPUs it is less clear (emulated bf16 is slower, native bf16 gains little on
small convnets) and it changes the numbers. Two measurements:

- speed: full fine-tuning steps (forward, backward, AdamW) on one in-memory batch, fp32 and bf16
  interleaved in one process, round after round, so a shared machine's changing load hits both
  alike; the median of the per-round ratios is the answer;
- accuracy: a real fine-tuning run per precision (same seed and data), each in a fresh process,
  evaluated in fp32 like every headstart run. Its wall time is printed too, but on a loaded machine
  only the interleaved steps compare fairly.

    PYTHONPATH=src python bench/precision_bench.py [--rounds 6] [--epochs 2] [--repeats 1] [--image-size 224]
"""
from __future__ import annotations

import argparse
import json
import os

import _common as c

CHILD = r"""
import json, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, {bench!r})
import _common as c
import lightning as L
from headstart.backbones import create_backbone
from headstart.data.image_datamodule import ImageDataModule
from headstart.engine.evaluate import classification_metrics, collect_logits
from headstart.engine.fit import EngineOptions, fit_plan
from headstart.heads import build_head
from headstart.model import TransferModel
from headstart.strategies import StrategyOptions, plan_for
c.quiet()
L.seed_everything(0, verbose=False)
backbone = create_backbone({model!r}, weights="imagenet")
split = c.load_subset({data!r}, 0, 0)
model = TransferModel(backbone, build_head("linear", backbone.num_features, len(split.classes)), split.classes)
config = backbone.data_config.with_image_size({size}) if {size} else backbone.data_config
dm = ImageDataModule(split, config, batch_size=16, num_workers=0, seed=0)
plan = plan_for("fine-tune", StrategyOptions(epochs={epochs}, lr=1e-3), len(model.layer_groups()))
options = EngineOptions(accelerator="cpu", devices=1, precision={precision!r}, progress_bar=False)
start = time.perf_counter()
history = fit_plan(model, dm, plan, Path(tempfile.mkdtemp(prefix="precision-bench-")), options)
seconds = time.perf_counter() - start
train_seconds = sum(e["seconds"] for e in history)
dm.setup("validate")
final = classification_metrics(*collect_logits(model, dm.val_dataloader()), list(split.classes))
print("RESULT", json.dumps({{"seconds": seconds, "images": {epochs} * len(split.train),
      "epoch_val_accuracy": history[-1]["val_accuracy"], "val_accuracy": final["val_accuracy"],
      "val_loss": final["val_loss"]}}))
"""

PRECISIONS = ("32-true", "bf16-mixed")


def run(precision: str, args: argparse.Namespace) -> dict:
    code = CHILD.format(bench=os.path.dirname(os.path.abspath(__file__)), data=args.data, model=args.model,
                        epochs=args.epochs, size=args.image_size, precision=precision)
    return json.loads(c.run_fresh(code, "RESULT"))


def interleaved_steps(args: argparse.Namespace, batch_size: int = 16, steps: int = 2) -> list[list]:
    """Rows of training img/s per precision, fp32 and bf16 steps interleaved round by round."""
    import statistics

    import torch
    import torch.nn.functional as F

    model = c.make_model(args.model, "imagenet")
    model.train()
    x = torch.randn(batch_size, 3, args.image_size, args.image_size).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (batch_size,))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)

    def rate(bf16: bool) -> float:
        with c.Timer() as t:
            for _ in range(steps):
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                    loss = F.cross_entropy(model(x).float(), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        return steps * batch_size / t.seconds

    rate(False), rate(True)  # warm-up: allocations, kernel choice
    rates: dict[bool, list[float]] = {False: [], True: []}
    for r in range(args.rounds):
        for bf16 in ((False, True) if r % 2 == 0 else (True, False)):
            rates[bf16].append(rate(bf16))
    ratios = [b / f for f, b in zip(rates[False], rates[True])]
    return [["32-true", statistics.median(rates[False]), 1.0, " ".join(f"{v:.1f}" for v in rates[False])],
            ["bf16-mixed", statistics.median(rates[True]), statistics.median(ratios), " ".join(f"{v:.1f}" for v in rates[True])]]


def main() -> None:
    parser = c.fresh_process_parser(__doc__.splitlines()[0])
    parser.set_defaults(repeats=1)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=6, help="interleaved rounds of fp32 and bf16 steps")
    args = parser.parse_args()
    c.quiet()
    from headstart.engine.speed import CPU_BF16_FLAGS, cpu_flags

    print(c.machine_line(), "| native bf16:", ", ".join(sorted(cpu_flags() & set(CPU_BF16_FLAGS))) or "no")
    print(f"\n{args.model}, full fine-tuning steps, batch 16, {args.image_size} px, {args.rounds} interleaved rounds "
          "(median; speed-up = median of per-round bf16/fp32 ratios)")
    print(c.table(["precision", "train img/s", "speed-up", "per round img/s"], interleaved_steps(args)), flush=True)
    results: dict[str, list[dict]] = {p: [] for p in PRECISIONS}
    for r in range(args.repeats):
        for precision in (PRECISIONS if r % 2 == 0 else PRECISIONS[::-1]):
            results[precision].append(run(precision, args))
            print(precision, results[precision][-1], flush=True)
    rows = []
    for precision, runs in results.items():
        best = min(runs, key=lambda x: x["seconds"])
        rows.append([precision, best["seconds"], best["images"] / best["seconds"], best["val_accuracy"],
                     best["val_loss"], " ".join(f"{x['seconds']:.1f}" for x in runs)])
    print(f"\n{args.model}, fine-tune, all images, {args.image_size} px, batch 16, {args.epochs} epochs, "
          f"best of {args.repeats}, fresh process per run; img/s = training images per second of fit wall time "
          "(validation included); final metrics in fp32")
    print(c.table(["precision", "fit s", "img/s", "final val_accuracy", "final val_loss", "all runs s"], rows))


if __name__ == "__main__":
    main()
