"""Hook implementations of gantry-ocr (thin glue; pytesseract is imported only when used)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gantry import hookimpl
from gantry.api import Auditor, ConfigKey, Redactor

if TYPE_CHECKING:
    import click


def _auditor(run: Any) -> Any:
    from gantry_ocr.components import make_auditor

    return make_auditor(run)


def _redactor(run: Any) -> Any:
    from gantry_ocr.components import make_redactor

    return make_redactor(run)


@hookimpl
def gantry_auditors() -> Iterator[Auditor]:
    """Register the ``burned-in-ocr`` auditor: OCR every image, report text boxes."""
    yield Auditor("burned-in-ocr", factory=_auditor, needs_pixels=True,
                  description="OCR every frame (or a sample) and report burned-in text")


@hookimpl
def gantry_redactors() -> Iterator[Redactor]:
    """Register the ``burned-in-ocr`` redactor: blank text found by OCR, verify by re-reading."""
    yield Redactor("burned-in-ocr", factory=_redactor, performs=("clean-pixel-data",),
                   description="blank burned-in text found by OCR; fail closed if any remains")


@hookimpl
def gantry_config_keys() -> Iterator[ConfigKey]:
    """Declare the ``gantry-ocr`` settings section."""
    from gantry_ocr.settings import OcrSettings

    yield ConfigKey("gantry-ocr", model=OcrSettings,
                    description="OCR confidence, padding, redaction mode, frame sampling")


@hookimpl
def gantry_profile_paths() -> Iterator[Path]:
    """Ship ``ocr/clean-pixel-data``: PS3.15 basic with zone rules, OCR and verification."""
    yield Path(__file__).parent / "profiles"


@hookimpl
def gantry_commands(cli: click.Group) -> None:
    """Add ``gantry ocr`` (``discover``, ``scan``)."""
    from gantry_ocr.cli import ocr

    cli.add_command(ocr)
