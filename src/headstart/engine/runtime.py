"""Where and how to run: accelerator, precision and memory format, chosen automatically.

bf16 autocast only where it is faster: on CUDA GPUs with bf16 support, and on CPUs where a matmul
probe (engine/speed.py) measures bf16 faster. CPUs without native bf16 (no avx512_bf16/AMX, like
the 2-core CI machines) train 2-4x slower with it and stay fp32. channels_last helps convnets on CPU and GPU (measured in bench/).
"""
from __future__ import annotations

import torch

from ..errors import ConfigError

PRECISIONS = ("auto", "32-true", "bf16-mixed", "16-mixed", "bf16-true")


def resolve_accelerator(accelerator: str = "auto") -> str:
    if accelerator == "auto":
        return "gpu" if torch.cuda.is_available() else "cpu"
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError("--accelerator gpu was asked for but no CUDA GPU is available.", "Use --accelerator cpu or auto.")
    if accelerator == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("--accelerator mps was asked for but this machine has no Apple GPU (MPS).", "Use --accelerator cpu or auto.")
    return accelerator


def resolve_precision(precision: str, accelerator: str) -> str:
    if precision not in PRECISIONS:
        raise ConfigError(f"Unknown precision {precision!r}. Valid: {', '.join(PRECISIONS)}.")
    if precision != "auto":
        return precision
    if accelerator in ("gpu", "cuda") and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    if accelerator == "cpu":
        from .speed import bf16_autocast_is_faster  # measured once; False without native bf16

        return "bf16-mixed" if bf16_autocast_is_faster("cpu") else "32-true"
    return "32-true"


def launched_externally() -> bool:
    """True under torchrun / torchelastic or a multi-task SLURM job: the launcher made the processes."""
    import os

    if "TORCHELASTIC_RUN_ID" in os.environ or ("LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ):
        return True
    return int(os.environ.get("SLURM_NTASKS", "1") or 1) > 1 and "SLURM_PROCID" in os.environ


def resolve_strategy(strategy: str, accelerator: str, devices: int | str, num_nodes: int) -> str:
    """Lightning strategy: ``ddp`` under torchrun/SLURM or on GPUs, ``ddp_fork`` for several CPU
    processes started from one command (no script re-launch, nothing to pickle), else ``auto``."""
    if strategy != "auto":
        return strategy
    many = (isinstance(devices, int) and devices > 1) or num_nodes > 1 or devices == -1
    if launched_externally():
        return "ddp" if many or num_nodes > 1 else "auto"
    if not many:
        return "auto"
    return "ddp_fork" if accelerator == "cpu" else "ddp"


def is_convnet(model: torch.nn.Module) -> bool:
    """True when most parameters live in 2-D convolutions (channels_last helps those)."""
    conv = sum(p.numel() for m in model.modules() if isinstance(m, torch.nn.Conv2d) for p in m.parameters(recurse=False))
    total = sum(p.numel() for p in model.parameters()) or 1
    return conv / total > 0.3


def quiet_lightning() -> None:
    """Keep the console for what matters: no accelerator banners, tips or known-benign warnings."""
    import logging
    import warnings

    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda",
                 "lightning.fabric.utilities.seed", "lightning.pytorch.trainer.connectors.signal_connector"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")  # frozen BatchNorm, on purpose
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")  # small data: fewer batches than log_every_n_steps
    warnings.filterwarnings("ignore", message=".*litlogger.*")
