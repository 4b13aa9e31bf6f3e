"""Where backbones are looked up by name.

Two tables: ``BACKBONES`` holds named entries (aliases such as ``efficientnet_lite0``), and
``SOURCES`` holds prefix builders (``torchvision:``, ``timm:``, ``hf:``) that accept any model name
that library knows. Plain names resolve to a registered alias first, then to the one library that
has the name; a name two libraries share is an error that lists both spellings.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..errors import UnknownNameError
from ..registry import Registry
from .base import Backbone

BuildFn = Callable[..., Backbone]  # build(model_name: str, weights: str, **options) -> Backbone


@dataclass(frozen=True)
class BackboneEntry:
    """A named backbone: how to build it and whether its weights are on disk."""

    name: str
    source: str
    build: Callable[..., Backbone]  # build(weights: str, **options)
    description: str
    offline: Callable[[], bool] = lambda: False
    modality: str = "image"


@dataclass(frozen=True)
class SourceEntry:
    """A library of backbones reachable by ``prefix:model_name``."""

    prefix: str
    build: BuildFn
    has_model: Callable[[str], bool]
    list_models: Callable[[str], list[str]]
    description: str


BACKBONES: Registry[BackboneEntry] = Registry("backbone")
SOURCES: Registry[SourceEntry] = Registry("backbone source")


def register_backbone(entry: BackboneEntry) -> BackboneEntry:
    BACKBONES.register(entry.name, entry)
    return entry


def register_source(entry: SourceEntry) -> SourceEntry:
    SOURCES.register(entry.prefix, entry)
    return entry


def resolve(name: str) -> tuple[str, str]:
    """Return ``(source_prefix_or_"alias", model_name)`` for a user-given backbone name."""
    if ":" in name:
        prefix, model_name = name.split(":", 1)
        if prefix not in SOURCES:
            raise UnknownNameError(
                f"Unknown backbone source {prefix!r} in {name!r}. Valid prefixes: "
                f"{', '.join(p + ':' for p in SOURCES)}."
            )
        if not SOURCES.get(prefix).has_model(model_name):
            raise UnknownNameError(
                f"{prefix} has no model {model_name!r}. List them with "
                f"`headstart models '{prefix}:*{model_name[:4]}*'`."
            )
        return prefix, model_name
    if name in BACKBONES:
        return "alias", name
    owners = [p for p, src in SOURCES.items() if p != "hf" and src.has_model(name)]
    if len(owners) == 1:
        return owners[0], name
    if len(owners) > 1:
        raise UnknownNameError(
            f"Backbone name {name!r} is ambiguous: it exists in "
            f"{' and '.join(owners)}. Use one of: {', '.join(f'{o}:{name}' for o in owners)}."
        )
    import difflib

    close = difflib.get_close_matches(name, BACKBONES.names(), n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise UnknownNameError(
        f"Unknown backbone {name!r}.{hint} Named backbones: {', '.join(BACKBONES.names())}; or use "
        "`torchvision:NAME`, `timm:NAME`, `hf:HUB_ID_OR_FOLDER`. List them with `headstart models`."
    )


def create_backbone(name: str, weights: str = "imagenet", **options: Any) -> Backbone:
    """Build a backbone by name with ``weights`` = ``imagenet`` (pretrained), ``none``, or a file.

    >>> bb = create_backbone("torchvision:resnet18", weights="none")
    >>> bb.num_features
    512
    """
    source, model_name = resolve(name)
    if source == "alias":
        return BACKBONES.get(model_name).build(weights=weights, **options)
    return SOURCES.get(source).build(model_name, weights=weights, **options)


def backbone_modality(name: str) -> str:
    """``"image"`` or ``"text"`` for a backbone name, without building it."""
    source, model_name = resolve(name)
    if source == "alias":
        return BACKBONES.get(model_name).modality
    return "text" if source == "hf" else "image"
