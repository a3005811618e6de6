"""Hook implementations of gantry-pacs (cheap imports only: pynetdicom loads on first use)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from gantry import hookimpl
from gantry.api import ConfigKey, Exporter, Ingestor

if TYPE_CHECKING:
    import click

#: ``dimse://`` plain DICOM, ``dimses://`` DICOM TLS
SCHEMES = ("dimse", "dimses")


def _discover(uri: str, run: Any = None) -> Any:
    from gantry_pacs.ingest import discover

    return discover(uri, run)


def _open(source: str) -> Any:
    from gantry_pacs.ingest import open_source

    return open_source(source)


def _count(uri: str) -> int | None:
    from gantry_pacs.ingest import count

    return count(uri)


@hookimpl
def gantry_ingestors() -> Iterator[Ingestor]:
    """Register the ``dimse`` ingestor: query a PACS (C-FIND) and retrieve (C-GET/C-MOVE)."""
    yield Ingestor("dimse", schemes=SCHEMES, discover=_discover, open=_open, count=_count,
                   description="query/retrieve from a PACS: dimse://AET@host:port?PatientID=..."
                               " (C-FIND, C-GET or C-MOVE; dimses:// for DICOM TLS)")


def _make_sink(target: Any, run: Any) -> Any:
    from gantry_pacs.export import DimseSink

    return DimseSink(target, run)


def _finish_export(target: Any, run: Any) -> list[str]:
    from gantry_pacs.export import finish_export

    return finish_export(target, run)


@hookimpl
def gantry_exporters() -> Iterator[Exporter]:
    """Register ``dicom-dimse``: the ``dicom`` format sent by C-STORE to a ``dimse://`` peer."""
    yield Exporter("dicom-dimse", format="dicom", factory=_make_sink, schemes=SCHEMES,
                   finish=_finish_export,
                   description="C-STORE to a PACS: dimse://AET@host:port (dimses:// for TLS)")


@hookimpl
def gantry_exported(record: Any, run: Any) -> None:
    """Audit each instance a peer committed (``pacs-committed``, with the Transaction UID)."""
    transaction = getattr(record, "transaction_uid", "")
    store = getattr(run, "store", None)
    if not transaction or store is None:
        return
    import time

    from gantry.api import AuditEvent

    store.log_event(AuditEvent(kind="pacs-committed", subject=record.new_sop_instance_uid,
                               detail={"destination": record.destination,
                                       "transaction_uid": transaction},
                               run_id=run.run_id, time=time.time()))


@hookimpl
def gantry_config_keys() -> Iterator[ConfigKey]:
    """Declare the ``pacs`` settings section (also read from ``GANTRY_PACS_*``)."""
    from gantry_pacs.settings import SECTION, PacsSettings

    yield ConfigKey(SECTION, model=PacsSettings,
                    description="calling AE title, timeouts, retries, max PDU, spool, C-MOVE "
                                "destination, TLS certificates, listener allow-lists")


@hookimpl
def gantry_commands(cli: click.Group) -> None:
    """Add ``gantry listen`` and ``gantry pacs echo|find``."""
    from gantry_pacs.commands import add_commands

    add_commands(cli)
