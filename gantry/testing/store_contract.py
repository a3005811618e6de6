"""The store contract: the test suite every :class:`gantry.protocols.Store` must pass.

Reuse it from any backend's tests by subclassing :class:`StoreContract` and overriding the
``store`` fixture (and :meth:`StoreContract.reopen` for a persistent store)::

    from gantry.testing.store_contract import StoreContract

    class TestPostgresStore(StoreContract):
        persistent = True

        @pytest.fixture
        def store(self, tmp_path):
            s = PostgresStore(url)
            yield s
            s.close()

        def reopen(self, store):
            store.close()
            return PostgresStore(store.url)

Sources used here are real files under ``tmp_path`` so that a store may learn their size and
modification time from the file system as well as from the instance.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydicom import Dataset
from pydicom.sequence import Sequence

from gantry.dicom.values import plain_value
from gantry.model import Instance, key_attributes
from gantry.protocols import PixelMeta, Store, StoreCounts
from gantry.records import AuditEvent, Change, Decision, ExportRecord, Finding, Rejection
from gantry.testing.factory import make_instance

PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


# --------------------------------------------------------------------------- helpers
class _Navigator:
    """A store and the plain-file opener: what a session gives the records it hands out."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def bind_instance(self, instance: Instance) -> Instance:
        return instance.bind(lambda source: open(source, "rb"))


def instance_from_header(ds: Dataset, source: str, size: int = -1) -> Instance:
    """An :class:`Instance` record for a header, as an ingestor would build it."""
    tsyntax = ""
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        tsyntax = str(meta.TransferSyntaxUID)
    return Instance(
        sop_instance_uid=str(ds.SOPInstanceUID), sop_class_uid=str(ds.get("SOPClassUID", "")),
        series_instance_uid=str(ds.SeriesInstanceUID),
        study_instance_uid=str(ds.StudyInstanceUID), patient_id=str(ds.get("PatientID", "")),
        source=source, size=size, transfer_syntax=tsyntax,
        patient_name=str(ds.get("PatientName", "")), attrs=key_attributes(ds))


def rich_header(**kwargs: Any) -> Dataset:
    """A header exercising every storage corner: private tags (LO, DS, OB, UN, SL, SS, UL, FL),
    nested and empty sequences, an empty item, multi-values, a UTF-8 person name with three
    component groups, AT, FD, empty values and a backslash inside an LT."""
    ds = make_instance(**kwargs)
    del ds.PixelData
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = "Müller^Jürgen=山田^太郎=やまだ^たろう"
    ds.AcquisitionMatrix = [0, 256, 256, 0]
    ds.add_new(0x00189087, "FD", 1000.123456789)
    ds.add_new(0x00209165, "AT", [0x00200032, 0x00180050])
    ds.add_new(0x00280009, "AT", 0x00181063)
    ds.ImageComments = "left\\right both ok"
    ds.AcquisitionNumber = None
    ds.ReferringPhysicianName = ""
    ds.SliceThickness = "1.250"
    ds.ReferencedImageSequence = Sequence([Dataset()])
    ds.ProcedureCodeSequence = Sequence([])
    block = ds.private_block(0x0009, "ACME_PHI", create=True)
    block.add_new(0x12, "FL", 3.25)
    block.add_new(0x13, "OB", b"\x00\xff\x10\x80")
    block.add_new(0x14, "SL", [-5, 7])
    block.add_new(0x15, "SS", -3)
    block.add_new(0x16, "UL", 4000000000)
    csa = ds.private_block(0x0029, "ACME UN BLOB", create=True)
    csa.add_new(0x10, "UN", b"\x01\x02\x03\x04")
    ref = ds.ReferencedPerformedProcedureStepSequence[0]  # a private block inside an item
    ref.add_new(0x00430010, "LO", "ACME_NESTED")
    ref.add_new(0x00431001, "LO", "nested private")
    return ds


