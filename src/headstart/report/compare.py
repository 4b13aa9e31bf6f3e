"""Side-by-side numbers of several runs: which recipe won, at what cost.

Why from the run folders: runs made with different strategies, backbones or machines can be
compared later without loading any model; only metrics.json, model.json and params.json are read.

Example::

    rows = compare_runs(["runs/head-only", "runs/two-phase"])
    Console().print(format_compare_table(rows))
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from rich.table import Table
from rich.text import Text

from ..errors import RunError
from .run_files import read_metrics, read_model, read_params

COLUMNS = (
    "run",
    "strategy",
    "backbone",
    "val_accuracy",
    "macro_f1",
    "map",
    "micro_f1",
    "wall_time_s",
    "trainable_params",
    "total_params",
)


def compare_row(run_dir: str | Path) -> dict[str, Any]:
    """One run's comparison row (keys: :data:`COLUMNS` plus ``path``).

    ``trainable_params``/``total_params`` are None when the run has no params.json.
    """
    root = Path(run_dir)
    if not root.is_dir():
        raise RunError(f"{root}: run folder not found.", hint="Fix: pass folders a training run wrote, e.g. runs/<name>.")
    model = read_model(root)
    metrics = read_metrics(root)
    params = read_params(root)
    spec = model.get("backbone")
    backbone = spec.get("name") if isinstance(spec, dict) else spec
    return {
        "run": root.name,
        "strategy": _strategy_text(model, metrics),
        "backbone": str(backbone or "unknown"),
        "val_accuracy": float(metrics["val_accuracy"]),
        "macro_f1": float(metrics["macro_f1"]),
        # multi-label runs only (None otherwise); their val_accuracy is the exact-match ratio
        "map": float(metrics["val_map"]) if "val_map" in metrics else None,
        "micro_f1": float(metrics["micro_f1"]) if "micro_f1" in metrics else None,
        "wall_time_s": float(metrics["wall_time_s"]),
        "trainable_params": int(params["trainable"]) if params else None,
        "total_params": int(params["total"]) if params else None,
        "path": str(root),
    }


def _strategy_text(model: dict[str, Any], metrics: dict[str, Any]) -> str:
    """The strategy, marked when auto chose it and when fine-tuning did not beat the head."""
    text = str(model.get("strategy") or "unknown")
    notes = ["auto"] if model.get("auto") else []
    verdict = metrics.get("finetune_verdict")
    if isinstance(verdict, dict) and verdict.get("finetune_won") is False:
        notes.append("head kept: fine-tuning did not beat it")
    return f"{text} ({'; '.join(notes)})" if notes else text


def not_a_finished_run(run_dir: Path) -> str | None:
    """Why ``run_dir`` is no finished run to compare (None if it is one): an ``lr-find`` output, an
    unfinished or failed run. A run with a damaged file is not skipped: that is an error."""
    if not run_dir.is_dir():
        return None  # compare_row names a missing folder
    if not (run_dir / "model.json").is_file():
        return "not a run folder (no model.json)"
    if not (run_dir / "metrics.json").is_file():
        return "not finished (no metrics.json)"
    return None


def compare_runs(run_dirs: Iterable[str | Path], skipped: list[str] | None = None) -> list[dict[str, Any]]:
    """Rows for each run folder, in the order given.

    Folders that are not finished runs (``runs/*`` also matches lr-find outputs and interrupted
    runs) are left out; each is described in ``skipped`` ("path: reason") when a list is given.
    Raises RunError for an empty list, a missing folder or a broken metrics/model file.
    """
    rows = []
    given = [Path(d) for d in run_dirs]
    for run_dir in given:
        reason = not_a_finished_run(run_dir)
        if reason is None:
            rows.append(compare_row(run_dir))
        elif skipped is not None:
            skipped.append(f"{run_dir}: {reason}")
    if not rows:
        what = "None of the given folders is a finished run" if given else "No run folders given to compare"
        raise RunError(f"{what}.", hint="Fix: pass one or more run folders, e.g. runs/a runs/b.")
    return rows


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def format_compare_table(rows: list[dict[str, Any]]) -> Table:
    """A rich Table of :func:`compare_runs` rows; the best val accuracy and macro-F1 are bold."""
    table = Table(title="Run comparison", header_style="bold")
    # Strategy and backbone may fold onto two lines on a narrow terminal; run names and numbers are never cut.
    longest = max((len(r["run"]) for r in rows), default=3)
    table.add_column("run", no_wrap=True, min_width=longest)  # never wrapped or cut: names are what you look up
    for name in ("strategy", "backbone"):
        table.add_column(name, overflow="fold")
    multi = any(r.get("map") is not None for r in rows)
    for name in ("val acc", "macro-F1", *(("mAP", "micro-F1") if multi else ()), "time", "trainable", "total"):
        table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
    best_acc = max((r["val_accuracy"] for r in rows), default=None)
    best_f1 = max((r["macro_f1"] for r in rows), default=None)
    best_map = max((r["map"] for r in rows if r.get("map") is not None), default=None)

    def multi_cells(row: dict[str, Any]) -> list[str]:
        if not multi:
            return []
        if row.get("map") is None:
            return ["-", "-"]
        shown = f"{row['map']:.3f}"
        return [f"[bold green]{shown}[/]" if len(rows) > 1 and row["map"] == best_map else shown, f"{row['micro_f1']:.3f}"]

    for row in rows:
        acc = f"{row['val_accuracy']:.2%}"
        f1 = f"{row['macro_f1']:.3f}"
        table.add_row(
            # Text, not str: a run named "[old]" must not be read as rich markup.
            Text(row["run"]),
            Text(row["strategy"]),
            Text(row["backbone"]),
            f"[bold green]{acc}[/]" if len(rows) > 1 and row["val_accuracy"] == best_acc else acc,
            f"[bold green]{f1}[/]" if len(rows) > 1 and row["macro_f1"] == best_f1 else f1,
            *multi_cells(row),
            f"{row['wall_time_s']:.1f}s",
            _count(row["trainable_params"]),
            _count(row["total_params"]),
        )
    return table


def format_compare(rows: list[dict[str, Any]], width: int) -> Any:
    """The comparison for a terminal ``width`` columns wide: the table when it fits without cutting
    a run name, else one block per run (its name on a line of its own, the numbers indented below)."""
    from rich.console import Console, Group
    from rich.measure import Measurement
    from rich.padding import Padding

    table = format_compare_table(rows)
    wide = Console(width=10_000)  # measured unconstrained: the table's natural width, nothing folded or cut
    if Measurement.get(wide, wide.options, table).maximum <= width:
        return table
    best_acc = max(r["val_accuracy"] for r in rows)
    blocks: list[Any] = [Text("Run comparison", style="italic")]
    for row in rows:
        mark = " (best)" if len(rows) > 1 and row["val_accuracy"] == best_acc else ""
        blocks.append(Text(row["run"], style="bold"))
        multi = f"mAP {row['map']:.3f}, micro-F1 {row['micro_f1']:.3f}, " if row.get("map") is not None else ""
        blocks.append(Padding(Text(f"{row['strategy']}, {row['backbone']}: {multi}val acc {row['val_accuracy']:.2%}{mark}, "
                           f"macro-F1 {row['macro_f1']:.3f}, {row['wall_time_s']:.1f}s, "
                           f"{_count(row['trainable_params'])} / {_count(row['total_params'])} params trainable"), (0, 0, 0, 2)))
    return Group(*blocks)
