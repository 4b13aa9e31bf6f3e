"""``train_run(config)``: data + backbone + head + strategy -> a finished run folder.

This is the whole product flow in one readable function; the CLI's ``train`` is a thin wrapper.
"""
from __future__ import annotations

import datetime as _dt
import os
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from rich.console import Console

from .backbones import create_backbone
from .backbones.base import Backbone
from .backbones.registry import backbone_modality
from .config import RESOLVED_RUNTIME_KEY, RunConfig, config_from_dict
from .data.fingerprint import FILE as FINGERPRINT_FILE
from .data.fingerprint import data_fingerprint
from .engine.evaluate import classification_metrics, collect_logits, prediction_items
from .engine.feature_cache import CachedPhaseData, cached_phase_data
from .engine.fit import EngineOptions, fit_plan
from .engine.runtime import resolve_runtime
from .errors import ConfigError, RunError
from .heads import build_head
from .model import TransferModel
from .run_files import read_json, write_json, write_safetensors, write_yaml
from .resume import check_resume, complete_message, finished_metrics, resumed_config
from .run_folder import clear_for_overwrite, remove_failed_start
from .run_model import BACKBONE_ASSETS, model_info
from .strategies import StrategyOptions, plan_for
from .strategies.base import Phase


RUN_NAME_ENV = "HEADSTART_RUN_NAME"


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict[str, Any]
    model: TransferModel | None  # None when ``--resume`` found the run already complete


def _run_name(config: RunConfig) -> str:
    model = re.sub(r"[^A-Za-z0-9_.-]+", "-", config.model.split(":")[-1].split("/")[-1]).strip("-")
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{model}-{config.strategy}-{stamp}"


def build_data(config: RunConfig, backbone: Backbone, source: Any = None, val_source: Any = None):
    """The datamodule and the val inputs (paths or texts) for ``config`` and ``backbone``.

    ``source``/``val_source``: in-memory data (:class:`headstart.data.sources.DataSource`) used
    instead of the ``config.data``/``config.val_data`` paths.
    """
    data_config = backbone.data_config
    if source is not None and config.task == "multi-label":
        raise ConfigError("Multi-label data cannot come from memory yet (task='multi-label').",
                          "Pass a CSV path with label sets (see docs/multilabel.md).")
    ready_split = source.split(data_config.modality, val=val_source, val_fraction=config.val_fraction,
                                seed=config.seed) if source is not None else None
    if config.task == "multi-label":
        from .data.multilabel import load_multilabel_dataset

        ready_split = load_multilabel_dataset(
            config.data, modality=data_config.modality, val_path=config.val_data, val_fraction=config.val_fraction,
            seed=config.seed, text_column=config.text_column, label_column=config.label_column,
            label_columns=config.label_columns, separator=config.label_separator, strict=config.strict)
    if data_config.modality == "text":
        from .data.text import load_text_dataset
        from .data.text_datamodule import TextDataModule

        split = ready_split if ready_split is not None else load_text_dataset(
            config.data, val_path=config.val_data, text_column=config.text_column,
            label_column=config.label_column, val_fraction=config.val_fraction, seed=config.seed)
        max_length = config.max_length or data_config.max_length or 128
        dm = TextDataModule(split, backbone.tokenizer, max_length, batch_size=config.batch_size,
                            num_workers=config.num_workers or 0, seed=config.seed)
        return dm, split, data_config
    from .data.image_datamodule import ImageDataModule
    from .data.images import load_image_dataset

    if config.image_size:
        data_config = data_config.with_image_size(config.image_size)
    with warnings.catch_warnings():  # skipped files: train_run prints its own warning line with the count
        warnings.filterwarnings("ignore", message="headstart: skipped")
        split = ready_split if ready_split is not None else load_image_dataset(
            config.data, val_path=config.val_data, val_fraction=config.val_fraction, seed=config.seed, strict=config.strict)
    dm = ImageDataModule(split, data_config, batch_size=config.batch_size, num_workers=config.num_workers, seed=config.seed,
                         gpu_decode=config.gpu_decode)
    if config.augment != "light":  # the datamodule's own training transform is "light"
        from .data.augment import train_transform

        dm.train_dataset.transform = train_transform(data_config, config.augment)
    return dm, split, data_config


