"""The opt-in pytest plugin: recorder, register fixture, cohort factory; lifecycle hooks fire."""

from __future__ import annotations

from pathlib import Path

from gantry import hookimpl
from gantry.context import Run
from gantry.records import Pseudonym
from gantry.session import Session


def test_hook_recorder_sees_plugin_calls(gantry_hooks, gantry_hook_recorder) -> None:
    gantry_hooks.stage_started("ingest", run=None)  # type: ignore[arg-type]
    assert gantry_hook_recorder.names() == ["gantry_stage_started"]
    assert gantry_hook_recorder.of("gantry_stage_started")[0].kwargs["stage"] == "ingest"


def test_registered_plugin_wins_decisions_then_goes_away(gantry_hooks, gantry_register) -> None:
    class Broker:
        @hookimpl
        def gantry_pseudonym(self, patient, run):
            return Pseudonym("TRIAL-9", "TRIAL^9")

    gantry_register(Broker(), name="broker")
    assert gantry_hooks.pseudonym(patient=None, run=None) == Pseudonym("TRIAL-9", "TRIAL^9")


def test_cohort_factory_plants_tokens(gantry_cohort) -> None:
    cohort = gantry_cohort(patients=2, series=1, instances=1)
    assert len(cohort.paths) == 2
    assert any(t.startswith("MRN") for t in cohort.tokens)


def test_session_fires_lifecycle_hooks_in_order(tmp_path: Path, gantry_cohort) -> None:
    seen: list[str] = []

    class Observer:
        @hookimpl
        def gantry_stage_started(self, stage: str, run: Run) -> None:
            seen.append(f"start:{stage}")

        @hookimpl
        def gantry_stage_finished(self, stage: str, summary: dict) -> None:
            seen.append(f"end:{stage}:{summary['done']}")

        @hookimpl
        def gantry_instance_ingested(self, instance) -> None:
            seen.append("ingested")

        @hookimpl
        def gantry_exported(self, record) -> None:
            assert record.new_sop_instance_uid.startswith("2.25.")
            seen.append("exported")

    cohort = gantry_cohort(patients=1, series=1, instances=2)
    with Session("memory://", workers=1) as session:
        session.hooks.register(Observer(), name="observer")
        session.ingest(cohort.root)
        session.export(tmp_path / "out")
    assert seen == ["start:ingest", "ingested", "ingested", "end:ingest:2",
                    "start:export", "exported", "exported", "end:export:2"]
