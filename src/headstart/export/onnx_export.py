"""ONNX export of a run's classifier, verified with onnxruntime on real validation inputs.

Which exporter: ``torch.onnx.export(..., dynamo=True)`` (torch.export + onnxscript) is the
default. On torch 2.14 it exports the shipped image backbones and the Hugging Face text encoders
with dynamic batch (and sequence) sizes, and it is the exporter torch maintains: the
TorchScript-based one warns that it will be removed. It is slower (seconds per model, not a
fraction of one) and writes opset 18 or newer only, so ``exporter="auto"`` uses the
TorchScript-based exporter (``dynamic_axes``) when a lower ``opset`` is asked for, or when
torch.export cannot capture the model; ``parity.json`` records which exporter ran and why.

Inputs: ``pixel_values [B,3,H,W]`` (normalised) for images; ``input_ids`` and ``attention_mask``
``[B,T]`` (int64) for text. Output: ``logits [B,C]``.

Example::

    result = export_onnx("runs/pets")               # runs/pets/export/model.onnx
    print(result.report.summary())
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from ..run_model import load_run
from .onnx_predictor import OUTPUT_NAME
from .parity import DEFAULT_ATOL, DEFAULT_MAX_INPUTS, ExportError, ExportResult, Feeds, Runner, verified_export

ONNX_FILE = "model.onnx"
DEFAULT_OPSET = 18
MIN_DYNAMO_OPSET = 18
MIN_OPSET = 9
EXPORTERS = ("auto", "dynamo", "torchscript")
_EXTERNAL_DATA_BYTES = 1_500_000_000  # protobuf files stop at 2 GB; bigger weights go beside them


def _check_options(opset: int, exporter: str) -> None:
    if exporter not in EXPORTERS:
        raise ConfigError(f"--exporter {exporter!r} is not one of {', '.join(EXPORTERS)}.")
    if not isinstance(opset, int) or opset < MIN_OPSET:
        raise ConfigError(f"--opset {opset!r} is too old; use {MIN_OPSET} or newer (default {DEFAULT_OPSET}).")
    if exporter == "dynamo" and opset < MIN_DYNAMO_OPSET:
        raise ConfigError(f"--exporter dynamo writes opset {MIN_DYNAMO_OPSET}+, not {opset}.",
                          "Use --exporter torchscript (or auto) for older opsets.")


def _weight_bytes(module: nn.Module) -> int:
    tensors = list(module.parameters()) + list(module.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


def _dynamo_export(module: nn.Module, example: tuple, names: list[str], path: Path, opset: int) -> None:
    batch = torch.export.Dim("batch")
    per_input: list[dict[int, Any]] = [{0: batch} for _ in names]
    if len(names) > 1:  # text: input_ids and attention_mask share batch and sequence length
        sequence = torch.export.Dim("sequence")
        per_input = [{0: batch, 1: sequence} for _ in names]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*axis name.*will not be used")  # shared dims, expected
        torch.onnx.export(module, example, str(path), input_names=names, output_names=[OUTPUT_NAME],
                          dynamic_shapes=tuple(per_input), opset_version=opset, dynamo=True, verbose=False,
                          external_data=_weight_bytes(module) > _EXTERNAL_DATA_BYTES)


def _torchscript_export(module: nn.Module, example: tuple, names: list[str], path: Path, opset: int) -> None:
    axes = {n: ({0: "batch", 1: "sequence"} if len(names) > 1 else {0: "batch"}) for n in names}
    axes[OUTPUT_NAME] = {0: "batch"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation notices and tracer warnings; parity is the check
        torch.onnx.export(module, example, str(path), input_names=names, output_names=[OUTPUT_NAME],
                          dynamic_axes=axes, opset_version=opset, dynamo=False)


def to_onnx(module: nn.Module, example: tuple[torch.Tensor, ...], names: list[str], path: Path,
            opset: int = DEFAULT_OPSET, exporter: str = "auto") -> dict[str, Any]:
    """Write ``module`` to ``path`` as ONNX with dynamic batch (and sequence) axes.

    Returns what to record: the exporter that ran, the opset in the file, and why the
    TorchScript-based exporter was used when ``exporter="auto"`` fell back to it.
    """
    import onnx

    _check_options(opset, exporter)
    path.with_name(path.name + ".data").unlink(missing_ok=True)
    details: dict[str, Any] = {"requested_opset": opset}
    use = exporter
    if exporter == "auto":
        use = "dynamo" if opset >= MIN_DYNAMO_OPSET else "torchscript"
        if use == "torchscript":
            details["fallback_reason"] = f"opset {opset} < {MIN_DYNAMO_OPSET}"
    if use == "dynamo":
        try:
            _dynamo_export(module, example, names, path, opset)
        except Exception as exc:  # torch.export cannot capture every model; auto falls back
            if exporter == "dynamo":
                raise ExportError(f"torch.onnx.export(dynamo=True) failed: {str(exc).strip().splitlines()[0][:200]}",
                                  "Try --exporter torchscript.") from exc
            use = "torchscript"
            details["fallback_reason"] = f"dynamo export failed: {str(exc).strip().splitlines()[0][:200]}"
    if use == "torchscript":
        try:
            _torchscript_export(module, example, names, path, opset)
        except Exception as exc:
            raise ExportError(f"ONNX export failed ({type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}).",
                              "Try another --opset, or --format torchscript.") from exc
    onnx.checker.check_model(str(path))
    model = onnx.load(str(path), load_external_data=False)
    details["exporter"] = use
    details["opset"] = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    details["external_data"] = path.with_name(path.name + ".data").is_file()
    return details


def onnx_runner(path: Path, providers: Sequence[str] = ("CPUExecutionProvider",)) -> Runner:
    """An onnxruntime session on ``path`` as a feeds -> logits function."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=list(providers))
    wanted = [i.name for i in session.get_inputs()]

    def run(feeds: Feeds) -> np.ndarray:
        return np.asarray(session.run(None, {n: feeds[n] for n in wanted})[0])

    return run


def export_onnx(
    run_dir: str | Path,
    output_dir: str | Path | None = None,
    *,
    opset: int = DEFAULT_OPSET,
    atol: float = DEFAULT_ATOL,
    max_inputs: int = DEFAULT_MAX_INPUTS,
    exporter: str = "auto",
) -> ExportResult:
    """Export ``run_dir``'s classifier to ``<output_dir or run_dir/export>/model.onnx``, verified.

    Writes ``preprocessing.json`` (and ``tokenizer/`` for text) beside it and the parity numbers
    against PyTorch (onnxruntime, batch sizes 1 and N) into ``parity.json``; raises
    :class:`~headstart.export.parity.ParityError` when they differ beyond ``atol``.
    """
    _check_options(opset, exporter)
    run = load_run(run_dir)
    out = Path(output_dir) if output_dir is not None else run.run_dir / "export"

    def export_fn(module: nn.Module, example: tuple, names: list[str], path: Path) -> dict[str, Any]:
        return to_onnx(module, example, names, path, opset=opset, exporter=exporter)

    import onnxruntime

    result = verified_export(run, "onnx", out / ONNX_FILE, export_fn, onnx_runner,
                             backend=f"onnxruntime {onnxruntime.__version__}", atol=atol, max_inputs=max_inputs)
    return result
