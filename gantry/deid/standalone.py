"""Run the engine without a plugin manager: the keyed defaults as a tiny hooks facade.

Useful for library use, scripts and tests::

    run = standalone_run(load_profile("ps3.15/basic"), secret=b"...")
    engine = DeidEngine(run.profile, run)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gantry.deid import keys

if TYPE_CHECKING:
    from gantry.context import InstanceContext, Run
    from gantry.profiles import Profile
    from gantry.records import PatientKey, Pseudonym


class KeyedHooks:
    """The three decision hooks answered by the keyed defaults only."""

    def map_uid(self, *, uid: str, run: Run) -> str:
        """Keyed UID mapping."""
        return keys.keyed_uid(run.secret, uid)

    def pseudonym(self, *, patient: PatientKey, run: Run) -> Pseudonym:
        """Keyed pseudonym."""
        return keys.keyed_pseudonym(run.secret, patient)

    def date_offset(self, *, patient: PatientKey, run: Run) -> int:
        """Keyed date offset from the profile's range."""
        low, high = run.profile.date_offset_days
        return keys.keyed_date_offset(run.secret, patient, low, high)


def standalone_run(profile: Profile, secret: bytes) -> Run:
    """A :class:`~gantry.context.Run` whose decisions come from the keyed defaults."""
    from gantry.context import Run

    return Run(profile=profile, secret=secret, hooks=KeyedHooks())  # type: ignore[arg-type]


def patient_key(ds) -> PatientKey:  # type: ignore[no-untyped-def]
    """The :class:`~gantry.records.PatientKey` of an original dataset."""
    from gantry.records import PatientKey

    return PatientKey(patient_id=str(ds.get("PatientID", "") or ""),
                      patient_name=str(ds.get("PatientName", "") or ""),
                      issuer=str(ds.get("IssuerOfPatientID", "") or ""),
                      birth_date=str(ds.get("PatientBirthDate", "") or ""))


def instance_context(ds, run: Run) -> InstanceContext:  # type: ignore[no-untyped-def]
    """An :class:`~gantry.context.InstanceContext` for a dataset read outside a session."""
    from gantry.context import InstanceContext
    from gantry.model import Instance

    instance = Instance(sop_instance_uid=str(ds.get("SOPInstanceUID", "")),
                        sop_class_uid=str(ds.get("SOPClassUID", "")),
                        series_instance_uid=str(ds.get("SeriesInstanceUID", "")),
                        study_instance_uid=str(ds.get("StudyInstanceUID", "")),
                        patient_id=str(ds.get("PatientID", "")), source="<memory>")
    return InstanceContext(instance=instance, run=run, patient=patient_key(ds))
