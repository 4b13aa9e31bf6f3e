"""Feature caching for frozen phases: run the backbone once, train the head on stored features.

Why: while the backbone is frozen, every epoch recomputes the same backbone outputs; on CPU that is
~all of the time. Extracting them once (under ``torch.inference_mode``) and training only the head
makes a 10-epoch head phase cost about one epoch. The head learns on ``backbone(x)`` exactly as
the full model computes it (eval mode, same transforms), so phase 2 and prediction use it as is.

Augmentation: by default training images are cached once with the *eval* transform (the usual
linear-probe recipe). ``cache_augment=K`` caches K randomly augmented views per training image
instead; each epoch draws one view per image, so the number of steps per epoch is unchanged.

Staleness: every cache entry is keyed by the backbone spec, a hash of its weights and buffers,
the transform, the file list (paths, labels, sizes, mtimes), the number of views and the
precision. Small caches live in memory; big ones go to memory-mapped ``.npy`` files under
``<run>/feature_cache/<key>/`` and are reused by a resumed run only when the key matches.

Distributed: extraction happens in ``FeatureDataModule.setup`` (inside Lightning's fit, where the
process group exists); each process extracts every ``world``-th item, the shards are gathered so
every process holds all features, and Lightning's distributed sampler splits the head training.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from ..data.samplers import eval_sampler
from ..errors import ConfigError
from ..strategies.base import Phase

CACHE_FOLDER = "feature_cache"
MEMORY_LIMIT_BYTES = 1 << 30  # features above this go to a memory-mapped file in the run folder
FORMAT_VERSION = 1


# ---------------------------------------------------------------- keys

def weights_fingerprint(module: torch.nn.Module) -> str:
    """Hash of every parameter and buffer of ``module`` (names, dtypes, shapes and values).

    Why: two backbones with the same spec but different weights (pretrained vs. fine-tuned, another
    weights file) produce different features; the cache must never mix them up.
    """
    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in module.state_dict().items():
        t = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        if t.numel():
            digest.update(memoryview(t.reshape(-1).view(torch.uint8).numpy()))
    return digest.hexdigest()


def items_fingerprint(items: Sequence[tuple[Any, int]]) -> str:
    """Hash of an ordered ``(path or text, label)`` list; image files add their size and mtime."""
    digest = hashlib.blake2b(digest_size=16)
    for item, label in items:
        digest.update(f"{item}|{label}".encode())
        if isinstance(item, (str, os.PathLike)) and os.path.isfile(item):
            st = os.stat(item)
            digest.update(f"|{st.st_size}|{st.st_mtime_ns}".encode())
        digest.update(b"\n")
    return digest.hexdigest()


def cache_key(backbone: torch.nn.Module, source: "ExtractionSource", precision: str, weights: str | None = None) -> str:
    """The key of ``source``'s features under ``backbone``: changes whenever any input changes."""
    parts = {
        "format": FORMAT_VERSION,
        "backbone": getattr(backbone, "spec", type(backbone).__name__),
        "weights": weights or weights_fingerprint(backbone),
        "split": source.name,
        "items": items_fingerprint(source.items),
        "transform": source.transform_description,
        "views": source.views,
        "seed": source.seed if source.augmented else None,
        "precision": precision,
    }
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


# ---------------------------------------------------------------- sources and storage

@dataclass
class ExtractionSource:
    """What the backbone runs over: a dataset of ``(input, label)``, ``views`` times.

    ``augmented`` sources use the random training transform (one pass per view); the others use
    the deterministic eval transform and ``views`` is 1.
    """

    name: str
    dataset: Dataset
    items: list[tuple[Any, int]]
    transform_description: str
    views: int = 1
    augmented: bool = False
    seed: int = 0
    collate_fn: Callable | None = None
    num_workers: int = 0

    @property
    def labels(self) -> torch.Tensor:
        labels = [label for _, label in self.items]
        if labels and isinstance(labels[0], torch.Tensor):  # multi-hot targets of a multi-label split
            return torch.stack(labels)
        return torch.tensor(labels, dtype=torch.long)


