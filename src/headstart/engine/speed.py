"""Speed probes: is bf16 autocast faster than fp32 here, and what is this machine's peak?

Why measure instead of assume: "bf16 is faster" holds on GPUs and, for matmuls, on CPUs with
native bf16 units (avx512_bf16, AMX), but CPUs without them emulate it and run 2-4x *slower*.
The benchmarks report these probes next to their results. The engine does not consult them:
``precision: auto`` is fp32 on every CPU (engine/runtime.py), because a faster matmul did not make
fine-tuning meaningfully faster (docs/performance.md) and a per-machine default would make the
same config give different numbers on different CPUs.
"""
from __future__ import annotations

import functools
import time
from typing import Callable

import torch

CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags() -> set[str]:
    """CPU feature flags from ``/proc/cpuinfo`` (empty where that file does not exist)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_model() -> str:
    """The CPU model name, for benchmark reports."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_gflops(dtype: torch.dtype = torch.float32, size: int = 1024, device: str | torch.device = "cpu",
                  seconds: float = 0.3, autocast: bool = False) -> float:
    """Achieved GFLOP/s of ``size x size`` matmuls for ``seconds`` (best of the repeats).

    ``autocast=True`` multiplies fp32 inputs under ``torch.autocast(dtype)``, which is what mixed
    precision training does; otherwise inputs are made in ``dtype`` directly.
    """
    device = torch.device(device)
    in_dtype = torch.float32 if autocast else dtype
    a = torch.randn(size, size, device=device, dtype=in_dtype)
    b = torch.randn(size, size, device=device, dtype=in_dtype)
    ctx: Callable = (lambda: torch.autocast(device.type, dtype=dtype)) if autocast else torch.inference_mode
    flops = 2.0 * size ** 3
    best = 0.0
    with torch.inference_mode():
        with ctx():
            a @ b  # warm up (allocations, kernel selection)
            _sync(device)
            deadline = time.perf_counter() + seconds
            while True:
                start = time.perf_counter()
                a @ b
                _sync(device)
                elapsed = time.perf_counter() - start
                best = max(best, flops / max(elapsed, 1e-9) / 1e9)
                if time.perf_counter() > deadline:
                    break
    return best


@functools.lru_cache(maxsize=None)
def bf16_autocast_is_faster(device_type: str = "cpu") -> bool:
    """True when bf16 autocast matmuls beat fp32 on this device by at least 10 % (measured once).

    On CPUs without native bf16 instructions the answer is False without measuring (emulated bf16
    is always slower there).
    """
    if device_type == "cuda":
        if not torch.cuda.is_available() or not torch.cuda.is_bf16_supported():
            return False
    elif device_type == "cpu":
        if not (cpu_flags() & set(CPU_BF16_FLAGS)):
            return False
    else:
        return False
    fp32 = matmul_gflops(torch.float32, device=device_type, seconds=0.2)
    bf16 = matmul_gflops(torch.bfloat16, device=device_type, seconds=0.2, autocast=True)
    return bf16 > 1.1 * fp32
