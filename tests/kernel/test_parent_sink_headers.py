"""Exporters that run in the parent (``runs_in="parent"``: parquet, ...) get each instance's
redacted header from its worker, encoded in the instance's own transfer syntax. An input
without a file meta group (a bare implicit VR little endian data set, as many older
tools write) has no Transfer Syntax UID to encode the header in: its encoding is the one it
was read in, as for the file the DICOM exporter writes, not a failure."""

from __future__ import annotations

from pathlib import Path

from pydicom import dcmread, dcmwrite

from gantry import Session
from gantry.pipeline import encode, header_only
from gantry.testing.factory import make_instance

SECRET = bytes(range(32))

HOOKS = '''
from gantry import hookimpl
from gantry.api import Exporter, ExportRecord

SEEN = []


class HeaderSink:
    def __init__(self, target, run):
        self.destination = target.to

    def target_path(self, dataset, context):
        return ""

    def write(self, relpath, data, dataset, context):
        uid = context.instance.sop_instance_uid
        return ExportRecord(uid, str(dataset.SOPInstanceUID), self.destination,
                            str(dataset.Modality), 0, "0", format="headers")

    def close(self):
        pass


@hookimpl
def gantry_exporters():
    yield Exporter("headers", factory=HeaderSink, runs_in="parent")
'''


def _bare(path: Path) -> None:
    """An implicit VR little endian data set written without preamble or file meta."""
    ds = make_instance(patient=3)
    del ds.file_meta
    dcmwrite(path, ds, implicit_vr=True, little_endian=True)


def test_header_of_a_file_without_meta_encodes_in_its_own_encoding(tmp_path: Path) -> None:
    _bare(tmp_path / "bare.dcm")
    ds = dcmread(tmp_path / "bare.dcm", force=True)
    assert "TransferSyntaxUID" not in getattr(ds, "file_meta", {})
    header = dcmread(__import__("io").BytesIO(encode(header_only(ds))))
    assert header.SOPInstanceUID == ds.SOPInstanceUID and "PixelData" not in header
    assert header.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2"


def test_parent_exporter_takes_inputs_without_file_meta(tmp_path: Path) -> None:
    (tmp_path / "header_hooks.py").write_text(HOOKS)
    profile = tmp_path / "p.yaml"
    profile.write_text("extends: ps3.15/basic\nlocal_hooks: [header_hooks.py]\n")
    src = tmp_path / "src"
    src.mkdir()
    _bare(src / "bare.dcm")
    make_instance(patient=3, instance=1).save_as(src / "full.dcm", enforce_file_format=True)
    with Session("memory://", profile=str(profile), secret=SECRET, workers=1) as session:
        _ingest, export = session.deidentify(str(src), str(tmp_path / "out"), format="headers")
        assert export.failed == 0, export.errors
        assert export.done == 2
