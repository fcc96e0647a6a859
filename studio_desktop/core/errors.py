"""Errors the user can read.

Every error raised to the CLI or the GUI is a :class:`StudioError` whose ``str()`` is one
line naming the file (when there is one) and the reason. The CLI prints it and exits
non-zero; the GUI shows it in a message box. A traceback is never the message.
"""

from __future__ import annotations

from pathlib import Path


class StudioError(Exception):
    """An error with a message meant for the user."""

    def __init__(self, message: str, *, path: str | Path | None = None, hint: str | None = None):
        self.message = message
        self.path = Path(path) if path is not None else None
        self.hint = hint
        super().__init__(str(self))

    @property
    def reason(self) -> str:
        """The file and the reason without the hint (for places that show the hint apart)."""
        return f"{self.path}: {self.message}" if self.path is not None else self.message

    def __str__(self) -> str:
        return f"{self.reason} ({self.hint})" if self.hint else self.reason


class InvalidInput(StudioError):
    """The user asked for something that cannot be done as asked (bad name, bad value...)."""


class NotFound(StudioError):
    """A project, experiment, split or file the user named does not exist."""


class StoreError(StudioError):
    """A file of the workspace could not be read or written (corrupt JSON, invalid schema...)."""


class WorkspaceLocked(StudioError):
    """Another AI Studio instance holds the workspace; this one may only read."""
