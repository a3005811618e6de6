"""The ``bids`` export: layout by rules and defaults, sidecars, TSVs with shifted times, the
official validator, nothing identifying anywhere, refusals one line per series."""

from __future__ import annotations

import csv
import gzip
import json
import subprocess
from pathlib import Path

import pytest
from gantry_nifti.synthetic import (
    STUDY_DATE,
    UID_ROOT,
    Geometry,
    SeriesSpec,
    make_series,
    mr_study,
    planted_tokens,
    write_series,
)

from gantry import Session
from gantry.errors import ProfileError

SECRET = bytes(range(32))

PROFILE = """\
extends: ps3.15/research
plugins:
  gantry-nifti:
    bids:
      unmatched: {unmatched}
      rules:
        - match: "SeriesDescription contains 'bold'"
          datatype: func
          suffix: bold
          entities: {{task: rest, acq: ep2d}}
          sidecar: {{PhaseEncodingDirection: j-, TotalReadoutTime: 0.0451}}
"""


def _study(root: Path) -> Path:
    """An MR study (T1w, T2w, FLAIR, bold, dwi) plus a second session's T1w, a localizer, a
    tilted CT, a series with a missing slice, and a series neither the rules nor the
    defaults place (no words for its contrast, an echo time of 40 ms)."""
    src = root / "src"
    mr_study(src, series=5, slices=8, rows=12, cols=10)
    write_series(make_series(SeriesSpec(series_number=1, study=1, seed=101, echo_time=2.5,
                                        extra={"InversionTime": "900"})), src / "ses2")
    write_series(make_series(SeriesSpec(series_number=6, slices=3, seed=6, image_type=(
        "ORIGINAL", "PRIMARY", "LOCALIZER"), series_description="localizer")), src / "loc")
    write_series(make_series(SeriesSpec(series_number=7, modality="CT", signed=True, seed=7,
                                        geometry=Geometry(tilt=15.0))), src / "tilt")
    gap = make_series(SeriesSpec(series_number=8, slices=6, shuffle=False, seed=8))
    write_series(gap[:2] + gap[3:], src / "gap")
    write_series(make_series(_neutral(series_number=9, echo_time=40.0, seed=9)), src / "odd")
    return src


def _neutral(**values) -> SeriesSpec:
    """A series whose description names no contrast."""
    return SeriesSpec(series_description="series", protocol_name="protocol", **values)


def _profile(root: Path, unmatched: str = "skip") -> Path:
    path = root / f"bids-{unmatched}.yaml"
    path.write_text(PROFILE.format(unmatched=unmatched))
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("bids")
    src = _study(root)
    out = root / "bids"
    with Session("memory://", profile=str(_profile(root, "sourcedata")),
                 secret=SECRET) as session:
        ingest, export = session.deidentify(str(src), str(out), format="bids")
    return src, out, ingest, export


def _subject(out: Path) -> Path:
    subjects = sorted(out.glob("sub-*"))
    assert len(subjects) == 1
    return subjects[0]


def test_layout_by_rules_and_defaults(exported):
    _src, out, _ingest, _export = exported
    sub = _subject(out)
    label = sub.name
    names = sorted(str(p.relative_to(sub)) for p in sub.rglob("*.nii.gz"))
    assert names == [
        f"ses-1/anat/{label}_ses-1_run-1_T1w.nii.gz",
        f"ses-1/anat/{label}_ses-1_run-2_T2w.nii.gz",
        f"ses-1/anat/{label}_ses-1_run-3_FLAIR.nii.gz",
        f"ses-1/dwi/{label}_ses-1_run-5_dwi.nii.gz",
        f"ses-1/func/{label}_ses-1_task-rest_acq-ep2d_run-4_bold.nii.gz",
        f"ses-2/anat/{label}_ses-2_run-1_T1w.nii.gz",
    ]
    assert (sub / f"ses-1/dwi/{label}_ses-1_run-5_dwi.bval").read_text().split() == \
        ["0", "1000", "1000", "1000"]
    assert len((sub / f"ses-1/dwi/{label}_ses-1_run-5_dwi.bvec").read_text().splitlines()) == 3
    # the unmatched series went to sourcedata/, outside the BIDS tree
    assert [p.name for p in (out / "sourcedata").rglob("*.nii.gz")] == ["series-9.nii.gz"]


