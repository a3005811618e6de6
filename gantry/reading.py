"""Reading DICOM headers (never pixels) and telling good inputs from bad ones.

:func:`read_header` returns an :class:`~gantry.model.Instance` and its header, or raises
:class:`~gantry.errors.InputError` with a specific reason: empty file, not DICOM, truncated,
missing UIDs, or a DICOMDIR (an index, not an image).
"""

from __future__ import annotations

import hashlib
import struct
from typing import IO, TYPE_CHECKING, Any

from gantry.errors import InputError
from gantry.model import Instance, key_attributes
from gantry.records import SourceItem

if TYPE_CHECKING:
    from pydicom import Dataset

    from gantry.model import Opener

DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
_PIXEL_TAGS = {0x7FE00010, 0x7FE00008, 0x7FE00009}


class DicomdirFound(InputError):
    """The input is a DICOMDIR: an index of other files, not an instance."""


def read_header(item: SourceItem, opener: Opener, data: bytes | None = None,
                raw: bool = False) -> tuple[Instance, Any]:
    """Parse the header of one input and check it can be exported later (``data``: the
    input's bytes, already read; ``opener`` then opens them). With ``raw`` (and ``data``),
    the header returned is a :class:`~gantry.dicom.rawheader.RawHeader` when the file is one it
    reads; a pydicom dataset otherwise."""
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    label = item.label
    checked = False
    if data is not None and data[128:132] == b"DICM":  # a Part 10 file: whole, or refused
        try:
            _check_structure(data, label)
        except InputError:
            # a DICOMDIR is an index, whole or not (as when the header is read from a stream)
            if _meta_class(data) == DICOMDIR_SOP_CLASS:
                raise DicomdirFound(label, _DICOMDIR) from None
            raise
        checked = True
    if raw and data is not None:
        from gantry.dicom.rawheader import RawHeader

        header = RawHeader.parse(data)
        if header is not None:
            return _instance_of_raw(item, header), header
    fast = None
    if data is not None:
        from gantry.dicom.header import header_from_bytes

        fast = header_from_bytes(data)
    with opener(item.source) as fh:
        size = _size(fh)
        if size == 0:
            raise InputError(label, "empty file")
        try:
            if fast is not None:  # the very dataset dcmread builds, without its reader
                ds = fast[0]
                fh.seek(fast[1])
            else:
                ds = dcmread(fh, stop_before_pixels=True)
        except InvalidDicomError:
            fh.seek(0)
            try:
                ds = dcmread(fh, stop_before_pixels=True, force=True)
            except Exception as exc:
                raise InputError(label, f"not a DICOM file ({_short(exc)})") from exc
            if "SOPInstanceUID" not in ds and "SOPClassUID" not in ds:
                raise InputError(label, "not a DICOM file (no preamble, no DICOM header)") from None
        except (EOFError, OSError, struct.error, ValueError, KeyError) as exc:
            raise InputError(label, f"truncated or corrupt header ({_short(exc)})") from exc
        except Exception as exc:
            raise InputError(label, f"unreadable DICOM header ({_short(exc)})") from exc
        header_end = fh.tell()
        if not checked and not _is_dicomdir(ds):
            _check_structure(fh, label)
        _check_pixel_length(fh, size, ds, label)
        fh.seek(0)
        digest = hashlib.sha256(fh.read(header_end))
        digest.update(str(size - header_end).encode())
    if getattr(ds, "buffer", None) is not None:
        ds.buffer = None  # the header travels between processes without its stream
    sop_class = _text(ds, "SOPClassUID", 0x00080016) or \
        str(ds.file_meta.get("MediaStorageSOPClassUID", ""))
    if _is_dicomdir(ds, sop_class):
        raise DicomdirFound(label, _DICOMDIR)
    uids = {keyword: _text(ds, keyword, tag).strip() for keyword, tag in _UID_TAGS}
    missing = [k for k, v in uids.items() if not v]
    if missing:
        raise InputError(label, f"missing required attribute(s): {', '.join(missing)}")
    meta = getattr(ds, "file_meta", None)
    ts = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    instance = Instance(
        sop_instance_uid=uids["SOPInstanceUID"],
        sop_class_uid=sop_class.strip(),
        series_instance_uid=uids["SeriesInstanceUID"],
        study_instance_uid=uids["StudyInstanceUID"],
        patient_id=_text(ds, "PatientID", 0x00100020),
        patient_name=_text(ds, "PatientName", 0x00100010),
        source=item.source,
        size=size,
        mtime=item.mtime,
        transfer_syntax=ts,
        attrs=key_attributes(ds),
        digest=digest.hexdigest(),
    )
    return instance, ds


_DICOMDIR = "DICOMDIR (an index of other files, not an image); skipped"


def _meta_class(data: bytes) -> str:
    """The Media Storage SOP Class UID of a Part 10 file's meta group, read from its bytes
    (explicit VR little endian, as the meta always is); ``""`` when it is not found."""
    pos = data.find(b"\x02\x00\x02\x00UI", 132, 132 + 1024)
    if pos < 0:
        return ""
    length = int.from_bytes(data[pos + 6:pos + 8], "little")
    return data[pos + 8:pos + 8 + length].rstrip(b"\x00 ").decode("ascii", "replace")


