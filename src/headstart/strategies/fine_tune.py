"""Full fine-tuning with discriminative LRs: every group trains, earlier groups slower."""
from __future__ import annotations

from .base import STRATEGIES, Phase, StrategyOptions


@STRATEGIES.register("fine-tune")
def fine_tune(options: StrategyOptions, num_groups: int) -> list[Phase]:
    return [Phase("finetune", options.epochs, "all", options.lr, options.layer_decay,
                  options.lr_spread, options.warmup_fraction)]
