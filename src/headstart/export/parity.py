"""Parity: an exported model must give the PyTorch model's logits on real validation inputs.

Why: an export can go wrong silently (a shape baked in by tracing, an op translated differently,
weights lost). Every ``headstart export`` runs the exported file and the PyTorch model on up to
``max_inputs`` of the run's own validation inputs (``val_predictions.json``), preprocessed like
evaluation, once one input per batch and once all inputs in one batch (which proves the batch
size, and for text the sequence length, is dynamic). It stores the largest absolute logit
difference and the top-1 agreement in ``export/parity.json`` and fails above tolerance.

Example::

    result = verified_export(run, "onnx", out_dir, export_fn, runner_fn, atol=1e-4)
    result.report.max_abs_diff     # e.g. 2.2e-08
"""
from __future__ import annotations

import datetime as _dt
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import HeadstartError, RunError
from ..run_files import write_json
from ..run_model import RunModel
from .onnx_predictor import IMAGE_INPUTS, TEXT_INPUTS, write_preprocessing

PARITY_FILE = "parity.json"
DEFAULT_ATOL = 1e-4
DEFAULT_MAX_INPUTS = 32

Feeds = dict[str, np.ndarray]
Runner = Callable[[Feeds], np.ndarray]


class ExportError(HeadstartError):
    """An export that could not be written or verified."""


class ParityError(ExportError):
    """The exported model's logits differ from the PyTorch model's beyond the tolerance."""


# ----------------------------------------------------------------------------- what is exported
class ImageClassifier(nn.Module):
    """``pixel_values [B,3,H,W]`` (normalised) -> ``logits [B,C]``: the run's model, named inputs."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values)


class TextClassifier(nn.Module):
    """``input_ids, attention_mask [B,T]`` -> ``logits [B,C]``: tensors in, not a dict."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model({"input_ids": input_ids, "attention_mask": attention_mask})


def exportable(run: RunModel) -> nn.Module:
    """The run's classifier (eval mode, CPU) with positional tensor inputs, ready to export."""
    model = run.model.to("cpu").eval()
    return (TextClassifier(model) if run.modality == "text" else ImageClassifier(model)).eval()


def input_names(modality: str) -> list[str]:
    """Input names of the exported graph for ``modality``."""
    return list(TEXT_INPUTS if modality == "text" else IMAGE_INPUTS)


# ----------------------------------------------------------------------------- real inputs
def validation_items(run: RunModel, limit: int = DEFAULT_MAX_INPUTS) -> list[str]:
    """Up to ``limit`` validation inputs (image paths or texts) from ``val_predictions.json``.

    Spread over the file (every k-th item) so several classes are covered. Image files that no
    longer exist are skipped; none left is an error that says why.
    """
    path = run.run_dir / "val_predictions.json"
    if not path.is_file():
        raise RunError(f"{path} is missing: export checks parity on the run's validation inputs.",
                       "Use a run folder written by a finished `headstart train`.")
    items = [str(i["input"]) for i in json.loads(path.read_text()).get("items", [])]
    if run.modality == "image":
        items = [i for i in items if Path(i).is_file()]
    if not items:
        raise RunError(f"{path} lists no usable validation inputs (image files moved or deleted?).",
                       "Keep the training data where it was when the run was trained.")
    step = max(1, len(items) // max(1, limit))
    return items[::step][:limit]


class InputEncoder:
    """Turns validation items into model feeds exactly like evaluation does."""

    def __init__(self, run: RunModel):
        self.modality = run.modality
        if self.modality == "text":
            self.tokenizer = run.model.backbone.tokenizer
            self.max_length = run.data_config.max_length or 128
        else:
            from ..data.transforms import build_transforms

            self.transform = build_transforms(run.data_config, train=False)

    def __call__(self, items: Sequence[str]) -> Feeds:
        if self.modality == "text":
            from ..data.text_datamodule import tokenize_texts

            enc = tokenize_texts(self.tokenizer, list(items), self.max_length)
            return {n: enc[n].numpy() for n in TEXT_INPUTS}
        from ..data.images import read_image_rgb

        x = torch.stack([self.transform(read_image_rgb(p)) for p in items])
        return {IMAGE_INPUTS[0]: x.numpy()}


def parity_batches(run: RunModel, items: Sequence[str]) -> dict[int, list[Feeds]]:
    """Feeds per batch size: every item alone (size 1), and all items in one batch (size N >= 2)."""
    items = list(items) if len(items) > 1 else list(items) * 2
    encode = InputEncoder(run)
    return {1: [encode([i]) for i in items], len(items): [encode(items)]}


def example_feeds(run: RunModel, batches: dict[int, list[Feeds]]) -> Feeds:
    """The tracing example: the full batch; for text with one extra padded position.

    The padded column makes the attention mask hold zeros while tracing, so no exporter can
    specialise the graph to "no padding" (the torch model ignores the extra position).
    """
    feeds = dict(batches[max(batches)][0])
    if run.modality == "text":
        pad_id = getattr(run.model.backbone.tokenizer, "pad_token_id", None) or 0
        ids, mask = feeds["input_ids"], feeds["attention_mask"]
        feeds = {"input_ids": np.concatenate([ids, np.full((len(ids), 1), pad_id, dtype=np.int64)], 1),
                 "attention_mask": np.concatenate([mask, np.zeros((len(mask), 1), dtype=np.int64)], 1)}
    return feeds


def as_tensors(feeds: Feeds, names: Sequence[str]) -> tuple[torch.Tensor, ...]:
    """Feeds as the positional tensor tuple the exported module takes."""
    return tuple(torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in names)


def torch_runner(module: nn.Module, names: Sequence[str]) -> Runner:
    """A runner for the PyTorch reference (CPU, inference mode)."""

    def run(feeds: Feeds) -> np.ndarray:
        with torch.inference_mode():
            return module(*as_tensors(feeds, names)).float().numpy()

    return run


# ----------------------------------------------------------------------------- the comparison
@dataclass
class ParityReport:
    """How closely an exported model follows the PyTorch model on real inputs."""

    format: str
    backend: str
    atol: float
    n_inputs: int
    batch_sizes: list[int]
    max_abs_diff: float
    top1_agreement: float
    per_batch_size: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.max_abs_diff <= self.atol and self.top1_agreement >= 1.0)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}

    def summary(self) -> str:
        return (f"{self.format} ({self.backend}): max |logit diff| {self.max_abs_diff:.3g} "
                f"(atol {self.atol:g}), top-1 agreement {self.top1_agreement:.4f} on {self.n_inputs} "
                f"validation inputs at batch sizes {self.batch_sizes}")


