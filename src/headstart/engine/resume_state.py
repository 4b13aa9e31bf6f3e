"""What a resumed run may trust from its folder, checked before anything in it is written.

A run folder holds ``state.json`` (finished phases, epoch history, the best checkpoint so far),
one ``checkpoints/phaseN/last.ckpt`` per phase in progress and ``phaseN-end.safetensors`` per
finished phase. A kill can land between any two of these writes, so on resume:

- the *checkpoint* is the truth about the phase in progress: its epochs, weights and that phase's
  history (stored in it by :class:`~headstart.engine.history.EpochHistory`); ``state.json`` is
  only trusted for the phases it lists as finished;
- paths inside the folder are stored relative to it, so a moved folder resumes the same way;
- unreadable files are one :class:`RunError` line naming the file, never a torch traceback.
"""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from ..errors import RunError
from .checkpoint_io import atomic_write_bytes

STATE_FILE = "state.json"


def _corrupt(path: Path, problem: str) -> RunError:
    return RunError(f"{path} is unreadable ({problem}), so the run cannot be resumed safely.",
                    "Restore the file from a backup, or start the run again under a new --name.")


def read_json_object(path: Path) -> dict[str, Any] | None:
    """A run file holding one JSON object; ``None`` when it does not exist, ``RunError`` when unreadable."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _corrupt(path, f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _corrupt(path, "expected a JSON object")
    return data


def read_state(run_dir: str | Path) -> dict[str, Any] | None:
    """``state.json`` of ``run_dir`` checked for shape; ``None`` when the run never finished an epoch."""
    path = Path(run_dir) / STATE_FILE
    state = read_json_object(path)
    if state is None:
        return None
    if (not isinstance(state, dict) or not isinstance(state.get("completed"), int)
            or not isinstance(state.get("history"), list) or not all(isinstance(e, dict) for e in state["history"])):
        raise _corrupt(path, "expected {'completed': int, 'history': [...]}")
    return state


def finished_history(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The epochs of the phases ``state`` lists as finished (a later phase's epochs come from its checkpoint)."""
    history = state["history"]
    if "history_done" in state:
        return list(history[: state["history_done"]])
    done = {p.get("name") for p in state.get("phases", [])[: state["completed"]]}  # state.json of older versions
    return [e for e in history if e.get("phase") in done]


def relative_path(path: str | Path, run_dir: str | Path) -> str:
    """``path`` relative to ``run_dir`` (as stored in the run's files); unchanged when outside it."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(run_dir))
    return str(path) if rel.startswith("..") else Path(rel).as_posix()


def resolve_path(stored: str, run_dir: str | Path) -> Path:
    """A path stored by :func:`relative_path` (or an absolute one from an older, since moved folder)."""
    path = Path(stored)
    if not path.is_absolute():
        return Path(run_dir) / path
    if path.exists():
        return path
    parts = path.parts
    if "checkpoints" in parts:  # re-root ".../old-run/checkpoints/..." in the folder's new place
        return Path(run_dir).joinpath(*parts[len(parts) - 1 - parts[::-1].index("checkpoints"):])
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A Lightning checkpoint (tensors and plain containers only), or a one-line ``RunError``."""
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a torn or foreign file
        raise _corrupt(Path(path), f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise _corrupt(Path(path), "not a Lightning checkpoint")
    return checkpoint


def read_weights(path: str | Path) -> dict[str, Any]:
    """A ``.safetensors`` file as a state dict, or a one-line ``RunError``."""
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types for a truncated file
        raise _corrupt(Path(path), f"{type(exc).__name__}: {exc}") from None


def check_resumable(run_dir: str | Path) -> None:
    """Read every file a resume will load, so a corrupt one stops it before anything is written."""
    run_dir = Path(run_dir)
    state = read_state(run_dir)
    done = state["completed"] if state else 0
    checkpoints = run_dir / "checkpoints"
    if done:
        read_weights(checkpoints / f"phase{done - 1}-end.safetensors")
    last = checkpoints / f"phase{done}" / "last.ckpt"
    if last.exists():
        read_checkpoint(last)
    best = (state or {}).get("best")
    if best and not resolve_path(best["path"], run_dir).is_file():
        raise RunError(f"The best checkpoint recorded in {run_dir / STATE_FILE} ({best['path']}) is missing.",
                       "Restore it, or start the run again under a new --name.")


def epochs_in_checkpoint(checkpoint: dict[str, Any]) -> int:
    """How many epochs of its phase a ``last.ckpt`` (saved at an epoch's end) holds."""
    for key, value in checkpoint.get("callbacks", {}).items():
        if key == "EpochHistory" and isinstance(value, dict) and "entries" in value:
            return len(value["entries"])
    return int(checkpoint.get("epoch", -1)) + 1


def kept_csv_rows(path: Path, epochs_done: int) -> tuple[list[str], list[dict[str, str]]] | None:
    """Header and rows of a phase's ``metrics.csv`` that belong to its first ``epochs_done`` epochs.

    Rows of the epoch that was cut short are dropped: it is trained (and logged) again.
    """
    if not path.is_file():
        return None
    try:
        reader = csv.DictReader(io.StringIO(path.read_text()))
        rows = [row for row in reader if row.get("epoch") not in (None, "") and int(float(row["epoch"])) < epochs_done]
    except (OSError, ValueError, csv.Error):
        return None  # a torn log is not worth stopping a resume for: it starts over
    return list(reader.fieldnames or []), rows


def restore_csv_rows(logger: Any, kept: tuple[list[str], list[dict[str, str]]] | None) -> None:
    """Put ``kept`` rows back into ``logger``'s ``metrics.csv`` (Lightning's CSV writer deletes it on start).

    Lightning appends what it logs next; its known columns are set so a new column rewrites the
    file with the old rows in it.
    """
    writer = logger.experiment  # creating the writer deletes the old file
    if not kept or not kept[1]:
        return
    header, rows = kept
    text = io.StringIO()
    out = csv.DictWriter(text, fieldnames=sorted(header))
    out.writeheader()
    out.writerows(rows)
    atomic_write_bytes(writer.metrics_file_path, text.getvalue().encode())
    writer.metrics_keys = sorted(header)
