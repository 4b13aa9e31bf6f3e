"""Predictor: a run folder in, labels and probabilities out. Needs nothing but the folder.

Images are decoded and preprocessed exactly like validation images (resize, centre crop,
normalisation from the weights' data config); texts are tokenised with the tokenizer saved in the
run. ``tta=True`` averages the probabilities of the image and its horizontal flip.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from ..run_model import RunModel, load_run
from .onnx_predictor import format_predictions, open_rgb  # torch-free, shared with the ONNX predictor


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

    def _image_tensor(self, item: Any) -> torch.Tensor:
        return self.transform(open_rgb(item))

    def _encode(self, batch: Sequence[Any]) -> Any:
        if self.modality == "image":
            return torch.stack([self._image_tensor(x) for x in batch]).to(self.device)
        from ..data.text_datamodule import tokenize_texts

        enc = tokenize_texts(self.tokenizer, [str(t) for t in batch], self.max_length)
        return {k: v.to(self.device) for k, v in enc.items()}

    @torch.inference_mode()
    def predict_proba(self, inputs: Sequence[Any], batch_size: int = 32, tta: bool = False, progress: bool = False) -> np.ndarray:
        """Class probabilities (multi-label: one independent probability per label), ``[len(inputs), num_classes]``."""
        out = []
        batches = list(_batches(list(inputs), batch_size))
        iterator: Iterable = batches
        if progress and len(batches) > 1:
            from rich.progress import track

            iterator = track(batches, description="Predicting")
        for batch in iterator:
            x = self._encode(batch)
            probs = self._probabilities(self.model(x))
            if tta and self.modality == "image":
                probs = (probs + self._probabilities(self.model(torch.flip(x, dims=[3])))) / 2
            out.append(probs.cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, len(self.classes)), dtype=np.float32)

    def _probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Softmax over classes, or for a multi-label run a sigmoid per label."""
        return logits.float().sigmoid() if self.task == "multi-label" else logits.float().softmax(1)

    @torch.inference_mode()
    def predict_logits(self, inputs: Sequence[Any], batch_size: int = 32) -> np.ndarray:
        return np.concatenate([self.model(self._encode(b)).float().cpu().numpy() for b in _batches(list(inputs), batch_size)])

    def predict(self, inputs: Sequence[Any], top_k: int = 5, batch_size: int = 32, tta: bool = False, progress: bool = False) -> list[dict[str, Any]]:
        probs = self.predict_proba(inputs, batch_size=batch_size, tta=tta, progress=progress)
        return format_predictions(probs, self.classes, top_k, task=self.task, thresholds=self.thresholds)
