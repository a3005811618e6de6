"""Exceptions raised by the Gantry kernel and its plugins.

Every error carries enough context (a file, a field, a plugin) to be shown to a user as one
clear line; the CLI prints ``str(error)`` and keeps the traceback for ``--debug``.
"""

from __future__ import annotations


class GantryError(Exception):
    """Base class of every error Gantry raises on purpose."""


class PluginError(GantryError):
    """A plugin is missing, failed to load, or registered a conflicting component."""


class ComponentNotFound(GantryError):
    """A profile or command named a component (redactor, store, exporter...) nobody registered."""


class ProfileError(GantryError):
    """A privacy profile is invalid; the message names the file, line and field."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.file = file
        self.line = line
        self.field = field
        where = ""
        if file:
            where = f"{file}"
            if line:
                where += f":{line}"
            where += ": "
        if field:
            where += f"{field}: "
        super().__init__(f"{where}{message}")


class ProfileErrors(ProfileError):
    """Several problems of one profile; ``errors`` holds each (its message is the first's)."""

    def __init__(self, errors: list[ProfileError]) -> None:
        self.errors = list(errors)
        first = self.errors[0]
        super().__init__(f"{first.args[0]} (+{len(self.errors) - 1} more: gantry profiles "
                         "validate lists them)" if len(self.errors) > 1 else first.args[0])
        self.file, self.line, self.field = first.file, first.line, first.field


class InputError(GantryError):
    """An input (file, archive, URL) cannot be read as DICOM; names the input."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class StoreError(GantryError):
    """The store cannot be opened, read or written."""


class ExportError(GantryError):
    """An export target is unusable (inside its input, not writable, full)."""


class LeakError(GantryError):
    """The export gate found identifying values in what was about to be written."""


class WithheldError(LeakError):
    """The export gate withheld an instance: the run's own audit found identifying values,
    or the image is known to carry burned-in text no pixel redactor cleaned."""
