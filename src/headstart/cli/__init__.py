"""The ``headstart`` command line: one module per command, all registered on one typer app."""
from __future__ import annotations

import os
import sys

import typer

from .app import app

# Commands register themselves on import.
from . import train, evaluate, predict, models  # noqa: E402,F401  isort:skip
from . import report, compare, serve, lr_find, export  # noqa: E402,F401  isort:skip


def _usage_error_types() -> tuple[type[BaseException], ...]:
    """Click's exception base classes: typer >= 0.2x vendors click (its classes derive from
    ``typer.TyperException``); older typer raises the real ``click`` ones."""
    kinds: list[type[BaseException]] = [typer.TyperException]
    try:
        import click

        kinds.append(click.ClickException)
    except ImportError:  # pragma: no cover  (typer without click installed)
        pass
    return tuple(kinds)


def _exit_types() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    exits: list[type[BaseException]] = [typer.Exit]
    aborts: list[type[BaseException]] = [typer.Abort]
    try:
        import click

        exits.append(click.exceptions.Exit)
        aborts.append(click.exceptions.Abort)
    except ImportError:  # pragma: no cover
        pass
    return tuple(exits), tuple(aborts)


def _report_usage_error(exc: BaseException) -> int:
    """A bad flag or value: one ``error:`` line naming it (like a HeadstartError), exit code 2."""
    if type(exc).__name__ == "NoArgsIsHelpError":  # `headstart train` alone: show the help text
        exc.show()  # type: ignore[attr-defined]
        return int(getattr(exc, "exit_code", 2))
    message = " ".join(str(exc.format_message()).split())  # type: ignore[attr-defined]
    ctx = getattr(exc, "ctx", None)
    command = getattr(ctx, "command_path", None) or "headstart"
    print(f"error: {message} (see `{command} --help`)", file=sys.stderr)
    return int(getattr(exc, "exit_code", 2))


def _plain_headstart_warnings() -> None:
    """Our own warnings (``headstart: ...``) print as one ``warning: ...`` line, without Python's
    file:line and source echo; other libraries' warnings print as Python shows them."""
    import warnings

    original = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        text = str(message)
        if text.startswith("headstart: "):
            print(f"warning: {text[len('headstart: '):]}", file=file or sys.stderr)
        else:
            original(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def main(argv: list[str] | None = None) -> int:
    """Entry point: user mistakes print one line (``error: ...``) and exit 2, never a traceback.

    Ctrl+C during training exits 130 and keeps the run folder resumable.

    >>> main(["models", "tiny*"])  # doctest: +SKIP
    0
    """
    from ..errors import HeadstartError

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    _plain_headstart_warnings()
    os.environ.setdefault("HF_HUB_VERBOSITY", "error")  # its retry warnings would precede our one error line
    exits, aborts = _exit_types()
    try:
        result = app(args=argv, prog_name="headstart", standalone_mode=False)
    except HeadstartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the run folder keeps its last checkpoint; continue with `headstart train --resume RUN`", file=sys.stderr)
        return 130
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except exits as exc:
        return int(getattr(exc, "exit_code", 0))
    except aborts as exc:  # older click turns Ctrl+C into Abort
        print("aborted", file=sys.stderr)
        return 130 if isinstance(exc.__context__, KeyboardInterrupt) else 1
    except _usage_error_types() as exc:
        return _report_usage_error(exc)
    # with standalone_mode=False click returns the exit code of --help / ctx.exit() instead of raising
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
