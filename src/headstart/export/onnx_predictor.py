"""Predict with an exported ONNX model and onnxruntime alone: no torch at prediction time.

Why: a deployment image with onnxruntime, Pillow, numpy and ``tokenizers`` is a fraction of one
with torch. This module (and everything it imports) must stay torch-free; a test checks that
``torch`` is not in ``sys.modules`` after predicting.

``preprocessing.json`` (written beside the model by ``headstart export``) says how inputs must look:
for images the input size, shorter-side resize, interpolation and mean/std; for texts the
``max_length`` and the tokenizer folder. :func:`preprocessing_from_info` is the one place that
turns a run's ``model.json`` into that file, so export and the fallback below agree.

Images are resized with Pillow here, while :class:`~headstart.export.predictor.Predictor` resizes
a uint8 tensor with torchvision (``antialias=True``). Both compute the same output size and the same
centre crop; torchvision's uint8 antialiased bilinear/bicubic kernels follow Pillow's but round
differently, so a pixel differs by at most one or two grey levels (bicubic 256 -> 224 on the
hymenoptera val photos: max 2, typically 1). Measured with an EfficientNet-Lite0 run on those 153
photos: top-1 agreement 100%, max probability difference 9e-4 (the tests and
``bench/export_parity.py`` measure it too). ``nearest`` differs more: torchvision picks
``floor(i * scale)`` while Pillow samples pixel centres.

Example::

    predictor = OnnxPredictor.from_files("runs/pets/export/model.onnx")
    predictor.predict(["cat.jpg"], top_k=3)
"""
from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import DataError, RunError
from .label_sets import MULTI_LABEL, format_predictions, probabilities  # format_predictions: Predictor's too

PREPROCESSING_FILE = "preprocessing.json"
TOKENIZER_DIR = "tokenizer"
RUN_BACKBONE_DIR = "backbone"  # = headstart.run_model.BACKBONE_ASSETS (that module imports torch)
IMAGE_INPUTS = ("pixel_values",)
TEXT_INPUTS = ("input_ids", "attention_mask")
OUTPUT_NAME = "logits"
DEFAULT_MAX_LENGTH = 128  # what Predictor uses when the data config has no max_length
_RESAMPLE = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
             "nearest": Image.Resampling.NEAREST}
_NOT_TOKENIZER_FILES = {"config.json", "model.safetensors", "pytorch_model.bin"}


# ----------------------------------------------------------------------------- preprocessing.json
def preprocessing_from_info(info: dict[str, Any]) -> dict[str, Any]:
    """The ``preprocessing.json`` content for a run's ``model.json`` dict.

    The resize rule is DataConfig's: ``resize_size = round(H / crop_pct)``, then a centre crop of
    ``H``; a test keeps the two in step.
    """
    config = dict(info.get("data_config") or {})
    modality = info.get("modality") or config.get("modality", "image")
    out: dict[str, Any] = {"format_version": 1, "modality": modality,
                           "labels": [str(c) for c in info["classes"]], "output": OUTPUT_NAME}
    if info.get("task") == MULTI_LABEL:  # sigmoid per label, and the label set is what reaches the thresholds
        out.update(task=MULTI_LABEL, thresholds=[float(t) for t in info.get("thresholds") or [0.5] * len(info["classes"])])
    if modality == "image":
        input_size = [int(v) for v in config.get("input_size", (3, 224, 224))]
        size = input_size[-1]
        out.update(inputs=list(IMAGE_INPUTS), input_size=input_size, crop_size=size,
                   resize_size=int(round(size / float(config.get("crop_pct", 0.875)))),
                   interpolation=str(config.get("interpolation", "bilinear")).lower(),
                   mean=[float(v) for v in config.get("mean", (0.485, 0.456, 0.406))],
                   std=[float(v) for v in config.get("std", (0.229, 0.224, 0.225))])
    else:
        out.update(inputs=list(TEXT_INPUTS), max_length=int(config.get("max_length") or DEFAULT_MAX_LENGTH),
                   tokenizer=TOKENIZER_DIR)
    return out


