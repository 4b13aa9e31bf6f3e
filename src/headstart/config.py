"""Run configuration: every option in one place, then YAML, then CLI flags or keyword arguments.

Each :class:`RunConfig` field is declared with :func:`option`: its default, the help text that
``headstart train --help`` and ``help(headstart.train)`` both show, and the check its value must
pass. The CLI's ``train`` options are generated from these fields (``cli/train.py``), so a new
option is one field here and nothing else.

An unknown key, a value of the wrong type or out of range is a :class:`ConfigError` that names the
key and what is valid, raised when the config is built: before any data is read or any file
written. The resolved config is saved as ``config.yaml`` in every run folder; ``headstart train
--config runs/x/config.yaml`` reproduces that run: it holds the resolved precision (never ``auto``),
so another machine runs it with the same numerics. Its ``resolved_runtime`` mapping (accelerator,
devices, workers, channels_last as resolved) only records how the run ran; loading ignores it.
"""
from __future__ import annotations

import difflib
import math
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import yaml

from .errors import ConfigError

RESOLVED_RUNTIME_KEY = "resolved_runtime"  # written into a run's config.yaml for the record, ignored when loaded

Check = Callable[[Any], "str | None"]  # value -> None if fine, else what it must be ("must be >= 1")


def option(default: Any, help: str, check: Check | None = None, *, cli: bool = True, group: str = "",
           listable: bool = False) -> Any:
    """A RunConfig field: ``default``, its ``help`` text, an optional value ``check``.

    ``cli=False`` keeps the field out of ``headstart train --help`` (internal/testing knobs).
    ``listable=True``: a text option that also takes a list (YAML or Python), joined with commas.
    """
    return field(default=default, metadata={"help": help, "check": check, "cli": cli, "group": group,
                                            "listable": listable})


# --- value checks: each returns None when the value is fine, else what it must be -------------------
def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def at_least(low: float, *, allow: tuple[Any, ...] = (None,)) -> Check:
    def check(value: Any) -> str | None:
        if value in allow and not _number(value):
            return None
        if _number(value) and math.isfinite(value) and value >= low:
            return None
        texts = [repr(a) for a in allow if isinstance(a, str)]
        return f"must be a number >= {low:g}" + (f" or {' or '.join(texts)}" if texts else "")
    return check


def in_range(low: float, high: float, *, low_open: bool = False, high_open: bool = True,
             allow: tuple[Any, ...] = (None,)) -> Check:
    def check(value: Any) -> str | None:
        if value in allow and not _number(value):
            return None
        ok = _number(value) and math.isfinite(value) and (value > low if low_open else value >= low) and (
            value < high if high_open else value <= high)
        return None if ok else f"must be in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    return check


def positive(*, allow: tuple[Any, ...] = (None,)) -> Check:
    def check(value: Any) -> str | None:
        if value in allow and not _number(value):
            return None
        if _number(value) and math.isfinite(value) and value > 0:
            return None
        texts = [repr(a) for a in allow if isinstance(a, str)]
        return "must be a finite number > 0" + (f" or {' or '.join(texts)}" if texts else "")
    return check


def one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in choices else f"must be one of {', '.join(map(str, choices))}"
    return check


def plain_name(value: Any) -> str | None:
    if value is None or (value and not any(c in value for c in "/\\") and value not in (".", "..")):
        return None
    return "must be a plain folder name (no '/' or '\\'), or unset"


LOGGERS = ("csv", "tensorboard", "mlflow", "wandb")  # engine/loggers.py builds them


def logger_names(value: str | None) -> list[str]:
    """``"csv,mlflow"`` -> ``["csv", "mlflow"]``; ``"none"`` or empty -> ``[]``."""
    names = [n.strip().lower() for n in str(value or "").split(",") if n.strip()]
    return [] if names == ["none"] else list(dict.fromkeys(names))


