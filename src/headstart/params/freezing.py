"""Freezing and unfreezing by layer group.

Frozen parameters get ``requires_grad=False`` (so they get no gradient, and since each phase builds
its optimizer from trainable parameters only, no optimizer state). Frozen BatchNorm layers are
kept in eval mode by :class:`headstart.model.TransferModel.train`, so running stats stay put.
"""
from __future__ import annotations

from typing import Iterable

from ..errors import ConfigError
from ..model import TransferModel


def freeze_all(model: TransferModel) -> None:
    for p in model.parameters():
        p.requires_grad_(False)


def set_trainable(model: TransferModel, groups: Iterable[str] | str) -> list[str]:
    """Make exactly ``groups`` trainable (``"all"``, ``"head"`` or a list of group names).

    Returns the names of the trainable groups. A model in train mode stays so, with BatchNorm
    modes matching the new freezing (frozen ones in eval, the others in train).
    """
    layer_groups = model.layer_groups()
    names = [g.name for g in layer_groups]
    if groups == "all":
        wanted = set(names)
    elif isinstance(groups, str):
        wanted = {groups}
    else:
        wanted = set(groups)
    unknown = wanted - set(names)
    if unknown:
        raise ConfigError(f"Unknown layer group(s) {sorted(unknown)}. This model's groups: {', '.join(names)}.")
    params = dict(model.named_parameters())
    freeze_all(model)
    for g in layer_groups:
        if g.name in wanted:
            for n in g.param_names:
                params[n].requires_grad_(True)
    if model.training:  # unfrozen BatchNorm back to train mode, frozen BatchNorm to eval
        model.train()
    return [n for n in names if n in wanted]


def trainable_group_names(model: TransferModel) -> list[str]:
    params = dict(model.named_parameters())
    return [g.name for g in model.layer_groups() if any(params[n].requires_grad for n in g.param_names)]