class FeatureStore:
    """Cached feature tensors by key: a dict in memory, or ``.npy`` files memory-mapped from ``folder``.

    A disk entry counts only once its ``meta.json`` is written (last), so a run killed while
    saving never leaves a half-written entry that looks complete.
    """

    def __init__(self, folder: Path | None = None, memory_limit_bytes: int = MEMORY_LIMIT_BYTES):
        self.folder = Path(folder) if folder is not None else None
        self.memory_limit_bytes = memory_limit_bytes
        self._memory: dict[str, torch.Tensor] = {}

    def get(self, key: str) -> torch.Tensor | None:
        if key in self._memory:
            return self._memory[key]
        if self.folder is not None and (self.folder / key / "meta.json").is_file():
            array = np.load(self.folder / key / "features.npy", mmap_mode="c")
            return torch.from_numpy(array)
        return None

    def put(self, key: str, features: torch.Tensor, write: bool = True) -> torch.Tensor:
        """Keep ``features`` under ``key``; returns the stored tensor (memory-mapped when big).

        ``write=False`` (non-zero ranks in distributed runs) keeps big features in memory only."""
        big = features.numel() * features.element_size() > self.memory_limit_bytes
        if not big or self.folder is None or not write:
            self._memory[key] = features
            return features
        entry = self.folder / key
        entry.mkdir(parents=True, exist_ok=True)
        np.save(entry / "features.npy", features.numpy())
        (entry / "meta.json").write_text(json.dumps({"shape": list(features.shape), "format": FORMAT_VERSION}))
        return self.get(key)  # type: ignore[return-value]


class CachedFeatures(Dataset):
    """``(feature, label)`` pairs from a ``[views * N, F]`` tensor; each access draws a random view.

    ``__getitems__`` returns a whole collated batch (one indexing op instead of B), which
    :func:`keep_batch` passes through; this keeps head training from being Python-bound.
    """

    def __init__(self, features: torch.Tensor, labels: torch.Tensor, views: int = 1):
        if features.shape[0] != views * labels.shape[0]:
            raise ValueError(f"features {tuple(features.shape)} do not hold {views} views of {labels.shape[0]} items")
        self.features = features
        self.labels = labels
        self.views = views

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def _rows(self, index: torch.Tensor) -> torch.Tensor:
        if self.views == 1:
            return index
        view = torch.randint(self.views, index.shape)
        return view * len(self) + index

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        row = int(self._rows(torch.tensor([index]))[0])
        return self.features[row].float(), self.labels[index]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(indices, dtype=torch.long)
        return self.features[self._rows(index)].float(), self.labels[index]


def keep_batch(batch: Any) -> Any:
    """Collate function for :meth:`CachedFeatures.__getitems__`: the batch is already built."""
    return batch


# ---------------------------------------------------------------- extraction

@torch.inference_mode()
def extract_features(
    backbone: torch.nn.Module,
    loader: Any,
    device: torch.device | str = "cpu",
    channels_last: bool = False,
    autocast: Callable[[], contextlib.AbstractContextManager] | None = None,
) -> torch.Tensor:
    """Pooled features ``[N, F]`` (float32, CPU) of every batch in ``loader``, in order.

    Runs in eval mode under ``torch.inference_mode`` (no autograd bookkeeping at all); restores
    the backbone's train/eval flags afterwards.
    """
    device = torch.device(device)
    flags = {m: m.training for m in backbone.modules()}
    backbone.eval().to(device)
    chunks = []
    try:
        for inputs, _ in loader:
            if isinstance(inputs, dict):
                inputs = {k: v.to(device) for k, v in inputs.items()}
            else:
                inputs = inputs.to(device, non_blocking=True)
                if channels_last and inputs.ndim == 4:
                    inputs = inputs.contiguous(memory_format=torch.channels_last)
            with autocast() if autocast else contextlib.nullcontext():
                out = backbone(inputs)
            chunks.append(out.float().cpu())
    finally:
        for m, flag in flags.items():
            m.training = flag
    if not chunks:
        return torch.zeros(0, int(getattr(backbone, "num_features", 0)))
    return torch.cat(chunks).clone()  # a normal (non-inference) tensor autograd may save


