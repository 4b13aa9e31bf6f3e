"""Run configuration: defaults in one dataclass, then YAML, then CLI flags.

An unknown key or a value of the wrong type is an error that names the key and the valid ones.
The resolved config is saved as ``config.yaml`` in every run folder; ``headstart train --config
runs/x/config.yaml`` reproduces that run.
"""
from __future__ import annotations

import difflib
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError


@dataclass
class RunConfig:
    # data
    data: str = ""
    val_data: str | None = None
    val_fraction: float = 0.2
    strict: bool = False
    text_column: str = "text"
    label_column: str = "label"
    max_length: int | None = None
    image_size: int | None = None
    # model
    model: str = "efficientnet_lite0"
    weights: str = "imagenet"
    head: str = "linear"
    head_hidden: int | None = None
    head_dropout: float = 0.0
    # strategy
    strategy: str = "two-phase"
    epochs: int = 5
    head_epochs: int = 2
    lr: float | str = 1e-3
    finetune_lr_factor: float = 0.1
    layer_decay: float | None = None
    lr_spread: float = 100.0
    gradual: bool = False
    warmup_fraction: float = 0.1
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    head_fit: str = field(default="converge", metadata={"help": (
        "How a head-only phase on cached features trains: converge (default; linear head: L-BFGS with L2 "
        "chosen by 5-fold CV on the training features, mlp head: AdamW early-stopped on 15% of train; "
        "--epochs/--head-epochs do not apply to it) | epochs (minibatch AdamW for the given epochs).")})
    # optimisation
    batch_size: int = 32
    weight_decay: float = 0.01
    label_smoothing: float = 0.0
    class_weights: bool = False
    early_stopping: int | None = None
    seed: int = 0
    # speed and hardware
    accelerator: str = "auto"
    devices: int | str = "auto"
    num_nodes: int = 1
    precision: str = "auto"
    num_workers: int | None = None
    channels_last: bool | str = "auto"
    cache_features: bool | str = "auto"
    cache_augment: int = 0
    compile: bool = False
    limit_train_batches: int | float | None = None
    # output
    output_dir: str = "runs"
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def updated(self, **overrides: Any) -> "RunConfig":
        """A copy with ``overrides`` applied (None values are ignored: 'flag not given')."""
        data = self.to_dict()
        data.update({k: v for k, v in overrides.items() if v is not None})
        return config_from_dict(data, source="command line")


def _yaml_float(value: Any) -> float | None:
    """``value`` as a float if it is a string YAML left unparsed (PyYAML reads ``3e-4`` as text:
    YAML 1.1 wants ``3.0e-4``); else None."""
    if not isinstance(value, str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def _check_type(key: str, value: Any, annotation: Any, source: str) -> Any:
    origin = typing.get_origin(annotation)
    options = typing.get_args(annotation) if origin in (typing.Union, types.UnionType) else (annotation,)
    if float in options and _yaml_float(value) is not None:
        return _yaml_float(value)
    for option in options:
        if option is type(None) and value is None:
            return None
        if option is bool and isinstance(value, bool):
            return value
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if option is str and isinstance(value, str):
            return value
    names = " or ".join("null" if o is type(None) else o.__name__ for o in options)
    raise ConfigError(f"{source}: {key!r} must be {names}, got {value!r}.")


def config_from_dict(data: dict[str, Any], source: str = "config") -> RunConfig:
    hints = typing.get_type_hints(RunConfig)
    valid = [f.name for f in fields(RunConfig)]
    checked = {}
    for key, value in data.items():
        if key not in hints:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else f" Valid keys: {', '.join(valid)}."
            raise ConfigError(f"{source}: unknown key {key!r}.{hint}")
        checked[key] = _check_type(key, value, hints[key], source)
    if isinstance(checked.get("lr"), str) and checked["lr"] != "auto":
        raise ConfigError(f"{source}: 'lr' must be a number or 'auto', got {checked['lr']!r}.")
    return RunConfig(**checked)


def load_config(path: str | Path) -> RunConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file {str(path)!r} does not exist.")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"Config file {str(path)!r} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"Config file {str(path)!r} must hold a mapping of keys to values.")
    return config_from_dict(data, source=str(path))
