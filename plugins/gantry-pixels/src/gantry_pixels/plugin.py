"""Hook implementations of gantry-pixels (thin glue; imports only cheap modules)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from gantry import hookimpl
from gantry.api import ConfigKey, Redactor

if TYPE_CHECKING:
    import click


def _zone_redactor(run: Any) -> Any:
    from gantry_pixels.zones import make_redactor

    return make_redactor(run)


@hookimpl
def gantry_redactors() -> Iterator[Redactor]:
    """Register ``pixel-zones``: blank the boxes of matching zone rules on every frame."""
    yield Redactor("pixel-zones", factory=_zone_redactor, performs=("clean-pixel-data",),
                   unconfigured=_no_zones,
                   description="blank profile zone rules (by device and size) on every frame")


def _no_zones(profile: Any) -> str | None:
    """Why ``pixel-zones`` has nothing to do under ``profile`` (no zone rules), or ``None``."""
    settings = (getattr(profile, "plugins", None) or {}).get("gantry-pixels") or {}
    if not settings.get("zones"):
        return "no zone rules under plugins: gantry-pixels: zones:"
    return None


@hookimpl
def gantry_config_keys() -> Iterator[ConfigKey]:
    """Declare the ``gantry-pixels`` settings section (zone rules)."""
    from gantry_pixels.settings import PixelSettings

    yield ConfigKey("gantry-pixels", model=PixelSettings,
                    description="zone rules: boxes to blank per device, SOP class and size")


@hookimpl
def gantry_commands(cli: click.Group) -> None:
    """Add ``gantry pixels`` (``import-ctp``, ``match``)."""
    from gantry_pixels.cli import pixels

    cli.add_command(pixels)
