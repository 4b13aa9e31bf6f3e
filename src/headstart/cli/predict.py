"""``headstart predict RUN PATH...``: top-k labels for images (files/folders) or texts."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Optional

import typer

from .app import app


def expand_image_paths(paths: list[str]) -> list[str]:
    from ..data.images import is_image_file
    from ..errors import DataError

    out: list[str] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(str(f) for f in path.rglob("*") if f.is_file() and is_image_file(f))
            if not found:
                raise DataError(f"Folder {p} contains no images.", "Pass image files or folders with .jpg/.png images.")
            out.extend(found)
        elif path.is_file():
            out.append(str(path))
        else:
            raise DataError(f"{p} does not exist.", "Pass existing image files or folders.")
    return out


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
    from rich.console import Console
    from rich.table import Table

    if onnx is not None:
        from ..export.onnx_predictor import OnnxPredictor

        predictor = OnnxPredictor.from_files(onnx, run)
    else:
        from ..export.predictor import Predictor

        predictor = Predictor.from_run(run)
    items = expand_image_paths(inputs) if predictor.modality == "image" else expand_texts(inputs)
    results = predictor.predict(items, top_k=top_k, batch_size=batch_size, tta=tta, progress=not as_json)
    multi = getattr(predictor, "task", "single-label") == "multi-label"  # results carry a label set too
    if csv_path is not None:
        with open(csv_path, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["input", "label", "probability", "top_k"] + (["labels"] if multi else []))
            for item, res in zip(items, results):
                writer.writerow([item, res["label"], res["probability"], json.dumps(res["top_k"])]
                                + ([";".join(s["label"] for s in res["labels"])] if multi else []))
    if as_json:
        for item, res in zip(items, results):
            sys.stdout.write(json.dumps({"input": item, **res}) + "\n")
        return
    table = Table()
    table.add_column("input", overflow="fold")
    if multi:
        table.add_column("labels (above threshold)", overflow="fold")
    for i in range(min(top_k, len(predictor.classes))):
        table.add_column(f"#{i + 1}")
    for item, res in zip(items, results):
        shown = item if len(item) <= 80 else item[:77] + "..."
        chosen = [", ".join(f"{s['label']} {s['probability']:.3f}" for s in res["labels"]) or "(none)"] if multi else []
        table.add_row(shown, *chosen, *[f"{t['label']} {t['probability']:.3f}" for t in res["top_k"]])
    Console().print(table)
