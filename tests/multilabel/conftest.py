"""Tiny synthetic multi-label data: each image shows the colours of its label set as stripes.

An image tagged ``red;blue`` is half red, half blue (plus noise), so each label is learnable from
the pixels by ``tinycnn`` at 32 px in a few epochs. The same sets are written as a ``;`` label
cell CSV and as a one-hot CSV; a text variant names the colours in words.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from headstart.config import RunConfig

LABELS = ("blue", "green", "red")
COLOURS = {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (40, 60, 220)}
# every non-empty subset of up to 2 labels
LABEL_SETS = [s for n in (1, 2) for s in itertools.combinations(LABELS, n)]
TINY = dict(model="tinycnn", weights="none", image_size=32, batch_size=8, num_workers=0, precision="32-true")


def stripes(labels: tuple[str, ...], rng: np.random.Generator, size: int = 36) -> Image.Image:
    """Vertical stripes, one per label, of that label's colour plus noise."""
    pixels = np.zeros((size, size, 3))
    width = size // len(labels)
    for i, name in enumerate(labels):
        pixels[:, i * width:(i + 1) * width if i < len(labels) - 1 else size] = COLOURS[name]
    pixels += rng.normal(0, 20, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


@dataclass
class MultiLabelData:
    root: Path
    cell_csv: Path      # path,label with 'red;blue'
    onehot_csv: Path    # path,blue,green,red with 0/1
    text_csv: Path      # text,label with 'red;blue'


def make_multilabel_data(root: Path, per_set: int = 6, seed: int = 0) -> MultiLabelData:
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    cell, onehot, text = ["path,label"], ["path," + ",".join(LABELS)], ["text,label"]
    words = {"red": "ruby cherry", "green": "grass leaf", "blue": "ocean sky"}
    for labels in LABEL_SETS:
        for i in range(per_set):
            name = f"images/{'-'.join(labels)}_{i}.png"
            stripes(labels if i % 2 else labels[::-1], rng).save(root / name)
            cell.append(f"{name},{';'.join(labels)}")
            onehot.append(name + "," + ",".join("1" if c in labels else "0" for c in LABELS))
            filler = " ".join(rng.choice(["the", "a", "this", "one", "photo", "thing"], 3))
            text.append(f"{filler} {' and '.join(words[c] for c in labels)} {i},{';'.join(labels)}")
    paths = MultiLabelData(root, root / "cell.csv", root / "onehot.csv", root / "text.csv")
    paths.cell_csv.write_text("\n".join(cell) + "\n")
    paths.onehot_csv.write_text("\n".join(onehot) + "\n")
    paths.text_csv.write_text("\n".join(text) + "\n")
    return paths


@pytest.fixture(scope="session")
def ml_data(tmp_path_factory: pytest.TempPathFactory) -> MultiLabelData:
    return make_multilabel_data(tmp_path_factory.mktemp("multilabel"))


@pytest.fixture(scope="session")
def ml_run(ml_data: MultiLabelData, tmp_path_factory: pytest.TempPathFactory):
    """One multi-label two-phase tinycnn run, shared by the predict/export/serve/report tests."""
    from headstart.runner import train_run

    out = tmp_path_factory.mktemp("ml-runs")
    config = RunConfig(data=str(ml_data.cell_csv), task="multi-label", strategy="two-phase", head_epochs=3,
                       epochs=4, lr=0.03, output_dir=str(out), name="ml", **TINY)
    return train_run(config)