def strategy_options(config: RunConfig, lr: float, epochs: int | None = None) -> StrategyOptions:
    return StrategyOptions(epochs=epochs or config.epochs, lr=lr, head_epochs=config.head_epochs,
                           finetune_lr_factor=config.finetune_lr_factor, layer_decay=config.layer_decay,
                           lr_spread=config.lr_spread, warmup_fraction=config.warmup_fraction, gradual=config.gradual)


def converge_head_phases(plan: list[Phase], config: RunConfig) -> list[Phase]:
    """Mark head-only phases to be solved to convergence when they will run on cached features."""
    from dataclasses import replace

    from .engine.feature_cache import check_cache_options

    if config.head_fit != "converge" or config.task == "multi-label" or not check_cache_options(
            config.cache_features, config.cache_augment):  # the solver is multinomial: multi-label heads train by epochs
        return plan
    return [replace(p, converge=True) if p.backbone_frozen else p for p in plan]


def check_augment(config: RunConfig, modality: str, dm: Any, custom: Callable | None) -> dict[str, Any]:
    """Validate the augmentation options for ``modality``, install a custom transform; what to record."""
    from .data.augment import describe_augment

    if modality == "text" and (config.mixup or config.cutmix or custom is not None):
        raise ConfigError("mixup, cutmix and custom transforms are for images; this run's data is text.",
                          "Drop --mixup/--cutmix (and train_transform) for text data.")
    if custom is not None:
        if not callable(custom):
            raise ConfigError(f"train_transform={custom!r} is not callable.", "Pass a function or a torchvision transform.")
        dm.train_dataset.transform = custom
    return describe_augment(config.augment if modality == "image" else "none", custom, config.mixup, config.cutmix)


def finetune_verdict(plan: list[Phase], run_dir: Path) -> dict[str, Any] | None:
    """Did fine-tuning beat the head? From the best-epoch record; None when the plan has no head phase first."""
    if len(plan) < 2 or not plan[0].backbone_frozen or not (run_dir / "state.json").is_file():
        return None
    state = read_json(run_dir / "state.json")
    best, history = state.get("best") or {}, state.get("history", [])
    scored = [e for e in history if e.get("val_loss") is not None]
    head = [e for e in scored if e["phase"] == plan[0].name]
    tuned = [e for e in scored if e["phase"] != plan[0].name]
    if not head or not tuned:
        return None
    won = best.get("phase") != plan[0].name
    best_head, best_tuned = (min(entries, key=lambda e: e["val_loss"]) for entries in (head, tuned))

    def accuracy(entry: dict[str, Any]) -> str:  # the rule is validation loss; accuracy can disagree, so show it
        return f" (val_accuracy {entry['val_accuracy']:.4f})" if entry.get("val_accuracy") is not None else ""

    message = (f"Fine-tuning beat the head on validation loss: {best_tuned['val_loss']:.4f}{accuracy(best_tuned)} "
               f"against {best_head['val_loss']:.4f}{accuracy(best_head)} for the head alone; the final model is "
               "the fine-tuned one."
               if won else
               f"Fine-tuning did not beat the head (best val_loss {best_tuned['val_loss']:.4f} against "
               f"{best_head['val_loss']:.4f}): the final model is the head-phase model.")
    return {"finetune_won": won, "head_val_loss": best_head["val_loss"], "finetune_val_loss": best_tuned["val_loss"],
            "message": message}


def class_weight_tensor(counts: list[int]) -> torch.Tensor:
    """Inverse-frequency weights normalised to mean 1 (balanced loss for imbalanced data)."""
    c = torch.tensor(counts, dtype=torch.float32).clamp(min=1)
    w = c.sum() / (len(c) * c)
    return w / w.mean()


