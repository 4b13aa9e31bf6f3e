"""Two-phase: train the new head first, then unfreeze and fine-tune everything with smaller LRs.

Why: a randomly initialised head sends large, noisy gradients into the backbone and wrecks the
pretrained features. Training the head first (phase 1) makes the later fine-tuning gentle.
With ``gradual=True`` phase 2 unfreezes one more group per epoch from the top (ULMFiT-style)
until everything trains, then spends the remaining epochs on the whole model.
"""
from __future__ import annotations

from .base import STRATEGIES, Phase, StrategyOptions


@STRATEGIES.register("two-phase")
def two_phase(options: StrategyOptions, num_groups: int) -> list[Phase]:
    phases = []
    if options.head_epochs:
        phases.append(Phase("head", options.head_epochs, "head", options.lr, warmup_fraction=options.warmup_fraction))
    lr = options.lr * options.finetune_lr_factor
    remaining = options.epochs
    if options.gradual:
        for k in range(2, num_groups):
            if remaining <= 1:
                break
            phases.append(Phase(f"unfreeze-{k - 1}", 1, k, lr, options.layer_decay, options.lr_spread, 0.0))
            remaining -= 1
    phases.append(Phase("finetune", remaining, "all", lr, options.layer_decay, options.lr_spread, options.warmup_fraction))
    return phases