def _check_loggers(value: Any) -> str | None:
    """Known logger names whose package is installed (found without importing it)."""
    import importlib.util

    if not isinstance(value, str):
        return f"must be a comma-separated list of {', '.join(LOGGERS)} (or none)"
    for name in logger_names(value):
        if name not in LOGGERS:
            return f"must name loggers from {', '.join(LOGGERS)} (or none); {name!r} is not one"
        if name != "csv" and importlib.util.find_spec(name) is None:
            return f"{name!r} needs the {name} package: pip install 'headstart[{name}]'"
    return None


PRECISIONS = ("auto", "32-true", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true")
PRECISION_ALIASES = {"32": "32-true", "bf16": "bf16-mixed", "16": "16-mixed", "64": "64-true"}
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")


@dataclass
class RunConfig:
    """Everything a training run needs; ``headstart train --help`` lists the same options."""

    # data
    data: str = option("", "Image folder (train/ + val/, or class subfolders), a CSV of path,label, or a text CSV/TSV/JSONL.", group="data")
    val_data: str | None = option(None, "Separate validation folder/CSV.", group="data")
    val_fraction: float = option(0.2, "Stratified validation fraction when DATA has no val split.", in_range(0, 1, low_open=True), group="data")
    strict: bool = option(False, "Fail on unreadable images instead of skipping them.", group="data")
    text_column: str = option("text", "Text column (text data).", group="data")
    label_column: str = option("label", "Label column.", group="data")
    max_length: int | None = option(None, "Max tokens per text (default: the encoder's own, else 128).", at_least(1), group="data")
    image_size: int | None = option(None, "Input resolution in pixels (default: the weights' own).", at_least(16), group="data")
    # task (see docs/multilabel.md)
    task: str = option("single-label", "single-label (one class per item, softmax) | multi-label (a set of labels per "
                       "item: sigmoid, BCE, per-label thresholds).", one_of("single-label", "multi-label"), group="data")
    label_columns: str | None = option(None, "multi-label: comma-separated 0/1 columns, one per label (e.g. cat,dog); "
                                       "default: the --label-column cell lists the labels ('cat;dog').", group="data")
    label_separator: str = option(";", "multi-label: separator between the labels in one label cell.",
                                  lambda v: None if v else "must not be empty (e.g. ';')", group="data")
    # model
    model: str = option("efficientnet_lite0", "Backbone: efficientnet_lite0, torchvision:NAME, timm:NAME, hf:ID_OR_FOLDER, minilm.", group="model")
    weights: str = option("imagenet", "imagenet (pretrained) | none | path/to/weights.(pth|pt|safetensors).", group="model")
    head: str = option("linear", "New classifier head: linear | mlp.", one_of("linear", "mlp"), group="model")
    head_hidden: int | None = option(None, "Hidden width of the mlp head.", at_least(1), group="model")
    head_dropout: float = option(0.0, "Dropout before the head.", in_range(0, 1), group="model")
    # strategy
    strategy: str = option("auto", "auto (decides from examples per class, a converged linear probe and --time-budget; "
                           "prints why) | feature-extraction | fine-tune | two-phase | lora (text).", group="strategy")
    time_budget: str | None = option(None, "auto: training time to fit into, e.g. 90s, 10m, 1h (times a few fine-tuning "
                                     "steps and sizes the epochs to fit).", lambda v: duration_problem(v), group="strategy")
    epochs: int = option(5, "Epochs of the main phase (the fine-tune phase in two-phase; a head phase on cached features is solved instead, see --head-fit).", at_least(1), group="strategy")
    head_epochs: int = option(2, "two-phase: epochs training only the head first.", at_least(0), group="strategy")
    lr: float | str = option(1e-3, "Head learning rate, or 'auto' for the LR finder.", positive(allow=("auto",)), group="strategy")
    finetune_lr_factor: float = option(0.1, "two-phase: LR multiplier after unfreezing.", in_range(0, 1, low_open=True, high_open=False), group="strategy")
    layer_decay: float | None = option(None, "LR decay per layer group from the head (default: from --lr-spread).", in_range(0, 1, low_open=True, high_open=False), group="strategy")
    lr_spread: float = option(100.0, "Head LR / first-group LR when --layer-decay is not given.", at_least(1), group="strategy")
    gradual: bool = option(False, "two-phase: unfreeze one group per epoch.", group="strategy")
    warmup_fraction: float = option(0.1, "Fraction of each phase spent warming the LR up.", in_range(0, 1), group="strategy")
    lora_r: int = option(8, "LoRA rank (strategy lora).", at_least(1), group="strategy")
    lora_alpha: int = option(16, "LoRA alpha (strategy lora).", at_least(1), group="strategy")
    lora_dropout: float = option(0.05, "LoRA dropout (strategy lora).", in_range(0, 1), group="strategy")
    batchnorm: str = option("auto", "BatchNorm running statistics while the backbone fine-tunes: auto (frozen when the "
                            "weights are pretrained and the smallest class has under 1000 examples, else train) | frozen (keep the pretrained "
                            "statistics; BN weights still learn) | train (re-estimate them from the batches).",
                            one_of("auto", "frozen", "train"), group="strategy")
    weight_averaging: str = option("none", "Average the weights while the backbone trains: none | ema (exponential moving "
                                   "average with a warm-up decay; validation, the best epoch and the saved model use it).",
                                   one_of("none", "ema"), group="strategy")
    head_fit: str = option("converge", "How a head-only phase on cached features trains: converge (linear head: L-BFGS, L2 "
                           "chosen by 5-fold CV on the training features; mlp head: AdamW early-stopped on 15% of train; "
                           "--epochs/--head-epochs do not apply to it) | epochs (minibatch AdamW for those epochs).",
                           one_of("converge", "epochs"), group="strategy")
    # optimisation
    batch_size: int = option(32, "Batch size (per device).", at_least(1), group="optimisation")
    weight_decay: float = option(0.01, "AdamW weight decay (not applied to norms/biases).", at_least(0), group="optimisation")
    label_smoothing: float = option(0.0, "Label smoothing for the loss.", in_range(0, 1), group="optimisation")
    class_weights: bool = option(False, "Inverse-frequency class weights for imbalanced data.", group="optimisation")
    early_stopping: int | None = option(None, "Stop a phase after N epochs without val_loss improvement.", at_least(1), group="optimisation")
    seed: int = option(0, "Random seed (split, init, data order).", at_least(0), group="optimisation")
    augment: str = option("light", "Training augmentation: none | light (random resized crop + flip) | trivial "
                          "(+ TrivialAugmentWide) | randaugment (+ RandAugment 2 ops, magnitude 9). Images only.",
                          one_of("none", "light", "trivial", "randaugment"), group="optimisation")
    mixup: float = option(0.0, "Mixup alpha (timm Mixup, soft-target loss) in phases that see images; 0 = off.", at_least(0), group="optimisation")
    cutmix: float = option(0.0, "CutMix alpha (timm Mixup, soft-target loss) in phases that see images; 0 = off.", at_least(0), group="optimisation")
    # speed and hardware
    accelerator: str = option("auto", "auto | cpu | gpu.", one_of(*ACCELERATORS), group="hardware")
    devices: int | str = option("auto", "Number of devices (data-parallel), or auto.", at_least(1, allow=("auto",)), group="hardware")
    num_nodes: int = option(1, "Number of nodes for multi-node DDP.", at_least(1), group="hardware")
    precision: str = option("auto", "auto | 32-true | bf16-mixed | 16-mixed.", one_of(*PRECISIONS), group="hardware")
    num_workers: int | None = option(None, "DataLoader workers (default: sized to the machine).", at_least(0), group="hardware")
    channels_last: bool | str = option("auto", "channels_last memory format (default: on for convnets).", one_of("auto", True, False), group="hardware")
    cache_features: bool | str = option("auto", "Cache backbone features in frozen phases (default: on).", one_of("auto", True, False), group="hardware")
    cache_augment: int = option(0, "Cache K augmented views per training image.", at_least(0), group="hardware")
    gpu_decode: bool = option(False, "Decode and augment training JPEGs on the GPU (CUDA runs only; ignored on CPU).", group="hardware")
    compile: bool = option(False, "torch.compile the model.", group="hardware")
    limit_train_batches: int | float | None = option(None, "Train on this many batches (int) or this fraction (float) per epoch.", positive(), cli=False, group="hardware")
    # output
    output_dir: str = option("runs", "Where run folders go.", group="output")
    name: str | None = option(None, "Run folder name (default: model-strategy-time).", plain_name, group="output")
    overwrite: bool = option(False, "Replace an existing run folder of the same --name (only one headstart wrote).", group="output")
    logger: str = option("csv", "Experiment loggers, comma-separated (a list in YAML): csv | tensorboard | mlflow | wandb | none.",
                         _check_loggers, listable=True, group="output")

    def __post_init__(self) -> None:
        if self.precision in PRECISION_ALIASES:
            self.precision = PRECISION_ALIASES[self.precision]
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def updated(self, **overrides: Any) -> "RunConfig":
        """A copy with ``overrides`` applied (None values are ignored: 'flag not given')."""
        data = self.to_dict()
        data.update({k: v for k, v in overrides.items() if v is not None})
        return config_from_dict(data, source="command line")


def flag_name(key: str) -> str:
    """The CLI flag of a config key: ``head_epochs`` -> ``--head-epochs``."""
    return "--" + key.replace("_", "-")


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> float:
    """Seconds in ``"90s"``, ``"10m"``, ``"1.5h"`` or ``"600"`` (seconds); ValueError otherwise."""
    text = str(text).strip().lower()
    unit = DURATION_UNITS.get(text[-1:], None)
    seconds = float(text[:-1] if unit else text) * (unit or 1)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(text)
    return seconds


def duration_problem(value: Any) -> str | None:
    if value is None:
        return None
    try:
        parse_duration(value)
    except ValueError:
        return "must be a duration like 90s, 10m or 1h"
    return None


def validate(config: RunConfig, source: str = "config") -> None:
    """Raise a ConfigError naming the first key whose value fails its field's check."""
    for f in fields(RunConfig):
        check = f.metadata.get("check")
        value = getattr(config, f.name)
        problem = check(value) if check else None
        if problem:
            raise ConfigError(f"{f.name} ({flag_name(f.name)}) {problem}, got {value!r}.")


def option_help() -> dict[str, dict[str, Any]]:
    """Every option with its default and help text, in declaration order (for the CLI and docs)."""
    return {f.name: {"default": f.default, "help": f.metadata["help"], "cli": f.metadata["cli"],
                     "group": f.metadata["group"], "type": typing.get_type_hints(RunConfig)[f.name]}
            for f in fields(RunConfig)}


def options_doc(indent: str = "    ") -> str:
    """The options as a docstring section: ``name (default): help`` lines (for ``help(hs.train)``)."""
    lines = []
    for name, spec in option_help().items():
        if spec["cli"]:
            lines.append(f"{indent}{name} (default {spec['default']!r}): {spec['help']}")
    return "\n".join(lines)


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


def parse_text_value(key: str, text: str) -> Any:
    """A command-line string for ``key`` as the field's type (``"2"`` for devices -> 2, ``"3e-4"`` -> 0.0003).

    Why: options whose type is a union (``lr: float | "auto"``, ``devices: int | "auto"``) arrive as text.
    """
    annotation = typing.get_type_hints(RunConfig)[key]
    options = typing.get_args(annotation) or (annotation,)
    for kind in (int, float):
        if kind in options:
            try:
                return kind(text)
            except ValueError:
                pass
    if str in options:
        return text
    raise ConfigError(f"{flag_name(key)} must be a number, got {text!r}.")


def config_from_dict(data: dict[str, Any], source: str = "config") -> RunConfig:
    hints = typing.get_type_hints(RunConfig)
    valid = [f.name for f in fields(RunConfig)]
    listable = {f.name for f in fields(RunConfig) if f.metadata.get("listable")}
    checked = {}
    for key, value in data.items():
        if key == RESOLVED_RUNTIME_KEY:
            continue
        if key not in hints:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else f" Valid keys: {', '.join(valid)}."
            raise ConfigError(f"{source}: unknown key {key!r}.{hint}")
        if key in listable and isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        checked[key] = _check_type(key, value, hints[key], source)
    try:
        return RunConfig(**checked)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


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
