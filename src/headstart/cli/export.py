"""``headstart export RUN --format onnx|torchscript|hf``: a deployable model file, checked against PyTorch,
or a Hugging Face folder with a model card (``--push-to-hub REPO`` uploads it)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import app

FORMATS = ("onnx", "torchscript", "hf")


@app.command("export", help="Export a trained run to ONNX or TorchScript, verified on the run's validation inputs, "
             "or to a Hugging Face folder.\n\n"
             "Writes RUN/export/model.onnx (or model.torchscript.pt), preprocessing.json and parity.json; "
             "fails (exit 2) when the logits differ from PyTorch by more than --atol or any top-1 label differs. "
             "--format hf writes RUN/export/hf/ (model.safetensors, config.json, preprocessing, model card README.md).\n\n"
             "Examples:\n\n  headstart export runs/my-run\n\n"
             "  headstart export runs/my-run --format torchscript --output deploy/\n\n"
             "  headstart export runs/my-run --format hf --push-to-hub me/my-model\n\n"
             "  headstart predict runs/my-run photo.jpg --onnx runs/my-run/export/model.onnx")
def export(
    run: Path = typer.Argument(..., help="Run folder written by `headstart train`."),
    format_: str = typer.Option("onnx", "--format", "-f", help="onnx | torchscript | hf."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Folder for the files (default: RUN/export)."),
    opset: int = typer.Option(18, help="ONNX opset (18+ uses the torch.export-based exporter)."),
    atol: float = typer.Option(1e-4, help="Largest allowed absolute logit difference from PyTorch."),
    max_inputs: int = typer.Option(32, help="How many validation inputs the parity check uses."),
    exporter: str = typer.Option("auto", help="ONNX exporter: auto | dynamo | torchscript."),
    push_to_hub: Optional[str] = typer.Option(None, "--push-to-hub", metavar="REPO",
                                              help="hf: upload the folder to this Hub repo (needs network and a token)."),
) -> None:
    from rich.console import Console
    from rich.table import Table

    from ..errors import ConfigError

    fmt = format_.strip().lower()
    if fmt not in FORMATS:
        raise ConfigError(f"--format {format_!r} is not supported; use one of {', '.join(FORMATS)}.")
    console = Console()
    if push_to_hub and fmt != "hf":
        raise ConfigError(f"--push-to-hub needs --format hf, not {fmt!r}.")
    if fmt == "hf":
        from ..export.hf_export import export_hf

        hf = export_hf(run, output, push_to_hub=push_to_hub)
        console.print(f"Hugging Face folder: {hf.path}\nModel card: {hf.card_path}")
        if hf.url:
            console.print(f"Pushed to {hf.url}")
        return
    with console.status(f"Exporting {run} to {fmt} and checking parity ..."):
        if fmt == "onnx":
            from ..export.onnx_export import export_onnx

            result = export_onnx(run, output, opset=opset, atol=atol, max_inputs=max_inputs, exporter=exporter)
        else:
            from ..export.torchscript_export import export_torchscript

            result = export_torchscript(run, output, atol=atol, max_inputs=max_inputs)
    report = result.report
    table = Table(title=f"Parity with PyTorch on {report.n_inputs} validation inputs ({report.backend})")
    for column in ("batch size", "batches", "max |logit diff|", "top-1 agreement"):
        table.add_column(column, justify="right")
    for row in report.per_batch_size:
        table.add_row(str(row["batch_size"]), str(row["batches"]), f"{row['max_abs_diff']:.3g}",
                      f"{row['top1_agreement']:.4f}")
    console.print(table)
    exporter_note = report.details.get("exporter", "")
    if report.details.get("fallback_reason"):
        exporter_note += f" (fallback: {report.details['fallback_reason']})"
    console.print(f"max_abs_diff={report.max_abs_diff:.3g} (atol {report.atol:g})  "
                  f"top1_agreement={report.top1_agreement:.4f}  exporter={exporter_note}")
    console.print(f"Model: {result.path}")
    console.print(f"Preprocessing: {result.preprocessing_path}")
    console.print(f"Parity: {result.parity_path}")
