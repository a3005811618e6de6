"""Export manifests: HTML for people, CSV and JSON listing every exported file with its
pseudonymous keys, key metadata and sha256.

Everything in a manifest is read back from the *exported* files (already redacted and passed
through the export gate), never from the working store's original headers.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import itertools
import json
import os
import stat
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gantry.api import EXPORT_FIELDS, ExportRecord, is_url
from gantry_reports.htmlpage import cards, esc, page, table

#: Key metadata copied from each exported header into the manifest.
KEY_FIELDS = ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
              "SOPClassUID", "Modality", "StudyDate", "SeriesDate", "SeriesNumber",
              "SeriesDescription", "InstanceNumber", "Rows", "Columns", "NumberOfFrames",
              "PatientIdentityRemoved")
CSV_FIELDS = ("path", "size", "sha256", "status", *KEY_FIELDS, "TransferSyntaxUID")
_ENTRY_FIELDS = (*KEY_FIELDS, "TransferSyntaxUID")
#: Whether an export record's ``fields`` hold every value an entry lists.
_RECORDED_FIELDS_SUFFICE = set(_ENTRY_FIELDS) <= set(EXPORT_FIELDS)
MANIFEST_NAMES = ("manifest.html", "manifest.csv", "manifest.json")


@dataclass
class SeriesStats:
    """What the manifest knows about one exported series."""

    patient: str
    study: str
    series: str
    modality: str = ""
    description: str = ""
    number: str = ""
    study_date: str = ""
    count: int = 0
    size: int = 0
    members: list[tuple[int, str]] = field(default_factory=list)  # (InstanceNumber, path)
    thumbnail: str | None = None
    thumbnail_note: str = ""


def manifest_location(destination: str, fmt: str = "dicom") -> tuple[Path, str] | None:
    """``(folder, prefix)`` for the manifest files of a local destination, or ``None``.

    A DICOM folder gets ``manifest.*`` inside it; a single-file destination
    (``table.parquet``) or a table folder (any non-DICOM format, whose readers expect only
    table files inside) gets ``<name>.manifest.*`` beside it.
    """
    if is_url(destination):
        return None
    path = Path(destination.removeprefix("file://")).resolve()
    if fmt != "dicom" or path.is_file() or path.suffix.lower() in (".parquet", ".zip", ".csv"):
        return path.parent, f"{path.name}."
    return path, ""


def _date(value: str) -> str:
    value = (value or "").strip()
    if len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value


class _FileReader:
    """Reads exported files back for the manifest: where a record's file really is, its bytes
    and its key metadata.

    Same results as resolving every path with ``Path.resolve()`` and parsing every file with
    ``dcmread``, with less work per file: a folder is resolved once for all its files (a file
    that is itself a symlink is resolved whole), and headers go through
    :class:`~gantry_reports.headerscan.HeaderReader`, which falls back to ``dcmread`` for
    anything it does not mirror exactly.
    """

    def __init__(self, root: Path, rehash: bool = False) -> None:
        from gantry_reports.headerscan import HeaderReader

        self.rehash = rehash
        self.root = root
        self.root_text = str(root)
        self.folders: dict[str, str] = {}
        self.headers = HeaderReader(KEY_FIELDS)
        #: the path and status the last :meth:`locate` found
        self._located: tuple[str, os.stat_result] | None = None

    def _inside(self, text: str) -> bool:
        root = self.root_text
        return root == "/" or text == root or text.startswith(root + "/")

    def locate(self, rel: str) -> str | None:
        """The resolved path of a regular file under the root, or ``None`` (missing)."""
        joined = os.path.join(self.root_text, rel)
        folder, name = os.path.split(joined)
        if name in ("", ".", ".."):
            return self._locate_slowly(joined)
        real_folder = self.folders.get(folder)
        if real_folder is None:
            if len(self.folders) > 10_000:
                self.folders.clear()
            real_folder = self.folders[folder] = str(Path(folder).resolve())
        candidate = os.path.join(real_folder, name)
        try:
            status = os.lstat(candidate)
        except OSError as exc:
            if exc.errno in _IGNORED_ERRNOS:  # what Path.is_file() treats as "not a file"
                return None
            raise
        mode = status.st_mode
        if stat.S_ISLNK(mode):
            return self._locate_slowly(joined)
        if not self._inside(candidate) or not stat.S_ISREG(mode):
            return None
        self._located = (candidate, status)  # (no link: what os.stat would say of it)
        return candidate

    def _locate_slowly(self, joined: str) -> str | None:
        path = Path(joined).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            return None
        return str(path)

    def entry(self, record: ExportRecord) -> dict[str, Any]:
        """The manifest entry of one exported DICOM file (read back from disk)."""
        where = self.locate(record.path)
        return self._entry(record, where, None if where is None else _load(where))

    def entries(self, records: Iterable[ExportRecord]
                ) -> Iterator[tuple[ExportRecord, dict[str, Any]]]:
        """``(record, entry)`` for every record, in order.

        Large files (``record.size`` at least ``_THREADED_SIZE``) are read and hashed a few
        ahead on threads (both release the GIL), at most ``_AHEAD_BYTES`` at a time; headers
        are parsed here, in order. Small files are read inline: for them a thread costs more
        than it saves.
        """
        threads = min(4, os.cpu_count() or 1)
        pool: ThreadPoolExecutor | None = None
        pending: deque[tuple[ExportRecord, str | None, Any]] = deque()
        ahead = 0
        try:
            for record in records:
                where = self.locate(record.path)
                if where is not None and self._unchanged(record, where):
                    pending.append((record, where, self._unchanged_entry(record, where)))
                elif where is not None and threads > 1 and record.size >= _THREADED_SIZE:
                    if pool is None:
                        pool = ThreadPoolExecutor(threads, thread_name_prefix="gantry-manifest")
                    pending.append((record, where, pool.submit(_load, where)))
                    ahead += record.size
                else:
                    pending.append((record, where, None))
                while pending and (not isinstance(pending[0][2], Future)
                                   or ahead > _AHEAD_BYTES or len(pending) > 2 * threads):
                    done, where_done, item = pending.popleft()
                    if isinstance(item, Future):
                        ahead -= done.size
                    yield done, self._settle(done, where_done, item)
            while pending:
                done, where_done, item = pending.popleft()
                yield done, self._settle(done, where_done, item)
        finally:
            if pool is not None:
                for _record, _where, future in pending:
                    if isinstance(future, Future):
                        future.cancel()
                pool.shutdown(wait=True)

    def _settle(self, record: ExportRecord, where: str | None, item: Any) -> dict[str, Any]:
        """The entry of a pending record: ready (an unchanged file), read and hashed on a
        thread (a future), or to read and hash here (``None``)."""
        if isinstance(item, dict):
            return item
        loaded = item.result() if item is not None else None if where is None else _load(where)
        return self._entry(record, where, loaded)

    def _unchanged(self, record: ExportRecord, where: str) -> bool:
        """Whether a file is as its export record says it was written: same size and
        modification time (what ``rsync`` checks). Its recorded sha256 then stands, and only
        its header is read; ``rehash`` reads and hashes every file whatever its record says."""
        if self.rehash or not record.mtime_ns or not record.sha256:
            return False
        located = self._located
        if located is not None and located[0] == where:
            stat_result = located[1]  # just read by locate()
        else:
            try:
                stat_result = os.stat(where)
            except OSError:
                return False
        return stat_result.st_size == record.size and stat_result.st_mtime_ns == record.mtime_ns

    def _unchanged_entry(self, record: ExportRecord, where: str) -> dict[str, Any]:
        """The manifest entry of an unchanged file: its recorded size and sha256, and its key
        metadata as recorded with them (the sink took them from the bytes it wrote), else
        read from its header (its first bytes, or the whole file when the header does not
        end in them)."""
        entry: dict[str, Any] = {"path": record.path, "size": record.size,
                                 "sha256": record.sha256, "status": "ok"}
        if record.fields and _RECORDED_FIELDS_SUFFICE:
            recorded = dict(record.fields)
            entry.update((keyword, recorded[keyword]) for keyword in _ENTRY_FIELDS
                         if keyword in recorded)
            return entry
        with open(where, "rb") as fh:
            data = fh.read(_HEAD_BYTES)
            if len(data) < record.size:
                fields = self.headers.read_head(data)
                if fields is not None:
                    entry.update(fields)
                    return entry
                data += fh.read()
        return self._with_fields(entry, data)

    def _entry(self, record: ExportRecord, where: str | None,
               loaded: tuple[bytes, str] | None) -> dict[str, Any]:
        entry: dict[str, Any] = {"path": record.path, "size": record.size,
                                 "sha256": record.sha256, "status": "ok"}
        if where is None or loaded is None:
            entry["status"] = "missing"
            return entry
        data, digest = loaded
        entry["size"] = len(data)
        if record.sha256 and digest != record.sha256:
            entry["status"] = "changed since export"
        entry["sha256"] = digest
        return self._with_fields(entry, data)

    def _with_fields(self, entry: dict[str, Any], data: bytes) -> dict[str, Any]:
        """``entry`` with the key metadata of the file ``data`` (all its bytes)."""
        fields = self.headers.read(data)
        if fields is None:
            return _dcmread_entry(entry, data)
        entry.update(fields)
        return entry


def _load(where: str) -> tuple[bytes, str]:
    """A file's bytes and their sha256."""
    with open(where, "rb") as fh:
        data = fh.read()
    return data, hashlib.sha256(data).hexdigest()


