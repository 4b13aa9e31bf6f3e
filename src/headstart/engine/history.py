"""Per-epoch history: one entry per epoch (phase, losses, accuracy, LR, seconds), saved as it goes.

Saved after every epoch into the run's ``state.json`` so an interrupted run resumes with its
history intact, and ``metrics.json`` gets the whole story. The phase's own entries are also part of
its ``last.ckpt`` (Lightning stores callback state), so a resumed phase gets back exactly the
epochs its weights have seen, wherever a kill fell between the two writes.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import lightning as L


class EpochHistory(L.Callback):
    def __init__(self, history: list[dict[str, Any]], phase_name: str, on_epoch: Callable[[], None] | None = None):
        self.history = history
        self.phase_name = phase_name
        self.on_epoch = on_epoch
        self.first = len(history)  # entries before this are earlier phases'
        self._start = time.perf_counter()

    def state_dict(self) -> dict[str, Any]:
        return {"phase": self.phase_name, "entries": [dict(e) for e in self.history[self.first:]]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        del self.history[self.first:]
        self.history.extend(dict(e) for e in state_dict.get("entries", []))

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        if any(e["phase_epoch"] == trainer.current_epoch for e in self.history[self.first:]):
            return  # restored from the checkpoint: recorded once, when it was trained
        m = trainer.callback_metrics

        def get(key: str) -> float | None:
            value = m.get(key)
            return float(value) if value is not None else None

        lr = trainer.optimizers[0].param_groups[-1]["lr"] if trainer.optimizers else None
        entry = {
            "epoch": len(self.history),
            "phase": self.phase_name,
            "phase_epoch": int(trainer.current_epoch),
            "train_loss": get("train_loss_epoch") if get("train_loss_epoch") is not None else get("train_loss"),
            "train_accuracy": get("train_accuracy"),
            "val_loss": get("val_loss"),
            "val_accuracy": get("val_accuracy"),
            "lr": lr,
            "seconds": round(time.perf_counter() - self._start, 3),
        }
        if get("val_map") is not None:  # multi-label runs (engine/objective.py)
            entry["val_map"] = get("val_map")
        extraction = getattr(trainer.datamodule, "extraction_seconds", None)  # cached-feature phases
        if extraction is not None and not any(e["phase"] == self.phase_name for e in self.history):
            entry["extract_seconds"] = round(float(extraction), 3)
        entry.update(getattr(pl_module, "history_extras", None) or {})  # e.g. a converged head's solver result
        if trainer.is_global_zero:
            self.history.append(entry)
            if self.on_epoch:
                self.on_epoch()
