"""The evaluation sampler: under DDP, each process takes every ``world``-th item, none repeated.

Why: Lightning's default ``DistributedSampler`` pads the last round with repeated items so that
every process gets the same count; validation then counts those items twice (154 for a
153-image set). Lightning's ``UnrepeatedDistributedSampler`` leaves the counts off by at most one,
which validation allows (no collective per step; the metrics sync once per epoch).
"""
from __future__ import annotations

from typing import Any

from torch.utils.data import Dataset, Sampler


def eval_sampler(dataset: Dataset, trainer: Any) -> Sampler | None:
    """An unpadded distributed sampler for ``dataset`` while ``trainer`` runs several processes, else
    None (a plain sequential loader over every item: what an evaluation after training, in one
    process, needs). Lightning keeps a sampler that is already distributed as it is."""
    from lightning.pytorch.trainer.states import TrainerStatus

    if trainer is None or trainer.world_size <= 1 or trainer.state.status != TrainerStatus.RUNNING:
        return None
    from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler

    return UnrepeatedDistributedSampler(dataset, num_replicas=trainer.world_size, rank=trainer.global_rank, shuffle=False)
