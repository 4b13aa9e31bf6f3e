"""Atomic JSON/YAML/safetensors writes for run folders.

Why atomic: a run folder is read by other tools (predict, serve, report, compare) and may be
interrupted at any moment; a reader must never see half a file.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml

from .engine.checkpoint_io import atomic_write_bytes


def write_json(path: str | Path, data: Any) -> None:
    """Strict JSON: a NaN/inf (a metric that is undefined, a diverged loss) is written as null,
    never as the ``NaN`` token other JSON readers reject."""
    atomic_write_bytes(path, (json.dumps(_plain(data), indent=2, allow_nan=False) + "\n").encode())


def write_yaml(path: str | Path, data: Any) -> None:
    atomic_write_bytes(path, yaml.safe_dump(data, sort_keys=False).encode())


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def write_safetensors(path: str | Path, tensors: dict) -> None:
    from safetensors.torch import save

    atomic_write_bytes(path, save({k: v.detach().contiguous().cpu() for k, v in tensors.items()}))


def _plain(obj: Any) -> Any:
    """``obj`` as plain JSON values (arrays and tensors as lists, paths as text, non-finite floats as None)."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):
        return _plain(obj.tolist())
    if hasattr(obj, "to_dict"):
        return _plain(obj.to_dict())
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
