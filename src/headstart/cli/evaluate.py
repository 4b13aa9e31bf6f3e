"""``headstart evaluate RUN DATA``: accuracy, macro-F1, per-class precision/recall, confusion matrix."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from .app import app


@app.command("evaluate", help="Evaluate a trained run on labelled data (a folder's val/ split if present, else all of it).\n\n"
             "Example:\n\n  headstart evaluate runs/my-run examples/ants_bees\n\n  headstart evaluate runs/text-run test.csv --json")
def evaluate(
    run: Path = typer.Argument(..., help="Run folder written by `headstart train`."),
    data: str = typer.Argument(..., help="Image folder / CSV (images) or CSV/TSV/JSONL (text)."),
    batch_size: int = typer.Option(32, help="Batch size."),
    text_column: str = typer.Option("text", help="Text column (text runs)."),
    label_column: str = typer.Option("label", help="Label column (text runs)."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> None:
    from rich.console import Console
    from rich.table import Table

    from ..evaluation import evaluate_run

    metrics = evaluate_run(run, data, batch_size=batch_size, progress=not as_json,
                           text_column=text_column, label_column=label_column)
    if as_json:
        print(json.dumps(metrics))
        return
    console = Console()
    multi = metrics.get("task") == "multi-label"
    if multi:
        console.print(f"samples={metrics['num_samples']}  mAP={metrics['map']:.4f}  micro_f1={metrics['micro_f1']:.4f}  "
                      f"macro_f1={metrics['macro_f1']:.4f}  exact_match={metrics['accuracy']:.4f}  loss={metrics['loss']:.4f}")
    else:
        console.print(f"samples={metrics['num_samples']}  accuracy={metrics['accuracy']:.4f}  "
                      f"macro_f1={metrics['macro_f1']:.4f}  loss={metrics['loss']:.4f}")
    table = Table(title="Per label (at the run's thresholds)" if multi else "Per class")
    for col in ("class", "precision", "recall", "f1", "support") + (("AP", "threshold") if multi else ()):
        table.add_column(col, justify="left" if col == "class" else "right")
    for name, row in metrics["per_class"].items():
        extra = ["-" if row["ap"] is None else f"{row['ap']:.3f}", f"{row['threshold']:.3f}"] if multi else []
        table.add_row(name, f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}", str(row["support"]), *extra)
    console.print(table)
    if multi:  # an item can be right on one label and wrong on another: no confusion matrix
        return
    cm = Table(title="Confusion matrix (rows = true, columns = predicted)")
    cm.add_column("")
    for name in metrics["classes"]:
        cm.add_column(name, justify="right")
    for name, row in zip(metrics["classes"], metrics["confusion_matrix"]):
        cm.add_row(name, *[str(v) for v in row])
    console.print(cm)