def write_preprocessing(export_dir: str | Path, info: dict[str, Any], run_dir: str | Path) -> Path:
    """Write ``preprocessing.json`` (and for text runs copy the tokenizer) into ``export_dir``.

    The tokenizer files come from the run's ``backbone/`` folder; the model config and weights
    there are left behind because the exported model replaces them.
    """
    export_dir = Path(export_dir)
    export_dir.mkdir(parents=True, exist_ok=True)
    spec = preprocessing_from_info(info)
    if spec["modality"] == "text":
        source, target = Path(run_dir) / RUN_BACKBONE_DIR, export_dir / TOKENIZER_DIR
        if not (source / "tokenizer.json").is_file():
            raise RunError(f"{source}/tokenizer.json is missing: the ONNX predictor needs a fast "
                           "(tokenizers) tokenizer.", "Retrain with a backbone that has a fast tokenizer.")
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for path in source.iterdir():
            if path.is_file() and path.name not in _NOT_TOKENIZER_FILES:
                shutil.copy2(path, target / path.name)
    path = export_dir / PREPROCESSING_FILE
    path.write_text(json.dumps(spec, indent=2) + "\n")
    return path


# ----------------------------------------------------------------------------- image preprocessing
def open_rgb(item: Any) -> Image.Image:
    """A path, raw bytes or PIL image as an EXIF-rotated RGB image (like Predictor's decoding)."""
    try:
        if isinstance(item, Image.Image):
            image = item
        elif isinstance(item, (bytes, bytearray)):
            image = Image.open(io.BytesIO(item))
        else:
            image = Image.open(item)
        image = ImageOps.exif_transpose(image)
        if image.mode == "P" and "transparency" in image.info:
            image = image.convert("RGBA")
        return image if image.mode == "RGB" else image.convert("RGB")
    except Image.DecompressionBombError as exc:
        name = item if isinstance(item, (str, Path)) else "upload"
        raise DataError(f"Image {name} is too large to decode safely ({exc}".split(", could be")[0] + ").",
                        "Downscale it first.") from None
    except (UnidentifiedImageError, OSError) as exc:
        name = item if isinstance(item, (str, Path)) else "upload"
        raise DataError(f"Cannot read image {name}: {type(exc).__name__}.",
                        "Pass JPEG/PNG/BMP/GIF/WebP/TIFF files.") from None