#: Files from this size (by their export record) are read and hashed on threads.
_THREADED_SIZE = 256 * 1024
#: At most this many bytes of such files are read ahead.
_AHEAD_BYTES = 256 * 1024 * 1024
#: How much of an unchanged file is read for its header at first.
_HEAD_BYTES = 64 * 1024
#: errno values for which ``Path.is_file()`` answers ``False`` instead of raising.
_IGNORED_ERRNOS = (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP)


def _dcmread_entry(entry: dict[str, Any], data: bytes) -> dict[str, Any]:
    """Key metadata of a file read with ``dcmread`` (what every file went through before)."""
    from pydicom import dcmread

    try:
        ds = dcmread(io.BytesIO(data), stop_before_pixels=True, force=True)
    except Exception as exc:
        entry["status"] = f"unreadable ({type(exc).__name__})"
        return entry
    for keyword in KEY_FIELDS:
        value = ds.get(keyword)
        if value is not None and value != "":
            entry[keyword] = str(value)
    tsuid = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    entry["TransferSyntaxUID"] = str(tsuid or "")
    return entry


def _file_entry(root: Path, record: ExportRecord) -> dict[str, Any]:
    """The manifest entry of one exported DICOM file (read back from disk)."""
    return _FileReader(root).entry(record)


def write_manifests(destination: str, records: Iterable[ExportRecord], *,
                    profile: str = "", thumbnails: bool = True,
                    thumbnail_size: int = 96, max_html_series: int = 2000,
                    rehash: bool = False, sink: Any = None,
                    hooks: Any = None) -> list[Any]:
    """Write ``manifest.html``, ``manifest.csv`` and ``manifest.json`` for a destination
    (``hooks``: the run's plugin manager, whose plugins the manifest lists).

    Files are streamed (CSV rows and JSON entries are written as they are read); only one
    small record per series is kept in memory. Returns the paths written. A URL destination's
    manifests are made from its files read back through ``sink`` (the destination's own
    instance sink, offering ``read(rel)`` and ``put(rel, data)``) and put through it; their
    URLs are returned (empty when there is no such sink).
    """
    records = iter(records)
    first = next(records, None)
    fmt = first.format if first is not None else "dicom"
    if first is not None:
        records = itertools.chain([first], records)
    if is_url(destination):
        return _write_through_sink(destination, records, sink, profile=profile,
                                   thumbnails=thumbnails, thumbnail_size=thumbnail_size,
                                   max_html_series=max_html_series, hooks=hooks)
    where = manifest_location(destination, fmt)
    if where is None:
        return []
    folder, prefix = where
    folder.mkdir(parents=True, exist_ok=True)
    root = Path(destination.removeprefix("file://")).resolve()
    if not root.is_dir():
        root = root.parent
    return _write_local(destination, records, folder, prefix, _FileReader(root, rehash=rehash),
                        lambda rel: root / rel, profile=profile, thumbnails=thumbnails,
                        thumbnail_size=thumbnail_size, max_html_series=max_html_series,
                        hooks=hooks)


