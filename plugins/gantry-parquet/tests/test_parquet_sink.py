"""The parquet sink on its own: typed columns, streaming, schema unification, partitions,
resumed exports and refusals."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.dataset as pds
import pyarrow.parquet as pq
import pytest
from gantry_parquet.sink import MARKER, ParquetSink

from gantry.components import ExportTarget
from gantry.errors import ExportError
from gantry.testing.factory import make_instance


def fake_run(run_id="run1", settings=None):
    return SimpleNamespace(run_id=run_id, profile=SimpleNamespace(name="ps3.15/basic"),
                           settings=lambda section: dict(settings or {}))


def feed(sink, datasets):
    records = []
    for ds in datasets:
        context = SimpleNamespace(instance=SimpleNamespace(sop_instance_uid="orig-" +
                                                           ds.SOPInstanceUID))
        records.append(sink.write(sink.target_path(ds, context), b"", ds, context))
        assert len(sink._rows) < sink.options.batch_size  # never more than a batch in memory
    sink.close()
    return records


def cohort(n, patient_count=3, **changes):
    out = []
    for i in range(n):
        ds = make_instance(patient=i % patient_count, series=i % 2, instance=i)
        for keyword, make in changes.items():
            setattr(ds, keyword, make(i))
        out.append(ds)
    return out


def test_one_typed_row_per_instance(tmp_path):
    dest = tmp_path / "table.parquet"
    datasets = cohort(7)
    datasets[5].ContrastBolusAgent = "IODINE"  # a keyword appearing late: schema unifies
    records = feed(ParquetSink(ExportTarget(str(dest), "parquet", {"batch_size": 2}),
                               fake_run()), datasets)
    table = pq.read_table(dest)
    assert table.num_rows == 7
    schema = table.schema
    assert schema.field("SliceThickness").type == pa.float64()
    assert schema.field("SeriesNumber").type == pa.int64()
    assert schema.field("StudyDate").type == pa.date32()
    assert schema.field("ImageType").type == pa.list_(pa.string())
    assert schema.field("PixelSpacing").type == pa.list_(pa.float64())
    assert schema.field("OtherPatientIDsSequence").type == pa.string()
    assert "PixelData" not in schema.names
    assert schema.names[:3] == ["PatientID", "PatientName", "StudyInstanceUID"]
    rows = table.to_pylist()
    assert rows[0]["StudyDate"] == dt.date(2019, 3, 14)
    assert rows[0]["ImageType"] == ["ORIGINAL", "PRIMARY", "AXIAL"]
    assert json.loads(rows[0]["RequestAttributesSequence"])[0]["00080050"]["vr"] == "SH"
    assert [r["ContrastBolusAgent"] for r in rows].count("IODINE") == 1
    assert {r["PatientName"] for r in rows} == {str(d.PatientName) for d in datasets}
    # records: one per instance, keyed by the original UID, the row's digest as sha256
    assert [r.sop_instance_uid for r in records] == ["orig-" + d.SOPInstanceUID for d in datasets]
    assert all(r.format == "parquet" and len(r.sha256) == 64 for r in records)
    assert len({r.sha256 for r in records}) == 7
    meta = json.loads(pq.read_schema(dest).metadata[b"gantry"])
    assert meta["plugin"] == "gantry-parquet" and meta["profile"] == "ps3.15/basic"
    assert not list(tmp_path.glob(".table.parquet.*"))  # staging removed


@pytest.mark.filterwarnings("ignore:Invalid value for VR CS")
def test_partitioned_folder_is_hive_and_safe(tmp_path):
    dest = tmp_path / "by-modality"
    modalities = ["CT", "MR", "../../etc", ""]
    datasets = cohort(8, Modality=lambda i: modalities[i % 4])
    feed(ParquetSink(ExportTarget(str(dest), "parquet", {"partition_by": ["Modality"],
                                                         "batch_size": 3}), fake_run()),
         datasets)
    folders = sorted(p.name for p in dest.iterdir() if p.is_dir())
    assert folders == ["Modality=..%2F..%2Fetc", "Modality=CT", "Modality=MR",
                       "Modality=__HIVE_DEFAULT_PARTITION__"]
    assert all(p.resolve().is_relative_to(dest) for p in dest.rglob("*"))
    table = pds.dataset(dest, format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 8
    counts = {m: table.column("Modality").to_pylist().count(m) for m in ("CT", "MR")}
    assert counts == {"CT": 2, "MR": 2}
    assert (dest / MARKER).is_file()


def test_resumed_export_keeps_earlier_rows_and_replaces_repeats(tmp_path):
    dest = tmp_path / "t.parquet"
    first = cohort(4)
    feed(ParquetSink(ExportTarget(str(dest), "parquet"), fake_run("a")), first)
    again = [make_instance(patient=9, instance=1), first[0]]
    again[1].SeriesDescription = "CHANGED"
    feed(ParquetSink(ExportTarget(str(dest), "parquet"), fake_run("b")), again)
    rows = pq.read_table(dest).to_pylist()
    assert len(rows) == 5
    assert [r["SeriesDescription"] for r in rows
            if r["SOPInstanceUID"] == first[0].SOPInstanceUID] == ["CHANGED"]


def test_resumed_partitioned_export_merges(tmp_path):
    dest = tmp_path / "parts"
    options = {"partition_by": "Modality"}
    feed(ParquetSink(ExportTarget(str(dest), "parquet", options), fake_run("a")), cohort(3))
    feed(ParquetSink(ExportTarget(str(dest), "parquet", options), fake_run("b")),
         cohort(2, Modality=lambda i: "MR", InstanceNumber=lambda i: 100 + i,
                SOPInstanceUID=lambda i: f"2.25.{i}"))
    table = pds.dataset(dest, format="parquet", partitioning="hive").to_table()
    assert sorted(table.column("Modality").to_pylist()) == ["CT"] * 3 + ["MR"] * 2


def test_refuses_to_overwrite_foreign_outputs(tmp_path):
    foreign = tmp_path / "mine.parquet"
    pq.write_table(pa.table({"x": [1]}), foreign)
    with pytest.raises(ExportError, match="not written by gantry-parquet"):
        ParquetSink(ExportTarget(str(foreign), "parquet"), fake_run())
    folder = tmp_path / "dicom-out"
    folder.mkdir()
    (folder / "a.dcm").write_bytes(b"x")
    with pytest.raises(ExportError, match="not empty"):
        ParquetSink(ExportTarget(str(folder), "parquet"), fake_run())
    with pytest.raises(ExportError, match="partitioned table is a folder"):
        ParquetSink(ExportTarget(str(tmp_path / "x.parquet"), "parquet",
                                 {"partition_by": ["Modality"]}), fake_run())


@pytest.mark.parametrize(("options", "message"), [
    ({"partition_by": ["Modalty"]}, "unknown DICOM keyword 'Modalty'"),
    ({"partition_by": ["ImageType"]}, "ImageType is not a single-valued"),
    ({"batch_size": 0}, "batch_size"),
    ({"compression": "zip"}, "compression"),
    ({"colour": "blue"}, "colour"),
])
def test_bad_options_name_the_field(tmp_path, options, message):
    with pytest.raises(ExportError, match=message):
        ParquetSink(ExportTarget(str(tmp_path / "t"), "parquet", options), fake_run())


def test_profile_settings_apply_and_target_options_win(tmp_path):
    sink = ParquetSink(ExportTarget(str(tmp_path / "t"), "parquet", {"batch_size": 7}),
                       fake_run(settings={"batch_size": 3, "partition_by": ["Modality"]}))
    assert sink.options.batch_size == 7 and sink.options.partition_by == ["Modality"]


def test_streaming_writes_parts_of_batch_size(tmp_path):
    dest = tmp_path / "t.parquet"
    sink = ParquetSink(ExportTarget(str(dest), "parquet", {"batch_size": 5}), fake_run())
    for ds in cohort(12):
        sink.write("", b"", ds, SimpleNamespace(instance=SimpleNamespace(sop_instance_uid="o")))
    assert len(sink._parts) == 2 and len(sink._rows) == 2
    sink.close()
    assert pq.ParquetFile(dest).metadata.num_rows == 12


def test_empty_export_writes_an_empty_table(tmp_path):
    dest = tmp_path / "none.parquet"
    ParquetSink(ExportTarget(str(dest), "parquet"), fake_run()).close()
    assert pq.read_table(dest).num_rows == 0


def test_plain_folder_destination_holds_one_file(tmp_path):
    dest = tmp_path / "folder"
    feed(ParquetSink(ExportTarget(str(dest), "parquet", {"batch_size": 2}), fake_run()),
         cohort(5))
    assert sorted(p.name for p in dest.iterdir()) == [MARKER, "part-0.parquet"]
    assert pds.dataset(dest, format="parquet").count_rows() == 5
    (dest / "notes.txt").write_text("kept")  # files beside the table survive a re-export
    feed(ParquetSink(ExportTarget(str(dest), "parquet"), fake_run("again")),
         [make_instance(patient=7, instance=9)])
    assert pds.dataset(sorted(dest.rglob("*.parquet")), format="parquet").count_rows() == 6
    assert (dest / "notes.txt").read_text() == "kept"
