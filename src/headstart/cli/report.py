"""``headstart report RUN``: regenerate a run's plots and self-contained report.html."""
from __future__ import annotations

from pathlib import Path

import typer

from .app import app


@app.command("report")
def report_command(
    run: Path = typer.Argument(..., help="Run folder written by `headstart train`, e.g. runs/flowers."),
) -> None:
    """Regenerate the plots and the self-contained report.html of a finished run.

    The report is built only from the run folder's files (metrics.json, model.json, params.json,
    val_predictions.json, config.yaml), so it works on any machine, without the model or a GPU.

    Example: headstart report runs/flowers
    """
    from ..report.html import write_report  # matplotlib: imported only when a report is built

    typer.echo(str(write_report(run)))
