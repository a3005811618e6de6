"""The files the ``nifti`` and ``bids`` exporters write, as :class:`~gantry.api.OwnFile`
records: an output folder taken as input (``gantry deidentify OUT1 OUT2``) skips them as
Gantry's own (by name and content), instead of rejecting each as "not DICOM"."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable, Iterator

from gantry.api import OwnFile

#: a NIfTI-1 single-file header: its size, and the magic at byte 344
_NIFTI_SIZE = struct.pack("<i", 348)
_NIFTI_MAGIC = b"n+1\x00"
#: the header fields the writer leaves empty (``db_name``, ``descrip``, ``aux_file``,
#: ``intent_name``): dcm2niix, for one, fills ``descrip``
_EMPTY_FIELDS = ((4, 22), (148, 228), (228, 252), (328, 344))
#: a ``.bval`` (one line) or ``.bvec`` (three lines) as written: numbers, one space apart
_NUMBERS_LINE = rb"-?[0-9][-+.0-9e]*(?: -?[0-9][-+.0-9e]*)*\n"
_BVAL = re.compile(_NUMBERS_LINE + rb"\Z")
_BVEC = re.compile(rb"(?:" + _NUMBERS_LINE + rb"){3}\Z")
_SIDECAR_KEY = re.compile(rb'^  "([A-Za-z]+)": ', re.MULTILINE)


def _nifti_header(head: bytes) -> bytes:
    """The first 348 bytes of a ``.nii`` or ``.nii.gz`` file (fewer: not one)."""
    if head[:2] != b"\x1f\x8b":
        return head[:348]
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 348)
    except zlib.error:
        return b""


def _volume(head: bytes) -> bool:
    header = _nifti_header(head)
    return (len(header) == 348 and header[:4] == _NIFTI_SIZE and header[344:] == _NIFTI_MAGIC
            and not any(header[start:end].strip(b"\x00") for start, end in _EMPTY_FIELDS))


def _sidecar(head: bytes) -> bool:
    from gantry_nifti.sidecar import CONVERSION_SOFTWARE, sidecar_keys

    if not head.startswith(b'{\n  "'):
        return False
    if f'\n  "ConversionSoftware": "{CONVERSION_SOFTWARE}",\n'.encode() in head:
        return True
    # a long one (slice times) is cut before its ConversionSoftware: every key before the cut
    # is one the writer puts before it
    keys = {key.decode() for key in _SIDECAR_KEY.findall(head)}
    cut = not head.rstrip().endswith(b"}")
    return cut and "SliceTiming" in keys and keys <= sidecar_keys()


def _tsv(columns: tuple[str, ...]) -> Callable[[bytes], bool]:
    line = "\t".join(columns).encode() + b"\n"
    return lambda head: head.startswith(line)


def _dataset_description(head: bytes) -> bool:
    return head.startswith(b"{\n") and b'"GeneratedBy": [\n    {\n      "Name": ' \
        b'"gantry-nifti",' in head


def _readme(head: bytes) -> bool:
    from gantry_nifti.bids import README_TEXT

    return f"\n\n{README_TEXT}\n".encode() in head


def _participants_json(head: bytes) -> bool:
    from gantry_nifti.bids import participants_json

    return head == participants_json()


def _bidsignore(head: bytes) -> bool:
    from gantry_nifti.bids import STAGING

    return head.startswith(f"{STAGING}/\n".encode())


def _staged_facts(head: bytes) -> bool:
    return head.startswith(b'{"subject": ') and b', "series": ' in head


def own_files() -> Iterator[OwnFile]:
    """The kinds of file the two exporters write (names as they name them)."""
    from gantry_nifti.bids import PARTICIPANT_COLUMNS, SCAN_COLUMNS

    yield OwnFile("NIfTI volume", ("*.nii.gz", "*.nii"), _volume)
    yield OwnFile("NIfTI sidecar", ("*.json",), _sidecar)
    yield OwnFile("diffusion b-values", ("*.bval",), lambda head: bool(_BVAL.match(head)))
    yield OwnFile("diffusion gradient directions", ("*.bvec",),
                  lambda head: bool(_BVEC.match(head)))
    yield OwnFile("BIDS participants table", ("participants.tsv",), _tsv(PARTICIPANT_COLUMNS))
    yield OwnFile("BIDS participants description", ("participants.json",), _participants_json)
    yield OwnFile("BIDS scans table", ("*_scans.tsv",), _tsv(SCAN_COLUMNS))
    yield OwnFile("BIDS dataset description", ("dataset_description.json",),
                  _dataset_description)
    yield OwnFile("BIDS README", ("README",), _readme)
    yield OwnFile("BIDS ignore list", (".bidsignore",), _bidsignore)
    # the per-series facts staged for the TSV files (under .gantry-bids/)
    yield OwnFile("BIDS staged series facts", ("sub-*_ses-*_series-*.json",), _staged_facts)
