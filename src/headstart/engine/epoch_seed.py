"""Per-epoch random state: every epoch's randomness is a function of (seed, phase, epoch, rank).

Why: a resumed run must train exactly like one that was never interrupted. Lightning restores
weights, optimizer, scheduler and loop counters from ``last.ckpt``, but not the random streams:
the training loader's shuffle generator, and the global torch/numpy/python generators that draw
augmentations and dropout. Re-seeding all of them at the start of every epoch from the epoch's
coordinates makes epoch ``e`` draw the same numbers whether the process trained epochs
``0..e-1`` itself or restored them from a checkpoint.

Loader worker processes that persist across epochs keep their own generator state, which no
checkpoint holds: so image augmentation does not use it. The training sampler
(``data/seeded_shuffle.py``) draws one seed per item from the generator re-seeded here, and the
dataset augments each item under its seed, so workers replay exactly too.
"""
from __future__ import annotations

import random

import lightning as L
import numpy as np
import torch


def epoch_seed(seed: int, phase: int, epoch: int, rank: int = 0) -> int:
    """A 63-bit seed for one epoch of one phase on one process (independent streams per tuple)."""
    return int(np.random.SeedSequence([seed, phase, epoch, rank]).generate_state(2, dtype=np.uint64)[0] >> 1)


class EpochSeed(L.Callback):
    """Re-seeds the shuffle order and the global generators at each training epoch's start."""

    def __init__(self, seed: int, phase: int):
        self.seed = seed
        self.phase = phase

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        value = epoch_seed(self.seed, self.phase, trainer.current_epoch, trainer.global_rank)
        torch.manual_seed(value)
        np.random.seed(value % 2**32)
        random.seed(value)
        loaders = trainer.train_dataloader
        for loader in loaders if isinstance(loaders, (list, tuple)) else [loaders]:
            sampler = getattr(loader, "sampler", None)
            if isinstance(getattr(sampler, "generator", None), torch.Generator):
                # A generator of its own: the loader's (shared by default) also feeds the loader's
                # base seed, drawn when Lightning creates the epoch's iterator, which for the first
                # epoch of a fit is before this hook and for later ones after it. The sampler
                # draws lazily, at the epoch's first batch.
                sampler.generator = torch.Generator().manual_seed(value)