def test_refused_series_one_line_each_and_the_export_goes_on(exported):
    _src, _out, _ingest, export = exported
    assert export.failed == 0, export.errors
    refused = [n for n in export.notes if "not converted" in n]
    assert len(refused) == 3, export.notes
    assert any("localizer" in n for n in refused)
    assert any("gantry tilt of 15.0 degrees" in n for n in refused)
    assert any("uneven slice spacing" in n for n in refused)
    assert export.skipped == 3 + 6 + 5  # the instances of the three refused series


def test_sidecars_state_what_bids_asks_for(exported):
    _src, out, _i, _e = exported
    sub = _subject(out)
    bold = json.loads(next(sub.rglob("*_bold.json")).read_text())
    assert bold["RepetitionTime"] == 2.0 and bold["EchoTime"] == 0.03
    assert bold["TaskName"] == "rest"
    assert bold["PhaseEncodingDirection"] == "j-" and bold["TotalReadoutTime"] == 0.0451
    assert len(bold["SliceTiming"]) == 2 and max(bold["SliceTiming"]) < bold["RepetitionTime"]
    t1 = json.loads(next(sub.glob("ses-1/anat/*_T1w.json")).read_text())
    assert t1["EchoTime"] == 0.0025 and t1["RepetitionTime"] == 2.3
    assert t1["InversionTime"] == 0.9
    assert "SliceTiming" not in t1


def test_tsv_files_with_shifted_times_and_kept_characteristics(exported):
    _src, out, _i, _e = exported
    sub = _subject(out)
    rows = list(csv.DictReader((out / "participants.tsv").open(), delimiter="\t"))
    assert rows == [{"participant_id": sub.name, "sex": "F", "age": "61"}]
    scans = list(csv.DictReader(next(sub.glob("ses-1/*_scans.tsv")).open(), delimiter="\t"))
    assert len(scans) == 5
    times = {r["acq_time"] for r in scans}
    assert all(t != "n/a" and not t.startswith("2019-03-14") for t in times)
    ses2 = list(csv.DictReader(next(sub.glob("ses-2/*_scans.tsv")).open(), delimiter="\t"))
    # the second study is 40 days after the first, and stays so after the shift
    assert ses2[0]["acq_time"][:10] > scans[0]["acq_time"][:10]
    description = json.loads((out / "dataset_description.json").read_text())
    assert description["BIDSVersion"] and description["DatasetType"] == "raw"


def _every_output(out: Path):
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if path.name.endswith(".gz"):
                data = gzip.decompress(data)
            yield path, data


def test_nothing_identifying_in_any_output(exported):
    src, out, _i, _e = exported
    tokens = planted_tokens() | {"2019-03-14", STUDY_DATE, "Quillfeather", "MRN4417Q90210"}
    originals = set()
    import pydicom

    for path in src.rglob("*.dcm"):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        originals |= {ds.SOPInstanceUID, ds.SeriesInstanceUID, ds.StudyInstanceUID,
                      ds.FrameOfReferenceUID}
    checked = 0
    for path, data in _every_output(out):
        name = str(path.relative_to(out)).lower()
        text = data.lower()
        for token in tokens | originals:
            needle = token.lower()
            assert needle not in name, (token, path)
            assert needle.encode() not in text, (token, path)
        assert UID_ROOT.rstrip(".").encode() not in data
        checked += 1
    assert checked > 20


