"""LoRA: freeze the pretrained encoder, train low-rank adapters on its projections plus the head.

One phase. The adapters start as a zero update (``B = 0``), so step one sees exactly the
pretrained features, and a bad step can only move a low-rank delta; that is why LoRA takes the
head's LR (``--lr``, default 1e-3, the usual LoRA range 1e-4..1e-3) instead of full
fine-tuning's ~1e-5. All adapters share that LR (``layer_decay=1``) unless ``--layer-decay`` is
given. The runner wraps the backbone with the adapters (``backbones.lora.apply_lora``) before the
plan runs; ``trainable="lora"`` tells the engine to train ``lora_*`` tensors and the head.
Text backbones only: an image backbone gets a ConfigError from ``apply_lora``.
"""
from __future__ import annotations

from .base import STRATEGIES, Phase, StrategyOptions


@STRATEGIES.register("lora")
def lora(options: StrategyOptions, num_groups: int) -> list[Phase]:
    layer_decay = options.layer_decay if options.layer_decay is not None else 1.0
    return [Phase("lora", options.epochs, "lora", options.lr, layer_decay, options.lr_spread, options.warmup_fraction)]
