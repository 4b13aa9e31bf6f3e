"""Predictor: a run folder in, labels and probabilities out. Needs nothing but the folder.

Images are decoded and preprocessed exactly like validation images (resize, centre crop,
normalisation from the weights' data config); texts are tokenised with the tokenizer saved in the
run. ``tta=True`` averages the probabilities of the image and its horizontal flip.

Many images stream through a batched DataLoader whose workers decode while the model runs, so a
folder of 10k images costs one batch of memory, not 10k decoded images.

Inputs: one item or a list of them. An image is a path, raw bytes, a PIL image, a numpy ``HxWxC``
array or a ``CxHxW``/``HxWxC`` tensor (:mod:`headstart.data.inputs`); a 4-D array or tensor is a
batch. A text is a string. One item gives one result (a dict), a list gives a list.
"""
from __future__ import annotations

from pathlib import Path
import os
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image

from ..run_model import RunModel, load_run
from .onnx_predictor import format_predictions, open_rgb  # torch-free, shared with the ONNX predictor
from .progress import track_items

MAX_WORKERS = 4


def _batches(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


class Predictor:
    def __init__(self, run: RunModel, device: str | None = None):
        self.run = run
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = run.model.to(self.device).eval()
        self.classes = run.classes
        self.modality = run.modality
        self.data_config = run.data_config
        self.task, self.thresholds = run.task, run.thresholds
        if self.modality == "image":
            from ..data.transforms import build_transforms

            self.transform = build_transforms(self.data_config, train=False)
        else:
            self.tokenizer = run.model.backbone.tokenizer
            self.max_length = self.data_config.max_length or 128

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str | None = None) -> "Predictor":
        return cls(load_run(run_dir), device)

    def _as_list(self, inputs: Any) -> tuple[list[Any], bool]:
        """``(items, single)``: one input becomes a one-item list (a path string is not iterated)."""
        if self.modality == "text":
            return ([inputs], True) if isinstance(inputs, str) else (list(inputs), False)
        from ..data.inputs import is_single_image

        if is_single_image(inputs):
            return [inputs], True
        return list(inputs), False  # a list/tuple, or a 4-D array/tensor: a batch of images

    def _encode(self, batch: Sequence[Any]) -> Any:
        if self.modality == "image":
            return torch.stack([preprocess(x, self.transform) for x in batch]).to(self.device)
        from ..data.text_datamodule import tokenize_texts

        enc = tokenize_texts(self.tokenizer, [str(t) for t in batch], self.max_length)
        return {k: v.to(self.device) for k, v in enc.items()}

    def _encoded_batches(self, inputs: list[Any], batch_size: int, workers: int | None) -> Iterator[tuple[int, Any]]:
        """``(batch length, model input)`` in order; image files are decoded by loader workers when
        there is more than one batch (``workers=None``: one per spare core, at most 4). In-memory
        images (the service's uploads) are decoded here: shipping them to workers costs more."""
        batches = list(_batches(inputs, batch_size))
        if workers is None:
            files = all(isinstance(x, (str, os.PathLike)) for x in inputs)
            workers = loader_workers() if len(batches) > 1 and files else 0
        if self.modality != "image" or workers == 0:
            for batch in batches:
                yield len(batch), self._encode(batch)
            return
        loader = torch.utils.data.DataLoader(
            _DecodedImages(inputs, self.transform), batch_size=batch_size, num_workers=workers,
            collate_fn=_stack_or_error, pin_memory=self.device.type == "cuda")
        for x in loader:
            if isinstance(x, str):  # a worker could not decode an image: its DataError message
                from ..errors import DataError

                raise DataError(x)
            yield len(x), x.to(self.device, non_blocking=True)

    @torch.inference_mode()
    def iter_proba(self, inputs: Sequence[Any], batch_size: int = 32, tta: bool = False,
                   progress: bool = False, workers: int | None = None) -> Iterator[np.ndarray]:
        """Class probabilities batch by batch, in input order (memory stays one batch deep)."""
        from ..errors import ConfigError

        if batch_size < 1:
            raise ConfigError(f"batch size {batch_size} must be at least 1; pass e.g. --batch-size 32.")
        inputs = self._as_list(inputs)[0]
        unit = "img" if self.modality == "image" else "texts"
        encoded = self._encoded_batches(inputs, batch_size, workers)
        for _, x in track_items(encoded, len(inputs), "Predicting", unit,
                                enabled=progress and len(inputs) > batch_size, size=lambda pair: pair[0]):
            probs = self._probabilities(self.model(x))
            if tta and self.modality == "image":
                probs = (probs + self._probabilities(self.model(torch.flip(x, dims=[3])))) / 2
            yield probs.cpu().numpy()

    def predict_proba(self, inputs: Sequence[Any], batch_size: int = 32, tta: bool = False, progress: bool = False,
                      workers: int | None = None) -> np.ndarray:
        """Class probabilities (multi-label: one independent probability per label), ``[len(inputs), num_classes]``."""
        out = list(self.iter_proba(inputs, batch_size, tta, progress, workers))
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)), dtype=np.float32)

    def _probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Softmax over classes, or for a multi-label run a sigmoid per label."""
        return logits.float().sigmoid() if self.task == "multi-label" else logits.float().softmax(1)

    @torch.inference_mode()
    def predict_logits(self, inputs: Sequence[Any], batch_size: int = 32) -> np.ndarray:
        return np.concatenate([self.model(self._encode(b)).float().cpu().numpy()
                               for b in _batches(self._as_list(inputs)[0], batch_size)])

    def predict(self, inputs: Any, top_k: int = 5, batch_size: int = 32, tta: bool = False,
                progress: bool = False) -> list[dict[str, Any]] | dict[str, Any]:
        """Top-k labels with probabilities: a dict for one input, a list of dicts for a list.

        >>> Predictor.from_run("runs/pets").predict("cat.jpg")["label"]      # doctest: +SKIP
        'cat'
        """
        items, single = self._as_list(inputs)
        probs = self.predict_proba(items, batch_size=batch_size, tta=tta, progress=progress)
        results = format_predictions(probs, self.classes, top_k, task=self.task, thresholds=self.thresholds)
        return results[0] if single else results


def preprocess(item: Any, transform: Any) -> torch.Tensor:
    """One image input through ``transform``: files, bytes and PIL images are decoded as `serve`
    decodes uploads; arrays, tensors and rows of an in-memory dataset via :mod:`headstart.data.inputs`."""
    if isinstance(item, (str, Path, bytes, bytearray, Image.Image)):
        return transform(open_rgb(item))
    from ..data.inputs import image_tensor

    return transform(image_tensor(item))


def loader_workers() -> int:
    """Decoding workers for prediction: one per core the model does not need, at most 4."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS / Windows
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, cpus - 1))


class _DecodedImages(torch.utils.data.Dataset):
    """Images (paths or bytes) preprocessed for the model; an unreadable one becomes its error text."""

    def __init__(self, items: Sequence[Any], transform: Any):
        self.items, self.transform = items, transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> torch.Tensor | str:
        from ..errors import HeadstartError

        try:
            return preprocess(self.items[index], self.transform)
        except HeadstartError as exc:  # raised in the main process, not wrapped in a worker traceback
            return str(exc)


def _stack_or_error(samples: list[torch.Tensor | str]) -> torch.Tensor | str:
    errors = [s for s in samples if isinstance(s, str)]
    return errors[0] if errors else torch.stack(samples)

