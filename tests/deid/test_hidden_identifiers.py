"""Where identifiers hide (issue: CJK names in free text, text in binary values, text inside
encapsulated pixel data, icon images and overlays, file names): each file built for it goes
through a real export, by the memoized pass and by the full pipeline alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import Dataset, dcmread
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import JPEG2000Lossless, JPEGBaseline8Bit

from gantry import Session
from gantry.deid.gate import find_leaks
from gantry.deid.identifiers import collect_identifiers
from gantry.deid.pixeltext import pixel_text
from gantry.deid.roster import build_roster, roster_leaks
from gantry.pipeline import patient_key
from gantry.testing.factory import make_instance

CJK = [("Wang^XiaoDong=王^小東", "王小東"), ("Yamada^Taro=山田^太郎=やまだ^たろう", "山田太郎"),
       ("Hong^Gildong=홍^길동", "홍길동"), ("Li^Na=李^娜", "李娜")]


@pytest.fixture(params=["1", "0"], ids=["memo", "full"])
def both_paths(request, monkeypatch):
    monkeypatch.setenv("GANTRY_BYTE_PASS", request.param)


def _save(folder: Path, name: str, ds: Dataset) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    ds.save_as(folder / name, enforce_file_format=True)


def _run(tmp_path: Path, profile: str = "ps3.15/basic"):
    with Session("memory://", profile=profile, workers=1) as session:
        _, export = session.deidentify(tmp_path / "in", tmp_path / "out")
        return export, session.refused()


def _no_dummy(value: str) -> bool:
    return value not in ("", "***")


def test_cjk_names_in_free_text_and_sr_text_are_cleaned(tmp_path, both_paths):
    for i, (name, written) in enumerate(CJK):
        ds = make_instance(patient=i, instance=i)
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.PatientName = name
        ds.StudyDescription = f"CT chest {written}"
        ds.ProtocolName = f"{written}様 protocol"
        item = Dataset()
        item.RelationshipType, item.ValueType = "CONTAINS", "TEXT"
        concept = Dataset()
        concept.CodeValue, concept.CodingSchemeDesignator = "121106", "DCM"
        concept.CodeMeaning = "Comment"
        item.ConceptNameCodeSequence = Sequence([concept])
        item.TextValue = f"compared with the prior of {written}"
        ds.ContentSequence = Sequence([item])
        _save(tmp_path / "in", f"{i}.dcm", ds)
    export, refused = _run(tmp_path, "ps3.15/research")
    assert export.done == len(CJK), (export.errors, refused)
    for path in (tmp_path / "out").rglob("*.dcm"):
        raw = path.read_bytes()
        for _, written in CJK:
            assert written.encode("utf-8") not in raw
        ds = dcmread(path)
        assert str(ds.StudyDescription).startswith("CT chest")  # the rest is kept


def test_cjk_name_variants_cover_every_group():
    ds = make_instance()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = "Yamada^Taro=山田^太郎=やまだ^たろう"
    found = collect_identifiers(ds, patient_key(ds))
    for value in ("山田太郎", "太郎山田", "山田", "太郎", "やまだたろう", "taro yamada"):
        assert value in found, value
    assert found.matches("所見: 山田太郎様") == ["山田太郎"]  # no word boundaries needed


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-8", "latin-1"])
def test_text_in_an_unknown_binary_value_is_found_or_removed(tmp_path, both_paths, encoding):
    ds = make_instance(patient=4)
    family = str(ds.PatientName).split("^")[0]
    ds.add_new(0x00143080, "OB", f"{family} {ds.PatientID}".encode(encoding))  # not in E.1-1
    _save(tmp_path / "in", "a.dcm", ds)
    export, refused = _run(tmp_path)  # kept (unknown_attributes: keep): refused, named
    assert export.refused == 1 and "BadPixelImage" in refused[0][1]
    (tmp_path / "remove.yaml").write_text("extends: ps3.15/basic\nunknown_attributes: remove\n")
    export, _ = _run(tmp_path, str(tmp_path / "remove.yaml"))
    assert export.done == 1
    written = dcmread(next((tmp_path / "out").rglob("*.dcm")))
    assert 0x00143080 not in written and "PixelData" in written  # an image keeps its pixels


def test_a_public_tag_the_standard_does_not_define_is_removed(tmp_path, both_paths):
    """(0004,1010) and (0020,9999) are in no edition of the data dictionary: neither
    standard nor private attributes, nothing says what they hold (a byte flipped in a
    private tag's group makes one, which kept another person's name under ``keep``)."""
    from pydicom.datadict import dictionary_has_tag

    assert not dictionary_has_tag(0x00041010) and not dictionary_has_tag(0x00209999)
    ds = make_instance(patient=6)
    ds.add_new(0x00041010, "LO", "Harrowgate^Philomena")  # nobody's identifier in this set
    ds.add_new(0x00209999, "US", 7)
    region = Dataset()  # a sequence the basic profile keeps
    region.CodeValue, region.CodingSchemeDesignator, region.CodeMeaning = "T-D3000", "SRT", "Chest"
    region.add_new(0x00041010, "LO", "Harrowgate")
    ds.AnatomicRegionSequence = Sequence([region])
    _save(tmp_path / "in", "a.dcm", ds)
    export, refused = _run(tmp_path)
    assert export.done == 1, (export.errors, refused)
    path = next((tmp_path / "out").rglob("*.dcm"))
    assert b"Harrowgate" not in path.read_bytes()
    written = dcmread(path)
    assert 0x00041010 not in written and 0x00209999 not in written
    assert 0x00041010 not in written.AnatomicRegionSequence[0]
    assert written.AnatomicRegionSequence[0].CodeValue == "T-D3000"


def test_repeating_groups_are_standard_attributes():
    from gantry.dicom.values import is_standard_tag

    assert is_standard_tag(0x60020022) and is_standard_tag(0x50040010)  # (60xx,0022)...
    assert is_standard_tag(0x00100010) and not is_standard_tag(0x00041010)


def _jpeg_frame(comment: bytes, marker: bytes = b"\xff\xfe") -> bytes:
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((16, 16), 80, dtype=np.uint8)).save(buf, format="JPEG")
    data = buf.getvalue()
    return data[:2] + marker + (len(comment) + 2).to_bytes(2, "big") + comment + data[2:]


def _j2k_frame(comment: bytes) -> bytes:
    siz = b"\xff\x51" + (41).to_bytes(2, "big") + bytes(39)
    com = b"\xff\x64" + (len(comment) + 4).to_bytes(2, "big") + b"\x00\x01" + comment
    return b"\xff\x4f" + siz + com + b"\xff\x90\x00\x0a" + bytes(8) + b"\xff\xd9"


def _encapsulated(frame: bytes, syntax: str, instance: int = 0) -> Dataset:
    ds = make_instance(patient=5, instance=instance, rows=16, cols=16)
    for tag in [e.tag for e in ds if e.tag.group == 0x6000]:
        del ds[tag]
    ds.PixelData = encapsulate([frame])
    ds["PixelData"].VR = "OB"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.file_meta.TransferSyntaxUID = syntax
    return ds


@pytest.mark.parametrize("syntax,frame", [
    (JPEGBaseline8Bit, "jpeg-com"), (JPEGBaseline8Bit, "jpeg-app"), (JPEG2000Lossless, "j2k")])
def test_text_segments_of_compressed_frames_are_refused(tmp_path, both_paths, syntax, frame):
    ds = make_instance(patient=5)
    text = f"{str(ds.PatientName).split('^')[0]} {ds.PatientID}".encode()
    data = {"jpeg-com": lambda: _jpeg_frame(text),
            "jpeg-app": lambda: _jpeg_frame(b"Exif\x00\x00" + text, b"\xff\xe1"),
            "j2k": lambda: _j2k_frame(text)}[frame]()
    assert text.decode() in pixel_text(encapsulate([data]))
    _save(tmp_path / "in", "a.dcm", _encapsulated(data, syntax))
    _save(tmp_path / "in", "b.dcm", _encapsulated(
        _jpeg_frame(b"LEAD Technologies") if frame != "j2k" else _j2k_frame(b"Kakadu"),
        syntax, instance=1))
    export, refused = _run(tmp_path)
    assert export.done == 1 and export.refused == 1, export.errors
    assert "PixelData" in refused[0][1]


def test_the_gate_reads_compressed_frame_text_for_every_patient(tmp_path):
    """The gate itself (not only the audit) reads the segments: another patient's name in a
    JPEG comment is found by the run-wide roster."""
    ds = _encapsulated(_jpeg_frame(b"prior: Harrowgate Philomena"), JPEGBaseline8Bit)
    ds.save_as(tmp_path / "x.dcm", enforce_file_format=True)
    data = (tmp_path / "x.dcm").read_bytes()
    roster = build_roster([("MRN0017Q07919", "Harrowgate^Philomena")])
    leaks = roster_leaks(data, "", roster)
    assert leaks and all("PixelData" in leak.keyword for leak in leaks)
    own = collect_identifiers(make_instance(patient=1))  # Harrowgate's own set
    assert find_leaks(data, "", own)
    native = make_instance(patient=1)
    native.PixelData = b"harrowgate" * 26 + b"\x00" * 252  # numbers, not text
    assert pixel_text(native.PixelData) == ""


def test_kept_icon_image_and_overlays_are_refused_unless_allowed(tmp_path, both_paths):
    ds = make_instance(patient=6)
    icon = Dataset()
    icon.Rows = icon.Columns = 8
    icon.SamplesPerPixel, icon.PhotometricInterpretation = 1, "MONOCHROME2"
    icon.BitsAllocated = icon.BitsStored = 8
    icon.HighBit, icon.PixelRepresentation = 7, 0
    icon.PixelData = bytes(64)
    ds.IconImageSequence = Sequence([icon])
    _save(tmp_path / "in", "icon.dcm", ds)
    _save(tmp_path / "in", "overlay.dcm", make_instance(patient=6, instance=1))  # an overlay
    (tmp_path / "keep.yaml").write_text("extends: ps3.15/basic\noptions: [clean-graphics]\n"
                                        "tags:\n  IconImageSequence: K\n")
    export, refused = _run(tmp_path, str(tmp_path / "keep.yaml"))
    assert export.refused == 2, export.errors
    reasons = " ".join(r for _, r in refused)
    assert "Icon Image Sequence" in reasons and "overlay bitmaps" in reasons
    export, _ = _run(tmp_path)  # the default profile removes both: released
    assert export.done == 2


def test_identifiers_in_written_names_are_refused():
    """The file and folder names about to be written are scanned for the instance's own
    values and for every patient of the run's roster."""
    from gantry.deid.engine import DeidEngine
    from gantry.deid.standalone import instance_context, standalone_run
    from gantry.errors import LeakError
    from gantry.pipeline import encode, gate
    from gantry.profiles import load_profile

    profile = load_profile("ps3.15/basic")
    engine = DeidEngine(profile, standalone_run(profile, bytes(range(32))))
    ds = make_instance(patient=8)
    context = instance_context(ds, engine.run)
    engine.apply(ds, context)
    data, own = encode(ds), context.identifiers
    other = build_roster([("MRN0017Q07919", "Harrowgate^Philomena")])
    gate(data, ["GP-1/2.25.1/2.25.2/2.25.3.dcm"], own, [other])  # clean: no error
    with pytest.raises(LeakError, match="output path"):
        gate(data, [f"{make_instance(patient=8).PatientID}/2.25.1/x.dcm"], own, [other])
    with pytest.raises(LeakError, match="of another patient"):
        gate(data, ["Harrowgate_Philomena/2.25.1/x.dcm"], own, [other])
