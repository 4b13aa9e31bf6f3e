"""``headstart train``: train a classifier on your data with a pretrained backbone."""
from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import typer

from .app import app

EXAMPLES = """
Examples:

  headstart train examples/ants_bees --model efficientnet_lite0 --strategy two-phase --epochs 3

  headstart train photos/ --model torchvision:resnet50 --strategy fine-tune --lr 3e-4

  headstart train reviews.csv --model minilm --text-column review --label-column stars

  headstart train --config runs/old/config.yaml        (reproduce a run)

  headstart train --resume runs/my-run                 (continue an interrupted run)
"""


def _parse_lr(value: Optional[str]):
    if value is None or value == "auto":
        return value
    try:
        return float(value)
    except ValueError:
        raise typer.BadParameter(f"--lr must be a number or 'auto', got {value!r}") from None


def _parse_devices(value: Optional[str]):
    if value is None or value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise typer.BadParameter(f"--devices must be an integer or 'auto', got {value!r}") from None


def _check_resume_alone(run: Path, options: dict[str, object]) -> None:
    """``--resume`` continues a run exactly as it was started: any other option is an error, not ignored."""
    from ..errors import ConfigError

    given = ["DATA" if key == "data" else "--" + key.replace("_", "-") for key, value in options.items() if value is not None]
    if given:
        raise ConfigError(f"--resume {run} continues the run with the settings it was started with; "
                          f"it takes no other options, but got {', '.join(given)}.",
                          f"Drop them; to train with other settings, start a new run from its config: "
                          f"headstart train --config {run / 'config.yaml'} --epochs N ...")


@contextmanager
def _resume_hint_on_interrupt(run_dir: Optional[str]) -> Iterator[None]:
    """On Ctrl+C say how to continue (typer turns the interrupt into exit code 130 silently)."""
    try:
        yield
    except KeyboardInterrupt:
        where = run_dir or "RUN (the run folder printed above)"
        print(f"interrupted: the run folder keeps its last checkpoint; continue with `headstart train --resume {where}`",
              file=sys.stderr)
        raise


