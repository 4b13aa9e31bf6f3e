"""``train --resume RUN``: everything checked before the run folder is touched.

Why: a resume must continue *the same* run or refuse. It reads the recorded config, says so and
stops when the run is already complete, and refuses (one ``error:`` line, exit 2) on data that
differs from the recorded fingerprint or on an unreadable state/checkpoint file, all before a
single file in the folder is written. Only then does training continue.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import RunConfig, config_from_dict, load_config
from .data.fingerprint import FILE as FINGERPRINT_FILE
from .data.fingerprint import check_same_data, data_fingerprint
from .engine.resume_state import check_resumable, read_json_object
from .errors import RunError


def resumed_config(run_dir: Path) -> RunConfig:
    """The config ``run_dir`` was started with, writing into ``run_dir`` wherever it now is."""
    if not (run_dir / "config.yaml").is_file():
        raise RunError(f"{run_dir} has no config.yaml: not a headstart run folder.",
                       "Pass the folder `headstart train` printed as `Run folder:`.")
    config = load_config(run_dir / "config.yaml")
    return config_from_dict({**config.to_dict(), "output_dir": str(run_dir.parent), "name": run_dir.name})


def finished_metrics(run_dir: Path) -> dict[str, Any] | None:
    """The final metrics of a run that completed (``metrics.json`` is written once training is over)."""
    path = run_dir / "metrics.json"
    if not path.is_file():
        return None
    import json

    try:
        metrics = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        metrics = None
    return metrics if isinstance(metrics, dict) else {}


def complete_message(run_dir: Path, metrics: dict[str, Any]) -> str:
    """What ``--resume`` says about a run that has nothing left to train."""
    scores = "  ".join(f"{k}={metrics[k]:.4f}" for k in ("val_accuracy", "val_loss")
                       if isinstance(metrics.get(k), (int, float)))
    epochs = len(metrics.get("epochs") or [])
    return (f"Run {run_dir} is already complete ({epochs} epochs{'; ' + scores if scores else ''}); "
            f"nothing to resume. To train more, start a new run: "
            f"headstart train --config {run_dir / 'config.yaml'} --epochs N")


def check_resume(run_dir: Path, split: Any, modality: str, data: str) -> dict[str, Any]:
    """Refuse to resume on other data or unreadable run files; returns the current data fingerprint."""
    current = data_fingerprint(split, modality)
    recorded = read_json_object(run_dir / FINGERPRINT_FILE)  # None: a run made before fingerprints
    if recorded is not None:
        check_same_data(recorded, current, data)
    check_resumable(run_dir)
    return current
