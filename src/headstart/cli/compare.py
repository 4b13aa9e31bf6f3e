"""``headstart compare RUN...``: final metrics and parameter counts of several runs side by side."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from .app import app


@app.command("compare")
def compare_command(
    runs: list[Path] = typer.Argument(..., help="One or more run folders, e.g. runs/head-only runs/two-phase."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per run (JSON lines) instead of a table."),
) -> None:
    """Compare runs: strategy, backbone, val accuracy, macro-F1, wall time, trainable/total params.

    Example: headstart compare runs/head-only runs/two-phase --json
    """
    from rich.console import Console

    from ..report.compare import compare_runs, format_compare  # imported on use: --help stays instant

    skipped: list[str] = []
    rows = compare_runs(runs, skipped)
    for note in skipped:
        typer.echo(f"note: skipped {note}", err=True)
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row))
    else:
        console = Console()
        console.print(format_compare(rows, console.width))
