"""The ``headstart`` command line: one module per command, all registered on one typer app."""
from __future__ import annotations

import os
import sys

from .app import app

# Commands register themselves on import.
from . import train, evaluate, predict, models  # noqa: E402,F401  isort:skip
from . import report, compare, serve  # noqa: E402,F401  isort:skip


def main(argv: list[str] | None = None) -> int:
    """Entry point: user mistakes print one line (``error: ...``) and exit 2, never a traceback."""
    from ..errors import HeadstartError

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        app(args=argv, standalone_mode=False)
    except HeadstartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the run folder keeps its last checkpoint; continue with `headstart train --resume RUN`", file=sys.stderr)
        return 130
    except SystemExit as exc:  # typer/click exits for --help and usage errors
        return int(exc.code or 0) if isinstance(exc.code, int) else 1
    except Exception as exc:  # click usage errors come as ClickException
        import click

        if isinstance(exc, click.exceptions.Exit):
            return exc.exit_code
        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        if isinstance(exc, click.exceptions.Abort):
            return 1
        raise
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
