"""Run a plan of phases with Lightning, resumably.

For each phase: make exactly its groups trainable, print the parameter report, build a fresh
ClassifierModule (so the optimizer holds the groups trainable *now*, newly unfrozen ones included)
and a fresh Trainer, and fit. ``state.json`` in the run folder records finished phases and the
epoch history; each phase's weights are saved at its end, and Lightning's ``last.ckpt`` lets an
interrupted phase continue where it stopped (optimizer, scheduler and epoch included). What a
resume trusts, whatever moment a kill fell on, is laid out in ``resume_state``; every epoch's
random streams are a function of (seed, phase, epoch) (``epoch_seed``), so a resumed run trains
exactly like an uninterrupted one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_only

from ..model import TransferModel
from ..params.freezing import set_trainable
from ..params.param_groups import discriminative_param_groups
from ..params.report import ParamReport, parameter_report
from ..run_files import read_json, write_json, write_safetensors
from ..strategies.base import Phase
from .checkpoint_io import AtomicCheckpointIO
from .epoch_seed import EpochSeed
from .divergence import StopOnNonFiniteLoss
from .history import EpochHistory
from .kill_point import kill_callbacks, kill_point
from .loggers import build_loggers, trim_csv_for_resume
from .module import ClassifierModule
from .relocatable_checkpoint import RelocatableCheckpoint
from .resume_state import (epochs_in_checkpoint, finished_history, read_checkpoint, read_state, read_weights,
                           relative_path, resolve_path)
from .progress_bar import PhaseProgressBar
from .runtime import quiet_lightning, resolve_runtime


@dataclass
class EngineOptions:
    accelerator: str = "auto"
    devices: int | str = "auto"
    num_nodes: int = 1
    precision: str = "auto"
    seed: int = 0
    weight_decay: float = 0.01
    label_smoothing: float = 0.0
    class_weights: torch.Tensor | None = None
    early_stopping_patience: int | None = None
    progress_bar: bool = True
    channels_last: str | bool = "auto"
    limit_train_batches: int | float | None = None
    strategy: str = "auto"  # Lightning strategy; auto = ddp / ddp_fork when several processes (runtime.resolve_strategy)
    compile: bool = False
    weight_averaging: str = "none"  # config.weight_averaging: "ema" in phases that train through the backbone
    mixup: float = 0.0  # Beta alphas for timm's Mixup in phases that see images (data/augment.py)
    cutmix: float = 0.0
    extra_callbacks: list[Any] = field(default_factory=list)
    loggers: str = "csv"  # config.logger: csv,tensorboard,mlflow,wandb (engine/loggers.py)
    hyperparams: dict[str, Any] | None = None  # logged once per run (the resolved config)


PhaseData = Callable[[int, Phase, TransferModel], tuple[Any, bool]]  # -> (datamodule, features_input)


def trainable_spec(phase: Phase, model: TransferModel) -> list[str] | str:
    names = [g.name for g in model.layer_groups()]
    if isinstance(phase.trainable, int):
        return names[-phase.trainable:]
    if phase.trainable == "lora":
        return ["head"]
    return phase.trainable


def phase_report(model: TransferModel, phase: Phase, weight_decay: float) -> ParamReport:
    set_trainable(model, trainable_spec(phase, model))
    if phase.trainable == "lora":
        for n, p in model.named_parameters():
            if "lora_" in n:
                p.requires_grad_(True)
    groups = discriminative_param_groups(model, phase.head_lr, layer_decay=phase.layer_decay,
                                         lr_spread=phase.lr_spread, weight_decay=weight_decay)
    return parameter_report(model, groups, phase=phase.name)


def converged_head_module(options: EngineOptions) -> tuple[type, dict[str, Any]]:
    from .converged_head import ConvergedHeadModule
    from .linear_probe import ProbeOptions

    probe = ProbeOptions(seed=options.seed, label_smoothing=options.label_smoothing, weight_decay=options.weight_decay)
    return ConvergedHeadModule, {"probe_options": probe}


def _load_module_state(model: TransferModel, ckpt_path: Path) -> None:
    state = read_checkpoint(ckpt_path)["state_dict"]
    model.load_state_dict({k[len("model."):]: v for k, v in state.items() if k.startswith("model.")})


def _kept_score(checkpoint: ModelCheckpoint, path: Path | None) -> torch.Tensor | None:
    """The phase's best val_loss. Why read it back from the checkpoint: after ``ddp_fork``/``ddp_spawn``
    Lightning hands the main process the best checkpoint's path but not its score, and without the
    score the main process would keep the last epoch instead of the best one."""
    if checkpoint.best_model_score is not None or path is None or not path.exists():
        return checkpoint.best_model_score
    saved = torch.load(path, map_location="cpu", weights_only=True).get("callbacks", {})
    scores = [v.get("best_model_score") for k, v in saved.items() if k.startswith("ModelCheckpoint")]
    return next((torch.as_tensor(s) for s in scores if s is not None), None)


def _fit_interruptible(trainer: L.Trainer, module: ClassifierModule, data: Any, ckpt_path: str | None) -> None:
    """``trainer.fit`` that turns Ctrl+C into ``KeyboardInterrupt`` (the CLI exits 130, resumable).

    Why: on Ctrl+C Lightning ignores SIGINT from then on and calls ``sys.exit(1)``; we restore
    the SIGINT handler and re-raise the interrupt so callers can tell it from a failure.
    """
    import signal

    previous = signal.getsignal(signal.SIGINT)
    try:
        trainer.fit(module, datamodule=data, ckpt_path=ckpt_path, weights_only=True if ckpt_path else None)
    except SystemExit:
        if trainer.interrupted:
            raise KeyboardInterrupt from None
        raise
    finally:
        if previous is not None and signal.getsignal(signal.SIGINT) != previous:
            try:
                signal.signal(signal.SIGINT, previous)
            except ValueError:  # not the main thread: Lightning could not have changed it either
                pass
    if trainer.interrupted:
        raise KeyboardInterrupt


def fit_plan(
    model: TransferModel,
    datamodule: Any,
    plan: list[Phase],
    run_dir: Path,
    options: EngineOptions,
    *,
    resume: bool = False,
    phase_data: PhaseData | None = None,
    on_phase_start: Callable[[int, Phase, ParamReport], None] | None = None,
) -> list[dict[str, Any]]:
    """Train ``model`` through ``plan``; returns the per-epoch history.

    Final weights: the best (lowest val_loss) epoch over all phases, recorded in ``state.json``
    as ``best``. If unfreezing made the model worse on validation data, the head-phase weights win.
    """
    quiet_lightning()
    run_dir = Path(run_dir)
    state_path = run_dir / "state.json"
    ckpt_root = run_dir / "checkpoints"
    state: dict[str, Any] = {"completed": 0, "history": [], "phases": [p.to_dict() for p in plan]}
    saved = read_state(run_dir) if resume else None
    if saved is not None:
        state = saved
        state["history"] = finished_history(state)  # the phase in progress gets its epochs from last.ckpt
        done = state["completed"]
        if done:
            model.load_state_dict(read_weights(ckpt_root / f"phase{done - 1}-end.safetensors"))
    history: list[dict[str, Any]] = state["history"]

    def save_state() -> None:
        write_json(state_path, state)

    def save_epoch_state() -> None:
        save_state()
        kill_point("state-saved")  # tests: die between state.json and last.ckpt

    runtime = resolve_runtime(options, model)
    channels_last = runtime.channels_last
    if channels_last:
        model.to(memory_format=torch.channels_last)
    num_classes = model.head.num_classes if hasattr(model.head, "num_classes") else int(model.classes and len(model.classes))
    loggers = build_loggers(options.loggers, run_dir, quiet=not options.progress_bar)  # one per run: phases share one step axis
    for logger in loggers:
        logger.log_run_hyperparams(options.hyperparams or {})

    for index, phase in enumerate(plan):
        if index < state["completed"]:
            continue
        L.seed_everything(options.seed + index, workers=True, verbose=False)
        report = phase_report(model, phase, options.weight_decay)
        if on_phase_start:
            on_phase_start(index, phase, report)
        kill_point("phase-started")
        data, features_input = (datamodule, False) if phase_data is None else phase_data(index, phase, model)
        converged = features_input and phase.converge  # the head is solved, not stepped (converged_head.py)
        module_type, extra = (ClassifierModule, {}) if not converged else converged_head_module(options)
        if (options.mixup or options.cutmix) and not features_input:
            from ..data.augment import BatchMixer

            extra["mixer"] = BatchMixer(num_classes, options.mixup, options.cutmix, options.label_smoothing)
        module = module_type(
            model, phase, num_classes=num_classes, weight_decay=options.weight_decay,
            label_smoothing=options.label_smoothing, class_weights=options.class_weights,
            features_input=features_input, channels_last=channels_last and not features_input, **extra)
        if options.compile:
            module.forward = torch.compile(module.forward)  # type: ignore[method-assign]  # state_dict keys unchanged
        phase_dir = ckpt_root / f"phase{index}"
        # A phase on cached features takes seconds: it keeps only its best checkpoint (no per-epoch
        # last.ckpt, which would re-save the whole frozen backbone every epoch) and restarts on resume.
        checkpoint = RelocatableCheckpoint(dirpath=phase_dir, filename="best", monitor="val_loss", mode="min",
                                           save_last=not features_input, save_top_k=1, enable_version_counter=False)
        callbacks: list[Any] = [StopOnNonFiniteLoss(phase.name, phase.head_lr), checkpoint, EpochHistory(history, phase.name, save_epoch_state),
                                EpochSeed(options.seed, index), *kill_callbacks(), *options.extra_callbacks]
        if options.weight_averaging == "ema" and not features_input:
            from .weight_averaging import WarmupEMA

            callbacks.append(WarmupEMA())
        if options.progress_bar:
            callbacks.append(PhaseProgressBar(phase.name))
        for logger in loggers:
            logger.start_phase(index, state.get("steps", 0))
        if loggers:
            callbacks.append(LearningRateMonitor(logging_interval="step"))  # every param group's LR
        if options.early_stopping_patience and not converged:
            stopper = EarlyStopping(monitor="val_loss", mode="min", patience=options.early_stopping_patience)
            if state.get("best"):  # a later phase must beat the model kept so far (LP-FT: the converged head)
                stopper.best_score = torch.tensor(float(state["best"]["val_loss"]))
            callbacks.append(stopper)
        last = phase_dir / "last.ckpt"
        ckpt_path = str(last) if resume and last.exists() else None
        if resume and rank_zero_only.rank == 0 and index == state["completed"]:  # keep the CSV rows of the epochs done
            trim_csv_for_resume(loggers, index, epochs_in_checkpoint(read_checkpoint(last)) if ckpt_path else 0)
        trainer = L.Trainer(
            max_epochs=1 if converged else phase.epochs, accelerator=runtime.accelerator, devices=runtime.devices, strategy=runtime.strategy,
            num_nodes=runtime.num_nodes, precision=runtime.precision, callbacks=callbacks,
            logger=loggers or False,
            plugins=[AtomicCheckpointIO()], enable_progress_bar=options.progress_bar,
            enable_model_summary=False, num_sanity_val_steps=0, deterministic=False,
            log_every_n_steps=10, limit_train_batches=options.limit_train_batches,
        )
        model.train()  # unfrozen BatchNorm back to train mode; frozen BatchNorm stays in eval
        _fit_interruptible(trainer, module, data, ckpt_path)
        if trainer.world_size > 1 and trainer.is_global_zero and state_path.exists():
            history[:] = read_json(state_path)["history"]  # ddp_fork/spawn workers recorded the epochs there
        best = Path(checkpoint.best_model_path) if checkpoint.best_model_path else None
        score = _kept_score(checkpoint, best)
        if best and best.exists() and score is not None and torch.isfinite(score):
            previous = state.get("best")
            if previous is None or float(score) < previous["val_loss"]:
                state["best"] = {"val_loss": float(score), "path": relative_path(best, run_dir), "phase": phase.name}
        best_path = resolve_path(state["best"]["path"], run_dir) if state.get("best") else None
        if index == len(plan) - 1 and best_path and best_path.exists():
            _load_module_state(model, best_path)
        if trainer.is_global_zero:
            write_safetensors(ckpt_root / f"phase{index}-end.safetensors", model.state_dict())
            kill_point("phase-weights-saved")
            state["completed"] = index + 1
            state["history_done"] = len(history)
            state["steps"] = state.get("steps", 0) + trainer.global_step  # the loggers' step axis continues here
            save_state()
    if channels_last:
        model.to(memory_format=torch.contiguous_format)
    for logger in loggers:
        logger.close()
    return history
