"""Hook implementations of gantry-deface (thin glue; numpy and scipy load only when used)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gantry import hookimpl
from gantry.api import Auditor, ConfigKey, Redactor


def _redactor(run: Any) -> Any:
    from gantry_deface.redactor import make_redactor

    return make_redactor(run)


def _report(run: Any) -> Any:
    from gantry_deface.redactor import DefaceReport

    return DefaceReport()


@hookimpl
def gantry_redactors() -> Iterator[Redactor]:
    """Register ``deface``: remove the face of head CT and MR volumes, a series at a time."""
    yield Redactor("deface", factory=_redactor, runs_in="series",
                   performs=("clean-recognizable-visual-features",),
                   description="remove the face (and ears) of head CT/MR volumes")


@hookimpl
def gantry_auditors() -> Iterator[Auditor]:
    """Register ``deface-report``: say per instance whether its series was defaced, and why
    not."""
    yield Auditor("deface-report", factory=_report,
                  description="report what deface made of each series (defaced, or why not)")


@hookimpl
def gantry_config_keys() -> Iterator[ConfigKey]:
    """Declare the ``gantry-deface`` settings section."""
    from gantry_deface.settings import DefaceSettings

    yield ConfigKey("gantry-deface", model=DefaceSettings,
                    description="defacing: require it, depth, margin, ears")
