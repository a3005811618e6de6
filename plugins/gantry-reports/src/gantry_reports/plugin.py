"""Hook implementations of gantry-reports (cheap imports only)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gantry import hookimpl
from gantry.api import ConfigKey

if TYPE_CHECKING:
    import click

    from gantry.api import ExportRecord, Run


@hookimpl
def gantry_config_keys():
    """Declare the ``gantry-reports`` settings section (manifests, thumbnails...)."""
    from gantry_reports.settings import ReportsSettings

    yield ConfigKey("gantry-reports", model=ReportsSettings)


@hookimpl
def gantry_exported(record: ExportRecord, run: Run) -> None:
    """Remember each exported file for the manifest of its destination.

    Called in the parent for every instance exported: with a working store (every session
    has one) there is nothing to do, the manifest reads the destination's records from the
    store; only a run without a store spools its records.
    """
    if getattr(run, "store", None) is not None:
        return
    from gantry_reports import spool

    spool.add(run.run_id, record)


@hookimpl
def gantry_stage_finished(stage: str, run: Run, summary: dict[str, Any]) -> None:
    """After an export, write ``manifest.html``, ``manifest.csv`` and ``manifest.json``."""
    if stage != "export":
        return
    from gantry_reports.manifest_hook import on_export_finished

    on_export_finished(run, summary)


@hookimpl
def gantry_own_files():
    """Manifests, compliance reports, their checksums and audit reports: Gantry's own files
    when an output is taken as input (name and content)."""
    from gantry_reports.own_files import own_files

    yield from own_files()


@hookimpl
def gantry_commands(cli: click.Group) -> None:
    """Add ``gantry report compliance|audit|manifest``."""
    from gantry_reports.commands import add_report_commands

    add_report_commands(cli)
