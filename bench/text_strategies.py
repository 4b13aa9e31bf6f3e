"""Per text strategy: validation accuracy, macro-F1, trainable parameters and wall time with MiniLM.

Runs ``headstart train`` (in process) once per strategy on the shared text data, with the offline
``minilm`` backbone: feature-extraction, fine-tune, two-phase and LoRA. The data is a stratified
sample so the default run stays under ~10 min on 2 CPU cores:

- ``sst2`` (default): 2000 texts sampled from SST-2's train.tsv, validated on the whole GLUE dev
  set (the shared ``test.tsv``, 872 sentences).
- ``sms``: 1000 / 500 texts of the SMS Spam Collection (spam ~13%, so read macro-F1).

The LRs are this benchmark's choices, one per strategy and not tuned on the data: 1e-2 for a
linear probe on cached features, 1e-3 for LoRA (adapters + head), and 2e-4 at the head for full
fine-tuning (layer-wise decay down to 2e-6 for the embeddings). Two-phase uses 1e-2 for its head
phase and x0.02 (= 2e-4) after unfreezing.

    PYTHONPATH=src python bench/text_strategies.py                        # SST-2, all strategies
    PYTHONPATH=src python bench/text_strategies.py --dataset sms --epochs 2
    PYTHONPATH=src python bench/text_strategies.py --strategies lora fine-tune --train 500
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import tempfile
import time
from pathlib import Path

import _common as c

os.environ.setdefault("HF_HUB_OFFLINE", "1")

STRATEGIES = ("feature-extraction", "fine-tune", "two-phase", "lora")
DATASETS = {
    # name: (train file, val file or None (= split the train file), text column, label column, delimiter)
    "sst2": ("sst2/train.tsv", "sst2/test.tsv", "sentence", "label", "\t"),
    "sms": ("sms_spam_collection/sms_spam.csv", None, "text", "label", ","),
}
DEFAULT_SIZES = {"sst2": (2000, 0), "sms": (1000, 500)}  # (train, val); val 0 = the whole val file
RECIPES = {  # strategy -> RunConfig overrides (epochs come from --epochs / --probe-epochs)
    "feature-extraction": {"lr": 1e-2},
    "fine-tune": {"lr": 2e-4},
    "two-phase": {"lr": 1e-2, "finetune_lr_factor": 0.02},
    "lora": {"lr": 1e-3},
}


def shared_data() -> Path:
    for candidate in (c.ROOT.parent / "shared" / "data", Path("/work/shared/data")):
        if candidate.is_dir():
            return candidate
    raise SystemExit("shared data not found at ../shared/data or /work/shared/data")


def read_rows(path: Path, text_col: str, label_col: str, delimiter: str) -> list[tuple[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return [(r[text_col], r[label_col]) for r in csv.DictReader(fh, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL)]


def stratified(rows: list[tuple[str, str]], n: int, rng: random.Random) -> tuple[list, list]:
    """``n`` rows with the classes in their proportions, and the rest."""
    if n <= 0 or n >= len(rows):
        return list(rows), []
    by_label: dict[str, list] = {}
    for row in rows:
        by_label.setdefault(row[1], []).append(row)
    take, rest = [], []
    for label in sorted(by_label):
        items = by_label[label][:]
        rng.shuffle(items)
        k = round(n * len(items) / len(rows))
        take += items[:k]
        rest += items[k:]
    rng.shuffle(take)
    return take, rest


def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def prepare(dataset: str, n_train: int, n_val: int, folder: Path, seed: int) -> tuple[Path, Path, float, float]:
    """Train/val CSVs; returns them with the majority baseline's accuracy and macro-F1 on val."""
    train_file, val_file, text_col, label_col, delim = DATASETS[dataset]
    root = shared_data()
    rows = read_rows(root / train_file, text_col, label_col, delim)
    rng = random.Random(seed)
    train, rest = stratified(rows, n_train, rng)
    if val_file:
        val = read_rows(root / val_file, text_col, label_col, delim)
        val, _ = stratified(val, n_val, rng)
    else:
        val, _ = stratified(rest, n_val, rng)
    labels = [lab for _, lab in val]
    classes = sorted(set(lab for _, lab in rows))
    majority = max(labels.count(lab) for lab in classes) / len(labels)
    baseline_f1 = (2 * majority / (1 + majority)) / len(classes)
    return write_csv(folder / "train.csv", train), write_csv(folder / "val.csv", val), majority, baseline_f1


