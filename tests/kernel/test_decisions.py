"""Reviewers' decisions: recorded with who and when, honoured by the next export; the preview
of one instance is what the export writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from gantry import Session
from gantry.errors import GantryError


def _uids(session: Session) -> list[str]:
    return [i.sop_instance_uid for i in session.store.iter_instances()]


def test_withheld_instances_are_left_out_of_the_next_export(gantry_cohort, tmp_path: Path
                                                            ) -> None:
    gantry_cohort(patients=1, series=2, instances=3)
    with Session(f"sqlite:///{tmp_path / 'c.db'}", workers=1) as session:
        session.ingest(tmp_path / "cohort")
        uids = _uids(session)
        assert session.decide("withhold", uids[:2], reason="wrong side", who="alice") == 2
        summary = session.export(tmp_path / "out")
        assert (summary.done, summary.withheld, summary.failed) == (4, 2, 0)
        written = {p.stem for p in (tmp_path / "out").rglob("*.dcm")}
        assert written == {session.run.map_uid(u) for u in uids[2:]}
        assert [session.store.get_status(u) for u in uids[:2]] == ["withheld", "withheld"]
        events = [e for e in session.store.iter_events() if e.kind == "decision-withhold"]
        assert len(events) == 2 and events[0].detail["who"] == "alice"
        assert events[0].subject == session.run.map_uid(uids[0])  # never the original UID
        withheld = [e for e in session.store.iter_events() if e.kind == "withheld"]
        assert len(withheld) == 2
        # a later approval releases one: the next export writes it
        session.decide("approve", uids[:1], reason="checked: fine", who="bob")
        again = session.export(tmp_path / "out")
        assert (again.done, again.withheld, again.skipped) == (1, 1, 4)
        assert session.run.map_uid(uids[0]) in {p.stem for p in (tmp_path / "out").rglob("*")}
        (latest,) = [d for d in session.store.iter_decisions(uids[0])][-1:]
        assert (latest.action, latest.who, latest.scope) == ("approve", "bob", "instance")


def test_withholding_after_an_export_says_the_output_is_still_there(gantry_cohort,
                                                                    tmp_path: Path) -> None:
    gantry_cohort(patients=1, series=1, instances=2)
    with Session("memory://", workers=1) as session:
        session.ingest(tmp_path / "cohort")
        assert session.export(tmp_path / "out").done == 2
        uid = _uids(session)[0]
        session.decide("withhold", [uid], reason="found later", who="carol")
        summary = session.export(tmp_path / "out")
        assert summary.withheld == 1
        assert any("exported to" in e and "before the decision" in e for e in summary.errors)


def test_a_decision_about_an_unknown_instance_is_refused(tmp_path: Path) -> None:
    with Session("memory://", workers=1) as session, \
            pytest.raises(GantryError, match="no instance"):
        session.decide("withhold", ["1.2.3.4"], reason="x")
    with Session("memory://", workers=1) as session, \
            pytest.raises(ValueError, match="decision action 'maybe'"):
        session.decide("maybe", [], reason="x")


def test_deidentify_resume_leaves_withheld_instances_out(gantry_cohort, tmp_path: Path
                                                         ) -> None:
    gantry_cohort(patients=1, series=1, instances=3)
    db = f"sqlite:///{tmp_path / 'c.db'}"
    with Session(db, workers=1) as session:
        session.ingest(tmp_path / "cohort")
        uid = _uids(session)[1]
        session.decide("withhold", [uid], reason="x", who="dan")
    with Session(db, workers=1) as session:
        session.deidentify(tmp_path / "cohort", tmp_path / "out")
        written = {p.stem for p in (tmp_path / "out").rglob("*.dcm")}
        assert len(written) == 2 and session.run.map_uid(uid) not in written


def test_preview_is_what_the_export_writes(gantry_cohort, tmp_path: Path) -> None:
    from pydicom import dcmread

    from gantry.preview import preview_instance

    gantry_cohort(patients=1, series=1, instances=1)
    with Session("memory://", workers=1) as session:
        session.ingest(tmp_path / "cohort")
        (inst,) = list(session.instances())
        found = preview_instance(inst, session.run)
        assert found.ok and found.changes
        assert str(found.original.PatientName) != str(found.redacted.PatientName)
        session.export(tmp_path / "out")
        (written,) = list((tmp_path / "out").rglob("*.dcm"))
        out = dcmread(written)
        for keyword in ("PatientName", "PatientID", "SOPInstanceUID", "StudyDate"):
            assert str(out.get(keyword, "")) == str(found.redacted.get(keyword, "")), keyword
        header_only = preview_instance(inst, session.run,
                                       header=session.store.get_header(inst.sop_instance_uid),
                                       pixels=False)
        assert str(header_only.redacted.PatientID) == str(out.PatientID)
        assert header_only.gate == ""  # not checked without the file's bytes


def test_explain_tag_names_the_column_that_decided() -> None:
    from gantry.deid.rules import explain_tag
    from gantry.plugins import build_plugin_manager
    from gantry.runbuild import load_run_profile

    hooks = build_plugin_manager()
    basic = load_run_profile("ps3.15/basic", hooks)
    assert explain_tag(basic, 0x00100030).startswith("Table E.1-1 (0010,0030): Z (Basic Profile")
    assert explain_tag(basic, 0x00080060).startswith("not in Table E.1-1")
    assert explain_tag(basic, 0x50000010).startswith("Table E.1-1 (50xx,xxxx)")
    dates = load_run_profile("ps3.15/research", hooks)
    text = explain_tag(dates, 0x00080020)
    assert "option retain-longitudinal-modified-dates" in text, text