def assert_same_header(expected: Dataset, got: Dataset, path: str = "") -> None:
    """Assert two headers hold the same elements: tags, VRs and values, sequences included
    (pixel data ignored)."""
    want = {e.tag: e for e in expected if e.keyword not in PIXEL_KEYWORDS}
    have = {e.tag: e for e in got if e.keyword not in PIXEL_KEYWORDS}
    assert sorted(want) == sorted(have), (
        f"{path or 'top level'}: missing {sorted(set(want) - set(have))}, "
        f"extra {sorted(set(have) - set(want))}")
    for tag, elem in want.items():
        other = have[tag]
        where = f"{path}{tag}"
        assert elem.VR == other.VR, f"{where}: VR {elem.VR} became {other.VR}"
        if elem.VR == "SQ":
            assert len(elem.value) == len(other.value), f"{where}: item count differs"
            for i, (a, b) in enumerate(zip(elem.value, other.value, strict=True)):
                assert_same_header(a, b, f"{where}[{i}].")
            continue
        a, b = elem.value, other.value
        if isinstance(a, bytes) or isinstance(b, bytes):
            assert a == b, f"{where}: bytes differ"
        else:
            assert _norm(a) == _norm(b), f"{where}: {a!r} became {b!r}"


def _norm(value: Any) -> Any:
    value = plain_value(value)
    if value == "":
        return None
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


