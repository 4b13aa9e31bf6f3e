"""LoRA adapters (via ``peft``) on a text backbone's attention and feed-forward projections.

Why LoRA: fine-tuning every weight of an encoder moves millions of parameters and needs a small,
careful LR; LoRA freezes the pretrained weights and learns a low-rank update ``B @ A`` (rank
``r``, scaled by ``alpha / r``) beside each projection. Well under 5% of the backbone trains,
at a head-like LR, and the pretrained features can never be wrecked. The new head trains in full.

The projections are found by name inside the encoder's repeated blocks, so BERT/RoBERTa/MiniLM
(``query key value dense``), DistilBERT (``q_lin k_lin v_lin out_lin lin1 lin2``) and the
generic ``q_proj k_proj v_proj o_proj fc1 fc2`` families all work without a per-model table.

>>> model = TransferModel(create_backbone("minilm"), head, classes)   # doctest: +SKIP
>>> apply_lora(model, r=8, alpha=16, dropout=0.05)                   # doctest: +SKIP
>>> lora_counts(model)["fraction"]                                   # doctest: +SKIP
0.0065
"""
from __future__ import annotations

import warnings
from typing import Any, Sequence

from torch import nn

from ..errors import ConfigError
from ..model import TransferModel
from .hf_text import LAYER_NAME, PEFT_PREFIX, HFTextBackbone

# Last name component of the Linear layers LoRA adapts: attention projections and FFN layers.
PROJECTION_NAMES = frozenset({
    # BERT, RoBERTa, MiniLM, ELECTRA, XLM-R (and MPNet's FFN)
    "query", "key", "value", "dense",
    # DistilBERT
    "q_lin", "k_lin", "v_lin", "out_lin", "lin1", "lin2",
    # generic / BART / Llama-style / DeBERTa
    "q_proj", "k_proj", "v_proj", "o_proj", "out_proj", "fc1", "fc2",
    "query_proj", "key_proj", "value_proj", "gate_proj", "up_proj", "down_proj",
    # MPNet / T5 attention, fused qkv variants
    "q", "k", "v", "o", "wi", "wo", "query_key_value", "Wqkv", "Wo", "Wi",
})


def find_target_modules(encoder: nn.Module, names: Sequence[str] | None = None) -> list[str]:
    """Full names of the ``nn.Linear`` projections inside ``encoder``'s repeated blocks.

    Only layers inside a block stack (``encoder.layer.N.``, ``transformer.layer.N.`` ...) are
    taken, so embeddings and any pooler stay untouched. ``names`` overrides the last-component
    names to match (e.g. ``["query", "value"]`` for attention-only LoRA).
    """
    wanted = set(names) if names is not None else PROJECTION_NAMES
    found = []
    for module_name, module in encoder.named_modules():
        if not isinstance(module, nn.Linear) or not LAYER_NAME.match(module_name + "."):
            continue
        if module_name.rsplit(".", 1)[-1] in wanted:
            found.append(module_name)
    return found


def is_lora_param(name: str) -> bool:
    """True for peft's adapter tensors (``...lora_A.default.weight``, ``lora_B``, ``lora_embedding``)."""
    return "lora_" in name


def _check_options(r: Any, alpha: Any, dropout: Any) -> None:
    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
        raise ConfigError(f"lora_r={r!r}: the LoRA rank must be a whole number >= 1 (e.g. 8).")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha <= 0:
        raise ConfigError(f"lora_alpha={alpha!r}: use a positive number (commonly 2 x lora_r, e.g. 16).")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ConfigError(f"lora_dropout={dropout!r}: use a number in [0, 1) (e.g. 0.05).")


def apply_lora(
    model: TransferModel,
    r: int = 8,
    alpha: float = 16,
    dropout: float = 0.05,
    target_modules: Sequence[str] | None = None,
) -> list[str]:
    """Wrap ``model.backbone.model`` with peft LoRA in place; return the adapted module names.

    Afterwards the pretrained weights are frozen and only ``lora_*`` tensors (and whatever the
    caller unfreezes, i.e. the head) train. Parameter names gain peft's ``base_model.model.``
    prefix; the backbone's layer groups still partition every parameter, each adapter in the
    group of the layer it adapts. ``target_modules`` are last-component names to adapt
    (default: every attention/FFN projection in the blocks). Deterministic given the
    architecture, so a run rebuilt from ``model.json`` gets the same structure to load into.
    """
    _check_options(r, alpha, dropout)
    backbone = model.backbone
    if not isinstance(backbone, HFTextBackbone):
        raise ConfigError(
            f"strategy 'lora' needs a Hugging Face text backbone, got {backbone.spec.get('name', type(backbone).__name__)!r}.",
            "Use --model minilm or hf:<id or folder>, or another strategy (two-phase, fine-tune) for images.",
        )
    if is_lora_wrapped(backbone.model):
        raise ConfigError(f"{backbone.spec.get('name')} already has LoRA adapters; apply_lora runs once per model.")
    targets = find_target_modules(backbone.model, target_modules)
    if not targets:
        wanted = ", ".join(sorted(target_modules if target_modules is not None else PROJECTION_NAMES))
        raise ConfigError(
            f"No attention/FFN Linear layers to put LoRA on in {backbone.spec.get('name')} "
            f"(looked for {wanted} inside the encoder's blocks).",
            "Pass target_modules=[...] with the last name of its projection layers, or use strategy fine-tune.",
        )
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=float(dropout), target_modules=targets, bias="none")
    with warnings.catch_warnings():  # peft probes a deprecated transformers attribute; not the user's concern
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        backbone.model = get_peft_model(backbone.model, config)
    for name, param in model.named_parameters():
        param.requires_grad_(is_lora_param(name) or name.startswith("head."))
    return targets


def is_lora_wrapped(module: nn.Module) -> bool:
    """Whether ``module`` already carries peft LoRA layers."""
    return any(is_lora_param(n) for n, _ in module.named_parameters())


def lora_counts(model: TransferModel) -> dict[str, Any]:
    """Adapter vs backbone parameter counts: ``{"adapter", "backbone", "trainable", "fraction"}``.

    ``fraction`` = adapter params / pretrained backbone params (adapters excluded), the number
    LoRA papers quote; ``trainable`` counts every trainable tensor, head included.
    """
    adapter = backbone = trainable = 0
    for name, param in model.named_parameters():
        if param.requires_grad:
            trainable += param.numel()
        if not name.startswith("backbone."):
            continue
        if is_lora_param(name):
            adapter += param.numel()
        else:
            backbone += param.numel()
    return {"adapter": adapter, "backbone": backbone, "trainable": trainable,
            "fraction": adapter / backbone if backbone else 0.0}


def lora_summary(model: TransferModel) -> str:
    """One line for the parameter report, e.g. ``LoRA: 73,728 adapter params = 0.32% of the backbone``."""
    c = lora_counts(model)
    return (f"LoRA: {c['adapter']:,} adapter params = {100 * c['fraction']:.2f}% of the backbone "
            f"({c['backbone']:,} frozen); trainable with the head: {c['trainable']:,}")


__all__ = ["PEFT_PREFIX", "PROJECTION_NAMES", "apply_lora", "find_target_modules", "is_lora_param",
           "is_lora_wrapped", "lora_counts", "lora_summary"]
