"""The object model: ``Patient → Study → Series → Instance``.

Records are light: UIDs and a few key attributes, cheap to keep by the hundred thousand and to
pickle to a worker. An :class:`Instance` loads its pydicom ``Dataset`` on demand from its source
and can drop the pixel data again (:meth:`Instance.unload_pixel_data`).

The attributes here are the *original* values as ingested: the working store is sensitive (it
indexes original headers) and nothing in this module is ever written to an export.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pydicom import Dataset

Opener = Callable[[str], IO[bytes]]


class Navigator(Protocol):
    """What a record needs to walk down the hierarchy: a store and how to bind instances
    to their sources (a :class:`~gantry.session.Session` is one)."""

    store: Any

    def bind_instance(self, instance: Instance) -> Instance:
        """Set the opener of an instance's source; return it."""


class _Navigable:
    """A record that may be bound to a session, so that its children can be listed lazily."""

    _nav: Navigator | None

    def _navigator(self) -> Navigator:
        if self._nav is None:
            raise RuntimeError(f"{type(self).__name__} is not bound to a session: get it from "
                               "session.patients() (or Patient.studies(), Study.series())")
        return self._nav

    def bound(self, nav: Navigator | None) -> Any:
        """Bind this record to a session-like navigator; returns ``self``."""
        self._nav = nav
        return self

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_nav"] = None
        return state

#: Header attributes every store keeps as first-class fields of an instance (by keyword).
KEY_ATTRIBUTES: tuple[str, ...] = (
    "Modality", "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "Manufacturer",
    "ManufacturerModelName", "SeriesDescription", "StudyDescription", "BodyPartExamined",
    "SliceThickness", "Rows", "Columns", "NumberOfFrames", "InstanceNumber", "SeriesNumber",
    "PhotometricInterpretation", "BitsAllocated", "BurnedInAnnotation", "ImageType",
)


@dataclass
class Patient(_Navigable):
    """A patient as ingested (original identifiers; sensitive)."""

    patient_id: str
    patient_name: str = ""
    issuer: str = ""
    birth_date: str = ""
    study_count: int = 0
    _nav: Navigator | None = field(default=None, repr=False, compare=False)

    def studies(self) -> Iterator[Study]:
        """This patient's studies, streamed from the store (lazy)."""
        nav = self._navigator()
        for study in nav.store.iter_studies(patient_id=self.patient_id):
            yield study.bound(nav)


@dataclass
class Study(_Navigable):
    """A study of a patient."""

    study_instance_uid: str
    patient_id: str
    study_date: str = ""
    study_description: str = ""
    accession_number: str = ""
    series_count: int = 0
    _nav: Navigator | None = field(default=None, repr=False, compare=False)

    def series(self) -> Iterator[Series]:
        """This study's series, streamed from the store (lazy)."""
        nav = self._navigator()
        for one in nav.store.iter_series(study_instance_uid=self.study_instance_uid):
            yield one.bound(nav)


@dataclass
class Series(_Navigable):
    """A series of a study; the unit of parallel work."""

    series_instance_uid: str
    study_instance_uid: str
    modality: str = ""
    series_description: str = ""
    series_number: int | None = None
    instance_count: int = 0
    _nav: Navigator | None = field(default=None, repr=False, compare=False)

    def instances(self) -> Iterator[Instance]:
        """This series' instances, streamed from the store (lazy); each loads its dataset
        from its source on demand."""
        nav = self._navigator()
        for inst in nav.store.iter_instances(series_instance_uid=self.series_instance_uid):
            yield nav.bind_instance(inst)


