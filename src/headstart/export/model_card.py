"""The model card (``README.md``) of a Hugging Face export: YAML metadata the Hub reads, then prose.

Why: a model on the Hub without a card is unusable by anyone else; the Hub reads the YAML header
(library, tags, metrics as ``model-index``) for search and the results widget. Everything here
comes from the run folder's files, so the card states only what the run measured.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

HF_DATASET = re.compile(r"^<datasets\.Dataset (?P<name>[^ >]+) \d+ rows>$")


def _task(modality: str) -> str:
    return "text-classification" if modality == "text" else "image-classification"


def _data_name(data: str) -> tuple[str, str | None]:
    """(what to call the training data, its Hub dataset id if known)."""
    match = HF_DATASET.match(data or "")
    if match:
        return match.group("name"), match.group("name")
    if data.startswith("<"):
        return data.strip("<>"), None
    return Path(data).name or data, None


def card_metadata(info: dict[str, Any], config: dict[str, Any], metrics: dict[str, Any], run_name: str) -> dict[str, Any]:
    modality = info.get("modality", "image")
    backbone = str(info["backbone"].get("name", "unknown"))
    data_name, dataset_id = _data_name(str(config.get("data") or ""))
    results = []
    for key, kind, label in (("val_accuracy", "accuracy", "Validation accuracy"), ("macro_f1", "f1", "Validation macro F1")):
        if isinstance(metrics.get(key), (int, float)):
            results.append({"type": kind, "value": round(float(metrics[key]), 4), "name": label})
    meta: dict[str, Any] = {
        "library_name": "headstart",
        "pipeline_tag": _task(modality),
        "tags": ["headstart", "transfer-learning", _task(modality), backbone.split(":")[-1].split("/")[-1],
                 f"strategy-{info.get('strategy', 'unknown')}"],
        "metrics": [r["type"] for r in results],
    }
    if dataset_id:
        meta["datasets"] = [dataset_id]
    if results:
        meta["model-index"] = [{"name": run_name, "results": [{
            "task": {"type": _task(modality)},
            "dataset": {"name": data_name, "type": dataset_id or "custom", "split": "validation"},
            "metrics": results}]}]
    return meta


def model_card(info: dict[str, Any], config: dict[str, Any], metrics: dict[str, Any], params: dict[str, Any],
               run_name: str) -> str:
    """The whole ``README.md``: YAML front matter and the card's sections."""
    meta = card_metadata(info, config, metrics, run_name)
    modality = info.get("modality", "image")
    classes = [str(c) for c in info.get("classes", [])]
    backbone = info["backbone"].get("name", "unknown")
    data_name, _ = _data_name(str(config.get("data") or ""))
    example = '"some text"' if modality == "text" else '"image.jpg"'
    lines = ["---", yaml.safe_dump(meta, sort_keys=False).strip(), "---", "", f"# {run_name}", "",
             f"A {len(classes)}-class {modality} classifier: the `{backbone}` backbone "
             f"(weights: {config.get('weights', 'unknown')}) with a new `{info['head'].get('type', 'linear')}` head, "
             f"trained with headstart's `{info.get('strategy')}` strategy.", "",
             "## Intended use", "",
             f"Classifying {modality}s into these classes: {', '.join(f'`{c}`' for c in classes)}. "
             "Inputs should resemble the training data (below); anything else still gets one of these labels.", "",
             "```python", "import headstart as hs", "run = hs.load(\"path/to/this/folder\")",
             f"run.predict({example})", "```", "",
             "## Training data", "",
             f"- Source: {data_name}",
             f"- {metrics.get('train_size', '?')} training and {metrics.get('val_size', '?')} validation "
             f"{'texts' if modality == 'text' else 'images'}",
             ]
    per_class = metrics.get("per_class") or {}
    if per_class:
        lines.append("- Validation examples per class: " + ", ".join(f"{c} {v.get('support', '?')}" for c, v in per_class.items()))
    lines += ["", "## Training procedure", "",
              f"- Strategy: `{info.get('strategy')}`; epochs {config.get('epochs')} "
              + (f"(after {config.get('head_epochs')} head epochs)" if info.get("strategy") == "two-phase" else "")
              + f", head lr {config.get('lr')}, batch size {config.get('batch_size')}, seed {config.get('seed')}",
              f"- Parameters: {params.get('total', '?'):,} in total" if isinstance(params.get("total"), int)
              else "- Parameters: unknown"]
    for phase in params.get("phases", []):
        lines.append(f"  - phase `{phase.get('phase')}`: {phase.get('trainable', 0):,} trainable")
    if info.get("lora"):
        lines.append(f"- LoRA: {info['lora']}")
    lines += ["", "## Metrics (validation set)", "", "| metric | value |", "|---|---|"]
    for key in ("val_accuracy", "macro_f1", "val_loss"):
        if isinstance(metrics.get(key), (int, float)):
            lines.append(f"| {key} | {metrics[key]:.4f} |")
    if per_class:
        lines += ["", "| class | precision | recall | f1 | support |", "|---|---|---|---|---|"]
        for name, row in per_class.items():
            lines.append(f"| {name} | {row.get('precision', 0):.3f} | {row.get('recall', 0):.3f} | "
                         f"{row.get('f1', 0):.3f} | {row.get('support', 0)} |")
    lines += ["", "## Limitations", "",
              f"- Measured on {metrics.get('val_size', 'a few')} validation examples from the same source as the "
              "training data; expect lower accuracy on data that looks different.",
              "- It always answers with one of the classes above, even for unrelated inputs.",
              "- Biases of the pretrained backbone and of the training data carry over.", "",
              "## Files", "",
              "`model.safetensors` (weights of backbone + head), `config.json` (labels and the headstart model "
              "description), `preprocessing.json` (input size, resize, mean/std or tokenizer)"
              + (", `preprocessor_config.json` (the same for transformers' image processors)" if modality == "image" else "")
              + ". Load it with `headstart.load(folder)`.", ""]
    return "\n".join(lines)
