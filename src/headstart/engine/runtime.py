"""Where and how to run: accelerator, devices, precision and memory format, resolved once per run.

``precision: auto`` is fp32 on CPUs and mixed precision on CUDA (bf16 where the GPU has it, else
fp16). Why not bf16 on CPUs with native bf16 (avx512_bf16/AMX): measured on such a 2-core CPU,
efficientnet_lite0 fine-tuning gained little (docs/performance.md, bench/precision_bench.py),
CPUs without it emulate bf16 2-4x slower, and a default that depends on the CPU flags would make
the same config give different numbers on different machines. bf16 on CPU stays one flag away
(``--precision bf16-mixed``). channels_last helps convnets on CPU and GPU (measured in bench/).

The resolved choice (:class:`Runtime`) is printed at the start of a run and recorded in its
``config.yaml`` and ``model.json``, so a run says exactly how it ran.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

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
    """``precision`` itself, or for ``auto``: bf16-mixed on CUDA GPUs with bf16, 16-mixed on older
    CUDA GPUs, 32-true everywhere else (CPUs included: see the module docstring)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"Unknown precision {precision!r}. Valid: {', '.join(PRECISIONS)}.")
    if precision != "auto":
        return precision
    if accelerator in ("gpu", "cuda") and torch.cuda.is_available():
        # native bf16 only (Ampere and newer); older GPUs emulate it slowly and get fp16 with loss scaling
        return "bf16-mixed" if torch.cuda.is_bf16_supported(including_emulation=False) else "16-mixed"
    return "32-true"


def resolve_devices(devices: int | str, accelerator: str) -> int | str:
    """``devices`` itself, or for ``auto`` the count Lightning would use: 1 on CPU, every GPU on CUDA."""
    if devices != "auto":
        return devices
    return torch.cuda.device_count() if accelerator in ("gpu", "cuda") else 1


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


@dataclass(frozen=True)
class Runtime:
    """How a run runs, every ``auto`` resolved: what the run prints and records."""

    accelerator: str
    devices: int | str
    num_nodes: int
    strategy: str
    precision: str
    channels_last: bool
    num_workers: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line for the console, e.g. ``Runtime: cpu x1, precision 32-true, 2 data workers, channels_last``."""
        where = f"{self.accelerator} x{self.devices}" + (f" x{self.num_nodes} nodes" if self.num_nodes > 1 else "")
        parts = [where, f"precision {self.precision}"]
        if self.strategy != "auto":
            parts.append(f"strategy {self.strategy}")
        if self.num_workers is not None:
            parts.append(f"{self.num_workers} data workers")
        parts.append("channels_last" if self.channels_last else "contiguous memory")
        return "Runtime: " + ", ".join(parts)


def resolve_runtime(options: Any, model: torch.nn.Module, num_workers: int | None = None) -> Runtime:
    """Resolve ``options`` (an ``EngineOptions``: accelerator, devices, num_nodes, strategy,
    precision, channels_last) for ``model``. Resolved values resolve to themselves."""
    accelerator = resolve_accelerator(options.accelerator)
    devices = resolve_devices(options.devices, accelerator)
    channels_last = is_convnet(model) if options.channels_last == "auto" else bool(options.channels_last)
    return Runtime(accelerator=accelerator, devices=devices, num_nodes=options.num_nodes,
                   strategy=resolve_strategy(options.strategy, accelerator, devices, options.num_nodes),
                   precision=resolve_precision(options.precision, accelerator),
                   channels_last=channels_last, num_workers=num_workers)


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
    warnings.filterwarnings("ignore", message=".*defined a `validation_step` but have no `val_dataloader`.*")  # lr-find
    warnings.filterwarnings("ignore", message=".*Previous log files in this directory will be deleted.*")  # resume keeps them (resume_state)
    warnings.filterwarnings("ignore", message=".*Checkpoint directory .* exists and is not empty.*")  # resume writes into it on purpose
