"""Feature extraction: freeze the whole pretrained backbone, train only the new head."""
from __future__ import annotations

from .base import STRATEGIES, Phase, StrategyOptions


@STRATEGIES.register("feature-extraction")
def feature_extraction(options: StrategyOptions, num_groups: int) -> list[Phase]:
    return [Phase("head", options.epochs, "head", options.lr, warmup_fraction=options.warmup_fraction)]
