"""TorchScript export (``torch.jit.trace``) of a run's classifier, verified against eager PyTorch.

Why trace and not script: Hugging Face encoders and timm models use Python that
``torch.jit.script`` rejects, while tracing records the ops run on an example. Tracing can bake
shapes or branches into the graph; the parity check runs the saved file on real validation inputs
at batch sizes 1 and N (text: other sequence lengths too), so such a graph fails loudly. The text
example holds a padded position so a mask-dependent branch is traced with padding present.
TorchScript is deprecated in torch 2.14 (it warns); ONNX is the export to prefer for serving
without Python, TorchScript the one for C++ LibTorch or a torch-only environment.

Load the result with ``torch.jit.load("runs/pets/export/model.torchscript.pt")`` and call it with
``pixel_values`` or ``(input_ids, attention_mask)``; preprocessing is in ``preprocessing.json``.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..run_model import load_run
from .parity import (DEFAULT_ATOL, DEFAULT_MAX_INPUTS, ExportError, ExportResult, Feeds, Runner, as_tensors,
                     verified_export)

TORCHSCRIPT_FILE = "model.torchscript.pt"


def to_torchscript(module: nn.Module, example: tuple[torch.Tensor, ...], names: list[str],
                   path: Path) -> dict[str, Any]:
    """Trace ``module`` on ``example`` and save it to ``path``; returns details to record."""
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # jit deprecation and tracer notices; parity is the check
            traced = torch.jit.trace(module, example, check_trace=False)
            traced.save(str(path))
    except Exception as exc:
        raise ExportError(f"torch.jit.trace failed ({type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}).",
                          "Use --format onnx instead.") from exc
    return {"exporter": "torch.jit.trace", "inputs": list(names)}


def torchscript_runner(path: Path) -> Runner:
    """The saved TorchScript file as a feeds -> logits function (CPU)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = torch.jit.load(str(path), map_location="cpu").eval()
    names = [a.name for a in module.forward.schema.arguments[1:]]

    def run(feeds: Feeds) -> np.ndarray:
        with torch.inference_mode():
            return module(*as_tensors(feeds, names)).float().numpy()

    return run


def export_torchscript(
    run_dir: str | Path,
    output_dir: str | Path | None = None,
    *,
    atol: float = DEFAULT_ATOL,
    max_inputs: int = DEFAULT_MAX_INPUTS,
) -> ExportResult:
    """Export ``run_dir``'s classifier to ``<output_dir or run_dir/export>/model.torchscript.pt``, verified.

    Like :func:`headstart.export.onnx_export.export_onnx`: preprocessing.json beside it, parity
    numbers in parity.json, :class:`~headstart.export.parity.ParityError` beyond ``atol``.
    """
    run = load_run(run_dir)
    out = Path(output_dir) if output_dir is not None else run.run_dir / "export"

    def export_fn(module: nn.Module, example: tuple, names: list[str], path: Path) -> dict[str, Any]:
        return to_torchscript(module, example, names, path)

    return verified_export(run, "torchscript", out / TORCHSCRIPT_FILE, export_fn, torchscript_runner,
                           backend=f"torch.jit {torch.__version__}", atol=atol, max_inputs=max_inputs)
