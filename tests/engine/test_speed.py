"""Speed choices: the precision `auto` resolves to, the matmul probe, convnet detection, the resolved runtime."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from headstart.engine import runtime, speed
from headstart.errors import ConfigError


def test_matmul_probe_measures_positive_throughput() -> None:
    assert speed.matmul_gflops(torch.float32, size=128, seconds=0.02) > 0
    assert speed.matmul_gflops(torch.bfloat16, size=64, seconds=0.01, autocast=True) > 0


def test_the_bf16_probe_says_no_without_native_cpu_support(monkeypatch) -> None:
    speed.bf16_autocast_is_faster.cache_clear()
    monkeypatch.setattr(speed, "cpu_flags", lambda: {"avx2", "avx512f"})
    try:
        assert speed.bf16_autocast_is_faster("cpu") is False
    finally:
        speed.bf16_autocast_is_faster.cache_clear()


@pytest.mark.parametrize("flags", [{"avx2"}, {"avx512_bf16"}, {"amx_bf16", "avx512_bf16"}])
def test_auto_precision_is_fp32_on_every_cpu(monkeypatch, flags: set[str]) -> None:
    """The same config resolves to the same numerics on any CPU (docs/performance.md: bf16 gains little there)."""
    monkeypatch.setattr(speed, "cpu_flags", lambda: flags)
    monkeypatch.setattr(speed, "matmul_gflops", lambda dtype, **kw: 300.0 if dtype == torch.bfloat16 else 100.0)
    assert runtime.resolve_precision("auto", "cpu") == "32-true"
    assert runtime.resolve_precision("bf16-mixed", "cpu") == "bf16-mixed"  # an explicit choice wins


@pytest.mark.parametrize(("bf16", "expected"), [(True, "bf16-mixed"), (False, "16-mixed")])
def test_auto_precision_on_cuda_is_mixed(monkeypatch, bf16: bool, expected: str) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    assert runtime.resolve_precision("auto", "gpu") == expected
    assert runtime.resolve_precision("32-true", "gpu") == "32-true"


def test_unknown_precision_names_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="fp8.*32-true"):
        runtime.resolve_precision("fp8", "cpu")


def test_runtime_resolves_every_auto_and_says_so_in_one_line() -> None:
    from headstart.backbones import create_backbone
    from headstart.engine.fit import EngineOptions

    resolved = runtime.resolve_runtime(EngineOptions(accelerator="cpu"), create_backbone("tinycnn", weights="none"), num_workers=2)
    assert resolved.to_dict() == {"accelerator": "cpu", "devices": 1, "num_nodes": 1, "strategy": "auto",
                                  "precision": "32-true", "channels_last": True, "num_workers": 2}
    assert resolved.summary() == "Runtime: cpu x1, precision 32-true, 2 data workers, channels_last"
    again = runtime.resolve_runtime(EngineOptions(**{k: v for k, v in resolved.to_dict().items() if k != "num_workers"}), nn.Linear(2, 2))
    assert again.precision == "32-true" and again.devices == 1 and again.channels_last  # resolved values stay


def test_channels_last_only_for_convnets() -> None:
    from headstart.backbones import create_backbone

    assert runtime.is_convnet(create_backbone("tinycnn", weights="none"))
    assert not runtime.is_convnet(nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2)))

