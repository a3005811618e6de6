"""``deface`` in a run: head volumes written back defaced as DICOM, with the option's code
only on them; other series left alone with a reason; a profile may require defacing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gantry_deface.testing import (
    EYE,
    FACE_FEATURES,
    PhantomSpec,
    make_phantom,
    phantom_series,
)
from pydicom import dcmread
from pydicom.uid import RLELossless

from gantry import Session

PROFILE = """extends: ps3.15/basic
options: [clean-recognizable-visual-features]
redact: [ps315-tags, deface]
audit: [ps315-audit, deface-report]
"""
CODE = "113102"  # CID 7050 Clean Recognizable Visual Features Option
HEAD = PhantomSpec(contrast="CT", pitch=12.0, matrix=64, pixel_spacing=4.0, slice_spacing=4.0,
                   slices=56, seed=5)


def _write(folder: Path, datasets: list, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for ds in datasets:
        ds.save_as(folder / f"{name}-{int(ds.InstanceNumber):03d}.dcm", enforce_file_format=True)


def _run(tmp_path: Path, profile: str = PROFILE):
    path = tmp_path / "p.yaml"
    path.write_text(profile)
    with Session("memory://", profile=str(path), workers=1) as session:
        summaries = session.deidentify(tmp_path / "in", tmp_path / "out")
        findings: dict[str, list[str]] = {}
        for item in session.store.iter_findings():
            finding = item[-1] if isinstance(item, tuple) else item
            findings.setdefault(finding.code, []).append(finding.message)
    return summaries, findings


def _outputs(tmp_path: Path) -> dict[int, list]:
    """Output datasets by SeriesNumber, in instance order."""
    out: dict[int, list] = {}
    for path in (tmp_path / "out").rglob("*.dcm"):
        ds = dcmread(path)
        out.setdefault(int(ds.SeriesNumber), []).append(ds)
    for datasets in out.values():
        datasets.sort(key=lambda ds: int(ds.InstanceNumber))
    return out


def _codes(ds) -> list[str]:
    return [str(item.CodeValue) for item in ds.DeidentificationMethodCodeSequence]


def test_head_defaced_chest_and_single_slice_left_alone(tmp_path: Path) -> None:
    head = make_phantom(HEAD)
    _write(tmp_path / "in", phantom_series(head, series=1), "head")
    chest = make_phantom(PhantomSpec(contrast="CT", anatomy="chest", matrix=64,
                                     pixel_spacing=6.0, slice_spacing=6.0, slices=20))
    _write(tmp_path / "in", phantom_series(chest, series=2), "chest")
    single = phantom_series(make_phantom(HEAD), series=3)[28:29]
    _write(tmp_path / "in", single, "single")
    originals = {(int(ds.SeriesNumber), int(ds.InstanceNumber)): ds
                 for ds in [*phantom_series(head, series=1), *phantom_series(chest, series=2),
                            *single]}
    summaries, findings = _run(tmp_path)
    assert summaries[1].done == 56 + 20 + 1, summaries[1].errors
    out = _outputs(tmp_path)
    face_removed = face_total = 0
    for ds in out[1]:
        original = originals[(1, int(ds.InstanceNumber))]
        assert CODE in _codes(ds)
        assert ds.ImageOrientationPatient == original.ImageOrientationPatient
        assert ds.ImagePositionPatient == original.ImagePositionPatient
        assert ds.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
        before, after = original.pixel_array, ds.pixel_array
        changed = before != after
        if changed.any():
            assert ds.ImageType[0] == "DERIVED"
            assert set(np.unique(after[changed])) == {24}  # -1000 HU: air
        labels = head.labels[int(ds.InstanceNumber) - 1]
        face = np.isin(labels, FACE_FEATURES)
        face_total += int(face.sum())
        face_removed += int((face & (after <= 24)).sum())  # at or below -1000 HU
    assert face_removed / face_total >= 0.98
    for series in (2, 3):
        for ds in out[series]:
            original = originals[(series, int(ds.InstanceNumber))]
            assert CODE not in _codes(ds)
            assert np.array_equal(ds.pixel_array, original.pixel_array)
            assert ds.ImageType[0] == "ORIGINAL"
    assert len(findings["defaced"]) == 56
    skipped = findings["deface-skipped"]
    assert len(skipped) == 21
    assert any("not a head" in m for m in skipped) and any("single slice" in m for m in skipped)


def test_compressed_input_recompressed_losslessly(tmp_path: Path) -> None:
    spec = PhantomSpec(contrast="T1", pitch=-8.0, matrix=64, pixel_spacing=4.0,
                       slice_spacing=4.0, slices=56, seed=8)
    datasets = phantom_series(make_phantom(spec))
    originals = {int(ds.InstanceNumber): ds.pixel_array.copy() for ds in datasets}
    for ds in datasets:
        ds.compress(RLELossless, generate_instance_uid=False)
    _write(tmp_path / "in", datasets, "mr")
    summaries, _ = _run(tmp_path)
    assert summaries[1].done == 56, summaries[1].errors
    changed_slices = 0
    for ds in _outputs(tmp_path)[1]:
        assert ds.file_meta.TransferSyntaxUID == RLELossless
        before, after = originals[int(ds.InstanceNumber)], ds.pixel_array
        changed = before != after
        changed_slices += bool(changed.any())
        assert len(np.unique(after[changed])) <= 1  # one fill value, the rest as it was
    assert changed_slices > 10


def test_a_head_it_cannot_deface_is_refused_when_required(tmp_path: Path) -> None:
    datasets = phantom_series(make_phantom(HEAD))
    del datasets[20]  # a missing slice: no regular volume to deface
    _write(tmp_path / "in", datasets, "head")
    summaries, findings = _run(tmp_path)
    assert summaries[1].done == 55 and not summaries[1].failed
    for ds in _outputs(tmp_path)[1]:
        assert CODE not in _codes(ds)
    assert all("uneven slice spacing" in m for m in findings["deface-skipped"])

    required = PROFILE + "plugins:\n  gantry-deface: {require: true}\n"
    (tmp_path / "out2").mkdir()
    path = tmp_path / "p2.yaml"
    path.write_text(required)
    with Session("memory://", profile=str(path), workers=1) as session:
        summaries = session.deidentify(tmp_path / "in", tmp_path / "out2")
    assert summaries[1].failed == 55 and not summaries[1].done
    assert "requires defacing" in " ".join(summaries[1].errors)
    assert not list((tmp_path / "out2").rglob("*.dcm"))


def test_the_series_is_planned_whole_past_a_unit_size(tmp_path: Path) -> None:
    """A series longer than the kernel's 64-instance units is still one unit."""
    spec = PhantomSpec(contrast="CT", matrix=48, pixel_spacing=5.0, slice_spacing=2.5,
                       slices=90, seed=2)
    head = make_phantom(spec)
    _write(tmp_path / "in", phantom_series(head), "head")
    path = tmp_path / "p.yaml"
    path.write_text(PROFILE)
    with Session("memory://", profile=str(path), workers=1) as session:
        session.ingest(tmp_path / "in")
        session.run.store = None  # the redactor cannot fall back on the store here
        summary = session.export(tmp_path / "out")
    assert summary.done == 90, summary.errors
    eyes = removed = 0
    for ds in _outputs(tmp_path)[1]:
        labels = head.labels[int(ds.InstanceNumber) - 1]
        eyes += int((labels == EYE).sum())
        removed += int(((labels == EYE) & (ds.pixel_array <= 24)).sum())
    assert eyes and removed / eyes >= 0.98


@pytest.mark.parametrize("redact", ["[ps315-tags]", "[ps315-tags, pixel-zones]"])
def test_the_option_needs_deface_in_the_stack(tmp_path: Path, redact: str) -> None:
    from gantry.api import ProfileError

    path = tmp_path / "p.yaml"
    path.write_text(PROFILE.replace("[ps315-tags, deface]", redact))
    with pytest.raises(ProfileError, match="deface"):
        Session("memory://", profile=str(path), workers=1)
