"""The data sets of the quality benchmarks: every image and text set in ../shared/data, subsampled so
a full benchmark fits a 2-core CPU (not a test module).

Subsets are written once under ``$HEADSTART_BENCH_DATA`` (default ``/tmp/headstart-bench-data``) as
plain files headstart reads (``train/<class>/`` image folders as symlinks, text as CSV), so every
tool in the benchmark reads exactly the same items. Sampling is seeded and stratified.
"""
from __future__ import annotations

import csv
import os
import random
from dataclasses import dataclass
from pathlib import Path

from _common import ROOT

SHARED = ROOT.parent / "shared" / "data"
OUT = Path(os.environ.get("HEADSTART_BENCH_DATA", "/tmp/headstart-bench-data"))


@dataclass(frozen=True)
class BenchSet:
    name: str
    modality: str  # image | text
    train: str  # folder (images) or CSV (text)
    val: str
    note: str


def _sample_by_class(rows: list[tuple[str, str]], per_class: int | None, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    by_class: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        by_class.setdefault(row[1], []).append(row)
    out: list[tuple[str, str]] = []
    for label in sorted(by_class):
        items = sorted(by_class[label])
        rng.shuffle(items)
        out += items[:per_class] if per_class else items
    rng.shuffle(out)
    return out


def _image_subset(name: str, per_class_train: int | None, per_class_val: int | None) -> tuple[str, str]:
    src = SHARED / name
    dst = OUT / name
    for part, per_class in (("train", per_class_train), ("val", per_class_val)):
        if (dst / part).is_dir():
            continue
        rows = [(str(p), p.parent.name) for p in sorted((src / part).glob("*/*")) if p.is_file()]
        for path, label in _sample_by_class(rows, per_class, seed=0):
            link = dst / part / label / Path(path).name
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(path)
    return str(dst / "train"), str(dst / "val")


def _write_csv(path: Path, rows: list[tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(rows)


def _read_table(path: Path, delimiter: str, text: str, label: str) -> list[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return [(r[text], r[label]) for r in csv.DictReader(f, delimiter=delimiter, quoting=csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL)]


def _text_subsets() -> dict[str, tuple[str, str]]:
    out = {}
    sst_train, sst_val = OUT / "sst2" / "train.csv", OUT / "sst2" / "val.csv"
    if not sst_val.exists():
        train = _read_table(SHARED / "sst2" / "train.tsv", "\t", "sentence", "label")
        _write_csv(sst_train, _sample_by_class(train, 1000, seed=0))
        _write_csv(sst_val, _read_table(SHARED / "sst2" / "test.tsv", "\t", "sentence", "label"))
    out["sst2"] = (str(sst_train), str(sst_val))
    sms_train, sms_val = OUT / "sms_spam" / "train.csv", OUT / "sms_spam" / "val.csv"
    if not sms_val.exists():
        rows = _sample_by_class(_read_table(SHARED / "sms_spam_collection" / "sms_spam.csv", ",", "text", "label"), None, seed=0)
        by_class: dict[str, list[tuple[str, str]]] = {}
        for row in rows:
            by_class.setdefault(row[1], []).append(row)
        train, val = [], []
        for label, items in sorted(by_class.items()):  # stratified 60 / 40, then the train part capped
            cut = int(len(items) * 0.6)
            train += items[:cut]
            val += items[cut:]
        _write_csv(sms_train, _sample_by_class(train, 600, seed=1))
        _write_csv(sms_val, _sample_by_class(val, 400, seed=1))
    out["sms_spam"] = (str(sms_train), str(sms_val))
    return out


def bench_sets() -> list[BenchSet]:
    """Every set, subsampled (see each ``note``); creates the files on first use."""
    hym = _image_subset("hymenoptera_data", None, None)
    trash = _image_subset("trashnet", 100, 40)
    text = _text_subsets()
    return [
        BenchSet("hymenoptera", "image", *hym, "all: 244 train / 153 val, 2 classes"),
        BenchSet("trashnet", "image", *trash, "100 train / 40 val per class (trash: 96 / 40), 6 classes"),
        BenchSet("sst2", "text", *text["sst2"], "1000 train per class from train.tsv; val = test.tsv (872, the GLUE dev set)"),
        BenchSet("sms_spam", "text", *text["sms_spam"], "stratified 60/40 split, then <= 600 train / 400 val per class"),
    ]
