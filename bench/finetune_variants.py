"""The unfrozen phase's choices, measured: LR factor, BatchNorm statistics, EMA, augmentation.

Every row is ``hs.train(strategy="two-phase", ...)`` on a benchmark image set (``_quality_sets.py``):
the converged head, then the unfrozen phase from it (LP-FT); the final model is the lowest
validation-loss epoch over both phases. Prints, per row, the head's and the final validation
accuracy, the best validation loss, whether fine-tuning beat the head, and the per-epoch accuracies.
The tables in docs/quality.md section 2 come from this script.

    PYTHONPATH=src python bench/finetune_variants.py [--sets trashnet,hymenoptera] [--epochs 5]
        [--image-size 128] [--grid lr|batchnorm|extras]

Grids: ``lr`` = --finetune-lr-factor 0.03 / 0.1 / 0.3 / 1.0; ``batchnorm`` = --batchnorm train /
frozen; ``extras`` = default / --weight-averaging ema / --augment trivial.
"""
from __future__ import annotations

import argparse
import json
import time

import _common as c
from _quality_sets import OUT, bench_sets

GRIDS = {
    "lr": [{"finetune_lr_factor": f} for f in (0.03, 0.1, 0.3, 1.0)],
    "batchnorm": [{"batchnorm": "train"}, {"batchnorm": "frozen"}],
    "extras": [{}, {"weight_averaging": "ema"}, {"augment": "trivial"}],
}


def run(s, options: dict, args) -> list:
    import headstart as hs

    start = time.perf_counter()
    result = hs.train(s.train, val_data=s.val, strategy="two-phase", epochs=args.epochs, image_size=args.image_size,
                      batch_size=32, seed=0, precision="32-true", progress=False, output_dir=str(OUT / "runs"),
                      name=f"variants-{s.name}-{int(time.time())}", **options)
    seconds = time.perf_counter() - start
    m = result.metrics
    head = next(e for e in m["epochs"] if e["phase"] == "head")
    tuned = [e for e in m["epochs"] if e["phase"] != "head"]
    verdict = m.get("finetune_verdict") or {}
    return [s.name, json.dumps(options) if options else "(defaults)", f"{head['val_accuracy']:.4f}",
            f"{m['val_accuracy']:.4f}", f"{m['val_loss']:.4f}", "yes" if verdict.get("finetune_won") else "no",
            " ".join(f"{e['val_accuracy']:.3f}" for e in tuned), f"{seconds:.0f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="trashnet,hymenoptera")
    parser.add_argument("--epochs", type=int, default=5, help="fine-tuning epochs")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--grid", default="lr", choices=sorted(GRIDS))
    args = parser.parse_args()
    c.quiet()
    print(c.machine_line(), flush=True)
    sets = [s for s in bench_sets() if s.name in args.sets.split(",") and s.modality == "image"]
    rows = []
    for options in GRIDS[args.grid]:
        for s in sets:
            rows.append(run(s, options, args))
            print(" | ".join(rows[-1]), flush=True)
    print(c.table(["set", "options", "head acc", "final acc", "val_loss", "fine-tuning won", "fine-tune epochs' acc", "s"],
                  rows))


if __name__ == "__main__":
    main()
