"""headstart: transfer learning with PyTorch, from one import.

    import headstart as hs
    run = hs.train("photos/", model="efficientnet_lite0")     # a normal run folder
    run.predict("cat.jpg"); run.evaluate("other/"); run.export("onnx")
    run = hs.load("runs/x")

Everything is imported on first use (module ``__getattr__``), so ``import headstart`` and the
``headstart`` command start without loading torch.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

try:
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("headstart")
except PackageNotFoundError:  # running from a source checkout that was never installed
    __version__ = "0+unknown"

if TYPE_CHECKING:
    from .api import train
    from .config import RunConfig
    from .errors import ConfigError, DataError, HeadstartError, RunError
    from .export.predictor import Predictor
    from .run import Run, load

# public name -> module that defines it
_LAZY = {
    "train": "api", "load": "run", "Run": "run", "RunConfig": "config", "Predictor": "export.predictor",
    "HeadstartError": "errors", "ConfigError": "errors", "DataError": "errors", "RunError": "errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
