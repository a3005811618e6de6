"""Verification against the originals: what the exported files alone cannot prove.

Given the working store that produced an export (``gantry report compliance --db URL``), each
exported instance is matched to its original header through the store's export records, and

* the export gate is re-run on the exported bytes with the original's identifiers (names, IDs,
  dates, UIDs, addresses... and their variants): no identifying value may remain;
* pseudonymous PatientName/PatientID must be the run's pseudonym of the original patient;
* remapped UIDs must be the keyed mapping of the original UIDs (same project secret);
* shifted dates and date-times (Retain Longitudinal Temporal Information with Modified Dates)
  must be the original ones moved by the patient's offset, and times of day the original ones.

It never writes an original value anywhere: outcomes name the attribute and the kind of value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gantry_reports.compliance_record import FAIL, PASS

if TYPE_CHECKING:
    from pydicom import Dataset

RULE_GATE = "originals:no-identifier-left"
RULE_FOUND = "originals:known-instance"


class Originals:
    """Looks up originals in a session's store and checks exported values against them."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.store = session.store
        self.run = session.run
        self.profile = session.profile
        self.by_new_uid: dict[str, str] = {}
        for record in self.store.iter_exports():
            if record.new_sop_instance_uid:
                self.by_new_uid[record.new_sop_instance_uid] = record.sop_instance_uid
        self.original: Dataset | None = None
        self.offset = 0
        self._pseudonym: Any = None

    def conflicts(self) -> list[dict[str, str]]:
        """The store's UID conflicts, both files named: ``instance`` (its pseudonymous UID),
        ``kept`` (the input written, as ``written``) and ``not_written`` (the other input
        with that SOP Instance UID and another content)."""
        written: dict[str, str] = {}
        for record in self.store.iter_exports():
            written.setdefault(record.sop_instance_uid, record.path)
        return [{"instance": self.run.map_uid(uid), "kept": kept, "written": written.get(uid, ""),
                 "not_written": source}
                for uid, kept, source in self.store.iter_conflicts()]

    def begin(self, ds: Dataset) -> bool:
        """Select the original of an exported instance; ``False`` if the store has none."""
        from gantry.api import patient_key

        self.original = None
        uid = self.by_new_uid.get(str(ds.get("SOPInstanceUID", "")))
        if uid is None:
            return False
        self.original = self.store.get_header(uid)
        if self.original is None:
            return False
        patient = patient_key(self.original)
        self._patient = patient
        self._pseudonym = None
        self.offset = 0
        return True

    @property
    def pseudonym(self) -> Any:
        """The run's pseudonym of the current original patient (computed once)."""
        if self._pseudonym is None:
            self._pseudonym = self.run.pseudonym(self._patient)
        return self._pseudonym

    def leaks(self, data: bytes, relpath: str) -> list[str]:
        """Where identifying values of the original remain in the exported bytes or path."""
        from gantry.api import collect_identifiers, find_leaks

        assert self.original is not None
        identifiers = collect_identifiers(self.original, self._patient, profile=self.profile)
        return [str(leak) for leak in find_leaks(data, relpath, identifiers)]

    def verify(self, tag: int, where: str, value: Any, action: str, vr: str) -> str | None:
        """``pass``/``fail`` for an exported value the file alone cannot prove, or ``None``."""
        if self.original is None or "." in where or "[" in where:
            return None  # top-level attributes only: items of sequences are not matched
        if tag == 0x00100010:
            return PASS if str(value) == self.pseudonym.patient_name else FAIL
        if tag == 0x00100020:
            return PASS if str(value) == self.pseudonym.patient_id else FAIL
        original = self.original.get(tag)
        if original is None or original.value in (None, ""):
            return None
        if vr == "UI" and action in ("U", "D"):
            expected = _values(original.value)
            mapped = [self.run.map_uid(str(v)) for v in expected]
            return PASS if [str(v) for v in _values(value)] == mapped else FAIL
        if vr in ("DA", "DT", "TM") and action == "C" and \
                self.profile.has("retain-longitudinal-modified-dates"):
            from gantry.api import shift_da, shift_dt

            days = self.run.date_offset(self._patient)
            # dates and the date part of date-times move by the patient's whole days; a time
            # of day is what it was
            shift = {"DA": shift_da, "DT": shift_dt}.get(vr, lambda text, _days: text)
            expected = [shift(str(v), days) for v in _values(original.value)]
            return PASS if [str(v) for v in _values(value)] == expected else FAIL
        return None


def _values(value: Any) -> list[Any]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        return [value]
    return list(value)
