"""Does cost grow linearly with the data? Time per stage and peak memory at 1k to 100k images and
10k to 1M texts.

Why: a step that is quadratic in the number of items (a list scan inside a loop, a report that
draws every item) is invisible at a few hundred images and dominates at 100k. Each size runs the
real ``train_run`` flow (feature extraction with a frozen backbone, 1 head epoch) in a fresh
process on synthetic data; the stages are timed by wrapping the functions ``train_run`` calls:

* scan+split: ``load_image_dataset`` / ``load_text_dataset`` (listing, header checks, split);
* features: ``extract_features`` (the backbone over train and val, once);
* head: ``fit_plan`` minus extraction (head training on cached features);
* final eval: ``collect_logits`` (the backbone over the val set for the final metrics);
* report: ``val_predictions.json`` items and ``report.html`` with its plots.

Loader workers are off (``num_workers=0``) so that all work happens in the measured process: the
table reports CPU seconds per stage (``time.process_time``), which a busy shared machine inflates
far less than wall time, plus the wall-clock total. Peak RSS is the process's largest resident set.

    PYTHONPATH=src python bench/scale.py                          # images 1k, 10k; texts 10k, 100k
    PYTHONPATH=src python bench/scale.py --images 1000 10000 100000 --texts 10000 100000 1000000
    PYTHONPATH=src python bench/scale.py --plot docs/scale.png    # also a log-log plot

Synthetic data goes to ``--work`` (default: a temporary folder, deleted afterwards).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
STAGES = ("scan+split", "features", "head", "final eval", "report")
CLASSES = ("alpha", "beta", "gamma", "delta")
WORDS = ("good bad great awful fine movie plot actor scene music long short dull bright "
         "story ending funny sad slow fast cheap rich").split()


def make_images(root: Path, n: int, size: int = 24) -> None:
    """``n`` small JPEGs in ``root/<class>/`` (class = a colour tint, so the task is learnable)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    noise = rng.integers(0, 64, (256, size, size, 3), dtype=np.uint8)
    for c, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        c = i % len(CLASSES)
        pixels = noise[i % 256].copy()
        pixels[..., c % 3] += 120 + 40 * (c // 3)
        Image.fromarray(pixels).save(root / CLASSES[c] / f"{i:07d}.jpg", quality=85)


def make_texts(path: Path, n: int) -> None:
    """A ``text,label`` CSV of ``n`` short reviews (label = which of two word sets dominates)."""
    import csv
    import random

    rng = random.Random(0)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        for i in range(n):
            label = i % 2
            words = [rng.choice(WORDS[label::2]) for _ in range(rng.randint(4, 12))]
            writer.writerow([f"{' '.join(words)} {i}", ("neg", "pos")[label]])


# ----------------------------------------------------------------------------- one size, in a child
def measure(kind: str, data: str, out: str) -> dict:
    """Run train_run on ``data`` with every stage timed; returns seconds per stage and peak RSS."""
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    from rich.console import Console

    import headstart.data.images as images
    import headstart.data.text as text
    import headstart.engine.feature_cache as feature_cache
    import headstart.runner as runner
    from headstart.config import config_from_dict

    seconds = dict.fromkeys(STAGES + ("fit",), 0.0)
    cpu = dict.fromkeys(STAGES + ("fit",), 0.0)

    def timed(module, name: str, stage: str) -> None:
        original = getattr(module, name)

        def wrapper(*args, **kwargs):
            began, began_cpu = time.perf_counter(), time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                seconds[stage] += time.perf_counter() - began
                cpu[stage] += time.process_time() - began_cpu
        setattr(module, name, wrapper)

    timed(images, "load_image_dataset", "scan+split")
    timed(text, "load_text_dataset", "scan+split")
    timed(feature_cache, "extract_features", "features")
    timed(runner, "fit_plan", "fit")
    timed(runner, "collect_logits", "final eval")
    timed(runner, "prediction_items", "report")
    timed(runner, "_write_report", "report")
    model = {"image": {"model": "tinycnn", "weights": "none", "image_size": 32},
             "text": {"model": "tinybert", "weights": "none", "max_length": 32}}[kind]
    config = config_from_dict({**model, "data": data, "strategy": "feature-extraction", "epochs": 1,
                               "batch_size": 256, "precision": "32-true", "output_dir": out, "name": "run",
                               "seed": 0, "num_workers": 0})
    began, began_cpu = time.perf_counter(), time.process_time()
    runner.train_run(config, console=Console(file=open(os.devnull, "w")))
    total, total_cpu = time.perf_counter() - began, time.process_time() - began_cpu
    seconds["head"] = seconds.pop("fit") - seconds["features"]
    cpu["head"] = cpu.pop("fit") - cpu["features"]
    peak_kb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return {"seconds": seconds, "cpu": cpu, "total": total, "total_cpu": total_cpu, "peak_rss_mb": peak_kb / 1024}


# ----------------------------------------------------------------------------- driver
def run_size(kind: str, n: int, work: Path) -> dict:
    data_root = work / f"{kind}-{n}"
    began = time.perf_counter()
    if not data_root.exists():
        if kind == "image":
            make_images(data_root, n)
        else:
            data_root.mkdir(parents=True)
            make_texts(data_root / "data.csv", n)
    made = time.perf_counter() - began
    data = str(data_root if kind == "image" else data_root / "data.csv")
    out = work / f"runs-{kind}-{n}"
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run([sys.executable, __file__, "--child", kind, data, str(out)], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{kind} n={n} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    shutil.rmtree(out, ignore_errors=True)
    return {"kind": kind, "n": n, "made_s": made, **result}


def print_table(rows: list[dict]) -> None:
    print("CPU seconds per stage (wall-clock total alongside)\n")
    print("| data | items | " + " | ".join(f"{s}" for s in STAGES) + " | total CPU s | CPU ms/item | wall s | peak RSS MB |")
    print("|---|---|" + "---|" * (len(STAGES) + 4))
    for r in rows:
        cells = " | ".join(f"{r['cpu'][s]:.2f}" for s in STAGES)
        print(f"| {r['kind']} | {r['n']:,} | {cells} | {r['total_cpu']:.1f} | {1000 * r['total_cpu'] / r['n']:.3f} | "
              f"{r['total']:.1f} | {r['peak_rss_mb']:.0f} |", flush=True)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=False)
    for ax, kind in zip(axes, ("image", "text")):
        mine = [r for r in rows if r["kind"] == kind]
        if not mine:
            ax.set_visible(False)
            continue
        ns = [r["n"] for r in mine]
        for stage in STAGES + ("total",):
            ys = [max(r["total_cpu"] if stage == "total" else r["cpu"][stage], 1e-3) for r in mine]
            ax.plot(ns, ys, marker="o", label=stage, linewidth=2.5 if stage == "total" else 1.2)
        lo, hi = ns[0], ns[-1]
        base = mine[0]["total_cpu"]
        ax.plot([lo, hi], [base, base * hi / lo], "k:", label="linear (from smallest total)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"{kind} items")
        ax.set_ylabel("CPU seconds")
        ax.set_title(f"{kind}: CPU time per stage")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"\nplot: {path}")


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        print(json.dumps(measure(*sys.argv[2:5])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, nargs="*", default=[1000, 10000],
                        help="image set sizes (100000 takes ~10 min on 2 cores: opt-in)")
    parser.add_argument("--texts", type=int, nargs="*", default=[10000, 100000],
                        help="text set sizes (1000000 takes ~30 min on 2 cores: opt-in)")
    parser.add_argument("--work", type=Path, default=None, help="keep synthetic data here (default: temporary)")
    parser.add_argument("--plot", type=Path, default=None, help="write a log-log plot (PNG) here")
    parser.add_argument("--save", type=Path, default=None, help="also write the measured rows to this JSON file")
    parser.add_argument("--load", type=Path, nargs="+", default=None,
                        help="measure nothing: print the table (and plot) of rows saved by --save")
    args = parser.parse_args()
    if args.load:
        rows = sorted((r for path in args.load for r in json.loads(path.read_text())), key=lambda r: (r["kind"], r["n"]))
        print_table(rows)
        if args.plot:
            plot(rows, args.plot)
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="headstart-scale-"))
    print(f"{os.cpu_count()} CPUs | load avg {os.getloadavg()[0]:.1f} | {_dt.datetime.now():%Y-%m-%d %H:%M} | "
          "tinycnn 32 px / tinybert max_length 32, feature extraction, 1 head epoch, batch 256, fp32\n")
    rows: list[dict] = []
    try:
        for kind, sizes in (("image", args.images), ("text", args.texts)):
            for n in sorted(sizes):
                rows.append(run_size(kind, n, work))
                print(f"  {kind} {n:,}: done in {rows[-1]['total']:.1f} s wall, {rows[-1]['total_cpu']:.1f} s CPU (data made in {rows[-1]['made_s']:.1f} s, "
                      f"load avg {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
        print_table(rows)
        if args.save:
            args.save.write_text(json.dumps(rows, indent=1))
        if args.plot:
            plot(rows, args.plot)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
