"""The typer application every ``headstart`` command registers on.

One module per command (``cli/train.py``, ``cli/predict.py`` ...) imports ``app`` from here and
decorates its function with ``@app.command()``; ``cli/__init__.py`` imports them all.
"""
from __future__ import annotations

import typer

app = typer.Typer(
    name="headstart",
    help="Transfer learning with PyTorch: adapt pretrained models to your data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
