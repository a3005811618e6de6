"""Hook implementations of gantry-web (cheap imports only: Starlette loads with ``gantry web``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from gantry import hookimpl

if TYPE_CHECKING:
    import click


@hookimpl
def gantry_commands(cli: click.Group) -> None:
    """Add ``gantry web``: the review console."""
    from gantry_web.command import web

    cli.add_command(web)


@hookimpl
def gantry_store_profile(store: Any) -> Iterator[dict[str, Any]]:
    """The zone rules reviewers accepted in the console (recorded in the store): every run over
    the store blanks them, whatever command runs it."""
    from gantry_web.console import store_zone_rules

    yield from store_zone_rules(store)
