"""The final model is the lowest-val_loss epoch over all phases, and state.json says which."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file

from headstart.cli import main


def _images(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for split, n in (("train", 8), ("val", 4)):
        for name, colour in (("red", (200, 40, 40)), ("blue", (40, 40, 200))):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = np.clip(np.array(colour) + rng.normal(0, 50, (32, 32, 3)), 0, 255).astype("uint8")
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def test_final_weights_are_the_best_epoch_over_all_phases(tmp_path: Path, monkeypatch) -> None:
    data = _images(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    code = main(["train", str(data), "--model", "tinycnn", "--weights", "none", "--image-size", "32",
                 "--strategy", "two-phase", "--head-epochs", "2", "--epochs", "2", "--batch-size", "4",
                 "--name", "best"])
    assert code == 0
    run = tmp_path / "runs" / "best"
    state = json.loads((run / "state.json").read_text())
    history = state["history"]
    best_loss = min(e["val_loss"] for e in history)
    assert state["best"]["val_loss"] == best_loss
    best_phase = next(e["phase"] for e in history if e["val_loss"] == best_loss)
    assert state["best"]["phase"] == best_phase
    saved = load_file(str(run / "model.safetensors"))
    ckpt = torch.load(run / state["best"]["path"], map_location="cpu", weights_only=True)["state_dict"]  # relative: the folder can move
    for key, value in saved.items():
        assert torch.equal(value, ckpt["model." + key]), key
