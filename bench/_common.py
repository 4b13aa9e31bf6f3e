"""Shared helpers for the benchmark scripts (not a test module): data, machine line, tables, timing."""
from __future__ import annotations

import datetime as _dt
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402

from headstart.engine.speed import cpu_model  # noqa: E402

DATA_CANDIDATES = (ROOT.parent / "shared" / "data" / "hymenoptera_data", ROOT / "examples" / "ants_bees")


def default_data() -> str:
    """The shared hymenoptera set when present, else the small copy in examples/."""
    return str(next((p for p in DATA_CANDIDATES if p.is_dir()), DATA_CANDIDATES[-1]))


def load_subset(path: str, n_train: int, n_val: int, seed: int = 0):
    """An ImageSplit with at most ``n_train``/``n_val`` images, classes interleaved (0 = all)."""
    import random

    from headstart.data.images import load_image_dataset
    from headstart.data.splits import ImageSplit

    split = load_image_dataset(path)
    rng = random.Random(seed)
    train, val = list(split.train), list(split.val)
    rng.shuffle(train)
    rng.shuffle(val)
    return ImageSplit(train=train[: n_train or None], val=val[: n_val or None], classes=split.classes,
                      skipped=split.skipped)


def machine_line() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{cpu_model()} | {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()} | torch {torch.__version__}"
            f" | load avg {load:.1f} | {_dt.datetime.now():%Y-%m-%d %H:%M}")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (pastes straight into docs/performance.md)."""
    def cell(v: Any) -> str:
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


class Timer:
    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seconds = time.perf_counter() - self.start


def quiet() -> None:
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)


def make_model(name: str, weights: str, num_classes: int = 2):
    """A TransferModel for ``name`` with a linear head, in channels_last when it is a convnet."""
    from headstart.backbones import create_backbone
    from headstart.engine.runtime import is_convnet
    from headstart.heads import build_head
    from headstart.model import TransferModel

    backbone = create_backbone(name, weights=weights)
    model = TransferModel(backbone, build_head("linear", backbone.num_features, num_classes), ["a", "b"][:num_classes])
    if is_convnet(model):
        model.to(memory_format=torch.channels_last)
    return model


def synthetic_batch(model, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    c_, h, w = model.data_config.input_size
    x = torch.randn(batch_size, c_, h, w).contiguous(memory_format=torch.channels_last)
    return x, torch.randint(0, 2, (batch_size,))


def train_images_per_s(model, batch_size: int, steps: int) -> float:
    """Full fine-tuning steps (forward, backward, AdamW) on one in-memory batch: model speed only."""
    for p in model.parameters():
        p.requires_grad_(True)
    model.train()
    x, y = synthetic_batch(model, batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # warm-up
    with Timer() as t:
        for _ in range(steps):
            step()
    return steps * batch_size / t.seconds


def inference_images_per_s(model, batch_size: int, steps: int) -> float:
    model.eval()
    x, _ = synthetic_batch(model, batch_size)
    with torch.inference_mode():
        model(x)
        with Timer() as t:
            for _ in range(steps):
                model(x)
    return steps * batch_size / t.seconds


def forward_flops(model, batch_size: int = 1) -> float:
    """Forward FLOPs per image (torch's FLOP counter: matmuls and convolutions)."""
    from torch.utils.flop_counter import FlopCounterMode

    x, _ = synthetic_batch(model, batch_size)
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() / batch_size


def fresh_process_parser(description: str):
    """Options of the fine-tuning benches that run each side in a fresh process."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", default=default_data())
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    return parser


def run_fresh(code: str, marker: str) -> str:
    """Run ``code`` in a fresh interpreter; returns what follows ``marker`` on its output line."""
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return next(line[len(marker):].strip() for line in out.splitlines() if line.startswith(marker))
