"""An output of the ``nifti`` or ``bids`` exporter taken as input (``gantry deidentify OUT
OUT2``): its volumes, sidecars, ``.bval``/``.bvec`` and BIDS dataset files are Gantry's own
files (name and content), skipped as an index, not rejected as inputs that are not DICOM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from gantry_nifti.own_files import own_files
from gantry_nifti.synthetic import mr_study

from gantry import Session
from gantry.api import OwnFile

pytest.importorskip("gantry_sqlite", reason="one-shot runs keep a SQLite working store")

SECRET = bytes(range(32))


def _cli(*args: str):
    from gantry.cli import _add_plugin_commands, cli

    _add_plugin_commands()
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, prog_name="gantry")


def _kind(name: str, data: bytes) -> OwnFile | None:
    from gantry.ownfiles import own_file_kind

    return own_file_kind(list(own_files()), name, lambda: data[:4096])


@pytest.mark.parametrize("fmt", ["nifti", "bids"])
def test_an_export_taken_as_input_is_skipped_as_gantrys_own(tmp_path: Path, fmt: str):
    src, out = tmp_path / "src", tmp_path / "out"
    mr_study(src, series=5, slices=8, rows=8, cols=8)  # dwi: .bval/.bvec too
    with Session("memory://", secret=SECRET) as session:
        session.deidentify(str(src), str(out), format=fmt)
    written = {p.name for p in out.rglob("*") if p.is_file()}
    assert {".bval", ".bvec", ".json", ".gz"} <= {Path(n).suffix for n in written}
    if fmt == "bids":
        assert {"participants.tsv", "participants.json", "dataset_description.json",
                "README", ".bidsignore"} <= written
        assert any(n.endswith("_scans.tsv") for n in written)
    run = _cli("deidentify", str(out), str(tmp_path / "out2"), "--workers", "1", "--json")
    assert json.loads(run.stdout)["outcome"]["rejected"] == 0, run.output
    listed = json.loads(_cli("status", str(tmp_path / "out2"), "--rejected", "--json").stdout)
    skipped = {Path(r["source"]).name for r in listed["rejected_inputs"]
               if r["stage"] == "index" and r["reason"].startswith("Gantry's own ")}
    assert skipped == written


def test_the_kinds_need_their_content():
    long_sidecar = json.dumps({"Modality": "MR", "EchoTime": 0.03,
                               "SliceTiming": [0.0125 * i for i in range(400)],
                               "ConversionSoftware": "gantry-nifti"}, indent=2).encode()
    assert len(long_sidecar) > 4096 and _kind("sub-1_bold.json", long_sidecar)
    # dcm2niix's sidecar, a JSON of another writer, a volume dcm2niix wrote (descrip set)
    theirs = b'{\n\t"Modality": "MR",\n\t"ConversionSoftware": "dcm2niix"\n}\n'
    assert _kind("1.json", theirs) is None
    assert _kind("x.json", json.dumps({"Modality": "MR"}, indent=2).encode()) is None
    header = bytearray(352)
    header[:4], header[344:348] = (348).to_bytes(4, "little"), b"n+1\x00"
    assert _kind("a.nii", bytes(header))
    header[148:160] = b"TE=30;Time=1"
    assert _kind("a.nii", bytes(header)) is None
    assert _kind("a.bval", b"0 1000 1000\n") and _kind("a.bval", b"b-values\n") is None
    assert _kind("README", b"My notes\n") is None
    assert _kind("participants.tsv", b"participant_id\tname\n") is None
