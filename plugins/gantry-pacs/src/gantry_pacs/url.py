"""``dimse://AET@host:port?keys`` URLs: the peer, and what to ask it for.

``dimse://`` is plain DICOM over TCP, ``dimses://`` DICOM TLS (certificates from the settings).
The query string holds matching keys by DICOM keyword (``PatientID=X``, ``StudyDate=
20240101-20241231``, ``Modality=CT``, wildcards ``*`` and ``?``, ranges, UID lists with
``\\``) and two options in lower case: ``retrieve=get|move`` and ``level=study|series|image``
(how deep C-FIND goes before retrieving; ``image``, the default, lists every instance so that
those already in the store are not fetched again and each one is accounted for).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from gantry_pacs.settings import check_ae_title

SCHEMES = ("dimse", "dimses")
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")

#: Matching keys of the Study Root information model (PS3.4 C.6.2.1), by level.
STUDY_KEYS = frozenset({
    "PatientID", "PatientName", "PatientBirthDate", "PatientSex", "IssuerOfPatientID",
    "StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber", "StudyID",
    "StudyDescription", "ReferringPhysicianName", "ModalitiesInStudy", "SOPClassesInStudy",
    "InstitutionName", "PatientAge", "AdmittingDiagnosesDescription",
    "NameOfPhysiciansReadingStudy",
})
SERIES_KEYS = frozenset({
    "SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription", "SeriesDate",
    "SeriesTime", "BodyPartExamined", "ProtocolName", "PerformedProcedureStepStartDate",
    "Laterality", "OperatorsName", "StationName", "Manufacturer", "InstitutionalDepartmentName",
})
INSTANCE_KEYS = frozenset({
    "SOPInstanceUID", "SOPClassUID", "InstanceNumber", "ContentDate", "ContentTime",
    "ImageType", "NumberOfFrames", "AcquisitionNumber",
})
LEVELS = ("study", "series", "image")


class UrlError(ValueError):
    """A ``dimse://`` URL that cannot be used; the message names the URL and the part."""


@dataclass(frozen=True)
class Peer:
    """A DICOM application entity on the network."""

    aet: str
    host: str
    port: int
    tls: bool = False

    def __str__(self) -> str:
        return f"{self.aet}@{self.host}:{self.port}" + (" (TLS)" if self.tls else "")

    @property
    def key(self) -> str:
        """A file-name-safe name of the peer (the spool's folder for its instances)."""
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", self.aet)
        return f"{safe}@{re.sub(r'[^A-Za-z0-9._-]', '_', self.host)}_{self.port}"


@dataclass(frozen=True)
class DimseUrl:
    """A parsed ``dimse://`` URL."""

    peer: Peer
    study_keys: dict[str, str] = field(default_factory=dict)
    series_keys: dict[str, str] = field(default_factory=dict)
    instance_keys: dict[str, str] = field(default_factory=dict)
    retrieve: str = "get"
    level: str = "image"
    text: str = ""


def parse_url(url: str, *, with_query: bool = True) -> DimseUrl:
    """Parse ``dimse://AET@host:port?keys``; :class:`UrlError` names what is wrong."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise UrlError(f"{url}: not a dimse:// or dimses:// URL")
    if not parts.username:
        raise UrlError(f"{url}: the peer's AE title is missing (dimse://AET@host:port)")
    try:
        aet = check_ae_title(unquote(parts.username), "called AE title")
        port = parts.port
    except ValueError as exc:
        raise UrlError(f"{url}: {exc}") from None
    if not parts.hostname:
        raise UrlError(f"{url}: the peer's host is missing (dimse://AET@host:port)")
    if port is None:
        raise UrlError(f"{url}: the peer's port is missing (dimse://AET@host:port)")
    if parts.path not in ("", "/"):
        raise UrlError(f"{url}: a dimse:// URL has no path (matching keys go in the query)")
    peer = Peer(aet, parts.hostname, port, tls=scheme == "dimses")
    if parts.query and not with_query:
        raise UrlError(f"{url}: a C-STORE destination takes no query")
    study: dict[str, str] = {}
    series: dict[str, str] = {}
    instance: dict[str, str] = {}
    retrieve, level = "get", "image"
    for key, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        if key == "retrieve":
            if value not in ("get", "move"):
                raise UrlError(f"{url}: retrieve={value!r}: use retrieve=get or retrieve=move")
            retrieve = value
        elif key == "level":
            if value not in LEVELS:
                raise UrlError(f"{url}: level={value!r}: use one of {', '.join(LEVELS)}")
            level = value
        elif key in STUDY_KEYS:
            study[key] = value
        elif key in SERIES_KEYS:
            series[key] = value
        elif key in INSTANCE_KEYS:
            instance[key] = value
        else:
            raise UrlError(f"{url}: {key!r} is not a matching key this ingestor knows "
                           "(study: PatientID, PatientName, StudyDate, AccessionNumber, "
                           "StudyInstanceUID, ...; series: Modality, SeriesInstanceUID, ...; "
                           "instance: SOPInstanceUID, SOPClassUID)")
    for name, value in (*study.items(), *series.items(), *instance.items()):
        if name.endswith("UID") and value and not all(_UID.match(v) for v in value.split("\\")):
            raise UrlError(f"{url}: {name}={value!r} is not a UID (or a list of UIDs)")
    if (series or instance) and level == "study":
        raise UrlError(f"{url}: series or instance keys need level=series or level=image")
    if instance and level == "series":
        raise UrlError(f"{url}: instance keys need level=image")
    return DimseUrl(peer, study, series, instance, retrieve, level, url)


def is_uid(value: str) -> bool:
    """Whether ``value`` is a syntactically valid UID (also safe as a file name)."""
    return bool(_UID.match(value)) and len(value) <= 64