@dataclass
class Instance:
    """One DICOM instance: where its bytes are and what its header says.

    ``source`` is the opaque string its ingestor understands (a path, ``zip://...``,
    ``s3://...``); ``attrs`` holds :data:`KEY_ATTRIBUTES` found in the header.
    """

    sop_instance_uid: str
    sop_class_uid: str
    series_instance_uid: str
    study_instance_uid: str
    patient_id: str
    source: str
    size: int = -1
    mtime: float | None = None
    transfer_syntax: str = ""
    patient_name: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)
    #: sha256 of the encoded header bytes (and pixel data length), set by ingest: two files with
    #: one SOP Instance UID and different digests are a conflict.
    digest: str = ""
    _dataset: Dataset | None = field(default=None, repr=False, compare=False)
    _opener: Opener | None = field(default=None, repr=False, compare=False)

    # -- loading -------------------------------------------------------------------------------
    def bind(self, opener: Opener | None) -> Instance:
        """Set the function used to open :attr:`source`; returns ``self``."""
        self._opener = opener
        return self

    def _open(self) -> IO[bytes]:
        if self._opener is not None:
            return self._opener(self.source)
        from gantry.sources import open_source

        return open_source(self.source)

    def load(self, *, pixels: bool = True) -> Dataset:
        """Read and cache the dataset (with pixel data unless ``pixels=False``)."""
        if self._dataset is not None and (not pixels or _has_pixels_loaded(self._dataset)):
            return self._dataset
        from pydicom import dcmread

        with self._open() as fh:
            if pixels:  # what is written must be whole: the file may have changed since
                _check_whole(fh, self.source)
            ds = dcmread(fh, force=True, stop_before_pixels=not pixels)
        self._dataset = ds
        return ds

    @property
    def dataset(self) -> Dataset:
        """The full dataset, loaded on first access."""
        return self.load(pixels=True)

    @property
    def is_loaded(self) -> bool:
        """Whether a dataset is held in memory."""
        return self._dataset is not None

    def unload_pixel_data(self) -> None:
        """Drop pixel data (and any decoded array) from memory; the header stays cached."""
        ds = self._dataset
        if ds is None:
            return
        for keyword in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"):
            if keyword in ds:
                del ds[keyword]
        if hasattr(ds, "_pixel_array"):
            ds._pixel_array = None  # pydicom's decoded-array cache
            ds._pixel_id = {}

    def unload(self) -> None:
        """Drop the whole dataset from memory."""
        self._dataset = None

    # -- convenience -----------------------------------------------------------------------------
    @property
    def modality(self) -> str:
        """The instance's Modality, or ``""``."""
        return str(self.attrs.get("Modality", "") or "")

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_dataset"] = None
        state["_opener"] = None
        return state


def _has_pixels_loaded(ds: Dataset) -> bool:
    return any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")) or (
        "Rows" not in ds
    )


def key_attributes(ds: Any) -> dict[str, Any]:
    """Extract :data:`KEY_ATTRIBUTES` from a header (a dataset or a
    :class:`~gantry.dicom.rawheader.RawHeader`) as plain Python values.

    Elements still raw are decoded through the shared decode cache (the very value
    ``ds.get(keyword)`` gives, without decoding it into ``ds``): a series repeats them."""
    from gantry.dicom.rawheader import RawHeader
    from gantry.dicom.values import plain_value, value_of

    out: dict[str, Any] = {}
    if not _KEY_TAGS:
        _KEY_TAGS.append(_key_tags())
    if isinstance(ds, RawHeader):
        plain_if_set = ds.plain_if_set
        for keyword, tag in _KEY_TAGS[0]:
            found = plain_if_set(tag, keyword)
            if found is not None:
                out[keyword] = found
        return out
    for keyword, tag in _KEY_TAGS[0]:
        value = value_of(ds, tag, keyword)
        if value is None or value == "":
            continue
        out[keyword] = plain_value(value)
    return out


def _key_tags() -> tuple[tuple[str, int], ...]:
    from pydicom.datadict import tag_for_keyword

    return tuple((keyword, int(tag_for_keyword(keyword))) for keyword in KEY_ATTRIBUTES)


_KEY_TAGS: list[tuple[tuple[str, int], ...]] = []  # built on first use (imports pydicom)


def _check_whole(fh: IO[bytes], source: str) -> None:
    """Raise :class:`~gantry.errors.InputError` (``truncated at byte N: ...``) when the open
    file is not whole and well formed (see :mod:`gantry.dicom.structure`); a file that is not
    Part 10 DICOM at all is left to the reader."""
    from gantry.dicom.errors import DicomFormatError
    from gantry.dicom.structure import check_stream, describe
    from gantry.errors import InputError

    head = fh.read(132)
    fh.seek(0)
    if head[128:132] != b"DICM":
        return
    try:
        check_stream(fh)
    except DicomFormatError as exc:
        raise InputError(source, describe(exc)) from None


def optional_int(value: Any) -> int | None:
    """An integer attribute's value (SeriesNumber, InstanceNumber...) as ``int``, or ``None``
    when it is absent, empty or not a number (a damaged IS value must not stop indexing)."""
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None
