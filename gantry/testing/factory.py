"""Synthetic DICOM studies with planted identifiers, for tests of Gantry and its plugins.

Every identifying value planted is distinctive (``Quillfeather``, ``MRN-7Q...``) and listed in
:attr:`PlantedStudy.tokens`, so a test can search an output for any of them. Instances of IODs
other than CT (MR, PET, US, SC, SR, RT, SEG, ECG, enhanced multi-frame) come from
:func:`gantry.testing.iods.make_iod`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, CTImageStorage, ExplicitVRLittleEndian

#: Root of every original UID made here (grep target: it must never reach an output).
UID_ROOT = "1.2.826.0.1.3680043.10.999."

_LAST = ["Quillfeather", "Harrowgate", "Pembertonia", "Wexcombe", "Thistlewood", "Marrowby"]
_FIRST = ["Ermengarde", "Philomena", "Bartholomew", "Cressida", "Thaddeus", "Wilhelmina"]


@dataclass
class PlantedStudy:
    """Files written by :func:`write_cohort` and the identifying tokens planted in them."""

    root: Path
    paths: list[Path] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    uids: set[str] = field(default_factory=set)


def _uid(*parts: int) -> str:
    return UID_ROOT + ".".join(str(p) for p in parts)


def new_file_dataset(sop_class: str, sop_uid: str) -> Dataset:
    """An empty explicit-VR little-endian data set with its file meta and SOP identity set
    (ISO_IR 100): the start of every instance the testing kit builds."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    return ds


