"""A strategy is a short recipe: an ordered list of phases. The engine runs phases; it knows no strategy.

A :class:`Phase` says which layer groups train, at which head LR, with which layer-wise decay,
for how many epochs. ``trainable`` is ``"head"``, ``"all"``, ``"lora"`` (adapters + head) or the
number of groups to train counted from the head (gradual unfreezing).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable

from ..errors import ConfigError
from ..registry import Registry


@dataclass(frozen=True)
class Phase:
    name: str
    epochs: int
    trainable: str | int  # "head" | "all" | "lora" | k = last k groups (head included)
    head_lr: float
    layer_decay: float | None = None
    lr_spread: float = 100.0
    warmup_fraction: float = 0.1
    converge: bool = False  # frozen phase on cached features: solve the head to convergence (epochs unused)

    @property
    def backbone_frozen(self) -> bool:
        return self.trainable == "head" or self.trainable == 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StrategyOptions:
    """What a user tunes. ``epochs`` are the epochs of the main phase; ``head_epochs`` those of the
    head-only warm-up in two-phase; ``finetune_lr_factor`` scales the LR after unfreezing."""

    epochs: int = 5
    lr: float = 1e-3
    head_epochs: int = 2
    finetune_lr_factor: float = 0.1
    layer_decay: float | None = None
    lr_spread: float = 100.0
    warmup_fraction: float = 0.1
    gradual: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}.")
        if self.head_epochs < 0:
            raise ConfigError(f"head_epochs must be >= 0, got {self.head_epochs}.")
        if not self.lr > 0:  # also catches NaN
            raise ConfigError(f"lr must be > 0, got {self.lr}.")
        if not 0 < self.finetune_lr_factor <= 1:
            raise ConfigError(f"finetune_lr_factor must be in (0, 1], got {self.finetune_lr_factor}.")
        # checked here, not when a later phase builds its optimizer after the earlier phases ran
        if self.layer_decay is not None and not 0 < self.layer_decay <= 1:
            raise ConfigError(f"layer_decay must be in (0, 1], got {self.layer_decay}.")
        if not self.lr_spread >= 1:
            raise ConfigError(f"lr_spread must be >= 1, got {self.lr_spread}.")
        if not 0 <= self.warmup_fraction < 1:
            raise ConfigError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}.")


PlanFn = Callable[[StrategyOptions, int], list[Phase]]  # (options, number of layer groups) -> phases
STRATEGIES: Registry[PlanFn] = Registry("strategy")


def plan_for(strategy: str, options: StrategyOptions, num_groups: int) -> list[Phase]:
    """The phases of ``strategy`` for a model with ``num_groups`` layer groups (head included)."""
    return STRATEGIES.get(strategy)(options, num_groups)
