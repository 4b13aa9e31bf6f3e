"""Optimizer param groups with discriminative (layer-wise) learning rates.

``lr_i = head_lr * decay ** (distance of group i from the head)``. With ``layer_decay=None`` the
decay is derived from ``lr_spread`` so that the first (stem) group gets ``head_lr / lr_spread``:
with the default spread of 100 a 5-group ResNet decays by ~0.32 per group (fastai's
``slice(lr/100, lr)``) and a 13-group ViT by ~0.68 per layer (the usual LLRD range).
Distances count all groups, frozen or not, so a group keeps its LR when it is unfrozen later.
No weight decay on 1-D parameters (biases, norm scales) or on what the model lists in
``no_weight_decay()`` (position embeddings, class tokens).
"""
from __future__ import annotations

from typing import Any

from torch import nn

from ..errors import ConfigError
from ..model import TransferModel


def layer_lr_scales(num_groups: int, layer_decay: float | None = None, lr_spread: float = 100.0) -> list[float]:
    """LR multipliers, first group to head (last is 1.0)."""
    if num_groups < 1:
        return []
    if layer_decay is None:
        if lr_spread < 1:
            raise ConfigError(f"lr_spread must be >= 1, got {lr_spread}.")
        layer_decay = lr_spread ** (-1.0 / (num_groups - 1)) if num_groups > 1 else 1.0
    if not 0 < layer_decay <= 1:
        raise ConfigError(f"layer_decay must be in (0, 1], got {layer_decay}.")
    return [layer_decay ** (num_groups - 1 - i) for i in range(num_groups)]


def _no_decay_names(model: nn.Module) -> set[str]:
    names: set[str] = set()
    for prefix, module in model.named_modules():
        fn = getattr(module, "no_weight_decay", None)
        if callable(fn):
            try:
                for n in fn():
                    names.add(f"{prefix}.{n}" if prefix else n)
            except Exception:
                pass
    return names


def discriminative_param_groups(
    model: TransferModel,
    head_lr: float,
    *,
    layer_decay: float | None = None,
    lr_spread: float = 100.0,
    weight_decay: float = 0.01,
    group_lrs: dict[str, float] | None = None,
    trainable_only: bool = True,
) -> list[dict[str, Any]]:
    """Param groups for ``torch.optim.AdamW``: one or two per layer group (decay / no decay).

    Each dict has ``params``, ``lr``, ``weight_decay``, ``name`` and ``layer_group``. Every
    trainable parameter appears in exactly one dict. ``group_lrs`` sets explicit LRs by group name.

    >>> groups = discriminative_param_groups(model, 1e-3)          # doctest: +SKIP
    >>> torch.optim.AdamW(groups)                                   # doctest: +SKIP
    """
    if not head_lr > 0:  # also catches NaN
        raise ConfigError(f"learning rate must be > 0, got {head_lr}.")
    for name, value in (group_lrs or {}).items():
        if not 0 <= value < float("inf"):
            raise ConfigError(f"group_lrs[{name!r}] must be >= 0 and finite, got {value}.")
    layer_groups = model.layer_groups()
    scales = layer_lr_scales(len(layer_groups), layer_decay, lr_spread)
    names = {g.name for g in layer_groups}
    unknown = set(group_lrs or {}) - names
    if unknown:
        raise ConfigError(f"group_lrs names unknown group(s) {sorted(unknown)}; groups: {', '.join(g.name for g in layer_groups)}.")
    params = dict(model.named_parameters())
    skip_decay = _no_decay_names(model)
    out: list[dict[str, Any]] = []
    for group, scale in zip(layer_groups, scales):
        lr = (group_lrs or {}).get(group.name, head_lr * scale)
        decay, no_decay = [], []
        for n in group.param_names:
            p = params[n]
            if trainable_only and not p.requires_grad:
                continue
            (no_decay if p.ndim <= 1 or n in skip_decay or n.endswith(".bias") else decay).append(p)
        for suffix, plist, wd in (("decay", decay, weight_decay), ("no_decay", no_decay, 0.0)):
            if plist:
                out.append({"params": plist, "lr": lr, "initial_lr": lr, "weight_decay": wd,
                            "name": f"{group.name}/{suffix}", "layer_group": group.name})
    return out
