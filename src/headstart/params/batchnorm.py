"""BatchNorm running statistics while the backbone fine-tunes: frozen (pretrained) or re-estimated.

Why frozen on small data: a BatchNorm layer in train mode normalises each batch by that batch's own
mean and variance and drifts its running statistics towards them. The pretrained statistics were
estimated on about a million images; a few hundred images in batches of 32 give noisy estimates, and
the converged head (and every later layer) was fitted to features normalised the pretrained way.
Switching to batch statistics at the start of fine-tuning shifts every feature at once: measured in
issue 11, the training loss jumped from 0.10 (head phase) to 1.19 on a 6-class set and validation
accuracy fell 12 points; with the statistics frozen the jump was to 0.39 (the augmentation's share)
and fine-tuning beat the head (docs/quality.md). The BatchNorm affine weights still learn.

With plenty of data per class, re-estimating the statistics lets the network adapt them to a new
domain (the usual ImageNet fine-tuning recipe), so ``auto`` keeps them frozen only below
:data:`FROZEN_BELOW_PER_CLASS` examples in the smallest class, the same "lots of data" line
``--strategy auto`` draws.
"""
from __future__ import annotations

from torch import nn

FROZEN_BELOW_PER_CLASS = 1000  # also auto's LARGE_PER_CLASS: one "lots of data" line for both rules


def has_batchnorm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def resolve_batchnorm(mode: str, min_per_class: int | None, pretrained: bool = True) -> tuple[str, str]:
    """``(frozen|train, why)`` for ``--batchnorm mode`` on data whose smallest class has ``min_per_class``.

    A backbone without pretrained weights (``--weights none``) has no statistics worth keeping: ``auto``
    re-estimates them.
    """
    if mode != "auto":
        return mode, f"--batchnorm {mode}"
    if not pretrained:
        return "train", "the backbone has no pretrained weights, so no pretrained statistics to keep"
    if min_per_class is None or min_per_class < FROZEN_BELOW_PER_CLASS:
        count = "unknown" if min_per_class is None else str(min_per_class)
        return "frozen", (f"the smallest class has {count} training examples (< {FROZEN_BELOW_PER_CLASS}): "
                          "the pretrained statistics are better estimates than these batches give")
    return "train", (f"the smallest class has {min_per_class} training examples (>= {FROZEN_BELOW_PER_CLASS}): "
                     "enough to re-estimate them for this data")


def freeze_batchnorm_stats(module: nn.Module) -> int:
    """Put every BatchNorm layer of ``module`` in eval mode (running statistics used, not updated); return how many."""
    count = 0
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training:
            m.eval()
            count += 1
    return count