def _gather_rows(local: torch.Tensor, total: int, trainer: Any) -> torch.Tensor:
    """Reassemble ``[total, F]`` from per-rank shards ``items[rank::world]`` on every rank."""
    world = trainer.world_size
    if world == 1:
        return local
    per_rank = -(-total // world)
    padded = torch.zeros(per_rank, local.shape[1], dtype=local.dtype)
    padded[: local.shape[0]] = local
    device = trainer.strategy.root_device
    gathered = trainer.strategy.all_gather(padded.to(device)).cpu()  # [world, per_rank, F]
    out = torch.empty(total, local.shape[1], dtype=local.dtype)
    for rank in range(world):
        count = len(range(rank, total, world))
        out[rank::world] = gathered[rank, :count]
    return out


# ---------------------------------------------------------------- the datamodule

FP32 = "32-true"


def extraction_precision(source: ExtractionSource, trainer: Any) -> str:
    """The precision ``source``'s features are extracted in: the run's for training features (it is
    the fast path), fp32 for validation features under mixed precision, because validation always
    runs in fp32 (engine/module.py). A ``*-true`` precision keeps the weights themselves in low
    precision, so its validation features use it too."""
    precision = str(getattr(trainer.precision_plugin, "precision", FP32)) if trainer else FP32
    return FP32 if source.name == "val" and precision.endswith("-mixed") else precision


class FeatureDataModule(L.LightningDataModule):
    """Train/val loaders over cached backbone features of ``model``; extracts them in ``setup``."""

    def __init__(self, model: torch.nn.Module, train: ExtractionSource, val: ExtractionSource,
                 store: FeatureStore, batch_size: int, seed: int = 0, channels_last: bool = False):
        super().__init__()
        self.model = model
        self.sources = {"train": train, "val": val}
        self.store = store
        self.batch_size = batch_size
        self.channels_last = channels_last
        self.datasets: dict[str, CachedFeatures] = {}
        self.hits: dict[str, bool] = {}
        self.full_batch = False
        self.extraction_seconds = 0.0  # backbone passes (or cache reads) in setup: not part of any epoch's time
        self._generator = torch.Generator().manual_seed(seed)

    def setup(self, stage: str) -> None:
        import time

        names = ["train", "val"] if stage == "fit" else ["val"]
        for name in names:
            if name not in self.datasets:
                start = time.perf_counter()
                self.datasets[name] = self._features(self.sources[name])
                self.extraction_seconds += time.perf_counter() - start

    def _features(self, source: ExtractionSource) -> CachedFeatures:
        trainer = self.trainer
        backbone = self.model.backbone
        precision = extraction_precision(source, trainer)
        key = cache_key(backbone, source, precision)
        features = self.store.get(key)
        self.hits[source.name] = features is not None
        if features is None:
            features = self._extract(source, trainer, precision)
            features = self.store.put(key, features, write=trainer is None or trainer.is_global_zero)
        return CachedFeatures(features, source.labels, source.views)

    def _extract(self, source: ExtractionSource, trainer: Any, precision: str) -> torch.Tensor:
        rank, world = (trainer.global_rank, trainer.world_size) if trainer else (0, 1)
        device = trainer.strategy.root_device if trainer else torch.device("cpu")
        autocast = trainer.precision_plugin.forward_context if trainer and precision != FP32 else None
        total = len(source.items)
        shard = Subset(source.dataset, list(range(rank, total, world)))
        views = []
        for view in range(source.views):
            if source.augmented:
                torch.manual_seed(source.seed + 7919 * view + rank)  # reproducible augmented views
            loader = DataLoader(shard, batch_size=self.batch_size, shuffle=False, num_workers=source.num_workers,
                                collate_fn=source.collate_fn, pin_memory=device.type == "cuda")
            local = extract_features(self.model.backbone, loader, device, self.channels_last, autocast)
            views.append(_gather_rows(local, total, trainer) if trainer else local)
        return torch.cat(views) if len(views) > 1 else views[0]

    def train_dataloader(self) -> DataLoader:
        data = self.datasets["train"]
        if self.full_batch:  # a converged head reads all features itself; one batch drives its one step
            return DataLoader(data, batch_size=max(1, len(data)), collate_fn=keep_batch)
        return DataLoader(data, batch_size=self.batch_size, shuffle=True, generator=self._generator,
                          drop_last=len(data) > self.batch_size, collate_fn=keep_batch)

    def val_dataloader(self) -> DataLoader:
        data = self.datasets["val"]
        return DataLoader(data, batch_size=self.batch_size, shuffle=False, sampler=eval_sampler(data, self.trainer),
                          collate_fn=keep_batch)


# ---------------------------------------------------------------- wiring into fit_plan

def extraction_sources(dm: Any, augment_views: int = 0, seed: int = 0) -> tuple[ExtractionSource, ExtractionSource] | None:
    """Train and val sources for an image or text datamodule; ``None`` when it is neither.

    Images: train items with the eval transform (or ``augment_views`` passes with the training
    transform), val items with the eval transform. Text: the tokenizer is the "transform".
    """
    train_ds, val_ds = getattr(dm, "train_dataset", None), getattr(dm, "val_dataset", None)
    if train_ds is None or val_ds is None or not hasattr(train_ds, "items"):
        return None
    workers = int(getattr(dm, "num_workers", 0) or 0)
    if hasattr(train_ds, "transform"):  # images
        dataset_type = type(train_ds)
        eval_tf, train_tf = val_ds.transform, train_ds.transform
        if augment_views:
            train = ExtractionSource("train", dataset_type(train_ds.items, train_tf), list(train_ds.items),
                                     repr(train_tf), views=augment_views, augmented=True, seed=seed, num_workers=workers)
        else:
            train = ExtractionSource("train", dataset_type(train_ds.items, eval_tf), list(train_ds.items),
                                     repr(eval_tf), num_workers=workers)
        val = ExtractionSource("val", val_ds, list(val_ds.items), repr(eval_tf), num_workers=workers)
        return train, val
    collate = getattr(dm, "collate", None)
    if collate is None:
        return None
    tokenizer = getattr(collate, "tokenizer", None)
    description = f"{type(tokenizer).__name__}:{getattr(tokenizer, 'name_or_path', '')}:{getattr(collate, 'max_length', '')}"
    return (ExtractionSource("train", train_ds, list(train_ds.items), description, collate_fn=collate, num_workers=workers),
            ExtractionSource("val", val_ds, list(val_ds.items), description, collate_fn=collate, num_workers=workers))


class CachedPhaseData:
    """``(phase_index, phase, model) -> (datamodule, features_input)`` for :func:`fit_plan`.

    Frozen phases get a :class:`FeatureDataModule` (the head trains on cached features); other
    phases get the original datamodule.
    """

    def __init__(self, dm: Any, store: FeatureStore, augment_views: int = 0, seed: int = 0):
        self.dm = dm
        self.store = store
        self.augment_views = augment_views
        self.seed = seed
        self.last: FeatureDataModule | None = None

    def __call__(self, index: int, phase: Phase, model: torch.nn.Module) -> tuple[Any, bool]:
        sources = extraction_sources(self.dm, self.augment_views, self.seed) if phase.backbone_frozen else None
        if sources is None:
            return self.dm, False
        from .runtime import is_convnet

        self.last = FeatureDataModule(model, *sources, store=self.store, batch_size=self.dm.batch_size,
                                      seed=self.seed + index, channels_last=is_convnet(model))
        self.last.full_batch = phase.converge
        return self.last, True

    @torch.inference_mode()
    def val_logits(self, model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor] | None:
        """fp32 val logits of ``model`` from the cached validation features, or None when the cache
        holds none for ``model``'s backbone (e.g. fine-tuning changed it, or another process cached them).

        Why: when the final model only trained its head (feature extraction, or a two-phase run
        that kept a head-phase epoch), the final evaluation needs no backbone pass; the key (with
        the backbone's weights hash) guarantees these are the features the model computes."""
        sources = extraction_sources(self.dm)
        if sources is None:
            return None
        val = sources[1]
        features = self.store.get(cache_key(model.backbone, val, FP32))
        if features is None:
            return None
        model.eval()
        return model.head(features.float()).float(), val.labels


def check_cache_options(cache_features: bool | str, cache_augment: int) -> bool:
    """Whether caching is on; raises ``ConfigError`` for invalid values."""
    if cache_features not in (True, False, "auto"):
        raise ConfigError(f"cache_features={cache_features!r}: use true, false or auto.")
    if not isinstance(cache_augment, int) or isinstance(cache_augment, bool) or cache_augment < 0:
        raise ConfigError(f"cache_augment={cache_augment!r}: use 0 (eval view only) or a positive number of augmented views, e.g. 4.")
    if cache_augment and cache_features is False:
        raise ConfigError("cache_augment needs feature caching: drop --no-cache-features or set --cache-augment 0.")
    return cache_features is not False


def cached_phase_data(config: Any, dm: Any, run_dir: Path) -> CachedPhaseData | None:
    """The phase-data hook the runner passes to ``fit_plan``: caches every frozen phase unless
    ``config.cache_features`` is false. Big caches are memory-mapped under ``run_dir/feature_cache``."""
    if not check_cache_options(config.cache_features, config.cache_augment):
        return None
    store = FeatureStore(Path(run_dir) / CACHE_FOLDER)
    return CachedPhaseData(dm, store, augment_views=config.cache_augment, seed=config.seed)