def _write_through_sink(destination: str, records: Iterable[ExportRecord], sink: Any, *,
                        profile: str, thumbnails: bool, thumbnail_size: int,
                        max_html_series: int, hooks: Any = None) -> list[Any]:
    """The manifests of a URL destination, made from the files as they are there (read back
    through the destination's sink) and put through that sink beside them; ``[]`` when the
    sink cannot read and put files."""
    if sink is None or not hasattr(sink, "read") or not hasattr(sink, "put"):
        return []
    with tempfile.TemporaryDirectory(prefix="gantry-manifest-") as staging:
        folder = Path(staging)
        reader = _SinkReader(sink)

        def local_copy(rel: str) -> Path:
            copy = folder / "thumbs" / rel.replace("/", "_")
            copy.parent.mkdir(exist_ok=True)
            copy.write_bytes(reader.read(rel) or b"")
            return copy

        written = _write_local(destination, records, folder, "", reader, local_copy,
                               profile=profile, thumbnails=thumbnails,
                               thumbnail_size=thumbnail_size, max_html_series=max_html_series,
                               hooks=hooks)
        return [sink.put(path.name, path.read_bytes()) for path in written]


class _SinkReader(_FileReader):
    """A :class:`_FileReader` over a destination's sink (``present()``, ``read(rel)``): every
    file is read back and hashed (no local modification times to trust)."""

    def __init__(self, sink: Any) -> None:
        super().__init__(Path("/"), rehash=True)
        self.sink = sink
        present = getattr(sink, "present", None)
        self.present = set(present()) if present is not None else None
        self._cache: tuple[str, bytes | None] = ("", None)

    def locate(self, rel: str) -> str | None:
        """``rel`` when the destination holds it, else ``None`` (missing)."""
        return rel if self.present is None or rel in self.present else None

    def read(self, rel: str) -> bytes | None:
        """The file's bytes through the sink (the last one is kept for its thumbnail)."""
        if self._cache[0] == rel:
            return self._cache[1]
        data = self.sink.read(rel)
        self._cache = (rel, data)
        return data

    def entries(self, records: Iterable[ExportRecord]
                ) -> Iterator[tuple[ExportRecord, dict[str, Any]]]:
        """``(record, entry)`` for every record, each file read back through the sink."""
        for record in records:
            where = self.locate(record.path)
            data = None if where is None else self.sink.read(where)
            loaded = None if data is None else (data, hashlib.sha256(data).hexdigest())
            yield record, self._entry(record, where if data is not None else None, loaded)