def compare(reference: Runner, candidate: Runner, batches: dict[int, list[Feeds]], *, fmt: str,
            backend: str, atol: float) -> ParityReport:
    """Run both on every batch; max absolute logit difference and top-1 agreement over all rows."""
    rows, worst, agree = [], 0.0, []
    for size, feeds_list in sorted(batches.items()):
        diffs, same, seconds = [], [], 0.0
        for feeds in feeds_list:
            expected = reference(feeds)
            start = time.perf_counter()
            got = np.asarray(candidate(feeds), dtype=np.float32)
            seconds += time.perf_counter() - start
            if got.shape != expected.shape:
                raise ParityError(f"{fmt} export returns logits of shape {tuple(got.shape)} for a batch "
                                  f"of {size}, PyTorch {tuple(expected.shape)}: the batch or sequence "
                                  "size is not dynamic.", "Export again with --exporter torchscript or report it.")
            diffs.append(float(np.abs(got - expected).max()) if got.size else 0.0)
            same.extend((got.argmax(1) == expected.argmax(1)).tolist())
        rows.append({"batch_size": size, "batches": len(feeds_list), "max_abs_diff": max(diffs),
                     "top1_agreement": float(np.mean(same)), "seconds": round(seconds, 6)})
        worst = max(worst, max(diffs))
        agree.extend(same)
    n_inputs = max(len(v) * k for k, v in batches.items())
    return ParityReport(fmt, backend, float(atol), n_inputs, sorted(batches), worst,
                        float(np.mean(agree)), rows)


# ----------------------------------------------------------------------------- the export flow
@dataclass
class ExportResult:
    """Where an export went and how it compared with PyTorch."""

    path: Path
    preprocessing_path: Path
    parity_path: Path
    report: ParityReport


def _store(parity_path: Path, report: ParityReport, artifact: Path) -> None:
    """Merge this format's entry into ``parity.json`` (one file for all formats of a run)."""
    existing: dict[str, Any] = {}
    if parity_path.is_file():
        try:
            existing = json.loads(parity_path.read_text())
        except json.JSONDecodeError:
            existing = {}
    existing[report.format] = {
        "file": artifact.name, **report.to_dict(), "torch_version": torch.__version__,
        "created": _dt.datetime.now().isoformat(timespec="seconds"),
    }
    write_json(parity_path, existing)  # strict JSON: a NaN difference is written as null


def verified_export(
    run: RunModel,
    fmt: str,
    path: Path,
    export_fn: Callable[[nn.Module, tuple[torch.Tensor, ...], list[str], Path], dict[str, Any]],
    runner_fn: Callable[[Path], Runner],
    *,
    backend: str,
    atol: float = DEFAULT_ATOL,
    max_inputs: int = DEFAULT_MAX_INPUTS,
) -> ExportResult:
    """Export ``run`` with ``export_fn`` to ``path``, write preprocessing.json, check parity.

    ``export_fn(module, example, names, path)`` writes the file and returns details to record
    (exporter, opset ...). On a mismatch the exported file is deleted (so nothing unverified is
    left to deploy), ``parity.json`` keeps the numbers, and :class:`ParityError` says what failed.
    """
    if not atol > 0:
        raise ExportError(f"--atol must be a positive number, got {atol!r}.")
    if max_inputs < 1:
        raise ExportError(f"--max-inputs must be at least 1, got {max_inputs!r}.")
    path.parent.mkdir(parents=True, exist_ok=True)
    module = exportable(run)
    names = input_names(run.modality)
    batches = parity_batches(run, validation_items(run, max_inputs))
    example = as_tensors(example_feeds(run, batches), names)
    details = export_fn(module, example, names, path)
    preprocessing_path = write_preprocessing(path.parent, run.info, run.run_dir)
    report = compare(torch_runner(module, names), runner_fn(path), batches, fmt=fmt, backend=backend,
                     atol=atol)
    report.details = dict(details)
    parity_path = path.parent / PARITY_FILE
    _store(parity_path, report, path)
    if not report.passed:
        for leftover in (path, path.with_name(path.name + ".data")):
            leftover.unlink(missing_ok=True)
        raise ParityError(f"{fmt} export of {run.run_dir} does not match PyTorch: {report.summary()}; "
                          f"{path.name} was deleted, numbers are in {parity_path}.",
                          "Try another --opset/--exporter, or raise --atol if the difference is expected.")
    return ExportResult(path, preprocessing_path, parity_path, report)