def _is_dicomdir(ds: Dataset, sop_class: str | None = None) -> bool:
    """Whether a header read is a DICOMDIR's."""
    if sop_class is None:
        sop_class = _text(ds, "SOPClassUID", 0x00080016) or \
            str(getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID", ""))
    return sop_class == DICOMDIR_SOP_CLASS or "DirectoryRecordSequence" in ds


def _check_structure(data: Any, label: str) -> None:
    """Refuse a file that is not whole and well formed (``data``: its bytes, or an open
    stream): :class:`InputError` with ``truncated at byte N: ...`` or ``malformed at byte N:
    ...`` (see :mod:`gantry.dicom.structure`)."""
    from gantry.dicom.errors import DicomFormatError
    from gantry.dicom.structure import charset_problem, check_cached, check_stream, describe

    try:
        if isinstance(data, bytes | bytearray | memoryview):
            layout = check_cached(data)  # type: ignore[arg-type]
        else:
            layout = check_stream(data)
    except DicomFormatError as exc:
        raise InputError(label, describe(exc)) from None
    problem = charset_problem(layout.charset)
    if problem is not None:
        raise InputError(label, f"{problem}; not read")


def _instance_of_raw(item: SourceItem, header: Any) -> Instance:
    """What :func:`read_header` makes of a file from its :class:`~gantry.dicom.rawheader.RawHeader`
    (the same instance, the same errors)."""
    import io

    data = header.data
    label = item.label
    size = len(data)
    fh = io.BytesIO(data)
    fh.seek(header.end)
    _check_pixel_length(fh, size, header, label)
    digest = hashlib.sha256(memoryview(data)[:header.end])
    digest.update(str(size - header.end).encode())
    value = header.value
    sop_class = str(value(0x00080016, "SOPClassUID") or "")
    if not sop_class:
        meta_class = header.meta_text(0x00020002)
        sop_class = meta_class if meta_class is not None else \
            str(header.dataset().file_meta.get("MediaStorageSOPClassUID", ""))
    if sop_class == DICOMDIR_SOP_CLASS or 0x00041220 in header.index:
        raise DicomdirFound(label, _DICOMDIR)
    uids = {keyword: str(value(tag, keyword) or "").strip() for keyword, tag in _UID_TAGS}
    missing = [k for k, v in uids.items() if not v]
    if missing:
        raise InputError(label, f"missing required attribute(s): {', '.join(missing)}")
    return Instance(
        sop_instance_uid=uids["SOPInstanceUID"],
        sop_class_uid=sop_class.strip(),
        series_instance_uid=uids["SeriesInstanceUID"],
        study_instance_uid=uids["StudyInstanceUID"],
        patient_id=str(value(0x00100020, "PatientID") or ""),
        patient_name=str(value(0x00100010, "PatientName") or ""),
        source=item.source,
        size=size,
        mtime=item.mtime,
        transfer_syntax=str(header.syntax or ""),
        attrs=key_attributes(header),
        digest=digest.hexdigest(),
    )


_UID_TAGS = (("SOPInstanceUID", 0x00080018), ("StudyInstanceUID", 0x0020000D),
             ("SeriesInstanceUID", 0x0020000E))


def _text(ds: Dataset, keyword: str, tag: int) -> str:
    """``str(ds.get(keyword, "") or "")``, through the shared decode cache."""
    from gantry.dicom.values import value_of

    return str(value_of(ds, tag, keyword) or "")


def _size(fh: IO[bytes]) -> int:
    pos = fh.tell()
    fh.seek(0, 2)
    size = fh.tell()
    fh.seek(pos)
    return size


def _check_pixel_length(fh: IO[bytes], size: int, ds: Dataset, label: str) -> None:
    """After a header-only read the stream sits at the pixel data element: check its length."""
    pos = fh.tell()
    head = fh.read(12)
    fh.seek(pos)
    if len(head) < 8:
        return  # no pixel data element follows
    little = getattr(ds, "is_little_endian", True)
    explicit = not getattr(ds, "is_implicit_VR", False)
    fmt = "<HH" if little in (True, None) else ">HH"
    group, elem = struct.unpack(fmt, head[:4])
    if (group << 16 | elem) not in _PIXEL_TAGS:
        return
    if explicit:
        if len(head) < 12:
            raise InputError(label, "truncated: pixel data element is cut short")
        length = struct.unpack(fmt[0] + "I", head[8:12])[0]
        value_start = pos + 12
    else:
        length = struct.unpack(fmt[0] + "I", head[4:8])[0]
        value_start = pos + 8
    if length == 0xFFFFFFFF:  # encapsulated: check the sequence delimiter ends the file
        fh.seek(max(size - 64, value_start))
        tail = fh.read(64)
        fh.seek(pos)
        delim = b"\xfe\xff\xdd\xe0" if little in (True, None) else b"\xff\xfe\xe0\xdd"
        if delim not in tail:
            raise InputError(label, "truncated: encapsulated pixel data has no end")
        return
    if value_start + length > size:
        raise InputError(label, f"truncated: pixel data needs {length} bytes, file has "
                                f"{size - value_start}")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
