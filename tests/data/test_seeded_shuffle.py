"""Augmentation in loader workers replays exactly after a restart (what --resume relies on)."""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from headstart.data.images import ImageDataset
from headstart.data.seeded_shuffle import SeededShuffle


def _noisy(image: torch.Tensor) -> torch.Tensor:
    """A random transform drawing from torch's global generator (as torchvision's do)."""
    return image.float() + torch.rand(image.shape)


def _epoch(loader: DataLoader, seed: int) -> list[torch.Tensor]:
    loader.sampler.generator = torch.Generator().manual_seed(seed)  # what EpochSeed does each epoch
    return [x for x, _ in loader]


def test_a_restarted_loader_with_persistent_workers_draws_the_same_epoch(tiny_image_folder) -> None:
    items = [(str(p), i % 2) for i, p in enumerate(sorted(tiny_image_folder.rglob("*.png")))]
    dataset = ImageDataset(items, transform=lambda img: _noisy(img[:, :8, :8]))

    def loader() -> DataLoader:
        return DataLoader(dataset, batch_size=4, sampler=SeededShuffle(len(dataset)), num_workers=1,
                          persistent_workers=True)

    uninterrupted = loader()
    _epoch(uninterrupted, 100)  # epoch 0 advances the persistent worker's own random state
    epoch1 = _epoch(uninterrupted, 101)
    resumed = loader()  # a new process after a kill: fresh workers, straight to epoch 1
    again = _epoch(resumed, 101)
    assert len(epoch1) == len(again) == 3
    assert all(torch.equal(a, b) for a, b in zip(epoch1, again))
    assert not torch.equal(_epoch(resumed, 102)[0], epoch1[0])  # another epoch draws other numbers


def test_items_without_a_seed_leave_the_global_generator_alone(tiny_image_folder) -> None:
    items = [(str(p), 0) for p in sorted(tiny_image_folder.rglob("*.png"))]
    dataset = ImageDataset(items, transform=_noisy)
    torch.manual_seed(0)
    dataset[(0, 7)]
    after_seeded = torch.rand(1)
    torch.manual_seed(0)
    assert torch.equal(after_seeded, torch.rand(1))  # a seeded item restores the main process's stream