@app.command("train", help="Train a classifier: pretrained backbone + new head, with a transfer strategy." + EXAMPLES)
def train(
    data: Optional[str] = typer.Argument(None, help="Image folder (train/ + val/, or class subfolders), a CSV of path,label, or a text CSV/TSV/JSONL."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Backbone name: efficientnet_lite0 (default), torchvision:NAME, timm:NAME, hf:ID_OR_FOLDER, minilm."),
    strategy: Optional[str] = typer.Option(None, "--strategy", "-s", help="feature-extraction | fine-tune | two-phase (default) | lora (text)."),
    weights: Optional[str] = typer.Option(None, help="imagenet (pretrained, default) | none | path/to/weights.(pth|pt|safetensors)."),
    epochs: Optional[int] = typer.Option(None, help="Epochs of the main phase (fine-tune phase in two-phase)."),
    head_epochs: Optional[int] = typer.Option(None, help="two-phase: epochs training only the head first."),
    lr: Optional[str] = typer.Option(None, help="Head learning rate, or 'auto' for the LR finder."),
    batch_size: Optional[int] = typer.Option(None, help="Batch size."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML config (flags override it)."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the interrupted run in this folder."),
    val_data: Optional[str] = typer.Option(None, help="Separate validation folder/CSV."),
    val_fraction: Optional[float] = typer.Option(None, help="Stratified validation fraction when DATA has no val split."),
    image_size: Optional[int] = typer.Option(None, help="Override the input resolution (default: the weights' own)."),
    finetune_lr_factor: Optional[float] = typer.Option(None, help="two-phase: LR multiplier after unfreezing (default 0.1)."),
    layer_decay: Optional[float] = typer.Option(None, help="LR decay per layer group from the head (default: spread 100x)."),
    lr_spread: Optional[float] = typer.Option(None, help="Head LR / first-group LR when --layer-decay is not given."),
    gradual: Optional[bool] = typer.Option(None, "--gradual/--no-gradual", help="two-phase: unfreeze one group per epoch."),
    weight_decay: Optional[float] = typer.Option(None, help="AdamW weight decay (not applied to norms/biases)."),
    label_smoothing: Optional[float] = typer.Option(None, help="Label smoothing for the loss."),
    class_weights: Optional[bool] = typer.Option(None, "--class-weights/--no-class-weights", help="Inverse-frequency class weights for imbalanced data."),
    early_stopping: Optional[int] = typer.Option(None, help="Stop a phase after N epochs without val_loss improvement."),
    head: Optional[str] = typer.Option(None, help="linear (default) | mlp."),
    head_hidden: Optional[int] = typer.Option(None, help="Hidden width of the mlp head."),
    head_dropout: Optional[float] = typer.Option(None, help="Dropout before the head."),
    seed: Optional[int] = typer.Option(None, help="Random seed (split, init, order)."),
    strict: Optional[bool] = typer.Option(None, "--strict/--no-strict", help="Fail on unreadable images instead of skipping them."),
    text_column: Optional[str] = typer.Option(None, help="Text column (text data)."),
    label_column: Optional[str] = typer.Option(None, help="Label column (text data)."),
    max_length: Optional[int] = typer.Option(None, help="Max tokens per text."),
    lora_r: Optional[int] = typer.Option(None, help="LoRA rank (strategy lora)."),
    accelerator: Optional[str] = typer.Option(None, help="auto | cpu | gpu."),
    devices: Optional[str] = typer.Option(None, help="Number of devices (data-parallel) or auto."),
    num_nodes: Optional[int] = typer.Option(None, help="Number of nodes for multi-node DDP."),
    precision: Optional[str] = typer.Option(None, help="auto | 32-true | bf16-mixed | 16-mixed."),
    num_workers: Optional[int] = typer.Option(None, help="DataLoader workers (default: sized to the machine)."),
    cache_features: Optional[bool] = typer.Option(None, "--cache-features/--no-cache-features", help="Cache backbone features in frozen phases (default on)."),
    cache_augment: Optional[int] = typer.Option(None, help="Cache K augmented views per training image."),
    compile: Optional[bool] = typer.Option(None, "--compile/--no-compile", help="torch.compile the model."),
    output_dir: Optional[str] = typer.Option(None, help="Where run folders go (default: ./runs)."),
    name: Optional[str] = typer.Option(None, help="Run folder name (default: model-strategy-time)."),
    limit_train_batches: Optional[float] = typer.Option(None, hidden=True),
) -> None:
    from ..config import RunConfig, load_config
    from ..runner import train_run

    overrides = dict(
        data=data, model=model, strategy=strategy, weights=weights, epochs=epochs, head_epochs=head_epochs,
        lr=_parse_lr(lr), batch_size=batch_size, val_data=val_data, val_fraction=val_fraction,
        image_size=image_size, finetune_lr_factor=finetune_lr_factor, layer_decay=layer_decay,
        lr_spread=lr_spread, gradual=gradual, weight_decay=weight_decay, label_smoothing=label_smoothing,
        class_weights=class_weights, early_stopping=early_stopping, head=head, head_hidden=head_hidden,
        head_dropout=head_dropout, seed=seed, strict=strict, text_column=text_column,
        label_column=label_column, max_length=max_length, lora_r=lora_r, accelerator=accelerator,
        devices=_parse_devices(devices), num_nodes=num_nodes, precision=precision, num_workers=num_workers,
        cache_features=cache_features, cache_augment=cache_augment, compile=compile,
        output_dir=output_dir, name=name,
        limit_train_batches=(int(limit_train_batches) if limit_train_batches and limit_train_batches >= 1 else limit_train_batches),
    )
    if resume is not None:
        _check_resume_alone(resume, {"config": config, **overrides})
        with _resume_hint_on_interrupt(str(resume)):
            train_run(RunConfig(), resume_dir=resume)
        return
    base = load_config(config) if config else RunConfig()
    config = base.updated(**overrides)
    with _resume_hint_on_interrupt(str(Path(config.output_dir) / config.name) if config.name else None):
        train_run(config)
