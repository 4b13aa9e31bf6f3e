"""A progress bar that counts items, not batches, and shows their rate (img/s, texts/s).

Why: prediction over a folder of 10k images takes minutes on a CPU; a bar that says how many
images per second go through tells the user at once whether the loader or the model is slow and
how long is left. Torch-free, so the ONNX predictor can use it too.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, TypeVar

B = TypeVar("B")


def track_items(batches: Iterable[B], total: int, description: str, unit: str = "img",
                enabled: bool = True, size: Callable[[Any], int] = len) -> Iterator[B]:
    """Yield ``batches`` unchanged while a rich bar advances by ``size(batch)`` (its length).

    The bar shows ``done/total``, the measured rate in ``unit``/s and the time left; it is drawn
    on stderr, so stdout stays clean for JSON lines or CSV.

    Example::

        for batch in track_items(loader, len(paths), "Predicting"):
            ...
    """
    if not enabled:
        yield from batches
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(description, total=total, rate=f"- {unit}/s")
        for batch in batches:
            yield batch
            bar.advance(task, size(batch))
            speed = bar.tasks[task].speed
            if speed:
                bar.update(task, rate=f"{speed:,.1f} {unit}/s")
