"""Typed errors for user mistakes.

Every error a user can cause (a bad model name, a missing file, a wrong column) is raised as a
:class:`HeadstartError` subclass whose message names the bad value, the valid options and the fix.
The CLI prints ``str(error)`` as one line and exits with code 2; it never shows a torch traceback
for a user's mistake.
"""
from __future__ import annotations


class HeadstartError(Exception):
    """Base class: a problem the user can fix. ``hint`` says how."""

    def __init__(self, message: str, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(f"{message} {hint}".strip() if hint else message)


class ConfigError(HeadstartError, ValueError):
    """An unknown key, a wrong type or an out-of-range value in a config or flag."""


class UnknownNameError(HeadstartError, KeyError):
    """A name that is not in a registry (backbone, strategy, head...)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0] if self.args else ""


class WeightsError(HeadstartError):
    """Pretrained weights that cannot be found, downloaded or matched to the architecture."""


class DataError(HeadstartError, ValueError):
    """A dataset that cannot be used as given: missing files, empty classes, bad rows."""


class RunError(HeadstartError):
    """A run folder that is missing pieces or does not match what was asked."""
