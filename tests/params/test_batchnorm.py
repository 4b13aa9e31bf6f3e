"""``--batchnorm``: pretrained BatchNorm statistics kept while fine-tuning small data, and recorded."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from headstart.config import RunConfig
from headstart.params.batchnorm import FROZEN_BELOW_PER_CLASS, resolve_batchnorm
from headstart.run_files import read_json
from headstart.runner import train_run

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))
from test_feature_cache import make_images, tiny_model  # noqa: E402


@pytest.mark.parametrize(("mode", "per_class", "pretrained", "want"), [
    ("auto", 121, True, "frozen"),
    ("auto", None, True, "frozen"),
    ("auto", FROZEN_BELOW_PER_CLASS, True, "train"),
    ("auto", 50, False, "train"),  # no pretrained weights: no statistics worth keeping
    ("train", 5, True, "train"),
    ("frozen", 10_000, False, "frozen"),
])
def test_resolution_rules(mode: str, per_class: int | None, pretrained: bool, want: str) -> None:
    got, why = resolve_batchnorm(mode, per_class, pretrained)
    assert got == want and why


def test_frozen_model_keeps_every_batchnorm_in_eval_mode_and_its_statistics() -> None:
    model = tiny_model()
    for p in model.parameters():
        p.requires_grad_(True)
    model.batchnorm_stats = "frozen"
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    before = [bn.running_mean.clone() for bn in bns]
    model.train()
    assert bns and not any(bn.training for bn in bns) and model.head.training
    model(torch.randn(4, 3, 32, 32) * 3 + 1).sum().backward()
    assert all(torch.equal(b, bn.running_mean) for b, bn in zip(before, bns))
    assert all(bn.weight.grad is not None for bn in bns)  # the affine weights still learn
    model.batchnorm_stats = "train"
    model.train()
    model(torch.randn(4, 3, 32, 32) * 3 + 1)
    assert all(bn.training for bn in bns) and not torch.equal(before[0], bns[0].running_mean)


def _run(tmp_path: Path, images: Path, name: str, **options) -> Path:
    config = RunConfig(data=str(images), model="tinycnn", weights="none", epochs=1, batch_size=6, num_workers=0,
                       accelerator="cpu", devices=1, precision="32-true", image_size=32, output_dir=str(tmp_path),
                       name=name, **options)
    return train_run(config).run_dir


def test_fine_tune_run_records_the_choice_and_keeps_the_statistics(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    images = make_images(tmp_path / "images", per_class=6, val_per_class=2)
    frozen = _run(tmp_path, images, "frozen", strategy="fine-tune", batchnorm="frozen")
    trained = _run(tmp_path, images, "train", strategy="fine-tune")  # weights none: auto re-estimates
    assert read_json(frozen / "model.json")["batchnorm"] == {"mode": "frozen", "why": "--batchnorm frozen"}
    assert read_json(trained / "model.json")["batchnorm"]["mode"] == "train"
    assert "BatchNorm statistics kept as pretrained while fine-tuning (frozen)" in (frozen / "report.html").read_text()
    means = {name: [v for k, v in load_file(run / "model.safetensors").items() if k.endswith("running_mean")]
             for name, run in (("frozen", frozen), ("train", trained))}
    assert means["frozen"] and all(torch.count_nonzero(m) == 0 for m in means["frozen"])  # still the init's zeros
    assert all(torch.count_nonzero(m) > 0 for m in means["train"])
    head_only = _run(tmp_path, images, "head", strategy="feature-extraction")
    assert "batchnorm" not in read_json(head_only / "model.json")  # nothing unfrozen: nothing to choose
