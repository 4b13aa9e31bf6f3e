"""``Run``: a finished run folder as a Python object (what ``hs.train`` returns and ``hs.load`` opens).

Why: in a notebook the next steps after training are "how good is it", "what does it say about
this picture", "give me a file to deploy". ``Run`` answers each in one call, reading only the run
folder (or an ``hf`` export folder), the same files the CLI commands use.

Example::

    run = hs.load("runs/ants")
    run.metrics["val_accuracy"], run.classes, run.report_path
    run.predict("bee.jpg")["label"]
    run.predict([pil_image, numpy_array, tensor])
    run.evaluate("more_photos/")["accuracy"]
    run.export("onnx")
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from .errors import ConfigError, RunError

EXPORT_FORMATS = ("onnx", "torchscript", "hf")
HF_CONFIG = "config.json"


class Run:
    """A trained model with its run folder: metrics, classes, report, ``predict``, ``evaluate``, ``export``."""

    def __init__(self, run_dir: str | Path, run_model: Any = None, metrics: dict[str, Any] | None = None):
        self.run_dir = Path(run_dir)
        self._run_model = run_model
        self._metrics = metrics
        self._predictor: Any = None

    # ------------------------------------------------------------------------- what the run holds
    @property
    def metrics(self) -> dict[str, Any]:
        """``metrics.json``: val_accuracy, macro_f1, val_loss, per_class, epochs, ... ({} if absent)."""
        if self._metrics is None:
            path = self.run_dir / "metrics.json"
            self._metrics = json.loads(path.read_text()) if path.is_file() else {}
        return self._metrics

    @property
    def run_model(self) -> Any:
        if self._run_model is None:
            from .run_model import load_run

            self._run_model = load_run(self.run_dir)
        return self._run_model

    @property
    def model(self) -> Any:
        """The trained ``torch.nn.Module`` (backbone + head; inputs as the data config describes)."""
        return self.run_model.model

    @property
    def classes(self) -> list[str]:
        return self.run_model.classes

    @property
    def report_path(self) -> Path | None:
        """``report.html`` of the run (None for an export folder or a run without a report)."""
        path = self.run_dir / "report.html"
        return path if path.is_file() else None

    @property
    def predictor(self) -> Any:
        if self._predictor is None:
            from .export.predictor import Predictor

            self._predictor = Predictor(self.run_model)
        return self._predictor

    # ------------------------------------------------------------------------- using it
    def predict(self, inputs: Any, top_k: int = 5, tta: bool = False, batch_size: int = 32) -> Any:
        """Labels with probabilities: a dict for one input, a list of dicts for a list.

        Images: a path, a PIL image, a numpy ``HxWxC`` uint8 array, a ``CxHxW``/``HxWxC`` tensor, or
        a list mixing them. Texts (text runs): a string or a list of strings.
        """
        return self.predictor.predict(inputs, top_k=top_k, tta=tta, batch_size=batch_size)

    def predict_proba(self, inputs: Any, batch_size: int = 32, tta: bool = False) -> Any:
        """Class probabilities as a numpy array ``[n, num_classes]`` (columns in ``classes`` order)."""
        return self.predictor.predict_proba(inputs, batch_size=batch_size, tta=tta)

    def evaluate(self, data: Any, *, batch_size: int = 32, classes: Sequence[str] | None = None,
                 image_column: str | None = None, text_column: str = "text", label_column: str = "label") -> dict[str, Any]:
        """Metrics on labelled ``data``: a folder/CSV path or any in-memory source ``hs.train`` takes.

        A folder with ``val/`` is evaluated on its ``val/`` split; anything else on all its items.
        """
        from .evaluation import evaluate_items, labelled_items

        modality = self.run_model.modality
        if isinstance(data, (str, Path)):
            items = labelled_items(str(data), modality, text_column=text_column, label_column=label_column)
            name = str(data)
        else:
            from .data.sources import data_source

            source = data_source(data, classes=classes, image_column=image_column, text_column=text_column,
                                 label_column=label_column)
            items, name = source.items, source.description
        return evaluate_items(self.predictor, items, name, batch_size=batch_size)

    def export(self, format: str = "onnx", output: str | Path | None = None, **options: Any) -> Path:
        """Export to ``onnx`` | ``torchscript`` (parity-checked, like ``headstart export``) or ``hf``
        (a Hugging Face folder with a model card). Returns the model file or folder written."""
        fmt = str(format).strip().lower()
        if fmt not in EXPORT_FORMATS:
            raise ConfigError(f"Export format {format!r} is not supported; use one of {', '.join(EXPORT_FORMATS)}.")
        if not (self.run_dir / "model.json").is_file():
            raise RunError(f"{self.run_dir} is an export folder; export works from the run folder it came from.")
        if fmt == "hf":
            from .export.hf_export import export_hf

            return export_hf(self.run_dir, output, **options).path
        if fmt == "onnx":
            from .export.onnx_export import export_onnx

            return Path(export_onnx(self.run_dir, output, **options).path)
        from .export.torchscript_export import export_torchscript

        return Path(export_torchscript(self.run_dir, output, **options).path)

    def __repr__(self) -> str:
        accuracy = self.metrics.get("val_accuracy")
        shown = f", val_accuracy={accuracy:.4f}" if isinstance(accuracy, (int, float)) else ""
        return f"Run({str(self.run_dir)!r}{shown})"


def load(folder: str | Path) -> Run:
    """Open a run folder (``runs/x``) or a Hugging Face export of one (``runs/x/export/hf``).

    >>> run = hs.load("runs/ants")            # doctest: +SKIP
    >>> run.predict("bee.jpg")["label"]        # doctest: +SKIP
    'bees'
    """
    folder = Path(folder)
    if (folder / "model.json").is_file():
        from .run_model import load_run

        return Run(folder, load_run(folder))
    if (folder / HF_CONFIG).is_file():
        from .export.hf_export import load_hf

        run_model, metrics = load_hf(folder)
        return Run(folder, run_model, metrics)
    if not folder.exists():
        raise RunError(f"{folder} does not exist.", "Pass a run folder printed by `headstart train` / hs.train.")
    raise RunError(f"{folder} holds neither model.json (a run folder) nor config.json (an hf export).",
                   "Pass a run folder, or the folder `headstart export RUN --format hf` wrote.")