def _write_local(destination: str, records: Iterable[ExportRecord], folder: Path, prefix: str,
                 reader: _FileReader, file_path: Any, *, profile: str, thumbnails: bool,
                 thumbnail_size: int, max_html_series: int, hooks: Any = None) -> list[Path]:
    """Write the three manifests into ``folder`` from ``reader``'s view of the files
    (``file_path(rel)``: a local path of one, for its thumbnail)."""
    series: dict[str, SeriesStats] = {}
    modalities: dict[str, int] = {}
    dates: list[str] = []
    patients: set[str] = set()
    studies: set[str] = set()
    counts = {"files": 0, "bytes": 0, "missing": 0, "changed": 0, "instances": 0, "rows": 0}
    formats: set[str] = set()
    seen: set[str] = set()
    table_series: set[str] = set()
    csv_path = folder / f"{prefix}manifest.csv"
    index: list[tuple[str, int, int, int]] = []  # (path, spool offset, JSON and CSV sizes)

    def dicom_records() -> Iterator[ExportRecord]:
        for record in records:
            formats.add(record.format)
            counts["instances"] += 1
            if record.format != "dicom":
                counts["rows"] += 1  # a table row: its file is listed under "tables"
                continue
            if record.path in seen:
                continue
            seen.add(record.path)
            yield record

    # each entry is spooled as its JSON text and its CSV row (what csv.DictWriter with
    # fieldnames=CSV_FIELDS and extrasaction="ignore" writes), each rendered once
    row_text = io.StringIO(newline="")
    row_writer = csv.writer(row_text)
    offset = 0
    with tempfile.TemporaryFile("w+b") as spool:
        for record, entry in reader.entries(dicom_records()):
            text = json.dumps(entry, sort_keys=True).encode()
            row_text.seek(0)
            row_text.truncate()
            row_writer.writerow([entry.get(name, "") for name in CSV_FIELDS])
            row = row_text.getvalue().encode()
            index.append((record.path, offset, len(text), len(row)))
            spool.write(text)
            spool.write(row)
            offset += len(text) + len(row)
            if entry["status"] == "missing":
                counts["missing"] += 1
                continue
            if entry["status"] == "changed since export":
                counts["changed"] += 1
            counts["files"] += 1
            counts["bytes"] += int(entry.get("size", 0))
            _account(entry, series, modalities, dates, patients, studies)
        index.sort()
        seen.clear()
        table_files = [] if is_url(destination) else _table_files(destination,
                                                                  formats - {"dicom"})

        def entries() -> Iterator[str]:
            for _path, start, size, _row_size in index:
                spool.seek(start)
                yield spool.read(size).decode()

        with _atomic(csv_path) as csv_fh:
            writer = csv.writer(csv_fh)
            writer.writerow(CSV_FIELDS)
            for _path, start, size, row_size in index:
                spool.seek(start + size)
                csv_fh.write(spool.read(row_size).decode())
            for item in table_files:
                writer.writerow([item["path"], item["size"], item["sha256"], "table",
                                 *([""] * (len(CSV_FIELDS) - 4))])
        ordered = sorted(series.values(), key=lambda s: (s.patient, s.study_date, s.study,
                                                         str(s.number), s.series))
        series = {s.series: s for s in ordered}
        if thumbnails:
            for stats in ordered[:max_html_series]:
                if stats.members:
                    stats.members.sort()
                    _number, rel = stats.members[len(stats.members) // 2]
                    stats.thumbnail, stats.thumbnail_note = _thumb(file_path(rel),
                                                                   thumbnail_size)
        if table_files and not series and not is_url(destination):
            _table_counts(destination, patients, studies, modalities, dates, table_series)
        from gantry_reports.versions import tool_versions

        summary = {
            "patients": len(patients), "studies": len(studies),
            "series": len(series) or len(table_series),
            "instances": counts["instances"], "files": counts["files"], "bytes": counts["bytes"],
            "missing_files": counts["missing"], "changed_files": counts["changed"],
            "table_rows": counts["rows"],
            "modalities": dict(sorted(modalities.items())),
            "study_dates": {"first": min(dates) if dates else None,
                            "last": max(dates) if dates else None},
        }
        # No time, run id or destination path: the same export gives the same manifest bytes
        # on any machine and executor, and no local path travels with the dataset.
        head = {
            "manifest_version": 1, "profile": profile,
            "formats": sorted(formats), "summary": summary, "tools": tool_versions(hooks),
            "note": "Values are read from the exported files (pseudonymous); dates are as "
                    "exported, after any shift. Files are listed by path.",
        }
        json_path = folder / f"{prefix}manifest.json"
        with _atomic(json_path) as fh:
            fh.write(json.dumps(head, indent=1)[:-2])
            fh.write(',\n "series": ' + json.dumps([_series_json(s) for s in ordered]))
            fh.write(',\n "tables": ' + json.dumps(table_files))
            fh.write(',\n "files": [')
            for i, line in enumerate(entries()):
                fh.write(("," if i else "") + "\n  " + line)
            fh.write("\n ]\n}\n")
    html_path = folder / f"{prefix}manifest.html"
    with _atomic(html_path) as fh:
        fh.write(_html(head, series, table_files, max_html_series, prefix))
    return [html_path, csv_path, json_path]


def _account(entry: dict[str, Any], series: dict[str, SeriesStats], modalities: dict[str, int],
             dates: list[str], patients: set[str], studies: set[str]) -> None:
    patient = entry.get("PatientID", "")
    study = entry.get("StudyInstanceUID", "")
    uid = entry.get("SeriesInstanceUID", "")
    patients.add(patient)
    studies.add(study)
    stats = series.get(uid)
    if stats is None:
        stats = series[uid] = SeriesStats(patient, study, uid, entry.get("Modality", ""),
                                          entry.get("SeriesDescription", ""),
                                          entry.get("SeriesNumber", ""),
                                          _date(entry.get("StudyDate", "")))
    stats.count += 1
    stats.size += int(entry.get("size", 0))
    try:
        number = int(entry.get("InstanceNumber", "") or 0)
    except ValueError:
        number = 0
    if len(stats.members) < 100_000:
        stats.members.append((number, entry["path"]))
    modality = entry.get("Modality", "") or "(none)"
    modalities[modality] = modalities.get(modality, 0) + 1
    date = _date(entry.get("StudyDate", ""))
    if date:
        if not dates:
            dates.extend([date, date])
        dates[0], dates[1] = min(dates[0], date), max(dates[1], date)


def _thumb(path: Path, size: int) -> tuple[str | None, str]:
    from gantry_reports.thumbnails import thumbnail_data_uri

    return thumbnail_data_uri(path, size)


def _series_json(stats: SeriesStats) -> dict[str, Any]:
    return {"PatientID": stats.patient, "StudyInstanceUID": stats.study,
            "SeriesInstanceUID": stats.series, "Modality": stats.modality,
            "SeriesDescription": stats.description, "SeriesNumber": stats.number,
            "StudyDate": stats.study_date, "instances": stats.count, "bytes": stats.size}


def _table_files(destination: str, formats: set[str]) -> list[dict[str, Any]]:
    """Files of table-like exports (parquet...) found at the destination, with sha256."""
    if not formats:
        return []
    path = Path(destination.removeprefix("file://")).resolve()
    files = [path] if path.is_file() else sorted(
        p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
        and not p.name.endswith(MANIFEST_NAMES)) if path.is_dir() else []
    out = []
    for file in files:
        digest = hashlib.sha256()
        with file.open("rb") as fh:
            for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                digest.update(chunk)
        rel = file.name if file == path else str(file.relative_to(path))
        out.append({"path": rel, "size": file.stat().st_size, "sha256": digest.hexdigest()})
    return out


def _table_counts(destination: str, patients: set[str], studies: set[str],
                  modalities: dict[str, int], dates: list[str], series: set[str]) -> None:
    """Counts read from an exported parquet table (its pseudonymous key columns); pyarrow is
    imported only when there is one (other table-like exports, NIfTI, have none)."""
    path = Path(destination.removeprefix("file://")).resolve()
    files = [path] if path.is_file() else sorted(str(p) for p in path.rglob("*.parquet"))
    if not files:
        return
    try:
        import pyarrow.dataset as pds
    except ImportError:
        return
    try:
        if path.is_file():
            data = pds.dataset(path, format="parquet")
        else:
            data = pds.dataset(files, format="parquet", partition_base_dir=str(path),
                               partitioning=pds.partitioning(flavor="hive"))
    except (OSError, ValueError):
        return
    wanted = [c for c in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "Modality",
                          "StudyDate") if c in data.schema.names]
    for batch in data.to_batches(columns=wanted):
        blank = [None] * batch.num_rows
        columns = {name: batch.column(name).to_pylist() for name in wanted}
        for pid, study, uid, modality, date in zip(
                *(columns.get(name, blank) for name in ("PatientID", "StudyInstanceUID",
                                                        "SeriesInstanceUID", "Modality",
                                                        "StudyDate")), strict=True):
            patients.add(str(pid or ""))
            studies.add(str(study or ""))
            series.add(str(uid or ""))
            key = str(modality or "(none)")
            modalities[key] = modalities.get(key, 0) + 1
            if date is not None:
                text = str(date)
                if not dates:
                    dates.extend([text, text])
                dates[0], dates[1] = min(dates[0], text), max(dates[1], text)


