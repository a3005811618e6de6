"""What runs when an export stage finishes: manifests for its destination."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from gantry.api import GantryError
from gantry_reports import spool

if TYPE_CHECKING:
    from gantry.api import ExportRecord, Run

log = logging.getLogger("gantry.reports")


def export_records(run: Run, destination: str) -> Iterator[ExportRecord]:
    """Every record of a destination: the store's (earlier runs too, so a resumed export
    gets a complete manifest) or, without a store, those seen during this run."""
    store = getattr(run, "store", None)
    if store is not None:
        spool.discard(run.run_id, destination)
        yield from store.iter_exports(destination)
        return
    yield from spool.take(run.run_id, destination)


def on_export_finished(run: Run, summary: dict[str, Any]) -> None:
    """Write the manifests of ``summary["destination"]`` unless switched off."""
    from gantry_reports.manifest import write_manifests
    from gantry_reports.settings import ReportsSettings

    destination = str(summary.get("destination") or "")
    if not destination:
        return
    settings = ReportsSettings.model_validate(run.settings("gantry-reports"))
    if not settings.manifests:
        spool.discard(run.run_id, destination)
        return
    sink = _url_sink(run, destination, summary)
    try:
        written = write_manifests(
            destination, export_records(run, destination), profile=run.profile.name,
            thumbnails=settings.thumbnails,
            thumbnail_size=settings.thumbnail_size, max_html_series=settings.max_html_series,
            rehash=settings.rehash, sink=sink, hooks=run.hooks)
    except OSError as exc:
        raise GantryError(f"{destination}: cannot write the export manifest ({exc})") from exc
    finally:
        if sink is not None:
            sink.close()
    if written:
        log.info("manifests written: %s", ", ".join(str(p) for p in written))
    else:  # (a PACS, say: a destination that holds no files)
        log.warning("%s: no manifest written: the destination's exporter cannot read and put "
                    "files", destination)


def _url_sink(run: Run, destination: str, summary: dict[str, Any]) -> Any:
    """The instance sink of a URL destination (manifests are put through it), or ``None``
    for a local one."""
    from gantry.api import ExportTarget, is_url

    if not is_url(destination):
        return None
    fmt = str(summary.get("format") or "dicom")
    exporter = run.hooks.exporter_for(fmt, destination)
    return exporter.factory(ExportTarget(to=destination, format=fmt), run)
