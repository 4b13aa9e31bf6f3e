"""``headstart predict RUN PATH...``: top-k labels for images (files/folders) or texts."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Iterator, Optional

import typer

from .app import app


TEXT_FILE_SUFFIXES = (".txt", ".csv", ".tsv", ".jsonl")


def looks_like_path(item: str) -> bool:
    """True for an argument meant as a file: no spaces, and a text-file suffix or a folder part
    that exists (``data/missing.txt``, ``reviews/new``), so a typo is an error, not a sentence."""
    if not item or len(item) >= 4096 or any(c.isspace() for c in item):
        return False
    path = Path(item)
    return path.suffix.lower() in TEXT_FILE_SUFFIXES or ("/" in item and path.parent != Path(".") and path.parent.is_dir())


def expand_texts(items: list[str], literal: bool = False) -> list[str]:
    """Texts to classify: a .txt/.csv/.tsv/.jsonl argument is read as a file; ``literal`` takes every argument as text."""
    from ..errors import DataError

    texts: list[str] = []
    for item in items:
        path = Path(item)
        if literal or not looks_like_path(item):
            texts.append(item)
        elif path.is_file() and path.suffix.lower() in TEXT_FILE_SUFFIXES:
            from ..data.text import read_texts

            texts.extend(read_texts(str(path)))
        else:
            what = "does not exist" if not path.exists() else f"is not a {'/'.join(TEXT_FILE_SUFFIXES)} file"
            raise DataError(f"{item} looks like a file path but {what}.",
                            "Fix the path, or pass --text to classify the arguments as literal texts.")
    return texts


@app.command("predict", help="Predict labels with a trained run (images: files or folders; text: strings or a .txt/.csv/.jsonl file).\n\n"
             "Examples:\n\n  headstart predict runs/my-run photo.jpg more_photos/ --top-k 2\n\n"
             "  headstart predict runs/text-run \"great movie\" \"awful plot\" --json\n\n"
             "  headstart predict runs/my-run photos/ --onnx runs/my-run/export/model.onnx --csv out.csv")
def predict(
    run: Path = typer.Argument(..., help="Run folder written by `headstart train`."),
    inputs: list[str] = typer.Argument(..., help="Image files/folders, or texts / a text file for text runs."),
    top_k: int = typer.Option(3, min=1, help="How many labels to show per input."),
    batch_size: int = typer.Option(32, min=1, help="Batch size."),
    tta: bool = typer.Option(False, "--tta", help="Test-time augmentation: average with the horizontal flip (images)."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines output."),
    csv_path: Optional[Path] = typer.Option(None, "--csv", help="Also write predictions to this CSV file."),
    onnx: Optional[Path] = typer.Option(None, "--onnx", help="Use this exported ONNX file (onnxruntime, no torch at predict time)."),
    literal: bool = typer.Option(False, "--text", help="Text runs: classify every argument as text, even one that looks like a file path."),
) -> None:
    if csv_path is not None:
        _check_csv_target(csv_path)
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
        items = expand_texts(inputs, literal)
    # Results are written batch by batch as they come: a folder of 10k images never sits in memory.
    probs = predictor.iter_proba(items, batch_size=batch_size, tta=tta, progress=not as_json)
    batches = _labelled(items, probs, predictor, top_k)
    multi = getattr(predictor, "task", "single-label") == "multi-label"  # results carry a label set too
    with _csv_writer(csv_path, multi) as write_csv:
        if as_json:
            for item, res in batches:
                write_csv(item, res)
                sys.stdout.write(json.dumps({"input": item, **res}) + "\n")
            return
        from rich.console import Console
        from rich.table import Table

        table = Table()
        table.add_column("input", overflow="fold")
        if multi:
            table.add_column("labels (above threshold)", overflow="fold")
        for i in range(min(top_k, len(predictor.classes))):
            table.add_column(f"#{i + 1}")
        for item, res in batches:
            write_csv(item, res)
            shown = item if len(item) <= 80 else item[:77] + "..."
            chosen = [", ".join(f"{s['label']} {s['probability']:.3f}" for s in res["labels"]) or "(none)"] if multi else []
            table.add_row(shown, *chosen, *[f"{t['label']} {t['probability']:.3f}" for t in res["top_k"]])
    Console().print(table)


def _labelled(items: list[str], probs: Iterator, predictor: Any, top_k: int) -> Iterator[tuple[str, dict]]:
    """``(input, prediction)`` pairs in input order from a stream of per-batch probabilities."""
    from ..export.onnx_predictor import format_predictions

    task, thresholds = getattr(predictor, "task", "single-label"), getattr(predictor, "thresholds", None)
    start = 0
    for batch in probs:
        for item, res in zip(items[start:start + len(batch)],
                             format_predictions(batch, predictor.classes, top_k, task=task, thresholds=thresholds)):
            yield item, res
        start += len(batch)


@contextmanager
def _csv_writer(csv_path: Optional[Path], multi: bool = False) -> Iterator:
    """A ``write(input, prediction)`` function appending CSV rows (a no-op without ``--csv``);
    multi-label runs add a ``labels`` column (the label set above the thresholds, ``;``-separated)."""
    if csv_path is None:
        yield lambda item, res: None
        return
    with open(csv_path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["input", "label", "probability", "top_k"] + (["labels"] if multi else []))
        yield lambda item, res: writer.writerow([item, res["label"], res["probability"], json.dumps(res["top_k"])]
                                                + ([";".join(s["label"] for s in res["labels"])] if multi else []))


def _check_csv_target(csv_path: Path) -> None:
    """Create ``--csv``'s folder now, and fail before predicting when the file cannot be written."""
    from ..errors import DataError

    if csv_path.is_dir():
        raise DataError(f"--csv {csv_path} is a folder.", "Pass a file name, e.g. predictions.csv.")
    try:
        csv_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"--csv {csv_path}: cannot create its folder ({exc.strerror}).", "Pass a writable path.") from None
