"""Quality benchmark, side by side: val accuracy, macro-F1 and wall time on every shared data set.

Rows per set (same backbone and weights everywhere: efficientnet_lite0 with the packaged ImageNet
weights for images, all-MiniLM-L6-v2 for text; same train/val items; same image size):

- headstart ``feature-extraction``, ``two-phase``, ``fine-tune``, ``lora`` (text) and ``auto``
  (each through ``train_run``, the code behind ``headstart train``), plus the measured options:
  ``two-phase+ema`` (``--weight-averaging ema``), ``two-phase+trivial`` (``--augment trivial``,
  images) and ``two-phase+bn-train`` (``--batchnorm train``: BatchNorm statistics re-estimated,
  the behaviour before ``--batchnorm``, images) and ``auto+budget`` (``auto`` with ``--time-budget``
  set to half the faster of the seed recipe and fastai rows: the time half of the target);
- ``sklearn probe``: ``LogisticRegressionCV`` on the features headstart extracts (the target the
  converged head must meet);
- ``seed recipe``: a plain PyTorch loop: new ``nn.Linear`` on the backbone, stem frozen, AdamW with
  layer-wise LRs 1e-5 (first half of the backbone) / 1e-4 (second half) / 1e-3 (head), weight
  decay 1e-2, ``1 + epochs`` epochs, the same light augmentation;
- ``fastai``: ``vision_learner(dls, <same timm model and weights>).fine_tune(epochs)`` with fastai's
  ``aug_transforms`` (images only; fastai is not a headstart dependency).

Results are appended to ``OUT/quality.jsonl`` as each row finishes (a re-run skips rows already
there), then printed as a Markdown table.

    PYTHONPATH=src python bench/quality.py [--sets hymenoptera,trashnet,sst2,sms_spam] [--epochs 2]
        [--image-size 128] [--max-length 64] [--rows ...]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import _common as c
import torch
from _quality_sets import OUT, bench_sets

RESULTS = OUT / "quality.jsonl"
HEADSTART_ROWS = ("feature-extraction", "two-phase", "fine-tune", "lora", "auto")
VARIANTS = {  # row -> (strategy, options it adds to the defaults)
    "two-phase+ema": ("two-phase", {"weight_averaging": "ema"}),
    "two-phase+trivial": ("two-phase", {"augment": "trivial"}),
    "two-phase+bn-train": ("two-phase", {"batchnorm": "train"}),
}
IMAGE_ONLY = {"fastai", "two-phase+trivial", "two-phase+bn-train"}
BUDGET_ROW = "auto+budget"  # auto with --time-budget = half the faster of the seed recipe and fastai rows


def macro_f1(pred, target) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(list(target), list(pred), average="macro"))


def model_name(s) -> str:
    return "efficientnet_lite0" if s.modality == "image" else "minilm"


def base_config(s, args, strategy: str, **options):
    from headstart.config import RunConfig

    extra = {"image_size": args.image_size} if s.modality == "image" else {"max_length": args.max_length}
    extra.update(options)
    return RunConfig(data=s.train, val_data=s.val, model=model_name(s), strategy=strategy, epochs=args.epochs,
                     batch_size=32, seed=0, output_dir=str(OUT / "runs"), name=f"{s.name}-{strategy}-{int(time.time())}",
                     precision="32-true", **extra)


def headstart_row(s, args, row: str) -> dict:
    from rich.console import Console

    from headstart.runner import train_run

    strategy, options = VARIANTS.get(row, (row, {}))
    if row == BUDGET_ROW:
        rivals = [r["seconds"] for (name, kind), r in done_rows().items()
                  if name == s.name and kind in ("seed recipe", "fastai") and r["seconds"]]
        if not rivals:
            raise RuntimeError("run the seed recipe (and fastai) rows first: the budget is half their time")
        strategy, options = "auto", {"time_budget": f"{min(rivals) / 2:.0f}s"}
    start = time.perf_counter()
    result = train_run(base_config(s, args, strategy, **options), console=Console(quiet=True))
    seconds = time.perf_counter() - start
    m = result.metrics
    row = {"accuracy": m["val_accuracy"], "macro_f1": m["macro_f1"], "seconds": seconds}
    if "auto" in m:
        row["note"] = f"chose {m['auto']['strategy']}"
        if options.get("time_budget"):
            fits = "" if m["auto"]["strategy"] == "feature-extraction" else f", {m['auto']['epochs']} epoch(s)"
            row["note"] += f" with --time-budget {options['time_budget']}{fits}"
    if m.get("finetune_verdict") and not m["finetune_verdict"]["finetune_won"]:
        row["note"] = (row.get("note", "") + "; head kept (fine-tuning did not beat it)").lstrip("; ")
    return row


def _built(s, args):
    from headstart.runner import build_model

    config = base_config(s, args, "fine-tune")
    config.num_workers = 0
    return build_model(config)


def sklearn_row(s, args) -> dict:
    from sklearn.linear_model import LogisticRegressionCV
    from torch.utils.data import DataLoader

    from headstart.engine.feature_cache import extract_features, extraction_sources

    start = time.perf_counter()
    built = _built(s, args)
    data = []
    for source in extraction_sources(built.datamodule):
        loader = DataLoader(source.dataset, batch_size=32, collate_fn=source.collate_fn)
        data += [extract_features(built.model.backbone, loader).numpy(), source.labels.numpy()]
    xt, yt, xv, yv = data
    clf = LogisticRegressionCV(Cs=10, cv=5, max_iter=1000, scoring="accuracy").fit(xt, yt)
    pred = clf.predict(xv)
    return {"accuracy": float((pred == yv).mean()), "macro_f1": macro_f1(pred, yv), "seconds": time.perf_counter() - start,
            "note": "LogisticRegressionCV(Cs=10, cv=5), raw features"}


def seed_recipe_row(s, args) -> dict:
    """The seed recipe as a plain loop (no Lightning, no headstart training code)."""
    import torch.nn.functional as F
    from torch import nn

    start = time.perf_counter()
    torch.manual_seed(0)
    built = _built(s, args)
    backbone, dm = built.backbone, built.datamodule
    head = nn.Linear(backbone.num_features, len(built.split.classes))
    groups = [g for g in backbone.group_param_names() if g.param_names]
    params = dict(backbone.named_parameters())
    for name in groups[0].param_names:  # freeze the stem
        params[name].requires_grad_(False)
    rest = groups[1:]
    half = len(rest) // 2
    optimizer = torch.optim.AdamW([
        {"params": [params[n] for g in rest[:half] for n in g.param_names], "lr": 1e-5},
        {"params": [params[n] for g in rest[half:] for n in g.param_names], "lr": 1e-4},
        {"params": head.parameters(), "lr": 1e-3}], weight_decay=1e-2)
    model = nn.Sequential(backbone, head)
    for _ in range(1 + args.epochs):
        model.train()
        for x, y in dm.train_dataloader():
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    preds, labels = [], []
    with torch.no_grad():
        for x, y in dm.val_dataloader():
            preds.append(model(x).argmax(1))
            labels.append(y)
    pred, y = torch.cat(preds), torch.cat(labels)
    return {"accuracy": float((pred == y).float().mean()), "macro_f1": macro_f1(pred.tolist(), y.tolist()),
            "seconds": time.perf_counter() - start, "note": f"{1 + args.epochs} epochs"}


def fastai_row(s, args) -> dict:
    from fastai.vision.all import ImageDataLoaders, Normalize, Resize, aug_transforms, vision_learner

    from headstart.backbones.efficientnet_lite0 import imagenet_model

    start = time.perf_counter()
    torch.manual_seed(0)
    root = Path(s.train).parent
    size = args.image_size
    dls = ImageDataLoaders.from_folder(root, train="train", valid="val", item_tfms=Resize(int(size / 0.875)),
                                       batch_tfms=[*aug_transforms(size=size), Normalize.from_stats([0.5] * 3, [0.5] * 3)],
                                       bs=32, num_workers=0, seed=0)

    def arch(pretrained: bool = False, **kwargs):
        return imagenet_model()  # the same packaged ImageNet weights as headstart

    learn = vision_learner(dls, arch, normalize=False, pretrained=True)
    learn.fine_tune(args.epochs)
    probs, y = learn.get_preds()
    pred = probs.argmax(1)
    return {"accuracy": float((pred == y).float().mean()), "macro_f1": macro_f1(pred.tolist(), y.tolist()),
            "seconds": time.perf_counter() - start, "note": f"fine_tune({args.epochs}): 1 frozen + {args.epochs} epochs"}


def rows_for(s, wanted: list[str]) -> list[str]:
    excluded = {"lora"} if s.modality == "image" else IMAGE_ONLY
    return [r for r in wanted if r not in excluded]


def done_rows() -> dict[tuple[str, str], dict]:
    if not RESULTS.exists():
        return {}
    out = {}
    for line in RESULTS.read_text().splitlines():
        r = json.loads(line)
        out[(r["set"], r["row"])] = r
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="hymenoptera,trashnet,sst2,sms_spam")
    parser.add_argument("--rows", default="sklearn probe,feature-extraction,auto,seed recipe,fastai,two-phase,lora,fine-tune,"
                                          "two-phase+ema,two-phase+trivial,two-phase+bn-train,auto+budget")
    parser.add_argument("--epochs", type=int, default=1, help="fine-tuning epochs (every method that fine-tunes)")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--table", action="store_true", help="only print the table of the results so far")
    args = parser.parse_args()
    if args.table:
        return print_table()
    c.quiet()
    tempfile.tempdir = str(OUT)
    print(c.machine_line(), flush=True)
    runners = {"sklearn probe": sklearn_row, "seed recipe": seed_recipe_row, "fastai": fastai_row}
    sets = [s for s in bench_sets() if s.name in args.sets.split(",")]
    order = args.rows.split(",")
    for row, s in [(row, s) for row in order for s in sets if row in rows_for(s, order)]:  # cheap rows first, every set
        if (s.name, row) not in done_rows():
            run_row(s, row, args, runners)
    print_table()


def run_row(s, row: str, args, runners: dict) -> None:
    load_before = c.os.getloadavg()[0]
    try:
        result = runners[row](s, args) if row in runners else headstart_row(s, args, row)
    except Exception as exc:  # a failing tool is a result too
        result = {"accuracy": None, "macro_f1": None, "seconds": None, "note": f"failed: {type(exc).__name__}: {exc}"[:200]}
    result.update({"set": s.name, "row": row, "load": round((load_before + c.os.getloadavg()[0]) / 2, 1),
                   "epochs": args.epochs, "image_size": args.image_size if s.modality == "image" else None,
                   "max_length": args.max_length if s.modality == "text" else None})
    with RESULTS.open("a") as f:
        f.write(json.dumps(result) + "\n")
    print(json.dumps(result), flush=True)


def print_table() -> None:
    rows = []
    for (set_name, row), r in done_rows().items():
        fmt = lambda v, d=4: "-" if v is None else f"{v:.{d}f}"  # noqa: E731
        rows.append([set_name, row, fmt(r["accuracy"]), fmt(r["macro_f1"]), fmt(r["seconds"], 0), r["load"], r.get("note", "")])
    print(c.table(["set", "method", "val acc", "macro-F1", "wall s", "load", "note"], rows))


if __name__ == "__main__":
    main()
