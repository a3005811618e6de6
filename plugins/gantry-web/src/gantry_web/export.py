"""An export started from the console: a background thread, its progress, the compliance report.

The export is :meth:`gantry.Session.export` (withheld instances left out, the gate on every
instance); when it is done and ``gantry-reports`` is installed, ``gantry report compliance``
checks the written dataset against the profile (and the originals, through the store) and the
console shows its verdict and serves its HTML.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gantry_web.console import Console


@dataclass
class ExportJob:
    """The state of one export, read by the progress page."""

    destination: str
    state: str = "starting"  # starting, exporting, checking, done, failed
    done: int = 0
    total: int | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    compliance: dict[str, Any] = field(default_factory=dict)
    compliance_note: str = ""
    started: float = field(default_factory=time.time)
    finished: float = 0.0

    @property
    def running(self) -> bool:
        """Whether the export is still working."""
        return self.state in ("starting", "exporting", "checking")

    @property
    def percent(self) -> int:
        """Progress in percent (0 while the total is unknown)."""
        if not self.total:
            return 100 if self.state == "done" else 0
        return min(100, round(100 * self.done / self.total))


def start_export(console: Console, destination: str) -> ExportJob:
    """Start exporting the console's store to ``destination`` (refused while one runs)."""
    if console.read_only:
        raise PermissionError("this console is read-only")
    current = console.export_job
    if current is not None and current.running:
        raise RuntimeError("an export is already running")
    destination = destination.strip()
    if not destination:
        raise ValueError("give a destination folder")
    job = ExportJob(destination=destination)
    console.export_job = job
    threading.Thread(target=_run, args=(console, job), name="gantry-web-export",
                     daemon=True).start()
    return job


def _run(console: Console, job: ExportJob) -> None:
    session = console.session

    def progress(stage: str, done: int, total: int | None, nbytes: int) -> None:
        if stage == "export":
            job.done, job.total = done, total

    old = session.progress
    session.progress = progress
    job.state = "exporting"
    try:
        summary = session.export(job.destination, audit=True)
        job.summary = summary.to_dict()
        job.done = summary.done + summary.failed + summary.skipped + summary.withheld
        job.total = job.total or job.done
    except Exception as exc:  # shown on the page; the store keeps what was done
        job.state, job.error = "failed", f"{type(exc).__name__}: {exc}"
        job.finished = time.time()
        return
    finally:
        session.progress = old
    job.state = "checking"
    try:
        _compliance(console, job)
    finally:
        job.state = "done"
        job.finished = time.time()


def compliance_dir(destination: str) -> Path:
    """Where ``gantry report compliance`` writes its report for a local destination."""
    root = Path(destination).resolve()
    return root.parent / f"{root.name}-compliance"


def _compliance(console: Console, job: ExportJob) -> None:
    """Run ``gantry report compliance`` on the written dataset (a separate process: the
    report is gantry-reports' own command)."""
    hooks = console.session.hooks
    if hooks.pm.get_plugin("reports") is None:
        job.compliance_note = "gantry-reports is not installed: no compliance report"
        return
    if "://" in job.destination or not Path(job.destination).is_dir():
        job.compliance_note = "the compliance report needs a local destination folder"
        return
    console.store.checkpoint()
    command = [sys.executable, "-m", "gantry", "report", "compliance", job.destination,
               "--profile", console.session.base_profile, "--json"]
    if not console.store.url.startswith("memory://"):
        command += ["--db", console.store.url]
    env = dict(os.environ)
    env.setdefault("PYTHONWARNINGS", "ignore")
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=3600, env=env,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        job.compliance_note = f"the compliance report did not run: {exc}"
        return
    try:
        job.compliance = json.loads(done.stdout)
    except json.JSONDecodeError:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        job.compliance_note = f"the compliance report failed: {last}"