def run_strategy(strategy: str, train: Path, val: Path, args: argparse.Namespace, out: Path) -> dict:
    from rich.console import Console

    from headstart.config import RunConfig
    from headstart.runner import train_run

    epochs = args.probe_epochs if strategy == "feature-extraction" else args.epochs
    config = RunConfig().updated(
        data=str(train), val_data=str(val), model=args.model, strategy=strategy, epochs=epochs,
        head_epochs=args.head_epochs, max_length=args.max_length, batch_size=args.batch_size,
        output_dir=str(out), name=strategy, seed=args.seed, **RECIPES[strategy])
    start = time.perf_counter()
    result = train_run(config, console=Console(quiet=not args.verbose))
    wall = time.perf_counter() - start
    params = json.loads((result.run_dir / "params.json").read_text())
    last = params["phases"][-1]
    return {"strategy": strategy, "epochs": "+".join(str(p["epochs"]) for p in
                                                       json.loads((result.run_dir / "state.json").read_text())["phases"]),
            "lr": config.lr, "trainable": last["trainable"], "total": last["total"],
            "val_accuracy": result.metrics["val_accuracy"], "macro_f1": result.metrics["macro_f1"], "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="sst2")
    parser.add_argument("--strategies", nargs="+", choices=STRATEGIES, default=list(STRATEGIES))
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--train", type=int, default=None, help="training texts (default: 2000 sst2, 1000 sms)")
    parser.add_argument("--val", type=int, default=None, help="validation texts (default: all 872 sst2, 500 sms)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs of the trained-backbone phase (fine-tune, two-phase, lora)")
    parser.add_argument("--head-epochs", type=int, default=2, help="two-phase head epochs (cached features)")
    parser.add_argument("--probe-epochs", type=int, default=5, help="feature-extraction epochs (cached features)")
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="keep the run folders here (default: a temp folder)")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    parser.add_argument("--verbose", action="store_true", help="show the training output")
    args = parser.parse_args()
    n_train, n_val = DEFAULT_SIZES[args.dataset]
    n_train = n_train if args.train is None else args.train
    n_val = n_val if args.val is None else args.val

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        train, val, majority, baseline_f1 = prepare(args.dataset, n_train, n_val, out, args.seed)
        sizes = (sum(1 for _ in open(train)) - 1, sum(1 for _ in open(val)) - 1)
        print(c.machine_line())
        print(f"{args.dataset}: {sizes[0]} train / {sizes[1]} val texts, {args.model}, max_length {args.max_length}, "
              f"batch {args.batch_size}; majority baseline: accuracy {majority:.3f}, macro-F1 {baseline_f1:.3f}\n")
        rows = []
        for strategy in args.strategies:
            row = run_strategy(strategy, train, val, args, out / "runs")
            rows.append(row)
            print(f"  {strategy}: acc {row['val_accuracy']:.4f}  macro-F1 {row['macro_f1']:.4f}  {row['wall_s']:.0f}s", flush=True)
    print()
    print(c.table(["strategy", "epochs", "lr", "trainable params", "val acc", "macro-F1", "wall s"],
                  [[r["strategy"], r["epochs"], f"{r['lr']:.0e}", f"{r['trainable']:,} ({100 * r['trainable'] / r['total']:.1f}%)",
                    f"{r['val_accuracy']:.4f}", f"{r['macro_f1']:.4f}", f"{r['wall_s']:.0f}"] for r in rows]))
    if args.json:
        Path(args.json).write_text(json.dumps({"dataset": args.dataset, "sizes": sizes, "majority_accuracy": majority,
                                               "majority_macro_f1": baseline_f1, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
