"""The Lightning data module for text classification, with dynamic padding.

Why dynamic padding: tokenizing each batch and padding it only to its own longest text (capped at
the backbone's ``max_length``) wastes far less compute than padding every text to ``max_length``;
short-text datasets such as SST-2 train several times faster. Datasets hold raw strings, so the
same split works with any backbone's tokenizer.
"""
from __future__ import annotations

from typing import Any, Sequence

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from ..errors import ConfigError
from .samplers import eval_sampler
from .text import TextSplit


class TextDataset(Dataset):
    """``(text, class index)`` pairs, returned as they are; tokenizing happens in the collate fn."""

    def __init__(self, items: Sequence[tuple[str, int]]):
        self.items = list(items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[str, int]:
        return self.items[index]


def tokenize_texts(tokenizer: Any, texts: Sequence[str], max_length: int) -> dict[str, torch.Tensor]:
    """Tokenize ``texts`` truncated to ``max_length`` and padded to the batch's longest.

    Returns ``{"input_ids", "attention_mask"}`` LongTensors ``[B, T]`` (the text batch contract);
    predict uses this too, so training and inference see identical inputs.
    """
    encoded = tokenizer(
        list(texts),
        padding="longest",
        truncation=True,
        max_length=max_length,
        return_tensors="pt",
    )
    return {
        "input_ids": encoded["input_ids"].long(),
        "attention_mask": encoded["attention_mask"].long(),
    }


class TextCollator:
    """Collate ``[(text, label), ...]`` into ``({"input_ids", "attention_mask"}, labels)``.

    A class rather than a closure so DataLoader worker processes can pickle it.
    """

    def __init__(self, tokenizer: Any, max_length: int):
        self.tokenizer = tokenizer
        self.max_length = max_length

    def __call__(self, batch: Sequence[tuple[str, int]]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        texts = [text for text, _ in batch]
        labels = [label for _, label in batch]
        # class indices, or the multi-hot float vectors of a multi-label split
        labels = torch.stack(labels) if labels and isinstance(labels[0], torch.Tensor) else torch.tensor(labels, dtype=torch.long)
        return tokenize_texts(self.tokenizer, texts, self.max_length), labels


class TextDataModule(L.LightningDataModule):
    """Train/val loaders for a :class:`TextSplit`, tokenized per batch by the backbone's tokenizer.

    The training loader shuffles with a generator seeded by ``seed`` (one generator for the
    module's lifetime, so successive phases continue the stream) and drops the last partial batch
    only when the training set is larger than one batch.

    Example::

        dm = TextDataModule(load_text_dataset("sms.csv"), backbone.tokenizer,
                            backbone.data_config.max_length)
        inputs, y = next(iter(dm.train_dataloader()))   # inputs["input_ids"]: [32, T <= max_length]
    """

    def __init__(
        self,
        split: TextSplit,
        tokenizer: Any,
        max_length: int,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
    ):
        super().__init__()
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size={batch_size!r}: use a positive whole number (e.g. 32).")
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ConfigError(f"num_workers={num_workers!r}: use 0 or more.")
        if not isinstance(max_length, int) or max_length < 2:
            raise ConfigError(f"max_length={max_length!r}: use a whole number of tokens >= 2 (e.g. 128).")
        self.split = split
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.classes: list[str] = list(split.classes)
        self.num_classes = len(self.classes)
        self.train_dataset = TextDataset(split.train)
        self.val_dataset = TextDataset(split.val)
        self.collate = TextCollator(tokenizer, max_length)
        self._generator = torch.Generator().manual_seed(seed)

    def class_counts(self) -> dict[str, int]:
        """Training texts per class name, in class order (for class weights or reports)."""
        return self.split.class_counts("train")

    def _loader_options(self) -> dict:
        return {
            "batch_size": self.batch_size,
            "num_workers": self.num_workers,
            "persistent_workers": self.num_workers > 0,
            "pin_memory": torch.cuda.is_available(),
            "collate_fn": self.collate,
        }

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            self.train_dataset,
            shuffle=True,
            generator=self._generator,
            drop_last=len(self.train_dataset) > self.batch_size,
            **self._loader_options(),
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_dataset, shuffle=False, sampler=eval_sampler(self.val_dataset, self.trainer),
                          **self._loader_options())
