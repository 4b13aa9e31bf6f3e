"""Loading a user's local weights file safely, with a clear report of what matched.

Why: users bring checkpoints from many places (torchvision downloads, timm, DataParallel runs,
earlier headstart runs). We never unpickle arbitrary objects (``weights_only=True``), we strip the
usual wrapper prefixes by picking the key mapping that matches the architecture best, and we fail
loudly if any backbone tensor would stay random, instead of silently training half a model.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..errors import WeightsError

WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".safetensors")
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "module", "net")
STRIPPABLE_PREFIXES = ("module.", "_orig_mod.", "backbone.", "model.", "encoder.", "base_model.")


@dataclass
class LoadReport:
    """What happened when a weights file was applied to a module."""

    path: str
    loaded: int = 0
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"Loaded {self.loaded} tensors from {self.path}"]
        if self.unexpected:
            parts.append(f"ignored {len(self.unexpected)} unused (e.g. {', '.join(self.unexpected[:3])})")
        if self.mismatched:
            parts.append(f"skipped {len(self.mismatched)} with other shapes ({', '.join(self.mismatched[:3])})")
        return "; ".join(parts) + "."


def looks_like_weights_file(value: str) -> bool:
    return value.lower().endswith(WEIGHT_SUFFIXES) or Path(value).is_file()


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read tensors from ``.safetensors`` or a torch file with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(
            f"Weights file {str(path)!r} does not exist.",
            "Pass an existing .pth/.pt/.safetensors file, `imagenet` or `none`.",
        )
    from safetensors import SafetensorError

    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj: object = load_file(str(path), device="cpu")
        else:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's own text advises weights_only=False (arbitrary code execution): keep only the reason
        detail = str(exc).split("WeightsUnpickler error:", 1)[-1].strip().splitlines()
        reason = detail[0].split(" was not an allowed global")[0] if detail else type(exc).__name__
        raise WeightsError(
            f"Weights file {str(path)!r} is not plain tensors and was refused by safe loading "
            f"(weights_only=True): {reason[:200]}.",
            "Re-save only the tensors: `torch.save(model.state_dict(), path)` or as .safetensors.",
        ) from None
    except (SafetensorError, RuntimeError, OSError, ValueError, EOFError, KeyError, IndexError, TypeError) as exc:
        # a text or random file read as a pickle fails with whatever byte it starts with (KeyError: 101)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, (KeyError, IndexError, TypeError)):
            first = "not a torch or safetensors file"
        raise WeightsError(
            f"Cannot read weights file {str(path)!r}: {first[:200]}",
            "It must hold plain tensors (a state dict); re-save it with "
            "`torch.save(model.state_dict(), path)` or as .safetensors.",
        ) from None
    return _unwrap(obj, path)


def _unwrap(obj: object, path: Path) -> dict[str, torch.Tensor]:
    for _ in range(3):
        if isinstance(obj, dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
            inner = next((obj[k] for k in WRAPPER_KEYS if isinstance(obj.get(k), dict)), None)
            if inner is None:
                break
            obj = inner
    if not isinstance(obj, dict):
        raise WeightsError(
            f"Weights file {str(path)!r} holds a {type(obj).__name__}, not a state dict.",
            "Save `model.state_dict()` rather than the model object.",
        )
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise WeightsError(f"Weights file {str(path)!r} contains no tensors.")
    return tensors


def _best_mapping(keys: list[str], target: set[str]) -> dict[str, str]:
    """Strip wrapper prefixes (repeatedly) to maximise the number of keys the target has."""
    best = {k: k for k in keys}
    best_hits = sum(k in target for k in keys)
    frontier = [best]
    for _ in range(4):
        new_frontier = []
        for mapping in frontier:
            for prefix in STRIPPABLE_PREFIXES:
                cand = {k: (v[len(prefix):] if v.startswith(prefix) else v) for k, v in mapping.items()}
                if cand == mapping:
                    continue
                hits = sum(v in target for v in cand.values())
                new_frontier.append(cand)
                if hits > best_hits:
                    best, best_hits = cand, hits
        frontier = new_frontier
    return best


def apply_state_dict(module: nn.Module, state: dict[str, torch.Tensor], path: str) -> LoadReport:
    """Load ``state`` into ``module``; raise if any of the module's tensors stays unloaded."""
    own = module.state_dict()
    mapping = _best_mapping(list(state), set(own))
    report = LoadReport(path=path)
    to_load: dict[str, torch.Tensor] = {}
    for src, dst in mapping.items():
        if dst not in own:
            report.unexpected.append(src)
        elif own[dst].shape != state[src].shape:
            report.mismatched.append(f"{dst} {tuple(state[src].shape)}->{tuple(own[dst].shape)}")
        else:
            to_load[dst] = state[src]
    report.missing = [k for k in own if k not in to_load and not k.endswith("num_batches_tracked")]
    if not to_load:
        raise WeightsError(
            f"No tensor in {path!r} matches this architecture (file keys look like "
            f"{', '.join(list(state)[:3])}; model keys look like {', '.join(list(own)[:3])}).",
            "Check that --model names the architecture the file was saved from.",
        )
    if report.missing:
        raise WeightsError(
            f"Weights file {path!r} lacks {len(report.missing)} tensors this backbone needs "
            f"(e.g. {', '.join(report.missing[:4])}"
            + (f"; shape mismatches: {', '.join(report.mismatched[:3])}" if report.mismatched else "")
            + ").",
            "Check --model matches the file's architecture (and width/options).",
        )
    module.load_state_dict(to_load, strict=False)
    report.loaded = len(to_load)
    return report