@pytest.mark.component
def test_the_official_validator_passes(exported, bids_validator_bin):
    _src, out, _i, _e = exported
    proc = subprocess.run([bids_validator_bin, str(out), "--format", "json"],
                          capture_output=True, text=True, timeout=120)
    report = json.loads(proc.stdout)
    errors = [i for i in report["issues"]["issues"] if i["severity"] == "error"]
    assert proc.returncode == 0 and not errors, errors


def test_unmatched_series_skipped_by_choice(tmp_path):
    src = tmp_path / "src"
    write_series(make_series(_neutral(series_number=9, echo_time=40.0)), src / "odd")
    write_series(make_series(_neutral(series_number=2, echo_time=95.0, seed=2)), src / "t2")
    with Session("memory://", profile=str(_profile(tmp_path)), secret=SECRET) as session:
        _ingest, export = session.deidentify(str(src), str(tmp_path / "out"), format="bids")
    assert export.failed == 0
    assert any("no BIDS rule or default matches it" in n for n in export.notes)
    assert not (tmp_path / "out" / "sourcedata").exists()
    assert len(list((tmp_path / "out").rglob("*_T2w.nii.gz"))) == 1


def test_bids_section_errors_name_the_line(tmp_path):
    profile = tmp_path / "bad.yaml"
    profile.write_text("extends: ps3.15/basic\nplugins:\n  gantry-nifti:\n    bids:\n"
                       "      rules:\n        - match: \"SeriesDescription contains 'a'\"\n"
                       "          datatype: anat\n          suffix: T1w\n"
                       "          entities: {run: first}\n")
    with pytest.raises(ProfileError) as info:
        Session("memory://", profile=str(profile), secret=SECRET)
    text = str(info.value)
    assert "bad.yaml:9" in text and "run" in text
    profile.write_text("extends: ps3.15/basic\nplugins:\n  gantry-nifti:\n    bids:\n"
                       "      rules:\n        - match: \"SeriesDescription contains\"\n"
                       "          datatype: anat\n          suffix: T1w\n")
    with pytest.raises(ProfileError) as info:
        Session("memory://", profile=str(profile), secret=SECRET)
    assert "bad.yaml:6" in str(info.value) and "match" in str(info.value)


def test_resume_redoes_only_the_series_whose_volume_is_gone(tmp_path):
    src = tmp_path / "src"
    for number in (1, 2):
        write_series(make_series(SeriesSpec(series_number=number, seed=number)),
                     src / f"s{number}")
    out = tmp_path / "out"
    with Session("memory://", secret=SECRET) as session:
        session.ingest(str(src))
        first = session.export(str(out), format="nifti")
        assert first.done == 12 and first.skipped == 0
        again = session.export(str(out), format="nifti")
        assert again.done == 0 and again.skipped == 12
        gone = next(out.rglob("1_*.nii.gz"))
        gone.unlink()
        redone = session.export(str(out), format="nifti")
        assert redone.done == 6 and redone.skipped == 6
        assert gone.exists()


def test_two_series_given_one_name_are_reported(tmp_path):
    src = tmp_path / "src"
    for number in (3, 4):
        write_series(make_series(SeriesSpec(series_number=number, seed=number)),
                     src / f"s{number}")
    profile = tmp_path / "fixed-run.yaml"
    profile.write_text("extends: ps3.15/research\nplugins:\n  gantry-nifti:\n    bids:\n"
                       "      rules:\n        - match: \"Modality == 'MR'\"\n"
                       "          datatype: anat\n          suffix: T1w\n"
                       "          entities: {run: '1'}\n")
    with Session("memory://", profile=str(profile), secret=SECRET) as session:
        _ingest, export = session.deidentify(str(src), str(tmp_path / "out"), format="bids")
    assert any("2 series were given this name" in n for n in export.notes), export.notes
    scans = next((tmp_path / "out").rglob("*_scans.tsv")).read_text().splitlines()
    assert len(scans) == 2  # the header and the one file
