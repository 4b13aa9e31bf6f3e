"""Fine-tuning speed and final accuracy, fp32 (``32-true``) against bf16 autocast (``bf16-mixed``).

Why: ``precision: auto`` must pick bf16 on a device only where it clearly pays. On GPUs with bf16
units it does; on CPUs it is less clear (emulated bf16 is slower, native bf16 gains little on
small convnets) and it changes the numbers. This measures it, each run in a fresh process
(alternating order, best of ``--repeats``), the same seed and data for both precisions.

    PYTHONPATH=src python bench/precision_bench.py [--epochs 2] [--repeats 2] [--image-size 224]
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


def main() -> None:
    parser = c.fresh_process_parser(__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=224)
    args = parser.parse_args()
    from headstart.engine.speed import CPU_BF16_FLAGS, cpu_flags

    print(c.machine_line(), "| native bf16:", ", ".join(sorted(cpu_flags() & set(CPU_BF16_FLAGS))) or "no")
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
