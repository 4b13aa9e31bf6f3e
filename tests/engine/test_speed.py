"""Speed choices: bf16 only where measured faster, the matmul probe, convnet detection."""
from __future__ import annotations

import torch
from torch import nn

from headstart.engine import runtime, speed


def test_matmul_probe_measures_positive_throughput() -> None:
    assert speed.matmul_gflops(torch.float32, size=128, seconds=0.02) > 0
    assert speed.matmul_gflops(torch.bfloat16, size=64, seconds=0.01, autocast=True) > 0


def test_no_bf16_without_native_cpu_support(monkeypatch) -> None:
    speed.bf16_autocast_is_faster.cache_clear()
    monkeypatch.setattr(speed, "cpu_flags", lambda: {"avx2", "avx512f"})
    try:
        assert speed.bf16_autocast_is_faster("cpu") is False
        assert runtime.resolve_precision("auto", "cpu") == "32-true"
    finally:
        speed.bf16_autocast_is_faster.cache_clear()


def test_bf16_chosen_on_cpu_only_when_the_probe_wins(monkeypatch) -> None:
    speed.bf16_autocast_is_faster.cache_clear()
    monkeypatch.setattr(speed, "cpu_flags", lambda: {"avx512_bf16"})
    rates = {torch.float32: 100.0, torch.bfloat16: 300.0}
    monkeypatch.setattr(speed, "matmul_gflops", lambda dtype, **kw: rates[dtype])
    try:
        assert runtime.resolve_precision("auto", "cpu") == "bf16-mixed"
        speed.bf16_autocast_is_faster.cache_clear()
        rates[torch.bfloat16] = 60.0  # emulated bf16: slower, so fp32
        assert runtime.resolve_precision("auto", "cpu") == "32-true"
        assert runtime.resolve_precision("bf16-mixed", "cpu") == "bf16-mixed"  # an explicit choice wins
    finally:
        speed.bf16_autocast_is_faster.cache_clear()


def test_channels_last_only_for_convnets() -> None:
    from headstart.backbones import create_backbone

    assert runtime.is_convnet(create_backbone("tinycnn", weights="none"))
    assert not runtime.is_convnet(nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2)))

