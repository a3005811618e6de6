"""BIDS layout: which datatype, suffix and entities a series gets (the profile's rules, then
the defaults), the session numbering, and the dataset-wide files written at the end.

Everything is decided from the *de-identified* reference instance of the series: a rule on
``SeriesDescription`` only sees it when the profile keeps it (``clean-descriptors``, or a
``tags:`` override). Subject labels are the pseudonymous PatientID reduced to letters and
digits; sessions are numbered 1, 2, ... per subject in the order of the studies' (shifted)
dates; ``run`` is the series number unless a rule sets it (unique within a session without
knowing the other series).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gantry_nifti.api import Volume
from gantry_nifti.settings import ENTITIES, BidsRule, BidsSettings

BIDS_VERSION = "1.10.0"
#: hidden folder of per-series facts that ``finish_dataset`` gathers into the TSV files
STAGING = ".gantry-bids"
#: what ``README`` says after the dataset's name (its own-file recognition looks for it)
README_TEXT = ("De-identified DICOM series converted to NIfTI by gantry-nifti. Subject labels "
               "are pseudonyms; dates are those the de-identification profile left (shifted "
               "or removed).")
#: the columns of ``participants.tsv`` and of each ``sub-*_scans.tsv``
PARTICIPANT_COLUMNS = ("participant_id", "sex", "age")
SCAN_COLUMNS = ("filename", "acq_time")
_ALNUM = re.compile(r"[^A-Za-z0-9]+")


@dataclass(frozen=True)
class Placement:
    """Where a series goes: ``datatype``/``..._<entities>_<suffix>``, extra sidecar fields."""

    datatype: str
    suffix: str
    entities: dict[str, str] = field(default_factory=dict)
    sidecar: dict[str, Any] = field(default_factory=dict)


def label(value: object, fallback: str = "x") -> str:
    """A BIDS label: letters and digits only."""
    text = _ALNUM.sub("", str(value or ""))
    return text[:64] or fallback


def _describe(ds: Any) -> str:
    return " ".join(str(ds.get(k, "") or "") for k in
                    ("SeriesDescription", "ProtocolName", "SequenceName")).lower()


def _ms(ds: Any, keyword: str) -> float | None:
    try:
        return float(ds.get(keyword))
    except (TypeError, ValueError):
        return None


def default_placement(ds: Any, volume: Volume) -> Placement | None:
    """The built-in defaults: dwi, bold, fieldmaps, T1w/T2w/FLAIR/PDw, PET; ``None`` for what
    they do not recognise (CT has no BIDS suffix yet: it is unmatched)."""
    from gantry_nifti.sidecar import repetition_time

    modality = str(ds.get("Modality", "") or "").upper()
    if modality == "PT":
        return Placement("pet", "pet")
    if modality != "MR":
        return None
    words = _describe(ds)
    kinds = [str(v).upper() for v in (ds.get("ImageType") or [])]
    volumes = volume.array.shape[3] if volume.array.ndim == 4 else 1
    if volume.bvals is not None or "DIFFUSION" in kinds or \
            any(w in words for w in ("dwi", "diff", "dti")):
        return Placement("dwi", "dwi")
    if any(w in words for w in ("fieldmap", "field_map", "field map", "b0map", "fmap")):
        if "P" in kinds or "PHASE" in kinds:
            return Placement("fmap", "phasediff")
        return Placement("fmap", "magnitude1")
    if volumes > 1:
        task = "rest" if "rest" in words else "unknown"
        extra = {"TaskName": task}
        if repetition_time(ds) is None:
            return None
        return Placement("func", "bold", {"task": task}, extra)
    te = _ms(ds, "EchoTime") or 0.0
    ti = _ms(ds, "InversionTime")
    for words_of, suffix in ((("flair",), "FLAIR"), (("t2",), "T2w"),
                             (("t1", "mprage", "spgr", "mp2rage"), "T1w"), (("pd",), "PDw")):
        if any(re.search(rf"(^|[^a-z0-9]){w}", words) for w in words_of):
            return Placement("anat", suffix)
    if ti is not None and te >= 50:
        return Placement("anat", "FLAIR")
    if te >= 50:
        return Placement("anat", "T2w")
    if te and te < 30:
        return Placement("anat", "T1w")
    return None


def place(ds: Any, volume: Volume, settings: BidsSettings) -> Placement | None:
    """The first rule whose expression matches the series' de-identified header, else the
    defaults (when on); ``None``: unmatched."""
    from gantry.api import header_row, parse_query, to_predicate

    row = None
    for rule in settings.rules:
        if row is None:
            row = header_row(ds)
        if to_predicate(parse_query(rule.match))(row):
            return _from_rule(rule)
    return default_placement(ds, volume) if settings.defaults else None


def _from_rule(rule: BidsRule) -> Placement:
    extra = dict(rule.sidecar)
    if rule.datatype == "func" and "task" in rule.entities:
        extra.setdefault("TaskName", rule.entities["task"])
    return Placement(rule.datatype, rule.suffix, dict(rule.entities), extra)


def with_echo(placement: Placement, group: Any) -> Placement:
    """One volume of a series split by echo or by magnitude and phase (an
    :class:`~gantry_nifti.api.ImageGroup`): ``magnitude<echo>`` for a field map's magnitude
    images (its phase images keep their suffix); elsewhere the ``echo`` entity and
    ``part-mag``/``part-phase``, unless the rule set them."""
    entities = dict(placement.entities)
    suffix = placement.suffix
    if placement.datatype == "fmap":
        if suffix.startswith("magnitude") and group.echo:
            suffix = f"magnitude{group.echo}"
        return Placement(placement.datatype, suffix, entities, placement.sidecar)
    if group.echo:
        entities.setdefault("echo", str(group.echo))
    if group.mixed:
        entities.setdefault("part", "phase" if group.phase else "mag")
    return Placement(placement.datatype, suffix, entities, placement.sidecar)


def file_stem(subject: str, session: str, placement: Placement, series_number: int) -> str:
    """``sub-<s>_ses-<n>_<entities in BIDS order>_<suffix>``."""
    entities = dict(placement.entities)
    entities.setdefault("run", str(series_number))
    parts = [f"sub-{subject}", f"ses-{session}"]
    parts += [f"{key}-{entities[key]}" for key in ENTITIES if key in entities]
    return "_".join([*parts, placement.suffix])


def session_numbers(run: Any, store: Any) -> dict[str, Any]:
    """``prepare``: each study's session number among its patient's studies, in date order,
    keyed by the keyed hash of its original UID (no original value leaves this process)."""
    by_patient: dict[str, list[tuple[str, str, str]]] = {}
    for study in store.iter_studies():
        key = run.keyed_hash(study.study_instance_uid)
        by_patient.setdefault(study.patient_id, []).append((study.study_date or "", key, key))
    numbers: dict[str, int] = {}
    for studies in by_patient.values():
        for n, (_date, _tie, key) in enumerate(sorted(studies), start=1):
            numbers[key] = n
    return {"bids_sessions": numbers}


def acq_time(ds: Any) -> str:
    """The series' acquisition date and time (as the profile left them, shifted or not) in
    BIDS form, or ``n/a``."""
    day = str(ds.get("AcquisitionDate") or ds.get("SeriesDate") or ds.get("StudyDate") or "")
    clock = str(ds.get("AcquisitionTime") or ds.get("SeriesTime") or ds.get("StudyTime") or "")
    day = day.strip()
    if len(day) != 8 or not day.isdigit():
        return "n/a"
    clock = clock.strip().replace(":", "")
    hh, mm, ss = clock[:2] or "00", clock[2:4] or "00", clock[4:6] or "00"
    if not (hh + mm + ss).isdigit():
        hh = mm = ss = "00"
    return f"{day[:4]}-{day[4:6]}-{day[6:]}T{hh}:{mm}:{ss}"


def participant(ds: Any) -> dict[str, str]:
    """The characteristics the profile kept: sex and age (years), else ``n/a``."""
    sex = str(ds.get("PatientSex", "") or "").strip().upper()
    age_text = str(ds.get("PatientAge", "") or "").strip().upper()
    age = "n/a"
    if len(age_text) == 4 and age_text[:3].isdigit():
        value = int(age_text[:3])
        age = str({"Y": value, "M": round(value / 12, 2), "W": round(value / 52, 2),
                   "D": round(value / 365, 2)}.get(age_text[3], "n/a"))
    return {"sex": sex if sex in ("M", "F", "O") else "n/a", "age": age}


def _tsv(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def collisions(root: Path) -> list[str]:
    """Outputs two series were given (a rule's fixed ``run``, equal series numbers): the
    later replaced the earlier; one line each."""
    owners: dict[str, set[str]] = {}
    staging = root / STAGING
    for path in sorted(staging.glob("*.json")) if staging.is_dir() else ():
        try:
            fact = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        owners.setdefault(fact["path"], set()).add(fact.get("series", path.name))
    return [f"bids: {rel}: {len(series)} series were given this name; the last one written "
            f"replaced the others (set run: or acq: in the rules)"
            for rel, series in sorted(owners.items()) if len(series) > 1]


def participants_json() -> bytes:
    """``participants.json``: what the columns of ``participants.tsv`` mean."""
    return (json.dumps({
        "sex": {"Description": "sex as the de-identified header states it",
                "Levels": {"M": "male", "F": "female", "O": "other"}},
        "age": {"Description": "age at the study, as the de-identified header states it",
                "Units": "year"},
    }, indent=2) + "\n").encode()


def dataset_files(root: Path, settings: BidsSettings) -> dict[str, bytes]:
    """The dataset-wide files from the staged per-series facts under ``root``."""
    from gantry_nifti import __version__

    facts = []
    staging = root / STAGING
    for path in sorted(staging.glob("*.json")) if staging.is_dir() else ():
        try:
            facts.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    facts = [f for f in facts if (root / f["path"]).exists()]  # outputs removed since: gone
    unique: dict[str, dict[str, Any]] = {}
    for f in facts:  # a name two series were given is listed once
        unique[f["path"]] = f
    facts = list(unique.values())
    files: dict[str, bytes] = {}
    description = {
        "Name": settings.name, "BIDSVersion": BIDS_VERSION, "DatasetType": "raw",
        "GeneratedBy": [{"Name": "gantry-nifti", "Version": __version__,
                         "Description": "de-identified with Gantry, converted from the "
                                        "de-identified DICOM"}],
    }
    files["dataset_description.json"] = (json.dumps(description, indent=2) + "\n").encode()
    files["README"] = f"{settings.name}\n\n{README_TEXT}\n".encode()
    people: dict[str, dict[str, str]] = {}
    scans: dict[tuple[str, str], list[list[str]]] = {}
    for f in facts:
        people.setdefault(f["subject"], f["participant"])
        if f.get("bids", True):
            scans.setdefault((f["subject"], f["session"]), []).append(
                [f["scan"], f["acq_time"]])
    rows = [[f"sub-{s}", p.get("sex", "n/a"), p.get("age", "n/a")]
            for s, p in sorted(people.items())]
    files["participants.tsv"] = _tsv(list(PARTICIPANT_COLUMNS), rows)
    files["participants.json"] = participants_json()
    for (subject, session), entries in sorted(scans.items()):
        rel = f"sub-{subject}/ses-{session}/sub-{subject}_ses-{session}_scans.tsv"
        files[rel] = _tsv(list(SCAN_COLUMNS), sorted(entries))
    return files


def finish_dataset(target: Any, run: Any) -> list[str]:
    """``finish``: write ``dataset_description.json``, ``README``, ``participants.tsv``/
    ``.json`` and each session's ``scans.tsv`` from what the series sinks staged."""
    from gantry_nifti.files import local_root, write_atomic
    from gantry_nifti.settings import load_settings

    settings = load_settings(run.settings("gantry-nifti")).bids
    root = local_root(target.to)
    root.mkdir(parents=True, exist_ok=True)
    files = dataset_files(root, settings)
    for rel, data in files.items():
        write_atomic(root, rel, data)
    ignore = root / ".bidsignore"
    if not ignore.exists():
        write_atomic(root, ".bidsignore", f"{STAGING}/\n".encode())
    sessions = sum(1 for rel in files if rel.endswith("_scans.tsv"))
    return [*collisions(root),
            f"bids: {os.fspath(root)}: dataset files written ({sessions} sessions)"]
