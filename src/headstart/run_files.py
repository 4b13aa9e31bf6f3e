"""Atomic JSON/YAML/safetensors writes for run folders.

Why atomic: a run folder is read by other tools (predict, serve, report, compare) and may be
interrupted at any moment; a reader must never see half a file.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from .engine.checkpoint_io import atomic_write_bytes


def write_json(path: str | Path, data: Any) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2, default=_jsonable) + "\n").encode())


def write_yaml(path: str | Path, data: Any) -> None:
    atomic_write_bytes(path, yaml.safe_dump(data, sort_keys=False).encode())


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def write_safetensors(path: str | Path, tensors: dict) -> None:
    from safetensors.torch import save

    atomic_write_bytes(path, save({k: v.detach().contiguous().cpu() for k, v in tensors.items()}))


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
