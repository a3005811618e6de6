"""Gantry: curate and de-identify DICOM with a minimal kernel and pluggy plugins.

Plugin authors need only ``from gantry import hookimpl``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gantry.hookspecs import hookimpl

__version__ = "0.1.0"

if TYPE_CHECKING:
    from gantry.session import Session

__all__ = ["DicomSession", "Session", "__version__", "hookimpl"]


def __getattr__(name: str) -> Any:
    # The session pulls in pydicom and friends: import it only when asked for.
    if name in ("Session", "DicomSession"):
        from gantry.session import Session

        return Session
    raise AttributeError(f"module 'gantry' has no attribute {name!r}")
