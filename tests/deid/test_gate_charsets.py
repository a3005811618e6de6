"""The export gate finds non-ASCII identifiers however they are written: in the data set's own
character set (GB18030, GBK, ISO 2022 IR 58/87/149 with their escape sequences, ISO_IR 144,
ISO_IR 192), in another letter case, in text elements (decoded) and in binary values (the
value bytes read in every encoding a value can be written in)."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest
from pydicom import dcmread

from gantry import Session
from gantry.deid.gate import find_leaks
from gantry.deid.identifiers import collect_identifiers
from gantry.deid.roster import build_roster, roster_leaks
from gantry.deid.vr import binary_text
from gantry.testing.factory import make_instance, new_file_dataset

#: (SpecificCharacterSet, PatientName, the name as written in free text, its bytes there)
CASES = [
    ("GB18030", "Wang^XiaoDong=王^小東", "王小東", "王小東".encode("gb18030")),
    ("GBK", "Li^Na=李^娜", "李娜", "李娜".encode("gbk")),
    ("\\ISO 2022 IR 87", "Yamada^Taro=山田^太郎", "山田太郎",
     b"\x1b$B" + "山田太郎".encode("iso2022_jp")[3:-3] + b"\x1b(B"),
    ("\\ISO 2022 IR 149", "Hong^Gildong=홍^길동", "홍길동",
     b"\x1b$)C" + "홍길동".encode("euc_kr")),
    ("\\ISO 2022 IR 58", "Wang^XiaoDong=王^小东", "王小东",
     b"\x1b$)A" + "王小东".encode("gb2312")),
    ("ISO_IR 192", "Wang^XiaoDong=王^小東", "王小東", "王小東".encode()),
    ("ISO_IR 144", "Ivanov^Ivan=Иванов^Иван", "Иванов", "ИВАНОВ".encode("iso8859_5")),
    ("ISO_IR 100", "Müller^Jörg", "MÜLLER", "MÜLLER".encode("latin-1")),
    ("ISO_IR 192", "Öztürk^Ayşe", "Öztürk", "Öztürk".encode()),
]
IDS = [f"{c[0].strip(chr(92))}-{c[2]}" for c in CASES]


def _dataset(charset: str, uid: str):
    ds = new_file_dataset("1.2.840.10008.5.1.4.1.1.7", uid)
    ds.SpecificCharacterSet = charset.split("\\") if "\\" in charset else charset
    return ds


def _bytes(ds) -> bytes:
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@pytest.mark.parametrize("charset,name,written,encoded", CASES, ids=IDS)
def test_the_gate_reads_every_character_set(charset, name, written, encoded):
    original = _dataset(charset, "2.25.1001")
    original.PatientName, original.PatientID = name, "PID12345678"
    own = collect_identifiers(original)
    roster = build_roster([("PID12345678", name)])
    # a text element holding the name in the data set's own encoding
    text = _dataset(charset, "2.25.1002")
    text.add_new(0x00081030, "LO", b"CT chest " + encoded + b" " * (len(encoded) % 2))
    assert written.lower() in str(dcmread(BytesIO(_bytes(text))).StudyDescription).lower()
    # an unknown binary value holding the same bytes
    binary = _dataset(charset, "2.25.1003")
    binary.add_new(0x00143080, "OB", encoded + b"\x00" * (len(encoded) % 2))
    clean = _dataset(charset, "2.25.1004")
    clean.StudyDescription = "CT chest"
    for ds, keyword in ((text, "StudyDescription"), (binary, "BadPixelImage")):
        data = _bytes(ds)
        leaks = find_leaks(data, "", own)
        assert {leak.keyword for leak in leaks} == {keyword}, leaks
        assert {leak.keyword for leak in roster_leaks(data, "", roster)} == {keyword}
    assert find_leaks(_bytes(clean), "", own) == []
    assert roster_leaks(_bytes(clean), "", roster) == []


def test_binary_text_reads_the_data_sets_character_set():
    value = b"\x1b$B" + "山田太郎".encode("iso2022_jp")[3:-3] + b"\x1b(B"
    assert "山田太郎" not in binary_text(value)
    assert "山田太郎" in binary_text(value, ["iso8859", "iso2022_jp"])


def test_names_in_unspaced_scripts_need_no_boundaries_in_the_roster():
    roster = build_roster([("PID12345678", "Wang^XiaoDong=王^小東")])
    assert roster.matches("所見王小東様") == ["王小東"]
    assert roster.matches("x王小東") == ["王小東"]


@pytest.mark.parametrize("byte_pass", ["1", "0"], ids=["memo", "full"])
@pytest.mark.parametrize("charset,name,written,encoded", CASES[:5], ids=IDS[:5])
def test_a_binary_value_in_the_own_character_set_is_refused(tmp_path: Path, monkeypatch,
                                                            byte_pass, charset, name,
                                                            written, encoded):
    """Through a real export: the name in the data set's own multi-byte encoding inside an
    unknown binary element (kept: ``unknown_attributes: keep``) withholds the instance; the
    same name in free text is cleaned by the research profile and the file written (by
    the memoized pass and by the full pipeline alike)."""
    monkeypatch.setenv("GANTRY_BYTE_PASS", byte_pass)
    ds = make_instance(patient=3)
    ds.SpecificCharacterSet = charset.split("\\") if "\\" in charset else charset
    ds.PatientName = name
    ds.StudyDescription = f"CT chest {written}"
    (tmp_path / "in").mkdir()
    ds.save_as(tmp_path / "in" / "text.dcm", enforce_file_format=True)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "2.25.77001"
    ds.add_new(0x00143080, "OB", encoded + b"\x00" * (len(encoded) % 2))
    ds.save_as(tmp_path / "in" / "binary.dcm", enforce_file_format=True)
    with Session("memory://", profile="ps3.15/research", workers=1) as session:
        _, export = session.deidentify(tmp_path / "in", tmp_path / "out")
        refused = session.refused()
    assert export.done == 1 and export.refused == 1, (export.errors, refused)
    assert "BadPixelImage" in refused[0][1]
    written_file = next((tmp_path / "out").rglob("*.dcm"))
    assert encoded not in written_file.read_bytes()
    assert str(dcmread(written_file).StudyDescription).startswith("CT chest")
