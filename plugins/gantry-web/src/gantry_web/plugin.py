"""Hook implementations of gantry-web (cheap imports only: Starlette loads with ``gantry web``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gantry import hookimpl

if TYPE_CHECKING:
    import click


@hookimpl
def gantry_commands(cli: click.Group) -> None:
    """Add ``gantry web``: the review console."""
    from gantry_web.command import web

    cli.add_command(web)
