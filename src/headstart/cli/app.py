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


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"headstart {version('headstart')}")
        except PackageNotFoundError:  # running from a source tree that was never installed
            typer.echo("headstart (version unknown: not installed)")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                      help="Print the installed headstart version and exit."),
) -> None:
    pass
