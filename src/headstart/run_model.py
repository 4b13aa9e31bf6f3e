"""Rebuild a trained model from its run folder alone (no network, no original weights).

``model.json`` says how to build the architecture with random weights; ``model.safetensors``
then fills every tensor (strict). This is what predict, evaluate, export and serve use.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .backbones import create_backbone
from .backbones.base import Backbone
from .backbones.data_config import DataConfig
from .errors import RunError
from .heads import build_head
from .model import TransferModel

BACKBONE_ASSETS = "backbone"  # folder in the run with tokenizer/config for text backbones


@dataclass
class RunModel:
    model: TransferModel
    info: dict[str, Any]
    data_config: DataConfig
    run_dir: Path

    @property
    def classes(self) -> list[str]:
        return list(self.info["classes"])

    @property
    def modality(self) -> str:
        return self.info.get("modality", "image")

    @property
    def task(self) -> str:
        return self.info.get("task", "single-label")

    @property
    def thresholds(self) -> list[float] | None:
        """Per-label decision thresholds of a multi-label run (chosen on validation data)."""
        return self.info.get("thresholds")


def model_info(model: TransferModel, strategy: str, data_config: DataConfig, lora: dict | None = None) -> dict[str, Any]:
    return {
        "format_version": 1,
        "modality": data_config.modality,
        "backbone": model.backbone.spec,
        "classes": list(model.classes or []),
        "data_config": data_config.to_dict(),
        "head": model.head.describe(),
        "strategy": strategy,
        "lora": lora,
        "task": getattr(model, "task", "single-label"),
    }


def rebuild_backbone(spec: dict[str, Any], run_dir: Path) -> Backbone:
    if spec.get("source") == "hf":
        from .backbones.hf_text import HFTextBackbone

        return HFTextBackbone.from_assets(run_dir / BACKBONE_ASSETS, spec)
    return create_backbone(spec["name"], weights="none", **spec.get("options", {}))


def build_model_from_info(info: dict[str, Any], run_dir: Path) -> TransferModel:
    backbone = rebuild_backbone(info["backbone"], run_dir)
    head_info = info["head"]
    head = build_head(head_info["type"], head_info["in_features"], len(info["classes"]),
                      dropout=head_info.get("dropout", 0.0), hidden=head_info.get("hidden"))
    model = TransferModel(backbone, head, info["classes"], task=info.get("task", "single-label"))
    if info.get("lora"):
        from .backbones.lora import apply_lora

        apply_lora(model, **info["lora"])
    return model


def load_run(run_dir: str | Path, device: str = "cpu") -> RunModel:
    """Load ``run_dir``'s model in eval mode.

    >>> run = load_run("runs/ants-two-phase")          # doctest: +SKIP
    >>> run.model(x).softmax(1)                          # doctest: +SKIP
    """
    run_dir = Path(run_dir)
    info_path, weights_path = run_dir / "model.json", run_dir / "model.safetensors"
    for path in (info_path, weights_path):
        if not path.is_file():
            raise RunError(f"{path} is missing: {run_dir} is not a finished headstart run.",
                           "Train one with `headstart train`, or pass the run folder it printed.")
    try:
        info = json.loads(info_path.read_text())
    except json.JSONDecodeError as exc:
        raise RunError(f"{info_path} is not valid JSON ({exc.msg}).") from None
    return model_from_files(info, weights_path, run_dir, device)


def model_from_files(info: dict[str, Any], weights_path: Path, folder: Path, device: str = "cpu") -> RunModel:
    """The model ``info`` (model.json's content) describes, filled from ``weights_path``.

    ``folder`` holds the text backbone's assets (``backbone/``): a run folder or an ``hf`` export.
    """
    model = build_model_from_info(info, folder)
    from safetensors.torch import load_file

    try:
        state = load_file(str(weights_path))
    except Exception as exc:  # SafetensorError (truncated, garbage), OSError
        raise RunError(f"{weights_path} is damaged and cannot be read ({str(exc).splitlines()[0][:150]}).",
                       "Copy the run folder again, or retrain.") from None
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RunError(f"{weights_path} does not match model.json (missing {missing[:3]}, unexpected {unexpected[:3]}).")
    model.eval().to(device)
    return RunModel(model, info, DataConfig.from_dict(info["data_config"]), folder)
