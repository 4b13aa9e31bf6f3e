"""``headstart export RUN --format onnx|torchscript``: a deployable model file, checked against PyTorch."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .app import app

FORMATS = ("onnx", "torchscript")


@app.command("export", help="Export a trained run to ONNX or TorchScript, verified on the run's validation inputs.\n\n"
             "Writes RUN/export/model.onnx (or model.torchscript.pt), preprocessing.json and parity.json; "
             "fails (exit 2) when the logits differ from PyTorch by more than --atol or any top-1 label differs.\n\n"
             "Examples:\n\n  headstart export runs/my-run\n\n"
             "  headstart export runs/my-run --format torchscript --output deploy/\n\n"
             "  headstart predict runs/my-run photo.jpg --onnx runs/my-run/export/model.onnx")
def export(
    run: Path = typer.Argument(..., help="Run folder written by `headstart train`."),
    format_: str = typer.Option("onnx", "--format", "-f", help="onnx | torchscript."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Folder for the files (default: RUN/export)."),
    opset: int = typer.Option(18, help="ONNX opset (18+ uses the torch.export-based exporter)."),
    atol: float = typer.Option(1e-4, help="Largest allowed absolute logit difference from PyTorch."),
    max_inputs: int = typer.Option(32, help="How many validation inputs the parity check uses."),
    exporter: str = typer.Option("auto", help="ONNX exporter: auto | dynamo | torchscript."),
) -> None:
    from rich.console import Console
    from rich.table import Table

    from ..errors import ConfigError

    fmt = format_.strip().lower()
    if fmt not in FORMATS:
        raise ConfigError(f"--format {format_!r} is not supported; use one of {', '.join(FORMATS)}.")
    console = Console()
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