@dataclass
class BuiltModel:
    backbone: Backbone
    datamodule: Any
    split: Any
    data_config: Any
    model: TransferModel
    lora: dict[str, Any] | None


def build_model(config: RunConfig, console: Console | None = None, source: Any = None, val_source: Any = None) -> BuiltModel:
    """Backbone, data and the TransferModel for ``config``: what `train` and `lr-find` both start from."""
    text = backbone_modality(config.model) == "text"
    backbone = create_backbone(config.model, weights=config.weights,
                               **({"max_length": config.max_length} if text and config.max_length else {}))
    if console is not None and getattr(backbone, "load_report", None):
        console.print(backbone.load_report.summary())
    dm, split, data_config = build_data(config, backbone, source, val_source)
    head = build_head(config.head, backbone.num_features, len(split.classes), dropout=config.head_dropout, hidden=config.head_hidden)
    model = TransferModel(backbone, head, list(split.classes), task=config.task)
    lora_info = None
    if config.strategy == "lora":
        from .backbones.lora import apply_lora

        lora_info = {"r": config.lora_r, "alpha": config.lora_alpha, "dropout": config.lora_dropout}
        apply_lora(model, **lora_info)
    return BuiltModel(backbone, dm, split, data_config, model, lora_info)


def prepare_run_dir(config: RunConfig, resume: bool, created: list[Path] | None = None) -> Path:
    """The run folder, made now; one that already holds a run is an error unless ``resume`` or
    ``config.overwrite`` (which replaces only a folder headstart wrote). A folder made here is
    appended to ``created`` (so a failed start can remove it again)."""
    from lightning.pytorch.utilities import rank_zero_only

    from .engine.runtime import launched_externally

    name = config.name or os.environ.get(RUN_NAME_ENV)  # DDP workers re-launched by Lightning inherit it
    if not name and launched_externally():
        raise ConfigError("Processes started by torchrun/SLURM must share one run folder, but no --name was given.",
                          "Pass --name NAME (the same for every process).")
    run_dir = Path(config.output_dir) / (name or _run_name(config))
    if rank_zero_only.rank != 0:  # other DDP processes write into rank 0's folder
        run_dir.mkdir(parents=True, exist_ok=True)
        return run_dir
    # under torchrun/SLURM the other ranks may already have written config.yaml etc.: only a trained run counts
    trained = ("state.json", "checkpoints", "metrics.json")
    if config.overwrite and not resume and not launched_externally() and run_dir.exists():
        clear_for_overwrite(run_dir)
    if run_dir.exists() and not resume and (any((run_dir / f).exists() for f in trained) if launched_externally()
                                            else any(run_dir.iterdir())):
        raise RunError(f"Run folder {run_dir} already exists.",
                       f"Continue it with `headstart train --resume {run_dir}`, pick another --name, or replace it with --overwrite.")
    if created is not None and not run_dir.exists() and not launched_externally():
        created.append(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def check_before_start(config: RunConfig, model: TransferModel) -> None:
    """Everything that can be checked without training, so a bad option fails before the run
    folder exists: the strategy against the model, the accelerator and precision on this machine."""
    from .engine.runtime import resolve_accelerator, resolve_precision

    lr = 1e-3 if config.lr == "auto" else float(config.lr)  # the finder's LR is not known yet; any value checks the plan
    plan_for("two-phase" if config.strategy == "auto" else config.strategy, strategy_options(config, lr), len(model.layer_groups()))
    accelerator = resolve_accelerator(config.accelerator)
    resolve_precision(config.precision, accelerator)
    if accelerator in ("gpu", "cuda") and isinstance(config.devices, int) and config.devices > torch.cuda.device_count():
        raise ConfigError(f"--devices {config.devices} asks for more GPUs than this machine has ({torch.cuda.device_count()}).",
                          f"Use --devices {torch.cuda.device_count()} or fewer (per node).")


def train_run(
    config: RunConfig,
    *,
    resume_dir: str | Path | None = None,
    console: Console | None = None,
    phase_data: Callable | None = None,
    source: Any = None,
    val_source: Any = None,
    progress: bool = True,
    train_transform: Callable | None = None,
) -> TrainResult:
    """Train according to ``config``; with ``resume_dir`` continue that run from its config.yaml.

    ``source``/``val_source`` (:class:`headstart.data.sources.DataSource`) train from data in memory;
    ``config.data`` then only describes it. ``progress=False`` prints nothing and shows no bars.

    A resume writes nothing into the folder until its data, state and checkpoints are checked
    (``resume.py``); on a complete run it only says so. A start that fails before its first epoch
    is recorded removes the run folder it created, so the name is free again
    (run_folder.remove_failed_start).

    ``train_transform``: your own training transform for images (decoded ``uint8 [3, H, W]`` tensor ->
    model input), used instead of ``config.augment``; its repr is recorded in model.json.
    """
    created: list[Path] = []
    try:
        return _train_run(config, resume_dir=resume_dir, console=console, phase_data=phase_data, created=created,
                          source=source, val_source=val_source, progress=progress,
                          train_transform=train_transform)
    except Exception:
        for run_dir in created:
            remove_failed_start(run_dir)
        raise


def _train_run(config: RunConfig, *, resume_dir: str | Path | None, console: Console | None,
               phase_data: Callable | None, created: list[Path], source: Any = None, val_source: Any = None,
               progress: bool = True, train_transform: Callable | None = None) -> TrainResult:
    from .data.sources import check_memory_data

    console = console or Console(quiet=not progress)
    if resume_dir is not None:
        resume_dir = Path(resume_dir)
        config = resumed_config(resume_dir)
    check_memory_data(config, source, val_source, resume_dir)
    if source is not None:
        config = config_from_dict({**config.to_dict(), "data": source.description,
                                   "val_data": val_source.description if val_source is not None else config.val_data})
    if resume_dir is not None:
        finished = finished_metrics(resume_dir)
        if finished is not None:
            console.print(complete_message(resume_dir, finished), soft_wrap=True)
            return TrainResult(resume_dir, finished, None)
    if not config.data:
        raise ConfigError("No training data given.", "Pass DATA (an image folder or a CSV) to `headstart train`.")
    if config.task == "multi-label" and (config.mixup or config.cutmix):
        raise ConfigError("mixup/cutmix mix one label per image; this run is multi-label.", "Drop --mixup/--cutmix.")
    if config.task == "multi-label" and config.class_weights:
        raise ConfigError("class_weights is for single-label runs; multi-label training uses per-label thresholds "
                          "instead.", "Drop --class-weights.")
    t0 = time.perf_counter()
    # Seed before anything random is built (random-init backbone, new head): same config, same run.
    torch.manual_seed(config.seed)
    built = build_model(config, console, source, val_source)
    backbone, dm, split, data_config, model, lora_info = (
        built.backbone, built.datamodule, built.split, built.data_config, built.model, built.lora)
    classes = list(split.classes)
    check_before_start(config, model)
    augment = check_augment(config, data_config.modality, dm, train_transform)
    batchnorm = batchnorm_choice(config, model, split)  # before the LR finder: it trains the same way
    run_dir = prepare_run_dir(config, resume=resume_dir is not None, created=created)  # before the LR finder: fail fast on a clash
    if resume_dir is not None:
        fingerprint = check_resume(run_dir, split, data_config.modality, str(config.data))
    else:
        fingerprint = data_fingerprint(split, data_config.modality)
    lr = config.lr
    lr_finding = None
    if lr == "auto":
        from .lr_find import find_lr

        lr_finding = find_lr(config, model, dm, console=console)
        lr = lr_finding.lr
        console.print(f"LR finder suggests lr={lr:.2e}")
    if isinstance(lr, str):
        raise ConfigError(f"lr must be a number or 'auto', got {lr!r}.")
    if phase_data is None:
        phase_data = cached_phase_data(config, dm, run_dir)
    strategy, epochs, decision = config.strategy, config.epochs, None
    if strategy == "auto":
        from .strategies.auto import AutoDecision, choose_strategy

        recorded = read_json(run_dir / "model.json").get("auto") if (run_dir / "model.json").is_file() else None
        if resume_dir is not None and recorded:
            decision = AutoDecision.from_dict(recorded)
        elif config.task == "multi-label":
            from .strategies.auto import multilabel_decision

            decision = multilabel_decision(split, len(classes), data_config.modality, config.epochs)
        else:
            decision = choose_strategy(config, model, dm, phase_data, t0)
        strategy, epochs = decision.strategy, decision.epochs
        console.print(f"[bold]auto[/] chose {decision.reasons}")
        if strategy == "lora":
            from .backbones.lora import apply_lora

            lora_info = {"r": config.lora_r, "alpha": config.lora_alpha, "dropout": config.lora_dropout}
            apply_lora(model, **lora_info)
    plan = converge_head_phases(plan_for(strategy, strategy_options(config, float(lr), epochs), len(model.layer_groups())), config)
    if batchnorm is not None and not all(p.backbone_frozen for p in plan):
        console.print(f"BatchNorm statistics {'kept as pretrained' if batchnorm['mode'] == 'frozen' else 're-estimated'} "
                      f"while fine-tuning ({batchnorm['mode']}): {batchnorm['why']}.")
    else:
        batchnorm = None  # nothing unfrozen (or no BatchNorm): the choice changes nothing
    averaging = None
    if config.weight_averaging != "none" and not all(p.backbone_frozen for p in plan):
        averaging = {"method": config.weight_averaging,
                     "phases": [p.name for p in plan if not (p.backbone_frozen and phase_data is not None)]}
        console.print(f"Weight averaging ({config.weight_averaging}) in phase(s) {', '.join(averaging['phases'])}: "
                      "validation, the kept epoch and the saved model use the averaged weights.")
    options = engine_options(config, dm, classes)
    if decision is not None and decision.patience and config.early_stopping is None:
        options.early_stopping_patience = decision.patience  # auto's fine-tuning stops when it stops paying
    runtime = resolve_runtime(options, model, num_workers=getattr(dm, "num_workers", config.num_workers))
    resolved = config.to_dict()
    resolved["lr"] = float(lr)
    resolved["precision"] = options.precision = runtime.precision  # the numerics, wherever the config runs again
    resolved[RESOLVED_RUNTIME_KEY] = runtime.to_dict()  # informational: how this run ran (ignored when loaded)
    resolved["name"] = None  # `train --config runs/x/config.yaml` makes a new run instead of clashing with x
    resolved["overwrite"] = False  # ... and never deletes one
    options.progress_bar, options.loggers, options.hyperparams = progress, config.logger, resolved
    for key in ("data", "val_data"):  # absolute, so `--resume` works from any working directory
        if resolved.get(key) and os.path.exists(resolved[key]):
            resolved[key] = os.path.abspath(resolved[key])
    # A resume keeps the files the run started with; it only adds those a kill left unwritten.
    new = resume_dir is None
    if new or not (run_dir / FINGERPRINT_FILE).exists():
        if not new:
            console.print(f"note: {run_dir} has no {FINGERPRINT_FILE} (made by an older headstart): the data "
                          "could not be checked against the run's start; recording it now")
        write_json(run_dir / FINGERPRINT_FILE, fingerprint)  # before config.yaml: a resumable folder has it
    if new:
        write_yaml(run_dir / "config.yaml", resolved)
    if lr_finding is not None:
        console.print(f"LR finder plot: {lr_finding.save(run_dir / 'plots')['plot']}")
    if new or not (run_dir / "model.json").exists():
        info = model_info(model, strategy, data_config, lora_info)
        info["runtime"] = runtime.to_dict()
        info["augment"] = augment
        if batchnorm is not None:
            info["batchnorm"] = batchnorm
        if averaging is not None:
            info["weight_averaging"] = averaging
        if decision is not None:
            info["auto"] = decision.to_dict()
        write_json(run_dir / "model.json", info)
    if data_config.modality == "text" and hasattr(backbone, "save_assets") and (new or not (run_dir / BACKBONE_ASSETS).exists()):
        backbone.save_assets(run_dir / BACKBONE_ASSETS)
    console.print(f"Run folder: {run_dir}")
    console.print(runtime.summary())
    console.print(f"Data: {len(split.train)} train / {len(split.val)} val, classes: {', '.join(classes)}")
    skipped = getattr(split, "skipped", None) or []
    if skipped:
        names = ", ".join(Path(p).name for p, _ in skipped[:3]) + (", ..." if len(skipped) > 3 else "")
        console.print(f"[yellow]warning:[/] skipped {len(skipped)} unreadable image file(s): {names} "
                      "(--strict stops on them instead)")
    # On resume, keep the reports of the phases already done: params.json lists every phase.
    phase_reports: list[dict[str, Any]] = []
    if resume_dir is not None and (run_dir / "params.json").is_file():
        phase_reports = list(read_json(run_dir / "params.json").get("phases", []))

    def on_phase_start(index: int, phase: Phase, report) -> None:
        length = "solved to convergence on cached features" if phase.converge else f"{phase.epochs} epoch{'s' if phase.epochs != 1 else ''}"
        console.print(f"\nPhase {index + 1}/{len(plan)}: {phase.name} ({length})")
        console.print(report.to_rich())
        del phase_reports[index:]
        phase_reports.append(report.to_dict())
        if phase.trainable == "lora":
            from .backbones.lora import lora_counts, lora_summary

            console.print(lora_summary(model))
            phase_reports[-1]["lora"] = lora_counts(model)
        last = phase_reports[-1]
        write_json(run_dir / "params.json", {"total": last["total"], "trainable": last["trainable"], "phases": phase_reports})

    os.environ[RUN_NAME_ENV] = run_dir.name  # for DDP workers that Lightning starts by re-running this command
    try:
        history = fit_plan(model, dm, plan, run_dir, options, resume=resume_dir is not None,
                           phase_data=phase_data, on_phase_start=on_phase_start)
    finally:
        os.environ.pop(RUN_NAME_ENV, None)
    if decision is not None and history and plan[0].backbone_frozen and history[0]["phase"] == plan[0].name:
        # the head phase reused auto's extraction: show that pass's time with it, not the cache read's
        history[0]["extract_seconds"] = max(history[0].get("extract_seconds") or 0.0, decision.facts.extract_seconds)
    from lightning.pytorch.utilities import rank_zero_only

    from .data.sources import val_inputs

    if rank_zero_only.rank != 0:  # DDP: rank 0 evaluates and writes the run files
        return TrainResult(run_dir, {}, model)
    write_safetensors(run_dir / "model.safetensors", model.state_dict())
    logits, labels = final_logits(model, dm, phase_data)
    inputs = val_inputs(split.val, run_dir)  # in-memory images are written to RUN/val_images/
    if config.task == "multi-label":
        from .engine.multilabel_metrics import multilabel_results

        saved = read_json(run_dir / "model.json")  # the thresholds travel with the model
        metrics, items, saved["thresholds"] = multilabel_results(logits, labels, classes, inputs)
        write_json(run_dir / "model.json", saved)
    else:
        metrics = classification_metrics(logits, labels, classes)
        items = prediction_items(logits, labels, inputs)
    metrics["epochs"] = history
    metrics["wall_time_s"] = round(time.perf_counter() - t0, 2)
    metrics["train_size"], metrics["val_size"] = len(split.train), len(split.val)
    if decision is not None:
        metrics["auto"] = decision.to_dict()
    verdict = finetune_verdict(plan, run_dir)
    if verdict:
        metrics["finetune_verdict"] = verdict
    write_json(run_dir / "metrics.json", metrics)
    write_json(run_dir / "val_predictions.json", {"classes": classes, "items": items})
    _write_report(run_dir, console)
    console.print(summary_table(history))
    if decision is not None:
        console.print(f"auto chose {decision.reasons}")
    if verdict:
        console.print(f"[{'green' if verdict['finetune_won'] else 'yellow'}]{verdict['message']}[/]")
    headline = (f"mAP={metrics['val_map']:.4f}  micro_f1={metrics['micro_f1']:.4f}  exact_match" if "val_map" in metrics
                else "val_accuracy")
    console.print(f"\n{headline}={metrics['val_accuracy']:.4f}  macro_f1={metrics['macro_f1']:.4f}  "
                  f"val_loss={metrics['val_loss']:.4f}  time={metrics['wall_time_s']:.1f}s")
    console.print(f"Run folder: {run_dir}")
    return TrainResult(run_dir, metrics, model)


def batchnorm_choice(config: RunConfig, model: TransferModel, split: Any) -> dict[str, str] | None:
    """Resolve ``--batchnorm`` for this data and set it on ``model``; None when the model has no BatchNorm."""
    from .params.batchnorm import has_batchnorm, resolve_batchnorm

    if not has_batchnorm(model.backbone):
        return None
    counts = split.class_counts("train") if hasattr(split, "class_counts") else None
    mode, why = resolve_batchnorm(config.batchnorm, min(counts.values()) if counts else None,
                                  pretrained=config.weights != "none")
    model.batchnorm_stats = mode
    return {"mode": mode, "why": why}


def engine_options(config: RunConfig, dm: Any, classes: list[str]) -> EngineOptions:
    """The engine's options for ``config`` (class weights counted on ``dm``'s training data)."""
    counts = None
    if config.class_weights:
        raw = dm.class_counts()
        counts = [raw[c] for c in classes] if isinstance(raw, dict) else list(raw)
    return EngineOptions(
        accelerator=config.accelerator, devices=config.devices, num_nodes=config.num_nodes,
        precision=config.precision, seed=config.seed, weight_decay=config.weight_decay,
        label_smoothing=config.label_smoothing,
        class_weights=class_weight_tensor(counts) if counts else None,
        early_stopping_patience=config.early_stopping, channels_last=config.channels_last,
        limit_train_batches=config.limit_train_batches, compile=config.compile,
        mixup=config.mixup, cutmix=config.cutmix, weight_averaging=config.weight_averaging,
    )


def final_logits(model: TransferModel, dm: Any, phase_data: Callable | None) -> tuple[torch.Tensor, torch.Tensor]:
    """fp32 val logits of the final model, every val item once, as the kept epoch's validation computed them.

    When the final model only trained its head, the cached validation features give them without a
    backbone pass; otherwise the model runs over the val loader.
    """
    dm.setup("validate")
    cached = phase_data.val_logits(model) if isinstance(phase_data, CachedPhaseData) else None
    return cached if cached is not None else collect_logits(model, dm.val_dataloader())


def summary_table(history: list[dict[str, Any]]):
    """The per-epoch story of the run as a rich table (printed after training)."""
    from rich.table import Table

    table = Table(title="Summary")
    for col in ("epoch", "phase", "train_loss", "val_loss", "val_accuracy", "seconds"):
        table.add_column(col, justify="left" if col == "phase" else "right")

    def fmt(value: Any, digits: int = 4) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    for e in history:
        seconds = fmt(e.get("seconds"), 1) + (f" (+{e['extract_seconds']:.1f} extraction)" if e.get("extract_seconds") else "")
        table.add_row(str(e["epoch"]), e["phase"], fmt(e.get("train_loss")), fmt(e.get("val_loss")),
                      fmt(e.get("val_accuracy")), seconds)
    return table


def _write_report(run_dir: Path, console: Console) -> None:
    from .report.html import write_report  # matplotlib: imported only when a run finishes

    path = write_report(run_dir)
    console.print(f"Report: {path}")
