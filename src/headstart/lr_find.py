"""The LR finder: a short learning-rate range test that keeps discriminative LR ratios.

Why: the head LR is the one number a user most often gets wrong. A range test (Smith 2015,
fastai's ``lr_find``) trains for a few dozen steps while the LR grows exponentially from
``min_lr`` to ``max_lr`` and records the loss; the LR where the loss falls fastest is a good
starting point.

Why not Lightning's ``Tuner.lr_find``: it first sets *every* param group to the same ``min_lr``
and then moves each group towards the same ``max_lr``, so discriminative LRs (earlier layers 10x
or 100x slower than the head) collapse to one value and the test measures a different optimizer
from the one training will use. Here the sweep is one multiplier applied to every group's own
base LR (a ``LambdaLR`` does exactly that), so ``lr_i / lr_head`` stays constant at every step.
Lightning still runs the loop, the device and the precision; this module only adds that
schedule and a callback that records the loss.

The test runs on the *first* phase of the chosen strategy (the head phase of two-phase, every
group of fine-tune) on a deep copy of the model: the caller's weights, BatchNorm statistics and
``requires_grad`` flags are left as they were.

Example::

    result = find_lr(config, model, datamodule)       # config.strategy picks the phase
    result.lr                                          # value for RunConfig.lr
    result.save("runs/lr-find")                        # lr_find.png + lr_find.json
"""
from __future__ import annotations

import copy
import dataclasses
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from rich.console import Console

from .config import RunConfig
from .engine.fit import phase_report
from .engine.module import ClassifierModule
from .engine.runtime import quiet_lightning, resolve_accelerator, resolve_precision
from .errors import ConfigError
from .model import TransferModel
from .run_files import write_json
from .strategies import StrategyOptions, plan_for
from .strategies.base import Phase

DEFAULT_MIN_LR = 1e-7
DEFAULT_MAX_LR = 1.0
DEFAULT_NUM_STEPS = 100
#: Stop once the smoothed loss exceeds this multiple of the best smoothed loss: it diverged.
DIVERGE_FACTOR = 4.0
#: EMA factor for the loss. Lower than fastai's 0.98 because runs here are often < 100 steps,
#: where a long average lags the curve and pushes the suggestion towards too large LRs.
SMOOTHING = 0.9
#: A curve whose smoothed loss never drops by this fraction of its start is "flat".
FLAT_DROP = 0.05


