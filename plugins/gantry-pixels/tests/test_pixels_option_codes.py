"""Clean Pixel Data's code (113101) is written only on the instances a pixel redactor
processed, never on every output because the profile names the option."""

from __future__ import annotations

from pathlib import Path

from gantry_pixels.testing import make_text_image
from pydicom import dcmread

from gantry import Session

PROFILE = """extends: ps3.15/basic
options: [clean-pixel-data]
redact: [ps315-tags, pixel-zones]
burned_in: allow
plugins:
  gantry-pixels:
    zones:
      - match: {Manufacturer: "ZONED*"}
        boxes: [[0, 0, 64, 16]]
"""


def test_code_113101_only_where_the_zones_matched(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    for i, maker in enumerate(("ZONED MEDICAL", "OTHER MEDICAL")):
        ds = make_text_image([(2, 2, "Quillfeather", 10)], rows=64, cols=64, seed=i,
                             manufacturer=maker, modality="CT", patient_id=f"MRN{i}4471")
        ds.save_as(tmp_path / "in" / f"{i}.dcm", enforce_file_format=True)
    profile = tmp_path / "p.yaml"
    profile.write_text(PROFILE)
    with Session("memory://", profile=str(profile), workers=1) as session:
        summaries = session.deidentify(tmp_path / "in", tmp_path / "out")
    assert summaries[1].done == 2, summaries[1].errors
    codes = {}
    for path in (tmp_path / "out").rglob("*.dcm"):
        ds = dcmread(path)
        codes[str(ds.Manufacturer)] = [str(i.CodeValue)
                                       for i in ds.DeidentificationMethodCodeSequence]
    assert codes["ZONED MEDICAL"].count("113101") == 1
    assert "113101" not in codes["OTHER MEDICAL"]
