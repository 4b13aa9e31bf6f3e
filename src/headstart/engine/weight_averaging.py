"""``--weight-averaging ema``: validate, keep and export an exponential moving average of the weights.

Lightning's :class:`~lightning.pytorch.callbacks.WeightAveraging` does the work: it updates a
``torch.optim.swa_utils.AveragedModel`` after every optimizer step, swaps it in for validation (so
the per-epoch scores, the best-epoch rule and the checkpoints all see the average), keeps the raw
weights in the checkpoint for an exact resume, and copies the average into the model at the end.

Why a warm-up instead of Lightning's fixed ``decay=0.999``: fine-tuning on a small data set runs for
tens to a few hundred steps, and a fixed 0.999 would keep the average at the first step's weights
for the whole phase. The decay follows timm's ``ModelEmaV3`` warm-up, ``min(max, (1 + t) / (10 + t))``
after ``t`` updates: the average covers roughly the last tenth of the steps taken so far, whatever
the data size, and approaches ``max_decay`` only on long runs.

It applies to phases that train through the backbone (fine-tuning, LoRA); a head solved on cached
features is already an optimum and is not averaged.
"""
from __future__ import annotations

import torch
from lightning.pytorch.callbacks import WeightAveraging

MAX_DECAY = 0.9998  # timm's default EMA decay: reached only after thousands of steps


def warmup_decay(updates: int, max_decay: float = MAX_DECAY) -> float:
    """The EMA decay after ``updates`` averaged steps (timm's warm-up rule)."""
    return min(max_decay, (1.0 + updates) / (10.0 + updates))


def _ema(averaged: torch.Tensor, current: torch.Tensor, num_averaged: torch.Tensor) -> torch.Tensor:
    if not averaged.is_floating_point():  # e.g. BatchNorm's num_batches_tracked: follow the model
        return current
    decay = warmup_decay(int(num_averaged))
    return averaged + (current - averaged) * (1.0 - decay)


class WarmupEMA(WeightAveraging):
    """EMA weight averaging with a warm-up decay (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(use_buffers=True, avg_fn=_ema)
