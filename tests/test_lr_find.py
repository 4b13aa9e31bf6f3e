"""The LR finder: group ratios kept, the model untouched, a sane suggestion, files and CLI."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from headstart.backbones import create_backbone
from headstart.backbones.base import Backbone, LayerGroup
from headstart.backbones.data_config import DataConfig
import headstart.cli.lr_find  # noqa: F401  (registers `lr-find` even before cli/__init__ imports it)
from headstart.cli import main
from headstart.config import RunConfig
from headstart.errors import ConfigError
from headstart.heads import build_head
from headstart.lr_find import find_lr, smooth_losses, suggest_from_curve
from headstart.model import TransferModel


def make_images(root: Path, per_class: int = 12, size: int = 32) -> Path:
    """Two classes told apart by colour, with pixel noise (32 px, a few KB in all)."""
    rng = np.random.default_rng(0)
    for name, colour in (("red", (200, 40, 40)), ("blue", (40, 40, 200))):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = np.clip(np.array(colour) + rng.normal(0, 40, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


class _Blobs:
    """An in-memory datamodule of two Gaussian blobs: linearly separable features."""

    def __init__(self, n: int = 256, dim: int = 16, batch_size: int = 32):
        g = torch.Generator().manual_seed(0)
        y = torch.arange(n) % 2
        centre = torch.randn(dim, generator=g)
        centre = 1.5 * centre / centre.norm()
        x = torch.randn(n, dim, generator=g) + torch.where(y[:, None] == 1, centre, -centre)
        self.dataset = TensorDataset(x, y)
        self.batch_size = batch_size

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.dataset, batch_size=self.batch_size, shuffle=True,
                          generator=torch.Generator().manual_seed(1))


class _MLP(Backbone):
    """Two linear layers as two layer groups (so the head gets a third, discriminative LR)."""

    def __init__(self, dim: int = 16):
        super().__init__("toy-mlp", "test")
        self.model = nn.Sequential(nn.Linear(dim, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
        self.num_features = 32
        self.data_config = DataConfig(input_size=(3, 8, 8), mean=(0.5,) * 3, std=(0.5,) * 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def group_param_names(self) -> list[LayerGroup]:
        return [LayerGroup("fc1", ["model.0.weight", "model.0.bias"]), LayerGroup("fc2", ["model.2.weight", "model.2.bias"])]


def _toy_model() -> TransferModel:
    torch.manual_seed(0)
    return TransferModel(_MLP(), build_head("linear", 32, 2), ["a", "b"])


def _config(**kw) -> RunConfig:
    return RunConfig(model="tinycnn", weights="none", accelerator="cpu", precision="32-true", **kw)


def _loss_after(model: TransferModel, data: _Blobs, lr: float, steps: int = 40) -> float:
    torch.manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    loader = data.train_dataloader()
    it = iter(loader)
    for _ in range(steps):
        try:
            x, y = next(it)
        except StopIteration:
            it = iter(loader)
            x, y = next(it)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y = data.dataset.tensors
    with torch.no_grad():
        return float(nn.functional.cross_entropy(model(x), y))


def test_fine_tune_sweep_keeps_group_ratios_and_leaves_model_untouched():
    model = _toy_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    config = _config(strategy="fine-tune", lr_spread=100.0)
    result = find_lr(config, model, _Blobs(), min_lr=1e-6, max_lr=1.0, num_steps=30)

    assert len(result.group_lrs) == len(result.lrs) == len(result.losses) >= 10
    expected = {"fc1": 0.01, "fc2": 0.1, "head": 1.0}  # spread 100 over 3 groups
    for step, groups in enumerate(result.group_lrs):
        assert set(groups) == set(expected)
        assert groups["head"] == pytest.approx(result.lrs[step], rel=1e-12)
        for name, ratio in expected.items():
            assert groups[name] / groups["head"] == pytest.approx(ratio, rel=1e-12)
    assert result.lrs[0] == pytest.approx(1e-6)
    assert result.lrs[-1] > 100 * result.lrs[0]  # the sweep really moved
    assert all(b > a for a, b in zip(result.lrs, result.lrs[1:]))  # exponentially increasing

    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags


def test_two_phase_sweeps_the_head_phase_only():
    result = find_lr(_config(strategy="two-phase"), _toy_model(), _Blobs(), num_steps=10, max_lr=1e-2)
    assert result.phase == "head"
    assert all(set(g) == {"head"} for g in result.group_lrs)
    assert result.lr == pytest.approx(result.suggestion)
    # without a head phase the first phase is the fine-tune at lr * factor: convert back to --lr
    result = find_lr(_config(strategy="two-phase", head_epochs=0, finetune_lr_factor=0.1), _toy_model(),
                     _Blobs(), num_steps=10, max_lr=1e-2)
    assert result.phase == "finetune"
    assert result.lr == pytest.approx(result.suggestion * 10)


def test_suggestion_is_sane_on_a_separable_problem():
    data = _Blobs()
    result = find_lr(_config(strategy="fine-tune"), _toy_model(), data, min_lr=1e-7, max_lr=10.0, num_steps=100)
    assert result.method == "steepest"
    assert 1e-4 <= result.suggestion <= 1.0
    # and it is a useful LR: it trains where 1e-6 does not
    start = _loss_after(_toy_model(), data, 0.0, steps=1)
    tiny = _loss_after(_toy_model(), data, 1e-6)
    suggested = _loss_after(_toy_model(), data, result.suggestion)
    assert tiny > 0.95 * start
    assert suggested < 0.5 * start


def test_sweep_stops_when_the_loss_diverges():
    result = find_lr(_config(strategy="fine-tune"), _toy_model(), _Blobs(), min_lr=1e-4, max_lr=1e4, num_steps=60)
    assert result.stopped_early
    assert len(result.lrs) < 60
    assert max(result.smoothed) > 4 * min(result.smoothed)
    assert 1e-4 <= result.suggestion < result.lrs[-1]


def test_suggest_from_curve_rules():
    lrs = list(np.logspace(-6, 0, 61))
    log = np.log10(lrs)
    # a sigmoid drop centred at 1e-3, then divergence after 1e-1
    curve = list(1.0 - 0.8 / (1 + np.exp(-4 * (log + 3))) + np.where(log > -1, (log + 1) * 5, 0))
    lr, method = suggest_from_curve(lrs, curve, 1e-6, 1.0)
    assert method == "steepest"
    assert lr == pytest.approx(1e-3, rel=0.3)
    flat = [1.0] * 61
    lr, method = suggest_from_curve(lrs, flat, 1e-6, 1.0)
    assert method == "min-loss/10" and 1e-6 <= lr <= 1.0
    rising = list(np.linspace(1.0, 3.0, 61))
    assert suggest_from_curve(lrs, rising, 1e-6, 1.0) == (1e-6, "min-loss/10")  # clipped to min_lr
    assert suggest_from_curve(lrs, [math.nan] * 61, 1e-6, 1.0)[1] == "min-loss/10"
    assert smooth_losses([2.0, 2.0, 2.0]) == pytest.approx([2.0, 2.0, 2.0])  # bias corrected


def test_bad_range_is_a_config_error():
    with pytest.raises(ConfigError, match="min_lr < max_lr"):
        find_lr(_config(strategy="fine-tune"), _toy_model(), _Blobs(), min_lr=1e-1, max_lr=1e-3)
    with pytest.raises(ConfigError, match="num-steps"):
        find_lr(_config(strategy="fine-tune"), _toy_model(), _Blobs(), num_steps=2)


def test_tinycnn_images_save_plot_and_json(tmp_path):
    from headstart.runner import build_data

    data = make_images(tmp_path / "data")
    config = _config(data=str(data), strategy="fine-tune", batch_size=8, image_size=32, num_workers=0)
    backbone = create_backbone("tinycnn", weights="none")
    dm, split, _ = build_data(config, backbone)
    model = TransferModel(backbone, build_head("linear", backbone.num_features, 2), split.classes)
    before = {k: v.clone() for k, v in model.state_dict().items()}  # BatchNorm stats included
    result = find_lr(config, model, dm, min_lr=1e-5, max_lr=1.0, num_steps=20)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert 1e-5 <= result.suggestion <= 1.0
    groups = result.group_lrs[0]
    assert len(groups) == len(model.layer_groups())  # every group trains, each at its own LR
    assert len({round(v, 15) for v in groups.values()}) == len(groups)

    paths = result.save(tmp_path / "out")
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads(paths["json"].read_text())
    assert saved["suggestion"] == result.suggestion
    assert len(saved["lrs"]) == len(saved["losses"]) == len(result.lrs)


def test_cli_lr_find(tmp_path, capsys):
    data = make_images(tmp_path / "data")
    out = tmp_path / "finder"
    code = main(["lr-find", str(data), "--model", "tinycnn", "--weights", "none", "--strategy", "fine-tune",
                 "--batch-size", "8", "--image-size", "32", "--num-steps", "15", "--accelerator", "cpu",
                 "--num-workers", "0", "--output", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "Suggested lr:" in text and "lr_find.png" in text
    saved = json.loads((out / "lr_find.json").read_text())
    assert f"{saved['lr']:.2e}" in text
    assert (out / "lr_find.png").stat().st_size > 1000


def test_cli_lr_find_train_with_line_runs_as_pasted(tmp_path, capsys, monkeypatch):
    """The suggested command keeps the sweep's --weights/--image-size/... so pasting it works."""
    import shlex

    monkeypatch.chdir(tmp_path)
    data = make_images(tmp_path / "data")
    code = main(["lr-find", str(data), "--model", "tinycnn", "--weights", "none", "--strategy", "fine-tune",
                 "--batch-size", "8", "--image-size", "32", "--num-steps", "5", "--num-workers", "0",
                 "--output", str(tmp_path / "finder")])
    assert code == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("Train with: "))
    argv = shlex.split(line.removeprefix("Train with: "))
    assert argv[:2] == ["headstart", "train"]
    for flag, value in (("--weights", "none"), ("--image-size", "32"), ("--batch-size", "8"), ("--num-workers", "0")):
        assert argv[argv.index(flag) + 1] == value, line
    assert main([*argv[1:], "--epochs", "1", "--name", "pasted"]) == 0
    assert (tmp_path / "runs" / "pasted" / "model.safetensors").is_file()


