"""Run folders that are safe to replace or clean up: ``--overwrite`` and failed starts.

Why: a run name must never be blocked by a run that did not start (a missing GPU, a corrupt image
found while caching features), and ``--overwrite`` must never delete a folder of user data that
merely has the same name. So a folder is only deleted when headstart can tell it is its own:

* ``--overwrite`` replaces a folder only if it holds a ``config.yaml`` that loads as a headstart
  config and nothing but the files a run writes (:data:`RUN_ENTRIES`);
* a start that fails before any epoch finished removes the folder, but only when this very call
  created it.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from .errors import HeadstartError, RunError

# Everything a run (train, export, report, feature cache, text assets) writes at the top of its folder.
RUN_ENTRIES = frozenset({
    "config.yaml", "model.json", "model.safetensors", "params.json", "metrics.json", "state.json",
    "val_predictions.json", "report.html", "plots", "checkpoints", "logs", "export", "backbone",
    "feature_cache", "data.json", "thresholds.json", "val_images",
})


def not_a_run_reason(run_dir: Path) -> str | None:
    """Why ``run_dir`` does not look like a headstart run folder (None if it does)."""
    from .config import load_config

    if run_dir.is_symlink() or not run_dir.is_dir():
        return "it is not a plain folder"
    try:
        load_config(run_dir / "config.yaml")
    except HeadstartError:
        return "it has no valid headstart config.yaml"
    foreign = sorted(p.name for p in run_dir.iterdir() if p.name not in RUN_ENTRIES and not p.name.startswith("."))
    if foreign:
        return f"it holds files a run does not write ({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''})"
    return None


def clear_for_overwrite(run_dir: Path) -> None:
    """Delete the earlier run in ``run_dir`` for ``--overwrite``; refuse anything that is not a run."""
    reason = not_a_run_reason(run_dir)
    if reason:
        raise RunError(f"--overwrite refuses to delete {run_dir}: {reason}.",
                       "Move or delete it yourself, or pick another --name.")
    shutil.rmtree(run_dir)


def holds_trained_epochs(run_dir: Path) -> bool:
    """True once an epoch has been recorded (``state.json`` history): from then on the folder can be resumed."""
    import json

    try:
        state = json.loads((run_dir / "state.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(isinstance(state, dict) and (state.get("history") or state.get("completed")))


def remove_failed_start(run_dir: Path) -> bool:
    """Remove ``run_dir`` (created by this start) unless an epoch was already trained; True if removed."""
    if not run_dir.is_dir() or holds_trained_epochs(run_dir):
        return False
    shutil.rmtree(run_dir, ignore_errors=True)
    return True
