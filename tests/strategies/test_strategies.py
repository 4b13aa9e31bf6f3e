"""Strategies as plans of phases: which groups train, at which LR, for how many epochs."""
from __future__ import annotations

import pytest

from headstart.errors import ConfigError, UnknownNameError
from headstart.strategies import STRATEGIES, Phase, StrategyOptions, plan_for

GROUPS = 6  # e.g. ResNet: stem, layer1..4, head


def test_registered_strategies() -> None:
    assert {"feature-extraction", "fine-tune", "two-phase"} <= set(STRATEGIES.names())
    with pytest.raises(UnknownNameError, match=r"Unknown strategy 'two_phase'.*Did you mean two-phase"):
        plan_for("two_phase", StrategyOptions(), GROUPS)


def test_feature_extraction_trains_only_the_head() -> None:
    plan = plan_for("feature-extraction", StrategyOptions(epochs=4, lr=3e-3), GROUPS)
    assert plan == [Phase("head", 4, "head", 3e-3)]
    assert plan[0].backbone_frozen


def test_fine_tune_trains_everything_with_discriminative_lrs() -> None:
    options = StrategyOptions(epochs=3, lr=1e-3, layer_decay=0.7, lr_spread=10, warmup_fraction=0.2)
    assert plan_for("fine-tune", options, GROUPS) == [Phase("finetune", 3, "all", 1e-3, 0.7, 10, 0.2)]
    assert not plan_for("fine-tune", options, GROUPS)[0].backbone_frozen


def test_two_phase_head_then_all_with_smaller_lr() -> None:
    plan = plan_for("two-phase", StrategyOptions(epochs=5, head_epochs=2, lr=1e-3, finetune_lr_factor=0.1), GROUPS)
    assert [(p.name, p.epochs, p.trainable) for p in plan] == [("head", 2, "head"), ("finetune", 5, "all")]
    assert plan[0].head_lr == 1e-3 and plan[1].head_lr == pytest.approx(1e-4)
    assert plan[1].lr_spread == 100.0 and plan[1].layer_decay is None
    assert plan[0].to_dict()["trainable"] == "head"
    no_warmup_phase = plan_for("two-phase", StrategyOptions(head_epochs=0), GROUPS)
    assert [p.name for p in no_warmup_phase] == ["finetune"]


def test_two_phase_gradual_unfreezes_one_more_group_per_phase() -> None:
    options = StrategyOptions(epochs=6, head_epochs=1, lr=2e-3, finetune_lr_factor=0.5, gradual=True)
    plan = plan_for("two-phase", options, GROUPS)
    assert [(p.name, p.epochs, p.trainable) for p in plan] == [
        ("head", 1, "head"),
        ("unfreeze-1", 1, 2), ("unfreeze-2", 1, 3), ("unfreeze-3", 1, 4), ("unfreeze-4", 1, 5),
        ("finetune", 2, "all"),
    ]
    assert all(p.head_lr == pytest.approx(1e-3) for p in plan[1:])
    assert sum(p.epochs for p in plan[1:]) == options.epochs  # gradual phases share the epoch budget
    # fewer epochs than groups: unfreeze as far as the budget goes, always end with everything training
    short = plan_for("two-phase", StrategyOptions(epochs=3, head_epochs=1, gradual=True), GROUPS)
    assert [(p.epochs, p.trainable) for p in short] == [(1, "head"), (1, 2), (1, 3), (1, "all")]


@pytest.mark.parametrize("kwargs, match", [
    ({"epochs": 0}, r"epochs must be >= 1, got 0"),
    ({"head_epochs": -1}, r"head_epochs must be >= 0, got -1"),
    ({"lr": 0.0}, r"lr must be > 0, got 0.0"),
    ({"finetune_lr_factor": 0.0}, r"finetune_lr_factor must be in \(0, 1\], got 0.0"),
    ({"finetune_lr_factor": 2.0}, r"finetune_lr_factor must be in \(0, 1\]"),
    ({"layer_decay": 1.5}, r"layer_decay must be in \(0, 1\], got 1.5"),
    ({"layer_decay": 0.0}, r"layer_decay must be in \(0, 1\]"),
    ({"lr_spread": 0.5}, r"lr_spread must be >= 1, got 0.5"),
    ({"warmup_fraction": 1.0}, r"warmup_fraction must be in \[0, 1\), got 1.0"),
    ({"warmup_fraction": -0.1}, r"warmup_fraction must be in \[0, 1\)"),
])
def test_option_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        StrategyOptions(**kwargs)
