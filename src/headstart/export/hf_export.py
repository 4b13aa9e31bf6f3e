"""``headstart export RUN --format hf``: a Hugging Face Hub-ready folder, and loading it back.

Why: users share models on the Hub. The folder holds what the Hub and its users expect:
``model.safetensors`` (the run's weights, unchanged), ``config.json`` (``id2label``/``label2id`` and
the headstart model description that rebuilds the architecture), the preprocessing
(``preprocessing.json``; for images also ``preprocessor_config.json`` in transformers' image-processor
format; for texts the tokenizer) and a model card ``README.md`` (:mod:`.model_card`).
:func:`load_hf` (``hs.load(folder)``) rebuilds the model from the folder alone, offline.

``push_to_hub`` uploads the folder with ``huggingface_hub``; offline, or without a token, it is a
one-line :class:`~headstart.errors.RunError` and the folder stays on disk to upload later.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import RunError
from ..run_model import BACKBONE_ASSETS
from .model_card import model_card
from .onnx_predictor import preprocessing_from_info, write_preprocessing

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
CARD = "README.md"
IMAGE_PROCESSOR = "preprocessor_config.json"
_PIL_RESAMPLE = {"nearest": 0, "bilinear": 2, "bicubic": 3}  # PIL.Image.Resampling values, as transformers stores them


@dataclass
class HFExport:
    path: Path
    card_path: Path
    url: str | None = None


def _read(path: Path, kind: str = "json") -> dict[str, Any]:
    if not path.is_file():
        return {}
    return json.loads(path.read_text()) if kind == "json" else (yaml.safe_load(path.read_text()) or {})


def image_processor_config(info: dict[str, Any]) -> dict[str, Any]:
    """Our eval preprocessing in transformers' ``BitImageProcessor`` terms (shortest-edge resize,
    centre crop, rescale 1/255, normalise)."""
    spec = preprocessing_from_info(info)
    return {"image_processor_type": "BitImageProcessor", "do_convert_rgb": True,
            "do_resize": True, "size": {"shortest_edge": spec["resize_size"]},
            "resample": _PIL_RESAMPLE.get(spec["interpolation"], 2),
            "do_center_crop": True, "crop_size": {"height": spec["crop_size"], "width": spec["crop_size"]},
            "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
            "image_mean": spec["mean"], "image_std": spec["std"]}


def export_hf(run_dir: str | Path, output_dir: str | Path | None = None, *, push_to_hub: str | None = None,
              token: str | None = None) -> HFExport:
    """Write ``run_dir``'s model as a Hugging Face folder (default ``RUN/export/hf``); push it if asked."""
    from .. import __version__

    run_dir = Path(run_dir)
    info = _read(run_dir / "model.json")
    if not info or not (run_dir / WEIGHTS).is_file():
        raise RunError(f"{run_dir} is not a finished headstart run (model.json or {WEIGHTS} missing).",
                       "Pass the run folder `headstart train` printed.")
    out = Path(output_dir) if output_dir is not None else run_dir / "export" / "hf"
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy2(run_dir / WEIGHTS, out / WEIGHTS)
    metrics = _read(run_dir / "metrics.json")
    classes = [str(c) for c in info["classes"]]
    config = {
        "model_type": "headstart", "library_name": "headstart", "headstart_version": __version__,
        "architectures": ["TransferModel"], "num_labels": len(classes),
        "id2label": {str(i): c for i, c in enumerate(classes)}, "label2id": {c: i for i, c in enumerate(classes)},
        "backbone": info["backbone"].get("name"), "headstart": info,
        "metrics": {k: metrics[k] for k in ("val_accuracy", "macro_f1", "val_loss") if k in metrics},
    }
    (out / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    write_preprocessing(out, info, run_dir)
    if info.get("modality") == "text":  # tokenizer + transformer config: what rebuilds the backbone offline
        if (out / BACKBONE_ASSETS).exists():
            shutil.rmtree(out / BACKBONE_ASSETS)
        shutil.copytree(run_dir / BACKBONE_ASSETS, out / BACKBONE_ASSETS)
    else:
        (out / IMAGE_PROCESSOR).write_text(json.dumps(image_processor_config(info), indent=2) + "\n")
    card = out / CARD
    card.write_text(model_card(info, _read(run_dir / "config.yaml", "yaml"), metrics, _read(run_dir / "params.json"),
                               run_dir.name))
    url = upload(out, push_to_hub, token) if push_to_hub else None
    return HFExport(out, card, url)


def load_hf(folder: str | Path, device: str = "cpu") -> tuple[Any, dict[str, Any]]:
    """``(RunModel, metrics)`` from a folder written by :func:`export_hf`."""
    from ..run_model import model_from_files

    folder = Path(folder)
    config = _read(folder / CONFIG)
    if "headstart" not in config:
        raise RunError(f"{folder / CONFIG} is not a headstart export (no 'headstart' section).",
                       "Pass a folder written by `headstart export RUN --format hf`.")
    if not (folder / WEIGHTS).is_file():
        raise RunError(f"{folder / WEIGHTS} is missing.", "Export the run again with --format hf.")
    return model_from_files(config["headstart"], folder / WEIGHTS, folder, device), dict(config.get("metrics") or {})


def upload(folder: Path, repo: str, token: str | None = None) -> str:
    """Upload ``folder`` to the Hub model repo ``repo`` (created if needed); returns its URL."""
    from huggingface_hub import HfApi, constants

    later = f"The export is in {folder}; upload it later with `hf upload {repo} {folder}`."
    if constants.HF_HUB_OFFLINE:
        raise RunError("Cannot push to the Hugging Face Hub: offline mode (HF_HUB_OFFLINE is set).", later)
    api = HfApi(token=token)
    try:
        api.create_repo(repo, exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo, commit_message="headstart export")
    except Exception as exc:  # network down, no/invalid token, repo refused: all fixable by the user
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise RunError(f"Cannot push to the Hugging Face Hub ({type(exc).__name__}: {reason}).", later) from None
    return f"{constants.ENDPOINT}/{repo}"