def make_instance(*, patient: int = 0, study: int = 0, series: int = 0, instance: int = 0,
                  rows: int = 16, cols: int = 16, phi: bool = True,
                  sop_class: str = CTImageStorage) -> Dataset:
    """One CT-like instance with planted identifiers in the usual and the easily forgotten places.

    The returned dataset has file meta and can be saved with ``ds.save_as(path,
    enforce_file_format=True)``.
    """
    last, first = _LAST[patient % len(_LAST)], _FIRST[patient % len(_FIRST)]
    mrn = f"MRN{patient:03d}7Q{patient * 7919 % 100000:05d}"
    acc = f"ACC{patient:02d}{study:02d}X{(patient + 3) * 1231:06d}"
    sop_uid = _uid(patient + 1, study + 1, series + 1, instance + 1)
    ds = new_file_dataset(sop_class, sop_uid)
    ds.StudyInstanceUID = _uid(patient + 1, study + 1)
    ds.SeriesInstanceUID = _uid(patient + 1, study + 1, series + 1)
    ds.FrameOfReferenceUID = _uid(patient + 1, study + 1, 0, 9)
    ds.Modality = "CT"
    ds.Manufacturer = "GE MEDICAL SYSTEMS"
    ds.ManufacturerModelName = "Revolution"
    study_date = dt.date(2019, 3, 14) + dt.timedelta(days=37 * patient + 11 * study)
    day = study_date.strftime("%Y%m%d")
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = day
    ds.StudyTime = ds.SeriesTime = "101500.000000"
    ds.StudyDescription = "CT CHEST W CONTRAST"
    ds.SeriesDescription = f"AXIAL {series + 1}"
    ds.SeriesNumber = series + 1
    ds.InstanceNumber = instance + 1
    ds.SliceThickness = "1.25" if series == 0 else "5.0"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    ds.ImagePositionPatient = [0, 0, float(instance) * 1.25]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.7, 0.7]
    rng = np.random.default_rng(patient * 1000 + study * 100 + series * 10 + instance)
    ds.PixelData = rng.integers(0, 4096, size=(rows, cols), dtype=np.uint16).tobytes()
    ds.PatientSex = "F" if patient % 2 else "M"
    ds.PatientAge = f"{40 + patient:03d}Y"
    if not phi:
        ds.PatientID = f"ANON{patient}"
        ds.PatientName = f"ANON{patient}"
        return ds
    ds.PatientName = f"{last}^{first}"
    ds.PatientID = mrn
    ds.IssuerOfPatientID = "SAINT-IGNATIUS-MRN"
    ds.PatientBirthDate = f"{1950 + patient:04d}0{1 + patient % 9}2{patient % 9}"
    ds.PatientAddress = f"{1200 + patient} Wexcombe Lane, Springfield"
    ds.PatientTelephoneNumbers = f"555-01{patient:02d}-7788"
    ds.OtherPatientIDs = f"ALT{mrn}"
    ds.AccessionNumber = acc
    ds.StudyID = f"SID{patient:02d}{study:02d}"
    ds.ReferringPhysicianName = "Blackwood^Cornelius^^Dr"
    ds.PerformingPhysicianName = "Featherstonehaugh^Agatha"
    ds.OperatorsName = "Nightingale^Rosalind"
    ds.InstitutionName = "Saint Ignatius Memorial Hospital"
    ds.InstitutionAddress = "1428 Elmwood Lane Springfield"
    ds.StationName = "CTZETA01"
    ds.ImageComments = f"Patient {first} {last} tolerated contrast well. MRN {mrn}"
    ds.AdditionalPatientHistory = f"Seen by Dr Blackwood on {study_date:%m/%d/%Y}"
    # nested sequences
    other = Dataset()
    other.PatientID = f"OTH{mrn}"
    other.IssuerOfPatientID = "COUNTY-REGISTRY"
    ds.OtherPatientIDsSequence = Sequence([other])
    req = Dataset()
    req.AccessionNumber = acc
    req.RequestedProcedureID = f"RPID{patient:02d}{study:02d}"
    req.ScheduledProcedureStepID = f"SPS{patient:02d}{study:02d}"
    ds.RequestAttributesSequence = Sequence([req])
    code = Dataset()
    code.CodeValue = f"NPI{patient:04d}88"
    code.CodingSchemeDesignator = "L"
    code.CodeMeaning = "Blackwood Cornelius"
    person = Dataset()
    person.PersonIdentificationCodeSequence = Sequence([code])
    person.InstitutionName = "Saint Ignatius Memorial Hospital"
    ds.ReferringPhysicianIdentificationSequence = Sequence([person])
    ref = Dataset()
    ref.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.3"
    ref.ReferencedSOPInstanceUID = _uid(patient + 1, study + 1, 77)
    ds.ReferencedPerformedProcedureStepSequence = Sequence([ref])
    # private tags: one identifying, one "safe-looking"
    block = ds.private_block(0x0009, "ACME_PHI", create=True)
    block.add_new(0x10, "LO", f"{last}^{first}")
    block.add_new(0x11, "LO", mrn)
    safe = ds.private_block(0x0019, "ACME_SAFE", create=True)
    safe.add_new(0x10, "DS", "1.5")
    # overlay with a comment
    ds.add_new(0x60000010, "US", rows)
    ds.add_new(0x60000011, "US", cols)
    ds.add_new(0x60000022, "LO", f"Overlay by {last}")
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60003000, "OW", b"\x00" * ((rows * cols + 7) // 8 + ((rows * cols + 7) // 8) % 2))
    return ds


def planted_tokens(ds: Dataset) -> set[str]:
    """The identifying tokens planted in a dataset made by :func:`make_instance`."""
    tokens: set[str] = set()
    if str(ds.get("PatientName", "")).startswith("ANON"):
        return tokens
    for keyword in ("PatientID", "AccessionNumber", "OtherPatientIDs", "StudyID",
                    "PatientTelephoneNumbers", "StationName", "PatientBirthDate"):
        if keyword in ds:
            tokens.add(str(ds[keyword].value))
    last, first = str(ds.PatientName).split("^")[:2]
    tokens.update({last, first, "Blackwood", "Featherstonehaugh", "Nightingale",
                   "Saint Ignatius", "Elmwood", "Wexcombe", UID_ROOT.rstrip(".")})
    tokens.add(ds.RequestAttributesSequence[0].RequestedProcedureID)
    tokens.add(ds.OtherPatientIDsSequence[0].PatientID)
    tokens.add(ds.ReferringPhysicianIdentificationSequence[0]
               .PersonIdentificationCodeSequence[0].CodeValue)
    return tokens


def write_cohort(root: str | Path, *, patients: int = 2, studies: int = 1, series: int = 2,
                 instances: int = 3, rows: int = 16, cols: int = 16, phi: bool = True,
                 names: str = "flat") -> PlantedStudy:
    """Write a cohort under ``root``; ``names="phi"`` also puts identifiers in folder/file names.

    Returns the written paths and every planted token (names, IDs, dates, UID root).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    out = PlantedStudy(root=root)
    for p in range(patients):
        for s in range(studies):
            for se in range(series):
                for i in range(instances):
                    ds = make_instance(patient=p, study=s, series=se, instance=i, rows=rows,
                                       cols=cols, phi=phi)
                    if names == "phi" and phi:
                        folder = root / str(ds.PatientName).replace("^", "_") / str(ds.PatientID)
                        name = f"{ds.AccessionNumber}_{se}_{i}"
                    else:
                        folder = root / f"p{p}s{s}se{se}"
                        name = f"i{i:04d}"
                    folder.mkdir(parents=True, exist_ok=True)
                    path = folder / name
                    ds.save_as(path, enforce_file_format=True)
                    out.paths.append(path)
                    out.tokens |= planted_tokens(ds)
                    out.uids.update({ds.SOPInstanceUID, ds.SeriesInstanceUID, ds.StudyInstanceUID})
    return out


def iter_files(root: str | Path) -> Iterable[Path]:
    """Every regular file under ``root``, sorted."""
    return sorted(p for p in Path(root).rglob("*") if p.is_file())


def bundled_test_files(pattern: str = "*") -> list[str]:
    """pydicom's own test files shipped inside the package (``pydicom/data/test_files`` and its
    character set files), sorted. Unlike ``pydicom.data.get_testdata_files`` this never tries
    to download the larger external ones (which costs a network timeout offline)."""
    from pathlib import Path

    import pydicom.data

    root = Path(pydicom.data.__file__).parent
    found = {str(p) for folder in ("test_files", "charset_files")
             for p in (root / folder).rglob(pattern) if p.is_file()}
    return sorted(found)
