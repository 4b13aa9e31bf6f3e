"""A generic rule that splits any backbone into ordered layer groups (input -> output).

Used when the source library has no group matcher (torchvision). The rule, in words:
start from the library model's top-level children (and its direct parameters); while there are
fewer than ``min_groups`` units, or one unit holds more than half of all parameters and is a
container of at least four parameterised blocks (``encoder.layers`` of a ViT, ``features`` of an
EfficientNet), expand the largest such unit into its children. Finally merge runs of adjacent
leaf units (a lone Conv, BatchNorm, position embedding) into groups that hold at most one weighted
layer (Conv/Linear) each, with the norms and loose parameters next to it: ResNet's conv1 + bn1
become one ``stem`` group, while VGG's plain Conv layers stay one group each. The first group is
named ``stem``. Every parameter lands in exactly one group because units partition the module tree.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..backbones.base import LayerGroup


@dataclass
class _Unit:
    path: str
    module: nn.Module | None  # None for a direct parameter
    param_names: list[str]
    numel: int

    @property
    def children(self) -> list[tuple[str, nn.Module]]:
        if self.module is None:
            return []
        return [(n, c) for n, c in self.module.named_children() if any(True for _ in c.parameters())]

    @property
    def is_leaf(self) -> bool:
        return self.module is None or not self.children

    @property
    def is_weighted_layer(self) -> bool:
        """A leaf module with a kernel or matrix (Conv, Linear, Embedding): it starts a group."""
        return self.module is not None and any(p.ndim >= 2 for p in self.module.parameters())


def _units_of(module: nn.Module, path: str) -> list[_Unit]:
    units = []
    prefix = f"{path}." if path else ""
    for name, p in module.named_parameters(recurse=False):
        units.append(_Unit(prefix + name, None, [prefix + name], p.numel()))
    for name, child in module.named_children():
        names = [f"{prefix}{name}.{n}" for n, _ in child.named_parameters()]
        if names:
            units.append(_Unit(prefix + name, child, names, sum(p.numel() for p in child.parameters())))
    return units


def generic_layer_groups(backbone: nn.Module, min_groups: int = 4, attr: str = "model") -> list[LayerGroup]:
    """Ordered layer groups of ``backbone`` (names relative to it)."""
    root = getattr(backbone, attr, None)
    root_path = attr if isinstance(root, nn.Module) else ""
    root = root if isinstance(root, nn.Module) else backbone
    units = _units_of(root, root_path)
    total = sum(u.numel for u in units) or 1
    for _ in range(8):
        param_units = [u for u in units if u.numel > 0]
        expandable = [u for u in param_units if len(u.children) >= 2]
        if not expandable:
            break
        largest = max(expandable, key=lambda u: u.numel)
        dominant = largest.numel / total > 0.5 and len(largest.children) >= 4
        if len(param_units) >= min_groups and not dominant:
            break
        i = units.index(largest)
        units[i:i + 1] = _units_of(largest.module, largest.path)
    groups: list[LayerGroup] = []
    run: list[_Unit] = []

    def flush() -> None:
        segments: list[list[_Unit]] = []
        for unit in run:
            if segments and not (unit.is_weighted_layer and any(u.is_weighted_layer for u in segments[-1])):
                segments[-1].append(unit)
            else:
                segments.append([unit])
        for segment in segments:
            name = "stem" if not groups else segment[0].path
            groups.append(LayerGroup(name, [n for u in segment for n in u.param_names]))
        run.clear()

    for unit in units:
        if unit.is_leaf:
            run.append(unit)
            continue
        flush()
        groups.append(LayerGroup(unit.path, list(unit.param_names)))
    flush()
    return _strip_root(groups, root_path)


def _strip_root(groups: list[LayerGroup], root_path: str) -> list[LayerGroup]:
    if not root_path:
        return groups
    cut = len(root_path) + 1
    return [LayerGroup(g.name[cut:] if g.name.startswith(root_path + ".") else g.name, g.param_names) for g in groups]
