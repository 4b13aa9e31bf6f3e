"""``headstart train``: train a classifier on your data with a pretrained backbone.

The options are generated from :class:`headstart.config.RunConfig`: one field there is one flag
here, with the same name, default and help text (and the same keyword in ``headstart.train``).
A flag that is not given stays ``None`` so that ``--config`` YAML values are not overridden.
"""
from __future__ import annotations

import inspect
import sys
import typing
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import typer

from ..config import RunConfig, flag_name, load_config, option_help, parse_text_value
from ..errors import ConfigError
from .app import app

EXAMPLES = """
Examples:

  headstart train examples/ants_bees --model efficientnet_lite0 --strategy two-phase --epochs 3

  headstart train photos/ --model torchvision:resnet50 --strategy fine-tune --lr 3e-4

  headstart train reviews.csv --model minilm --text-column review --label-column stars

  headstart train --config runs/old/config.yaml        (reproduce a run)

  headstart train --resume runs/my-run                 (continue an interrupted run)
"""

SHORT_FLAGS = {"model": "-m", "strategy": "-s"}


def _cli_type(annotation: Any) -> tuple[Any, bool]:
    """(typer type, is_bool_flag) for a RunConfig annotation; unions of number and text arrive as text."""
    options = [o for o in (typing.get_args(annotation) or (annotation,)) if o is not type(None)]
    if bool in options:
        return Optional[bool], True
    if len(options) == 1 and options[0] in (int, float, str):
        return Optional[options[0]], False
    return Optional[str], False  # e.g. lr: float | "auto", devices: int | "auto"


def _shown_default(value: Any) -> str:
    return "none" if value is None else ("yes" if value is True else "no" if value is False else str(value))


def _option_parameters() -> list[inspect.Parameter]:
    params = []
    for name, spec in option_help().items():
        if name == "data":
            continue
        kind, is_flag = _cli_type(spec["type"])
        decls = [f"{flag_name(name)}/--no-{name.replace('_', '-')}"] if is_flag else [flag_name(name)]
        decls += [SHORT_FLAGS[name]] if name in SHORT_FLAGS else []
        shown = "" if "(default" in spec["help"] else f" (default: {_shown_default(spec['default'])})"
        info = typer.Option(None, *decls, help=spec["help"] + shown,
                            show_default=False,
                            hidden=not spec["cli"], rich_help_panel=spec["group"].capitalize() or None)
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=kind))
    return params


def _overrides(values: dict[str, Any]) -> dict[str, Any]:
    """Flags given on the command line, as config values (text parsed for union-typed options)."""
    hints = typing.get_type_hints(RunConfig)
    out = {}
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, str) and hints[name] is not str:  # lr "3e-4" -> 0.0003, devices "2" -> 2
            value = parse_text_value(name, value)
        out[name] = value
    if isinstance(out.get("limit_train_batches"), float) and out["limit_train_batches"] >= 1:
        out["limit_train_batches"] = int(out["limit_train_batches"])
    return out


def _check_resume_alone(run: Path, options: dict[str, object]) -> None:
    """``--resume`` continues a run exactly as it was started: any other option is an error, not ignored."""
    given = ["DATA" if key == "data" else flag_name(key) for key, value in options.items() if value is not None]
    if given:
        raise ConfigError(f"--resume {run} continues the run with the settings it was started with; "
                          f"it takes no other options, but got {', '.join(given)}.",
                          f"Drop them; to train with other settings, start a new run from its config: "
                          f"headstart train --config {run / 'config.yaml'} --epochs N ...")


@contextmanager
def _resume_hint_on_interrupt(run_dir: Optional[str]) -> Iterator[None]:
    """On Ctrl+C say how to continue (typer turns the interrupt into exit code 130 silently)."""
    try:
        yield
    except KeyboardInterrupt:
        where = run_dir or "RUN (the run folder printed above)"
        print(f"interrupted: the run folder keeps its last checkpoint; continue with `headstart train --resume {where}`",
              file=sys.stderr)
        raise


def train(data: Optional[str] = None, config: Optional[Path] = None, resume: Optional[Path] = None,
          **flags: Any) -> None:
    from ..runner import train_run

    if resume is not None:
        _check_resume_alone(resume, {"data": data, "config": config, **flags})
        with _resume_hint_on_interrupt(str(resume)):
            train_run(RunConfig(), resume_dir=resume)
        return
    base = load_config(config) if config else RunConfig()
    try:
        run_config = base.updated(data=data, **_overrides(flags))
    except ConfigError as exc:
        raise ConfigError(str(exc).removeprefix("command line: ")) from None
    where = str(Path(run_config.output_dir) / run_config.name) if run_config.name else None
    with _resume_hint_on_interrupt(where):
        train_run(run_config)


train.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
    inspect.Parameter("data", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Optional[str],
                      default=typer.Argument(None, help=option_help()["data"]["help"], show_default=False)),
    inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[Path],
                      default=typer.Option(None, "--config", help="YAML config (flags override it).")),
    inspect.Parameter("resume", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[Path],
                      default=typer.Option(None, "--resume", help="Continue the interrupted run in this folder.")),
    *_option_parameters(),
])
app.command("train", help="Train a classifier: pretrained backbone + new head, with a transfer strategy." + EXAMPLES)(train)
