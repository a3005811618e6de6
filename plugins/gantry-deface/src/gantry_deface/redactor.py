"""The ``deface`` redactor and the ``deface-report`` auditor."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gantry.api import Change, Finding, GantryError
from gantry_deface.settings import DefaceSettings, load_settings

if TYPE_CHECKING:
    from pydicom import Dataset

    from gantry.api import Instance, InstanceContext, Run
    from gantry_deface.series import SeriesDefacing

COMPONENT = "deface"
OPTION = "clean-recognizable-visual-features"
#: ``context.notes`` key: ``(defaced, reason)`` of the instance's series
NOTE = "deface"


class DefaceRefused(GantryError):
    """A head series the profile requires defaced could not be defaced."""


class DefaceRedactor:
    """Removes the face of head volumes, a whole series at a time (``runs_in="series"``)."""

    def __init__(self, settings: DefaceSettings, run: Any = None) -> None:
        from gantry_deface.engine import DefaceParameters

        self.settings = settings
        self.run = run
        self.parameters = DefaceParameters(depth=settings.depth_mm, margin=settings.margin_mm,
                                           ears=settings.ears,
                                           ear_margin=settings.ear_margin_mm)
        #: the series planned last (one at a time: a unit is one series)
        self._series: tuple[str, SeriesDefacing] | None = None

    def begin_series(self, instances: list[Instance]) -> None:
        """Plan the series these instances make (all of one series, bound to sources)."""
        if not instances:
            return
        self._series = (instances[0].series_instance_uid, self._plan(instances))

    def _plan(self, instances: list[Instance]) -> SeriesDefacing:
        from gantry_deface.series import SeriesDefacing, plan_series

        datasets = []
        try:
            for inst in instances:
                datasets.append(inst.load(pixels=True))
                inst.unload()
        except Exception as exc:  # an unreadable member: the series is not planned
            return SeriesDefacing(False, f"a slice cannot be read ({type(exc).__name__})",
                                  head=False)
        return plan_series(datasets, [inst.sop_instance_uid for inst in instances],
                           self.parameters)

    def _defacing(self, context: InstanceContext) -> SeriesDefacing:
        instance = context.instance
        series = instance.series_instance_uid
        if self._series is not None and self._series[0] == series:
            return self._series[1]
        store = getattr(context.run, "store", None)
        if store is None:
            raise GantryError(f"{COMPONENT}: instance {instance.sop_instance_uid} reached "
                              "without its series (a series redactor needs whole series)")
        opener = context.run.hooks.ingestor_for(instance.source).open
        members = [inst.bind(opener) for inst in
                   store.iter_instances(series_instance_uid=series)]
        self.begin_series(members or [instance])
        assert self._series is not None
        return self._series[1]

    def redact(self, dataset: Dataset, context: InstanceContext) -> list[Change]:
        """Remove the face from this instance's frames when its series is a head volume."""
        from gantry_deface.series import apply_to_dataset

        defacing = self._defacing(context)
        if not defacing.defaced:
            if self.settings.require and defacing.head:
                raise DefaceRefused(f"{COMPONENT}: head series not defaced ({defacing.reason});"
                                    " the profile requires defacing (gantry-deface: require)")
            context.notes[NOTE] = (False, defacing.reason)
            return []
        uid = context.instance.sop_instance_uid
        count, before, after, written = apply_to_dataset(dataset, defacing, uid)
        context.notes.setdefault("performed_options", set()).add(OPTION)
        context.notes[NOTE] = (True, defacing.reason)
        if not count:
            return []
        return [
            Change(action="pixels", tag="(7FE0,0010)", keyword="PixelData", component=COMPONENT,
                   detail=(f"face removed: {count} pixels; sha256 before {before} after "
                           f"{after}; transfer syntax -> {written}")),
            Change(action="marker", keyword="ImageType", component=COMPONENT,
                   detail="DERIVED after defacing"),
        ]


class DefaceReport:
    """Reports per instance what ``deface`` made of its series (after the redaction stack)."""

    def audit(self, dataset: Dataset, context: InstanceContext) -> list[Finding]:
        """One info finding: ``defaced`` or ``deface-skipped`` with the reason."""
        found = context.notes.get(NOTE)
        if found is None:
            return []
        defaced, reason = found
        return [Finding(code="defaced" if defaced else "deface-skipped", message=reason,
                        severity="info", component="deface-report")]


def make_redactor(run: Run | Any) -> DefaceRedactor:
    """Factory of the ``deface`` record: reads ``gantry-deface`` from the profile."""
    raw = run.settings("gantry-deface") if hasattr(run, "settings") else {}
    return DefaceRedactor(load_settings(raw), run)
