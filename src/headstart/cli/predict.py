"""``headstart predict RUN PATH...``: top-k labels for images (files/folders) or texts."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from contextlib import contextmanager
from typing import Iterator, Optional

import typer

from .app import app


def expand_texts(items: list[str]) -> list[str]:
    texts: list[str] = []
    for item in items:
        path = Path(item)
        if len(item) < 4096 and path.suffix.lower() in (".txt", ".csv", ".tsv", ".jsonl") and path.is_file():
            from ..data.text import read_texts

            texts.extend(read_texts(str(path)))
        else:
            texts.append(item)
    return texts


@app.command("predict", help="Predict labels with a trained run (images: files or folders; text: strings or a .txt/.csv/.jsonl file).\n\n"
             "Examples:\n\n  headstart predict runs/my-run photo.jpg more_photos/ --top-k 2\n\n"
             "  headstart predict runs/text-run \"great movie\" \"awful plot\" --json\n\n"
             "  headstart predict runs/my-run photos/ --onnx runs/my-run/export/model.onnx --csv out.csv")
def predict(
    run: Path = typer.Argument(..., help="Run folder written by `headstart train`."),
    inputs: list[str] = typer.Argument(..., help="Image files/folders, or texts / a text file for text runs."),
    top_k: int = typer.Option(3, help="How many labels to show per input."),
    batch_size: int = typer.Option(32, help="Batch size."),
    tta: bool = typer.Option(False, "--tta", help="Test-time augmentation: average with the horizontal flip (images)."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines output."),
    csv_path: Optional[Path] = typer.Option(None, "--csv", help="Also write predictions to this CSV file."),
    onnx: Optional[Path] = typer.Option(None, "--onnx", help="Use this exported ONNX file (onnxruntime, no torch at predict time)."),
) -> None:
    if onnx is not None:
        from ..export.onnx_predictor import OnnxPredictor

        predictor = OnnxPredictor.from_files(onnx, run)
    else:
        from ..export.predictor import Predictor

        predictor = Predictor.from_run(run)
    if predictor.modality == "image":
        from ..data.image_files import expand_image_paths  # torch-free: --onnx never imports torch

        items = expand_image_paths(inputs)
    else:
        items = expand_texts(inputs)
    # Results are written batch by batch as they come: a folder of 10k images never sits in memory.
    probs = predictor.iter_proba(items, batch_size=batch_size, tta=tta, progress=not as_json)
    batches = _labelled(items, probs, predictor.classes, top_k)
    with _csv_writer(csv_path) as write_csv:
        if as_json:
            for item, res in batches:
                write_csv(item, res)
                sys.stdout.write(json.dumps({"input": item, **res}) + "\n")
            return
        from rich.console import Console
        from rich.table import Table

        table = Table()
        table.add_column("input", overflow="fold")
        for i in range(min(top_k, len(predictor.classes))):
            table.add_column(f"#{i + 1}")
        for item, res in batches:
            write_csv(item, res)
            shown = item if len(item) <= 80 else item[:77] + "..."
            table.add_row(shown, *[f"{t['label']} {t['probability']:.3f}" for t in res["top_k"]])
    Console().print(table)


def _labelled(items: list[str], probs: Iterator, classes: list[str], top_k: int) -> Iterator[tuple[str, dict]]:
    """``(input, prediction)`` pairs in input order from a stream of per-batch probabilities."""
    from ..export.onnx_predictor import format_predictions

    start = 0
    for batch in probs:
        for item, res in zip(items[start:start + len(batch)], format_predictions(batch, classes, top_k)):
            yield item, res
        start += len(batch)


@contextmanager
def _csv_writer(csv_path: Optional[Path]) -> Iterator:
    """A ``write(input, prediction)`` function appending CSV rows (a no-op without ``--csv``)."""
    if csv_path is None:
        yield lambda item, res: None
        return
    with open(csv_path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["input", "label", "probability", "top_k"])
        yield lambda item, res: writer.writerow([item, res["label"], res["probability"], json.dumps(res["top_k"])])
