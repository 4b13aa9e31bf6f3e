"""``hs.train(data, **options)``: the CLI's ``headstart train`` as one Python call returning a :class:`Run`.

Why: most people meet a library like this in a notebook. Every ``RunConfig`` option is a keyword
with the same name and default as the CLI flag; signature and docstring are generated from
:func:`headstart.config.option_help`, so ``help(hs.train)`` and ``headstart train --help`` cannot
drift apart. An unknown keyword is a :class:`~headstart.errors.ConfigError` naming it.

Example::

    import headstart as hs
    run = hs.train("examples/ants_bees", model="efficientnet_lite0", epochs=3)
    run = hs.train(df, model="minilm", text_column="review", progress=False)   # a DataFrame
"""
from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any, Sequence

from .config import config_from_dict, option_help, options_doc
from .errors import ConfigError
from .run import Run


def train(data: Any, *, val_data: Any = None, classes: Sequence[str] | None = None, image_column: str | None = None,
          resume: str | Path | None = None, progress: bool = True, train_transform: Any = None,
          **options: Any) -> Run:
    from .data.sources import data_source, is_in_memory
    from .runner import train_run

    columns = {"image_column": image_column, "text_column": options.get("text_column", "text"),
               "label_column": options.get("label_column", "label")}
    source = data_source(data, classes=classes, **columns) if is_in_memory(data) else None
    val_source = data_source(val_data, classes=classes, **columns) if is_in_memory(val_data) else None
    if source is not None and val_data is not None and val_source is None:
        raise ConfigError(f"val_data {str(val_data)!r} is a path but data is in memory.",
                          "Pass val_data in memory too (e.g. a DataFrame or a list of pairs), or both as paths.")
    values = dict(options)
    values["data"] = source.description if source is not None else ("" if data is None else str(data))
    if val_source is not None:
        values["val_data"] = val_source.description
    elif val_data is not None:
        values["val_data"] = str(val_data)
    config = config_from_dict(values, source="hs.train")
    result = train_run(config, resume_dir=resume, source=source, val_source=val_source, progress=progress,
                       train_transform=train_transform)
    if result.model is None:  # resuming a run that was already complete: nothing trained, load it
        return Run(result.run_dir)
    from .backbones.data_config import DataConfig
    from .run_model import RunModel

    info = json.loads((result.run_dir / "model.json").read_text())
    run_model = RunModel(result.model.eval(), info, DataConfig.from_dict(info["data_config"]), result.run_dir)
    return Run(result.run_dir, run_model, result.metrics)


_EXTRA_DOC = """
    data: an image folder, a CSV/TSV/JSONL path, a pandas DataFrame (columns path or text + label),
        a list of (item, label), a datasets.Dataset (image or text column + ClassLabel), or a torch
        Dataset of (PIL image | tensor, label) with a ``classes`` attribute.
    val_data: separate validation data, a path or in-memory like ``data``.
    classes: class names for integer labels (index -> name), when the data does not carry them.
    image_column: DataFrame / datasets column holding image paths or images (default: path, image, ...).
    resume: a run folder to continue (in-memory data: pass the same data again).
    progress: False prints nothing (no tables, no progress bar, no Lightning messages).
    train_transform: your own training transform for images (decoded uint8 [3, H, W] tensor ->
        normalised float tensor), used instead of --augment; recorded in the run by its repr.
"""


def _signature() -> inspect.Signature:
    keyword = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter("data", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Any)]
    params += [inspect.Parameter(name, keyword, default=default, annotation=annotation) for name, default, annotation in (
        ("val_data", None, Any), ("classes", None, "Sequence[str] | None"), ("image_column", None, "str | None"),
        ("resume", None, "str | Path | None"), ("progress", True, bool), ("train_transform", None, Any))]
    for name, spec in option_help().items():
        if name not in ("data", "val_data") and spec["cli"]:
            params.append(inspect.Parameter(name, keyword, default=spec["default"], annotation=spec["type"]))
    return inspect.Signature(params, return_annotation=Run)


train.__signature__ = _signature()  # type: ignore[attr-defined]
train.__doc__ = (
    "Train a classifier on ``data`` and return the finished :class:`~headstart.run.Run`.\n\n"
    "Writes a normal run folder (``output_dir/name``), exactly like ``headstart train``.\n\n"
    "Data and Python-only keywords:\n" + _EXTRA_DOC + "\n"
    "Options (the same as ``headstart train --help``; an unknown keyword is a ConfigError):\n"
    + options_doc() + "\n\n"
    "Example::\n\n"
    "    run = hs.train(\"examples/ants_bees\", model=\"efficientnet_lite0\", epochs=3)\n"
    "    run.predict(\"bee.jpg\")\n"
)