def _center_crop(array: np.ndarray, size: int) -> np.ndarray:
    """torchvision's CenterCrop on ``[H, W, C]``: zero-pad when smaller, top/left offsets rounded."""
    height, width = array.shape[:2]
    if height < size or width < size:
        pad_h, pad_w = max(size - height, 0), max(size - width, 0)
        array = np.pad(array, ((pad_h // 2, (pad_h + 1) // 2), (pad_w // 2, (pad_w + 1) // 2), (0, 0)))
        height, width = array.shape[:2]
    top, left = int(round((height - size) / 2.0)), int(round((width - size) / 2.0))
    return array[top:top + size, left:left + size]


def preprocess_image(image: Image.Image, spec: dict[str, Any]) -> np.ndarray:
    """RGB image -> normalised float32 ``[3, H, W]``: shorter side to ``resize_size``, centre crop.

    The output size follows torchvision's ``Resize(int)``: the long side is
    ``int(resize_size * long / short)`` (truncated), so both paths crop the same window.
    """
    width, height = image.size
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = int(spec["resize_size"]), int(int(spec["resize_size"]) * long / short)
    new_size = (new_short, new_long) if width <= height else (new_long, new_short)
    if new_size != image.size:
        image = image.resize(new_size, resample=_RESAMPLE[spec["interpolation"]])
    array = _center_crop(np.asarray(image, dtype=np.uint8), int(spec["crop_size"]))
    mean = np.asarray(spec["mean"], dtype=np.float32)
    std = np.asarray(spec["std"], dtype=np.float32)
    normalised = (array.astype(np.float32) / np.float32(255.0) - mean) / std
    return np.ascontiguousarray(normalised.transpose(2, 0, 1), dtype=np.float32)


# ----------------------------------------------------------------------------- text preprocessing
class TextEncoder:
    """A ``tokenizers`` tokenizer set up like the run's Hugging Face tokenizer call.

    Predictor and training use ``headstart.data.text_datamodule.tokenize_texts``: special tokens
    added, truncated to ``max_length``, padded to the longest text with the pad token on the
    tokenizer's padding side. Reading ``tokenizer.json`` directly keeps transformers (and torch) out.
    """

    def __init__(self, folder: str | Path, max_length: int):
        from tokenizers import Tokenizer

        folder = Path(folder)
        path = folder / "tokenizer.json"
        if not path.is_file():
            raise RunError(f"{path} is missing.", "Re-run `headstart export` so the tokenizer is copied.")
        self.tokenizer = Tokenizer.from_file(str(path))
        config_path = folder / "tokenizer_config.json"
        config = json.loads(config_path.read_text()) if config_path.is_file() else {}
        pad_token = config.get("pad_token")
        if isinstance(pad_token, dict):
            pad_token = pad_token.get("content")
        saved = self.tokenizer.padding or {}
        pad_token = pad_token or saved.get("pad_token") or "[PAD]"
        pad_id = self.tokenizer.token_to_id(pad_token)
        if pad_id is None:
            pad_id = int(saved.get("pad_id", 0))
        self.tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token,
                                      direction=config.get("padding_side", "right"))
        self.tokenizer.enable_truncation(max_length=int(max_length),
                                         direction=config.get("truncation_side", "right"))

    def __call__(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        encodings = self.tokenizer.encode_batch([str(t) for t in texts])
        return {"input_ids": np.asarray([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.asarray([e.attention_mask for e in encodings], dtype=np.int64)}


# ----------------------------------------------------------------------------- predictor
def _batches(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


class OnnxPredictor:
    """The Predictor interface (``classes``, ``modality``, ``predict``) on an onnxruntime session."""

    def __init__(self, session: Any, spec: dict[str, Any], tokenizer_dir: str | Path | None = None):
        self.session = session
        self.spec = spec
        self.classes: list[str] = list(spec["labels"])
        self.modality: str = spec["modality"]
        self.task: str = spec.get("task", "single-label")
        self.thresholds: list[float] | None = spec.get("thresholds")
        self.input_names = [i.name for i in session.get_inputs()]
        outputs = session.get_outputs()
        width = outputs[0].shape[-1] if outputs and outputs[0].shape else None
        if isinstance(width, int) and width != len(self.classes):
            raise RunError(f"The ONNX model outputs {width} classes but preprocessing.json lists "
                           f"{len(self.classes)} labels.", "Export the model and labels from the same run.")
        self.encoder = TextEncoder(tokenizer_dir, spec["max_length"]) if self.modality == "text" else None

    @classmethod
    def from_files(cls, onnx_path: str | Path, run_dir: str | Path | None = None,
                   providers: Sequence[str] | None = None) -> "OnnxPredictor":
        """Load ``onnx_path`` and the ``preprocessing.json`` beside it.

        Without that file, ``run_dir``'s ``model.json`` (and ``backbone/`` tokenizer) describe the
        preprocessing instead. ``providers`` defaults to CUDA when onnxruntime has it, else CPU.
        """
        import onnxruntime as ort

        onnx_path = Path(onnx_path)
        if not onnx_path.is_file():
            raise RunError(f"ONNX file {onnx_path} does not exist.",
                           "Create it with `headstart export RUN --format onnx`.")
        spec_path = onnx_path.parent / PREPROCESSING_FILE
        if spec_path.is_file():
            spec = json.loads(spec_path.read_text())
            tokenizer_dir = onnx_path.parent / spec.get("tokenizer", TOKENIZER_DIR)
        elif run_dir is not None and (Path(run_dir) / "model.json").is_file():
            spec = preprocessing_from_info(json.loads((Path(run_dir) / "model.json").read_text()))
            tokenizer_dir = Path(run_dir) / RUN_BACKBONE_DIR
        else:
            raise RunError(f"{spec_path} is missing, so the preprocessing is unknown.",
                           "Export with `headstart export RUN`, or pass the run folder too.")
        if run_dir is not None and (Path(run_dir) / "model.json").is_file():
            run_classes = [str(c) for c in json.loads((Path(run_dir) / "model.json").read_text())["classes"]]
            if run_classes != list(spec["labels"]):
                raise RunError(f"{onnx_path} was exported with labels {spec['labels'][:5]}, but {run_dir} "
                               f"has {run_classes[:5]}.", "Pass the run folder the model was exported from.")
        available = ort.get_available_providers()
        chosen = list(providers) if providers else [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                                                     if p in available]
        try:
            session = ort.InferenceSession(str(onnx_path), providers=chosen)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf/... types
            detail = str(exc).splitlines()[0].split(" : ")[-1][:200] if str(exc) else type(exc).__name__
            raise RunError(f"{onnx_path} is not a usable ONNX model ({detail}).",
                           "Export it again with `headstart export RUN --format onnx`.") from None
        return cls(session, spec, tokenizer_dir)

    def _encode(self, batch: Sequence[Any]) -> dict[str, np.ndarray]:
        if self.encoder is not None:
            encoded = self.encoder(batch)
        else:
            encoded = {IMAGE_INPUTS[0]: np.stack([preprocess_image(open_rgb(x), self.spec) for x in batch])}
        if len(self.input_names) == 1 and self.input_names[0] not in encoded:
            return {self.input_names[0]: next(iter(encoded.values()))}
        return {name: encoded[name] for name in self.input_names}

    def _run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self.session.run(None, feeds)[0], dtype=np.float32)

    def predict_logits(self, inputs: Sequence[Any], batch_size: int = 32) -> np.ndarray:
        """Raw logits ``[len(inputs), num_classes]``."""
        out = [self._run(self._encode(b)) for b in _batches(list(inputs), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)), dtype=np.float32)

    def iter_proba(self, inputs: Sequence[Any], batch_size: int = 32, tta: bool = False,
                   progress: bool = False) -> Iterable[np.ndarray]:
        """Class probabilities batch by batch; ``tta`` averages with the horizontal flip (images),
        as Predictor does."""
        from .progress import track_items

        inputs = list(inputs)
        unit = "img" if self.modality == "image" else "texts"
        for batch in track_items(_batches(inputs, batch_size), len(inputs), "Predicting (onnxruntime)", unit,
                                 enabled=progress and len(inputs) > batch_size):
            feeds = self._encode(batch)
            probs = probabilities(self._run(feeds), self.task)
            if tta and self.modality == "image":
                flipped = {k: np.ascontiguousarray(v[..., ::-1]) for k, v in feeds.items()}
                probs = (probs + probabilities(self._run(flipped), self.task)) / 2
            yield probs

    def predict_proba(self, inputs: Sequence[Any], batch_size: int = 32, tta: bool = False,
                      progress: bool = False) -> np.ndarray:
        """Class probabilities ``[len(inputs), num_classes]``."""
        out = list(self.iter_proba(inputs, batch_size, tta, progress))
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)), dtype=np.float32)

    def predict(self, inputs: Sequence[Any], top_k: int = 5, batch_size: int = 32, tta: bool = False,
                progress: bool = False) -> list[dict[str, Any]]:
        """Top-k labels (and for multi-label the label set) per input, the same dicts Predictor returns."""
        probs = self.predict_proba(inputs, batch_size=batch_size, tta=tta, progress=progress)
        return format_predictions(probs, self.classes, top_k, task=self.task, thresholds=self.thresholds)
