"""``headstart lr-find``: sweep the learning rate, save the loss curve, print a suggested LR."""
from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Optional

import typer

from .app import app

EXAMPLES = """
Examples:

  headstart lr-find examples/ants_bees --model efficientnet_lite0

  headstart lr-find photos/ --model torchvision:resnet50 --strategy fine-tune --max-lr 0.1

  headstart train photos/ --model efficientnet_lite0 --lr auto     (the finder inside training)

The test trains a copy of the model for the first phase of the strategy (the head phase of two-phase, every group of fine-tune), multiplying every group's LR by the same growing factor, so discriminative LR ratios stay as training will use them. The suggested value is for --lr.
"""


def train_command(config, lr: float) -> str:
    """The ``headstart train`` command for ``config`` with ``lr``: every option that differs from
    the defaults (--weights, --image-size, ...), so the pasted command trains what was swept."""
    import shlex
    from dataclasses import fields

    from ..config import RunConfig, flag_name

    defaults = RunConfig()
    parts = ["headstart", "train", shlex.quote(config.data), "--model", shlex.quote(config.model),
             "--strategy", shlex.quote(config.strategy)]
    for field in fields(RunConfig):
        value = getattr(config, field.name)
        if field.name in ("data", "model", "strategy", "lr") or value == getattr(defaults, field.name):
            continue
        if isinstance(value, bool):
            parts.append(flag_name(field.name) if value else "--no-" + field.name.replace("_", "-"))
        else:
            parts += [flag_name(field.name), shlex.quote(str(value))]
    return " ".join([*parts, "--lr", f"{lr:.2e}"])


def _build(config):
    """Model and datamodule for ``config``, built the way ``headstart train`` builds them."""
    from ..runner import build_model

    built = build_model(config)
    return built.model, built.datamodule


@app.command("lr-find", help="Find a good learning rate with a short LR range test (keeps layer-group LR ratios)." + EXAMPLES)
def lr_find(
    data: Optional[str] = typer.Argument(None, help="Training data, as for `headstart train`."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Backbone name, as for `headstart train`."),
    weights: Optional[str] = typer.Option(None, help="imagenet (default) | none | path/to/weights."),
    strategy: Optional[str] = typer.Option(None, "--strategy", "-s", help="Its first phase is tested (default two-phase: the head phase)."),
    batch_size: Optional[int] = typer.Option(None, help="Batch size (use the one you will train with)."),
    image_size: Optional[int] = typer.Option(None, help="Override the input resolution."),
    min_lr: float = typer.Option(1e-7, help="Smallest head LR of the sweep."),
    max_lr: float = typer.Option(1.0, help="Largest head LR of the sweep."),
    num_steps: int = typer.Option(100, help="Training steps of the sweep (batches repeat if the data is small)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Folder for lr_find.png/json (default: ./runs/lr-find-<time>)."),
    config: Optional[Path] = typer.Option(None, "--config", help="YAML config (flags override it)."),
    val_data: Optional[str] = typer.Option(None, help="Separate validation folder/CSV (kept out of the sweep)."),
    head: Optional[str] = typer.Option(None, help="linear (default) | mlp."),
    layer_decay: Optional[float] = typer.Option(None, help="LR decay per layer group from the head."),
    lr_spread: Optional[float] = typer.Option(None, help="Head LR / first-group LR when --layer-decay is not given."),
    weight_decay: Optional[float] = typer.Option(None, help="AdamW weight decay."),
    text_column: Optional[str] = typer.Option(None, help="Text column (text data)."),
    label_column: Optional[str] = typer.Option(None, help="Label column (text data)."),
    accelerator: Optional[str] = typer.Option(None, help="auto | cpu | gpu."),
    precision: Optional[str] = typer.Option(None, help="auto | 32-true | bf16-mixed | 16-mixed."),
    num_workers: Optional[int] = typer.Option(None, help="DataLoader workers."),
    seed: Optional[int] = typer.Option(None, help="Random seed."),
) -> None:
    from rich.console import Console

    from ..config import RunConfig, load_config
    from ..lr_find import find_lr

    console = Console()
    base = load_config(config) if config else RunConfig()
    run_config = base.updated(
        data=data, model=model, weights=weights, strategy=strategy, batch_size=batch_size,
        image_size=image_size, val_data=val_data, head=head, layer_decay=layer_decay, lr_spread=lr_spread,
        weight_decay=weight_decay, text_column=text_column, label_column=label_column,
        accelerator=accelerator, precision=precision, num_workers=num_workers, seed=seed)
    if not run_config.data:
        from ..errors import ConfigError

        raise ConfigError("No training data given.", "Pass DATA (an image folder or a CSV) to `headstart lr-find`.")
    net, dm = _build(run_config)
    result = find_lr(run_config, net, dm, min_lr=min_lr, max_lr=max_lr, num_steps=num_steps, console=console)
    folder = output or Path(run_config.output_dir) / f"lr-find-{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"
    paths = result.save(folder)
    note = " (loss diverged; sweep stopped early)" if result.stopped_early else ""
    console.print(f"Swept {len(result.lrs)} steps{note}.")
    console.print(f"Suggested lr: {result.lr:.2e}  ({result.method}; head LR of phase '{result.phase}': {result.suggestion:.2e})")
    console.print(f"Plot: {paths['plot']}")
    console.print(f"Curve: {paths['json']}")
    console.print(f"Train with: {train_command(run_config, result.lr)}", soft_wrap=True)  # one pasteable line