# --------------------------------------------------------------------------- the suite
class StoreContract:
    """Behaviour every store backend must show. Override the ``store`` fixture."""

    #: Set to ``True`` and override :meth:`reopen` for stores that survive a close.
    persistent: bool = False

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        """The store under test (override in the backend's test class)."""
        raise NotImplementedError("override the 'store' fixture in your StoreContract subclass")

    def reopen(self, store: Store) -> Store:
        """Close ``store`` and open it again from its URL (persistent stores only)."""
        pytest.skip("not a persistent store")

    # -- helpers ------------------------------------------------------------------------------
    @pytest.fixture
    def files(self, tmp_path: Path) -> Any:
        """Write a real source file for an instance and return ``(instance, header)``."""
        counter = iter(range(10**6))

        def make(ds: Dataset | None = None, **kwargs: Any) -> tuple[Instance, Dataset]:
            ds = ds if ds is not None else make_instance(**kwargs)
            path = tmp_path / "src" / f"f{next(counter):05d}.dcm"
            path.parent.mkdir(exist_ok=True)
            ds.save_as(path, enforce_file_format=True)
            return instance_from_header(ds, str(path), path.stat().st_size), ds

        return make

    def _cohort(self, store: Store, files: Any, patients: int = 2, series: int = 2,
                instances: int = 3) -> list[Instance]:
        added = []
        for p in range(patients):
            for se in range(series):
                for i in range(instances):
                    inst, ds = files(patient=p, series=se, instance=i)
                    assert store.add_instance(inst, ds) == "added"
                    added.append(inst)
        return added

    # -- protocol ------------------------------------------------------------------------------
    def test_satisfies_the_store_protocol(self, store: Store) -> None:
        assert isinstance(store, Store)
        assert isinstance(store.url, str) and "://" in store.url

    def test_empty_store_counts_zero(self, store: Store) -> None:
        assert store.counts() == StoreCounts(0, 0, 0, 0, 0, 0)
        assert list(store.iter_instances()) == []
        assert store.get_instance("1.2.3") is None
        assert store.get_header("1.2.3") is None
        assert store.get_status("1.2.3") is None
        assert store.get_pixels("nothing") is None
        assert store.exported_uids("/out") == set()

    # -- ingest ---------------------------------------------------------------------------------
    def test_add_then_same_again_is_duplicate(self, store: Store, files: Any) -> None:
        inst, ds = files()
        assert store.add_instance(inst, ds) == "added"
        assert store.add_instance(inst, ds) == "duplicate"
        assert store.counts().instances == 1
        assert list(store.iter_conflicts()) == []

    def test_same_uid_other_file_same_content_is_duplicate(self, store: Store,
                                                          files: Any) -> None:
        first, ds = files()
        second, _ = files(ds)  # the same bytes written to another path
        assert store.add_instance(first, ds) == "added"
        assert store.add_instance(second, ds) == "duplicate"
        assert store.counts().instances == 1

    def test_same_uid_other_header_is_conflict_and_first_kept(self, store: Store,
                                                             files: Any) -> None:
        first, ds = files()
        changed = make_instance()
        changed.SeriesDescription = "SOMETHING ELSE"
        second, changed = files(changed)
        assert store.add_instance(first, ds) == "added"
        assert store.add_instance(second, changed) == "conflict"
        assert store.get_instance(first.sop_instance_uid).source == first.source
        assert store.get_header(first.sop_instance_uid).SeriesDescription == "AXIAL 1"
        assert list(store.iter_conflicts()) == [
            (first.sop_instance_uid, first.source, second.source)]
        counts = store.counts()
        assert (counts.instances, counts.conflicts) == (1, 1)

    def test_same_uid_same_header_other_size_is_conflict(self, store: Store,
                                                        files: Any) -> None:
        first, ds = files()
        second = dataclasses.replace(first, source=first.source + ".copy",
                                     size=first.size + 10)
        assert store.add_instance(first, ds) == "added"
        assert store.add_instance(second, ds) == "conflict"

    def test_pixels_are_not_indexed_with_the_header(self, store: Store, files: Any) -> None:
        inst, ds = files()
        assert "PixelData" in ds
        store.add_instance(inst, ds)
        assert "PixelData" not in store.get_header(inst.sop_instance_uid)

    def test_rejections_are_kept_with_reasons(self, store: Store, tmp_path: Path) -> None:
        bad = tmp_path / "notes.txt"
        bad.write_text("not dicom")
        store.add_rejected(Rejection(str(bad), "not a DICOM file (no DICM preamble)"))
        store.add_rejected(Rejection("zip://a.zip!x", "unreadable", stage="ingest"))
        assert list(store.iter_rejected()) == [
            Rejection(str(bad), "not a DICOM file (no DICM preamble)"),
            Rejection("zip://a.zip!x", "unreadable", stage="ingest")]
        assert store.counts().rejected == 2
        st = bad.stat()
        assert store.is_source_done(str(bad), st.st_size, st.st_mtime)

    def test_is_source_done_matches_size_and_mtime(self, store: Store, files: Any) -> None:
        inst, ds = files()
        st = Path(inst.source).stat()
        assert not store.is_source_done(inst.source, st.st_size, st.st_mtime)
        store.add_instance(inst, ds)
        assert store.is_source_done(inst.source, st.st_size, st.st_mtime)
        assert not store.is_source_done(inst.source, st.st_size + 1, st.st_mtime)
        assert not store.is_source_done(inst.source, st.st_size, st.st_mtime + 60)
        assert not store.is_source_done(inst.source + "x", st.st_size, st.st_mtime)

    def test_get_instance_round_trips_every_field(self, store: Store, files: Any) -> None:
        inst, ds = files(patient=3, series=1, instance=2)
        store.add_instance(inst, ds)
        got = store.get_instance(inst.sop_instance_uid)
        assert got is not None
        for f in ("sop_instance_uid", "sop_class_uid", "series_instance_uid",
                  "study_instance_uid", "patient_id", "source", "size", "transfer_syntax",
                  "patient_name"):
            assert getattr(got, f) == getattr(inst, f), f
        assert got.attrs == inst.attrs
        assert got.modality == "CT"

    def test_header_round_trip_keeps_private_tags_sequences_and_vrs(self, store: Store,
                                                                    files: Any) -> None:
        ds = rich_header(patient=4)
        inst, ds = files(ds)
        store.add_instance(inst, ds)
        got = store.get_header(inst.sop_instance_uid)
        assert got is not None
        assert_same_header(ds, got)
        assert str(got.PatientName) == "Müller^Jürgen=山田^太郎=やまだ^たろう"
        block = got.private_block(0x0009, "ACME_PHI")
        assert block[0x11].value == ds.PatientID and block[0x12].VR == "FL"
        assert got[0x00291010].VR == "UN"
        seq = got.ReferringPhysicianIdentificationSequence[0].PersonIdentificationCodeSequence
        assert seq[0].CodeValue == ds.ReferringPhysicianIdentificationSequence[0] \
            .PersonIdentificationCodeSequence[0].CodeValue
        assert len(got.ReferencedImageSequence) == 1 and len(got.ReferencedImageSequence[0]) == 0
        assert len(got.ProcedureCodeSequence) == 0
        assert str(got.SliceThickness) == "1.250"

    def test_header_keeps_values_pydicom_cannot_convert(self, store: Store, files: Any) -> None:
        from pydicom.dataelem import DataElement

        ds = make_instance()
        broken = DataElement(0x00280008, "IS", None)
        broken._value = "1A"  # as pydicom keeps it when reading a broken file
        ds.add(broken)
        inst, _ = files(make_instance())
        store.add_instance(inst, ds)
        got = store.get_header(inst.sop_instance_uid)
        assert got[0x00280008].VR == "IS" and str(got[0x00280008].value) == "1A"

    def test_header_can_be_written_as_dicom(self, store: Store, files: Any,
                                            tmp_path: Path) -> None:
        inst, ds = files(rich_header())
        store.add_instance(inst, ds)
        got = store.get_header(inst.sop_instance_uid)
        from pydicom import dcmread
        from pydicom.dataset import FileMetaDataset
        from pydicom.uid import ExplicitVRLittleEndian

        got.file_meta = FileMetaDataset()
        got.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        got.file_meta.MediaStorageSOPClassUID = got.SOPClassUID
        got.file_meta.MediaStorageSOPInstanceUID = got.SOPInstanceUID
        out = tmp_path / "rebuilt.dcm"
        got.save_as(out, enforce_file_format=True)
        assert_same_header(ds, dcmread(out))

    def test_returned_records_are_copies(self, store: Store, files: Any) -> None:
        inst, ds = files()
        store.add_instance(inst, ds)
        got = store.get_instance(inst.sop_instance_uid)
        got.attrs["Modality"] = "XX"
        header = store.get_header(inst.sop_instance_uid)
        header.PatientID = "changed"
        assert store.get_instance(inst.sop_instance_uid).attrs["Modality"] == "CT"
        assert store.get_header(inst.sop_instance_uid).PatientID == ds.PatientID

    # -- iteration ------------------------------------------------------------------------------
    def test_iteration_order_is_stable_and_filters_work(self, store: Store, files: Any) -> None:
        added = self._cohort(store, files)
        uids = [i.sop_instance_uid for i in added]
        first = [i.sop_instance_uid for i in store.iter_instances()]
        assert sorted(first) == sorted(uids)
        assert [i.sop_instance_uid for i in store.iter_instances()] == first
        series = added[0].series_instance_uid
        in_series = [i.sop_instance_uid for i in store.iter_instances(series_instance_uid=series)]
        assert sorted(in_series) == sorted(i.sop_instance_uid for i in added
                                           if i.series_instance_uid == series)
        some = {uids[1], uids[4], "1.2.3.not.there"}
        got = [i.sop_instance_uid for i in store.iter_instances(sop_instance_uids=some)]
        assert sorted(got) == sorted({uids[1], uids[4]})
        assert list(store.iter_instances(sop_instance_uids=[])) == []

    def test_keyset_paging_after_an_instance_and_backwards(self, store: Store,
                                                            files: Any) -> None:
        added = self._cohort(store, files)
        series = added[0].series_instance_uid
        order = [i.sop_instance_uid for i in store.iter_instances(series_instance_uid=series)]
        assert len(order) >= 3
        after = [i.sop_instance_uid for i in store.iter_instances(
            series_instance_uid=series, after=order[0])]
        assert after == order[1:]
        backwards = [i.sop_instance_uid for i in store.iter_instances(
            series_instance_uid=series, reverse=True)]
        assert backwards == order[::-1]
        before_last = [i.sop_instance_uid for i in store.iter_instances(
            series_instance_uid=series, after=order[-1], reverse=True)]
        assert before_last == order[-2::-1]
        every = [i.sop_instance_uid for i in store.iter_instances()]
        assert [i.sop_instance_uid for i in store.iter_instances(after=every[1])] == every[2:]
        some = [order[0], order[2]]
        assert [i.sop_instance_uid for i in store.iter_instances(
            sop_instance_uids=some, after=order[0])] == [order[2]]
        assert [i.sop_instance_uid for i in store.iter_instances(
            sop_instance_uids=some, reverse=True)] == [order[2], order[0]]
        assert list(store.iter_instances(after="1.2.3.not.there")) == []

    def test_iteration_by_many_uids(self, store: Store, files: Any) -> None:
        added = self._cohort(store, files, patients=1, series=1, instances=3)
        wanted = [f"1.2.3.{n}" for n in range(2500)] + [i.sop_instance_uid for i in added]
        got = {i.sop_instance_uid for i in store.iter_instances(sop_instance_uids=iter(wanted))}
        assert got == {i.sop_instance_uid for i in added}

    def test_iteration_tolerates_writes_between_items(self, store: Store, files: Any) -> None:
        added = self._cohort(store, files)
        seen = []
        for inst in store.iter_instances():
            store.set_status(inst.sop_instance_uid, "audited")
            store.add_findings(inst.sop_instance_uid, "audit", [Finding("x", "y")])
            seen.append(inst.sop_instance_uid)
        assert sorted(seen) == sorted(i.sop_instance_uid for i in added)
        assert {store.get_status(u) for u in seen} == {"audited"}

    def test_patients_studies_series_and_counts(self, store: Store, files: Any) -> None:
        added = self._cohort(store, files, patients=2, series=2, instances=3)
        patients = list(store.iter_patients())
        assert sorted(p.patient_id for p in patients) == sorted({i.patient_id for i in added})
        assert all(p.study_count == 1 for p in patients)
        assert all(p.patient_name for p in patients)
        pid = added[0].patient_id
        studies = list(store.iter_studies(patient_id=pid))
        assert [s.study_instance_uid for s in studies] == [added[0].study_instance_uid]
        assert studies[0].series_count == 2 and studies[0].study_date
        assert studies[0].accession_number
        assert len(list(store.iter_studies())) == 2
        series = list(store.iter_series(study_instance_uid=added[0].study_instance_uid))
        assert len(series) == 2
        assert {s.instance_count for s in series} == {3}
        assert {s.modality for s in series} == {"CT"}
        assert {s.series_number for s in series} == {1, 2}
        assert len(list(store.iter_series())) == 4
        assert store.counts() == StoreCounts(2, 2, 4, 12, 0, 0)

    def test_walk_from_patients_down_to_instances(self, store: Store, files: Any) -> None:
        """``Patient.studies()`` → ``Study.series()`` → ``Series.instances()`` (what
        ``session.patients()`` hands out) reach every instance once, lazily."""
        import inspect

        added = self._cohort(store, files, patients=2, series=2, instances=3)
        nav = _Navigator(store)
        patients = [p.bound(nav) for p in store.iter_patients()]
        assert inspect.isgenerator(patients[0].studies())
        walked = []
        for patient in patients:
            for study in patient.studies():
                assert study.patient_id == patient.patient_id
                for series in study.series():
                    assert series.study_instance_uid == study.study_instance_uid
                    for inst in series.instances():
                        assert inst.series_instance_uid == series.series_instance_uid
                        walked.append(inst)
        assert sorted(i.sop_instance_uid for i in walked) == sorted(
            i.sop_instance_uid for i in added)
        first = walked[0]
        assert str(first.load(pixels=False).SOPInstanceUID) == first.sop_instance_uid
        with pytest.raises(RuntimeError, match="not bound to a session"):
            next(next(store.iter_patients()).studies())

    # -- findings, changes, status ----------------------------------------------------------------
    def test_findings_replace_per_stage(self, store: Store, files: Any) -> None:
        inst, ds = files()
        store.add_instance(inst, ds)
        uid = inst.sop_instance_uid
        f1 = Finding("phi-in-text", "name found in ImageComments", tag="(0020,4000)",
                     keyword="ImageComments", component="ps315-audit")
        f2 = Finding("burned-in-text", "text in pixels", severity="error",
                     box=(0, 1, 2, 30, 40), extra={"confidence": 0.9, "words": 2})
        store.add_findings(uid, "audit", [f1, f2])
        store.add_findings(uid, "verify", [f1])
        assert list(store.iter_findings(uid)) == [(uid, "audit", f1), (uid, "audit", f2),
                                                  (uid, "verify", f1)]
        store.add_findings(uid, "audit", [f2])
        got = sorted(store.iter_findings(uid), key=lambda t: t[1])
        assert got == [(uid, "audit", f2), (uid, "verify", f1)]
        assert got[0][2].box == (0, 1, 2, 30, 40)
        store.add_findings(uid, "verify", [])
        assert list(store.iter_findings()) == [(uid, "audit", f2)]
        assert list(store.iter_findings("1.2.3")) == []

    def test_changes_replace(self, store: Store, files: Any) -> None:
        inst, ds = files()
        store.add_instance(inst, ds)
        uid = inst.sop_instance_uid
        c1 = Change("X", tag="(0010,0010)", keyword="PatientName", component="ps315-tags")
        c2 = Change("U", tag="(0008,0018)", keyword="SOPInstanceUID", path="", detail="remapped")
        store.add_changes(uid, [c1, c2])
        assert list(store.iter_changes(uid)) == [(uid, c1), (uid, c2)]
        store.add_changes(uid, [c2])
        assert list(store.iter_changes()) == [(uid, c2)]

    def test_status(self, store: Store, files: Any) -> None:
        inst, ds = files()
        store.add_instance(inst, ds)
        uid = inst.sop_instance_uid
        assert store.get_status(uid) == "ingested"
        for status in ("audited", "redacted", "exported", "withheld", "failed"):
            store.set_status(uid, status)
            assert store.get_status(uid) == status

    # -- exports --------------------------------------------------------------------------------
    def test_exports_per_destination(self, store: Store, files: Any) -> None:
        added = self._cohort(store, files, patients=1, series=1, instances=3)
        r = [ExportRecord(i.sop_instance_uid, f"2.25.{n}", "/out/a", f"p/{n}.dcm", 100 + n,
                          "ab" * 32, mtime_ns=1_700_000_000_123_456_789 * n,
                          fields=(("Modality", "CT"), ("SeriesNumber", str(n)),
                                  ("TransferSyntaxUID", "1.2.840.10008.1.2.1")) if n else ())
             for n, i in enumerate(added)]
        store.record_export(r[0])
        store.record_export(r[1])
        store.record_export(dataclasses.replace(r[0], destination="/out/b", format="parquet"))
        assert store.exported_uids("/out/a") == {r[0].sop_instance_uid, r[1].sop_instance_uid}
        assert store.exported_uids("/out/b") == {r[0].sop_instance_uid}
        assert store.exported_uids("/out/c") == set()
        assert list(store.iter_exports("/out/a")) == [r[0], r[1]]
        assert len(list(store.iter_exports())) == 3
        again = dataclasses.replace(r[1], size=999)
        store.record_export(again)  # a rerun rewrote it: one record, the newest
        assert sorted(e.size for e in store.iter_exports("/out/a")) == [100, 999]

    # -- decisions --------------------------------------------------------------------------------
    def test_decisions_keep_order_who_when_and_history(self, store: Store, files: Any) -> None:
        a, b = (i.sop_instance_uid for i in self._cohort(store, files, patients=1, series=1,
                                                           instances=2))
        first = [Decision(a, "withhold", "name on the image", "alice", 100.0, "series", "d1"),
                 Decision(b, "withhold", "name on the image", "alice", 100.0, "series", "d1")]
        store.add_decisions(first)
        later = Decision(a, "approve", "checked again", "bob", 200.0)
        store.add_decisions([later])
        assert list(store.iter_decisions()) == [*first, later]
        assert list(store.iter_decisions(a)) == [first[0], later]
        assert list(store.iter_decisions(b)) == [first[1]]
        assert list(store.iter_decisions("1.2.3.nowhere")) == []
        store.add_decisions([Decision(b, "approve", who="carol")])  # no time: the store's
        assert list(store.iter_decisions(b))[-1].time > 0
        with pytest.raises(ValueError, match="decision action"):
            Decision(a, "maybe")

    def test_decisions_survive_close_and_reopen(self, store: Store, files: Any) -> None:
        if not self.persistent:
            pytest.skip("not a persistent store")
        (inst,) = self._cohort(store, files, patients=1, series=1, instances=1)
        decision = Decision(inst.sop_instance_uid, "withhold", "burned-in name", "alice", 7.5,
                            "query", "q1")
        store.add_decisions([decision])
        store = self.reopen(store)
        try:
            assert list(store.iter_decisions()) == [decision]
        finally:
            store.close()

    # -- audit log --------------------------------------------------------------------------------
    def test_events_keep_order_and_detail(self, store: Store) -> None:
        events = [AuditEvent("ingested", f"2.25.{n}", {"n": n, "nested": {"k": [1, 2]}},
                             run_id="r1", time=1000.0 + n) for n in range(50)]
        for e in events:
            store.log_event(e)
        store.checkpoint()
        assert list(store.iter_events()) == events

    def test_events_of_one_kind(self, store: Store) -> None:
        for n in range(6):
            store.log_event(AuditEvent("ingested" if n % 3 else "withheld", f"2.25.{n}",
                                       {"n": n}, time=1000.0 + n))
        store.checkpoint()
        assert [e.detail["n"] for e in store.iter_events(kind="withheld")] == [0, 3]
        assert len(list(store.iter_events())) == 6
        assert list(store.iter_events(kind="nothing")) == []

    def test_events_get_a_time(self, store: Store) -> None:
        store.log_event(AuditEvent("exported", "2.25.1"))
        (got,) = list(store.iter_events())
        assert got.time > 0 and got.kind == "exported" and got.subject == "2.25.1"

    def test_events_from_many_threads(self, store: Store) -> None:
        def work(t: int) -> None:
            for n in range(100):
                store.log_event(AuditEvent("redacted", f"2.25.{t}.{n}", {"t": t, "n": n}))

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        got = list(store.iter_events())
        assert len(got) == 400
        for t in range(4):
            mine = [e.detail["n"] for e in got if e.detail["t"] == t]
            assert mine == list(range(100))

    # -- pixels ---------------------------------------------------------------------------------
    def test_pixels_round_trip_and_replace(self, store: Store) -> None:
        a = np.arange(2 * 8 * 6, dtype=np.uint16).reshape(2, 8, 6)
        meta = PixelMeta(dtype="uint16", shape=(2, 8, 6), frames=2, photometric="MONOCHROME2")
        store.put_pixels("k1", a, meta)
        got, got_meta = store.get_pixels("k1")
        assert got.dtype == a.dtype and np.array_equal(got, a)
        assert got_meta.frames == 2 and got_meta.photometric == "MONOCHROME2"
        assert tuple(got_meta.shape) == (2, 8, 6) and len(got_meta.sha256) == 64
        b = np.full((4, 4, 3), 7, dtype=np.uint8)
        store.put_pixels("k1", b, PixelMeta("uint8", (4, 4, 3), 1, "RGB"))
        got, got_meta = store.get_pixels("k1")
        assert np.array_equal(got, b) and got_meta.photometric == "RGB"
        c = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
        store.put_pixels("k2", c, PixelMeta("float32", (3, 4), 1, "MONOCHROME2"))
        assert np.array_equal(store.get_pixels("k2")[0], c)
        assert np.array_equal(store.get_pixels("k1")[0], b)
        got[0, 0, 0] = 99  # the returned array is the caller's own
        assert store.get_pixels("k1")[0][0, 0, 0] == 7

    def test_pixels_keep_non_contiguous_and_big_endian_arrays(self, store: Store) -> None:
        a = np.arange(64, dtype=">i2").reshape(8, 8)[:, ::2]
        store.put_pixels("k", a, PixelMeta("int16", a.shape, 1, "MONOCHROME2"))
        got, _ = store.get_pixels("k")
        assert np.array_equal(got, a)

    # -- concurrency ----------------------------------------------------------------------------
    def test_threads_add_concurrently(self, store: Store, files: Any) -> None:
        made = [files(patient=p, series=0, instance=i) for p in range(4) for i in range(10)]
        errors: list[BaseException] = []

        def work(chunk: list[tuple[Instance, Dataset]]) -> None:
            try:
                for inst, ds in chunk:
                    store.add_instance(inst, ds)
                    store.set_status(inst.sop_instance_uid, "audited")
                    store.record_export(ExportRecord(inst.sop_instance_uid, "2.25.1", "/o",
                                                     "x", 1, ""))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(made[t::4],)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors == []
        assert store.counts().instances == 40
        assert len(store.exported_uids("/o")) == 40

    # -- persistence ------------------------------------------------------------------------------
    def test_everything_survives_close_and_reopen(self, store: Store, files: Any) -> None:
        if not self.persistent:
            pytest.skip("not a persistent store")
        added = self._cohort(store, files, patients=1, series=2, instances=2)
        uid = added[0].sop_instance_uid
        rich_inst, rich = files(rich_header(patient=5))
        store.add_instance(rich_inst, rich)
        store.add_findings(uid, "audit", [Finding("a", "b", box=(0, 1, 1, 2, 2))])
        store.add_changes(uid, [Change("X", keyword="PatientName")])
        store.set_status(uid, "redacted")
        rec = ExportRecord(uid, "2.25.9", "/out", "a/b.dcm", 10, "cd" * 32)
        store.record_export(rec)
        store.add_rejected(Rejection("/nowhere/x", "unreadable"))
        store.log_event(AuditEvent("ingested", "2.25.9", {"k": 1}, time=5.0))
        arr = np.arange(12, dtype=np.int16).reshape(3, 4)
        store.put_pixels(uid, arr, PixelMeta("int16", (3, 4), 1, "MONOCHROME2"))
        before = store.counts()
        order = [i.sop_instance_uid for i in store.iter_instances()]
        st = Path(added[1].source).stat()
        store = self.reopen(store)
        try:
            assert store.counts() == before
            assert [i.sop_instance_uid for i in store.iter_instances()] == order
            assert store.get_instance(uid).attrs == added[0].attrs
            assert_same_header(rich, store.get_header(rich_inst.sop_instance_uid))
            assert next(iter(store.iter_findings(uid)))[2].box == (0, 1, 1, 2, 2)
            assert list(store.iter_changes(uid)) == [(uid, Change("X", keyword="PatientName"))]
            assert store.get_status(uid) == "redacted"
            assert list(store.iter_exports()) == [rec]
            assert store.exported_uids("/out") == {uid}
            assert list(store.iter_rejected()) == [Rejection("/nowhere/x", "unreadable")]
            assert list(store.iter_events()) == [AuditEvent("ingested", "2.25.9", {"k": 1},
                                                            time=5.0)]
            assert np.array_equal(store.get_pixels(uid)[0], arr)
            assert store.is_source_done(added[1].source, st.st_size, st.st_mtime)
            assert store.add_instance(added[1], _reread(added[1])) == "duplicate"
        finally:
            store.close()

    def test_close_is_idempotent(self, store: Store) -> None:
        store.checkpoint()
        store.close()
        store.close()


def _reread(inst: Instance) -> Dataset:
    from pydicom import dcmread

    return dcmread(inst.source)


__all__ = ["StoreContract", "assert_same_header", "instance_from_header", "rich_header"]
