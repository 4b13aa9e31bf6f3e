"""The training sampler: a shuffled order, and one augmentation seed per item, from one generator.

Why: a resumed run must draw the same augmentations as one that never stopped. Loader workers
that persist across epochs keep their own random state, which no checkpoint holds; so instead of
relying on it, the sampler (which runs in the main process, and whose generator
``engine/epoch_seed.py`` re-seeds at every epoch's start) hands each item a seed, and the dataset
seeds its augmentation with it (:func:`seeded_item`). Epoch ``e``'s order and augmentations are
then a function of (seed, phase, epoch), whatever the number of workers.
"""
from __future__ import annotations

import random
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler


class SeededShuffle(Sampler):
    """Yields ``(index, item_seed)`` in a random order drawn from ``generator``."""

    def __init__(self, size: int, generator: torch.Generator | None = None):
        self.size = size
        self.generator = generator

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = torch.randperm(self.size, generator=self.generator).tolist()  # None: torch's default generator
        seeds = torch.randint(0, 2**62, (self.size,), generator=self.generator).tolist()
        return iter(zip(order, seeds))


@contextmanager
def seeded_item(seed: int | None) -> Iterator[None]:
    """Seed torch, numpy and python's generators for one item's augmentation, then restore them
    (in the main process the global streams also drive dropout; they must not be disturbed)."""
    if seed is None:
        yield
        return
    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed % 2**32)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
