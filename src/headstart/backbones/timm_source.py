"""timm models as backbones (``timm:convnext_tiny``).

timm already knows each model's classifier (``reset_classifier(0)`` gives pooled features), its
pretrained data config and its layer groups (``group_matcher``); we use all three.
"""
from __future__ import annotations

import contextlib
import os
from typing import Any

import timm
import torch
from timm.models import _manipulate

from ..errors import WeightsError
from ..backbone_catalog import SOURCE_DESCRIPTIONS
from .base import Backbone, LayerGroup
from .data_config import DataConfig
from .offline import offline_error
from .registry import SourceEntry, register_source
from .weights_file import apply_state_dict, read_state_dict


def _hub_reachable() -> bool:
    """A DNS lookup of the hub (milliseconds), so an offline machine fails at once instead of
    waiting through huggingface_hub's retries (about a minute)."""
    import socket
    from urllib.parse import urlparse

    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.getaddrinfo(host, 443)
        return True
    except OSError:
        return False


@contextlib.contextmanager
def _offline_if_unreachable(pretrained: bool):
    """Use the Hugging Face cache only (no network calls) when the hub cannot be reached."""
    if not pretrained or _hub_reachable():
        yield
        return
    from huggingface_hub import constants

    saved = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = saved


def data_config_from_timm(model: torch.nn.Module) -> DataConfig:
    cfg = timm.data.resolve_model_data_config(model)
    return DataConfig(
        input_size=tuple(int(x) for x in cfg["input_size"]),
        mean=tuple(float(x) for x in cfg["mean"]),
        std=tuple(float(x) for x in cfg["std"]),
        interpolation=str(cfg.get("interpolation", "bicubic")),
        crop_pct=float(cfg.get("crop_pct", 0.875)),
    )


def _module_of(parts: list[str], depth: int) -> str:
    """The module path ``depth`` components deep, plus a following block index (``blocks.6``)."""
    if len(parts) > depth + 1 and parts[depth].isdigit():
        depth += 1
    return ".".join(parts[:depth])


def _group_label(names: list[str], all_names: list[str]) -> str:
    """Name a group by the module it covers (``layer3``), or list the modules it spans
    (``features.denseblock2+transition2``, ``blocks.6+conv_head+bn2``) when no single module does."""
    split = [n.split(".") for n in names]
    common = os.path.commonprefix(split)
    if common == split[0]:  # a single parameter: name its module
        common = common[:-1]
    prefix = ".".join(common)
    if common and not any(n.startswith(prefix + ".") for n in all_names if n not in names):
        return prefix
    modules = list(dict.fromkeys(_module_of(parts, len(common) + 1) for parts in split))
    relative = [m[len(prefix) + 1:] if prefix else m for m in modules]
    return (prefix + "." if prefix else "") + "+".join(relative)


def timm_layer_groups(model: torch.nn.Module, prefix: str = "model.") -> list[LayerGroup] | None:
    """Ordered groups from timm's coarse group matcher; None when the model has no matcher."""
    if not hasattr(model, "group_matcher"):
        return None
    try:
        grouped = _manipulate.group_parameters(model, model.group_matcher(coarse=True))
    except Exception:
        return None
    all_names = [n for n, _ in model.named_parameters()]
    groups: list[LayerGroup] = []
    for gid in sorted(grouped):
        names = list(grouped[gid])
        label = "stem" if not groups and len(names) > 1 else _group_label(names, all_names)
        if any(g.name == label for g in groups):
            label = f"{label}[{len(groups)}]"
        groups.append(LayerGroup(label, [prefix + n for n in names]))
    seen = {n for g in groups for n in g.param_names}
    rest = [prefix + n for n in all_names if prefix + n not in seen]
    if rest:
        groups.append(LayerGroup("other", rest))
    return groups


class TimmBackbone(Backbone):
    """A timm model created with ``num_classes=0``: it outputs pooled (pre-logits) features."""

    def __init__(self, model_name: str, weights: str = "imagenet", **kwargs: Any):
        super().__init__(f"timm:{model_name}", "timm", {"options": dict(kwargs)})
        pretrained = weights == "imagenet"
        try:
            with _offline_if_unreachable(pretrained):
                model = timm.create_model(model_name, pretrained=pretrained, num_classes=0, **kwargs)
        except RuntimeError as exc:
            if pretrained and "pretrained" in str(exc).lower():
                raise WeightsError(f"timm has no pretrained weights for {self.name}.",
                                   "Use --weights none for random init, or --weights PATH for a local file.") from None
            raise
        except Exception as exc:
            if not pretrained:
                raise
            cache = os.environ.get("HF_HUB_CACHE") or os.path.join(
                os.environ.get("HF_HOME", os.path.expanduser("~/.cache/huggingface")), "hub")
            raise offline_error(self.name, cache, exc) from None
        self.model = model
        # MobileNetV3 and friends have a conv head after the pooled features: pre-logits width
        self.num_features = int(getattr(model, "head_hidden_size", None) or model.num_features)
        self.data_config = data_config_from_timm(model)
        self.load_report = None
        if weights not in ("imagenet", "none"):
            self.load_report = apply_state_dict(self.model, read_state_dict(weights), weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def group_param_names(self) -> list[LayerGroup]:
        return timm_layer_groups(self.model) or super().group_param_names()


def _build(model_name: str, weights: str = "imagenet", **options: Any) -> Backbone:
    return TimmBackbone(model_name, weights, **options)


register_source(
    SourceEntry(
        prefix="timm",
        build=_build,
        has_model=lambda name: bool(timm.list_models(name.split(".")[0])),
        list_models=lambda pattern="*": timm.list_models(pattern),
        description=SOURCE_DESCRIPTIONS["timm"],
    )
)