def test_cli_lr_find_bad_range_is_one_line_error(tmp_path, capsys):
    data = make_images(tmp_path / "data", per_class=3)
    code = main(["lr-find", str(data), "--model", "tinycnn", "--weights", "none", "--min-lr", "1", "--max-lr", "0.1",
                 "--accelerator", "cpu", "--output", str(tmp_path / "o")])
    assert code == 2
    assert "min_lr < max_lr" in capsys.readouterr().err


def test_train_lr_auto_end_to_end(tmp_path):
    data = make_images(tmp_path / "data")
    code = main(["train", str(data), "--model", "tinycnn", "--weights", "none", "--strategy", "two-phase",
                 "--epochs", "1", "--head-epochs", "1", "--batch-size", "8", "--image-size", "32",
                 "--lr", "auto", "--accelerator", "cpu", "--num-workers", "0", "--no-cache-features",
                 "--output-dir", str(tmp_path / "runs"), "--name", "auto"])
    assert code == 0
    run = tmp_path / "runs" / "auto"
    lr = yaml.safe_load((run / "config.yaml").read_text())["lr"]
    assert isinstance(lr, float) and 1e-7 <= lr <= 1.0
    assert (run / "plots" / "lr_find.png").is_file()
    assert json.loads((run / "plots" / "lr_find.json").read_text())["lr"] == pytest.approx(lr)
