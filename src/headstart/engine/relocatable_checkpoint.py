"""``ModelCheckpoint`` whose saved state holds paths relative to its folder, so a run folder can move.

Why: Lightning's ``ModelCheckpoint`` stores ``dirpath`` and its best/last checkpoint paths as
absolute paths inside ``last.ckpt``. After the run folder is moved, a resumed phase sees another
``dirpath``, drops its best score and points at a best checkpoint that no longer exists; the run
then keeps the last epoch instead of the best one. Here the saved state names files relative to
``dirpath`` and is resolved against the current ``dirpath`` on load (absolute paths saved by older
versions are re-rooted the same way).
"""
from __future__ import annotations

import os
from typing import Any

from lightning.pytorch.callbacks import ModelCheckpoint

PATH_KEYS = ("best_model_path", "kth_best_model_path", "last_model_path")


def _relative(path: Any, root: str) -> Any:
    if not path or not isinstance(path, str) or not os.path.isabs(path):
        return path
    rel = os.path.relpath(path, root)
    return path if rel.startswith("..") else rel


def _absolute(path: Any, old_root: str | None, root: str) -> Any:
    if not path or not isinstance(path, str):
        return path
    if os.path.isabs(path) and old_root and os.path.isabs(old_root):
        path = _relative(path, old_root)  # an older checkpoint: re-root its absolute paths
    return path if os.path.isabs(path) else os.path.join(root, path)


class RelocatableCheckpoint(ModelCheckpoint):
    @property
    def state_key(self) -> str:
        # the key Lightning files this callback's state under: keep ModelCheckpoint's, so old
        # checkpoints load into this class and new ones into plain ModelCheckpoint
        return super().state_key.replace(type(self).__qualname__, ModelCheckpoint.__qualname__, 1)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        root = str(self.dirpath)
        for key in PATH_KEYS:
            state[key] = _relative(state.get(key), root)
        state["best_k_models"] = {_relative(k, root): v for k, v in (state.get("best_k_models") or {}).items()}
        state["dirpath"] = "."
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        old_root, root = state.get("dirpath"), str(self.dirpath)
        for key in PATH_KEYS:
            state[key] = _absolute(state.get(key), old_root, root)
        state["best_k_models"] = {_absolute(k, old_root, root): v for k, v in (state.get("best_k_models") or {}).items()}
        state["dirpath"] = self.dirpath  # now the same folder: Lightning restores the best score too
        super().load_state_dict(state)