@dataclass
class LRFindResult:
    """The recorded curve and the suggestion.

    ``lrs`` are the phase's head LR at each step, ``group_lrs`` the LR of every trainable layer
    group at that step (read back from the optimizer). ``suggestion`` is a head LR for the
    tested phase; ``lr`` is the same converted to ``RunConfig.lr`` (they differ when the phase
    scales the configured LR, e.g. two-phase without a head phase starts at ``lr *
    finetune_lr_factor``).
    """

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggestion: float
    lr: float
    method: str  # "steepest" | "min-loss/10"
    phase: str
    strategy: str
    min_lr: float
    max_lr: float
    num_steps: int
    stopped_early: bool
    group_lrs: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, folder: str | Path) -> dict[str, Path]:
        """Write ``lr_find.png`` and ``lr_find.json`` into ``folder``; return their paths."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {"plot": folder / "lr_find.png", "json": folder / "lr_find.json"}
        plot_lr_curve(self, paths["plot"])
        write_json(paths["json"], self.to_dict())
        return paths


def smooth_losses(losses: list[float], beta: float = SMOOTHING) -> list[float]:
    """Bias-corrected exponential moving average (the curve the suggestion is read from)."""
    out, avg = [], 0.0
    for i, loss in enumerate(losses):
        avg = beta * avg + (1 - beta) * loss
        out.append(avg / (1 - beta ** (i + 1)))
    return out


def suggest_from_curve(lrs: list[float], smoothed: list[float], min_lr: float, max_lr: float) -> tuple[float, str]:
    """The LR of the steepest descent of ``smoothed`` over log LR, before the loss minimum.

    Why before the minimum: past it the loss rises, and its noise can fake a steep drop. The
    first 10% of points are skipped (the EMA is still warming up). When the curve is too short
    or flat (drop < 5%) there is no real slope to read; then the rule of thumb min-loss LR / 10
    is used. The result is clipped to ``[min_lr, max_lr]``.
    """
    values = np.asarray(smoothed, dtype=float)
    finite = np.isfinite(values)
    if not finite.any():
        return min_lr, "min-loss/10"
    values = np.where(finite, values, np.inf)
    i_min = int(np.argmin(values))
    fallback = (float(np.clip(lrs[i_min] / 10, min_lr, max_lr)), "min-loss/10")
    start = min(len(values) // 10, max(0, i_min - 2))
    drop = values[start] - values[i_min]
    if i_min - start < 3 or not drop > FLAT_DROP * abs(values[start]):
        return fallback
    log_lrs = np.log10(np.asarray(lrs[start:i_min + 1], dtype=float))
    # Central differences only: the one-sided slope at the minimum itself is where a lagging,
    # still-falling EMA meets the divergence, and it would win too often.
    slopes = np.gradient(values[start:i_min + 1], log_lrs)[1:-1]
    best = int(np.argmin(slopes))
    if not slopes[best] < 0:
        return fallback
    return float(np.clip(lrs[start + 1 + best], min_lr, max_lr)), "steepest"


def plot_lr_curve(result: LRFindResult, path: str | Path) -> Path:
    """Loss vs LR (log scale), raw and smoothed, with the suggestion marked."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2))
    FigureCanvasAgg(fig)  # no pyplot: no global figure list, no display needed
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(result.lrs, result.losses, color="0.75", linewidth=1, label="loss")
    ax.plot(result.lrs, result.smoothed, color="tab:blue", linewidth=2, label="smoothed")
    if result.lrs:
        i = int(np.argmin(np.abs(np.log(np.asarray(result.lrs)) - math.log(result.suggestion))))
        ax.axvline(result.suggestion, color="tab:red", linestyle="--", linewidth=1)
        ax.plot([result.lrs[i]], [result.smoothed[i]], "o", color="tab:red",
                label=f"suggested {result.suggestion:.2e} ({result.method})")
    ax.set_xscale("log")
    ax.set_xlabel(f"head learning rate (phase '{result.phase}', group ratios kept)")
    ax.set_ylabel("training loss")
    smoothed = [v for v in result.smoothed if math.isfinite(v)]
    if smoothed:  # keep the diverged tail from squashing the interesting part
        low = min(smoothed + [v for v in result.losses if math.isfinite(v)])
        high = max(smoothed[: max(1, len(smoothed) // 2)] + [min(smoothed) * 1.5])
        ax.set_ylim(low - 0.05 * (high - low + 1e-8), high + 0.1 * (high - low + 1e-8))
    ax.set_title(f"LR range test: {result.strategy}")
    ax.legend(loc="best", fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=100, bbox_inches="tight")
    return path


class _RangeTestModule(ClassifierModule):
    """ClassifierModule whose schedule is the exponential sweep, the same for every group."""

    def __init__(self, model: TransferModel, phase: Phase, *, min_lr: float, max_lr: float,
                 num_steps: int, **kwargs: Any):
        super().__init__(model, dataclasses.replace(phase, head_lr=min_lr), **kwargs)
        self.min_lr, self.max_lr, self.num_steps = min_lr, max_lr, num_steps

    def multiplier(self, step: int) -> float:
        return (self.max_lr / self.min_lr) ** (min(step, self.num_steps - 1) / (self.num_steps - 1))

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.param_groups())
        # LambdaLR sets lr_i = initial_lr_i * multiplier: one factor for all groups keeps ratios.
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, self.multiplier)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class _LossRecorder(Callback):
    """Records the LRs used by each step and its loss; stops when the loss diverges."""

    def __init__(self, min_lr: float):
        self.min_lr = min_lr
        self.lrs: list[float] = []
        self.group_lrs: list[dict[str, float]] = []
        self.losses: list[float] = []
        self.best = math.inf
        self.avg = 0.0
        self.stopped_early = False

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
        self.lrs.append(self.min_lr * pl_module.multiplier(trainer.global_step))
        self.group_lrs.append({g["layer_group"]: g["lr"] for g in trainer.optimizers[0].param_groups})

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        value = float(loss.detach().float().item()) if loss is not None else math.nan
        self.losses.append(value)
        n = len(self.losses)
        self.avg = SMOOTHING * self.avg + (1 - SMOOTHING) * value
        smoothed = self.avg / (1 - SMOOTHING ** n)
        if not math.isfinite(smoothed) or (n > 2 and smoothed > DIVERGE_FACTOR * self.best):
            self.stopped_early = True
            trainer.should_stop = True
        self.best = min(self.best, smoothed)


def first_phase(config: RunConfig, model: TransferModel) -> tuple[Phase, float]:
    """The first phase of ``config.strategy`` and its head LR per unit of ``RunConfig.lr``."""
    options = StrategyOptions(epochs=config.epochs, lr=1.0, head_epochs=config.head_epochs,
                              finetune_lr_factor=config.finetune_lr_factor, layer_decay=config.layer_decay,
                              lr_spread=config.lr_spread, warmup_fraction=config.warmup_fraction,
                              gradual=config.gradual)
    phase = plan_for(config.strategy, options, len(model.layer_groups()))[0]
    return phase, phase.head_lr


def find_lr(
    config: RunConfig,
    model: TransferModel,
    datamodule: Any,
    *,
    min_lr: float = DEFAULT_MIN_LR,
    max_lr: float = DEFAULT_MAX_LR,
    num_steps: int = DEFAULT_NUM_STEPS,
    console: Console | None = None,
) -> LRFindResult:
    """Run the range test on a copy of ``model`` for the first phase of ``config.strategy``.

    Runs ``num_steps`` optimizer steps (fewer if the loss diverges), cycling over the training
    batches as often as needed, on one device of ``config.accelerator``.
    """
    if not 0 < min_lr < max_lr:
        raise ConfigError(f"LR finder range must satisfy 0 < min_lr < max_lr, got min_lr={min_lr}, max_lr={max_lr}.",
                          "Try --min-lr 1e-7 --max-lr 1.")
    if num_steps < 5:
        raise ConfigError(f"--num-steps must be at least 5, got {num_steps}.", "Use 100 (the default) or more.")
    quiet_lightning()
    phase, per_unit = first_phase(config, model)
    probe = copy.deepcopy(model)
    report = phase_report(probe, phase, config.weight_decay)
    if console is not None:
        groups = [row.name for row in report.rows if row.trainable]
        console.print(f"LR range test: phase '{phase.name}' of {config.strategy}, {num_steps} steps, "
                      f"{min_lr:.0e} -> {max_lr:.0e}, trainable groups: {', '.join(groups) or 'none'}")
    num_classes = len(model.classes) if model.classes else int(getattr(model.head, "num_classes"))
    module = _RangeTestModule(probe, phase, min_lr=min_lr, max_lr=max_lr, num_steps=num_steps,
                              num_classes=num_classes, weight_decay=config.weight_decay,
                              label_smoothing=config.label_smoothing)
    recorder = _LossRecorder(min_lr)
    accelerator = resolve_accelerator(config.accelerator)
    L.seed_everything(config.seed, workers=True, verbose=False)
    with tempfile.TemporaryDirectory(prefix="headstart-lr-find-") as scratch:
        trainer = L.Trainer(
            max_steps=num_steps, max_epochs=-1, accelerator=accelerator, devices=1,
            precision=resolve_precision(config.precision, accelerator), callbacks=[recorder],
            logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
            default_root_dir=scratch,
        )
        probe.train()
        trainer.fit(module, train_dataloaders=datamodule.train_dataloader())
    del module, probe, trainer
    count = min(len(recorder.lrs), len(recorder.losses))
    lrs, losses = recorder.lrs[:count], recorder.losses[:count]
    smoothed = smooth_losses(losses)
    suggestion, method = suggest_from_curve(lrs, smoothed, min_lr, max_lr)
    return LRFindResult(lrs=lrs, losses=losses, smoothed=smoothed, suggestion=suggestion,
                        lr=suggestion / per_unit, method=method, phase=phase.name, strategy=config.strategy,
                        min_lr=min_lr, max_lr=max_lr, num_steps=num_steps, stopped_early=recorder.stopped_early,
                        group_lrs=recorder.group_lrs[:count])


def suggest_lr(config: RunConfig, model: TransferModel, datamodule: Any, *, console: Console | None = None) -> float:
    """``find_lr`` with the defaults, returning just the value for ``RunConfig.lr``."""
    return find_lr(config, model, datamodule, console=console).lr
