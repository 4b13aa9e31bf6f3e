"""Fine-tuning wall time, headstart vs the plain PyTorch loop, each side in its own fresh process.

Why a second script: ``strategy_bench.py`` runs both sides in one process, one after the other;
on a 2-core machine the leftovers of the first run (loader worker processes, allocator state)
measurably slow the second, whichever it is. A fresh interpreter per side removes that.

    PYTHONPATH=src python bench/fresh_process_bench.py [--epochs 2] [--repeats 2]
"""
from __future__ import annotations

import argparse
import os

import _common as c

CHILD = r"""
import sys, time, tempfile
from pathlib import Path
sys.path.insert(0, {bench!r})
import strategy_bench as sb, _common as c
args = sb.argparse.Namespace(data={data!r}, model={model!r}, weights="imagenet", train=0, val=0, epochs={epochs},
                             batch_size=16, workers=None, lr=1e-3, strategies="fine-tune")
c.quiet()
model, dm = sb.build(args)
phases = sb.plan("fine-tune", args, model)
start = time.perf_counter()
if {side!r} == "plain":
    sb.plain_loop(model, dm, phases)
else:
    sb.headstart_fit(model, dm, phases, True)
print("SECONDS", time.perf_counter() - start)
"""


def run_side(side: str, args: argparse.Namespace) -> float:
    code = CHILD.format(bench=os.path.dirname(os.path.abspath(__file__)), data=args.data, model=args.model,
                        epochs=args.epochs, side=side)
    return float(c.run_fresh(code, "SECONDS"))


def main() -> None:
    args = c.fresh_process_parser(__doc__.splitlines()[0]).parse_args()
    print(c.machine_line())
    times: dict[str, list[float]] = {"plain": [], "headstart": []}
    for r in range(args.repeats):
        for side in (("plain", "headstart") if r % 2 == 0 else ("headstart", "plain")):
            times[side].append(run_side(side, args))
    plain, ours = min(times["plain"]), min(times["headstart"])
    print(f"\n{args.model}, all images, batch 16, fine-tune {args.epochs} epochs, best of {args.repeats}, fresh process per run")
    print(c.table(["plain loop s", "headstart s", "headstart / plain speed", "all plain runs", "all headstart runs"],
                  [[plain, ours, plain / ours, " ".join(f"{t:.1f}" for t in times["plain"]),
                    " ".join(f"{t:.1f}" for t in times["headstart"])]]))


if __name__ == "__main__":
    main()
