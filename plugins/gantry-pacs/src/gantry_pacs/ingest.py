"""The ``dimse`` ingestor: find studies on a PACS, retrieve them, hand the files to the run.

``discover(uri, run)``: C-ECHO, then C-FIND at study level with the URL's keys, then per
study its series and (``level=image``, the default) their instances. Instances the run's store
already holds (and whose file is still there) are not retrieved again; the others are
retrieved a series at a time (C-GET, or C-MOVE to our own SCP) into the spool, and each file
is yielded as a :class:`SourceItem` (a local path: the workers and later exports read the
file, not the network). An instance that did not arrive is yielded as a
:class:`~gantry.api.Rejection` saying why, a series whose retrieval failed is retried
(``retries``), and a study that fails is one rejection naming it: the run goes on with the
rest. Nothing is half-written: each file appears whole, by rename.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, BinaryIO

from gantry.api import InputError, Rejection, SourceItem, is_url
from gantry_pacs.client import FindClient, InstanceRef, SeriesRef, retriever, series_folder
from gantry_pacs.net import PeerError
from gantry_pacs.settings import load_settings, spool_root
from gantry_pacs.url import UrlError, parse_url

if TYPE_CHECKING:
    from gantry.api import Run, Store
    from gantry_pacs.client import Retrieved, StudyRef
    from gantry_pacs.settings import PacsSettings
    from gantry_pacs.url import DimseUrl

    Fetch = Callable[[SeriesRef, list[InstanceRef] | None, str], Retrieved]

#: instance totals found by a discover's study-level C-FIND, for :func:`count`
_TOTALS: dict[str, tuple[threading.Event, list[int | None]]] = {}
_TOTALS_LOCK = threading.Lock()


def _total_slot(uri: str, *, fresh: bool = False) -> tuple[threading.Event, list[int | None]]:
    with _TOTALS_LOCK:
        slot = _TOTALS.get(uri)
        if slot is None or fresh:
            slot = _TOTALS[uri] = (threading.Event(), [None])
        return slot


def count(uri: str) -> int | None:
    """The number of instances the study-level C-FIND of the running ``discover`` reported
    (``NumberOfStudyRelatedInstances`` summed; no second query is made); ``None`` when the
    peer does not give counts."""
    event, value = _total_slot(uri)
    event.wait(timeout=120)
    return value[0]


def open_source(source: str) -> BinaryIO:
    """The retrieved file (``source`` is its path in the spool)."""
    return open(source, "rb")


def discover(uri: str, run: Run | None = None) -> Iterator[SourceItem | Rejection]:
    """Yield the retrieved instances behind a ``dimse://`` URL (see the module docs)."""
    try:
        url = parse_url(uri)
    except UrlError as exc:
        raise InputError(uri, str(exc).removeprefix(f"{uri}: ")) from None
    settings = load_settings(run)
    peer_dir = os.path.join(spool_root(settings), url.peer.key)
    store = run.store if run is not None else None
    event, total = _total_slot(uri, fresh=True)
    try:
        with FindClient(url, settings) as finder:
            studies = finder.studies()
            counts = [s.instances for s in studies]
            total[0] = sum(c for c in counts if c is not None) \
                if all(c is not None for c in counts) else None
            event.set()
            _note(f"{url.peer}: {len(studies)} stud{'y' if len(studies) == 1 else 'ies'}"
                  + (f", {total[0]} instance(s)" if total[0] is not None else ""))
            with retriever(url, settings) as fetch:
                for number, study in enumerate(studies, 1):
                    try:
                        yield from _study(url, settings, finder, fetch, study, peer_dir, store)
                    except PeerError as exc:
                        yield Rejection(f"{_base(url)}/{study.study_uid}",
                                        f"study not retrieved: {exc}")
                    _note(f"{url.peer}: study {number}/{len(studies)} done")
    except PeerError as exc:
        raise InputError(uri, str(exc)) from None
    finally:
        event.set()


def _study(url: DimseUrl, settings: PacsSettings, finder: FindClient, fetch: Fetch,
           study: StudyRef, peer_dir: str, store: Store | None
           ) -> Iterator[SourceItem | Rejection]:
    for series in finder.series(study):
        if url.level == "image":
            refs = finder.instances(series)
            yield from _series(url, settings, fetch, series, refs, peer_dir, store)
        else:
            folder = series_folder(peer_dir, series)
            got = fetch(series, None, folder)
            for path in sorted(got.received.values()):
                yield _item(path)
            if got.error:
                yield Rejection(f"{_base(url)}/{series.study_uid}/{series.series_uid}",
                                f"series not wholly retrieved: {got.error}")


def _series(url: DimseUrl, settings: PacsSettings, fetch: Fetch, series: SeriesRef,
            refs: list[InstanceRef], peer_dir: str, store: Store | None
            ) -> Iterator[SourceItem | Rejection]:
    """The instances of one series: those already held, then those retrieved (with retries
    for what did not come), then a rejection for each instance still missing."""
    wanted: list[InstanceRef] = []
    for ref in refs:
        held = _held(store, ref.sop_uid)
        if held is not None:
            yield held
        else:
            wanted.append(ref)
    if not wanted:
        return
    folder = series_folder(peer_dir, series)
    error = ""
    whole = len(wanted) == len(refs) and not url.instance_keys
    for attempt in range(settings.retries + 1):
        got = fetch(series, None if whole and url.retrieve == "get" else wanted, folder)
        for ref in wanted:
            path = got.received.get(ref.sop_uid)
            if path is not None:
                yield _item(path)
        wanted = [ref for ref in wanted if ref.sop_uid not in got.received]
        error = got.error or "the peer did not send it"
        if not wanted:
            return
        whole = False
        if attempt < settings.retries:
            import time

            time.sleep(settings.retry_wait * (2 ** attempt))
    for ref in wanted:
        yield Rejection(f"{_base(url)}/{series.study_uid}/{series.series_uid}/{ref.sop_uid}",
                        f"not retrieved: {error}")


def _held(store: Store | None, sop_uid: str) -> SourceItem | None:
    """The source of an instance the store already holds, when it is still readable."""
    if store is None:
        return None
    inst = store.get_instance(sop_uid)
    if inst is None:
        return None
    if is_url(inst.source):
        return SourceItem(inst.source, size=inst.size, mtime=float(inst.mtime or 0.0))
    try:
        st = os.stat(inst.source)
    except OSError:
        return None  # its file is gone: fetch it again
    return SourceItem(inst.source, size=st.st_size, mtime=st.st_mtime)


def _item(path: str) -> SourceItem:
    st = os.stat(path)
    return SourceItem(path, size=st.st_size, mtime=st.st_mtime)


def _base(url: DimseUrl) -> str:
    scheme = "dimses" if url.peer.tls else "dimse"
    return f"{scheme}://{url.peer.aet}@{url.peer.host}:{url.peer.port}"


def _note(message: str) -> None:
    """A progress line on stderr (studies done of the total), unless stderr is not a
    terminal or ``GANTRY_QUIET`` is set."""
    if sys.stderr.isatty() and not os.environ.get("GANTRY_QUIET"):
        print(f"gantry-pacs: {message}", file=sys.stderr)