def _html(head: dict[str, Any], series: dict[str, SeriesStats],
          table_files: list[dict[str, Any]], max_series: int, prefix: str) -> str:
    summary = head["summary"]
    dates = summary["study_dates"]
    body = [cards([("patients", summary["patients"]), ("studies", summary["studies"]),
                   ("series", summary["series"]), ("instances", summary["instances"]),
                   ("MB", f"{summary['bytes'] / 1e6:,.1f}")])]
    body.append(f'<p class="meta">Profile <code>{esc(head["profile"] or "?")}</code> · '
                f'Gantry {esc(head["tools"]["gantry"])}</p>')
    if summary["missing_files"] or summary["changed_files"]:
        body.append(f'<p class="fail">{summary["missing_files"]} file(s) missing, '
                    f'{summary["changed_files"]} changed since export.</p>')
    body.append("<h2>Modalities</h2>")
    body.append(table(["modality", "instances"], summary["modalities"].items(), numeric=[1]))
    body.append("<h2>Study dates (as exported, after any shift)</h2>")
    if dates["first"]:
        body.append(f"<p>{esc(dates['first'])} to {esc(dates['last'])}</p>")
    else:
        body.append("<p>No study dates in the exported files (removed by the profile).</p>")
    if series:
        body.append("<h2>Patients and studies</h2>")
        per_patient: dict[str, dict[str, int]] = {}
        for stats in series.values():
            studies = per_patient.setdefault(stats.patient, {})
            studies[stats.study] = studies.get(stats.study, 0) + stats.count
        body.append(table(["patient (pseudonymous)", "studies", "instances"],
                          ((p or "(none)", len(s), sum(s.values()))
                           for p, s in sorted(per_patient.items())),
                          numeric=[1, 2]))
        body.append("<h2>Studies</h2>")
        per_study: dict[str, list[Any]] = {}
        for stats in series.values():
            row = per_study.setdefault(stats.study, [stats.patient, stats.study_date,
                                                     stats.study, set(), 0, 0])
            row[3].add(stats.modality or "?")
            row[4] += 1
            row[5] += stats.count
        body.append(table(["patient", "study date", "study UID", "modalities", "series",
                           "instances"],
                          ((p or "(none)", d, u, ", ".join(sorted(m)), n, c)
                           for p, d, u, m, n, c in sorted(per_study.values(),
                                                          key=lambda r: (r[0], r[1], r[2]))),
                          numeric=[4, 5]))
        body.append("<h2>Series</h2>")
        rows = []
        for stats in sorted(series.values(), key=lambda s: (s.patient, s.study_date, s.study,
                                                            str(s.number)))[:max_series]:
            thumb = (f'<img class="thumb" alt="thumbnail" src="{stats.thumbnail}">'
                     if stats.thumbnail else esc(stats.thumbnail_note or ""))
            rows.append((thumb, stats.patient, stats.study_date, stats.study, stats.series,
                         stats.modality, stats.number, stats.description, stats.count))
        body.append(table(["", "patient", "study date", "study UID", "series UID", "modality",
                           "#", "description", "instances"], rows, numeric=[6, 8], raw=[0]))
        if len(series) > max_series:
            body.append(f"<p>{len(series) - max_series} more series are listed in "
                        f"{esc(prefix)}manifest.json.</p>")
    if table_files:
        body.append("<h2>Table files</h2>")
        body.append(table(["file", "bytes", "sha256"],
                          ((f["path"], f["size"], f["sha256"]) for f in table_files),
                          numeric=[1]))
    body.append(f'<p class="meta">Every file with its sha256 is listed in '
                f"{esc(prefix)}manifest.csv and {esc(prefix)}manifest.json.</p>")
    return page("Export manifest", "".join(body), subtitle=head["note"])


class _atomic:
    """Write a text file through a temporary name, renamed into place on success."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")

    def __enter__(self) -> Any:
        self.fh = self.tmp.open("w", encoding="utf-8", newline="")
        return self.fh

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        try:  # closing flushes: on a full disk that is where the write fails
            self.fh.close()
            if exc_type is None:
                os.replace(self.tmp, self.path)
        except BaseException:
            self.tmp.unlink(missing_ok=True)
            raise
        if exc_type is not None:
            self.tmp.unlink(missing_ok=True)
